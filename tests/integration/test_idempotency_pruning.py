"""Idempotency records are kept for the retention and pruned after it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from service_desk.models import IdempotencyRecord
from service_desk.tasks import idempotency_records_prune, prune_idempotency_records_task
from tests import factories

pytestmark = pytest.mark.django_db


def test_records_older_than_the_retention_are_pruned_and_recent_ones_kept(settings):
    settings.IDEMPOTENCY_RETENTION_HOURS = 24
    user = factories.agent(username="ana")
    old = [
        IdempotencyRecord(user=user, key=f"old-{n}", method="POST", path="/api/v1/tickets/", request_hash="x")
        for n in range(3)
    ]
    IdempotencyRecord.objects.bulk_create(
        [*old, IdempotencyRecord(user=user, key="new", method="POST", path="/", request_hash="x")]
    )
    IdempotencyRecord.objects.filter(key__startswith="old-").update(created_at=timezone.now() - timedelta(hours=25))
    assert prune_idempotency_records_task() == 3
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    assert idempotency_records_prune(older_than=timedelta(0)) == 1
