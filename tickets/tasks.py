"""Thin Celery tasks: take primitive ids, fetch, call a service or domain function."""

from __future__ import annotations

from celery import shared_task
from django.contrib.auth import get_user_model

from tickets import events


@shared_task(name="tickets.tasks.publish_ticket_events_task", ignore_result=True)
def publish_ticket_events_task() -> int:
    return events.publish_all()


@shared_task(
    name="tickets.tasks.send_assignment_email_task",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def send_assignment_email_task(event_id: int, user_id: int) -> None:
    from tickets.models import TicketEvent
    from tickets.notifications import send_assignment_email

    event = TicketEvent.objects.select_related("ticket", "actor", "actor_contact").filter(pk=event_id).first()
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if event is None or user is None:
        return
    send_assignment_email(event, user)
