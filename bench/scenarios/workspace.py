"""The agent workspace at a million tickets: server time of the first page of each built-in view and of a
ticket page with 50 messages. Target: p95 under 150 ms for every page.

Fixture (not timed): a desk with 1,000,000 tickets, ~2.5 million messages, 2,000 organizations and
220,000 contacts, written set-based by :mod:`bench.seed_million` into its own database, the bench
database's name plus ``_workspace`` (``sd_bench`` -> ``sd_bench_workspace``), so the other scenarios,
which empty their ticket tables, never touch it. A seeded database is reused (only its clock is moved
forward); ``--recreate`` seeds it again, and so does a change of the seed's spec.
``BENCH_WORKSPACE_TICKETS`` sets the size (default 1,000,000), ``BENCH_WORKSPACE_RUNS`` the timed
requests per page (default 30, after 3 warm-ups).

Timed: ``django.test.Client`` in the same process, signed in as (a) an agent of one team (the biggest)
and (b) an admin, requesting ``/desk/views/<key>/`` for every ``tickets.domain.queues.Builtin`` and the
ticket page (``desk:ticket``) of the 50-message ticket. "Server time" is the whole Django stack:
middleware, session and user, view, selectors, template rendering, every SQL query. One extra request
per page counts its SQL queries (with the time PostgreSQL took for them, from the debug cursor);
with ``--profile`` it also prints EXPLAIN (ANALYZE, BUFFERS) of each page's two slowest queries. The
mean CPU time per request (Django plus its PostgreSQL backend, when the server runs on this machine)
is printed next to the wall times: on a busy machine the wall time is mostly waiting for a CPU.
Figures are printed, never judged.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.core.management import call_command
from django.db import connection, connections
from django.db.migrations.exceptions import InconsistentMigrationHistory
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bench import db, seed_million
from bench.registry import Context, Result

NAME = "workspace"
TARGET_MS = 150.0
WARMUPS = 3
DEFAULT_RUNS = 30


@dataclass(frozen=True)
class Timing:
    page: str
    who: str
    p50: float
    p95: float
    max: float
    queries: int
    sql_ms: float
    status: int
    size: int
    cpu_ms: float | None = None
    note: str = ""

    @property
    def measured(self) -> bool:
        return self.status == 200

    @property
    def met(self) -> bool:
        return self.measured and self.p95 < TARGET_MS

    @property
    def verdict(self) -> str:
        return "not measured" if not self.measured else "met" if self.met else "MISSED"


def run(context: Context) -> list[Result]:
    spec = seed_million.SeedSpec(tickets=int(os.environ.get("BENCH_WORKSPACE_TICKETS", seed_million.SeedSpec.tickets)))
    runs = int(os.environ.get("BENCH_WORKSPACE_RUNS", DEFAULT_RUNS))
    # The command line's --recreate (bench.registry.Context has no field for it yet).
    recreate = bool(getattr(context, "recreate", "--recreate" in sys.argv[1:]))
    url = workspace_url(db.database_url())
    with use_database(url):
        marker, fixture_note = _prepare(url, spec, recreate=recreate)
        counts = seed_million.row_counts()
        timings = _measure_all(marker, runs, explain=context.profile)
    print()
    print(_detail(timings, runs))
    return _results(marker, fixture_note, counts, timings, runs)


# --- The database ---------------------------------------------------------------------------------------


def workspace_url(base: str) -> str:
    """The bench database URL with ``_workspace`` appended to the database name (``bench`` kept in it)."""
    override = os.environ.get("BENCH_WORKSPACE_DATABASE_URL")
    if override:
        return override
    parts = urlsplit(base)
    name = parts.path.lstrip("/") or "service_desk_bench"
    name = f"{name}_workspace" if "bench" in name else f"{name}_bench_workspace"
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def use_database(url: str) -> Iterator[None]:
    """Point Django's default connection at another database of the same server for the block."""
    default = connections["default"]
    original = default.settings_dict["NAME"]
    default.close()
    default.settings_dict["NAME"] = db.connection_params(url)["dbname"]
    try:
        yield
    finally:
        default.close()
        default.settings_dict["NAME"] = original


def _prepare(url: str, spec: seed_million.SeedSpec, *, recreate: bool) -> tuple[seed_million.Marker, str]:
    name = db.connection_params(url)["dbname"]
    created = db.ensure_database(url)
    marker = None
    if not created and not recreate:
        try:
            call_command("migrate", verbosity=0)
            marker = seed_million.read_marker()
        except InconsistentMigrationHistory:
            marker = None
    if marker is not None and seed_million.matches(marker, spec):
        gap = seed_million.move_clock(marker)
        return (
            marker,
            f"{name} reused (seeded {marker.seeded_at:%Y-%m-%d %H:%M} in {marker.seconds:,.0f} s; clock +{gap})",
        )
    if not created:
        print(f"   {'recreating' if recreate else 'reseeding (no or another seed)'} {name}", flush=True)
        connections["default"].close()
        db.drop_database(url)
        db.ensure_database(url)
    call_command("migrate", verbosity=0)
    print(f"   seeding {spec.tickets:,} tickets into {name} ...", flush=True)
    marker = seed_million.seed(spec, log=lambda line: print(line, flush=True))
    return marker, f"{name} seeded in {marker.seconds:,.0f} s (INSERT ... SELECT, not timed)"


# --- Measuring ------------------------------------------------------------------------------------------


def _measure_all(marker: seed_million.Marker, runs: int, *, explain: bool = False) -> list[Timing]:
    from django.contrib.auth import get_user_model

    from tickets.domain import queues
    from tickets.models import Ticket

    user_model = get_user_model()
    ticket = Ticket.objects.get(pk=marker.conversation_id)
    pages = [(f"view {view.value}", reverse("desk:view", args=[view.value])) for view in queues.Builtin]
    pages.append(("ticket page (50 messages)", reverse("desk:ticket", args=[ticket.reference])))
    timings = []
    for who, username in (("agent", seed_million.AGENT), ("admin", seed_million.ADMIN)):
        # An allowed host (the test client's "testserver" is not); a failing page is reported, not raised.
        client = Client(SERVER_NAME="localhost", raise_request_exception=False)
        client.force_login(user_model.objects.get(username=username))
        for page, path in pages:
            timings.append(_measure(client, who, page, path, runs, explain=explain))
            print(f"   {who:5} {page:27} p95 {timings[-1].p95:7.1f} ms", flush=True)
    return timings


def _measure(client: Client, who: str, page: str, path: str, runs: int, *, explain: bool = False) -> Timing:
    for _ in range(WARMUPS):
        response = client.get(path)
        if response.status_code != 200:
            error = getattr(response, "exc_info", None)
            reason = f"{error[0].__name__}: {error[1]}" if error else response.reason_phrase
            return Timing(page, who, 0.0, 0.0, 0.0, 0, 0.0, response.status_code, 0, note=reason)
    samples = []
    status = 0
    size = 0
    cpu_before = _cpu_seconds()
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - began) * 1000)
        status, size = response.status_code, len(response.content)
    cpu_after = _cpu_seconds()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    sql_ms = sum(float(q["time"]) for q in captured.captured_queries) * 1000
    if explain:
        _explain_slowest(captured.captured_queries)
    note = "placeholder view (body 'todo')" if response.content.strip() == b"todo" else ""
    samples.sort()
    return Timing(
        page=page,
        who=who,
        p50=statistics.median(samples),
        p95=_percentile(samples, 95),
        max=samples[-1],
        queries=len(captured.captured_queries),
        sql_ms=sql_ms,
        status=status,
        size=size,
        cpu_ms=None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) * 1000 / runs,
        note=note,
    )


def _cpu_seconds() -> float | None:
    """CPU time used so far by this process plus its PostgreSQL backend (when the server runs on this
    machine and /proc shows it): the work a request costs, whatever else the machine is busy with."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return time.process_time() + ticks / os.sysconf("SC_CLK_TCK")


def _explain_slowest(queries: list[dict[str, str]], count: int = 2) -> None:
    """With ``--profile``: EXPLAIN (ANALYZE, BUFFERS) of the slowest SELECTs of a page, to see why it is slow."""
    selects = [q for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    for query in sorted(selects, key=lambda q: float(q["time"]), reverse=True)[:count]:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            plan = "\n".join("        " + row[0] for row in cursor.fetchall())
        print(f"      {float(query['time']) * 1000:.1f} ms: {query['sql'][:200]}...\n{plan}", flush=True)


def _percentile(ordered: list[float], percent: float) -> float:
    """Nearest-rank percentile of sorted samples."""
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]


# --- Reporting ------------------------------------------------------------------------------------------


def _detail(timings: list[Timing], runs: int) -> str:
    lines = [
        f"   workspace pages, {runs} timed requests each after {WARMUPS} warm-ups (ms; target p95 < {TARGET_MS:.0f})",
        f"   {'who':5}  {'page':27} {'p50':>7} {'p95':>7} {'max':>7} {'cpu':>7} {'queries':>7} {'sql ms':>7}"
        "  status  target",
    ]
    for t in timings:
        cpu = "-" if t.cpu_ms is None else f"{t.cpu_ms:.1f}"
        lines.append(
            f"   {t.who:5}  {t.page:27} {t.p50:7.1f} {t.p95:7.1f} {t.max:7.1f} {cpu:>7} {t.queries:7d} {t.sql_ms:7.1f}"
            f"  {t.status:6d}  {t.verdict} {t.note}".rstrip()
        )
    lines.append(
        "   cpu: mean CPU per request of Django plus its PostgreSQL backend; wall times above it include waiting for"
        " the CPU on a busy machine"
    )
    return "\n".join(lines)


def _results(
    marker: seed_million.Marker, fixture_note: str, counts: dict[str, int], timings: list[Timing], runs: int
) -> list[Result]:
    results = [
        Result(
            NAME,
            "fixture",
            counts["tickets"],
            "tickets",
            f"{counts['active']:,} active, {counts['messages']:,} messages, {counts['contacts']:,} contacts, "
            f"{counts['organizations']:,} orgs; {fixture_note}",
        )
    ]
    for t in timings:
        if not t.measured:
            results.append(Result(NAME, f"{t.who} {t.page} p95", "-", "ms", f"not measured: HTTP {t.status}, {t.note}"))
            continue
        cpu = "" if t.cpu_ms is None else f", cpu {t.cpu_ms:.1f}"
        notes = (
            f"p50 {t.p50:.1f}, max {t.max:.1f}{cpu} ms; {t.queries} queries ({t.sql_ms:.1f} ms SQL); {t.verdict}"
            + (f"; {t.note}" if t.note else "")
        )
        results.append(Result(NAME, f"{t.who} {t.page} p95", t.p95, "ms", notes))
    measured = [t for t in timings if t.measured]
    met = sum(t.met for t in measured)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    results.append(
        Result(
            NAME,
            "target met",
            f"{met}/{len(measured)}",
            "pages",
            f"p95 under {TARGET_MS:.0f} ms over {runs} requests"
            + (f"; {len(timings) - len(measured)} not measured" if len(measured) < len(timings) else "")
            + f"; load average {load} on {os.cpu_count()} CPUs",
        )
    )
    return results
