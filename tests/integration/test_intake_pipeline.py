"""Email and web intake through the real pipeline on PostgreSQL: store first, process once."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from accounts.models import ContactEmail
from channels_intake import services as intake
from channels_intake.models import InboundMessage, Mailbox, Outcome, Source
from channels_intake.tasks import requeue_stranded_inbound_task
from tests import factories
from tests.integration.mail import raw_mail
from tickets import services as ticket_services
from tickets.choices import Channel, DeliveryStatus, LinkKind, MessageKind, Status
from tickets.models import Message, Ticket, TicketLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox():
    team = factories.team("Consumer Support")
    return Mailbox.objects.create(name="Support", email_address="support@desk.example", default_team=team, host="")


def ingest(raw: bytes, mailbox=None, source=Source.HTTP) -> InboundMessage:
    row = intake.inbound_store(raw=raw, source=source, mailbox=mailbox, queue=False)
    return intake.inbound_process(row.pk) if row.is_original else row


def test_new_mail_is_stored_raw_first_then_opens_a_ticket_for_a_new_customer(mailbox):
    raw = raw_mail(message_id="<first@consumer.example>")
    row = intake.inbound_store(raw=raw, source=Source.HTTP, mailbox=mailbox, queue=False)
    assert bytes(InboundMessage.objects.get(pk=row.pk).raw) == raw
    assert row.outcome == Outcome.PENDING and not Ticket.objects.exists()

    row = intake.inbound_process(row.pk)
    assert row.outcome == Outcome.TICKET_CREATED
    ticket = row.ticket
    assert ticket.subject == "My order did not arrive"
    assert ticket.channel == Channel.EMAIL
    assert ticket.team == mailbox.default_team
    assert ticket.requester.name == "Carla Kunde"
    assert ContactEmail.objects.get(contact=ticket.requester).email == "carla@consumer.example"
    message = ticket.messages.get()
    assert message.message_id == "<first@consumer.example>"
    assert message.threading_rule == "new"
    assert "order 4711" in message.body_text


def test_processing_twice_acts_once():
    row = intake.inbound_store(raw=raw_mail(), source=Source.FILE, queue=False)
    intake.inbound_process(row.pk)
    intake.inbound_process(row.pk)
    assert Ticket.objects.count() == 1
    assert Message.objects.count() == 1


def test_same_message_delivered_twice_becomes_one_message_and_a_recorded_duplicate():
    raw = raw_mail(message_id="<twice@consumer.example>")
    first = ingest(raw)
    second = ingest(raw)
    assert second.outcome == Outcome.DUPLICATE and second.duplicate_of_id == first.pk
    assert Message.objects.filter(message_id="<twice@consumer.example>").count() == 1
    # Without a Message-ID the bytes decide.
    anonymous = raw_mail(message_id="")
    assert ingest(anonymous).outcome == Outcome.TICKET_CREATED
    assert ingest(anonymous).outcome == Outcome.DUPLICATE


def test_sender_of_a_b2b_domain_becomes_a_contact_of_that_organization():
    org = factories.organization("Acme", domains=("acme.example",))
    row = ingest(raw_mail(sender="Ida IT <ida@eu.acme.example>"))
    assert row.ticket.requester.organization == org
    assert row.ticket.organization == org


def test_reply_threads_by_in_reply_to_then_references():
    first = ingest(raw_mail(message_id="<a1@consumer.example>"))
    reply = ingest(raw_mail(subject="Re: order", in_reply_to="<a1@consumer.example>"))
    assert (reply.outcome, reply.ticket_id, reply.threading_rule) == (Outcome.APPENDED, first.ticket_id, "in_reply_to")
    later = ingest(raw_mail(subject="Re: order", references="<unknown@x> <a1@consumer.example>"))
    assert (later.ticket_id, later.threading_rule) == (first.ticket_id, "references")
    assert Ticket.objects.count() == 1


def test_subject_token_is_trusted_from_the_requester_only():
    first = ingest(raw_mail())
    token = f"[{first.ticket.reference}]"
    own = ingest(raw_mail(subject=f"Re: {token} order", message_id="<own@consumer.example>"))
    assert (own.outcome, own.ticket_id, own.threading_rule) == (Outcome.APPENDED, first.ticket_id, "subject_token")

    stranger = ingest(raw_mail(sender="mallory@evil.example", subject=f"Re: {token} give me the data"))
    assert stranger.outcome == Outcome.TICKET_CREATED
    assert stranger.ticket_id != first.ticket_id
    assert stranger.threading_rule == "subject_token_untrusted"
    assert TicketLink.objects.filter(source=stranger.ticket, target=first.ticket, kind=LinkKind.RELATED).exists()
    assert not first.ticket.messages.filter(body_text__contains="give me").exists()


def test_reply_to_a_closed_ticket_opens_a_linked_follow_up():
    first = ingest(raw_mail(message_id="<c1@consumer.example>"))
    ticket_services.ticket_change_status(ticket=first.ticket, by=ticket_services.Actor.system(), status=Status.CLOSED)
    follow = ingest(raw_mail(in_reply_to="<c1@consumer.example>", subject="Re: still broken"))
    assert follow.outcome == Outcome.TICKET_CREATED
    assert follow.threading_rule == "follow_up"
    assert TicketLink.objects.filter(source=follow.ticket, target=first.ticket, kind=LinkKind.FOLLOW_UP).exists()


def test_customer_reply_reopens_a_pending_ticket():
    first = ingest(raw_mail(message_id="<p1@consumer.example>"))
    agent = factories.agent(teams=[])
    ticket_services.ticket_reply(
        ticket=first.ticket, by=ticket_services.Actor.agent(agent), body_text="Which address?", status=Status.PENDING
    )
    ingest(raw_mail(in_reply_to="<p1@consumer.example>", body="Hauptstr. 1"))
    assert Ticket.objects.get(pk=first.ticket_id).status == Status.OPEN


def test_people_in_to_and_cc_become_cc_contacts_but_not_our_own_address(mailbox):
    row = ingest(
        raw_mail(to="support@desk.example, boss@consumer.example", cc="Tom <tom@consumer.example>"), mailbox=mailbox
    )
    cc = set(row.ticket.cc.values_list("emails__email", flat=True))
    assert cc == {"boss@consumer.example", "tom@consumer.example"}


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"X-Autoreply": "yes"},
        {"Precedence": "bulk"},
    ],
)
def test_auto_replies_are_recorded_but_open_no_ticket(headers):
    row = ingest(raw_mail(headers=headers, subject="Out of office"))
    assert row.outcome == Outcome.SUPPRESSED and row.reason
    assert not Ticket.objects.exists()


def test_mail_from_our_own_address_is_a_loop(mailbox):
    row = ingest(raw_mail(sender="support@desk.example"), mailbox=mailbox)
    assert row.outcome == Outcome.SUPPRESSED
    assert "loop" in row.reason


def test_bounce_is_attached_to_the_ticket_whose_mail_bounced():
    first = ingest(raw_mail())
    agent = factories.agent()
    reply = ticket_services.ticket_reply(ticket=first.ticket, by=ticket_services.Actor.agent(agent), body_text="Hi")
    Message.objects.filter(pk=reply.pk).update(message_id="<out-1@desk.example>", delivery_status=DeliveryStatus.SENT)
    bounce = (
        b"From: MAILER-DAEMON@mx.consumer.example\r\nTo: support@desk.example\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce-1@mx>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered: mailbox unknown.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        b"Final-Recipient: rfc822; carla@consumer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <out-1@desk.example>\r\nSubject: Hi\r\n"
        b"--B--\r\n"
    )
    row = ingest(bounce)
    assert row.outcome == Outcome.SUPPRESSED and row.reason.startswith("bounce")
    assert row.ticket_id == first.ticket_id
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.FAILED
    assert first.ticket.messages.filter(kind=MessageKind.NOTE, body_text__icontains="could not be delivered").exists()


@pytest.mark.parametrize("raw", [b"", b"\x00\xff" * 500, b"not a mail at all"])
def test_unusable_input_is_quarantined_with_a_reason_and_kept(raw):
    row = ingest(raw)
    assert row.outcome == Outcome.QUARANTINED
    assert row.reason
    assert bytes(InboundMessage.objects.get(pk=row.pk).raw) == raw


def test_quarantined_message_can_be_retried_after_a_fix(monkeypatch):
    def broken(row):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(intake, "_process", broken)
    row = ingest(raw_mail())
    assert row.outcome == Outcome.QUARANTINED
    assert "RuntimeError: database hiccup" in row.reason
    assert not Ticket.objects.exists()
    monkeypatch.undo()
    retried = intake.inbound_retry(row)
    assert retried.outcome == Outcome.TICKET_CREATED and retried.attempts == 1  # counted afresh after a fix


def test_attachments_are_kept_with_sha256_and_sniffed_type_and_path_free_names():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    row = ingest(raw_mail(attachments=(("../../etc/pass\x07wd.png", png, "image/png"),)))
    attachment = row.ticket.messages.get().attachments.get()
    assert attachment.filename == "passwd.png"
    assert attachment.content_type == "image/png"
    assert attachment.size == len(png)
    import hashlib

    assert attachment.sha256 == hashlib.sha256(png).hexdigest()


def test_html_body_is_sanitized():
    row = ingest(
        raw_mail(html='<p onclick="x()">Hi<script>alert(1)</script><img src="https://track.example/p.gif"></p>')
    )
    html = row.ticket.messages.get().body_html
    assert "<script" not in html and "onclick" not in html
    assert re.search(r'(?<![-\w])src="https://track', html) is None  # kept only as data-remote-src
    assert 'data-remote-src="https://track.example/p.gif"' in html


def test_stranded_pending_message_is_requeued_and_processed():
    row = intake.inbound_store(raw=raw_mail(), source=Source.HTTP, queue=False)
    InboundMessage.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(minutes=5))
    assert requeue_stranded_inbound_task() == 1  # eager in tests: processed right here
    assert InboundMessage.objects.get(pk=row.pk).outcome == Outcome.TICKET_CREATED


def test_ingest_email_json_counts_add_up(tmp_path):
    first = raw_mail(message_id="<m1@consumer.example>")
    (tmp_path / "1.eml").write_bytes(first)
    (tmp_path / "2.eml").write_bytes(first)
    (tmp_path / "3.eml").write_bytes(raw_mail(in_reply_to="<m1@consumer.example>", subject="Re: x"))
    (tmp_path / "4.eml").write_bytes(raw_mail(headers={"Auto-Submitted": "auto-replied"}))
    (tmp_path / "5.eml").write_bytes(b"")
    out = StringIO()
    call_command("ingest_email", str(tmp_path), json=True, stdout=out)
    counts = json.loads(out.getvalue().strip().splitlines()[-1])
    assert counts == {
        "received": 5,
        "tickets_created": 1,
        "messages_appended": 1,
        "duplicates": 1,
        "suppressed": 1,
        "quarantined": 1,
    }


def test_ingest_email_reads_mbox_and_maildir(tmp_path):
    import mailbox as mb

    box = mb.mbox(tmp_path / "archive.mbox")
    box.add(raw_mail(message_id="<x1@c.example>"))
    box.add(raw_mail(message_id="<x2@c.example>"))
    box.flush()
    maildir = mb.Maildir(tmp_path / "Maildir")
    maildir.add(raw_mail(message_id="<x3@c.example>"))
    out = StringIO()
    call_command("ingest_email", str(tmp_path / "archive.mbox"), str(tmp_path / "Maildir"), json=True, stdout=out)
    counts = json.loads(out.getvalue().strip().splitlines()[-1])
    assert counts["received"] == 3 and counts["tickets_created"] == 3


# --- Web form -------------------------------------------------------------------------------------


def _form(client, **overrides):
    page = client.get("/support/new/")
    assert page.status_code == 200
    data = {
        "name": "Wendy Web",
        "email": "Wendy@Consumer.example",
        "subject": "Password reset",
        "description": "I cannot log in.",
        "website": "",
        "nonce": page.context["form"].initial["nonce"],
    }
    data.update(overrides)
    return data


def test_web_form_is_stored_then_processed_into_a_ticket_with_an_acknowledgement(
    client, django_capture_on_commit_callbacks
):
    data = _form(client)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/support/new/", data)
    assert response.status_code == 201
    row = InboundMessage.objects.get(source=Source.WEB)
    assert row.outcome == Outcome.TICKET_CREATED
    assert row.ticket.channel == Channel.WEB
    assert row.ticket.requester.emails.get().email == "wendy@consumer.example"
    assert len(mail.outbox) == 1
    assert row.ticket.reference in mail.outbox[0].subject
    assert mail.outbox[0].extra_headers["Auto-Submitted"] == "auto-replied"


def test_web_form_double_submission_is_one_ticket(client, django_capture_on_commit_callbacks):
    data = _form(client)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/support/new/", data)
        client.post("/support/new/", data)
    assert Ticket.objects.count() == 1
    assert InboundMessage.objects.filter(outcome=Outcome.DUPLICATE).count() == 1


def test_web_form_never_threads_into_an_existing_ticket(client, django_capture_on_commit_callbacks):
    victim = ingest(raw_mail(sender="victim@consumer.example"))
    data = _form(client, email="victim@consumer.example", subject=f"[{victim.ticket.reference}] add me")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/support/new/", data)
    assert Ticket.objects.count() == 2
    assert victim.ticket.messages.count() == 1


def test_web_form_honeypot_and_header_injection_are_refused_or_neutralised(client):
    response = client.post("/support/new/", _form(client, website="http://spam.example"))
    assert response.status_code == 400
    assert not InboundMessage.objects.exists()
    response = client.post("/support/new/", _form(client, subject="Hi\r\nBcc: all@example.com"))
    assert response.status_code == 201
    raw = bytes(InboundMessage.objects.get().raw)
    assert b"\nBcc:" not in raw


def test_web_form_errors_are_shown_and_nothing_is_stored(client):
    response = client.post("/support/new/", _form(client, email="not-an-address", subject=""))
    assert response.status_code == 400
    assert response.context["form"].errors.keys() >= {"email", "subject"}
    assert not InboundMessage.objects.exists()


def test_web_form_rate_limit_per_address(client, settings):
    from django.core.cache import cache

    cache.clear()
    settings.WEB_FORM_PER_ADDRESS_PER_HOUR = 2
    for _ in range(2):
        assert client.post("/support/new/", _form(client)).status_code == 201
    response = client.post("/support/new/", _form(client))
    assert response.status_code == 429
    assert InboundMessage.objects.count() == 2
    cache.clear()


# --- HTTP raw-mail endpoint -------------------------------------------------------------------


def test_raw_mail_endpoint_needs_the_mailbox_secret(client, mailbox):
    token = mailbox.rotate_ingest_token()
    mailbox.save()
    url = f"/intake/mailboxes/{mailbox.pk}/raw/"
    raw = raw_mail()
    assert client.post(url, raw, content_type="message/rfc822").status_code == 401
    assert client.post(url, raw, content_type="message/rfc822", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert (
        client.post(
            "/intake/mailboxes/999999/raw/", raw, content_type="message/rfc822", HTTP_AUTHORIZATION=f"Bearer {token}"
        ).status_code
        == 401
    )
    assert not InboundMessage.objects.exists()
    response = client.post(url, raw, content_type="message/rfc822", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 202
    assert response.json()["duplicate"] is False
    again = client.post(url, raw, content_type="message/rfc822", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert again.json()["duplicate"] is True
    assert client.post(url, b"", content_type="message/rfc822", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 400


def test_raw_mail_endpoint_refuses_oversize_bodies(client, mailbox, settings):
    settings.INTAKE_MAX_RAW_BYTES = 1000
    token = mailbox.rotate_ingest_token()
    mailbox.save()
    response = client.post(
        f"/intake/mailboxes/{mailbox.pk}/raw/",
        b"x" * 2000,
        content_type="message/rfc822",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 413
    assert "at most 1000 bytes" in response.json()["message"]


def test_sender_without_from_address_is_taken_from_reply_to():
    raw = raw_mail(sender='"Ich" <>', headers={"Reply-To": "<real@consumer.example>"})
    row = ingest(raw)
    assert row.outcome == Outcome.TICKET_CREATED
    assert row.ticket.requester.emails.get().email == "real@consumer.example"


def test_mail_with_a_subject_but_no_text_still_opens_a_ticket():
    row = ingest(raw_mail(subject="Call me back", body=""))
    assert row.outcome == Outcome.TICKET_CREATED
    assert row.ticket.messages.get().body_text == intake.EMPTY_BODY_TEXT


def test_a_delay_notice_is_suppressed_without_marking_the_reply_failed():
    first = ingest(raw_mail())
    reply = ticket_services.ticket_reply(
        ticket=first.ticket, by=ticket_services.Actor.agent(factories.agent()), body_text="Hi"
    )
    Message.objects.filter(pk=reply.pk).update(message_id="<out-2@desk.example>", delivery_status=DeliveryStatus.SENT)
    delay = (
        b"From: MAILER-DAEMON@mx.consumer.example\r\nTo: support@desk.example\r\n"
        b"Subject: Delivery Status Notification (Delay)\r\nMessage-ID: <delay-1@mx>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nStill trying.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        b"Final-Recipient: rfc822; carla@consumer.example\r\nAction: delayed\r\nStatus: 4.4.7\r\n"
        b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <out-2@desk.example>\r\n"
        b"--B--\r\n"
    )
    row = ingest(delay)
    assert row.outcome == Outcome.SUPPRESSED
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.SENT


# --- Review fixes --------------------------------------------------------------------------------


def test_a_byte_order_mark_does_not_hide_the_message_id_from_deduplication():
    raw = raw_mail(message_id="<bom-1@consumer.example>")
    assert ingest(raw).outcome == Outcome.TICKET_CREATED
    again = ingest(b"\xef\xbb\xbf" + raw)
    assert again.outcome == Outcome.DUPLICATE
    assert Message.objects.filter(message_id="<bom-1@consumer.example>").count() == 1


def test_a_message_id_already_on_a_ticket_is_a_duplicate_even_in_other_bytes():
    first = ingest(raw_mail(message_id="<same-id@consumer.example>", body="original"))
    copy = ingest(raw_mail(message_id="<same-id@consumer.example>", body="altered copy", subject="Other"))
    assert copy.outcome == Outcome.DUPLICATE and copy.duplicate_of_id == first.pk  # caught when stored


def test_mail_claiming_the_message_id_of_one_of_our_replies_is_not_processed_again():
    first = ingest(raw_mail())
    reply = ticket_services.ticket_reply(
        ticket=first.ticket, by=ticket_services.Actor.agent(factories.agent()), body_text="Hi"
    )
    Message.objects.filter(pk=reply.pk).update(message_id="<sd-out-9@desk.example>")
    echo = ingest(raw_mail(sender="mallory@evil.example", message_id="<sd-out-9@desk.example>", subject="Hi"))
    assert echo.outcome == Outcome.DUPLICATE
    assert echo.ticket_id == first.ticket_id
    assert "already on" in echo.reason
    assert Ticket.objects.count() == 1


def test_a_stranger_threading_by_message_id_cannot_copy_addresses_onto_the_ticket(mailbox):
    first = ingest(raw_mail(message_id="<owner-1@consumer.example>"), mailbox=mailbox)
    stranger = ingest(
        raw_mail(
            sender="mallory@evil.example",
            cc="mallory-second@evil.example",
            in_reply_to="<owner-1@consumer.example>",
            subject="Re: order",
        ),
        mailbox=mailbox,
    )
    assert stranger.ticket_id == first.ticket_id  # threading by Message-ID is kept
    assert not first.ticket.cc.filter(emails__email__endswith="@evil.example").exists()
    # The addresses a stranger names do not even become contacts.
    assert not ContactEmail.objects.filter(email="mallory-second@evil.example").exists()


def test_a_message_that_keeps_killing_workers_is_quarantined_after_the_limit(settings):
    settings.INTAKE_MAX_ATTEMPTS = 3
    row = intake.inbound_store(raw=raw_mail(), source=Source.HTTP, queue=False)
    InboundMessage.objects.filter(pk=row.pk).update(attempts=3)  # three workers died on it
    row = intake.inbound_process(row.pk)
    assert row.outcome == Outcome.QUARANTINED
    assert "never finished" in row.reason
    assert not Ticket.objects.exists()
    assert intake.inbound_retry(row).outcome == Outcome.TICKET_CREATED  # after a fix it is processed


def test_web_form_with_a_forged_non_ascii_nonce_is_a_form_error_not_a_crash(client):
    response = client.post("/support/new/", _form(client, nonce="éééééééééééééééééé"))
    assert response.status_code == 400
    assert not InboundMessage.objects.exists()


def test_client_ip_comes_from_the_proxies_part_of_x_forwarded_for(rf, settings):
    from channels_intake.web import client_ip

    request = rf.post("/support/new/", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7", REMOTE_ADDR="10.0.0.2")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.2"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.7"  # the spoofable left part is ignored


def test_enabled_imap_and_pop3_mailboxes_with_a_host_are_polled(monkeypatch):
    from channels_intake import tasks

    queued: list[int] = []
    monkeypatch.setattr(tasks.poll_mailbox_task, "delay", queued.append)
    imap_box = Mailbox.objects.create(name="I", email_address="i@desk.example", host="imap.example", protocol="imap")
    pop3_box = Mailbox.objects.create(name="P", email_address="p@desk.example", host="pop.example", protocol="pop3")
    Mailbox.objects.create(name="Off", email_address="o@desk.example", host="imap.example", enabled=False)
    Mailbox.objects.create(name="Pipe", email_address="h@desk.example", host="")
    assert tasks.poll_mailboxes_task() == 2
    assert sorted(queued) == sorted([imap_box.pk, pop3_box.pk])
