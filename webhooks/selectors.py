"""Scoped reads of webhook subscriptions and deliveries: admins see all, agents their own."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.selectors import principal_for
from webhooks.models import WebhookDelivery, WebhookSubscription


def subscriptions_visible_to(user) -> QuerySet[WebhookSubscription]:  # noqa: ANN001 - a User
    principal = principal_for(user)
    qs = WebhookSubscription.objects.select_related("owner")
    if not principal.is_agent:
        return qs.none()
    if principal.is_admin:
        return qs
    return qs.filter(owner_id=principal.user_id)


def deliveries_visible_to(user) -> QuerySet[WebhookDelivery]:  # noqa: ANN001 - a User
    principal = principal_for(user)
    qs = WebhookDelivery.objects.select_related("subscription")
    if not principal.is_agent:
        return qs.none()
    if principal.is_admin:
        return qs
    return qs.filter(subscription__owner_id=principal.user_id)
