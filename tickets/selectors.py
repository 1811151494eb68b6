"""Scoped reads for tickets, messages and attachments. The only way to query them for a user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import OrderBy
from django.utils import timezone

from accounts.domain.permissions import Principal, TicketScope, sees_internal_messages, ticket_scope
from accounts.selectors import UserLike, principal_for
from tickets.choices import ACTIVE_STATUS_VALUES, PUBLIC_MESSAGE_KINDS, ViewVisibility
from tickets.domain import queues
from tickets.domain.references import parse_reference
from tickets.models import Attachment, Message, SavedView, Ticket, TicketEvent


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
    # A plain number, in ASCII digits only ("²".isdigit() is true, int() refuses it) and within bigint.
    if number is None and isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 18:
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
        .filter(status__in=ACTIVE_STATUS_VALUES)
        .filter(_due_by(moment + within))
        .order_by("sla_due_at", "id")
    )


def _due_by(moment: datetime) -> Q:
    """Tickets whose earliest running SLA target falls due by ``moment`` (or is overdue).

    No separate ``sla_due_at IS NOT NULL``: "<=" never matches NULL (and still implies the partial
    index ticket_sla_due's predicate), while the redundant clause made PostgreSQL count its 8 %
    selectivity twice. At a million tickets it then expected ~60 rows instead of ~5,000 and sorted
    them all (100+ ms) instead of walking ticket_sla_due in order (< 1 ms).
    """
    return Q(sla_due_at__lte=moment)


# --- Workspace lists ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketPage:
    tickets: list[Ticket]
    next_cursor: str | None
    sort: queues.SortSpec


def tickets_in_view(user: UserLike, view: queues.Builtin, *, now: datetime | None = None) -> QuerySet[Ticket]:
    """The tickets of a built-in view as ``user`` may see them (unordered; page with ``tickets_page``)."""
    spec = queues.BUILTIN_VIEWS[view]
    principal = principal_for(user)
    qs = tickets_visible_to(user)
    if spec.statuses is not None:
        qs = qs.filter(status__in=spec.statuses)
    if spec.assigned_to_me:
        qs = qs.filter(assignee_id=principal.user_id)
    if spec.unassigned:
        qs = qs.filter(assignee__isnull=True)
    if spec.my_teams:
        qs = qs.filter(team_id__in=sorted(principal.team_ids))
    moment = now or timezone.now()
    if spec.breaching_within_minutes is not None:
        qs = qs.filter(_due_by(moment + timedelta(minutes=spec.breaching_within_minutes)))
    if spec.updated_within_hours is not None:
        qs = qs.filter(updated_at__gte=moment - timedelta(hours=spec.updated_within_hours))
    return qs


def _order_by(sort: queues.SortSpec) -> list[OrderBy]:
    return [
        F(c.field).desc(nulls_last=c.nullable or None)
        if c.descending
        else F(c.field).asc(nulls_last=c.nullable or None)
        for c in sort.columns
    ]


def _cursor_value(column: queues.SortKey, value: queues.CursorValue) -> object:
    if value is None or column.field in ("id", "priority_rank"):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise queues.BadCursor(f"{column.field} is not a timestamp") from exc


def _after(sort: queues.SortSpec, values: tuple[queues.CursorValue, ...]) -> Q:
    """Rows strictly after ``values`` in ``sort``: (a after va) or (a = va and b after vb) or ..."""
    parsed = [_cursor_value(c, v) for c, v in zip(sort.columns, values, strict=True)]
    condition = Q(pk__in=[])
    equal = Q()
    for column, value in zip(sort.columns, parsed, strict=True):
        if value is None:
            # In the null tail (nulls sort last): nothing is after within this column.
            equal &= Q(**{f"{column.field}__isnull": True})
            continue
        lookup = "lt" if column.descending else "gt"
        after = Q(**{f"{column.field}__{lookup}": value})
        if column.nullable:
            after |= Q(**{f"{column.field}__isnull": True})
        condition |= equal & after
        equal &= Q(**{column.field: value})
    return condition


def tickets_page(
    qs: QuerySet[Ticket], sort: queues.SortSpec, *, cursor: str | None = None, size: int = 50
) -> TicketPage:
    """One page of ``qs`` in ``sort`` after ``cursor``: a keyset walk, as fast on page 1,000 as on page 1.

    ``queues.BadCursor`` for a cursor that was not made for this sort.
    """
    if cursor:
        qs = qs.filter(_after(sort, queues.decode_cursor(sort, cursor)))
    rows = list(qs.order_by(*_order_by(sort))[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        values = []
        for column in sort.columns:
            value = getattr(last, column.field)
            values.append(value.isoformat() if isinstance(value, datetime) else value)
        next_cursor = queues.encode_cursor(sort, tuple(values))
    return TicketPage(tickets=rows, next_cursor=next_cursor, sort=sort)


def count_capped(qs: QuerySet, cap: int = 999) -> tuple[int, bool]:
    """How many rows ``qs`` has, counting at most ``cap + 1``: (count, more than cap)."""
    return _counts_capped({"n": qs}, cap)["n"]


def view_counts(user: UserLike, *, cap: int = 999, now: datetime | None = None) -> dict[str, tuple[int, bool]]:
    """Each built-in view's count for ``user``, capped so that "All" at a million tickets stays cheap.

    All views are counted in one statement (one round trip instead of one aggregation query per view).
    """
    moment = now or timezone.now()
    return _counts_capped({view.value: tickets_in_view(user, view, now=moment) for view in queues.Builtin}, cap)


def _counts_capped(querysets: dict[str, QuerySet], cap: int) -> dict[str, tuple[int, bool]]:
    """``count_capped`` for several querysets of one database in a single
    ``SELECT (SELECT count(*) FROM (... LIMIT cap + 1)), ...``."""
    counts: dict[str, int] = {}
    columns: list[str] = []
    selects: list[str] = []
    params: list[object] = []
    for key, qs in querysets.items():
        capped = qs.order_by().values("pk")[: cap + 1]
        try:
            sql, sql_params = capped.query.get_compiler(using=capped.db).as_sql()
        except EmptyResultSet:  # e.g. "My teams" of an agent without teams: nothing can match
            counts[key] = 0
            continue
        columns.append(key)
        selects.append(f"(SELECT COUNT(*) FROM ({sql}) AS capped)")  # noqa: S608 - SQL compiled by Django
        params.extend(sql_params)
    if selects:
        using = next(iter(querysets.values())).db
        with connections[using].cursor() as cursor:
            # Django compiled each part; every value is still a query parameter.
            cursor.execute("SELECT " + ", ".join(selects), params)
            counts.update(zip(columns, cursor.fetchone(), strict=True))
    return {key: (min(counts[key], cap), counts[key] > cap) for key in querysets}


def saved_views_for(user: UserLike) -> QuerySet[SavedView]:
    """The saved views ``user`` may open: their own, shared ones, and those of their teams."""
    principal = principal_for(user)
    if not principal.is_agent:
        return SavedView.objects.none()
    return SavedView.objects.filter(_shared_with(principal)).order_by("position", "name", "id")


def _shared_with(principal: Principal) -> Q:
    """Saved views and macros an agent may use: their own, shared ones, and their teams' ones."""
    return (
        Q(visibility=ViewVisibility.PERSONAL, owner_id=principal.user_id)
        | Q(visibility=ViewVisibility.SHARED)
        | Q(visibility=ViewVisibility.TEAM, team_id__in=sorted(principal.team_ids))
    )


# --- The ticket page (agent workspace) ------------------------------------------------------------
# Appended by the ticket-page helper of issue 6.


def ticket_open_clocks(ticket: Ticket) -> list:
    """The current cycle of each SLA target of ``ticket`` that is still running or paused, in target order."""
    from tickets.models import TicketSLAClock
    from tickets.models.sla import OPEN_CLOCK_STATE_VALUES, SLATargetName

    current: dict[str, TicketSLAClock] = {}
    for clock in TicketSLAClock.objects.filter(ticket=ticket).order_by("target", "cycle"):
        current[clock.target] = clock
    order = [t.value for t in SLATargetName]
    return sorted(
        (c for c in current.values() if c.state in OPEN_CLOCK_STATE_VALUES), key=lambda c: order.index(c.target)
    )


def ticket_links_visible_to(user: UserLike, ticket: Ticket) -> list[tuple[str, Ticket]]:
    """The tickets linked to ``ticket`` that ``user`` may see, as (relation, other ticket), both directions.

    Relations: ``related``, ``follow_up`` (this ticket follows up the other), ``follow_up_of`` (the other
    one follows up this ticket).
    """
    from tickets.models import TicketLink

    visible = tickets_visible_to(user).values("pk")
    links = (
        TicketLink.objects.filter(Q(source=ticket, target__in=visible) | Q(target=ticket, source__in=visible))
        .select_related("source", "target")
        .order_by("created_at", "id")
    )
    result: list[tuple[str, Ticket]] = []
    for link in links:
        if link.source_id == ticket.pk:
            result.append((link.kind, link.target))
        else:
            result.append((link.kind if link.kind != "follow_up" else "follow_up_of", link.source))
    return result


def tickets_merged_into(user: UserLike, ticket: Ticket) -> QuerySet[Ticket]:
    """The tickets ``user`` may see that were merged into ``ticket``."""
    return tickets_visible_to(user).filter(merged_into=ticket).order_by("id")


def assignable_agents(ticket: Ticket) -> QuerySet:
    """Active agents ``ticket`` can be assigned to: its team's members, or every agent for an unrouted ticket."""
    from django.contrib.auth import get_user_model

    qs = get_user_model().objects.filter(is_active=True, agent_profile__is_active=True)
    if ticket.team_id:
        qs = qs.filter(agent_profile__teams=ticket.team_id)
    return qs.distinct().order_by("first_name", "last_name", "username")


# --- Agent workspace: macros and bulk jobs ----------------------------------------------------------
# (Appended by the bulk-actions helper of issue 6.)

from tickets.models import BulkJob, Macro  # noqa: E402 - kept with the section it serves


def macros_for(user: UserLike) -> QuerySet[Macro]:
    """The active macros ``user`` may apply: their personal ones, shared ones, and their teams' ones."""
    principal = principal_for(user)
    if not principal.is_agent:
        return Macro.objects.none()
    return (
        Macro.objects.filter(is_active=True)
        .filter(_shared_with(principal))
        .select_related("set_team")
        .prefetch_related("add_tags", "remove_tags")
        .order_by("name", "id")
    )


def bulk_jobs_for(user: UserLike) -> QuerySet[BulkJob]:
    """The bulk jobs ``user`` started (nobody else sees them), newest first."""
    principal = principal_for(user)
    if not principal.is_agent:
        return BulkJob.objects.none()
    return BulkJob.objects.filter(created_by_id=principal.user_id).order_by("-created_at", "-id")


def ticket_cc_contacts(ticket: Ticket) -> QuerySet:
    """Who is copied on ``ticket``, with their addresses (primary first)."""
    from django.db.models import Prefetch

    from accounts.models import Contact, ContactEmail

    return (
        Contact.objects.filter(cc_links__ticket=ticket)
        .prefetch_related(Prefetch("emails", queryset=ContactEmail.objects.order_by("-is_primary", "id")))
        .order_by("name", "id")
    )
