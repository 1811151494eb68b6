"""Dashboard figures: what the team lead watches, as plain data (dicts and lists, ready for JSON).

Each figure is one aggregate query over the tickets the user may see (``tickets_visible_to``:
admins everything, agents their teams, unrouted tickets and their own), never a query per day:

- ``intake``: tickets created per day and channel, the last ``DAYS`` days.
- ``backlog``: active tickets now, by status and priority.
- ``sla``: targets decided in the last ``DAYS`` days, met in time or breached, per target
  (``tickets.sla.sla_compliance``).
- ``first_response``: of the tickets created each day, the median and 90th percentile of the time
  to the first public agent reply, in wall-clock hours (not business hours: a ticket that comes in
  on Friday evening and is answered on Monday morning counts the whole weekend), and how many
  are still waiting for one.
- ``escalations``: the organizations with the most active tickets that are escalated: a target
  breached or an escalation level fired on an SLA clock that is still running.

Days are calendar days in the user's time zone (their agent profile, else the desk's), today
included. The windows read the ``ticket_created`` index (``created_at``); the figures are cached
per scope, time zone and language for ``CACHE_SECONDS``.
"""

from __future__ import annotations

import hashlib
import zoneinfo
from collections import defaultdict
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Aggregate, Count, Exists, F, FloatField, Func, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.choices import Tier
from accounts.domain.permissions import ticket_scope
from accounts.selectors import UserLike, principal_for
from tickets import selectors
from tickets.choices import ACTIVE_STATUS_VALUES, TICKET_CHANNELS, Priority, Status
from tickets.models import SLAEscalation, TicketSLAClock
from tickets.models.sla import OPEN_CLOCK_STATE_VALUES, SLATargetName
from tickets.sla import sla_compliance

DAYS = 30
CACHE_SECONDS = 60
TOP_ORGANIZATIONS = 10
CACHE_VERSION = 2  # 2: CSAT added


class Percentile(Aggregate):
    """PostgreSQL's ``percentile_cont(p) WITHIN GROUP (ORDER BY expression)``; NULLs are skipped."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("A percentile is a fraction between 0 and 1.")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def _seconds_to_first_response() -> Func:
    return Func(
        F("first_responded_at") - F("created_at"),
        template="EXTRACT(EPOCH FROM %(expressions)s)",
        output_field=FloatField(),
    )


def user_time_zone(user: UserLike) -> tzinfo:
    """The zone the user's days start in: their profile's, else the desk's (``TIME_ZONE``)."""
    name = principal_for(user).time_zone or settings.TIME_ZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def window(zone: tzinfo, now: datetime, days: int = DAYS) -> tuple[list[date], datetime]:
    """The last ``days`` local calendar days (today last) and the instant the first one began."""
    today = now.astimezone(zone).date()
    dates = [today - timedelta(days=days - 1 - i) for i in range(days)]
    return dates, datetime.combine(dates[0], time.min, tzinfo=zone)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


# --- The figures ----------------------------------------------------------------------------------


def intake_by_channel(user: UserLike, *, zone: tzinfo, now: datetime, days: int = DAYS) -> dict[str, Any]:
    dates, start = window(zone, now, days)
    rows = (
        selectors.tickets_visible_to(user)
        .filter(created_at__gte=start, created_at__lte=now)
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day", "channel")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[str, dict[date, int]] = defaultdict(dict)
    for row in rows:
        counts[row["channel"]][row["day"]] = row["n"]
    series = [
        {"key": key, "label": str(label), "data": [counts[key].get(d, 0) for d in dates]}
        for key, label in TICKET_CHANNELS
        if key in counts
    ]
    totals = [sum(s["data"][i] for s in series) for i in range(len(dates))]
    return {
        "days": [d.isoformat() for d in dates],
        "series": series,
        "totals": totals,
        "total": sum(totals),
        "rows": [
            {"day": d.isoformat(), "counts": [s["data"][i] for s in series], "total": totals[i]}
            for i, d in enumerate(dates)
        ],
    }


def backlog_by_status(user: UserLike) -> dict[str, Any]:
    rows = (
        selectors.tickets_visible_to(user)
        .filter(status__in=ACTIVE_STATUS_VALUES)
        .values("status", "priority")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {(row["status"], row["priority"]): row["n"] for row in rows}
    statuses = [Status(s) for s in ACTIVE_STATUS_VALUES]
    priorities = [Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW]
    series = [
        {"key": p.value, "label": str(p.label), "data": [counts.get((s.value, p.value), 0) for s in statuses]}
        for p in priorities
    ]
    totals = [sum(counts.get((s.value, p.value), 0) for p in priorities) for s in statuses]
    return {
        "statuses": [{"key": s.value, "label": str(s.label)} for s in statuses],
        "series": series,
        "totals": totals,
        "total": sum(totals),
        "rows": [
            {"status": str(s.label), "key": s.value, "counts": [x["data"][i] for x in series], "total": totals[i]}
            for i, s in enumerate(statuses)
        ],
    }


def sla_by_target(user: UserLike, *, zone: tzinfo, now: datetime, days: int = DAYS) -> dict[str, Any]:
    _dates, start = window(zone, now, days)
    by_target = {row.target: row for row in sla_compliance(user, since=start, until=now)}
    targets = []
    for target in SLATargetName:
        row = by_target.get(target.value)
        met, breached = (row.met, row.breached) if row else (0, 0)
        total = met + breached
        targets.append(
            {
                "key": target.value,
                "label": str(target.label),
                "met": met,
                "breached": breached,
                "total": total,
                "compliance": round(100 * met / total, 1) if total else None,
            }
        )
    return {"targets": targets, "total": sum(t["total"] for t in targets)}


def first_response_times(user: UserLike, *, zone: tzinfo, now: datetime, days: int = DAYS) -> dict[str, Any]:
    dates, start = window(zone, now, days)
    scoped = selectors.tickets_visible_to(user).filter(created_at__gte=start, created_at__lte=now)
    per_day: dict[date, dict[str, Any]] = {}
    if connection.vendor == "postgresql":
        rows = (
            scoped.annotate(day=TruncDate("created_at", tzinfo=zone))
            .values("day")
            .annotate(
                answered=Count("id", filter=Q(first_responded_at__isnull=False)),
                waiting=Count("id", filter=Q(first_responded_at__isnull=True, status__in=ACTIVE_STATUS_VALUES)),
                median=Percentile(_seconds_to_first_response(), 0.5),
                p90=Percentile(_seconds_to_first_response(), 0.9),
            )
            .order_by()
        )
        per_day = {row["day"]: row for row in rows}
    else:  # SQLite (demo): the same figures in Python
        samples: dict[date, list[float]] = defaultdict(list)
        waiting: dict[date, int] = defaultdict(int)
        for created, responded, status in scoped.values_list("created_at", "first_responded_at", "status"):
            day = created.astimezone(zone).date()
            if responded is not None:
                samples[day].append((responded - created).total_seconds())
            elif status in ACTIVE_STATUS_VALUES:
                waiting[day] += 1
        for day in set(samples) | set(waiting):
            values = sorted(samples.get(day, []))
            per_day[day] = {
                "answered": len(values),
                "waiting": waiting.get(day, 0),
                "median": _percentile(values, 0.5),
                "p90": _percentile(values, 0.9),
            }
    empty: dict[str, Any] = {"answered": 0, "waiting": 0, "median": None, "p90": None}
    rows_out = []
    for d in dates:
        row = per_day.get(d, empty)
        rows_out.append(
            {
                "day": d.isoformat(),
                "answered": row["answered"],
                "waiting": row["waiting"],
                "median": _hours(row["median"]),
                "p90": _hours(row["p90"]),
            }
        )
    return {
        "unit": "wall_hours",
        "days": [r["day"] for r in rows_out],
        "median": [r["median"] for r in rows_out],
        "p90": [r["p90"] for r in rows_out],
        "answered": [r["answered"] for r in rows_out],
        "waiting": [r["waiting"] for r in rows_out],
        "rows": rows_out,
    }


def _percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks of sorted ``values``, like ``percentile_cont``."""
    if not values:
        return None
    position = fraction * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def escalated_organizations(user: UserLike, *, limit: int = TOP_ORGANIZATIONS) -> dict[str, Any]:
    """Read from the open clocks of active tickets (a small set whatever the history): the ones
    breached, or with an escalation level fired, counted once per ticket."""
    condition = selectors._scope_q(ticket_scope(principal_for(user)), prefix="ticket__")
    if condition is None:
        return {"organizations": []}
    fired = SLAEscalation.objects.filter(clock=OuterRef("pk"), fired_at__isnull=False)
    breached = Q(breached_at__isnull=False)
    rows = (
        TicketSLAClock.objects.filter(
            condition,
            state__in=OPEN_CLOCK_STATE_VALUES,
            ticket__status__in=ACTIVE_STATUS_VALUES,
            ticket__organization__isnull=False,
        )
        .filter(breached | Exists(fired))
        .values("ticket__organization_id", "ticket__organization__name", "ticket__organization__tier")
        .annotate(
            escalated=Count("ticket_id", distinct=True),
            breached=Count("ticket_id", distinct=True, filter=breached),
        )
        .order_by("-escalated", "-breached", "ticket__organization__name", "ticket__organization_id")[:limit]
    )
    tiers = dict(Tier.choices)
    organizations = [
        {
            "id": row["ticket__organization_id"],
            "name": row["ticket__organization__name"],
            "tier": str(tiers.get(row["ticket__organization__tier"], row["ticket__organization__tier"])),
            "escalated": row["escalated"],
            "breached": row["breached"],
        }
        for row in rows
    ]
    return {"organizations": organizations}


# --- All of it, cached ------------------------------------------------------------------------------


def scope_key(user: UserLike, zone: tzinfo) -> str:
    """Who sees the same figures: the same ticket scope, time zone and language."""
    scope = ticket_scope(principal_for(user))
    parts = [
        "all" if scope.everything else "",
        ",".join(str(t) for t in sorted(scope.team_ids)),
        "u" if scope.unrouted else "",
        str(scope.assignee_id or ""),
        str(zone),
        translation.get_language() or "",
    ]
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
    return f"desk:dashboard:v{CACHE_VERSION}:{digest}"


def dashboard_figures(user: UserLike, *, now: datetime | None = None, use_cache: bool = True) -> dict[str, Any]:
    """Every figure of the dashboard for ``user``; from the cache when computed in the last minute."""
    zone = user_time_zone(user)
    key = scope_key(user, zone)
    if use_cache and now is None:
        cached = cache.get(key)
        if cached is not None:
            return cached
    moment = now or timezone.now()
    scope = ticket_scope(principal_for(user))
    figures = {
        "generated_at": moment.isoformat(),
        "time_zone": str(zone),
        "days": DAYS,
        "scope": "all" if scope.everything else "visible",
        "intake": intake_by_channel(user, zone=zone, now=moment),
        "backlog": backlog_by_status(user),
        "sla": sla_by_target(user, zone=zone, now=moment),
        "first_response": first_response_times(user, zone=zone, now=moment),
        "escalations": escalated_organizations(user),
        "csat": csat_by_agent_and_team(user, zone=zone, now=moment),
    }
    if use_cache and now is None:
        cache.set(key, figures, CACHE_SECONDS)
    return figures


def chart_labels() -> dict[str, str]:
    """Words dashboard.js puts on the charts, translated here."""
    return {
        "tickets": _("Tickets"),
        "met": _("Met"),
        "breached": _("Breached"),
        "compliance": _("Compliance"),
        "median": _("Median"),
        "p90": _("90th percentile"),
        "hours": _("Hours"),
        "escalated": _("Escalated tickets"),
        "breachedTickets": _("Of these breached"),
        "noData": _("No data in this period."),
    }


# --- CSAT ---------------------------------------------------------------------------------------------


def csat_by_agent_and_team(user: UserLike, *, zone: tzinfo, now: datetime, days: int = DAYS) -> dict[str, Any]:
    """Satisfaction answers of the last ``days`` days by agent and team (``tickets.csat``, one query)."""
    from tickets import csat

    _dates, start = window(zone, now, days)
    figures = csat.csat_by_agent_and_team(user, since=start, until=now)
    unnamed = {"agents": _("No agent"), "teams": _("No team")}
    for kind in ("agents", "teams"):
        for row in figures[kind]:
            row["name"] = row["name"] or str(unnamed[kind])
    return figures
