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


# --- SLA --------------------------------------------------------------------------------------------


@shared_task(name="tickets.tasks.sla_sweep_task", ignore_result=True)
def sla_sweep_task() -> int:
    """Beat, every 15 s: fire the escalations that fell due, oldest first (a budget below the time limit)."""
    from tickets import sla

    return sla.sla_sweep(time_budget=180).fired


@shared_task(
    name="tickets.tasks.send_notification_emails_task",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def send_notification_emails_task(
    escalation_ids: list[int] | None = None, notification_ids: list[int] | None = None
) -> int:
    """Email the given notifications (after a sweep commits), or any still pending (beat catch-up)."""
    from tickets import sla

    return sla.notifications_send_emails(escalation_ids=escalation_ids, notification_ids=notification_ids)


@shared_task(name="tickets.tasks.sla_recompute_task", ignore_result=True)
def sla_recompute_task(
    calendar_id: int | None = None, policy_id: int | None = None, organization_id: int | None = None, reselect: int = 0
) -> int:
    """Recompute due dates after a calendar, policy or selection change."""
    from tickets import sla

    return sla.sla_recompute_for(
        calendar_id=calendar_id, policy_id=policy_id, organization_id=organization_id, reselect=bool(reselect)
    )


# --- Bulk jobs ------------------------------------------------------------------------------------


@shared_task(name="tickets.tasks.bulk_job_run_task", ignore_result=True)
def bulk_job_run_task(job_id: int) -> None:
    """Apply a bulk job ticket by ticket. Safe to run again: it continues after the last ticket committed."""
    from tickets import bulk

    bulk.bulk_job_run(job_id)


@shared_task(name="tickets.tasks.requeue_stalled_bulk_jobs_task", ignore_result=True)
def requeue_stalled_bulk_jobs_task() -> int:
    """Give lost bulk jobs another task (safe: a run continues after the last committed ticket)."""
    from tickets import bulk

    return bulk.bulk_jobs_requeue_stalled()


# --- CSAT ---------------------------------------------------------------------------------------


@shared_task(
    name="tickets.tasks.send_survey_email_task",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def send_survey_email_task(survey_id: int) -> bool:
    """Ask a customer to rate a solved ticket (at most once per survey)."""
    from tickets import csat

    return csat.survey_send_email(survey_id)


@shared_task(name="tickets.tasks.send_pending_survey_emails_task", ignore_result=True)
def send_pending_survey_emails_task() -> int:
    """Beat catch-up: survey emails whose task was lost (broker down)."""
    from tickets import csat

    return csat.surveys_send_pending()
