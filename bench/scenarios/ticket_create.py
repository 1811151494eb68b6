"""Opening tickets through the service layer versus plain multi-row INSERTs of the same rows.

Service: ``tickets_create_bulk`` in batches (one transaction each) with its real validation and audit
events. Raw: the same ticket and message rows, column for column, with ``execute_values`` on a plain
psycopg2 connection, one transaction per batch. Generating the input is not timed in either.

The tables start empty and the two paths take turns batch by batch, so both see the same table sizes
and the same load on the machine (a shared box makes back-to-back phases differ by 2x); the tables end
with twice the ticket count. Target: the service within 5x of the raw rate.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import random
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import psycopg2
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from psycopg2.extras import Json, execute_values

from bench import db, fixtures
from bench.registry import Context, Result
from tickets.choices import Channel, MessageKind, Priority, Status
from tickets.models import Message, Ticket, TicketEvent
from tickets.services import NewMessage, NewTicket, tickets_create_bulk

NAME = "ticket_create"
TARGET_RATIO = 5.0
SUBJECTS = ("Printer not working", "Invoice question", "Cannot log in", "Order not delivered", "App crashes")
BODY = "Hello,\n\nsince this morning {what}. Could you please have a look?\n\nThanks,\n{name}"


def run(context: Context) -> list[Result]:
    people = fixtures.people()
    batches = _batch_sizes(context.tickets, context.batch_size)
    start = timezone.now() - timedelta(days=30)

    db.truncate_ticket_tables()
    queries = _warm_up(people, start, context)
    db.truncate_ticket_tables()
    service_seconds, raw_seconds = _time_both(people, batches, start, context.seed)
    counts = _row_counts()
    _check_same_rows()
    db.truncate_ticket_tables()
    if counts["tickets"] != 2 * context.tickets or counts["messages"] != 2 * context.tickets:
        raise AssertionError(f"Expected {context.tickets:,} tickets and messages from each path, found {counts}.")

    results = _results(context, service_seconds, raw_seconds, counts["events"], queries)
    if context.profile:
        print(profile_one_batch(people, start, context))
    return results


# --- Input ------------------------------------------------------------------------------------------


def _batch_sizes(total: int, size: int) -> list[int]:
    return [min(size, total - done) for done in range(0, total, size)]


def _specs(people: fixtures.People, count: int, offset: int, start: datetime, rng: random.Random) -> list[NewTicket]:
    """``count`` realistic one-message tickets; the same seed and offset give the same specs."""
    specs = []
    for n in range(offset, offset + count):
        requester = rng.choice(people.customers)
        at = start + timedelta(seconds=n)
        assignee = rng.choice(people.agents) if rng.random() < 0.5 else None
        subject = rng.choice(SUBJECTS)
        body = BODY.format(what=subject.lower(), name=requester.name)
        specs.append(
            NewTicket(
                subject=f"{subject} (#{n})",
                requester=requester,
                channel=rng.choice((Channel.EMAIL, Channel.WEB, Channel.PORTAL)),
                priority=rng.choices((Priority.LOW, Priority.NORMAL, Priority.HIGH), weights=(2, 6, 2))[0],
                status=Status.OPEN if assignee else Status.NEW,
                team=people.team,
                assignee=assignee,
                messages=[NewMessage(body_text=body, author_contact=requester, created_at=at)],
            )
        )
    return specs


def _batches(people: fixtures.People, sizes: Sequence[int], start: datetime, seed: int) -> Iterator[list[NewTicket]]:
    rng = random.Random(f"bench:{NAME}:{seed}")
    offset = 0
    for size in sizes:
        yield _specs(people, size, offset, start, rng)
        offset += size


# --- Service layer --------------------------------------------------------------------------------


def _warm_up(people: fixtures.People, start: datetime, context: Context) -> int:
    """One untimed batch (caches, connection) that also counts the queries a batch costs."""
    specs = _specs(people, context.batch_size, 10**9, start, random.Random(f"bench:{NAME}:warm-up"))
    with CaptureQueriesContext(connection) as captured:
        tickets_create_bulk(specs)
    return len(captured.captured_queries)


def profile_one_batch(people: fixtures.People, start: datetime, context: Context) -> str:
    """cProfile of one service batch: the functions with the most cumulative time."""
    db.truncate_ticket_tables()
    specs = _specs(people, context.batch_size, 0, start, random.Random(f"bench:{NAME}:profile"))
    profiler = cProfile.Profile()
    profiler.enable()
    tickets_create_bulk(specs)
    profiler.disable()
    db.truncate_ticket_tables()
    out = io.StringIO()
    out.write(f"\ncProfile of one tickets_create_bulk batch of {len(specs):,} tickets (cumulative time):\n")
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    return out.getvalue()


# --- Plain INSERTs ----------------------------------------------------------------------------------


class RawTable:
    """Multi-row INSERT of a model's rows: every concrete column, model defaults where a row says nothing."""

    def __init__(self, model: type[models.Model], *, returning: bool = False) -> None:
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.columns = [f.column for f in fields]
        self.defaults = [self._default(f) for f in fields]
        self.index = {column: i for i, column in enumerate(self.columns)}
        names = ", ".join(f'"{c}"' for c in self.columns)
        self.statement = f'INSERT INTO "{model._meta.db_table}" ({names}) VALUES %s'
        if returning:
            self.statement += ' RETURNING "id"'

    @staticmethod
    def _default(field: models.Field) -> object:
        value = field.get_default() if field.has_default() or not field.null else None
        if isinstance(field, models.JSONField):
            return Json(value if value is not None else {})
        return value

    def row(self, values: dict[str, object]) -> tuple:
        row = list(self.defaults)
        for column, value in values.items():
            row[self.index[column]] = value
        return tuple(row)

    def insert(self, cursor: object, rows: list[tuple], *, page_size: int) -> list[tuple]:
        return execute_values(cursor, self.statement, rows, page_size=page_size, fetch="RETURNING" in self.statement)


def _ticket_values(spec: NewTicket) -> dict[str, object]:
    at = spec.messages[0].created_at
    return {
        "subject": spec.subject,
        "status": spec.status,
        "priority": spec.priority,
        "channel": spec.channel,
        "requester_id": spec.requester.pk,
        "organization_id": spec.requester.organization_id,
        "assignee_id": spec.assignee.pk if spec.assignee else None,
        "team_id": spec.team.pk if spec.team else None,
        "last_customer_message_at": at,
        "created_at": at,
        "updated_at": at,
    }


def _message_values(spec: NewTicket, ticket_id: int) -> dict[str, object]:
    message = spec.messages[0]
    return {
        "ticket_id": ticket_id,
        "kind": MessageKind.REPLY.value,
        "channel": spec.channel,
        "author_contact_id": spec.requester.pk,
        "body_text": message.body_text,
        "created_at": message.created_at,
    }


def _insert_raw(conn: psycopg2.extensions.connection, tables: tuple[RawTable, RawTable], specs: list) -> None:
    tickets, messages = tables
    with conn.cursor() as cursor:
        rows = [tickets.row(_ticket_values(spec)) for spec in specs]
        ids = [row[0] for row in tickets.insert(cursor, rows, page_size=len(rows))]
        rows = [messages.row(_message_values(spec, pk)) for spec, pk in zip(specs, ids, strict=True)]
        messages.insert(cursor, rows, page_size=len(rows))
    conn.commit()


# --- Both, batch by batch ---------------------------------------------------------------------------


def _time_both(people: fixtures.People, sizes: Sequence[int], start: datetime, seed: int) -> tuple[float, float]:
    """Seconds spent in the service and in plain INSERTs, taking turns on the same input batches."""
    tables = (RawTable(Ticket, returning=True), RawTable(Message))
    conn = db.raw_connection()
    service = raw = 0.0
    try:
        for specs in _batches(people, sizes, start, seed):
            began = time.perf_counter()
            tickets_create_bulk(specs)
            service += time.perf_counter() - began
            began = time.perf_counter()
            _insert_raw(conn, tables, specs)
            raw += time.perf_counter() - began
    finally:
        conn.close()
    return service, raw


def _check_same_rows() -> None:
    """Both paths wrote the same values: compare the first ticket and message of each, all but the ids."""
    for model, subject_path, skip in ((Ticket, "subject", {"id"}), (Message, "ticket__subject", {"id", "ticket_id"})):
        columns = [f.attname for f in model._meta.concrete_fields if f.attname not in skip]
        pair = list(model.objects.filter(**{f"{subject_path}__endswith": "(#0)"}).order_by("pk").values(*columns))
        if len(pair) != 2 or pair[0] != pair[1]:
            raise AssertionError(f"Service and raw {model.__name__} rows differ: {pair}")


# --- Report -----------------------------------------------------------------------------------------


def _row_counts() -> dict[str, int]:
    return {
        "tickets": Ticket.objects.count(),
        "messages": Message.objects.count(),
        "events": TicketEvent.objects.count(),
    }


def _results(context: Context, service_seconds: float, raw_seconds: float, events: int, queries: int) -> list[Result]:
    n = context.tickets
    service_rate, raw_rate = n / service_seconds, n / raw_seconds
    ratio = raw_rate / service_rate
    batch = f"batches of {context.batch_size:,}"
    return [
        Result(NAME, "service tickets", n, "tickets", f"{service_seconds:,.1f} s, {batch}, 1 message each"),
        Result(NAME, "service rate", service_rate, "tickets/s", "tickets_create_bulk, one transaction per batch"),
        Result(NAME, "service rows", (2 * n + events) / service_seconds, "rows/s", f"incl. {events:,} audit events"),
        Result(NAME, "service queries", queries, "per batch", f"one warm-up batch of {context.batch_size:,}"),
        Result(NAME, "raw rate", raw_rate, "tickets/s", f"{raw_seconds:,.1f} s, execute_values, {batch}"),
        Result(NAME, "raw rows", 2 * n / raw_seconds, "rows/s", "ticket + message rows"),
        Result(NAME, "raw / service", ratio, "x", f"target <= {TARGET_RATIO:g}x; batches interleaved"),
        Result(NAME, "target met", "yes" if ratio <= TARGET_RATIO else "no", "", "service within 5x of raw INSERTs"),
    ]
