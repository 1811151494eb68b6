"""The JSON body of each webhook event (the shape is documented in docs: "Webhooks").

``{"id", "type", "created_at", "data": {"ticket": {...}, "actor": {...}, ...}}``; ``data.ticket``
is the ticket as it stands when the event is published (usually a moment after the change),
the other parts of ``data`` describe the change itself and never change with later edits.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from tickets.choices import MessageKind
from tickets.models import Message, Ticket, TicketEvent
from webhooks.domain.events import WebhookEvent, sla_warning_percent

PAYLOAD_VERSION = 1


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _user(user) -> dict | None:  # noqa: ANN001 - a User or None
    if user is None:
        return None
    return {"id": user.pk, "username": user.get_username(), "name": user.get_full_name() or user.get_username()}


def _ticket_url(reference: str) -> str:
    try:
        path = reverse("desk:ticket", args=[reference])
    except NoReverseMatch:  # pragma: no cover - the workspace is always installed
        return ""
    return settings.SITE_URL.rstrip("/") + path


def ticket_data(ticket: Ticket) -> dict:
    requester = ticket.requester
    organization = ticket.organization
    return {
        "id": ticket.pk,
        "reference": ticket.reference,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "type": ticket.type.name if ticket.type_id else None,
        "requester": {"id": requester.pk, "name": str(requester)},
        "organization": {"id": organization.pk, "name": organization.name} if organization else None,
        "assignee": _user(ticket.assignee) if ticket.assignee_id else None,
        "team": {"id": ticket.team.pk, "name": ticket.team.name} if ticket.team_id else None,
        "tags": sorted(tag.name for tag in ticket.tags.all()),
        "custom_fields": ticket.custom_fields or {},
        "sla_due_at": _iso(ticket.sla_due_at),
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "solved_at": _iso(ticket.solved_at),
        "closed_at": _iso(ticket.closed_at),
        "url": _ticket_url(ticket.reference),
    }


def _actor(event: TicketEvent) -> dict:
    if event.actor_id:
        return {"type": "agent", **(_user(event.actor) or {})}
    if event.actor_contact_id:
        contact = event.actor_contact
        return {"type": "customer", "id": contact.pk, "name": str(contact)}
    return {"type": "system"}


def message_data(message: Message) -> dict:
    author: dict | None = None
    if message.author_user_id:
        author = {"type": "agent", **(_user(message.author_user) or {})}
    elif message.author_contact_id:
        author = {"type": "customer", "id": message.author_contact_id, "name": str(message.author_contact)}
    return {
        "id": message.pk,
        "kind": message.kind,
        "public": message.kind == MessageKind.REPLY,
        "channel": message.channel,
        "author": author,
        "body_text": message.body_text,
        "created_at": _iso(message.created_at),
        "attachments": [
            {"id": a.pk, "filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in message.attachments.all()
        ],
    }


def _csat_data(event: TicketEvent) -> dict:
    from tickets.models import SatisfactionSurvey

    survey = (
        SatisfactionSurvey.objects.filter(ticket_id=event.ticket_id, answered_at__isnull=False)
        .order_by("-answered_at", "-id")
        .first()
    )
    data = {"rating": event.new_value, "previous_rating": event.old_value or None, "comment": None}
    if survey is not None and survey.rating == event.new_value:
        data.update({"comment": survey.comment or None, "survey_id": survey.pk, "solve_number": survey.solve_number})
    return data


def event_data(event: TicketEvent, event_type: WebhookEvent, ticket: Ticket, message: Message | None) -> dict:
    data: dict = {"ticket": ticket_data(ticket), "actor": _actor(event), "channel": event.channel}
    if event_type == WebhookEvent.TICKET_UPDATED:
        data["changes"] = [{"kind": event.action, "field": event.field, "old": event.old_value, "new": event.new_value}]
    elif event_type == WebhookEvent.MESSAGE_CREATED and message is not None:
        data["message"] = message_data(message)
    elif event_type in (WebhookEvent.SLA_WARNING, WebhookEvent.SLA_BREACHED):
        data["sla"] = {
            "target": event.field,
            "outcome": "breached" if event_type == WebhookEvent.SLA_BREACHED else "warning",
            "percent": 100 if event_type == WebhookEvent.SLA_BREACHED else sla_warning_percent(event.new_value),
        }
    elif event_type == WebhookEvent.CSAT_RECEIVED:
        data["csat"] = _csat_data(event)
    return data


def envelope(event_id: uuid.UUID, event_type: str, created_at: datetime, data: dict) -> dict:
    return {
        "id": str(event_id),
        "type": str(event_type),
        "version": PAYLOAD_VERSION,
        "created_at": _iso(created_at),
        "data": data,
    }


def dumps(payload: dict) -> str:
    """The exact body sent: compact, UTF-8, keys in the documented order."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
