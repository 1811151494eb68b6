"""SLA clocks, escalations and notifications: the writes (called by the ticket services, the sweeper task
and the admin) and the reads (explanations, compliance, notifications, breaching soon).

How it fits together
--------------------
* ``tickets.services`` calls :func:`tickets_sla_plan` for tickets about to be inserted (it sets
  their policy and due dates before the insert, so new tickets are written once), then
  :func:`tickets_sla_write` once they are, and :func:`ticket_sla_refresh` from ``_save`` with the
  audit events of every change. The events say what happened (an agent's or a customer's public
  reply, a status, priority or type change); the refresh moves the ticket's clocks, re-evaluates
  their due dates with ``tickets.domain.sla`` and rewrites the ticket's pending escalation rows.
  All in the service's transaction, under its row lock.
* :func:`sla_recompute` does the same for many tickets after a policy or calendar change.
* :func:`sla_sweep` (beat, every 15 s) fires due escalations: one indexed range scan over the pending
  rows, ``FOR UPDATE SKIP LOCKED`` on the escalation and its ticket, marked fired in the same
  transaction as its notifications, timeline events and actions. Two sweepers never take the same
  row; a crashed sweep rolls back and the next one fires it; a fired row is never fired again.
* Emails go out after commit, one row-locked notification at a time (see :func:`notification_send_email`).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import Count, F, Model, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, TruncDay, TruncMonth, TruncWeek
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.models import Contract, Organization
from tickets.choices import ACTIVE_STATUS_VALUES, Channel, EventAction, MessageKind, Priority, Status
from tickets.domain import sla as domain
from tickets.domain import status as status_rules
from tickets.domain.business_time import Calendar, business_time_between
from tickets.events import subscribe
from tickets.models import (
    BusinessCalendar,
    BusinessHours,
    EscalationLevel,
    Holiday,
    Notification,
    SLAEscalation,
    SLAPause,
    SLAPolicy,
    SLAPolicyRule,
    SLATarget,
    Ticket,
    TicketEvent,
    TicketSLAClock,
    TicketType,
)
from tickets.models.sla import EmailStatus, NotificationKind, SLAClockState, SLATargetName

logger = logging.getLogger(__name__)

Target = domain.Target
OPEN_STATES = (SLAClockState.RUNNING, SLAClockState.PAUSED)
PAUSED_STATUS_VALUES = {s.value for s in status_rules.PAUSED_STATUSES}
FINAL_STATUS_VALUES = {Status.SOLVED.value, Status.CLOSED.value}
DUE_FIELDS = {
    Target.FIRST_RESPONSE: "first_response_due_at",
    Target.NEXT_RESPONSE: "next_response_due_at",
    Target.RESOLUTION: "resolution_due_at",
}
TICKET_SLA_FIELDS = ["sla_policy", *DUE_FIELDS.values(), "sla_due_at"]
NEXT_PRIORITY = {Priority.LOW: Priority.NORMAL, Priority.NORMAL: Priority.HIGH, Priority.HIGH: Priority.URGENT}
EMAIL_ATTEMPTS = 5


# --- Configuration: policies with their targets, levels and calendar, cached per process -------------


@dataclass(frozen=True)
class LevelConfig:
    percent: int
    target: Target | None
    notify_assignee: bool = True
    notify_team_lead: bool = False
    notify_account_manager: bool = False
    raise_priority: bool = False
    move_to_team_id: int | None = None
    add_note: bool = False
    note_text: str = ""

    @property
    def changes_ticket(self) -> bool:
        return self.raise_priority or self.move_to_team_id is not None or self.add_note


# Without configured levels: warn the assignee, and tell the assignee and the team lead on breach.
DEFAULT_WARNING = LevelConfig(percent=0, target=None, notify_assignee=True)
DEFAULT_BREACH = LevelConfig(percent=domain.BREACH_PERCENT, target=None, notify_assignee=True, notify_team_lead=True)


@dataclass(frozen=True)
class PolicyConfig:
    id: int
    name: str
    calendar: Calendar
    calendar_name: str
    warning_percent: int | None
    notify_account_manager_on_urgent: bool
    minutes: Mapping[str, Mapping[Target, int]]  # priority -> target -> business minutes
    levels: tuple[LevelConfig, ...]

    def target_minutes(self, priority: str, target: Target) -> int | None:
        return self.minutes.get(str(priority), {}).get(target)

    def percents(self, target: Target) -> tuple[int, ...]:
        specs = [domain.LevelSpec(level.percent, level.target) for level in self.levels]
        return domain.thresholds_for(target, specs, self.warning_percent)

    def levels_at(self, target: Target, percent: int) -> list[LevelConfig]:
        configured = [level for level in self.levels if level.target in (None, target)]
        if configured:
            return [level for level in configured if level.percent == percent]
        if percent == domain.BREACH_PERCENT:
            return [DEFAULT_BREACH]
        return [DEFAULT_WARNING] if percent == self.warning_percent else []


_Version = tuple[Any, ...]
_policy_cache: dict[int, tuple[_Version, PolicyConfig]] = {}
_calendar_cache: dict[int, tuple[_Version, Calendar]] = {}


# Reads that do not change while a batch of work runs (intake processes many messages in one
# transaction): inside ``reads_cached()`` they are made once per batch instead of once per ticket.
_batch_reads: ContextVar[dict[str, Any] | None] = ContextVar("sla_batch_reads", default=None)


@contextmanager
def reads_cached() -> Iterator[None]:
    """Within the block, the policy selection rules, the default policy and the policy versions are
    read once. For a batch of work in one transaction: a configuration change committed meanwhile
    applies from the next batch (and its recomputation, queued after that change, catches up)."""
    if _batch_reads.get() is not None:  # nested: the outer block's cache serves
        yield
        return
    token = _batch_reads.set({})
    try:
        yield
    finally:
        _batch_reads.reset(token)


def _batch_read(key: str, read: Callable[[], Any]) -> Any:
    cache = _batch_reads.get()
    if cache is None:
        return read()
    if key not in cache:
        cache[key] = read()
    return cache[key]


def policy_configs(policy_ids: Iterable[int | None]) -> dict[int, PolicyConfig]:
    """The configuration of each policy, from the process cache when its version has not moved.

    One query checks the versions (``updated_at`` and ``revision`` of the policy and its calendar);
    changed policies are rebuilt with four more. Inside ``reads_cached()`` a policy's version is
    checked once per batch.
    """
    ids = {pk for pk in policy_ids if pk is not None}
    if not ids:
        return {}
    cache = _batch_reads.get()
    if cache is not None:
        known: dict[int, PolicyConfig] = cache.setdefault("policy_configs", {})
        missing = ids - known.keys()
        if missing:
            known.update(_policy_configs(missing))
        return {pk: known[pk] for pk in ids if pk in known}
    return _policy_configs(ids)


def _policy_configs(ids: set[int]) -> dict[int, PolicyConfig]:
    versions: dict[int, _Version] = {
        row[0]: tuple(row[1:])
        for row in SLAPolicy.objects.filter(pk__in=ids).values_list(
            "pk", "updated_at", "revision", "calendar_id", "calendar__updated_at", "calendar__revision"
        )
    }
    stale = [pk for pk, version in versions.items() if pk not in _policy_cache or _policy_cache[pk][0] != version]
    if stale:
        _load_policies(stale, versions)
    return {pk: _policy_cache[pk][1] for pk in versions}


def _load_policies(ids: list[int], versions: Mapping[int, _Version]) -> None:
    policies = list(SLAPolicy.objects.filter(pk__in=ids).select_related("calendar"))
    minutes: dict[int, dict[str, dict[Target, int]]] = defaultdict(dict)
    for row in SLATarget.objects.filter(policy_id__in=ids):
        minutes[row.policy_id][row.priority] = {
            target: value
            for target, value in (
                (Target.FIRST_RESPONSE, row.first_response_minutes),
                (Target.NEXT_RESPONSE, row.next_response_minutes),
                (Target.RESOLUTION, row.resolution_minutes),
            )
            if value
        }
    levels: dict[int, list[LevelConfig]] = defaultdict(list)
    for level in EscalationLevel.objects.filter(policy_id__in=ids).order_by("percent", "id"):
        levels[level.policy_id].append(
            LevelConfig(
                percent=level.percent,
                target=Target(level.target) if level.target else None,
                notify_assignee=level.notify_assignee,
                notify_team_lead=level.notify_team_lead,
                notify_account_manager=level.notify_account_manager,
                raise_priority=level.raise_priority,
                move_to_team_id=level.move_to_team_id,
                add_note=level.add_note,
                note_text=level.note_text,
            )
        )
    calendars = calendars_by_id([p.calendar for p in policies if p.calendar is not None])
    for policy in policies:
        config = PolicyConfig(
            id=policy.pk,
            name=policy.name,
            calendar=calendars[policy.calendar_id] if policy.calendar_id else domain.no_calendar(),
            calendar_name=policy.calendar.name if policy.calendar else "",
            warning_percent=policy.warning_percent,
            notify_account_manager_on_urgent=policy.notify_account_manager_on_urgent,
            minutes=dict(minutes[policy.pk]),
            levels=tuple(levels[policy.pk]),
        )
        _policy_cache[policy.pk] = (versions[policy.pk], config)


def calendars_by_id(calendars: Iterable[BusinessCalendar]) -> dict[int, Calendar]:
    """Domain calendars for calendar rows (cached per id and version; hours and holidays in two queries)."""
    rows = {c.pk: c for c in calendars}
    stale = [c for c in rows.values() if c.pk not in _calendar_cache or _calendar_cache[c.pk][0] != _cal_version(c)]
    if stale:
        ids = [c.pk for c in stale]
        hours: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for h in BusinessHours.objects.filter(calendar_id__in=ids):
            hours[h.calendar_id].append((h.weekday, h.start_minute, h.end_minute))
        holidays: dict[int, list[tuple[date, bool]]] = defaultdict(list)
        for day in Holiday.objects.filter(calendar_id__in=ids):
            holidays[day.calendar_id].append((day.date, day.yearly))
        for c in stale:
            built = domain.build_calendar(
                time_zone=c.time_zone, always_open=c.always_open, hours=hours[c.pk], holidays=holidays[c.pk]
            )
            _calendar_cache[c.pk] = (_cal_version(c), built)
    return {pk: _calendar_cache[pk][1] for pk in rows}


def _cal_version(calendar: BusinessCalendar) -> _Version:
    return (calendar.updated_at, calendar.revision)


def calendar_for(calendar: BusinessCalendar) -> Calendar:
    return calendars_by_id([calendar])[calendar.pk]


# --- Which policy applies ------------------------------------------------------------------------


def _selection_rules() -> list[domain.SelectionRule]:
    return [
        domain.SelectionRule(
            id=pk, position=position, kind=domain.RuleKind(kind), policy_id=policy_id, tier=tier, type_id=type_id,
            channel=channel,
        )
        for pk, position, kind, policy_id, tier, type_id, channel in SLAPolicyRule.objects.values_list(
            "pk", "position", "kind", "policy_id", "tier", "ticket_type_id", "channel"
        )
    ]  # fmt: skip


def select_policies(tickets: Sequence[Ticket]) -> list[domain.PolicyChoice | None]:
    """The policy of each ticket by the first matching rule (see ``tickets.domain.sla.select_policy``).

    A handful of queries for any number of tickets: organizations, their contracts, ticket types,
    the rules and the default policy (the last two once per batch inside ``reads_cached()``).
    """
    if not tickets:
        return []
    org_ids = {t.organization_id for t in tickets if t.organization_id}
    organizations = {
        o.pk: o for o in Organization.objects.filter(pk__in=org_ids).only("pk", "name", "tier", "sla_policy_id")
    }
    contracts: dict[int, list[domain.ContractFacts]] = defaultdict(list)
    for contract in Contract.objects.filter(organization_id__in=org_ids, sla_policy__isnull=False).only(
        "pk", "organization_id", "name", "sla_policy_id", "starts_on", "ends_on"
    ):
        contracts[contract.organization_id].append(
            domain.ContractFacts(
                contract.pk, contract.name, contract.sla_policy_id, contract.starts_on, contract.ends_on
            )
        )
    type_names = dict(
        TicketType.objects.filter(pk__in={t.type_id for t in tickets if t.type_id}).values_list("pk", "name")
    )
    rules = _batch_read("selection_rules", _selection_rules)
    default_id = _batch_read(
        "default_policy", lambda: SLAPolicy.objects.filter(is_default=True).values_list("pk", flat=True).first()
    )
    choices = []
    for ticket in tickets:
        org = organizations.get(ticket.organization_id) if ticket.organization_id else None
        facts = domain.TicketFacts(
            channel=ticket.channel,
            type_id=ticket.type_id,
            type_name=type_names.get(ticket.type_id, ""),
            organization_id=org.pk if org else None,
            organization_name=org.name if org else "",
            organization_policy_id=org.sla_policy_id if org else None,
            tier=org.tier if org else "",
            contracts=tuple(contracts.get(org.pk, ())) if org else (),
        )
        choices.append(domain.select_policy(facts, rules, default_id, timezone.localdate(ticket.created_at)))
    return choices


# --- Clock state of tickets ---------------------------------------------------------------------


@dataclass
class _TicketState:
    ticket: Ticket
    clocks: dict[Target, list[TicketSLAClock]] = field(default_factory=dict)
    pauses: list[SLAPause] = field(default_factory=list)
    choice: domain.PolicyChoice | None = None
    reselected: bool = False
    touched: set[int] = field(default_factory=set)  # id() of clocks to evaluate and save
    finished: dict[int, tuple[bool, datetime]] = field(default_factory=dict)  # id(clock) -> (met, at)
    changed_pauses: list[SLAPause] = field(default_factory=list)
    met_events: list[tuple[Target, bool]] = field(default_factory=list)

    def current(self, target: Target) -> TicketSLAClock | None:
        cycles = self.clocks.get(target)
        return cycles[-1] if cycles else None

    def open_pause(self) -> SLAPause | None:
        return next((p for p in self.pauses if p.ended_at is None), None)

    def intervals(self) -> list[domain.Interval]:
        return [domain.Interval(p.started_at, p.ended_at) for p in self.pauses]


def _load_states(tickets: Sequence[Ticket]) -> list[_TicketState]:
    states = {t.pk: _TicketState(ticket=t) for t in tickets}
    for clock in TicketSLAClock.objects.filter(ticket_id__in=states).order_by("ticket_id", "target", "cycle"):
        states[clock.ticket_id].clocks.setdefault(Target(clock.target), []).append(clock)
    for pause in SLAPause.objects.filter(ticket_id__in=states).order_by("ticket_id", "started_at", "id"):
        states[pause.ticket_id].pauses.append(pause)
    return list(states.values())


def _start_clock(state: _TicketState, target: Target, at: datetime) -> TicketSLAClock:
    previous = state.current(target)
    clock = TicketSLAClock(
        ticket=state.ticket,
        target=target,
        cycle=previous.cycle + 1 if previous else 1,
        state=SLAClockState.RUNNING,
        priority=state.ticket.priority,
        target_minutes=0,
        started_at=at,
        updated_at=at,
    )
    state.clocks.setdefault(target, []).append(clock)
    state.touched.add(id(clock))
    return clock


def _finish_clock(state: _TicketState, clock: TicketSLAClock | None, *, met: bool, at: datetime) -> None:
    if clock is None or clock.state not in OPEN_STATES or id(clock) in state.finished:
        return
    state.finished[id(clock)] = (met, at)
    state.touched.add(id(clock))


def _is_open(state: _TicketState, clock: TicketSLAClock | None) -> bool:
    return clock is not None and clock.state in OPEN_STATES and id(clock) not in state.finished


def _open_pause(state: _TicketState, status: str, at: datetime) -> None:
    if state.open_pause() is None:
        pause = SLAPause(ticket=state.ticket, status=status, started_at=at)
        state.pauses.append(pause)
        state.changed_pauses.append(pause)


def _close_pause(state: _TicketState, at: datetime) -> None:
    pause = state.open_pause()
    if pause is not None:
        pause.ended_at = max(at, pause.started_at)
        state.changed_pauses.append(pause)


# What happened to a ticket, read from the audit events of a change.
@dataclass(frozen=True)
class _Trigger:
    kind: str  # agent_reply | customer_message | status | merged | recompute | reselect
    at: datetime
    old: str = ""
    new: str = ""


def _triggers(events: Sequence[TicketEvent]) -> list[_Trigger]:
    found = []
    for event in events:
        if event.action == EventAction.MESSAGE_ADDED and event.field == MessageKind.REPLY and event.message:
            kind = "agent_reply" if event.message.author_user_id else "customer_message"
            found.append(_Trigger(kind, event.created_at))
        elif event.action == EventAction.STATUS:
            found.append(_Trigger("status", event.created_at, event.old_value, event.new_value))
        elif event.action == EventAction.PRIORITY:
            found.append(_Trigger("recompute", event.created_at))
        elif event.action == EventAction.TYPE:
            found.append(_Trigger("reselect", event.created_at))
        elif event.action == EventAction.MERGED_INTO:
            found.append(_Trigger("merged", event.created_at))
    return found


def _apply(state: _TicketState, trigger: _Trigger) -> None:
    """Move the clocks for one thing that happened (due dates are evaluated afterwards)."""
    ticket, at = state.ticket, trigger.at
    if trigger.kind == "agent_reply":
        for target in (Target.FIRST_RESPONSE, Target.NEXT_RESPONSE):
            _finish_clock(state, state.current(target), met=True, at=at)
    elif trigger.kind == "customer_message":
        # After the desk has answered, every customer message waits for the next response.
        running = state.current(Target.NEXT_RESPONSE)
        if (
            ticket.first_responded_at is not None
            and ticket.status in ACTIVE_STATUS_VALUES
            and not _is_open(state, running)
        ):
            _start_clock(state, Target.NEXT_RESPONSE, at)
    elif trigger.kind == "status":
        old, new = trigger.old, trigger.new
        if old in PAUSED_STATUS_VALUES and new != old:
            _close_pause(state, at)
        if new in PAUSED_STATUS_VALUES and new != old:
            _open_pause(state, new, at)
        if new in FINAL_STATUS_VALUES and old not in FINAL_STATUS_VALUES:
            _finish_clock(state, state.current(Target.RESOLUTION), met=True, at=at)
            for target in (Target.FIRST_RESPONSE, Target.NEXT_RESPONSE):
                _finish_clock(state, state.current(target), met=False, at=at)
        if old == Status.SOLVED and new in ACTIVE_STATUS_VALUES:
            _start_clock(state, Target.RESOLUTION, at)  # reopened: the resolution clock starts again
    elif trigger.kind == "merged":
        # Merged into another ticket: its clocks stop unmet here (the target ticket carries on).
        for target in Target:
            _finish_clock(state, state.current(target), met=False, at=at)
    elif trigger.kind in ("recompute", "reselect"):
        _start_missing(state)


def _start_missing(state: _TicketState) -> None:
    """Clocks a target now calls for that never ran (e.g. the priority gained a target), from creation."""
    ticket = state.ticket
    if ticket.status not in ACTIVE_STATUS_VALUES:
        return
    if state.current(Target.FIRST_RESPONSE) is None and ticket.first_responded_at is None:
        _start_clock(state, Target.FIRST_RESPONSE, ticket.created_at)
    if state.current(Target.RESOLUTION) is None:
        _start_clock(state, Target.RESOLUTION, ticket.created_at)


@dataclass
class _Plan:
    """What evaluation decided for a batch of tickets, ready to be written."""

    new_clocks: list[TicketSLAClock] = field(default_factory=list)
    changed_clocks: list[TicketSLAClock] = field(default_factory=list)
    escalations: list[tuple[TicketSLAClock, int, datetime]] = field(default_factory=list)
    tickets: list[int] = field(default_factory=list)  # whose pending escalations are replaced
    pauses: list[SLAPause] = field(default_factory=list)
    events: list[TicketEvent] = field(default_factory=list)


def _evaluate(states: Sequence[_TicketState], configs: Mapping[int, PolicyConfig], at: datetime) -> _Plan:
    plan = _Plan()
    for state in states:
        ticket = state.ticket
        config = configs.get(ticket.sla_policy_id) if ticket.sla_policy_id else None
        for target, cycles in state.clocks.items():
            for clock in cycles:
                # Open clocks always: a pause, a resumption or a new target moves every one of them.
                if id(clock) in state.touched or clock.state in OPEN_STATES:
                    _evaluate_clock(state, clock, target, config, at, plan)
        dues = {}
        for target, due_field in DUE_FIELDS.items():
            current = state.current(target)
            due = current.due_at if current is not None and current.state == SLAClockState.RUNNING else None
            setattr(ticket, due_field, due)
            dues[target] = due
        running = [d for d in dues.values() if d is not None]
        ticket.sla_due_at = min(running) if running else None
        plan.tickets.append(ticket.pk)
        plan.pauses.extend({id(p): p for p in state.changed_pauses}.values())
        for target, late in state.met_events:
            # Stored in English whatever language the request runs in; the timeline translates it.
            plan.events.append(
                _sla_event(ticket, target, gettext_noop("met late") if late else gettext_noop("met"), at)
            )
    return plan


def _evaluate_clock(
    state: _TicketState,
    clock: TicketSLAClock,
    target: Target,
    config: PolicyConfig | None,
    at: datetime,
    plan: _Plan,
) -> None:
    ticket = state.ticket
    met, finished_at = state.finished.get(id(clock), (False, None))
    minutes = config.target_minutes(ticket.priority, target) if config else None
    if clock.pk is None and minutes is None:
        return  # started for a target the policy does not have: nothing to record
    if finished_at is None and minutes is None:
        finished_at, met = at, False  # the target no longer applies (other priority, no policy): it stops
    if config is not None and minutes is not None and (finished_at is None or not clock.target_minutes):
        clock.target_minutes, clock.priority = minutes, ticket.priority
        _describe(clock, config, state)
    if config is not None and clock.target_minutes:
        evaluation = domain.evaluate_clock(
            config.calendar,
            started_at=clock.started_at,
            target=timedelta(minutes=clock.target_minutes),
            pauses=state.intervals(),
            now=at,
            percents=config.percents(target),
            met_at=finished_at if met else None,
            cancelled_at=finished_at if not met else None,
        )
        clock.state = evaluation.state
        clock.due_at = evaluation.due_at
        clock.breached_at = evaluation.breached_at
        remaining = evaluation.remaining
        clock.remaining_seconds = int(remaining.total_seconds()) if remaining is not None else None
        plan.escalations.extend((clock, percent, moment) for percent, moment in evaluation.escalations)
    else:
        clock.state = SLAClockState.MET if met else SLAClockState.CANCELLED
        clock.remaining_seconds = None
    if finished_at is not None:
        clock.stopped_at = finished_at
        if met:
            clock.met_at = finished_at
            state.met_events.append((target, clock.breached_at is not None))
    clock.updated_at = at
    (plan.changed_clocks if clock.pk else plan.new_clocks).append(clock)


def _describe(clock: TicketSLAClock, config: PolicyConfig, state: _TicketState) -> None:
    clock.policy_id = config.id
    clock.policy_name = config.name
    clock.calendar_name = config.calendar_name
    clock.time_zone = config.calendar.time_zone if config.calendar_name else "UTC"
    if state.choice is not None:
        clock.rule_kind = state.choice.kind.value
        clock.rule_detail = state.choice.detail[:200]


def _sla_event(ticket: Ticket, target: Target, what: str, at: datetime) -> TicketEvent:
    return TicketEvent(
        ticket=ticket, action=EventAction.SLA, field=target.value, new_value=what, channel=Channel.SYSTEM, created_at=at
    )


CLOCK_UPDATE_FIELDS = [
    "state", "policy", "policy_name", "rule_kind", "rule_detail", "calendar_name", "time_zone", "priority",
    "target_minutes", "due_at", "remaining_seconds", "met_at", "breached_at", "stopped_at", "updated_at",
]  # fmt: skip


# The SLA tables hold plain values (integers, strings, aware datetimes) that the PostgreSQL driver
# adapts as they are: the two helpers below skip Django's per-value preparation and SQL compilation,
# which dominate the cost of recomputing thousands of tickets.


def update_rows(model: type[Model], objects: Sequence[Model], fields: Sequence[str], batch_size: int = 1000) -> None:
    """``bulk_update`` that stays linear on PostgreSQL: ``UPDATE ... FROM (VALUES ...)`` by primary key.

    Django's ``bulk_update`` writes a ``CASE WHEN id = ...`` per row and field, which PostgreSQL
    evaluates row by row (quadratic in the batch). Other databases get ``bulk_update``. Only for
    fields whose Python values the driver adapts directly (no JSON, no naive datetimes).
    """
    if not objects:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objects, fields, batch_size=batch_size)
        return
    meta = model._meta
    pk = meta.pk
    assert pk is not None  # noqa: S101 - every model has one; narrows the type
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    row = "(" + ", ".join(f"%s::{f.db_type(connection)}" for f in [pk, *columns]) + ")"
    names = ", ".join(quote(f.column) for f in [pk, *columns])
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
    for start in range(0, len(objects), batch_size):
        chunk = objects[start : start + batch_size]
        attnames = [f.attname for f in columns]
        params: list[Any] = []
        for obj in chunk:
            params.append(obj.pk)
            params.extend(getattr(obj, name) for name in attnames)
        sql = (
            f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608 - names from the model, values as parameters
            f"FROM (VALUES {', '.join([row] * len(chunk))}) AS v({names}) "
            f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def insert_rows(
    model: type[Model], objects: Sequence[Model], fields: Sequence[str], *, ignore_conflicts: bool = False
) -> None:
    """``bulk_create`` without returned ids: one multi-row ``INSERT`` per thousand rows on PostgreSQL."""
    if not objects:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objects, batch_size=1000, ignore_conflicts=ignore_conflicts)
        return
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    names = ", ".join(quote(f.column) for f in columns)
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    attnames = [f.attname for f in columns]
    for start in range(0, len(objects), 1000):
        chunk = objects[start : start + 1000]
        params = [getattr(obj, name) for obj in chunk for name in attnames]
        sql = f"INSERT INTO {quote(meta.db_table)} ({names}) VALUES {', '.join([row] * len(chunk))}{conflict}"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _write(plan: _Plan, *, at: datetime, imported: bool = False) -> None:
    """Write clocks, pauses and the pending escalations of the planned tickets."""
    TicketSLAClock.objects.bulk_create(plan.new_clocks)
    update_rows(TicketSLAClock, plan.changed_clocks, CLOCK_UPDATE_FIELDS)
    closed = [p for p in plan.pauses if p.pk is not None]
    if closed:  # before the new ones: a ticket has one open pause at a time
        update_rows(SLAPause, closed, ["ended_at"])
    SLAPause.objects.bulk_create([p for p in plan.pauses if p.pk is None])
    if plan.tickets and not imported:
        SLAEscalation.objects.filter(ticket_id__in=plan.tickets, fired_at__isnull=True).delete()
    rows = [
        SLAEscalation(
            ticket_id=clock.ticket_id,
            clock=clock,
            target=clock.target,
            percent=percent,
            due_at=moment,
            # Imported history does not escalate what fell due before it was imported.
            fired_at=at if imported and moment <= at else None,
            outcome=_("Imported after it fell due; not escalated.") if imported and moment <= at else "",
        )
        for clock, percent, moment in plan.escalations
    ]
    # A fired row is never replaced: its (clock, percent) conflict keeps it as it is.
    fields = ["ticket", "clock", "target", "percent", "due_at", "fired_at", "outcome"]
    insert_rows(SLAEscalation, rows, fields, ignore_conflicts=True)
    if plan.events:
        TicketEvent.objects.bulk_create(plan.events)


# --- Hooks called by tickets.services ---------------------------------------------------------------


@dataclass
class SLAStart:
    """The clocks of new tickets, planned before the tickets are inserted; see :func:`tickets_sla_plan`."""

    plan: _Plan
    at: datetime
    imported: bool


def tickets_sla_plan(tickets: Sequence[Ticket], *, at: datetime, imported: bool = False) -> SLAStart:
    """Choose the policy of tickets about to be inserted (``tickets_create_bulk``), start their clocks
    and set ``sla_policy`` and the due dates on the unsaved tickets, so that the insert writes them
    (no second write of every new ticket). Nothing is written here: insert the tickets, then call
    :func:`tickets_sla_write` with the result.

    Imported tickets (``publish=False``) get their clocks too, but what fell due before the import
    is recorded as breached, not escalated.
    """
    choices = select_policies(tickets)
    states = []
    for ticket, choice in zip(tickets, choices, strict=True):
        if choice is None:
            continue
        ticket.sla_policy_id = choice.policy_id
        state = _TicketState(ticket=ticket, choice=choice)
        if ticket.status in PAUSED_STATUS_VALUES:
            _open_pause(state, ticket.status, ticket.created_at)
        if ticket.status in ACTIVE_STATUS_VALUES:
            first = _start_clock(state, Target.FIRST_RESPONSE, ticket.created_at)
            if ticket.first_responded_at is not None:
                _finish_clock(state, first, met=True, at=ticket.first_responded_at)
                waiting = ticket.last_customer_message_at
                if waiting is not None and waiting > (ticket.last_agent_message_at or ticket.created_at):
                    _start_clock(state, Target.NEXT_RESPONSE, waiting)
            _start_clock(state, Target.RESOLUTION, ticket.created_at)
        states.append(state)
    if not states:
        return SLAStart(_Plan(), at, imported)
    configs = policy_configs(t.ticket.sla_policy_id for t in states)
    plan = _evaluate(states, configs, at)  # sets the due dates on the tickets
    plan.events = []  # creation is on the timeline already; met-at-import is not news
    plan.tickets = []  # new tickets have no escalation rows to replace
    return SLAStart(plan, at, imported)


def tickets_sla_write(start: SLAStart) -> None:
    """Write the clocks, pauses and escalations planned by :func:`tickets_sla_plan`, once the tickets
    are inserted (their rows already carry the policy and due dates)."""
    _write(start.plan, at=start.at, imported=start.imported)


def ticket_sla_refresh(ticket: Ticket, *, events: Sequence[TicketEvent], at: datetime) -> tuple[list[str], list]:
    """Move the ticket's clocks for the change ``events`` describe; called by ``services._save``.

    Returns the ticket fields it set (the caller saves the ticket) and SLA timeline events to write
    with the change's events. No queries for changes that do not concern the SLA, or for tickets
    without a policy.
    """
    triggers = _triggers(events)
    reselect = any(t.kind == "reselect" for t in triggers)
    if not triggers or (ticket.sla_policy_id is None and not reselect):
        return [], []
    plan = _refresh([ticket], triggers, at=at, reselect=reselect)
    events_out, plan.events = plan.events, []
    _write(plan, at=at)
    return TICKET_SLA_FIELDS, events_out


def tickets_sla_refresh(
    tickets: Sequence[Ticket], *, events: Mapping[int, Sequence[TicketEvent]], at: datetime
) -> tuple[list[str], list[TicketEvent]]:
    """:func:`ticket_sla_refresh` for changes to many tickets at once (``events``: each ticket's, by
    id, in order), in a few queries for all of them. The tickets are locked by the caller, who
    saves them; no reselection (a type change goes through ``_save``)."""
    triggers = {t.pk: _triggers(events.get(t.pk, ())) for t in tickets}
    if any(trigger.kind == "reselect" for found in triggers.values() for trigger in found):
        raise ValueError("tickets_sla_refresh does not reselect policies; save a type change on its own.")
    concerned = [t for t in tickets if triggers[t.pk] and t.sla_policy_id is not None]
    if not concerned:
        return [], []
    plan = _refresh(concerned, triggers, at=at, reselect=False)
    events_out, plan.events = plan.events, []
    _write(plan, at=at)
    return TICKET_SLA_FIELDS, events_out


def _refresh(
    tickets: Sequence[Ticket],
    triggers: Sequence[_Trigger] | Mapping[int, Sequence[_Trigger]],
    *,
    at: datetime,
    reselect: bool,
) -> _Plan:
    """Move the clocks of ``tickets`` for ``triggers`` (the same for all, or each ticket's by id)."""
    states = _load_states(tickets)
    if reselect:
        for state, choice in zip(states, select_policies(tickets), strict=True):
            state.choice, state.reselected = choice, True
            state.ticket.sla_policy_id = choice.policy_id if choice else None
    for state in states:
        if state.choice is None:
            state.choice = _previous_choice(state)
        for trigger in triggers.get(state.ticket.pk, ()) if isinstance(triggers, Mapping) else triggers:
            _apply(state, trigger)
    configs = policy_configs(s.ticket.sla_policy_id for s in states)
    return _evaluate(states, configs, at)


def _previous_choice(state: _TicketState) -> domain.PolicyChoice | None:
    """Why the ticket has its policy, as recorded on its latest clock (kept unless reselected)."""
    latest = max((c for cycles in state.clocks.values() for c in cycles), key=lambda c: c.updated_at, default=None)
    if latest is None or not latest.rule_kind or state.ticket.sla_policy_id is None:
        return None
    return domain.PolicyChoice(state.ticket.sla_policy_id, domain.RuleKind(latest.rule_kind), latest.rule_detail)


# --- Recomputation after configuration changes ----------------------------------------------------


def sla_recompute(
    ticket_ids: Iterable[int], *, reselect: bool = False, chunk_size: int = 500, at: datetime | None = None
) -> int:
    """Recompute the due dates of active tickets (a chunk per transaction); return how many were done.

    ``reselect`` also chooses the policy again (after an organization, contract or rule change).
    Elapsed business time is recounted under the current calendar from each clock's start.
    """
    ids = sorted(set(ticket_ids))
    done = 0
    for offset in range(0, len(ids), chunk_size):
        chunk = ids[offset : offset + chunk_size]
        with transaction.atomic():
            moment = at or timezone.now()
            tickets = list(
                Ticket.objects.select_for_update(of=("self",))
                .filter(pk__in=chunk, status__in=ACTIVE_STATUS_VALUES)
                .order_by("pk")
            )
            if not tickets:
                continue
            before = {t.pk: t.sla_policy_id for t in tickets}
            plan = _refresh(tickets, [_Trigger("recompute", moment)], at=moment, reselect=reselect)
            plan.events = []
            _write(plan, at=moment)
            update_rows(Ticket, tickets, TICKET_SLA_FIELDS)
            changed_policy = [t.pk for t in tickets if t.sla_policy_id != before[t.pk]]
            if changed_policy:
                logger.info("SLA policy changed on %s tickets by reselection.", len(changed_policy))
            done += len(tickets)
    return done


def tickets_using_calendar(calendar_id: int) -> QuerySet:
    return (
        TicketSLAClock.objects.filter(state__in=OPEN_STATES, policy__calendar_id=calendar_id)
        .values_list("ticket_id", flat=True)
        .distinct()
    )


def tickets_using_policy(policy_id: int) -> QuerySet:
    return (
        TicketSLAClock.objects.filter(state__in=OPEN_STATES, policy_id=policy_id)
        .values_list("ticket_id", flat=True)
        .distinct()
    )


def _queue_recompute(**kwargs: int) -> None:
    def send() -> None:
        from tickets.tasks import sla_recompute_task

        try:
            sla_recompute_task.delay(**kwargs)
        except Exception:  # the broker is down: an admin can save again, or run the task by hand
            logger.warning("Could not queue SLA recomputation %s.", kwargs, exc_info=True)

    transaction.on_commit(send)


def calendar_changed(calendar: BusinessCalendar | int) -> None:
    """A calendar, its hours or holidays changed: bump its version and recompute its tickets after commit."""
    pk = calendar if isinstance(calendar, int) else calendar.pk
    BusinessCalendar.objects.filter(pk=pk).update(revision=F("revision") + 1, updated_at=timezone.now())
    _queue_recompute(calendar_id=pk)


def policy_changed(policy: SLAPolicy | int) -> None:
    """A policy, its targets or escalation levels changed: bump its version and recompute its tickets."""
    pk = policy if isinstance(policy, int) else policy.pk
    SLAPolicy.objects.filter(pk=pk).update(revision=F("revision") + 1, updated_at=timezone.now())
    _queue_recompute(policy_id=pk)


def selection_changed(*, organization_id: int | None = None) -> None:
    """Selection inputs changed (an organization's policy, tier or contracts; the rules): choose again."""
    kwargs = {"organization_id": organization_id} if organization_id else {}
    _queue_recompute(reselect=1, **kwargs)


def sla_recompute_for(
    *, calendar_id: int | None = None, policy_id: int | None = None, organization_id: int | None = None, reselect: bool
) -> int:
    """The body of ``sla_recompute_task``: find the affected active tickets and recompute them."""
    if calendar_id is not None:
        ids: Iterable[int] = tickets_using_calendar(calendar_id)
    elif policy_id is not None and not SLAPolicy.objects.filter(pk=policy_id).exists():
        # The policy was deleted: its tickets' clocks lost their policy; choose one again.
        ids = TicketSLAClock.objects.filter(state__in=OPEN_STATES, policy__isnull=True).values_list(
            "ticket_id", flat=True
        )
        reselect = True
    elif policy_id is not None:
        ids = tickets_using_policy(policy_id)
    else:
        qs = Ticket.objects.filter(status__in=ACTIVE_STATUS_VALUES)
        if organization_id is not None:
            qs = qs.filter(organization_id=organization_id)
        ids = qs.values_list("pk", flat=True)
    return sla_recompute(list(ids), reselect=reselect)


# --- The sweeper ----------------------------------------------------------------------------------


@dataclass
class SweepResult:
    fired: int = 0
    notifications: int = 0
    batches: int = 0
    action_errors: int = 0
    late: list[float] = field(default_factory=list)  # seconds between due and fired, per escalation

    @property
    def max_lateness(self) -> float:
        return max(self.late, default=0.0)


def sla_sweep(
    *, now: datetime | None = None, batch_size: int = 500, max_batches: int = 1000, time_budget: float | None = None
) -> SweepResult:
    """Fire every escalation due by ``now`` (default: the moment of each batch), oldest first."""
    result = SweepResult()
    began = time.monotonic()
    while result.batches < max_batches:
        taken = _sweep_batch(now or timezone.now(), batch_size, result)
        result.batches += 1
        if taken < batch_size or (time_budget is not None and time.monotonic() - began > time_budget):
            break
    return result


@dataclass
class _Firing:
    row: SLAEscalation
    levels: list[LevelConfig]
    recipients: set[int]
    skipped: str = ""


def _sweep_batch(now: datetime, limit: int, result: SweepResult) -> int:
    """One batch in one transaction, in a bounded number of queries (plus the service calls of
    escalations that change their ticket: priority, team, note)."""
    with transaction.atomic():
        qs = (
            SLAEscalation.objects.filter(fired_at__isnull=True, due_at__lte=now)
            .order_by("due_at", "id")
            .select_related("clock", "ticket", "ticket__team", "ticket__organization")
        )
        if connection.features.has_select_for_update_skip_locked:
            # Lock the escalation and its ticket together, skipping rows another sweeper (or a service
            # changing the ticket) holds: never wait, never take the same row twice.
            qs = qs.select_for_update(skip_locked=True, of=("self", "ticket"))
        rows = list(qs[:limit])
        if not rows:
            return 0
        fired_at = timezone.now()
        configs = policy_configs(r.clock.policy_id for r in rows)
        firings = [_plan_firing(r, configs) for r in rows]
        users = {
            u.pk: u
            for u in get_user_model()
            .objects.filter(pk__in={u for f in firings for u in f.recipients}, is_active=True)
            .only("pk", "username", "first_name", "last_name", "email")
        }
        notifications, events, breached = [], [], []
        for firing in firings:
            row = firing.row
            row.fired_at = fired_at
            result.late.append((fired_at - row.due_at).total_seconds())
            if firing.skipped:
                row.outcome = firing.skipped
                continue
            title, body = _notification_text(row)
            kind = _notification_kind(row.percent)
            recipients = [users[pk] for pk in sorted(firing.recipients) if pk in users]
            notifications += [
                Notification(
                    recipient=user, ticket=row.ticket, escalation=row, kind=kind, title=title, body=body,
                    created_at=fired_at,
                )
                for user in recipients
            ]  # fmt: skip
            names = ", ".join(user.get_username() for user in recipients) or _("nobody")
            row.outcome = _("Notified: %(names)s.") % {"names": names}
            events.append(_sla_event(row.ticket, Target(row.target), _escalation_text(row.percent), fired_at))
            if row.percent == domain.BREACH_PERCENT and row.clock.breached_at is None:
                row.clock.breached_at = row.due_at
                breached.append(row.clock)
        # Fired before any action runs: a service call below that recomputes the ticket's clocks
        # replaces only pending rows. One UPDATE per distinct outcome (usually a handful).
        by_outcome: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            by_outcome[row.outcome].append(row.pk)
        for outcome, ids in by_outcome.items():
            SLAEscalation.objects.filter(pk__in=ids).update(fired_at=fired_at, outcome=outcome)
        # Idempotent even without the row locks (SQLite): a second notification for the same
        # (escalation, recipient) is refused by the unique constraint and skipped.
        Notification.objects.bulk_create(notifications, ignore_conflicts=True)
        TicketEvent.objects.bulk_create(events)
        update_rows(TicketSLAClock, breached, ["breached_at"])
        changed = _run_ticket_actions([f for f in firings if not f.skipped], result)
        for row in changed:
            row.save(update_fields=["outcome"])
        result.fired += len(rows)
        result.notifications += len(notifications)
        _after_commit_send_emails(escalation_ids=[r.pk for r in rows])
        if events:
            from tickets.services import _publish_after_commit

            _publish_after_commit()
    return len(rows)


def _plan_firing(row: SLAEscalation, configs: Mapping[int, PolicyConfig]) -> _Firing:
    clock, ticket = row.clock, row.ticket
    if clock.state not in OPEN_STATES or ticket.status not in ACTIVE_STATUS_VALUES:
        return _Firing(row, [], set(), skipped=_("The clock had stopped; nothing to do."))
    config = configs.get(clock.policy_id) if clock.policy_id else None
    if config is None:
        return _Firing(row, [], set(), skipped=_("The policy was deleted; nothing to do."))
    levels = config.levels_at(Target(row.target), row.percent)
    recipients: set[int] = set()
    lead_id = ticket.team.lead_id if ticket.team_id and ticket.team else None
    manager_id = ticket.organization.account_manager_id if ticket.organization_id and ticket.organization else None
    for level in levels:
        # Nobody assigned: the team lead is the one to act.
        assignee = ticket.assignee_id or lead_id
        if level.notify_assignee and assignee:
            recipients.add(assignee)
        if level.notify_team_lead and lead_id:
            recipients.add(lead_id)
        if level.notify_account_manager and manager_id:
            recipients.add(manager_id)
    return _Firing(row, levels, recipients)


def _run_ticket_actions(firings: Sequence[_Firing], result: SweepResult) -> list[SLAEscalation]:
    """Priority raises, team moves and notes, through the service layer as the system; each ticket in a
    savepoint so that one refused action does not undo the batch. Returns the rows it acted for."""
    from tickets import services

    acted = []
    by = services.Actor.system()
    for firing in firings:
        levels = [level for level in firing.levels if level.changes_ticket]
        if not levels:
            continue
        row = firing.row
        done = []
        try:
            with transaction.atomic():
                ticket = row.ticket
                if any(level.raise_priority for level in levels) and ticket.priority in NEXT_PRIORITY:
                    higher = NEXT_PRIORITY[Priority(ticket.priority)]
                    ticket = services.ticket_change_priority(ticket=ticket, by=by, priority=higher)
                    done.append(_("priority raised to %(priority)s") % {"priority": higher.label})
                team_id = next((lv.move_to_team_id for lv in levels if lv.move_to_team_id), None)
                if team_id is not None and team_id != ticket.team_id:
                    from accounts.models import Team

                    team = Team.objects.get(pk=team_id)
                    ticket = services.ticket_set_team(ticket=ticket, by=by, team=team)
                    done.append(_("moved to %(team)s") % {"team": team.name})
                notes = [lv for lv in levels if lv.add_note]
                if notes:
                    text = notes[0].note_text or _notification_text(row)[0]
                    services.ticket_add_note(ticket=ticket, by=by, body_text=text)
                    done.append(_("note added"))
        except Exception as exc:
            result.action_errors += 1
            logger.warning("SLA escalation %s: ticket action failed: %s", row.pk, exc, exc_info=True)
            done.append(_("action failed: %(error)s") % {"error": exc})
        row.outcome = " ".join([row.outcome, "; ".join(done)]).strip()
        acted.append(row)
    return acted


def _notification_kind(percent: int) -> str:
    return {
        domain.EscalationKind.WARNING: NotificationKind.SLA_WARNING,
        domain.EscalationKind.BREACH: NotificationKind.SLA_BREACH,
        domain.EscalationKind.ESCALATION: NotificationKind.SLA_ESCALATION,
    }[domain.escalation_kind(percent)]


def _escalation_text(percent: int) -> str:
    """What an escalation did, in English: it is stored on events and rows, and translated when shown."""
    kind = domain.escalation_kind(percent)
    if kind is domain.EscalationKind.WARNING:
        return gettext_noop("warning at %(percent)s %%") % {"percent": percent}
    if kind is domain.EscalationKind.BREACH:
        return gettext_noop("breached")
    return gettext_noop("escalated at %(percent)s %%") % {"percent": percent}


def target_label(target: str) -> str:
    return str(dict(SLATargetName.choices).get(target, target))


def _notification_text(row: SLAEscalation) -> tuple[str, str]:
    ticket = row.ticket
    what = {
        "target": target_label(row.target),
        "reference": ticket.reference,
        "subject": ticket.subject,
        "percent": row.percent,
        "due": _local(row.clock.due_at or row.due_at, row.clock.time_zone),
    }
    kind = domain.escalation_kind(row.percent)
    if kind is domain.EscalationKind.WARNING:
        title = _("%(reference)s: %(target)s at %(percent)s %% of its target - %(subject)s") % what
    elif kind is domain.EscalationKind.BREACH:
        title = _("%(reference)s: %(target)s target breached - %(subject)s") % what
    else:
        title = _("%(reference)s: %(target)s escalated (%(percent)s %% of its target) - %(subject)s") % what
    body = _("%(target)s due %(due)s.") % what
    return title[:255], body


# --- Notifications: the workspace list and the emails -----------------------------------------------


def notifications_for(user: Any, *, unread_only: bool = False) -> QuerySet[Notification]:
    """The notifications of ``user`` for the agent workspace, newest first."""
    qs = Notification.objects.filter(recipient_id=user.pk).select_related("ticket")
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at", "-id")


def notifications_mark_read(*, user: Any, ids: Iterable[int]) -> int:
    return Notification.objects.filter(recipient_id=user.pk, pk__in=list(ids), read_at__isnull=True).update(
        read_at=timezone.now()
    )


def _after_commit_send_emails(**kwargs: list[int]) -> None:
    def send() -> None:
        from tickets.tasks import send_notification_emails_task

        try:
            send_notification_emails_task.delay(**kwargs)
        except Exception:  # the broker is down: the beat catch-up sends them
            logger.warning("Could not queue notification emails; the periodic catch-up will send them.")

    transaction.on_commit(send)


def notifications_send_emails(
    *, escalation_ids: Sequence[int] | None = None, notification_ids: Sequence[int] | None = None, limit: int = 500
) -> int:
    """Email pending notifications (those given, or any: the beat catch-up); return how many were sent."""
    qs = Notification.objects.filter(email_status=EmailStatus.PENDING)
    if escalation_ids is not None:
        qs = qs.filter(escalation_id__in=list(escalation_ids))
    if notification_ids is not None:
        qs = qs.filter(pk__in=list(notification_ids))
    ids = list(qs.order_by("id").values_list("pk", flat=True)[:limit])
    return sum(notification_send_email(pk) for pk in ids)


def notification_send_email(notification_id: int) -> bool:
    """Send one notification's email unless it was sent already; True if this call sent it.

    The row is locked (SKIP LOCKED: a concurrent sender moves on) and re-checked before sending, and
    marked sent in the same transaction: a retried or duplicated task never sends twice. The one
    window left is SMTP's own: a crash after the server accepted the message and before the commit
    sends it again on the retry (at least once, never lost).
    """
    with transaction.atomic():
        qs = Notification.objects.filter(pk=notification_id, email_status=EmailStatus.PENDING).select_related(
            "recipient", "ticket", "escalation__clock"
        )
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        notification = qs.first()
        if notification is None:
            return False
        if not notification.recipient.email:
            notification.email_status = EmailStatus.SKIPPED
            notification.save(update_fields=["email_status"])
            return False
        notification.email_attempts += 1
        try:
            _send_email(notification)
        except Exception as exc:
            notification.email_error = f"{type(exc).__name__}: {exc}"[:2000]
            if notification.email_attempts >= EMAIL_ATTEMPTS:
                notification.email_status = EmailStatus.FAILED
                logger.error("Notification %s: email failed %s times: %s", notification.pk, EMAIL_ATTEMPTS, exc)
            else:
                logger.warning(
                    "Notification %s: email failed (attempt %s): %s", notification.pk, notification.email_attempts, exc
                )
            notification.save(update_fields=["email_attempts", "email_error", "email_status"])
            return False
        notification.email_status = EmailStatus.SENT
        notification.email_sent_at = timezone.now()
        notification.email_error = ""
        notification.save(update_fields=["email_status", "email_sent_at", "email_attempts", "email_error"])
        return True


def _send_email(notification: Notification) -> None:
    from service_desk.branding import brand, from_address  # the desk's brand name as sender and signature

    ticket, user = notification.ticket, notification.recipient
    context = {
        "notification": notification,
        "ticket": ticket,
        "reference": ticket.reference,
        "user": user,
        "url": settings.SITE_URL.rstrip("/") + reverse("desk:ticket", args=[ticket.reference]),
        "desk_name": brand().name,
    }
    subject = " ".join(render_to_string("emails/sla_notification.subject.txt", context).split())
    body = render_to_string("emails/sla_notification.txt", context)
    message = EmailMultiAlternatives(subject, body, from_address(), [user.email])
    message.extra_headers = {"Auto-Submitted": "auto-generated", "X-Service-Desk-Notification": str(notification.pk)}
    message.send()


@subscribe(EventAction.CREATED)
@subscribe(EventAction.PRIORITY)
def notify_account_manager_of_urgent_ticket(event: TicketEvent) -> None:
    """Strategic accounts: the account manager hears of every urgent ticket at once (once per ticket)."""
    ticket = event.ticket
    if ticket.priority != Priority.URGENT or ticket.organization_id is None or ticket.sla_policy_id is None:
        return
    if event.action == EventAction.PRIORITY and event.new_value != Priority.URGENT:
        return
    if not SLAPolicy.objects.filter(pk=ticket.sla_policy_id, notify_account_manager_on_urgent=True).exists():
        return
    manager = (
        Organization.objects.filter(pk=ticket.organization_id).values_list("account_manager_id", flat=True).first()
    )
    if manager is None:
        return
    title = _("%(reference)s: new urgent ticket from %(organization)s - %(subject)s") % {
        "reference": ticket.reference,
        "organization": ticket.organization,
        "subject": ticket.subject,
    }
    Notification.objects.bulk_create(
        [
            Notification(
                recipient_id=manager, ticket=ticket, kind=NotificationKind.URGENT_TICKET, title=title[:255],
                created_at=timezone.now(),
            )
        ],
        ignore_conflicts=True,
    )  # fmt: skip
    ids = list(
        Notification.objects.filter(
            ticket=ticket, kind=NotificationKind.URGENT_TICKET, email_status=EmailStatus.PENDING
        ).values_list("pk", flat=True)
    )
    if ids:
        _after_commit_send_emails(notification_ids=ids)


# --- Reads: explanations ------------------------------------------------------------------------


@dataclass(frozen=True)
class PauseLine:
    status: str
    started_at: datetime
    ended_at: datetime | None
    counted_out: timedelta  # business time the pause kept off the clock (up to now while it lasts)


@dataclass(frozen=True)
class ClockExplanation:
    """How one due date came about, and the same as sentences (``lines``) for the ticket page."""

    target: str
    target_label: str
    cycle: int
    state: str
    policy_name: str
    rule_kind: str
    rule_detail: str
    calendar_name: str
    time_zone: str
    calendar_hours: str
    priority: str
    target_minutes: int
    started_at: datetime
    due_at: datetime | None
    met_at: datetime | None
    breached_at: datetime | None
    used: timedelta
    remaining: timedelta | None
    pauses: tuple[PauseLine, ...]
    lines: tuple[str, ...]


def _local(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return ""
    import zoneinfo

    try:
        tz = zoneinfo.ZoneInfo(zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    return moment.astimezone(tz).strftime("%a %d %b %Y %H:%M")


def _rule_sentence(kind: str, detail: str) -> str:
    texts = {
        domain.RuleKind.CONTRACT: _("the organization's contract “%(detail)s” is running and names this policy"),
        domain.RuleKind.ORGANIZATION: _("it is the policy of the organization “%(detail)s”"),
        domain.RuleKind.TIER: _("a rule gives it to organizations of the tier “%(detail)s”"),
        domain.RuleKind.TICKET_TYPE: _("a rule gives it to tickets of the type “%(detail)s”"),
        domain.RuleKind.CHANNEL: _("a rule gives it to tickets that came in by %(detail)s"),
        domain.RuleKind.DEFAULT: _("no other rule matched and it is the desk's default policy"),
    }
    text = texts.get(kind)  # type: ignore[call-overload]
    return text % {"detail": detail} if text else _("the reason was not recorded")


def sla_explanation(ticket: Ticket, *, now: datetime | None = None) -> list[ClockExplanation]:
    """Each current clock of the ticket, explained: policy and rule, calendar, target, start, pauses, due.

    Three queries (clocks, pauses, calendar rows when not cached). Times are shown in the calendar's zone.
    """
    moment = now or timezone.now()
    clocks = list(TicketSLAClock.objects.filter(ticket=ticket).order_by("target", "cycle"))
    current = {c.target: c for c in clocks}  # the last cycle of each target
    if not current:
        return []
    pauses = list(SLAPause.objects.filter(ticket=ticket).order_by("started_at", "id"))
    configs = policy_configs(c.policy_id for c in current.values())
    result = []
    for target in Target:
        clock = current.get(target.value)
        if clock is None:
            continue
        config = configs.get(clock.policy_id) if clock.policy_id else None
        calendar = config.calendar if config else domain.no_calendar()
        result.append(_explain(clock, calendar, pauses, moment))
    return result


def _explain(clock: TicketSLAClock, calendar: Calendar, pauses: Sequence[SLAPause], now: datetime) -> ClockExplanation:
    zone = clock.time_zone or "UTC"
    finish = clock.stopped_at if clock.state not in OPEN_STATES else None
    intervals = domain.clip_pauses(
        (domain.Interval(p.started_at, p.ended_at) for p in pauses), clock.started_at, finish
    )
    until = finish or now
    pause_lines = []
    for pause in pauses:
        span = domain.clip_pauses([domain.Interval(pause.started_at, pause.ended_at)], clock.started_at, finish)
        if not span:
            continue
        end = span[0].end or until
        pause_lines.append(
            PauseLine(pause.status, span[0].start, span[0].end, business_time_between(calendar, span[0].start, end))
        )
    used = domain.counted_time(calendar, clock.started_at, until, intervals)
    target = timedelta(minutes=clock.target_minutes)
    remaining = max(timedelta(0), target - used) if clock.state in OPEN_STATES else None
    label = target_label(clock.target)
    fmt = {"target": label, "zone": zone}
    lines = []
    if clock.state == SLAClockState.RUNNING:
        lines.append(_("%(target)s due %(due)s (%(zone)s).") % {**fmt, "due": _local(clock.due_at, zone)})
    elif clock.state == SLAClockState.PAUSED:
        lines.append(
            _("%(target)s is paused with %(left)s of business time left.")
            % {**fmt, "left": domain.format_duration(remaining or timedelta(0))}
        )
    elif clock.state == SLAClockState.MET:
        lines.append(
            _("%(target)s met %(met)s, %(verdict)s.")
            % {**fmt, "met": _local(clock.met_at, zone), "verdict": _("late") if clock.breached_at else _("in time")}
        )
    else:
        lines.append(_("%(target)s stopped %(at)s without being met.") % {**fmt, "at": _local(clock.stopped_at, zone)})
    if clock.breached_at:
        lines.append(_("The target was breached at %(at)s.") % {"at": _local(clock.breached_at, zone)})
    lines.append(
        _("Policy “%(policy)s” applies because %(reason)s.")
        % {"policy": clock.policy_name or _("(deleted)"), "reason": _rule_sentence(clock.rule_kind, clock.rule_detail)}
    )
    priority = str(Priority(clock.priority).label) if clock.priority in Priority.values else clock.priority
    lines.append(
        _("Target for %(priority)s priority: %(duration)s of business time.")
        % {"priority": priority, "duration": domain.format_duration(target)}
    )
    hours = domain.weekly_hours_summary(calendar)
    if clock.calendar_name:
        extra = len(calendar.holidays) + len(calendar.yearly_holidays)
        lines.append(
            _("Calendar “%(name)s” (%(zone)s): %(hours)s; %(holidays)s holidays.")
            % {"name": clock.calendar_name, "zone": zone, "hours": hours, "holidays": extra}
        )
    else:
        lines.append(_("No business calendar: the clock counts round the clock (24x7)."))
    started = _local(clock.started_at, zone)
    if clock.target == Target.NEXT_RESPONSE:
        lines.append(_("Started %(at)s by a customer message waiting for an answer.") % {"at": started})
    elif clock.target == Target.RESOLUTION and clock.cycle > 1:
        lines.append(_("Started again %(at)s when the ticket was reopened.") % {"at": started})
    else:
        lines.append(_("Started %(at)s when the ticket was created.") % {"at": started})
    for line in pause_lines:
        lines.append(
            _("Paused %(start)s - %(end)s (%(status)s): %(counted)s of business time not counted.")
            % {
                "start": _local(line.started_at, zone),
                "end": _local(line.ended_at, zone) if line.ended_at else _("now"),
                "status": Status(line.status).label if line.status in Status.values else line.status,
                "counted": domain.format_duration(line.counted_out),
            }
        )
    if remaining is not None:
        lines.append(
            _("Business time used: %(used)s; left: %(left)s.")
            % {"used": domain.format_duration(used), "left": domain.format_duration(remaining)}
        )
    return ClockExplanation(
        target=clock.target, target_label=label, cycle=clock.cycle, state=clock.state,
        policy_name=clock.policy_name, rule_kind=clock.rule_kind, rule_detail=clock.rule_detail,
        calendar_name=clock.calendar_name, time_zone=zone, calendar_hours=hours, priority=clock.priority,
        target_minutes=clock.target_minutes, started_at=clock.started_at, due_at=clock.due_at, met_at=clock.met_at,
        breached_at=clock.breached_at, used=used, remaining=remaining, pauses=tuple(pause_lines),
        lines=tuple(str(line) for line in lines),
    )  # fmt: skip


# --- Reads: breaching soon and compliance -----------------------------------------------------------


def tickets_breaching_soon(
    user: Any, *, within: timedelta = timedelta(hours=2), now: datetime | None = None
) -> QuerySet[Ticket]:
    """The agents' "breaching soon" list: overdue first, then soonest due, each with the target
    (``sla_target``) that falls due first. Walks the ``ticket_sla_due`` index."""
    from tickets import selectors

    first_due = TicketSLAClock.objects.filter(ticket=OuterRef("pk"), state=SLAClockState.RUNNING).order_by(
        "due_at", "target"
    )
    return selectors.tickets_breaching_soon(user, within=within, now=now).annotate(
        sla_target=Subquery(first_due.values("target")[:1])
    )


@dataclass(frozen=True)
class ComplianceRow:
    """Met and breached targets of one group (``key``: the values of the ``group_by`` dimensions)."""

    key: tuple[Any, ...]
    labels: tuple[str, ...]
    target: str
    met: int
    breached: int

    @property
    def total(self) -> int:
        return self.met + self.breached

    @property
    def compliance(self) -> float | None:
        """Share met in time, 0..1; ``None`` when nothing was decided."""
        return self.met / self.total if self.total else None


GROUPS = {
    "organization": ("ticket__organization_id", "ticket__organization__name"),
    "team": ("ticket__team_id", "ticket__team__name"),
    "priority": ("priority", None),
    "period": ("period", None),
}
PERIODS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


def sla_compliance(
    user: Any,
    *,
    since: datetime,
    until: datetime,
    group_by: Sequence[str] = (),
    period: str = "month",
    organization_id: int | None = None,
    team_id: int | None = None,
    priority: str | None = None,
) -> list[ComplianceRow]:
    """SLA compliance of the tickets ``user`` may see: targets met in time and breached, per target and
    per ``group_by`` (any of organization, team, priority, period), for targets decided in
    ``[since, until)``. A target is decided when it was met in time (at ``met_at``) or breached (at
    ``breached_at``, also while still running). Priority is the one the target was measured at; team
    and organization are the ticket's current ones. One query.
    """
    from accounts.domain.permissions import ticket_scope
    from accounts.selectors import principal_for
    from tickets.selectors import _scope_q

    unknown = set(group_by) - GROUPS.keys()
    if unknown or period not in PERIODS:
        raise ValueError(f"Group by {sorted(GROUPS)} and a period of {sorted(PERIODS)}; got {group_by}, {period}.")
    condition = _scope_q(ticket_scope(principal_for(user)), prefix="ticket__")
    if condition is None:
        return []
    qs = TicketSLAClock.objects.filter(condition).annotate(decided_at=Coalesce("breached_at", "met_at"))
    qs = qs.filter(decided_at__gte=since, decided_at__lt=until)
    if organization_id is not None:
        qs = qs.filter(ticket__organization_id=organization_id)
    if team_id is not None:
        qs = qs.filter(ticket__team_id=team_id)
    if priority is not None:
        qs = qs.filter(priority=priority)
    if "period" in group_by:
        qs = qs.annotate(period=PERIODS[period]("decided_at", tzinfo=timezone.get_current_timezone()))
    columns = [column for name in group_by for column in GROUPS[name] if column]
    rows = (
        qs.values(*columns, "target")
        .annotate(
            met=Count("pk", filter=Q(breached_at__isnull=True, met_at__isnull=False)),
            breached=Count("pk", filter=Q(breached_at__isnull=False)),
        )
        .order_by(*columns, "target")
    )
    result = []
    for row in rows:
        key = tuple(row[GROUPS[name][0]] for name in group_by)
        labels = tuple(_group_label(name, row) for name in group_by)
        result.append(ComplianceRow(key, labels, row["target"], row["met"], row["breached"]))
    return result


def _group_label(name: str, row: Mapping[str, Any]) -> str:
    value_column, label_column = GROUPS[name]
    if label_column:
        return row[label_column] or _("(none)")
    value = row[value_column]
    if name == "priority":
        return str(Priority(value).label) if value in Priority.values else str(value)
    return value.date().isoformat() if isinstance(value, datetime) else str(value)
