"""SLA timers at scale: one escalation sweep over a million open tickets, and recomputing due dates after
a calendar change.

Fixture (not timed): open tickets with a running first-response clock and its two pending escalations
(75 %, 100 %), written with ``INSERT ... SELECT generate_series`` (``BENCH_SLA_TICKETS``, default
1,000,000). Then 1,000 of them are made due and one :func:`tickets.sla.sla_sweep` is timed: it finds
them with the partial index on pending escalations, locks them, notifies the assignee, writes the
timeline events and marks them fired. The sweep is timed twice, at a tenth of the tickets and at all of
them, to show that its cost does not grow with the tickets that are not due (target: under 1 s).

Recomputation: 10,000 open tickets on a second calendar (two clocks each, a fifth with a pause) get a
holiday; :func:`tickets.sla.sla_recompute_for` recomputes their clocks, escalations and ticket columns.

The bench's calendars and policies are removed afterwards (the other scenarios run without an SLA).
"""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta
from datetime import time as clock_time

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench import db, fixtures
from bench.registry import Context, Result
from tickets import sla
from tickets.models import BusinessCalendar, BusinessHours, Holiday, SLAPolicy, SLATarget, Ticket

NAME = "sla"
DEFAULT_TICKETS = 1_000_000
DUE = 1_000
RECOMPUTE = 10_000
TARGET_SECONDS = 1.0


def run(context: Context) -> list[Result]:
    total = int(os.environ.get("BENCH_SLA_TICKETS", DEFAULT_TICKETS))
    people = fixtures.people(customers=10)
    db.truncate_ticket_tables()
    sweep_policy, recompute_policy = _configuration()
    try:
        now = timezone.now()
        tenth = max(total // 10, 2 * DUE)
        began = time.perf_counter()
        _fill(people, sweep_policy, tenth, now)
        small = _timed_sweep(now, seed=0)
        _fill(people, sweep_policy, total - tenth, now)
        fill_seconds = time.perf_counter() - began
        big = _timed_sweep(now, seed=1)
        queries = _sweep_queries(now)
        ids = _fill_recompute(people, recompute_policy, now)
        recompute_seconds, moved = _timed_recompute(recompute_policy, ids, now)
    finally:
        db.truncate_ticket_tables()
        SLAPolicy.objects.filter(pk__in=[sweep_policy.pk, recompute_policy.pk]).delete()
        BusinessCalendar.objects.filter(name__startswith="Bench ").delete()
    return [
        Result(NAME, "fixture", total + RECOMPUTE, "tickets", f"{fill_seconds:,.0f} s of INSERT ... SELECT, not timed"),
        Result(NAME, f"sweep at {tenth:,}", small[0], "s", f"{small[1]:,} escalations fired, notified and recorded"),
        Result(NAME, f"sweep at {total:,}", big[0], "s", f"{big[1]:,} fired; constant if close to the line above"),
        Result(NAME, "sweep queries", queries, "per sweep", "one batch of 100 due escalations (then one empty look)"),
        Result(NAME, "sweep target met", "yes" if max(small[0], big[0]) < TARGET_SECONDS else "no", "", "under 1 s"),
        Result(NAME, "recompute", recompute_seconds, "s", f"{len(ids):,} tickets after a calendar change"),
        Result(NAME, "recompute rate", len(ids) / recompute_seconds, "tickets/s", f"{moved:,} due dates moved"),
    ]


# --- Configuration --------------------------------------------------------------------------------


def _calendar(name: str, opens: int, closes: int) -> BusinessCalendar:
    calendar = BusinessCalendar.objects.create(name=name, time_zone="Europe/Berlin")
    BusinessHours.objects.bulk_create(
        BusinessHours(calendar=calendar, weekday=day, opens_at=clock_time(opens), closes_at=clock_time(closes))
        for day in range(5)
    )
    return calendar


def _configuration() -> tuple[SLAPolicy, SLAPolicy]:
    BusinessCalendar.objects.filter(name__startswith="Bench ").delete()  # left over by a crashed run
    policies = []
    for name, calendar in (
        ("Bench sweep", _calendar("Bench office", 9, 17)),
        ("Bench recompute", _calendar("Bench long days", 8, 18)),
    ):
        SLAPolicy.objects.filter(name=name).delete()
        policy = SLAPolicy.objects.create(name=name, calendar=calendar)
        SLATarget.objects.create(
            policy=policy, priority="normal", first_response_minutes=240, next_response_minutes=120,
            resolution_minutes=960,
        )  # fmt: skip
        policies.append(policy)
    return policies[0], policies[1]


# --- Fixture --------------------------------------------------------------------------------------

TICKETS_SQL = """
INSERT INTO tickets_ticket (subject, status, priority, channel, requester_id, assignee_id, team_id, custom_fields,
                            sla_policy_id, first_response_due_at, resolution_due_at, sla_due_at, created_at, updated_at)
SELECT 'SLA bench ' || g, 'open', 'normal', 'email', %(requester)s, %(assignee)s, %(team)s, '{}'::jsonb,
       %(policy)s, %(due)s + g * interval '1 second', %(resolution)s, %(due)s + g * interval '1 second',
       %(created)s - (g %% 86400) * interval '1 second', %(created)s
FROM generate_series(1, %(count)s) AS g
"""

CLOCKS_SQL = """
INSERT INTO tickets_ticketslaclock (ticket_id, target, cycle, state, policy_id, policy_name, rule_kind, rule_detail,
                                    calendar_name, time_zone, priority, target_minutes, started_at, due_at, updated_at)
SELECT t.id, c.target, 1, 'running', t.sla_policy_id, %(policy_name)s, 'default', '', %(calendar)s, 'Europe/Berlin',
       'normal', c.minutes, t.created_at, CASE c.target WHEN 'resolution' THEN t.resolution_due_at
                                                      ELSE t.first_response_due_at END, t.created_at
FROM tickets_ticket t CROSS JOIN (VALUES ('first_response', 240), ('resolution', 960)) AS c(target, minutes)
WHERE t.id > %(after)s AND (c.target = 'first_response' OR %(both)s)
"""

ESCALATIONS_SQL = """
INSERT INTO tickets_slaescalation (ticket_id, clock_id, target, percent, due_at, outcome)
SELECT c.ticket_id, c.id, c.target, p.percent,
       c.due_at - CASE p.percent WHEN 75 THEN c.target_minutes * interval '15 seconds' ELSE interval '0' END, ''
FROM tickets_ticketslaclock c CROSS JOIN (VALUES (75), (100)) AS p(percent)
WHERE c.ticket_id > %(after)s
"""


def _max_id(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608 - a fixed table name
        return int(cursor.fetchone()[0])


def _fill(people: fixtures.People, policy: SLAPolicy, count: int, now: datetime, *, both: bool = False) -> int:
    """``count`` open tickets whose clocks and escalations all fall due in two days or later."""
    after = _max_id("tickets_ticket")
    params = {
        "requester": people.customers[0].pk,
        "assignee": people.agents[0].pk,
        "team": people.team.pk,
        "policy": policy.pk,
        "due": now + timedelta(days=2),
        "resolution": now + timedelta(days=5),
        "created": now - timedelta(hours=1),
        "count": count,
        "after": after,
        "policy_name": policy.name,
        "calendar": policy.calendar.name if policy.calendar else "",
        "both": both,
    }
    with connection.cursor() as cursor:
        cursor.execute(TICKETS_SQL, params)
        cursor.execute(CLOCKS_SQL, params)
        cursor.execute(ESCALATIONS_SQL, params)
        for table in ("tickets_ticket", "tickets_ticketslaclock", "tickets_slaescalation"):
            cursor.execute(f"ANALYZE {table}")
    return after


def _make_due(now: datetime, count: int, seed: int) -> None:
    """Let the 75 % escalation of ``count`` tickets spread over the table fall due in the last ten minutes
    (picked by a seeded hash of the ticket id among those not fired yet)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE tickets_slaescalation e SET due_at = %(now)s - (e.ticket_id %% 600) * interval '1 second'
            FROM (SELECT ticket_id FROM tickets_slaescalation WHERE percent = 75 AND fired_at IS NULL
                  ORDER BY md5(ticket_id::text || %(seed)s) LIMIT %(count)s) t
            WHERE e.ticket_id = t.ticket_id AND e.percent = 75
            """,
            {"now": now, "seed": str(seed), "count": count},
        )


def _timed_sweep(now: datetime, *, seed: int) -> tuple[float, int]:
    _make_due(now, DUE, seed)
    began = time.perf_counter()
    result = sla.sla_sweep(now=now, batch_size=DUE)
    return time.perf_counter() - began, result.fired


def _sweep_queries(now: datetime) -> int:
    _make_due(now, 100, 2)
    with CaptureQueriesContext(connection) as captured:
        sla.sla_sweep(now=now, batch_size=100)
    return len(captured.captured_queries)


def _fill_recompute(people: fixtures.People, policy: SLAPolicy, now: datetime) -> list[int]:
    after = _fill(people, policy, RECOMPUTE, now, both=True)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO tickets_slapause (ticket_id, status, started_at, ended_at)
            SELECT id, 'pending', created_at + interval '30 minutes', created_at + interval '90 minutes'
            FROM tickets_ticket WHERE id > %s AND id %% 5 = 0
            """,
            [after],
        )
    return list(Ticket.objects.filter(pk__gt=after).values_list("pk", flat=True))


def _timed_recompute(policy: SLAPolicy, ids: list[int], now: datetime) -> tuple[float, int]:
    calendar = policy.calendar
    assert calendar is not None  # noqa: S101 - made with one above
    sla.sla_recompute(ids, at=now)  # the due dates as the calendar says before the change (not timed)
    before = dict(Ticket.objects.filter(pk__in=ids).values_list("pk", "resolution_due_at"))
    tomorrow = timezone.localdate(now) + timedelta(days=1)
    Holiday.objects.create(calendar=calendar, date=date(tomorrow.year, tomorrow.month, tomorrow.day), name="Bench")
    BusinessCalendar.objects.filter(pk=calendar.pk).update(revision=calendar.revision + 1)  # as calendar_changed does
    began = time.perf_counter()
    done = sla.sla_recompute_for(calendar_id=calendar.pk, reselect=False)
    seconds = time.perf_counter() - began
    if done != len(ids):
        raise AssertionError(f"Recomputed {done:,} tickets, expected {len(ids):,}.")
    after = dict(Ticket.objects.filter(pk__in=ids).values_list("pk", "resolution_due_at"))
    return seconds, sum(1 for pk in ids if after[pk] != before[pk])
