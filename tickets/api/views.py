"""Tickets, their messages and attachments under /api/v1/. Thin: parse, call one service or
selector, answer. Reads are scoped (outside the caller's scope: 404); writes go through
``tickets.services`` with ``Channel.API``."""

from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.domain.permissions import Kind
from accounts.models import Contact, Team
from service_desk.api.base import MAX_ID, ApiGenericViewSet, ApiReadOnlyViewSet
from service_desk.api.errors import ApiError
from service_desk.api.idempotency import IdempotentCreateMixin
from service_desk.api.pagination import sort_spec
from service_desk.api.permissions import IsAgent
from tickets import selectors, services
from tickets.api import serializers as s
from tickets.api.filters import ApiTicketFilterSet
from tickets.choices import Channel, MessageKind, Status
from tickets.domain import queues
from tickets.domain.portal import customer_actions
from tickets.domain.references import parse_reference
from tickets.downloads import attachment_response
from tickets.models import Message, Tag, Ticket, TicketType

User = get_user_model()

ORDERINGS = {"updated": "updated", "created": "created", "sla": "sla", "priority": "priority"}


def actor_for(request) -> services.Actor:  # noqa: ANN001
    principal = account_selectors.principal_for(request.user)
    if principal.is_agent:
        return services.Actor.agent(request.user, Channel.API)
    if principal.kind is Kind.CUSTOMER and principal.contact_id is not None:
        contact = Contact.objects.select_related("organization").get(pk=principal.contact_id)
        return services.Actor.customer(contact, Channel.API, request.user)
    raise PermissionDenied(_("Only agents and customers can change tickets."))


def _input_context(view, serializer_class: type) -> dict:  # noqa: ANN001
    context = view.get_serializer_context()
    if not account_selectors.principal_for(view.request.user).is_agent:
        context["not_allowed_fields"] = getattr(serializer_class, "AGENT_ONLY", ())
    return context


def _invalid(field: str, message: str) -> ApiError:
    return ApiError("invalid", message, fields={field: [message]})


class TicketFilterBackend(DjangoFilterBackend):
    def get_filterset_kwargs(self, request, queryset, view) -> dict:  # noqa: ANN001
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        kwargs["user"] = request.user
        return kwargs


class AnyFileRenderer(BaseRenderer):
    """Lets a download be negotiated for any Accept header; errors still render as JSON."""

    media_type = "*/*"
    format = "file"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):  # noqa: ANN001, ANN201
        return JSONRenderer().render(data)


@extend_schema_view(
    list=extend_schema(
        summary="List tickets",
        parameters=[
            OpenApiParameter(
                "ordering",
                str,
                enum=list(ORDERINGS),
                description="updated (newest change first, default), created (newest first), sla (soonest due "
                "first; active tickets with a running SLA target only), priority (urgent first; active tickets only).",
            )
        ],
    ),
    retrieve=extend_schema(summary="Get a ticket (by id or reference, e.g. SD-1042)"),
)
class TicketViewSet(IdempotentCreateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiGenericViewSet):
    serializer_class = s.TicketSerializer
    filter_backends = [TicketFilterBackend]
    filterset_class = ApiTicketFilterSet
    lookup_value_regex = r"(?:[0-9]+|[A-Za-z]+-[0-9]+)"
    http_method_names = ["get", "post", "patch", "head", "options"]
    # Find a page's ids on the ticket rows alone, then join requester, organization, ... for those 50.
    keyset_deferred_join = True

    LIST_COLUMNS = (
        *(f.name for f in Ticket._meta.concrete_fields),
        "requester__name",
        "organization__name",
        "assignee__username",
        "assignee__first_name",
        "assignee__last_name",
        "team__name",
        "type__name",
    )

    def get_queryset(self):  # noqa: ANN201
        qs = selectors.tickets_visible_to(self.request.user).prefetch_related("tags")
        if self.action == "list":
            # Only what the list shows of the joined rows (contacts and organizations carry notes and JSON).
            qs = qs.only(*self.LIST_COLUMNS)
        return qs

    def get_keyset_sort(self) -> queues.SortSpec:
        if self.action == "messages":
            return sort_spec(("created_at", "id"))
        key = self.request.query_params.get("ordering") or "updated"
        if key not in ORDERINGS:
            raise _invalid("ordering", _("Use one of: %(keys)s.") % {"keys": ", ".join(ORDERINGS)})
        return queues.SORTS[key]

    def filter_queryset(self, queryset):  # noqa: ANN001, ANN201
        queryset = super().filter_queryset(queryset)
        ordering = self.request.query_params.get("ordering") if self.action == "list" else None
        if ordering == "priority":
            # The "priority" order walks the partial index of active tickets.
            queryset = queryset.filter(status__in=queues.ACTIVE)
        elif ordering == "sla":
            # The "sla" order walks the partial index of active tickets with a running target.
            queryset = queryset.filter(status__in=queues.ACTIVE, sla_due_at__isnull=False)
        return queryset

    def get_object(self) -> Ticket:
        key = str(self.kwargs["pk"])
        number = int(key) if key.isdigit() else parse_reference(key, self._prefix())
        if number is None or not 0 < number <= MAX_ID:
            raise NotFound()
        try:
            return selectors.ticket_for(self.request.user, number)
        except Ticket.DoesNotExist as exc:
            raise NotFound() from exc

    @staticmethod
    def _prefix() -> str:
        from django.conf import settings

        return settings.TICKET_REFERENCE_PREFIX

    # --- create ------------------------------------------------------------------------------------

    @extend_schema(
        summary="Open a ticket",
        request={
            "application/json": s.TicketCreateSerializer,
            "multipart/form-data": s.TicketCreateSerializer,
        },
        responses={201: s.TicketSerializer},
    )
    def create(self, request, *args, **kwargs) -> Response:  # noqa: ANN001, ANN002, ANN003
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request) -> Response:  # noqa: ANN001
        serializer = s.TicketCreateSerializer(data=request.data, context=_input_context(self, s.TicketCreateSerializer))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        by = actor_for(request)
        ticket_type = self._ticket_type(data.get("type"))
        if by.is_customer:
            contact = by.contact
            self._check_customer_fields(contact, ticket_type, data.get("custom_fields") or {})
            organization = contact.organization
            options = {
                "type": ticket_type,
                "organization": organization,
                "team": organization.default_team if organization is not None else None,
                "custom_fields": data.get("custom_fields") or {},
                "enforce_required_fields": False,
            }
            channel = Channel.API
        else:
            contact = self._requester(request, data)
            options = {
                "type": ticket_type,
                "priority": data.get("priority") or "normal",
                "team": self._team(data.get("team")),
                "assignee": self._agent(data.get("assignee")),
                "tags": data.get("tags") or (),
                "custom_fields": data.get("custom_fields") or {},
            }
            channel = data.get("channel") or Channel.API
        ticket = services.ticket_create(
            subject=data["subject"],
            requester=contact,
            channel=channel,
            body_text=data.get("body", ""),
            by=by,
            attachments=data.get("attachments") or (),
            **options,
        )
        # The tags were just written from the request: no query to read them back.
        ticket._api_tag_names = sorted({Tag.normalize(n) for n in options.get("tags", ())})
        body = s.TicketSerializer(ticket, context=self.get_serializer_context()).data
        location = body["url"]
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": location})

    def _requester(self, request, data: dict) -> Contact:  # noqa: ANN001
        if "requester" in data:
            contact = account_selectors.contact_visible_to(request.user, data["requester"])
            if contact is None:
                raise _invalid("requester", _("No such contact."))
            return contact
        try:
            contact, _created = account_services.contact_get_or_create_by_email(
                email=data["requester_email"], name=data.get("requester_name", "")
            )
        except account_services.AccountError as exc:
            raise _invalid("requester_email", str(exc)) from exc
        return contact

    @staticmethod
    def _ticket_type(pk: int | None) -> TicketType | None:
        if pk is None:
            return None
        found = TicketType.objects.filter(pk=pk, is_active=True).first()
        if found is None:
            raise _invalid("type", _("No such ticket type."))
        return found

    @staticmethod
    def _team(pk: int | None) -> Team | None:
        if pk is None:
            return None
        found = Team.objects.filter(pk=pk).first()
        if found is None:
            raise _invalid("team", _("No such team."))
        return found

    @staticmethod
    def _agent(pk: int | None):  # noqa: ANN205
        if pk is None:
            return None
        found = User.objects.filter(pk=pk).first()
        if found is None:
            raise _invalid("assignee", _("No such agent."))
        return found

    @staticmethod
    def _check_customer_fields(contact: Contact, ticket_type: TicketType | None, values: dict) -> None:
        allowed = {
            d.key for d in account_selectors.ticket_custom_fields_for(contact, ticket_type.pk if ticket_type else None)
        }
        refused = {f"custom_fields.{key}": [_("You may not set this field.")] for key in values if key not in allowed}
        if refused:
            raise ApiError("invalid", _("You may not set these fields."), fields=refused)

    # --- update ------------------------------------------------------------------------------------

    @extend_schema(
        summary="Change a ticket",
        request=s.TicketUpdateSerializer,
        responses={200: s.TicketSerializer},
        description="Each given field is changed through the service layer, all in one transaction. Customers "
        "may only set status: solved (while the ticket is active) or open (reopen within the reopen window).",
    )
    def partial_update(self, request, *args, **kwargs) -> Response:  # noqa: ANN001, ANN002, ANN003
        ticket = self.get_object()
        serializer = s.TicketUpdateSerializer(data=request.data, context=_input_context(self, s.TicketUpdateSerializer))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        by = actor_for(request)
        if by.is_customer and "status" in data:
            self._check_customer_status(ticket, data["status"])
        with transaction.atomic():
            if "team" in data:
                services.ticket_set_team(ticket=ticket, by=by, team=self._team(data["team"]))
            if "assignee" in data:
                services.ticket_assign(ticket=ticket, by=by, assignee=self._agent(data["assignee"]))
            if "type" in data:
                services.ticket_set_type(ticket=ticket, by=by, type=self._ticket_type_any(data["type"]))
            if "priority" in data:
                services.ticket_change_priority(ticket=ticket, by=by, priority=data["priority"])
            if "tags" in data:
                self._set_tags(ticket, by, data["tags"])
            if "custom_fields" in data:
                services.ticket_set_custom_fields(ticket=ticket, by=by, values=data["custom_fields"])
            if "status" in data:
                services.ticket_change_status(ticket=ticket, by=by, status=data["status"])
        fresh = self.get_queryset().get(pk=ticket.pk)
        return Response(s.TicketSerializer(fresh, context=self.get_serializer_context()).data)

    @staticmethod
    def _ticket_type_any(pk: int | None) -> TicketType | None:
        if pk is None:
            return None
        found = TicketType.objects.filter(pk=pk).first()
        if found is None:
            raise _invalid("type", _("No such ticket type."))
        return found

    @staticmethod
    def _set_tags(ticket: Ticket, by: services.Actor, names: list[str]) -> None:
        from tickets.models import Tag

        try:
            wanted = {Tag.normalize(n) for n in names}
        except Exception as exc:  # Django's ValidationError with the rule
            raise _invalid("tags", " ".join(getattr(exc, "messages", [str(exc)]))) from exc
        current = {t.name for t in ticket.tags.all()}
        services.ticket_update_tags(ticket=ticket, by=by, add=wanted - current, remove=current - wanted)

    @staticmethod
    def _check_customer_status(ticket: Ticket, wanted: str) -> None:
        from portal.views.tickets import reopen_days

        if wanted == ticket.status:
            return
        actions = customer_actions(ticket.status, ticket.solved_at, timezone.now(), reopen_days())
        if wanted == Status.SOLVED and actions.can_solve:
            return
        if wanted == Status.OPEN and actions.can_reopen:
            return
        raise _invalid(
            "status",
            _("Customers can mark an active ticket solved, or reopen a solved one within the reopen window."),
        )

    # --- messages ----------------------------------------------------------------------------------

    @extend_schema(
        summary="List a ticket's messages (customers: public replies only)",
        responses=s.MessageSerializer(many=True),
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path="messages", filter_backends=[])
    def messages(self, request, pk=None) -> Response:  # noqa: ANN001
        ticket = self.get_object()
        qs = selectors.messages_visible_to(request.user, ticket).select_related("author_contact")
        page = self.paginate_queryset(qs)
        data = s.MessageSerializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    @extend_schema(
        summary="Add a public reply or an internal note (agents)",
        request={"application/json": s.MessageCreateSerializer, "multipart/form-data": s.MessageCreateSerializer},
        responses={201: s.MessageSerializer},
    )
    @messages.mapping.post
    def add_message(self, request, pk=None) -> Response:  # noqa: ANN001
        ticket = self.get_object()
        return self.idempotent(request, lambda: self._add_message(request, ticket))

    def _add_message(self, request, ticket: Ticket) -> Response:  # noqa: ANN001
        serializer = s.MessageCreateSerializer(
            data=request.data, context=_input_context(self, s.MessageCreateSerializer)
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        by = actor_for(request)
        files = data.get("attachments") or ()
        if data["kind"] == MessageKind.NOTE:
            message = services.ticket_add_note(ticket=ticket, by=by, body_text=data["body"], attachments=files)
        else:
            if by.is_customer:
                actions = customer_actions(ticket.status, ticket.solved_at, timezone.now(), self._reopen_days())
                if not actions.can_reply:
                    raise _invalid("body", _("This ticket can no longer be replied to; open a new ticket instead."))
            message = services.ticket_reply(
                ticket=ticket, by=by, body_text=data["body"], attachments=files, status=data.get("status")
            )
        fresh = (
            Message.objects.select_related("author_user", "author_contact")
            .prefetch_related("attachments")
            .get(pk=message.pk)
        )
        return Response(s.MessageSerializer(fresh, context=self.get_serializer_context()).data, status=201)

    @staticmethod
    def _reopen_days() -> int:
        from portal.views.tickets import reopen_days

        return reopen_days()


class AttachmentViewSet(mixins.RetrieveModelMixin, ApiGenericViewSet):
    """Attachments of messages the caller may see (customers: on public replies only)."""

    serializer_class = s.AttachmentSerializer
    filter_backends: list = []

    def get_queryset(self):  # noqa: ANN201
        return selectors.attachments_visible_to(self.request.user)

    @extend_schema(
        summary="Download an attachment",
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    @action(detail=True, methods=["get"], url_path="content", renderer_classes=[JSONRenderer, AnyFileRenderer])
    def content(self, request, pk=None):  # noqa: ANN001, ANN201
        return attachment_response(self.get_object())


# --- Configuration the integrator needs: tags, ticket types, SLA policies ---------------------------


class TagSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TicketTypeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()


class SLATargetSerializer(serializers.Serializer):
    priority = serializers.CharField()
    first_response_minutes = serializers.IntegerField(allow_null=True)
    next_response_minutes = serializers.IntegerField(allow_null=True)
    resolution_minutes = serializers.IntegerField(allow_null=True)


class SLAPolicySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    is_default = serializers.BooleanField()
    calendar = serializers.SerializerMethodField()
    warning_percent = serializers.IntegerField()
    targets = SLATargetSerializer(many=True)

    @extend_schema_field(s.NamedRefSerializer(allow_null=True))
    def get_calendar(self, obj) -> dict | None:  # noqa: ANN001
        return s._named(obj.calendar)


class TagFilterSet(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label=gettext_lazy("Start of the name"), max_length=60)

    class Meta:
        model = Tag
        fields: list[str] = []

    def filter_search(self, queryset, name: str, value: str):  # noqa: ANN001, ANN201
        return queryset.filter(name__startswith=value.strip().lower()) if value.strip() else queryset


@extend_schema_view(list=extend_schema(summary="List tags (agents only)"), retrieve=extend_schema(summary="Get a tag"))
class TagViewSet(ApiReadOnlyViewSet):
    serializer_class = TagSerializer
    permission_classes = [IsAgent]
    filterset_class = TagFilterSet
    keyset_ordering = ("id",)

    def get_queryset(self):  # noqa: ANN201
        return Tag.objects.all()


@extend_schema_view(
    list=extend_schema(summary="List active ticket types"), retrieve=extend_schema(summary="Get a ticket type")
)
class TicketTypeViewSet(ApiReadOnlyViewSet):
    serializer_class = TicketTypeSerializer
    filter_backends: list = []
    keyset_ordering = ("id",)

    def get_queryset(self):  # noqa: ANN201
        return TicketType.objects.filter(is_active=True)


@extend_schema_view(
    list=extend_schema(summary="List SLA policies with their targets (agents only)"),
    retrieve=extend_schema(summary="Get an SLA policy"),
)
class SLAPolicyViewSet(ApiReadOnlyViewSet):
    serializer_class = SLAPolicySerializer
    permission_classes = [IsAgent]
    filter_backends: list = []
    keyset_ordering = ("id",)

    def get_queryset(self):  # noqa: ANN201
        from django.db.models import Prefetch

        from tickets.models import SLAPolicy, SLATarget

        return SLAPolicy.objects.select_related("calendar").prefetch_related(
            Prefetch("targets", queryset=SLATarget.objects.order_by("id"))
        )
