"""Tickets, messages and attachments as the API shows and accepts them.

Output serializers only read; input serializers are strict (unknown, read-only and role-reserved
keys are 400s). Writes go through ``tickets.services`` in the views, never ``serializer.save()``.
Customers see what the portal shows: internal fields (assignee, team, tags, SLA) come out empty.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from django.core.files.uploadedfile import UploadedFile
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.selectors import principal_for
from service_desk.api.base import MAX_ID
from service_desk.api.serializers import StrictSerializer
from tickets.choices import TICKET_CHANNELS, Channel, MessageKind, Priority, Status
from tickets.models import Attachment, Message, Ticket
from tickets.services import MAX_ATTACHMENT_BYTES, NewAttachment

MAX_ATTACHMENTS = 10
MAX_BODY = 100_000


def is_agent(context: dict) -> bool:
    request = context.get("request")
    return principal_for(getattr(request, "user", None)).is_agent


# --- Output ----------------------------------------------------------------------------------------


class NamedRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class AgentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()


def _agent_ref(user) -> dict | None:  # noqa: ANN001
    if user is None:
        return None
    return {"id": user.pk, "username": user.get_username(), "name": user.get_full_name() or user.get_username()}


def _named(obj) -> dict | None:  # noqa: ANN001
    return None if obj is None else {"id": obj.pk, "name": str(obj)}


def _iso(value: datetime | None) -> str | None:
    """As DRF writes datetimes, always in UTC: ``2026-11-25T10:00:00.123456Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class TicketSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    type = serializers.SerializerMethodField()
    requester = serializers.SerializerMethodField()
    organization = serializers.SerializerMethodField()
    assignee = serializers.SerializerMethodField()
    team = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    custom_fields = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = [
            "id",
            "reference",
            "url",
            "subject",
            "status",
            "priority",
            "channel",
            "type",
            "requester",
            "organization",
            "assignee",
            "team",
            "tags",
            "custom_fields",
            "merged_into",
            "sla_policy",
            "first_response_due_at",
            "next_response_due_at",
            "resolution_due_at",
            "sla_due_at",
            "first_responded_at",
            "last_customer_message_at",
            "last_agent_message_at",
            "solved_at",
            "closed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "sla_policy": {"help_text": "Agents only (null for customers)."},
            **{
                f: {"help_text": "Agents only (null for customers)."}
                for f in ("first_response_due_at", "next_response_due_at", "resolution_due_at", "sla_due_at")
            },
        }

    _INTERNAL = (
        "sla_policy",
        "first_response_due_at",
        "next_response_due_at",
        "resolution_due_at",
        "sla_due_at",
        "merged_into",
    )

    def _agent(self) -> bool:
        if "_is_agent" not in self.context:
            self.context["_is_agent"] = is_agent(self.context)
        return self.context["_is_agent"]

    def to_representation(self, instance: Ticket) -> dict:
        """Built by hand (the declared fields above describe it for the schema): a list page renders 50
        of these, and DRF's generic field machinery cost ~1 ms per ticket."""
        t = instance
        agent = self._agent()
        data = {
            "id": t.pk,
            "reference": t.reference,
            "url": self.get_url(t),
            "subject": t.subject,
            "status": t.status,
            "priority": t.priority,
            "channel": t.channel,
            "type": _named(t.type) if t.type_id else None,
            "requester": _named(t.requester),
            "organization": _named(t.organization) if t.organization_id else None,
            "assignee": _agent_ref(t.assignee) if agent and t.assignee_id else None,
            "team": _named(t.team) if agent and t.team_id else None,
            "tags": self.get_tags(t),
            "custom_fields": self.get_custom_fields(t),
            "merged_into": t.merged_into_id if agent else None,
            "sla_policy": t.sla_policy_id if agent else None,
        }
        for name in ("first_response_due_at", "next_response_due_at", "resolution_due_at", "sla_due_at"):
            data[name] = _iso(getattr(t, name)) if agent else None
        for name in (
            "first_responded_at",
            "last_customer_message_at",
            "last_agent_message_at",
            "solved_at",
            "closed_at",
            "created_at",
            "updated_at",
        ):
            data[name] = _iso(getattr(t, name))
        return data

    @extend_schema_field(NamedRefSerializer(allow_null=True))
    def get_type(self, obj: Ticket) -> dict | None:
        return _named(obj.type)

    @extend_schema_field(NamedRefSerializer)
    def get_requester(self, obj: Ticket) -> dict | None:
        return _named(obj.requester)

    @extend_schema_field(NamedRefSerializer(allow_null=True))
    def get_organization(self, obj: Ticket) -> dict | None:
        return _named(obj.organization)

    @extend_schema_field(AgentRefSerializer(allow_null=True, help_text="Agents only (null for customers)."))
    def get_assignee(self, obj: Ticket) -> dict | None:
        return _agent_ref(obj.assignee) if self._agent() else None

    @extend_schema_field(NamedRefSerializer(allow_null=True, help_text="Agents only (null for customers)."))
    def get_team(self, obj: Ticket) -> dict | None:
        return _named(obj.team) if self._agent() else None

    @extend_schema_field(
        serializers.ListField(child=serializers.CharField(), help_text="Agents only (empty for customers).")
    )
    def get_tags(self, obj: Ticket) -> list[str]:
        if not self._agent():
            return []
        known = getattr(obj, "_api_tag_names", None)
        return list(known) if known is not None else sorted(t.name for t in obj.tags.all())

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_custom_fields(self, obj: Ticket) -> dict:
        values = obj.custom_fields or {}
        if self._agent():
            return values
        visible = self.context.get("customer_custom_field_keys")
        if visible is None:
            from accounts.choices import CustomFieldEntity
            from accounts.models import CustomFieldDefinition

            visible = set(
                CustomFieldDefinition.objects.filter(
                    entity=CustomFieldEntity.TICKET, is_active=True, visible_to_customers=True
                ).values_list("key", flat=True)
            )
            self.context["customer_custom_field_keys"] = visible
        return {k: v for k, v in values.items() if k in visible}

    def get_url(self, obj: Ticket) -> str:
        prefix = self.context.get("_ticket_url_prefix")
        if prefix is None:
            path = reverse("api:ticket-list")
            request = self.context.get("request")
            prefix = request.build_absolute_uri(path) if request is not None else path
            self.context["_ticket_url_prefix"] = prefix
        return f"{prefix}{obj.pk}/"


class AttachmentSerializer(serializers.ModelSerializer):
    content_url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "size", "sha256", "is_inline", "created_at", "content_url"]
        read_only_fields = fields

    def get_content_url(self, obj: Attachment) -> str:
        path = reverse("api:attachment-content", args=[obj.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class AuthorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["agent", "customer", "system"])
    id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "kind",
            "channel",
            "author",
            "body_text",
            "body_html",
            "occurred_at",
            "duration_minutes",
            "delivery_status",
            "attachments",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(AuthorSerializer)
    def get_author(self, obj: Message) -> dict:
        if obj.author_user_id:
            user = obj.author_user
            return {"type": "agent", "id": user.pk, "name": user.get_full_name() or user.get_username()}
        if obj.author_contact_id:
            return {"type": "customer", "id": obj.author_contact_id, "name": str(obj.author_contact)}
        return {"type": "system", "id": None, "name": str(_("System"))}


# --- Input -----------------------------------------------------------------------------------------


class AttachmentUploadSerializer(StrictSerializer):
    """An attachment in a JSON body (multipart bodies send files under ``attachments`` instead)."""

    filename = serializers.CharField(max_length=255)
    content_base64 = serializers.CharField(help_text="The file's bytes, base64-encoded (standard alphabet).")


@extend_schema_field(AttachmentUploadSerializer(many=True))
class AttachmentsField(serializers.Field):
    """Files of a multipart body, or ``[{"filename", "content_base64"}]`` in JSON. Returns NewAttachments."""

    default_error_messages = {
        "not_a_list": _("Send a list of attachments."),
        "too_many": _("At most %(max)d attachments.") % {"max": MAX_ATTACHMENTS},
        "too_large": _("Each attachment is at most %(mb)d MB.") % {"mb": MAX_ATTACHMENT_BYTES // (1024 * 1024)},
        "bad_base64": _("content_base64 is not valid base64."),
    }

    def get_value(self, dictionary):  # noqa: ANN001, ANN201
        if hasattr(dictionary, "getlist"):
            values = dictionary.getlist(self.field_name)
            return values if values else serializers.empty
        return dictionary.get(self.field_name, serializers.empty)

    def to_internal_value(self, data):  # noqa: ANN001, ANN201
        if not isinstance(data, list):
            self.fail("not_a_list")
        if len(data) > MAX_ATTACHMENTS:
            self.fail("too_many")
        result: list[NewAttachment] = []
        errors: dict = {}
        for index, item in enumerate(data):
            if isinstance(item, UploadedFile):
                if item.size > MAX_ATTACHMENT_BYTES:
                    errors[index] = [self.error_messages["too_large"]]
                    continue
                result.append(NewAttachment(filename=item.name or "attachment", content=item.read()))
                continue
            serializer = AttachmentUploadSerializer(data=item)
            if not serializer.is_valid():
                errors[index] = serializer.errors
                continue
            raw = serializer.validated_data["content_base64"]
            if len(raw) > MAX_ATTACHMENT_BYTES * 4 // 3 + 8:
                errors[index] = {"content_base64": [self.error_messages["too_large"]]}
                continue
            try:
                content = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                errors[index] = {"content_base64": [self.error_messages["bad_base64"]]}
                continue
            result.append(NewAttachment(filename=serializer.validated_data["filename"], content=content))
        if errors:
            raise serializers.ValidationError(errors)
        return result

    def to_representation(self, value):  # noqa: ANN001, ANN201
        return None


def _id_field(**kwargs: object) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class CustomFieldsField(serializers.JSONField):
    """A JSON object of custom field values (in multipart bodies: the object as a JSON string)."""

    default_error_messages = {"not_an_object": _("Send an object of field key -> value.")}

    def to_internal_value(self, data):  # noqa: ANN001, ANN201
        if isinstance(data, str):
            import json

            try:
                data = json.loads(data)
            except ValueError:
                self.fail("not_an_object")
        if not isinstance(data, dict):
            self.fail("not_an_object")
        return data


@extend_schema_field(OpenApiTypes.OBJECT)
class _CustomFields(CustomFieldsField):
    pass


class TicketCreateSerializer(StrictSerializer):
    subject = serializers.CharField(max_length=255)
    body = serializers.CharField(
        max_length=MAX_BODY, required=False, allow_blank=True, default="", help_text="The request, plain text."
    )
    attachments = AttachmentsField(required=False)
    type = _id_field(required=False, allow_null=True, help_text="Ticket type id (see /ticket-types/).")
    custom_fields = _CustomFields(required=False)
    # Agents only:
    requester = _id_field(required=False, help_text="Agents: the requester's contact id.")
    requester_email = serializers.EmailField(
        required=False, help_text="Agents: the requester's address; an unknown address becomes a new contact."
    )
    requester_name = serializers.CharField(required=False, max_length=200, allow_blank=True)
    channel = serializers.ChoiceField(
        choices=[c for c in TICKET_CHANNELS],
        required=False,
        help_text="Agents: where the request came in (default api).",
    )
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, help_text="Agents only.")
    team = _id_field(required=False, allow_null=True, help_text="Agents only.")
    assignee = _id_field(required=False, allow_null=True, help_text="Agents only: a user id of an active agent.")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=60), required=False, max_length=50, help_text="Agents only."
    )

    AGENT_ONLY = ("requester", "requester_email", "requester_name", "channel", "priority", "team", "assignee", "tags")

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("body", "").strip() and not attrs.get("attachments"):
            raise serializers.ValidationError({"body": [_("A ticket needs a description or an attachment.")]})
        if is_agent(self.context):
            if "requester" in attrs and "requester_email" in attrs:
                raise serializers.ValidationError({"requester": [_("Give requester or requester_email, not both.")]})
            if "requester" not in attrs and "requester_email" not in attrs:
                raise serializers.ValidationError({"requester": [_("Give requester or requester_email.")]})
        return attrs


class TicketUpdateSerializer(StrictSerializer):
    """PATCH: each given key is one service call, all in one transaction (all or nothing)."""

    status = serializers.ChoiceField(choices=Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, help_text="Agents only.")
    type = _id_field(required=False, allow_null=True, help_text="Agents only.")
    team = _id_field(required=False, allow_null=True, help_text="Agents only.")
    assignee = _id_field(required=False, allow_null=True, help_text="Agents only.")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=60),
        required=False,
        max_length=50,
        help_text="Agents only: the complete new list of tags.",
    )
    custom_fields = _CustomFields(required=False, help_text="Agents only: the fields to change (others stay).")

    AGENT_ONLY = ("priority", "type", "team", "assignee", "tags", "custom_fields")


class MessageCreateSerializer(StrictSerializer):
    kind = serializers.ChoiceField(
        choices=[(MessageKind.REPLY, _("Public reply")), (MessageKind.NOTE, _("Internal note"))],
        default=MessageKind.REPLY,
        help_text="reply (public) or note (internal, agents only).",
    )
    body = serializers.CharField(max_length=MAX_BODY, required=False, allow_blank=True, default="")
    attachments = AttachmentsField(required=False)
    status = serializers.ChoiceField(
        choices=Status.choices, required=False, help_text="Agents, replies only: the status after the reply."
    )

    AGENT_ONLY = ("status",)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("body", "").strip() and not attrs.get("attachments"):
            raise serializers.ValidationError({"body": [_("A message needs text or an attachment.")]})
        if attrs.get("kind") == MessageKind.NOTE and not is_agent(self.context):
            raise serializers.ValidationError({"kind": [_("Only agents can write internal notes.")]})
        if attrs.get("kind") == MessageKind.NOTE and "status" in attrs:
            raise serializers.ValidationError({"status": [_("A note does not change the status.")]})
        return attrs


DEFAULT_API_CHANNEL = Channel.API
