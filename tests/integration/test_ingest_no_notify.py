"""`ingest_email --no-notify`: imported mail is stored and processed, and nobody is sent an acknowledgement."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from channels_intake.management.commands.ingest_email import _store
from channels_intake.models import InboundMessage, Outcome, Source
from channels_intake.tasks import process_inbound_task
from tests.integration.mail import raw_mail
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def _files(tmp_path):
    (tmp_path / "1.eml").write_bytes(raw_mail(message_id="<import-1@consumer.example>"))
    (tmp_path / "2.eml").write_bytes(raw_mail(message_id="<import-2@consumer.example>", sender="bob@other.example"))
    (tmp_path / "3.eml").write_bytes(
        raw_mail(message_id="<import-3@consumer.example>", in_reply_to="<import-1@consumer.example>", subject="Re: x")
    )
    return tmp_path


def _ingest(django_capture_on_commit_callbacks, *args) -> dict[str, int]:
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("ingest_email", *args, "--json", stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_an_import_acknowledges_each_new_ticket_by_default(tmp_path, django_capture_on_commit_callbacks):
    counts = _ingest(django_capture_on_commit_callbacks, str(_files(tmp_path)))
    assert (counts["tickets_created"], counts["messages_appended"]) == (2, 1)
    assert sorted(m.to[0] for m in mail.outbox) == ["bob@other.example", "carla@consumer.example"]


def test_no_notify_imports_and_processes_the_mail_but_acknowledges_nothing(
    tmp_path, django_capture_on_commit_callbacks
):
    counts = _ingest(django_capture_on_commit_callbacks, str(_files(tmp_path)), "--no-notify")

    assert (counts["received"], counts["tickets_created"], counts["messages_appended"]) == (3, 2, 1)
    assert Ticket.objects.count() == 2
    assert mail.outbox == []
    assert set(InboundMessage.objects.values_list("notify", flat=True)) == {False}


def test_no_notify_is_kept_on_the_message_for_a_worker_that_processes_it_later(django_capture_on_commit_callbacks):
    """The command stored the message and died before processing it; the intake task does it later."""
    with django_capture_on_commit_callbacks(execute=True):
        row = _store(raw_mail(message_id="<import-late@consumer.example>"), "late.eml", None, notify=False)
    assert row.outcome == Outcome.PENDING and row.source == Source.FILE

    with django_capture_on_commit_callbacks(execute=True):
        process_inbound_task(row.pk)  # what a worker runs (the stranded-message sweep queues it)

    row.refresh_from_db()
    assert row.outcome == Outcome.TICKET_CREATED and not row.notify
    assert mail.outbox == []


def test_live_mail_is_still_acknowledged_next_to_an_import(tmp_path, django_capture_on_commit_callbacks):
    _ingest(django_capture_on_commit_callbacks, str(_files(tmp_path)), "--no-notify")
    (tmp_path / "live.eml").write_bytes(raw_mail(message_id="<live@consumer.example>", sender="dora@live.example"))
    _ingest(django_capture_on_commit_callbacks, str(tmp_path / "live.eml"))
    assert [m.to[0] for m in mail.outbox] == ["dora@live.example"]
