"""A worker processing a message with a 20 MB attachment stays under 250 MB (it peaked at 384 MB before)."""

from __future__ import annotations

import hashlib
import os

import pytest
from django.db import connection

from bench.scenarios.intake_memory import ATTACHMENT_BYTES, TARGET_MEMORY_MB, large_message, run_worker
from channels_intake.models import InboundMessage, Outcome
from channels_intake.services import inbound_store
from tickets.models import Attachment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _worker_env() -> dict[str, str]:
    """The worker uses this test database (committed rows: a transactional test)."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    url = (
        f"postgres://{db['USER'] or 'postgres'}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "service_desk.settings.test"}


def _sha256(handle) -> str:  # noqa: ANN001 - a binary file
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


def test_processing_a_20_mb_attachment_peaks_under_250_mb_in_a_fresh_worker():
    content = os.urandom(ATTACHMENT_BYTES)
    expected = hashlib.sha256(content).hexdigest()
    row = inbound_store(
        raw=large_message(message_id="<memory-test@memory-bench.example>", attachment=content),
        source="file",
        queue=False,
    )
    del content

    report = run_worker(["process", str(row.pk)], _worker_env(), timeout=60)

    assert report["outcome"] == Outcome.TICKET_CREATED, report
    attachment = Attachment.objects.get(message__ticket_id=report["ticket_id"], filename="log.zip")
    try:
        assert (attachment.size, attachment.sha256) == (ATTACHMENT_BYTES, expected)
        with attachment.file.open("rb") as stored:
            assert _sha256(stored) == expected
    finally:
        attachment.file.delete(save=False)  # 20 MB of random bytes: not left in the test media folder
    assert InboundMessage.objects.get(pk=row.pk).outcome == Outcome.TICKET_CREATED
    peak, ready = report["peak_mb"], report["ready_mb"]
    assert peak < TARGET_MEMORY_MB, f"the worker peaked at {peak:.0f} MB ({ready:.0f} MB after Django setup)"
