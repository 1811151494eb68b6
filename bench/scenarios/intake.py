"""Email intake: stored raw bytes to committed tickets and messages, with two worker processes.

10,000 mixed messages (plain new tickets, replies that thread by In-Reply-To, HTML mail, mail with
attachments) are stored first (not timed), then processed by two OS processes running the same
function the Celery task runs (``inbound_process``), originals first and then the replies that
thread to them. The limit it is compared with: Python's plain ``email`` parsing of the same bytes
(``message_from_bytes`` and reading every part), in one process. Target: at least 300 messages/s.

Memory: one fresh process processes a message with a 20 MB attachment; its peak RSS is printed
(target under 250 MB).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate

from bench import db
from bench.registry import Context, Result

NAME = "intake"
MESSAGES = 10_000
WORKERS = 2
TARGET_RATE = 300.0
TARGET_MEMORY_MB = 250.0


def _mail(i: int, rng: random.Random, *, reply_to: str = "") -> bytes:
    message = EmailMessage()
    message["From"] = f"Customer {i % 3000} <customer{i % 3000}@intake-bench.example>"
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


def _worker(url: str, ids: list[int]) -> None:
    db.setup_django(url)
    from channels_intake.services import inbound_process

    for inbound_id in ids:
        inbound_process(inbound_id)


def _store(raws: list[bytes]) -> list[int]:
    from channels_intake.services import inbound_store

    return [inbound_store(raw=raw, source="file", queue=False).pk for raw in raws]


def _process_in_parallel(url: str, ids: list[int]) -> float:
    context = multiprocessing.get_context("spawn")
    shares = [ids[k::WORKERS] for k in range(WORKERS)]
    processes = [context.Process(target=_worker, args=(url, share)) for share in shares]
    began = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        if process.exitcode:
            raise RuntimeError(f"An intake worker exited with {process.exitcode}.")
    return time.perf_counter() - began


def _high_water_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss would include the parent's peak)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _memory_worker(url: str, inbound_id: int, queue: multiprocessing.Queue) -> None:
    db.setup_django(url)
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


def _clear_intake() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE channels_intake_inboundmessage, channels_intake_acknowledgementlog RESTART IDENTITY CASCADE"
        )
    db.truncate_ticket_tables()


def run(context: Context) -> list[Result]:
    from channels_intake.models import InboundMessage, Outcome

    url = os.environ["DATABASE_URL"]
    count = min(MESSAGES, max(context.tickets // 10, 1_000))
    originals, replies = corpus(count, context.seed)
    plain_rate = _plain_parse_rate(originals + replies)

    _clear_intake()
    _ensure_mailbox()
    original_ids = _store(originals)
    reply_ids = _store(replies)
    seconds = _process_in_parallel(url, original_ids) + _process_in_parallel(url, reply_ids)
    outcomes = {outcome: InboundMessage.objects.filter(outcome=outcome).count() for outcome in Outcome.values}
    rate = count / seconds
    before_mb, peak_mb, outcome = _peak_memory_with_large_attachment(url)
    _clear_intake()
    met = "met" if rate >= TARGET_RATE else "NOT met"
    return [
        Result(NAME, "messages processed", count, "", f"{WORKERS} worker processes; originals, then replies"),
        Result(NAME, "end-to-end rate", rate, "messages/s", f"target >= {TARGET_RATE:.0f}/s: {met}"),
        Result(NAME, "plain email parsing", plain_rate, "messages/s", "Python's email package, 1 process: the limit"),
        Result(NAME, "tickets created", outcomes[Outcome.TICKET_CREATED], ""),
        Result(NAME, "replies threaded", outcomes[Outcome.APPENDED], "", f"of {len(replies)} replies"),
        Result(NAME, "quarantined", outcomes[Outcome.QUARANTINED], "", "expected 0"),
        Result(
            NAME,
            "peak worker RSS, 20 MB attachment",
            peak_mb,
            "MB",
            f"{before_mb:.0f} MB before; {outcome}; target < {TARGET_MEMORY_MB:.0f} MB: "
            + ("met" if peak_mb < TARGET_MEMORY_MB else "NOT met"),
        ),
    ]
