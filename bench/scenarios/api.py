"""The REST API at a million tickets, served by gunicorn (two workers) on 127.0.0.1.

Targets: at least 300 tickets created per second through ``POST /api/v1/tickets/`` (several client
threads at once), and a p95 under 50 ms for the first page of a filtered ticket list.

Fixture (not timed): the workspace scenario's database (the bench database's name plus
``_workspace``: one million tickets seeded by :mod:`bench.seed_million`, reused when present), API
tokens for its admin and for a plain agent. The tickets this scenario creates are deleted again at the
end, so the seeded database stays as it was.

Timed, over HTTP from this process (urllib3, keep-alive):
- creates: ``BENCH_API_CREATE_THREADS`` threads (default 8) posting ``BENCH_API_CREATES`` tickets
  (default 2,000) with the admin's token, each for an existing contact; tickets per second over the
  whole run, and the p50 / p95 of one request;
- lists: ``BENCH_API_LIST_RUNS`` (default 100, after 5 warm-ups) sequential requests of the first page
  (50 tickets) of several filtered lists, as the admin and as the agent; p50 / p95 each.

gunicorn runs with ``-w 2 --threads 4`` (``BENCH_API_GUNICORN_ARGS`` to change), DEBUG off, the API
throttles lifted (a benchmark is one client), Celery's broker in memory. Figures are printed, never
judged; the creates also report the CPU time the gunicorn workers spent per create and the load average,
since on a shared machine the rate alone moves with everyone else's work.
"""

from __future__ import annotations

import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import urllib3

from bench import db, seed_million
from bench.registry import Context, Result
from bench.scenarios import workspace

NAME = "api"
CREATE_TARGET = 300.0
LIST_TARGET_MS = 50.0
SUBJECT_MARK = "bench-api "


def run(context: Context) -> list[Result]:
    spec = seed_million.SeedSpec(tickets=int(os.environ.get("BENCH_WORKSPACE_TICKETS", seed_million.SeedSpec.tickets)))
    recreate = "--recreate" in sys.argv[1:]
    url = workspace.workspace_url(db.database_url())
    with workspace.use_database(url):
        marker, fixture_note = workspace._prepare(url, spec, recreate=recreate)
        _settle()
        tokens, contacts, filters = _fixture()
        server = _Gunicorn(url)
        try:
            server.start()
            # Lists first: the creates' writes would leave autovacuum and checkpoints running behind them.
            lists = _measure_lists(server.base, tokens, filters)
            creates = _measure_creates(server.base, tokens["admin"], contacts, server.worker_pids())
        finally:
            server.stop()
            _clean_up(tokens)
    results = [Result(NAME, "fixture", fixture_note)]
    rate, p50, p95, errors, cpu_ms = creates
    results.append(
        Result(
            NAME,
            "tickets created per second (POST /api/v1/tickets/)",
            round(rate, 1),
            "/s",
            f"target >= {CREATE_TARGET:.0f}/s; request p50 {p50:.1f} ms, p95 {p95:.1f} ms; "
            f"{_threads()} client threads; errors {errors}; gunicorn workers' CPU {cpu_ms:.1f} ms per create; "
            f"load average {_load()}",
        )
    )
    for who, label, p50, p95, status in lists:
        results.append(
            Result(
                NAME,
                f"first page p95, {who}: {label}",
                round(p95, 1),
                "ms",
                f"target < {LIST_TARGET_MS:.0f} ms; p50 {p50:.1f} ms; HTTP {status}",
            )
        )
    return results


def _threads() -> int:
    return int(os.environ.get("BENCH_API_CREATE_THREADS", 8))


def _load() -> str:
    """The 1-minute load average (the machine may be shared: read the figures with it)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (Linux ``/proc``; 0 elsewhere)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.0


# --- Fixture ------------------------------------------------------------------------------------------


def _fixture() -> tuple[dict[str, str], list[int], list[tuple[str, str]]]:
    from django.contrib.auth import get_user_model

    from accounts import services
    from accounts.models import Contact, Team

    users = get_user_model().objects
    tokens = {
        "admin": services.api_token_create(user=users.get(username=seed_million.ADMIN), name="bench-api")[1],
        "agent": services.api_token_create(user=users.get(username=seed_million.AGENT), name="bench-api")[1],
    }
    ids = list(Contact.objects.order_by("id").values_list("id", flat=True)[:5000])
    team = Team.objects.order_by("id").values_list("id", flat=True).first()
    filters = [
        ("status=open", "status=open"),
        ("status=new&priority=high", "status=new&priority=high"),
        (f"team={team}&status=open", f"team={team}&status=open"),
        ("ordering=sla&status=open", "ordering=sla&status=open"),
        ("channel=email&ordering=created", "channel=email&ordering=created"),
        ("assignee=none&status=new", "assignee=none&status=new"),
    ]
    return tokens, ids, filters


def _settle() -> None:
    """Vacuum the ticket table after the reused seed's clock was moved (~100,000 rows rewritten), so
    the timed lists do not run beside autovacuum."""
    from django.db import connection

    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) tickets_ticket")
    print(f"   VACUUM (ANALYZE) tickets_ticket: {time.perf_counter() - began:,.1f} s (not timed)", flush=True)


def _clean_up(tokens: dict[str, str]) -> None:
    """Delete the tickets and tokens this run created, so the seeded database stays as seeded."""
    from accounts.models import ApiToken
    from tickets.models import Ticket, TicketSLAClock

    created = Ticket.objects.filter(subject__startswith=SUBJECT_MARK, channel="api")
    TicketSLAClock.objects.filter(ticket__in=created).delete()
    created.delete()
    ApiToken.objects.filter(name="bench-api").delete()


# --- The server ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Gunicorn:
    def __init__(self, database_url: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        root = Path(__file__).resolve().parents[2]
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "DJANGO_SETTINGS_MODULE": "service_desk.settings.dev",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "API_THROTTLE_TOKEN_RATE": "1000000/second",
            "API_THROTTLE_IP_RATE": "1000000/second",
            "CELERY_BROKER_URL": "memory://localhost/",
            "LOG_LEVEL": "WARNING",
        }
        extra = os.environ.get("BENCH_API_GUNICORN_ARGS", "-w 2 --threads 4").split()
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.process = subprocess.Popen(  # noqa: S603 - our own gunicorn with fixed arguments
            [
                gunicorn,
                "service_desk.wsgi:application",
                "-b",
                f"127.0.0.1:{self.port}",
                *extra,
                "--log-level",
                "warning",
            ],
            cwd=root,
            env=env,
        )
        deadline = time.monotonic() + 60
        http = urllib3.PoolManager()
        while time.monotonic() < deadline:
            try:
                if http.request("GET", f"{self.base}/healthz", timeout=2, retries=False).status == 200:
                    return
            except urllib3.exceptions.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited at start")
            time.sleep(0.3)
        raise RuntimeError("gunicorn did not answer within 60 s")

    def worker_pids(self) -> list[int]:
        """The gunicorn workers (children of the arbiter), to measure the CPU time a create costs."""
        if self.process is None:
            return []
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in children.split()]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


# --- Measuring ----------------------------------------------------------------------------------------


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def _measure_creates(
    base: str, token: str, contacts: list[int], workers: list[int]
) -> tuple[float, float, float, int, float]:
    total = int(os.environ.get("BENCH_API_CREATES", 2000))
    threads = _threads()
    http = urllib3.PoolManager(maxsize=threads)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    samples: list[float] = []
    errors: list[str] = []
    counter = iter(range(total))
    lock = threading.Lock()
    rng = random.Random(42)  # noqa: S311 - test data

    def post(n: int) -> tuple[float, int, bytes]:
        body = {
            "subject": f"{SUBJECT_MARK}{n}",
            "body": "Order 1042 has not arrived. Please check.",
            "requester": contacts[rng.randrange(len(contacts))],
            "tags": ["bench"],
        }
        began = time.perf_counter()
        response = http.request(
            "POST", f"{base}/api/v1/tickets/", body=json.dumps(body).encode(), headers=headers, timeout=30
        )
        return (time.perf_counter() - began) * 1000, response.status, response.data

    for n in range(20):  # warm-up: imports, connections, caches
        post(-n - 1)

    def worker() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            ms, status, data = post(n)
            with lock:
                samples.append(ms)
                if status != 201:
                    errors.append(f"{status} {data[:200]!r}")

    cpu_before = _cpu_seconds(workers)
    began = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - began
    cpu_ms = (_cpu_seconds(workers) - cpu_before) * 1000 / max(len(samples), 1)
    ok = len(samples) - len(errors)
    if errors:
        print(f"   {len(errors)} create errors, first: {errors[0]}", flush=True)
    rate = ok / elapsed if elapsed else 0.0
    print(
        f"   creates: {rate:,.1f}/s ({ok} in {elapsed:,.1f} s, {threads} threads; gunicorn workers' CPU "
        f"{cpu_ms:.1f} ms per create; load average {_load()})",
        flush=True,
    )
    return rate, statistics.median(samples), _percentile(samples, 95), len(errors), cpu_ms


def _measure_lists(base: str, tokens: dict[str, str], filters: list[tuple[str, str]]) -> list[tuple]:
    runs = int(os.environ.get("BENCH_API_LIST_RUNS", 100))
    http = urllib3.PoolManager()
    out = []
    for who in ("admin", "agent"):
        headers = {"Authorization": f"Token {tokens[who]}"}
        for label, query in filters:
            url = f"{base}/api/v1/tickets/?{query}"
            status = 0
            for _ in range(5):
                status = http.request("GET", url, headers=headers, timeout=30).status
            samples = []
            for _ in range(runs):
                began = time.perf_counter()
                response = http.request("GET", url, headers=headers, timeout=30)
                samples.append((time.perf_counter() - began) * 1000)
                status = response.status
            p50, p95 = statistics.median(samples), _percentile(samples, 95)
            print(f"   {who:5} {label:34} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  HTTP {status}", flush=True)
            out.append((who, label, p50, p95, status))
    return out
