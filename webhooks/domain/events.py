"""Which webhook event a ticket event becomes. Pure: no ORM, no settings."""

from __future__ import annotations

import re
from enum import StrEnum


class WebhookEvent(StrEnum):
    TICKET_CREATED = "ticket.created"
    TICKET_UPDATED = "ticket.updated"
    MESSAGE_CREATED = "message.created"
    SLA_WARNING = "sla.warning"
    SLA_BREACHED = "sla.breached"
    CSAT_RECEIVED = "csat.received"


ALL_EVENTS: tuple[str, ...] = tuple(e.value for e in WebhookEvent)

# Ticket event actions (tickets.choices.EventAction values) that are changes of the ticket itself.
UPDATE_ACTIONS = frozenset(
    {
        "status",
        "priority",
        "assignee",
        "team",
        "type",
        "tags",
        "cc",
        "custom_field",
        "subject",
        "merged_into",
        "merged_from",
        "linked",
    }
)

_WARNING = re.compile(r"^warning at (\d+) %$")


def webhook_event_type(action: str, field: str, new_value: str) -> WebhookEvent | None:
    """The webhook event for a ticket event, or None when webhooks do not carry it.

    SLA events carry what happened in ``new_value``: "warning at 80 %", "breached", "met",
    "met late" or "escalated at 150 %"; only warnings and breaches become webhooks.
    A satisfaction rating (action ``csat``, field ``rating``) becomes ``csat.received``.
    """
    if action == "created":
        return WebhookEvent.TICKET_CREATED
    if action == "message_added":
        return WebhookEvent.MESSAGE_CREATED
    if action in UPDATE_ACTIONS:
        return WebhookEvent.TICKET_UPDATED
    if action == "sla":
        if new_value == "breached":
            return WebhookEvent.SLA_BREACHED
        if _WARNING.match(new_value):
            return WebhookEvent.SLA_WARNING
        return None
    if action == "csat" and field == "rating" and new_value:
        return WebhookEvent.CSAT_RECEIVED
    return None


def sla_warning_percent(new_value: str) -> int | None:
    """80 for "warning at 80 %"; None for anything else."""
    match = _WARNING.match(new_value)
    return int(match.group(1)) if match else None


def normalise_event_list(values: list[str] | tuple[str, ...]) -> list[str]:
    """Known event types in their canonical order, without duplicates; unknown ones raise ValueError."""
    unknown = sorted({v for v in values if v not in ALL_EVENTS})
    if unknown:
        raise ValueError(", ".join(unknown))
    chosen = set(values)
    return [e for e in ALL_EVENTS if e in chosen]
