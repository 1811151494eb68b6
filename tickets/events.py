"""Publishing ticket events (the transactional outbox) to their subscribers.

Services write :class:`TicketEvent` rows in the same transaction as the change; after commit a
Celery task calls :func:`publish_pending`, which hands each unpublished event to the handlers
subscribed to its action and marks it published. A beat sweep runs the same function, so an
event whose task was never queued (broker down) is delivered late, never lost. Delivery is at
least once: handlers must be idempotent or tolerate a repeat. Handlers run inside the publishing
transaction and queue their side effects with ``transaction.on_commit``, so a batch that rolls
back (and is retried) has queued nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from tickets.models import TicketEvent

logger = logging.getLogger(__name__)

Handler = Callable[[TicketEvent], None]
_handlers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(action: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if handler not in _handlers[action]:
            _handlers[action].append(handler)
        return handler

    return register


def handlers_for(action: str) -> list[Handler]:
    return list(_handlers.get(action, ()))


MAX_PUBLISH_ATTEMPTS = 5


def publish_pending(batch_size: int = 500) -> int:
    """Publish one batch of due, unpublished events in id order; return how many were taken.

    Rows are locked with SKIP LOCKED (on PostgreSQL) so two publishers never take the same event.
    Each event's handlers run in a savepoint: a failing event is rolled back alone and retried
    with backoff; after ``MAX_PUBLISH_ATTEMPTS`` it is set aside with its error (logged), so it
    never blocks the events behind it.
    """
    now = timezone.now()
    with transaction.atomic():
        qs = (
            TicketEvent.objects.filter(published_at__isnull=True)
            .filter(Q(publish_not_before__isnull=True) | Q(publish_not_before__lte=now))
            .order_by("id")
        )
        if connection.features.has_select_for_update_skip_locked:
            # of=("self",): lock only the event rows; the nullable actor join cannot be locked.
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        events = list(qs.select_related("ticket", "actor")[:batch_size])
        published: list[int] = []
        for event in events:
            try:
                with transaction.atomic():
                    for handler in handlers_for(event.action):
                        handler(event)
            except Exception as exc:
                _record_failure(event, exc, now)
            else:
                published.append(event.pk)
        if published:
            TicketEvent.objects.filter(pk__in=published).update(published_at=now)
    return len(events)


def _record_failure(event: TicketEvent, exc: Exception, now: datetime) -> None:
    event.publish_attempts += 1
    event.publish_error = f"{type(exc).__name__}: {exc}"[:2000]
    if event.publish_attempts >= MAX_PUBLISH_ATTEMPTS:
        logger.error("Ticket event %s set aside after %s failed attempts: %s", event.pk, event.publish_attempts, exc)
        event.published_at = now
    else:
        logger.warning("Ticket event %s failed (attempt %s): %s", event.pk, event.publish_attempts, exc)
        event.publish_not_before = now + timedelta(seconds=30 * 2**event.publish_attempts)
    event.save(update_fields=["publish_attempts", "publish_error", "published_at", "publish_not_before"])


def publish_all(batch_size: int = 500, max_batches: int = 100) -> int:
    total = 0
    for _ in range(max_batches):
        published = publish_pending(batch_size)
        total += published
        if published < batch_size:
            break
    return total
