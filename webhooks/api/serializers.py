"""Serializers of the webhooks API: strict input, documented output."""

from __future__ import annotations

import json

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from service_desk.api.serializers import StrictSerializer
from webhooks.domain.events import ALL_EVENTS
from webhooks.domain.ssrf import MAX_URL_LENGTH
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription


class OwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class SubscriptionSerializer(serializers.ModelSerializer):
    owner = OwnerSerializer(read_only=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=ALL_EVENTS), read_only=True)
    secret_hint = serializers.CharField(
        source="masked_secret", read_only=True, help_text=_("The secret's prefix and last characters.")
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "name",
            "url",
            "events",
            "include_internal_notes",
            "is_active",
            "owner",
            "secret_hint",
            "created_at",
            "updated_at",
            "last_success_at",
            "last_failure_at",
            "last_error",
            "consecutive_failures",
            "delivered_count",
            "failed_count",
        ]
        read_only_fields = fields


class SubscriptionWithSecretSerializer(SubscriptionSerializer):
    secret = serializers.CharField(
        read_only=True, help_text=_("The signing secret. Returned only when it is created: store it now.")
    )

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class SubscriptionInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(
        max_length=MAX_URL_LENGTH,
        help_text=_("http:// or https:// URL; private, loopback and link-local addresses are refused."),
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=ALL_EVENTS), min_length=1, max_length=len(ALL_EVENTS) * 2
    )
    include_internal_notes = serializers.BooleanField(required=False, default=False)
    is_active = serializers.BooleanField(required=False, default=True)


class DeliverySerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "event_id",
            "event_type",
            "ticket_reference",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "delivered_at",
            "response_status",
            "response_body",
            "error",
            "duration_ms",
            "redelivery_of",
            "created_at",
        ]
        read_only_fields = fields


class DeliveryDetailSerializer(DeliverySerializer):
    payload = serializers.SerializerMethodField(help_text=_("The JSON body that is sent (the same on every attempt)."))

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "payload"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, obj: WebhookDelivery) -> dict:
        return json.loads(obj.payload)
