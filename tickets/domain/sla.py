"""SLA rules: which policy applies to a ticket, and where its clocks stand. Pure, no Django.

A ticket has up to three clocks (first response, next response, resolution). Each clock counts the
business time of its policy's calendar from ``started_at``, leaving out the intervals in which the
ticket waited on the customer or was on hold (pauses), until its target is met. Everything a due
date depends on is an input here, so a due date is always recomputed from scratch:

    due = the instant at which business time counted since ``started_at``, minus pauses, reaches the target

That one definition covers a fresh clock, a clock resumed after a pause (it continues with the time
that was left), a priority or policy change midway (new target, same start, same elapsed time) and a
calendar change. Escalation levels are the same computation at a share of the target (75 %, 100 %,
150 %).

Policy selection is a fixed order of rules, the first match wins: an active contract of the
organization with a policy, the organization's own policy, tier rules, ticket-type rules, channel
rules (each kind in the order of its rules' positions), else the desk's default policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from tickets.domain.business_time import (
    MINUTES_PER_DAY,
    TWENTY_FOUR_SEVEN,
    Calendar,
    add_business_time,
    business_time_between,
)

__all__ = [
    "BREACH_PERCENT",
    "ClockEvaluation",
    "ClockState",
    "ContractFacts",
    "EscalationKind",
    "Interval",
    "LevelSpec",
    "PolicyChoice",
    "RuleKind",
    "SelectionRule",
    "Target",
    "TicketFacts",
    "build_calendar",
    "clip_pauses",
    "counted_time",
    "escalation_kind",
    "evaluate_clock",
    "format_duration",
    "percent_of",
    "select_policy",
    "threshold_moments",
    "thresholds_for",
    "weekly_hours_summary",
]

BREACH_PERCENT = 100


class Target(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    # Stopped without being met: solved without a reply, or the target no longer applies.
    CANCELLED = "cancelled"


OPEN_CLOCK_STATES: frozenset[ClockState] = frozenset({ClockState.RUNNING, ClockState.PAUSED})


class RuleKind(StrEnum):
    CONTRACT = "contract"
    ORGANIZATION = "organization"
    TIER = "tier"
    TICKET_TYPE = "ticket_type"
    CHANNEL = "channel"
    DEFAULT = "default"


# The kinds of configurable rules, in the order they are tried.
RULE_ORDER: tuple[RuleKind, ...] = (RuleKind.TIER, RuleKind.TICKET_TYPE, RuleKind.CHANNEL)


class EscalationKind(StrEnum):
    WARNING = "warning"
    BREACH = "breach"
    ESCALATION = "escalation"


def escalation_kind(percent: int) -> EscalationKind:
    if percent < BREACH_PERCENT:
        return EscalationKind.WARNING
    if percent == BREACH_PERCENT:
        return EscalationKind.BREACH
    return EscalationKind.ESCALATION


# --- Policy selection ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractFacts:
    id: int
    name: str
    policy_id: int | None
    starts_on: date
    ends_on: date | None

    def is_active_on(self, day: date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)


@dataclass(frozen=True)
class TicketFacts:
    """What policy selection looks at. ``tier`` is empty for a ticket without an organization (B2C)."""

    channel: str
    type_id: int | None = None
    type_name: str = ""
    organization_id: int | None = None
    organization_name: str = ""
    organization_policy_id: int | None = None
    tier: str = ""
    contracts: tuple[ContractFacts, ...] = ()


@dataclass(frozen=True)
class SelectionRule:
    """A configurable rule: tickets of this tier / type / channel get ``policy_id``."""

    id: int
    position: int
    kind: RuleKind
    policy_id: int
    tier: str = ""
    type_id: int | None = None
    channel: str = ""

    def matches(self, facts: TicketFacts) -> bool:
        if self.kind is RuleKind.TIER:
            return bool(facts.tier) and self.tier == facts.tier
        if self.kind is RuleKind.TICKET_TYPE:
            return facts.type_id is not None and self.type_id == facts.type_id
        if self.kind is RuleKind.CHANNEL:
            return bool(self.channel) and self.channel == facts.channel
        return False


@dataclass(frozen=True)
class PolicyChoice:
    """The policy that applies and why: the rule kind, what it matched on (for the explanation)."""

    policy_id: int
    kind: RuleKind
    detail: str = ""
    ref_id: int | None = None


def select_policy(
    facts: TicketFacts, rules: Iterable[SelectionRule], default_policy_id: int | None, on: date
) -> PolicyChoice | None:
    """The first matching rule's policy; ``None`` when nothing matches and the desk has no default."""
    # Several running contracts with a policy: the one that started last wins.
    running = sorted(
        (c for c in facts.contracts if c.is_active_on(on)), key=lambda c: (c.starts_on, c.id), reverse=True
    )
    for contract in running:
        if contract.policy_id is not None:
            return PolicyChoice(contract.policy_id, RuleKind.CONTRACT, contract.name, contract.id)
    if facts.organization_policy_id is not None:
        return PolicyChoice(
            facts.organization_policy_id, RuleKind.ORGANIZATION, facts.organization_name, facts.organization_id
        )
    ordered = sorted(
        (r for r in rules if r.kind in RULE_ORDER), key=lambda r: (RULE_ORDER.index(r.kind), r.position, r.id)
    )
    for rule in ordered:
        if rule.matches(facts):
            detail = {
                RuleKind.TIER: facts.tier,
                RuleKind.TICKET_TYPE: facts.type_name,
                RuleKind.CHANNEL: facts.channel,
            }[rule.kind]
            return PolicyChoice(rule.policy_id, rule.kind, detail, rule.id)
    if default_policy_id is not None:
        return PolicyChoice(default_policy_id, RuleKind.DEFAULT)
    return None


# --- Calendars ----------------------------------------------------------------------------------


def build_calendar(
    *,
    time_zone: str,
    always_open: bool,
    hours: Iterable[tuple[int, int, int]],
    holidays: Iterable[tuple[date, bool]] = (),
) -> Calendar:
    """A :class:`Calendar` from stored rows: ``(weekday, start_minute, end_minute)`` and ``(date, yearly)``.

    Touching or overlapping ranges of one weekday are merged, so an admin who types 08:00-12:00 and
    12:00-18:00 gets one stretch. Raises :class:`~tickets.domain.business_time.CalendarError`.
    """
    by_day: dict[int, list[tuple[int, int]]] = {}
    for weekday, start, end in hours:
        by_day.setdefault(weekday, []).append((start, end))
    week: dict[int, tuple[tuple[int, int], ...]] = {}
    for weekday, ranges in by_day.items():
        merged: list[tuple[int, int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        week[weekday] = tuple(merged)
    days = list(holidays)
    return Calendar(
        time_zone=time_zone,
        weekly_hours=week,
        holidays=frozenset(day for day, is_yearly in days if not is_yearly),
        yearly_holidays=frozenset((day.month, day.day) for day, is_yearly in days if is_yearly),
        always_open=always_open,
    )


WEEKDAY_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _clock_text(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def weekly_hours_summary(cal: Calendar) -> str:
    """``Mon-Fri 09:00-17:00, Sat 10:00-14:00`` (consecutive days with the same hours grouped), or ``24x7``."""
    if cal.always_open:
        return "24x7"
    groups: list[tuple[int, int, tuple[tuple[int, int], ...]]] = []
    for weekday in range(7):
        ranges = tuple(cal.weekly_hours.get(weekday, ()))
        if not ranges:
            continue
        if groups and groups[-1][1] == weekday - 1 and groups[-1][2] == ranges:
            groups[-1] = (groups[-1][0], weekday, ranges)
        else:
            groups.append((weekday, weekday, ranges))
    parts = []
    for first, last, ranges in groups:
        days = WEEKDAY_ABBREVIATIONS[first] + (f"-{WEEKDAY_ABBREVIATIONS[last]}" if last != first else "")
        hours = ", ".join(f"{_clock_text(s)}-{_clock_text(e)}" for s, e in ranges)
        parts.append(f"{days} {hours}")
    return "; ".join(parts)


def format_duration(value: timedelta) -> str:
    """``2 d 3 h 5 min`` style, to the minute (rounded down); ``0 min`` for less than a minute."""
    minutes = max(0, int(value.total_seconds()) // 60)
    days, rest = divmod(minutes, MINUTES_PER_DAY)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes or not parts:
        parts.append(f"{minutes} min")
    return " ".join(parts)


# --- Clocks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A pause: ``[start, end)``, open-ended (``end`` None) while it lasts."""

    start: datetime
    end: datetime | None = None


def clip_pauses(pauses: Iterable[Interval], start: datetime, finish: datetime | None = None) -> list[Interval]:
    """The pauses that matter to a clock running from ``start`` (until ``finish``), sorted and merged.

    Parts before ``start`` or after ``finish`` are cut off. A pause still open at ``finish`` stays open:
    a clock met while paused is judged by the time it had left when the pause began.
    """
    clipped: list[Interval] = []
    for pause in sorted(pauses, key=lambda p: p.start):
        begin = max(pause.start, start)
        end = pause.end
        if finish is not None:
            if begin >= finish:
                continue
            if end is not None and end > finish:
                end = finish
        if end is not None and end <= begin:
            continue
        if clipped and (clipped[-1].end is None or begin <= clipped[-1].end):
            last = clipped[-1]
            merged_end = None if last.end is None or end is None else max(last.end, end)
            clipped[-1] = Interval(last.start, merged_end)
        else:
            clipped.append(Interval(begin, end))
    return clipped


def _running_segments(start: datetime, pauses: Sequence[Interval]) -> Iterator[tuple[datetime, datetime | None]]:
    """The stretches in which the clock runs: up to the first pause, between pauses, after the last."""
    begin: datetime | None = start
    for pause in pauses:
        if begin is not None and pause.start > begin:
            yield begin, pause.start
        begin = pause.end
        if begin is None:
            return
    if begin is not None:
        yield begin, None


def percent_of(target: timedelta, percent: int) -> timedelta:
    """``percent`` % of ``target``, exact to the microsecond (rounded down)."""
    micros = (target.days * 86_400 + target.seconds) * 1_000_000 + target.microseconds
    return timedelta(microseconds=micros * percent // 100)


def threshold_moments(
    cal: Calendar, start: datetime, thresholds: Sequence[timedelta], pauses: Sequence[Interval]
) -> list[datetime | None]:
    """For each threshold, the instant at which counted business time reaches it; ``None`` if it is not
    reached before a pause that is still open (it depends on when the pause ends).

    ``pauses`` must come from :func:`clip_pauses`. One walk over the running stretches answers all.
    """
    order = sorted(range(len(thresholds)), key=lambda i: thresholds[i])
    result: list[datetime | None] = [None] * len(thresholds)
    counted = timedelta(0)
    pending = list(order)
    for begin, end in _running_segments(start, pauses):
        if not pending:
            break
        if end is None:
            for i in pending:
                result[i] = add_business_time(cal, begin, thresholds[i] - counted)
            pending = []
            break
        length = business_time_between(cal, begin, end)
        while pending and thresholds[pending[0]] - counted <= length:
            i = pending.pop(0)
            # Zero left: the threshold was reached exactly at ``begin`` (or at the previous pause).
            result[i] = add_business_time(cal, begin, thresholds[i] - counted)
        counted += length
    return result


def counted_time(cal: Calendar, start: datetime, until: datetime, pauses: Sequence[Interval]) -> timedelta:
    """Business time counted by a clock from ``start`` up to ``until``, pauses left out."""
    total = timedelta(0)
    for begin, end in _running_segments(start, pauses):
        if begin >= until:
            break
        stop = until if end is None else min(end, until)
        total += business_time_between(cal, begin, stop)
    return total


@dataclass(frozen=True)
class LevelSpec:
    """An escalation level as far as timing goes: at ``percent`` of the target (``target`` None: every target)."""

    percent: int
    target: Target | None = None


def thresholds_for(target: Target, levels: Iterable[LevelSpec], warning_percent: int | None) -> tuple[int, ...]:
    """The shares of the target at which a clock escalates, ascending; always includes the breach (100 %).

    Levels configured for the target (or for every target) are used as they are; without any, the
    policy's warning share (for example 75 %) and the breach apply.
    """
    configured = {level.percent for level in levels if level.target is None or level.target == target}
    if not configured and warning_percent:
        configured = {warning_percent}
    return tuple(sorted(configured | {BREACH_PERCENT}))


@dataclass(frozen=True)
class ClockEvaluation:
    """Where a clock stands.

    ``due_at``: when the target falls (or fell) due; ``None`` while paused before reaching it.
    ``remaining``: business time left when paused (zero when already breached); ``None`` otherwise.
    ``breached_at``: the instant the target was missed, once that lies at or before ``now`` (or before
    the clock was met). ``escalations``: (percent, instant) for every share whose instant is known;
    empty for a finished clock.
    """

    state: ClockState
    due_at: datetime | None
    remaining: timedelta | None
    breached_at: datetime | None
    escalations: tuple[tuple[int, datetime], ...] = field(default=())


def evaluate_clock(
    cal: Calendar,
    *,
    started_at: datetime,
    target: timedelta,
    pauses: Iterable[Interval],
    now: datetime,
    percents: Sequence[int] = (BREACH_PERCENT,),
    met_at: datetime | None = None,
    cancelled_at: datetime | None = None,
) -> ClockEvaluation:
    """Evaluate one clock. ``pauses`` are the ticket's pauses (any, they are clipped here)."""
    finish = met_at or cancelled_at
    clipped = clip_pauses(pauses, started_at, finish)
    paused = bool(clipped) and clipped[-1].end is None
    shares = sorted(set(percents) | {BREACH_PERCENT})
    moments = threshold_moments(cal, started_at, [percent_of(target, p) for p in shares], clipped)
    due_at = moments[shares.index(BREACH_PERCENT)]
    decided = finish or now
    breached_at = due_at if due_at is not None and (due_at < decided if finish else due_at <= decided) else None
    remaining: timedelta | None = None
    if paused:
        used = counted_time(cal, started_at, clipped[-1].start, clipped)
        remaining = max(timedelta(0), target - used)
    if finish is not None:
        state = ClockState.MET if met_at is not None else ClockState.CANCELLED
        return ClockEvaluation(state, due_at, remaining, breached_at)
    escalations = tuple((p, m) for p, m in zip(shares, moments, strict=True) if m is not None)
    state = ClockState.PAUSED if paused else ClockState.RUNNING
    return ClockEvaluation(state, due_at, remaining, breached_at, escalations)


def no_calendar() -> Calendar:
    """A policy without a calendar counts round the clock."""
    return TWENTY_FOUR_SEVEN


def targets_by_name(minutes: Mapping[str, int | None]) -> dict[Target, timedelta]:
    """``{"first_response": 60, ...}`` -> ``{Target.FIRST_RESPONSE: 1 h}``, leaving out empty targets."""
    return {Target(name): timedelta(minutes=value) for name, value in minutes.items() if value}
