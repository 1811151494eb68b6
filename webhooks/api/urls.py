"""Routes of the webhooks API, added to /api/v1/ by ``service_desk.api.urls`` (see its API_MODULES)."""

from __future__ import annotations

from webhooks.api.views import WebhookDeliveryViewSet, WebhookSubscriptionViewSet


def register(router) -> None:  # noqa: ANN001 - the API's router
    router.register("webhook-subscriptions", WebhookSubscriptionViewSet, basename="webhook-subscription")
    router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")
