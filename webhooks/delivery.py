"""Sending webhook deliveries: claim a due row, POST it signed, record the outcome, back off.

A worker claims a delivery with ``SELECT ... FOR UPDATE SKIP LOCKED``, counts the attempt and
pushes ``next_attempt_at`` a lease ahead, and commits before sending: two workers never send the
same delivery at once (the second finds it locked or not due), no transaction stays open during
the HTTP request, and a worker killed mid-send leaves a row that the sweep takes again once the
lease has run out (its attempt already counted, so it cannot be retried forever).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from webhooks import transport
from webhooks.domain import retry, signing
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

# Longer than the longest attempt (Celery's hard time limit is 300 s).
LEASE = timedelta(minutes=10)
# A row queued this long ago and still due was lost on the way (broker emptied): queue it again.
REQUEUE_AFTER = timedelta(minutes=2)
USER_AGENT = "ServiceDesk-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    status: str  # "delivered", "retry", "failed", "skipped"
    delivery_id: int


def _max_attempts() -> int:
    return int(getattr(settings, "WEBHOOK_MAX_ATTEMPTS", 8))


def _schedule() -> tuple[int, ...]:
    return tuple(getattr(settings, "WEBHOOK_RETRY_SCHEDULE", retry.DEFAULT_SCHEDULE))


def delivery_claim(delivery_id: int) -> WebhookDelivery | None:
    """Take a due pending delivery for one attempt, or None (done, not due, or another worker has it)."""
    now = timezone.now()
    with transaction.atomic():
        qs = WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        else:
            qs = qs.select_for_update()
        delivery = qs.select_related("subscription").first()
        if delivery is None:
            return None
        if not delivery.subscription.is_active or delivery.attempts >= _max_attempts():
            # Inactive subscription, or attempts that never recorded an outcome (workers killed mid-send).
            delivery.status = DeliveryStatus.FAILED
            if not delivery.subscription.is_active:
                delivery.error = "Subscription is inactive."
            else:
                given_up = f" (given up after {delivery.attempts} attempts)"
                delivery.error = (delivery.error or "No outcome recorded") + given_up
            delivery.save(update_fields=["status", "error"])
            return None
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = now + LEASE
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
    return delivery


def request_headers(delivery: WebhookDelivery, body: bytes, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-ServiceDesk-Event": delivery.event_type,
        "X-ServiceDesk-Delivery": str(delivery.event_id),
        "X-ServiceDesk-Attempt": str(delivery.attempts),
        "X-ServiceDesk-Signature": signing.signature_header(delivery.subscription.secret, timestamp, body),
    }


def delivery_send(delivery: WebhookDelivery) -> transport.AttemptResult:
    body = delivery.payload.encode("utf-8")
    headers = request_headers(delivery, body, int(time.time()))
    return transport.post_signed(
        delivery.subscription.url,
        body,
        headers,
        timeout=float(getattr(settings, "WEBHOOK_TIMEOUT", 10.0)),
        max_redirects=int(getattr(settings, "WEBHOOK_MAX_REDIRECTS", 3)),
        ca_certs=getattr(settings, "WEBHOOK_CA_BUNDLE", "") or None,
    )


def delivery_record(delivery: WebhookDelivery, result: transport.AttemptResult) -> str:
    """Store the attempt's outcome on the row (only if this worker still holds it) and the stats."""
    now = timezone.now()
    update: dict = {
        "response_status": result.status,
        "response_body": result.body[: transport.RESPONSE_EXCERPT_BYTES],
        "error": result.error[:2000],
        "duration_ms": result.duration_ms,
        "queued_at": None,
    }
    if result.ok:
        status = DeliveryStatus.DELIVERED
        update.update(status=status, delivered_at=now)
    elif retry.gives_up(delivery.attempts, _max_attempts()):
        status = DeliveryStatus.FAILED
        update.update(status=status)
    else:
        status = "retry"
        update.update(next_attempt_at=now + timedelta(seconds=retry.retry_delay(delivery.attempts, _schedule())))
    with transaction.atomic():
        changed = WebhookDelivery.objects.filter(
            pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts
        ).update(**update)
        if not changed:
            logger.warning("Webhook delivery %s changed while it was being sent; outcome not recorded.", delivery.pk)
            return "skipped"
        subscription = WebhookSubscription.objects.filter(pk=delivery.subscription_id)
        if result.ok:
            subscription.update(last_success_at=now, consecutive_failures=0, delivered_count=F("delivered_count") + 1)
        else:
            stats: dict = {
                "last_failure_at": now,
                "last_error": result.error[:500],
                "consecutive_failures": F("consecutive_failures") + 1,
            }
            if status == DeliveryStatus.FAILED:
                stats["failed_count"] = F("failed_count") + 1
            subscription.update(**stats)
    if status == DeliveryStatus.FAILED:
        logger.warning(
            "Webhook delivery %s (%s) failed for good after %s attempts: %s",
            delivery.pk,
            delivery.event_type,
            delivery.attempts,
            result.error,
        )
    return str(status)


def delivery_attempt(delivery_id: int) -> Outcome:
    """One attempt of one delivery: what a task runs. Safe to run twice or concurrently."""
    delivery = delivery_claim(delivery_id)
    if delivery is None:
        return Outcome("skipped", delivery_id)
    try:
        result = delivery_send(delivery)
    except Exception as exc:  # a bug must not leave the row leased with nothing recorded
        logger.exception("Webhook delivery %s crashed", delivery_id)
        result = transport.AttemptResult(None, "", f"{type(exc).__name__}: {exc}", 0, delivery.subscription.url)
    return Outcome(delivery_record(delivery, result), delivery_id)


def deliveries_queue_due(limit: int = 500) -> list[int]:
    """Mark due pending deliveries that no task is known to carry as queued, and return them.

    Picks rows never queued (the broker was down), rows whose retry fell due, and rows queued
    more than ``REQUEUE_AFTER`` ago that are still due (their task was lost).
    """
    now = timezone.now()
    with transaction.atomic():
        qs = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now).filter(
            Q(queued_at__isnull=True) | Q(queued_at__lt=now - REQUEUE_AFTER)
        )
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        ids = list(qs.order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
        if ids:
            WebhookDelivery.objects.filter(pk__in=ids).update(queued_at=now)
    return ids


def deliveries_prune(older_than_days: int) -> int:
    """Delete delivered and failed rows older than the retention period; pending rows stay."""
    if older_than_days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = WebhookDelivery.objects.filter(created_at__lt=cutoff).exclude(status=DeliveryStatus.PENDING).delete()
    return deleted
