"""Ticket event subscribers of the email channel."""

from __future__ import annotations

from django.db import transaction

from tickets.choices import DeliveryStatus, EventAction, MessageKind
from tickets.events import subscribe
from tickets.models import Message, TicketEvent


@subscribe(EventAction.MESSAGE_ADDED)
def queue_reply_email(event: TicketEvent) -> None:
    """An agent's public reply queued for email goes out through the outbound task."""
    if event.field != MessageKind.REPLY or event.message_id is None or event.actor_id is None:
        return
    if Message.objects.filter(pk=event.message_id, delivery_status=DeliveryStatus.QUEUED).exists():
        from channels_intake.tasks import send_reply_email_task

        message_id = event.message_id
        transaction.on_commit(lambda: send_reply_email_task.delay(message_id))
