"""Thin Celery tasks for intake and outbound mail: primitive ids in, a service call, nothing else."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

STRANDED_AFTER = timedelta(minutes=2)


@shared_task(name="channels_intake.tasks.process_inbound_task", ignore_result=True, acks_late=True)
def process_inbound_task(inbound_id: int) -> str:
    """Process a stored message, in a batch with other waiting ones (see ``inbound_process_queued``)."""
    from channels_intake.services import inbound_process_queued

    return inbound_process_queued(inbound_id)


@shared_task(name="channels_intake.tasks.requeue_stranded_inbound_task", ignore_result=True)
def requeue_stranded_inbound_task(limit: int = 1000) -> int:
    """Re-queue stored messages whose processing never finished (a lost task, an emptied broker)."""
    from channels_intake.models import InboundMessage, Outcome

    ids = list(
        InboundMessage.objects.filter(outcome=Outcome.PENDING, received_at__lt=timezone.now() - STRANDED_AFTER)
        .order_by("received_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    for inbound_id in ids:
        process_inbound_task.delay(inbound_id)
    if ids:
        logger.info("Re-queued %s stranded inbound messages.", len(ids))
    return len(ids)


@shared_task(name="channels_intake.tasks.requeue_queued_replies_task", ignore_result=True)
def requeue_queued_replies_task(limit: int = 500) -> int:
    """Queue again agent replies still waiting to be sent (their task never reached a worker)."""
    from tickets.choices import DeliveryStatus
    from tickets.models import Message

    ids = list(
        Message.objects.filter(delivery_status=DeliveryStatus.QUEUED, created_at__lt=timezone.now() - STRANDED_AFTER)
        .order_by("created_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    for message_id in ids:
        send_reply_email_task.delay(message_id)
    return len(ids)


@shared_task(name="channels_intake.tasks.poll_mailboxes_task", ignore_result=True)
def poll_mailboxes_task() -> int:
    from channels_intake.models import Mailbox, Protocol

    # Every polled protocol (IMAP, POP3); a mailbox without a host is fed by the HTTP pipe only.
    ids = list(
        Mailbox.objects.filter(enabled=True, protocol__in=[Protocol.IMAP, Protocol.POP3])
        .exclude(host="")
        .values_list("id", flat=True)
    )
    for mailbox_id in ids:
        poll_mailbox_task.delay(mailbox_id)
    return len(ids)


@shared_task(name="channels_intake.tasks.poll_mailbox_task", ignore_result=True, acks_late=True)
def poll_mailbox_task(mailbox_id: int) -> int:
    """Poll one mailbox; a lock keeps two pollers (two beats, a slow server) off the same mailbox."""
    from channels_intake.services import mailbox_poll

    lock = f"intake:poll:{mailbox_id}"
    if not cache.add(lock, "1", timeout=600):
        logger.info("Mailbox %s is being polled already.", mailbox_id)
        return 0
    try:
        return mailbox_poll(mailbox_id)
    finally:
        cache.delete(lock)


@shared_task(
    name="channels_intake.tasks.send_reply_email_task",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=5,  # as many as reply_email_send's MAX_DELIVERY_ATTEMPTS, after which it is marked failed
)
def send_reply_email_task(message_id: int) -> str:
    from channels_intake.outbound import reply_email_send

    return reply_email_send(message_id)


@shared_task(
    name="channels_intake.tasks.send_acknowledgement_task",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    max_retries=5,
)
def send_acknowledgement_task(ticket_id: int) -> bool:
    from channels_intake.outbound import acknowledgement_send

    return acknowledgement_send(ticket_id)


@shared_task(name="channels_intake.tasks.send_acknowledgements_task", ignore_result=True)
def send_acknowledgements_task(ticket_ids: list[int]) -> int:
    """Acknowledge the tickets one intake batch opened (one task, not one per ticket). A ticket whose
    acknowledgement fails on the network gets its own ``send_acknowledgement_task``, with its retries."""
    from channels_intake.outbound import acknowledgement_send

    sent = 0
    for ticket_id in ticket_ids:
        try:
            sent += acknowledgement_send(ticket_id)
        except OSError:
            send_acknowledgement_task.delay(ticket_id)
        except Exception:  # as the single task would: logged, not retried; the others still go out
            logger.exception("Could not acknowledge ticket %s.", ticket_id)
    return sent
