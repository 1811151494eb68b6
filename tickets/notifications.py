"""Event subscribers that tell agents about changes. Email for now; the workspace adds its own."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from service_desk.branding import brand, from_address
from tickets.choices import EventAction
from tickets.events import subscribe
from tickets.models import TicketEvent

logger = logging.getLogger(__name__)


@subscribe(EventAction.ASSIGNEE)
def queue_assignment_email(event: TicketEvent) -> None:
    """An agent assigned a ticket by somebody else is told by email, with a link to it."""
    if event.new_ref is None:
        return
    user = get_user_model().objects.filter(pk=event.new_ref, is_active=True).only("email", "pk").first()
    if user is None or not user.email or user.pk == event.actor_id:
        return
    from tickets.tasks import send_assignment_email_task

    # Queued only if the publishing batch commits: a rolled-back batch is retried and must not mail twice.
    event_id, user_id = event.pk, user.pk
    transaction.on_commit(lambda: send_assignment_email_task.delay(event_id, user_id))


def send_assignment_email(event: TicketEvent, user) -> None:  # noqa: ANN001 - a User
    ticket = event.ticket
    context = {
        "ticket": ticket,
        "reference": ticket.reference,
        "actor": event.actor_label,
        "url": settings.SITE_URL.rstrip("/") + reverse("desk:ticket", args=[ticket.reference]),
        "desk_name": brand().name,
        "user": user,
    }
    subject = render_to_string("emails/ticket_assigned.subject.txt", context).strip().replace("\n", " ")
    body = render_to_string("emails/ticket_assigned.txt", context)
    message = EmailMultiAlternatives(subject, body, from_address(), [user.email])
    message.extra_headers = {"Auto-Submitted": "auto-generated", "X-Service-Desk-Event": str(event.pk)}
    message.send()
