"""Every real-world message in ../shared/data/mail goes through ingest_email with an outcome, and
hostile input gets a clear outcome without losing anything else."""

from __future__ import annotations

import json
from email.message import EmailMessage
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from channels_intake import services as intake
from channels_intake.models import InboundMessage, Outcome, Source
from tests.integration.mail import raw_mail
from tickets.models import Attachment, Message

pytestmark = pytest.mark.django_db

SHARED_MAIL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mail"


def _corpus() -> list[Path]:
    if not SHARED_MAIL.is_dir():
        pytest.skip(f"The shared mail corpus is not at {SHARED_MAIL}")
    return sorted([*SHARED_MAIL.glob("zammad/*.box"), *SHARED_MAIL.glob("django_helpdesk/*.eml")])


def test_every_shared_real_world_message_gets_an_outcome_through_ingest_email():
    files = _corpus()
    out = StringIO()
    call_command("ingest_email", *map(str, files), json=True, stdout=out)
    counts = json.loads(out.getvalue().strip().splitlines()[-1])
    parts = ("tickets_created", "messages_appended", "duplicates", "suppressed", "quarantined")
    assert counts["received"] == sum(counts[p] for p in parts)
    assert counts["received"] >= len(files)
    assert not InboundMessage.objects.filter(outcome=Outcome.PENDING).exists()
    # Quarantine is for unusable mail, never for a crash of ours.
    crashes = InboundMessage.objects.filter(reason__startswith="Internal error")
    assert not crashes.exists(), [(r.remote_id, r.reason) for r in crashes]
    assert counts["tickets_created"] >= len(files) // 2


def _ingest(raw: bytes) -> InboundMessage:
    row = intake.inbound_store(raw=raw, source=Source.FILE, queue=False)
    return intake.inbound_process(row.pk)


def test_a_ten_thousand_part_multipart_is_quarantined_quickly_and_kept():
    boundary = "XYZ"
    parts = "".join(f"--{boundary}\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(10_000))
    raw = (
        "From: flood@consumer.example\r\nTo: support@desk.example\r\nSubject: many parts\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n{parts}--{boundary}--\r\n'
    ).encode()
    row = _ingest(raw)
    assert row.outcome == Outcome.QUARANTINED
    assert "part" in row.reason.lower()
    assert bytes(InboundMessage.objects.get(pk=row.pk).raw) == raw
    assert _ingest(raw_mail(subject="after the flood")).outcome == Outcome.TICKET_CREATED


def test_a_one_megabyte_header_line_is_quarantined():
    raw = b"From: a@consumer.example\r\nSubject: x\r\nX-Huge: " + b"a" * 1_000_000 + b"\r\n\r\nbody\r\n"
    row = _ingest(raw)
    assert row.outcome == Outcome.QUARANTINED
    assert "header" in row.reason.lower()


def test_an_attachment_over_the_limit_is_not_stored_but_the_message_is_and_agents_are_told():
    message = EmailMessage()
    message["From"] = "big@consumer.example"
    message["To"] = "support@desk.example"
    message["Subject"] = "The log file"
    message["Message-ID"] = "<big-1@consumer.example>"
    message.set_content("See the attached log.")
    message.add_attachment(b"\0" * (30 * 1024 * 1024), maintype="application", subtype="zip", filename="huge.zip")
    message.add_attachment(b"small", maintype="text", subtype="plain", filename="note.txt")
    row = _ingest(message.as_bytes())
    assert row.outcome == Outcome.TICKET_CREATED
    stored = Attachment.objects.filter(message__ticket=row.ticket)
    assert [a.filename for a in stored] == ["note.txt"]
    note = Message.objects.get(ticket=row.ticket, kind="note")
    assert "huge.zip" in note.body_text and f"intake #{row.pk}" in note.body_text
    assert len(bytes(InboundMessage.objects.get(pk=row.pk).raw)) > 30 * 1024 * 1024


def test_a_filename_with_traversal_and_control_characters_is_made_safe():
    raw = raw_mail(attachments=(("..\\..\\windows\\sys\x1b[31mtem32.ini", b"[boot]", "text/plain"),))
    row = _ingest(raw)
    attachment = Attachment.objects.get(message__ticket=row.ticket)
    assert attachment.filename == "sys[31mtem32.ini"  # the path and the escape character are gone
    assert not attachment.file.name.endswith(".ini")  # stored under its digest, never under the sent name


def test_an_html_body_full_of_scripts_is_stored_harmless():
    html = (
        "<html><body onload=steal()><script>alert(1)</script><p>Hello</p>"
        '<a href="javascript:alert(2)">click</a><iframe src="https://evil.example"></iframe>'
        '<img src=x onerror="alert(3)"><style>body{background:url(https://t.example/x)}</style></body></html>'
    )
    row = _ingest(raw_mail(html=html))
    stored = Message.objects.get(ticket=row.ticket).body_html
    for needle in ("<script", "onload", "onerror", "javascript:", "<iframe", "<style", "url("):
        assert needle not in stored.lower()
    assert "Hello" in stored
