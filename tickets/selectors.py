"""Scoped reads for tickets, messages and attachments. The only way to query them for a user."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.domain.permissions import Principal, TicketScope, sees_internal_messages, ticket_scope
from accounts.selectors import UserLike, principal_for
from tickets.choices import ACTIVE_STATUS_VALUES, PUBLIC_MESSAGE_KINDS
from tickets.domain.references import parse_reference
from tickets.models import Attachment, Message, Ticket, TicketEvent


def _scope_q(scope: TicketScope, prefix: str = "") -> Q | None:
    """The condition for ``scope`` on a ticket reached through ``prefix`` (e.g. ``message__ticket__``)."""
    if scope.everything:
        return Q()
    parts: list[Q] = []
    if scope.team_ids:
        parts.append(Q(**{f"{prefix}team_id__in": sorted(scope.team_ids)}))
    if scope.unrouted:
        parts.append(Q(**{f"{prefix}team__isnull": True}))
    if scope.assignee_id:
        parts.append(Q(**{f"{prefix}assignee_id": scope.assignee_id}))
    if scope.requester_id:
        parts.append(Q(**{f"{prefix}requester_id": scope.requester_id}))
    if scope.cc_contact_id:
        parts.append(Q(**{f"{prefix}pk__in": _cc_ticket_ids(scope.cc_contact_id)}))
    if scope.organization_id:
        parts.append(Q(**{f"{prefix}organization_id": scope.organization_id}))
    if not parts:
        return None
    condition = parts[0]
    for part in parts[1:]:
        condition |= part
    return condition


def _cc_ticket_ids(contact_id: int) -> QuerySet:
    from tickets.models import TicketCC

    return TicketCC.objects.filter(contact_id=contact_id).values("ticket_id")


def tickets_visible_to(user: UserLike) -> QuerySet[Ticket]:
    """Every ticket ``user`` may see, with what list pages need joined in."""
    principal = principal_for(user)
    condition = _scope_q(ticket_scope(principal))
    qs = Ticket.objects.select_related("requester", "organization", "assignee", "team", "type")
    return qs.none() if condition is None else qs.filter(condition)


def ticket_for(user: UserLike, key: int | str) -> Ticket:
    """One ticket by id or reference (``SD-1042``), or ``Ticket.DoesNotExist`` when not visible.

    Not visible and not existing are the same answer, so a guessed number leaks nothing.
    """
    number = key if isinstance(key, int) else parse_reference(str(key), settings.TICKET_REFERENCE_PREFIX)
    if number is None and isinstance(key, str) and key.isdigit():
        number = int(key)
    if number is None:
        raise Ticket.DoesNotExist(f"No ticket {key!r}.")
    return tickets_visible_to(user).get(pk=number)


def messages_visible_to(user: UserLike, ticket: Ticket) -> QuerySet[Message]:
    """The conversation of a ticket as ``user`` may see it: customers see public replies only.

    Empty when ``user`` may not see the ticket at all.
    """
    principal = principal_for(user)
    condition = _scope_q(ticket_scope(principal), prefix="ticket__")
    if condition is None:
        return Message.objects.none()
    qs = (
        Message.objects.filter(condition, ticket=ticket)
        .select_related("author_user", "author_contact")
        .prefetch_related("attachments")
    )
    if not sees_internal_messages(principal):
        qs = qs.filter(kind__in=PUBLIC_MESSAGE_KINDS)
    return qs.order_by("created_at", "id")


def attachments_visible_to(user: UserLike) -> QuerySet[Attachment]:
    """Attachments of visible tickets; for customers only those on public messages."""
    principal: Principal = principal_for(user)
    condition = _scope_q(ticket_scope(principal), prefix="message__ticket__")
    if condition is None:
        return Attachment.objects.none()
    qs = Attachment.objects.filter(condition).select_related("message")
    if not sees_internal_messages(principal):
        qs = qs.filter(message__kind__in=PUBLIC_MESSAGE_KINDS)
    return qs


def ticket_events(ticket: Ticket) -> QuerySet[TicketEvent]:
    """The audit timeline of a ticket (agents only: callers check with ``sees_internal_messages``)."""
    return (
        TicketEvent.objects.filter(ticket=ticket).select_related("actor", "actor_contact").order_by("created_at", "id")
    )


def tickets_breaching_soon(
    user: UserLike, *, within: timedelta = timedelta(hours=2), now: datetime | None = None
) -> QuerySet[Ticket]:
    """Active tickets whose earliest running SLA target falls due within ``within`` (or is overdue), soonest first."""
    moment = now or timezone.now()
    return (
        tickets_visible_to(user)
        .filter(status__in=ACTIVE_STATUS_VALUES, sla_due_at__isnull=False, sla_due_at__lte=moment + within)
        .order_by("sla_due_at", "id")
    )
