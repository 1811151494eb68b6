"""Housekeeping of desk-wide tables (thin: the work is one bounded delete per batch)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from service_desk.models import IdempotencyRecord

PRUNE_BATCH = 5_000


def idempotency_records_prune(*, older_than: timedelta | None = None) -> int:
    """Delete idempotency records (API keys, portal form nonces) older than the retention; how many.

    A retry after that long is answered as a new request, as the API documentation says.
    """
    if older_than is None:
        older_than = timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS)
    cutoff = timezone.now() - older_than
    deleted = 0
    while True:
        ids = list(IdempotencyRecord.objects.filter(created_at__lt=cutoff).values_list("id", flat=True)[:PRUNE_BATCH])
        if not ids:
            return deleted
        deleted += IdempotencyRecord.objects.filter(id__in=ids).delete()[0]


@shared_task
def prune_idempotency_records_task() -> int:
    return idempotency_records_prune()
