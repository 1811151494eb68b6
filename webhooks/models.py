"""Webhook subscriptions and their deliveries (the webhook outbox and delivery log)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from webhooks.domain.events import WebhookEvent
from webhooks.domain.signing import mask_secret


class WebhookSubscription(models.Model):
    """An endpoint that receives signed POSTs for the chosen events.

    Owned by an agent (or admin): it only receives events of tickets its owner may see, and
    internal notes only when ``include_internal_notes`` is on. The secret signs every body; it is
    stored (it must be, to sign) and shown once, when the subscription is created.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_subscriptions")
    name = models.CharField(_("name"), max_length=100)
    url = models.CharField(
        _("URL"), max_length=2000, help_text=_("http:// or https:// address that receives the POSTs.")
    )
    secret = models.CharField(max_length=100, editable=False)
    events = models.JSONField(_("events"), default=list, help_text=_("Event types sent to this endpoint."))
    include_internal_notes = models.BooleanField(
        _("include internal notes"),
        default=False,
        help_text=_("Send message.created for internal notes, logged calls and system messages too."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Delivery statistics, updated after each attempt.
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    delivered_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        indexes = [models.Index(fields=["owner", "name"], name="webhook_sub_owner")]

    def __str__(self) -> str:
        return self.name

    @property
    def masked_secret(self) -> str:
        return mask_secret(self.secret)

    def wants(self, event_type: str) -> bool:
        return event_type in (self.events or [])


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


EVENT_TYPE_CHOICES = [(e.value, e.value) for e in WebhookEvent]


class WebhookDelivery(models.Model):
    """One event for one subscription: written with the publishing of its ticket event, sent by
    a worker, retried with backoff. ``event_id`` stays the same across retries and redeliveries:
    receivers deduplicate by it. ``payload`` holds the exact JSON body sent each time."""

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    event_id = models.UUIDField(db_index=True)
    event_type = models.CharField(max_length=40, choices=EVENT_TYPE_CHOICES)
    # The ticket event it came from: at most one delivery per (subscription, ticket event), so a
    # publishing that runs twice writes nothing new. Empty for redeliveries.
    source_event = models.ForeignKey(
        "tickets.TicketEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ticket_reference = models.CharField(max_length=30, blank=True)
    payload = models.TextField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # When a task was last queued for it (the sweep does not queue it again for a while).
    queued_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text=_("The first characters of the last response."))
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="redeliveries"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["subscription", "source_event"], name="webhook_delivery_once_per_event"),
        ]
        indexes = [
            # The sweep reads only pending rows, in due order.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="webhook_delivery_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["subscription", "-created_at", "-id"], name="webhook_delivery_sub"),
            models.Index(fields=["-created_at", "-id"], name="webhook_delivery_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.subscription_id}"
