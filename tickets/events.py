"""Publishing ticket events (the transactional outbox) to their subscribers.

Services write :class:`TicketEvent` rows in the same transaction as the change; after commit a
Celery task calls :func:`publish_pending`, which hands each unpublished event to the handlers
subscribed to its action and marks it published. A beat sweep runs the same function, so an
event whose task was never queued (broker down) is delivered late, never lost. Delivery is at
least once: handlers must be idempotent or tolerate a repeat.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

from django.db import connection, transaction
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


def publish_pending(batch_size: int = 500) -> int:
    """Publish one batch of unpublished events in id order; return how many were published.

    Rows are locked with SKIP LOCKED (on PostgreSQL) so two publishers never take the same event.
    A handler error rolls the batch back; it is retried by the next run.
    """
    with transaction.atomic():
        qs = TicketEvent.objects.filter(published_at__isnull=True).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        events = list(qs.select_related("ticket", "actor")[:batch_size])
        for event in events:
            for handler in handlers_for(event.action):
                handler(event)
        if events:
            TicketEvent.objects.filter(pk__in=[e.pk for e in events]).update(published_at=timezone.now())
    return len(events)


def publish_all(batch_size: int = 500, max_batches: int = 100) -> int:
    total = 0
    for _ in range(max_batches):
        published = publish_pending(batch_size)
        total += published
        if published < batch_size:
            break
    return total
