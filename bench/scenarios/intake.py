"""Email intake: stored raw bytes to committed tickets and messages, with two worker processes.

10,000 mixed messages (plain new tickets, replies that thread by In-Reply-To, HTML mail, mail with
attachments) are stored first (not timed), then processed by two OS processes running what the
Celery intake task runs: ``inbound_process_batch`` claims batches of pending messages (``FOR
UPDATE SKIP LOCKED``, so the two never take the same rows) until none is left. The originals are
processed first; then the replies that thread to them are stored and processed. The clock runs
from the moment both workers are ready (Django set up, as in a running Celery worker) until both
are done; the figure with the workers' start-up (a fresh process each phase, as this benchmark
measured before) is printed too. The limit it is compared with: Python's plain ``email`` parsing
of the same bytes (``message_from_bytes`` and reading every part), in one process. Target: at
least 300 messages/s.

Memory: one fresh process processes a message with a 20 MB attachment; its peak RSS is printed
(target under 250 MB).

The corpus's 3,000 senders are known contacts before the clock starts (created through the
accounts service if missing), so runs compare. ``BENCH_INTAKE_NEW_SENDERS=1`` removes them
instead, so that the run creates them (3 of 8 new tickets then come from a new sender).
``BENCH_INTAKE_SLA=1`` adds a default SLA policy (24x7), so new tickets get clocks and replies
move them, as on a configured desk.
``BENCH_INTAKE_BATCH`` sets the batch size (default: the service's, ``INTAKE_BATCH_SIZE``).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from bench import db
from bench.registry import Context, Result

NAME = "intake"
MESSAGES = 10_000
WORKERS = 2
TARGET_RATE = 300.0
TARGET_MEMORY_MB = 250.0
SENDERS = 3_000
SENDER_DOMAIN = "intake-bench.example"


def _mail(i: int, rng: random.Random, *, reply_to: str = "") -> bytes:
    message = EmailMessage()
    message["From"] = f"Customer {i % SENDERS} <customer{i % SENDERS}@{SENDER_DOMAIN}>"
    message["To"] = "support@desk.example"
    message["Subject"] = f"Re: Order {i}" if reply_to else f"Order {i} did not arrive"
    message["Date"] = formatdate()
    message["Message-ID"] = f"<bench-{i}@intake-bench.example>"
    if reply_to:
        message["In-Reply-To"] = reply_to
        message["References"] = reply_to
    text = f"Hello,\n\nmy order {i} has not arrived yet.\n\nRegards\n\n> earlier text\n> quoted\n"
    message.set_content(text)
    kind = rng.random()
    if kind < 0.15:
        message.add_alternative(
            f"<p>Hello,</p><p>my order <b>{i}</b> has not arrived.</p><script>x()</script>", subtype="html"
        )
    elif kind < 0.25:
        message.add_attachment(
            rng.randbytes(20_000), maintype="application", subtype="pdf", filename=f"invoice-{i}.pdf"
        )
    return message.as_bytes()


def corpus(count: int, seed: int) -> tuple[list[bytes], list[bytes]]:
    """Originals and replies (a fifth of the messages answer an earlier one)."""
    rng = random.Random(seed)
    originals_count = count * 4 // 5
    originals = [_mail(i, rng) for i in range(originals_count)]
    replies = [
        _mail(originals_count + j, rng, reply_to=f"<bench-{rng.randrange(originals_count)}@intake-bench.example>")
        for j in range(count - originals_count)
    ]
    return originals, replies


def _plain_parse_rate(raws: list[bytes]) -> float:
    began = time.perf_counter()
    for raw in raws:
        parsed = message_from_bytes(raw, policy=policy.default)
        for part in parsed.walk():
            if not part.is_multipart():
                part.get_payload(decode=True)
    return len(raws) / (time.perf_counter() - began)


def _cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds of a process on this machine (None if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _worker(url: str, ready: Any, go: Any, batch: int | None, report: Any) -> None:
    db.setup_django(url, migrate=False)  # the parent migrated; two workers migrating at once would race
    from django.db import connection

    from channels_intake.services import inbound_process_batch

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    ready.release()
    go.wait()
    worker_before, backend_before = time.process_time(), _cpu_seconds(backend)
    while inbound_process_batch(limit=batch):
        pass
    backend_after = _cpu_seconds(backend)
    database = None if backend_before is None or backend_after is None else backend_after - backend_before
    report.put((time.process_time() - worker_before, database))


def _store(raws: list[bytes]) -> list[int]:
    from channels_intake.services import inbound_store

    return [inbound_store(raw=raw, source="file", queue=False).pk for raw in raws]


@dataclass
class _Run:
    seconds: float = 0.0  # from the moment the workers were ready
    with_startup: float = 0.0
    worker_cpu: float = 0.0  # CPU seconds of the worker processes
    database_cpu: float | None = 0.0  # and of their database backends (None: not measurable here)

    def add(self, other: _Run) -> None:
        self.seconds += other.seconds
        self.with_startup += other.with_startup
        self.worker_cpu += other.worker_cpu
        if self.database_cpu is None or other.database_cpu is None:
            self.database_cpu = None
        else:
            self.database_cpu += other.database_cpu


def _process_in_parallel(url: str, batch: int | None) -> _Run:
    """Process every pending message with the workers."""
    context = multiprocessing.get_context("spawn")
    ready, go, report = context.Semaphore(0), context.Event(), context.Queue()
    processes = [context.Process(target=_worker, args=(url, ready, go, batch, report)) for _ in range(WORKERS)]
    started = time.perf_counter()
    for process in processes:
        process.start()
    for _ in processes:
        if not ready.acquire(timeout=300):
            raise RuntimeError("An intake worker did not start.")
    began = time.perf_counter()
    go.set()
    for process in processes:
        process.join()
        if process.exitcode:
            raise RuntimeError(f"An intake worker exited with {process.exitcode}.")
    ended = time.perf_counter()
    run = _Run(ended - began, ended - started)
    for _ in processes:
        worker_cpu, database_cpu = report.get(timeout=60)
        run.add(_Run(worker_cpu=worker_cpu, database_cpu=database_cpu))
    return run


def _high_water_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss would include the parent's peak)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _memory_worker(url: str, inbound_id: int, queue: multiprocessing.Queue) -> None:
    db.setup_django(url, migrate=False)
    from channels_intake.services import inbound_process

    before = _high_water_mb()
    row = inbound_process(inbound_id)
    queue.put((before, _high_water_mb(), row.outcome))


def _peak_memory_with_large_attachment(url: str) -> tuple[float, float, str]:
    message = EmailMessage()
    message["From"] = "big@intake-bench.example"
    message["To"] = "support@desk.example"
    message["Subject"] = "A large log file"
    message["Message-ID"] = "<bench-large@intake-bench.example>"
    message.set_content("The log is attached.")
    message.add_attachment(os.urandom(20 * 1024 * 1024), maintype="application", subtype="zip", filename="log.zip")
    inbound_id = _store([message.as_bytes()])[0]
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_memory_worker, args=(url, inbound_id, queue))
    process.start()
    result = queue.get(timeout=300)
    process.join()
    return result


def _ensure_mailbox() -> None:
    """The support address the corpus writes to is ours (not a customer to copy)."""
    from channels_intake.models import Mailbox

    Mailbox.objects.get_or_create(name="Bench support", defaults={"email_address": "support@desk.example"})


SLA_POLICY = "Bench intake default"


def _clear_intake() -> None:
    """Empty intake and tickets."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE channels_intake_inboundmessage, channels_intake_acknowledgementlog RESTART IDENTITY CASCADE"
        )
    db.truncate_ticket_tables()


def _senders(*, known: bool) -> None:
    """Make the corpus's senders known contacts, or unknown ones (removed; tickets are emptied first)."""
    from django.db import connection

    from accounts import services as account_services
    from accounts.models import ContactEmail

    if known:
        emails = [f"customer{i}@{SENDER_DOMAIN}" for i in range(SENDERS)]
        existing = set(ContactEmail.objects.filter(email__in=emails).values_list("email", flat=True))
        for i, email in enumerate(emails):
            if email not in existing:
                account_services.contact_create(email=email, name=f"Customer {i}", enforce_required_fields=False)
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT contact_id FROM accounts_contactemail WHERE email LIKE %s", [f"%@{SENDER_DOMAIN}"])
        contacts = [row[0] for row in cursor.fetchall()]
        cursor.execute("DELETE FROM accounts_contactemail WHERE contact_id = ANY(%s)", [contacts])
        cursor.execute("DELETE FROM accounts_contact WHERE id = ANY(%s)", [contacts])


def _sla_policy(wanted: bool) -> int | None:
    """A 24x7 default policy for the run (when asked for and the database has no default); its id."""
    from tickets.choices import Priority
    from tickets.models import SLAPolicy, SLATarget

    SLAPolicy.objects.filter(name=SLA_POLICY).delete()  # left over by a crashed run
    if not wanted or SLAPolicy.objects.filter(is_default=True).exists():
        return None
    policy = SLAPolicy.objects.create(name=SLA_POLICY, is_default=True)
    SLATarget.objects.bulk_create(
        SLATarget(
            policy=policy, priority=p, first_response_minutes=60, next_response_minutes=120, resolution_minutes=480
        )
        for p in Priority.values
    )
    return policy.pk


def run(context: Context) -> list[Result]:
    from channels_intake.models import InboundMessage, Outcome
    from channels_intake.services import DEFAULT_BATCH_SIZE

    url = os.environ["DATABASE_URL"]
    batch = int(os.environ["BENCH_INTAKE_BATCH"]) if os.environ.get("BENCH_INTAKE_BATCH") else None
    count = min(MESSAGES, max(context.tickets // 10, 1_000))
    originals, replies = corpus(count, context.seed)
    plain_rate = _plain_parse_rate(originals + replies)

    _clear_intake()
    _ensure_mailbox()
    with_sla = os.environ.get("BENCH_INTAKE_SLA", "") not in ("", "0")
    new_senders = os.environ.get("BENCH_INTAKE_NEW_SENDERS", "") not in ("", "0")
    policy_id = _sla_policy(with_sla)
    _senders(known=not new_senders)
    _store(originals)
    run = _process_in_parallel(url, batch)
    new_rate = len(originals) / run.seconds
    _store(replies)
    second = _process_in_parallel(url, batch)
    reply_rate = len(replies) / second.seconds
    run.add(second)
    outcomes = {outcome: InboundMessage.objects.filter(outcome=outcome).count() for outcome in Outcome.values}
    rate = count / run.seconds
    cpu_ms = 1000 * (run.worker_cpu + (run.database_cpu or 0.0)) / count
    cpu_notes = f"worker {1000 * run.worker_cpu / count:.2f} ms" + (
        f" + database {1000 * run.database_cpu / count:.2f} ms" if run.database_cpu is not None else ""
    )
    before_mb, peak_mb, outcome = _peak_memory_with_large_attachment(url)
    _clear_intake()
    _sla_policy(False)
    met = "met" if rate >= TARGET_RATE else "NOT met"
    size = batch or DEFAULT_BATCH_SIZE
    return [
        Result(
            NAME,
            "messages processed",
            count,
            "",
            f"{WORKERS} worker processes, batches of {size}; senders: {'new' if new_senders else 'known'}; "
            + "SLA policy: "
            + ("default, 24x7" if policy_id else "configured in the database" if with_sla else "none"),
        ),
        Result(NAME, "end-to-end rate", rate, "messages/s", f"target >= {TARGET_RATE:.0f}/s: {met}"),
        Result(NAME, "rate incl. worker start-up", count / run.with_startup, "messages/s", "a fresh process per phase"),
        Result(NAME, "rate: new tickets", new_rate, "messages/s", f"the {len(originals):,} originals"),
        Result(NAME, "rate: replies", reply_rate, "messages/s", f"the {len(replies):,} replies, to existing tickets"),
        Result(NAME, "CPU per message", cpu_ms, "ms", cpu_notes + f"; {os.cpu_count()} cores on this machine"),
        Result(NAME, "plain email parsing", plain_rate, "messages/s", "Python's email package, 1 process: the limit"),
        Result(NAME, "rate / limit", rate / plain_rate, "", "share of the parsing limit reached end to end"),
        Result(NAME, "tickets created", outcomes[Outcome.TICKET_CREATED], ""),
        Result(NAME, "replies threaded", outcomes[Outcome.APPENDED], "", f"of {len(replies)} replies"),
        Result(NAME, "quarantined", outcomes[Outcome.QUARANTINED], "", "expected 0"),
        Result(NAME, "left pending", outcomes[Outcome.PENDING], "", "expected 0"),
        Result(
            NAME,
            "peak worker RSS, 20 MB attachment",
            peak_mb,
            "MB",
            f"{before_mb:.0f} MB before; {outcome}; target < {TARGET_MEMORY_MB:.0f} MB: "
            + ("met" if peak_mb < TARGET_MEMORY_MB else "NOT met"),
        ),
    ]
