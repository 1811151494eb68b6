"""Thin Celery tasks of the webhooks queue: primitive ids in, one call, nothing else."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)


@shared_task(name="webhooks.tasks.deliver_webhook_task", ignore_result=True)
def deliver_webhook_task(delivery_id: int) -> str:
    """One attempt of one delivery; a failure is recorded on the row and retried by the sweep."""
    from webhooks.delivery import delivery_attempt

    return delivery_attempt(delivery_id).status


@shared_task(name="webhooks.tasks.requeue_due_webhook_deliveries_task", ignore_result=True)
def requeue_due_webhook_deliveries_task(limit: int = 500) -> int:
    """Beat: queue deliveries whose retry fell due or whose task never reached a worker."""
    from webhooks.delivery import deliveries_queue_due
    from webhooks.services import queue_deliveries

    ids = deliveries_queue_due(limit)
    queue_deliveries(ids)
    if ids:
        logger.info("Queued %s due webhook deliveries.", len(ids))
    return len(ids)


@shared_task(name="webhooks.tasks.prune_webhook_deliveries_task", ignore_result=True)
def prune_webhook_deliveries_task() -> int:
    from webhooks.delivery import deliveries_prune

    return deliveries_prune(int(getattr(settings, "WEBHOOK_DELIVERY_RETENTION_DAYS", 30)))
