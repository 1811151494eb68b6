"""Email out through a real SMTP server: threading headers, delivery state, retries."""

from __future__ import annotations

import email
from email import policy

import pytest

from channels_intake import services as intake
from channels_intake.models import Mailbox, Source
from channels_intake.outbound import MAX_DELIVERY_ATTEMPTS, reply_email_send
from tests import factories
from tests.integration.mail import raw_mail
from tickets import services as ticket_services
from tickets.choices import DeliveryStatus
from tickets.models import Message

pytestmark = pytest.mark.django_db


def _ticket_from_mail():
    Mailbox.objects.get_or_create(name="Support", defaults={"email_address": "support@desk.example"})
    row = intake.inbound_store(
        raw=raw_mail(message_id="<cust-1@consumer.example>", cc="Tom <tom@consumer.example>"),
        source=Source.HTTP,
        queue=False,
    )
    return intake.inbound_process(row.pk).ticket


def test_agent_reply_is_sent_with_headers_that_thread_the_customer_reply_back(
    smtp_server, django_capture_on_commit_callbacks
):
    ticket = _ticket_from_mail()
    agent = factories.agent()
    with django_capture_on_commit_callbacks(execute=True):
        reply = ticket_services.ticket_reply(
            ticket=ticket, by=ticket_services.Actor.agent(agent), body_text="On its way."
        )
    assert len(smtp_server.messages) == 1
    sender, recipients, data = smtp_server.messages[0]
    sent = email.message_from_bytes(data, policy=policy.default)
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.SENT and reply.sent_at
    assert sent["Message-ID"] == reply.message_id
    assert sent["In-Reply-To"] == "<cust-1@consumer.example>"
    assert "<cust-1@consumer.example>" in sent["References"]
    assert f"[{ticket.reference}]" in sent["Subject"]
    assert set(recipients) == {"carla@consumer.example", "tom@consumer.example"}
    assert "On its way." in sent.get_body(("plain",)).get_content()

    answer = intake.inbound_store(
        raw=raw_mail(subject="Re: thanks", in_reply_to=reply.message_id), source=Source.HTTP, queue=False
    )
    answer = intake.inbound_process(answer.pk)
    assert answer.ticket_id == ticket.pk and answer.threading_rule == "in_reply_to"


def test_notes_are_never_emailed(smtp_server, django_capture_on_commit_callbacks):
    ticket = _ticket_from_mail()
    with django_capture_on_commit_callbacks(execute=True):
        ticket_services.ticket_add_note(
            ticket=ticket, by=ticket_services.Actor.agent(factories.agent()), body_text="internal"
        )
    assert smtp_server.messages == []


def test_failed_delivery_is_retried_then_marked_failed_with_the_reason(settings):
    from tests.integration.conftest import free_port

    ticket = _ticket_from_mail()
    agent = factories.agent()
    reply = ticket_services.ticket_reply(ticket=ticket, by=ticket_services.Actor.agent(agent), body_text="Hi")
    assert Message.objects.get(pk=reply.pk).delivery_status == DeliveryStatus.QUEUED
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    for attempt in range(1, MAX_DELIVERY_ATTEMPTS):
        with pytest.raises(OSError, match="will retry"):
            reply_email_send(reply.pk)
        reply.refresh_from_db()
        assert reply.delivery_attempts == attempt and reply.delivery_status == DeliveryStatus.QUEUED
        assert "Connection" in reply.delivery_error or "refused" in reply.delivery_error
    assert reply_email_send(reply.pk) == DeliveryStatus.FAILED
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.FAILED and reply.delivery_error
    message_id = reply.message_id
    assert reply_email_send(reply.pk) == DeliveryStatus.FAILED  # no further attempt
    reply.refresh_from_db()
    assert reply.message_id == message_id and reply.delivery_attempts == MAX_DELIVERY_ATTEMPTS


def test_a_reply_whose_task_was_lost_is_sent_by_the_sweep(monkeypatch, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.core import mail
    from django.utils import timezone
    from kombu.exceptions import OperationalError

    from channels_intake import tasks

    ticket = _ticket_from_mail()
    mail.outbox.clear()

    def broker_down(*args, **kwargs):
        raise OperationalError("broker down")

    monkeypatch.setattr(tasks.send_reply_email_task, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        reply = ticket_services.ticket_reply(
            ticket=ticket, by=ticket_services.Actor.agent(factories.agent()), body_text="Sorry for the wait."
        )
    assert Message.objects.get(pk=reply.pk).delivery_status == DeliveryStatus.QUEUED
    monkeypatch.undo()

    Message.objects.filter(pk=reply.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert tasks.requeue_queued_replies_task() == 1
    assert Message.objects.get(pk=reply.pk).delivery_status == DeliveryStatus.SENT
    assert len(mail.outbox) == 1
