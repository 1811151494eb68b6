"""Ticket event subscribers of the email channel."""

from __future__ import annotations

import logging

from django.db import transaction

from tickets.choices import DeliveryStatus, EventAction, MessageKind
from tickets.events import subscribe
from tickets.models import Message, TicketEvent

logger = logging.getLogger(__name__)


@subscribe(EventAction.MESSAGE_ADDED)
def queue_reply_email(event: TicketEvent) -> None:
    """An agent's public reply queued for email goes out through the outbound task."""
    if event.field != MessageKind.REPLY or event.message_id is None or event.actor_id is None:
        return
    if Message.objects.filter(pk=event.message_id, delivery_status=DeliveryStatus.QUEUED).exists():
        from channels_intake.tasks import send_reply_email_task

        message_id = event.message_id
        transaction.on_commit(lambda: _queue(send_reply_email_task, message_id))


def _queue(task, message_id: int) -> None:  # noqa: ANN001 - a Celery task
    """Queue, or leave the reply queued for the sweep (requeue_queued_replies_task) if the broker is down."""
    try:
        task.delay(message_id)
    except Exception:
        logger.warning("Could not queue reply %s for sending; the sweep will retry.", message_id, exc_info=True)
