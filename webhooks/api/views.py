"""Webhook subscriptions and their delivery log under /api/v1/ (agents only: admins see all,
agents their own; anything else is a 404). Thin: parse, call one service or selector, answer."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from service_desk.api.base import MAX_ID, ApiReadOnlyViewSet, ApiViewSet
from service_desk.api.errors import ApiError, ErrorSerializer
from service_desk.api.permissions import IsAgent
from webhooks import selectors, services
from webhooks.api import serializers as s
from webhooks.domain.events import ALL_EVENTS
from webhooks.models import DeliveryStatus, WebhookDelivery

TAGS = ["webhooks"]


def _invalid(exc: DjangoValidationError) -> serializers.ValidationError:
    if hasattr(exc, "error_dict"):
        return serializers.ValidationError(exc.message_dict)
    return serializers.ValidationError({"non_field_errors": exc.messages})


@extend_schema_view(
    list=extend_schema(summary="List webhook subscriptions (admins: all; agents: their own)", tags=TAGS),
    retrieve=extend_schema(summary="Get a webhook subscription", tags=TAGS),
    update=extend_schema(
        summary="Replace a webhook subscription",
        tags=TAGS,
        request=s.SubscriptionInputSerializer,
        responses=s.SubscriptionSerializer,
    ),
    partial_update=extend_schema(
        summary="Change a webhook subscription",
        tags=TAGS,
        request=s.SubscriptionInputSerializer,
        responses=s.SubscriptionSerializer,
    ),
    destroy=extend_schema(summary="Delete a webhook subscription and its delivery log", tags=TAGS),
)
class WebhookSubscriptionViewSet(ApiViewSet):
    serializer_class = s.SubscriptionSerializer
    permission_classes = [IsAgent]
    filter_backends: list = []
    keyset_ordering = ("id",)

    def get_queryset(self):  # noqa: ANN201
        return selectors.subscriptions_visible_to(self.request.user)

    def _input(self, request, *, partial: bool) -> dict:  # noqa: ANN001
        serializer = s.SubscriptionInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @extend_schema(
        summary="Create a webhook subscription (the response carries the signing secret, once)",
        tags=TAGS,
        request=s.SubscriptionInputSerializer,
        responses={201: s.SubscriptionWithSecretSerializer, 400: ErrorSerializer},
    )
    def create(self, request, *args, **kwargs) -> Response:  # noqa: ANN001, ANN002, ANN003
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request) -> Response:  # noqa: ANN001
        data = self._input(request, partial=False)
        try:
            subscription = services.subscription_create(owner=request.user, **data)
        except DjangoValidationError as exc:
            raise _invalid(exc) from exc
        return Response(s.SubscriptionWithSecretSerializer(subscription).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs) -> Response:  # noqa: ANN001, ANN002, ANN003
        partial = kwargs.pop("partial", False)
        subscription = self.get_object()
        data = self._input(request, partial=partial)
        if partial:
            # Defaults apply to creation only: a PATCH changes only what it names.
            data = {k: v for k, v in data.items() if k in request.data}
        try:
            subscription = services.subscription_update(subscription=subscription, by=request.user, **data)
        except DjangoValidationError as exc:
            raise _invalid(exc) from exc
        return Response(s.SubscriptionSerializer(subscription).data)

    def destroy(self, request, *args, **kwargs) -> Response:  # noqa: ANN001, ANN002, ANN003
        services.subscription_delete(subscription=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Replace the signing secret (the new one is returned once; the old one stops at once)",
        tags=TAGS,
        request=None,
        responses={200: s.SubscriptionWithSecretSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk: str | None = None) -> Response:  # noqa: ANN001
        subscription = services.subscription_rotate_secret(subscription=self.get_object(), by=request.user)
        return Response(s.SubscriptionWithSecretSerializer(subscription).data)


class IdFilter(django_filters.Filter):
    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class DeliveryFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    event_type = django_filters.ChoiceFilter(choices=[(e, e) for e in ALL_EVENTS])
    subscription = IdFilter(field_name="subscription_id", label=gettext_lazy("Subscription id"))
    event_id = django_filters.UUIDFilter(field_name="event_id")

    class Meta:
        model = WebhookDelivery
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(summary="The webhook delivery log, newest first", tags=TAGS),
    retrieve=extend_schema(
        summary="One delivery with its request body and last response", tags=TAGS, responses=s.DeliveryDetailSerializer
    ),
)
class WebhookDeliveryViewSet(ApiReadOnlyViewSet):
    permission_classes = [IsAgent]
    filterset_class = DeliveryFilterSet
    keyset_ordering = ("-created_at", "-id")

    def get_queryset(self):  # noqa: ANN201
        return selectors.deliveries_visible_to(self.request.user)

    def get_serializer_class(self):  # noqa: ANN201
        return s.DeliveryDetailSerializer if self.action == "retrieve" else s.DeliverySerializer

    @extend_schema(
        summary="Send the event again (a new delivery with the same event id), queued now",
        tags=TAGS,
        request=None,
        responses={202: s.DeliverySerializer, 409: OpenApiResponse(ErrorSerializer, description="inactive")},
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk: str | None = None) -> Response:  # noqa: ANN001
        return self.idempotent(request, lambda: self._redeliver(request))

    def _redeliver(self, request) -> Response:  # noqa: ANN001
        original = self.get_object()
        try:
            copy = services.delivery_redeliver(delivery=original, by=request.user)
        except DjangoValidationError as exc:
            raise ApiError("subscription_inactive", " ".join(exc.messages), status=409) from exc
        copy.refresh_from_db()
        return Response(s.DeliverySerializer(copy).data, status=status.HTTP_202_ACCEPTED)
