"""Intake: store what a channel receives first, then process it idempotently into tickets.

``inbound_store`` commits the raw bytes (and nothing else) so that the sender, an IMAP server or
a web visitor can be told "received" without waiting for parsing. ``inbound_process`` turns one
stored row into a ticket, an appended message, a suppression or a quarantine; it can run any
number of times for the same row and acts once.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from functools import partial

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.domain.emails import InvalidEmail, normalize_email
from accounts.models import Contact, ContactEmail
from accounts.services import AccountError
from channels_intake.email import autoreply, parsing, quotes
from channels_intake.email import threading as thread_rules
from channels_intake.models import InboundMessage, Mailbox, Outcome, Source
from tickets import services as ticket_services
from tickets.choices import Channel, LinkKind, Status
from tickets.domain.references import find_subject_tokens, format_reference
from tickets.models import Message, Ticket, TicketCC
from tickets.services import Actor, CustomerReply, NewAttachment, NewMessage, NewTicket, TicketError
from tickets.sla import update_rows

logger = logging.getLogger(__name__)

# The end of the header block is looked for in this many bytes; beyond it the message has no Message-ID for us.
_HEADER_SCAN_BYTES = 256 * 1024


# --- Storing ----------------------------------------------------------------------------------------


def message_id_of(raw: bytes) -> str:
    """The normalised Message-ID from the header block only, without parsing the body ("" if none)."""
    # A byte-order mark or blank lines before the headers must not hide the Message-ID.
    head = raw[:_HEADER_SCAN_BYTES].removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n\t ")
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = head.find(separator)
        if end != -1:
            head = head[:end]
            break
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(head)
        value = headers.get("Message-ID", "") or ""
    except Exception:  # any malformed header block: no Message-ID
        return ""
    return parsing.normalize_msgid(str(value))


def inbound_store(
    *, raw: bytes, source: str, mailbox: Mailbox | None = None, remote_id: str = "", queue: bool = True
) -> InboundMessage:
    """Commit the raw bytes. A copy of a message already stored is kept as a duplicate and not processed.

    With ``queue`` the processing task is queued after commit; imports that process inline pass False.
    """
    key = parsing.dedupe_key(raw, message_id_of(raw))
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = InboundMessage.objects.create(
                    source=source, mailbox=mailbox, raw=raw, size=len(raw), dedupe_key=key, remote_id=remote_id[:255]
                )
        except IntegrityError:
            original = InboundMessage.objects.filter(dedupe_key=key, is_original=True).first()
            row = InboundMessage.objects.create(
                source=source,
                mailbox=mailbox,
                raw=raw,
                size=len(raw),
                dedupe_key=key,
                remote_id=remote_id[:255],
                is_original=False,
                duplicate_of=original,
                outcome=Outcome.DUPLICATE,
                reason=f"Same message as #{original.pk}." if original else "Same message as an earlier one.",
                processed_at=timezone.now(),
            )
            return row
        if queue:
            transaction.on_commit(lambda: _queue_processing(row.pk))
    return row


def _queue_processing(inbound_id: int) -> None:
    from channels_intake.tasks import process_inbound_task

    try:
        process_inbound_task.delay(inbound_id)
    except Exception:  # the broker is down: the stranded-message sweep picks the row up later
        logger.warning("Could not queue inbound message %s; the sweep will retry.", inbound_id, exc_info=True)


# --- Processing -------------------------------------------------------------------------------------
#
# There is one way to process: ``_process_rows`` takes rows that are locked and pending, in the
# caller's transaction. ``inbound_process`` gives it a batch of one (the HTTP pipe, the web form,
# imports, the admin's retry); the intake task claims batches with ``inbound_process_batch``.

# How many messages a batch claims at most, and how many raw bytes (a batch always takes one).
DEFAULT_BATCH_SIZE = 100
DEFAULT_BATCH_BYTES = 8 * 1024 * 1024


def _batch_limits() -> tuple[int, int]:
    return (
        max(1, int(getattr(settings, "INTAKE_BATCH_SIZE", DEFAULT_BATCH_SIZE))),
        max(1, int(getattr(settings, "INTAKE_BATCH_BYTES", DEFAULT_BATCH_BYTES))),
    )


def inbound_process(inbound_id: int) -> InboundMessage:
    """Process one stored message exactly once (a batch of one); a second call returns the row as it is.

    Anything that cannot be processed is quarantined with its reason and kept for a retry; no
    exception escapes, so a bad message never crashes a worker.
    """
    # Counted before the work and committed on its own: a worker killed mid-way (time limit,
    # memory) rolls its work back but not this count, so a message that kills workers stops.
    InboundMessage.objects.filter(pk=inbound_id, outcome=Outcome.PENDING).update(attempts=F("attempts") + 1)
    with transaction.atomic():
        # Waits for a worker holding the row, then finds it processed and returns it as it is.
        rows = list(_pending_rows(InboundMessage.objects.filter(pk=inbound_id), skip_locked=False))
        _process_rows(rows)
    return rows[0] if rows else InboundMessage.objects.select_related("mailbox").get(pk=inbound_id)


def inbound_process_batch(*, first: int | None = None, limit: int | None = None) -> list[InboundMessage]:
    """Claim stored messages that no worker has started yet and process them together; returns the
    ones processed ([] when none was waiting). ``first`` is taken first if it is one of them.

    The claim takes up to ``limit`` (``INTAKE_BATCH_SIZE``) fresh pending rows, oldest first, fewer
    when their bytes pass ``INTAKE_BATCH_BYTES``, with ``FOR UPDATE SKIP LOCKED``, and commits their
    attempt count before the work: two workers never take the same rows. Rows of a batch whose
    worker died are never claimed as a batch again; they are started one by one (the task's
    redelivery, the stranded-message sweep), so a message that kills workers is quarantined alone
    after ``INTAKE_MAX_ATTEMPTS`` and does not take the others with it.
    """
    while ids := _claim(first=first, limit=limit):
        with transaction.atomic():
            # The claimed rows are ours, but not skipped if locked: another worker's claim may hold
            # a lock on some for a moment (PostgreSQL keeps the lock of a row it found claimed
            # meanwhile and did not return). attempts=1: a row someone started alone since
            # (inbound_process) is theirs now.
            rows = list(_pending_rows(InboundMessage.objects.filter(pk__in=ids, attempts=1), skip_locked=False))
            _process_rows(rows, wait=False)
        done = [row for row in rows if row.outcome != Outcome.PENDING]
        if done:
            return done
        first = None  # all taken meanwhile, or given back: claim again
    return []


def inbound_process_queued(inbound_id: int) -> str:
    """The intake task's work for one queued message; returns its outcome ("pending" while another
    worker holds it).

    A message no worker has started yet is processed in a batch with others waiting, so most
    queued tasks find their message done and return at once. One started before (a worker died on
    it) is processed alone.
    """
    pending = InboundMessage.objects.filter(pk=inbound_id, outcome=Outcome.PENDING)
    attempts = pending.values_list("attempts", flat=True).first()
    if attempts == 0:
        inbound_process_batch(first=inbound_id)
    elif attempts is not None:
        with transaction.atomic():  # held by a worker: a batch is processing it (never wait for it)
            free = pending.select_for_update(skip_locked=True).values_list("pk", flat=True).first()
        if free is not None:
            inbound_process(inbound_id)  # started before, by a worker that died: alone this time
    return InboundMessage.objects.filter(pk=inbound_id).values_list("outcome", flat=True).first() or ""


def _claim(*, first: int | None, limit: int | None) -> list[int]:
    """Take fresh pending rows nobody holds and count the attempt, committed before any work."""
    most, budget = _batch_limits()
    most = limit or most
    fresh = InboundMessage.objects.filter(outcome=Outcome.PENDING, attempts=0)
    with transaction.atomic():
        # ``first`` is waited for: a fresh row is only ever held for a moment, by another claim.
        picked = list(fresh.filter(pk=first).select_for_update().values_list("pk", "size")) if first is not None else []
        fresh = fresh.select_for_update(skip_locked=True)
        if len(picked) < most:
            others = fresh.exclude(pk__in=[pk for pk, _ in picked]) if picked else fresh
            # The partial index inbound_unfinished serves this order.
            picked += list(others.order_by("received_at", "id").values_list("pk", "size")[: most - len(picked)])
        ids: list[int] = []
        total = 0
        for pk, size in picked:
            if ids and total + size > budget:
                break  # the rows left out are released at commit, for the next batch
            ids.append(pk)
            total += size
        if ids:
            InboundMessage.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1)
    return ids


def _pending_rows(rows: QuerySet[InboundMessage], *, skip_locked: bool) -> QuerySet[InboundMessage]:
    return (
        rows.filter(outcome=Outcome.PENDING)
        .select_for_update(of=("self",), skip_locked=skip_locked)
        .select_related("mailbox__default_team", "mailbox__default_type")
        .order_by("id")
    )


_PROCESSING_FIELDS = [
    "outcome",
    "reason",
    "attempts",
    "processed_at",
    "ticket",
    "message",
    "threading_rule",
    "subject",
    "from_address",
]


def _process_rows(rows: list[InboundMessage], *, wait: bool = True) -> None:
    """Process locked, pending rows in the caller's transaction: the one way messages are processed.

    Each message is read on its own (``_process``: parsing, suppression), then the batch is placed
    with set-based lookups (known Message-IDs, contacts, tickets) and new tickets are opened with
    one ``tickets_create_bulk``. Every message's writes are isolated: one that fails is quarantined
    with its reason and the others are kept.

    Without ``wait`` (a claimed batch), a message for a ticket another worker holds right now is
    not waited for: it is given back (pending, its attempt not counted) and queued again after
    commit, so two batches never wait for each other.
    """
    if not rows:
        return
    items = []
    for row in rows:
        if row.attempts > settings.INTAKE_MAX_ATTEMPTS:
            _quarantine(row, f"Processing was started {row.attempts - 1} times and never finished (worker killed?).")
            continue
        try:
            items.append(_process(row))
        except Exception as exc:
            _fail(row, exc)
    if items:
        batch = _Batch(own_addresses(), wait=wait)
        with ticket_services.batch():
            batch.place(items)
        _acknowledge(rows)
        if batch.given_back:
            transaction.on_commit(partial(_queue_processing, batch.given_back[0].pk))
    now = timezone.now()
    for row in rows:
        if row.outcome != Outcome.PENDING:
            row.processed_at = now
    # Never write the raw bytes back: they are stored once, as received. One UPDATE for the batch
    # (Django's bulk_update would compile a CASE per row and field, slower than the work itself).
    update_rows(InboundMessage, rows, _PROCESSING_FIELDS)


def inbound_retry(inbound: InboundMessage) -> InboundMessage:
    """Put a quarantined message back in the queue (after a fix) and process it now."""
    updated = InboundMessage.objects.filter(pk=inbound.pk, outcome=Outcome.QUARANTINED).update(
        outcome=Outcome.PENDING, reason="", attempts=0
    )
    if not updated:
        return InboundMessage.objects.get(pk=inbound.pk)
    return inbound_process(inbound.pk)


def _quarantine(row: InboundMessage, reason: str) -> None:
    row.outcome = Outcome.QUARANTINED
    row.reason = reason[:2000] or "Unknown problem."
    row.ticket = None
    row.message = None


def _fail(row: InboundMessage, exc: Exception) -> None:
    """Quarantine a message that could not be processed, with the reason."""
    if isinstance(exc, (parsing.EmailParseError, TicketError, AccountError)):
        _quarantine(row, str(getattr(exc, "reason", "") or exc))
    else:
        logger.error("Inbound message %s could not be processed", row.pk, exc_info=exc)
        _quarantine(row, f"Internal error: {type(exc).__name__}: {exc}")


# PostgreSQL's deadlock_detected and serialization_failure: the same work may succeed a moment later.
_TRANSIENT = {"40P01", "40001"}


def _isolated(row: InboundMessage, work: Callable[[], None]) -> None:
    """One message's writes in a savepoint: if they fail, only this message is quarantined."""
    try:
        with transaction.atomic():
            work()
    except Exception as exc:
        _fail(row, exc)


_OWN_ADDRESSES_TTL = 30.0
_own_addresses_cache: tuple[float, frozenset[str]] = (0.0, frozenset())


def own_addresses() -> frozenset[str]:
    """Our own addresses (every mailbox and DEFAULT_FROM_EMAIL), re-read at most every 30 s."""
    global _own_addresses_cache
    loaded_at, cached = _own_addresses_cache
    now = time.monotonic()
    if cached and now - loaded_at < _OWN_ADDRESSES_TTL:
        return cached
    from email.utils import parseaddr

    addresses = {a.lower() for a in Mailbox.objects.values_list("email_address", flat=True)}
    addresses.add(parseaddr(settings.DEFAULT_FROM_EMAIL)[1].lower())
    fresh = frozenset(a for a in addresses if a)
    _own_addresses_cache = (now, fresh)
    return fresh


def forget_own_addresses() -> None:
    """Drop the cache (a mailbox was added or changed)."""
    global _own_addresses_cache
    _own_addresses_cache = (0.0, frozenset())


def _channel_for(row: InboundMessage) -> str:
    return Channel.WEB if row.source == Source.WEB else Channel.EMAIL


@dataclass(eq=False)  # compared by identity: two items are two messages
class _Item:
    """One message of a batch on its way to its place."""

    row: InboundMessage
    parsed: parsing.ParsedEmail
    suppression: autoreply.Suppression | None
    sender: Contact | None = None


def _process(row: InboundMessage) -> _Item:
    """What a message says on its own: parsed, and whether it must be suppressed. Placing it is the
    batch's work (``_Batch.place``)."""
    parsed = parsing.parse_email(bytes(row.raw), max_attachment_bytes=ticket_services.MAX_ATTACHMENT_BYTES)
    row.subject = parsed.subject[:255]
    row.from_address = parsed.sender.email[:254] if parsed.sender else ""
    return _Item(row, parsed, autoreply.classify(parsed, own_addresses=own_addresses()))


def _author_address(parsed: parsing.ParsedEmail) -> parsing.Address | None:
    """From, or Reply-To when From carries no address (as some mailers send it)."""
    if parsed.sender is not None and parsed.sender.email:
        return parsed.sender
    return next((a for a in parsed.reply_to if a.email), None)


def _suppress(row: InboundMessage, parsed: parsing.ParsedEmail, suppression: autoreply.Suppression) -> None:
    row.outcome = Outcome.SUPPRESSED
    row.reason = f"{suppression.kind}: {suppression.reason}"
    if _suppression_writes(parsed, suppression) and autoreply.bounce_is_permanent(bytes(row.raw), parsed.subject):
        bounced = Message.objects.filter(message_id=parsed.bounced_message_id).select_related("ticket").first()
        if bounced is not None:
            ticket_services.message_record_bounce(message=bounced, reason=_bounce_summary(parsed))
            row.ticket = bounced.ticket


def _suppression_writes(parsed: parsing.ParsedEmail, suppression: autoreply.Suppression) -> bool:
    """Whether suppressing may write (a permanent bounce of a reply we sent marks it failed)."""
    return suppression.kind == "bounce" and bool(parsed.bounced_message_id)


def _bounce_summary(parsed: parsing.ParsedEmail) -> str:
    text = " ".join(parsed.text.split())
    return f"{parsed.subject}: {text[:500]}" if text else parsed.subject


def _ticket_facts(ticket_id: int) -> thread_rules.TicketFacts | None:
    ticket = (
        Ticket.objects.filter(pk=ticket_id)
        .only("id", "status", "merged_into_id", "requester_id", "organization_id")
        .first()
    )
    if ticket is None:
        return None
    return thread_rules.TicketFacts(
        ticket_id=ticket.pk,
        is_closed=ticket.status == Status.CLOSED,
        merged_into_id=ticket.merged_into_id,
        requester_id=ticket.requester_id,
        organization_id=ticket.organization_id,
        cc_contact_ids=frozenset(TicketCC.objects.filter(ticket_id=ticket.pk).values_list("contact_id", flat=True)),
    )


def _candidates(row: InboundMessage, parsed: parsing.ParsedEmail) -> list[str]:
    """The Message-IDs a message could thread by (none for the web form)."""
    if row.source == Source.WEB:
        return []
    return [msgid for msgid, _ in thread_rules.candidate_message_ids(parsed.in_reply_to, parsed.references)]


def _known_message_ids(message_ids: Iterable[str]) -> dict[str, int]:
    """Message-ID -> ticket id of the stored messages carrying them. The first message with an id
    decides (the smallest id wins the dict), so a later copy of a Message-ID, placed elsewhere, can
    never redirect a thread."""
    wanted = set(message_ids)
    if not wanted:
        return {}
    return dict(Message.objects.filter(message_id__in=wanted).order_by("-id").values_list("message_id", "ticket_id"))


def _decide(
    row: InboundMessage,
    parsed: parsing.ParsedEmail,
    sender: Contact,
    *,
    known: Mapping[str, int] | None = None,
    facts: Callable[[int], thread_rules.TicketFacts | None] = _ticket_facts,
) -> thread_rules.Decision:
    """Where the threading rules put a message; ``known`` and ``facts`` may come from the batch's lookups."""
    if row.source == Source.WEB:
        # A web form's sender address is not verified: it never threads into an existing ticket.
        return thread_rules.Decision(thread_rules.Action.NEW_TICKET, thread_rules.Rule.NEW)
    candidates = _candidates(row, parsed)
    return thread_rules.decide(
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        known_message_ids=known if known is not None else _known_message_ids(candidates),
        subject_ticket_ids=_subject_ticket_ids(parsed),
        facts=facts,
        sender_contact_id=sender.pk,
        sender_organization_id=sender.organization_id,
    )


# The largest primary key PostgreSQL can hold: a longer number in a subject names no ticket.
_MAX_ID = 2**63 - 1


def _subject_ticket_ids(parsed: parsing.ParsedEmail) -> list[int]:
    return [n for n in find_subject_tokens(parsed.subject, settings.TICKET_REFERENCE_PREFIX) if 0 < n <= _MAX_ID]


def _mark_duplicate(row: InboundMessage, ticket_id: int) -> None:
    # The same message reached us again in other bytes (or claims one of our own ids).
    row.outcome = Outcome.DUPLICATE
    row.reason = (
        f"A message with this Message-ID is already on {format_reference(settings.TICKET_REFERENCE_PREFIX, ticket_id)}."
    )
    row.ticket_id = ticket_id


def _placed(row: InboundMessage, ticket: Ticket, message_id: int | None, outcome: str, rule: str) -> None:
    row.outcome = outcome
    row.ticket = ticket
    row.message_id = message_id
    row.threading_rule = rule
    row.reason = ""


class _Batch:
    """Placing the messages of one batch: lookups are made once for all of them, and each
    message's writes are isolated (see ``_isolated``).

    Order: suppressed mail and duplicates of stored messages are settled first; the existing
    tickets the batch changes are locked; the new tickets are opened together, then the replies to
    existing tickets are added together; then what must go one by one (follow-ups, replies that
    name people to copy, mail with parts not stored); last the messages that need another message
    of the same batch in place first (a reply to a message in the same batch, a second copy of a
    Message-ID), placed as if they had come after it, and bounces.
    """

    def __init__(self, own: frozenset[str], *, wait: bool = True) -> None:
        self.own = own
        self.wait = wait  # for tickets another worker holds; else their messages are given back
        self.given_back: list[InboundMessage] = []
        self.contacts: dict[str, Contact] = {}  # address as parsed -> contact
        self.contact_errors: dict[str, Exception] = {}
        self.known: dict[str, int] = {}  # Message-ID -> ticket id, of messages stored before the batch
        self.facts: dict[int, thread_rules.TicketFacts | None] = {}  # dropped for a ticket once changed
        self.retry: list[tuple[InboundMessage, Callable[[], None]]] = []

    def place(self, items: list[_Item]) -> None:
        mail = [item for item in items if item.suppression is None]
        self.known = _known_message_ids(
            msgid for item in mail for msgid in [item.parsed.message_id, *_candidates(item.row, item.parsed)] if msgid
        )
        later: list[_Item] = []  # wait for the rest of the batch
        bounces: list[_Item] = []
        unique: list[_Item] = []
        seen: set[str] = set()
        duplicates: list[tuple[_Item, int]] = []
        for item in items:
            row, parsed, suppression = item.row, item.parsed, item.suppression
            if suppression is not None:
                if _suppression_writes(parsed, suppression):
                    bounces.append(item)
                else:
                    _suppress(row, parsed, suppression)
            elif parsed.message_id in self.known:
                duplicates.append((item, self.known[parsed.message_id]))
            elif parsed.message_id in seen:
                later.append(item)  # a second copy within the batch: a duplicate once the first is placed
            else:
                if parsed.message_id:
                    seen.add(parsed.message_id)
                unique.append(item)
        self._find_senders(unique, batch_ids=seen)
        mail = [item for item in unique if item.sender is not None]
        self._prefetch_facts(mail)
        new: list[tuple[_Item, thread_rules.Decision]] = []
        one_by_one: list[tuple[_Item, thread_rules.Decision]] = []
        for item in mail:
            if self._waits_for_batch(item, seen):
                later.append(item)  # a reply to a message of this batch
                continue
            try:
                decision = self._decide(item)
            except Exception as exc:
                _fail(item.row, exc)
                continue
            if decision.action is thread_rules.Action.NEW_TICKET and not item.parsed.skipped:
                new.append((item, decision))
            else:
                one_by_one.append((item, decision))
        held = self._lock_tickets(
            {d.ticket_id or d.related_ticket_id or 0 for _, d in one_by_one}
            | {ticket_id for _, ticket_id in duplicates}
        )
        if held:
            back = [item for item, d in one_by_one if (d.ticket_id or d.related_ticket_id) in held]
            back += [item for item, ticket_id in duplicates if ticket_id in held]
            later = self._give_back(back, later)
            one_by_one = [(item, d) for item, d in one_by_one if (d.ticket_id or d.related_ticket_id) not in held]
            duplicates = [(item, ticket_id) for item, ticket_id in duplicates if ticket_id not in held]
        for item, ticket_id in duplicates:
            _mark_duplicate(item.row, ticket_id)
        self._open_tickets(new)
        replies = [
            (item, d)
            for item, d in one_by_one
            if d.action is thread_rules.Action.APPEND and not item.parsed.skipped and not self._cc_addresses(item)
        ]
        self._append_replies(replies)
        together = {id(item) for item, _ in replies}
        one_by_one = [(item, d) for item, d in one_by_one if id(item) not in together]
        for item, _ in one_by_one:
            # Decided again: a message placed before it in this batch may have changed the ticket.
            self._isolated(item.row, partial(lambda item: self._place(item, self._decide(item)), item))
        for item in sorted(later, key=lambda i: i.row.pk):
            self._isolated(item.row, partial(self._place_after_batch, item))
        for item in bounces:
            assert item.suppression is not None  # noqa: S101 - sorted out above
            self._isolated(item.row, partial(_suppress, item.row, item.parsed, item.suppression))
        retry, self.retry = self.retry, []
        for row, work in retry:
            _isolated(row, work)  # once more, now that the rest of the batch holds its locks

    def _isolated(self, row: InboundMessage, work: Callable[[], None]) -> None:
        """``_isolated``, but a deadlock or serialization failure is tried again at the end of the batch."""
        try:
            with transaction.atomic():
                work()
        except OperationalError as exc:
            if getattr(exc.__cause__, "pgcode", None) not in _TRANSIENT:
                _fail(row, exc)
                return
            logger.info("Inbound message %s met a concurrent change; trying it again.", row.pk)
            self.retry.append((row, work))
        except Exception as exc:
            _fail(row, exc)

    def _lock_tickets(self, ids: set[int]) -> set[int]:
        """Lock the existing tickets the batch will change, at once (each change locks its ticket
        again, already held). Waiting, in id order, so that two batches never wait for each other in
        a circle; or, without ``wait``, skipping the ones another worker holds: returns those."""
        ids.discard(0)
        if not ids:
            return set()
        tickets = Ticket.objects.filter(pk__in=ids).order_by("pk").values_list("pk", flat=True)
        if not self.wait:
            missing = ids - set(tickets.select_for_update(skip_locked=True))
            # Not locked: held by another worker, or gone (then placing the message says so).
            return set(Ticket.objects.filter(pk__in=missing).values_list("pk", flat=True)) if missing else set()
        try:
            with transaction.atomic():
                list(tickets.select_for_update())
        except OperationalError as exc:  # a deadlock all the same (e.g. over a new contact): lock one by one
            if getattr(exc.__cause__, "pgcode", None) not in _TRANSIENT:
                raise
            logger.info("Could not lock the batch's tickets at once; each message locks its own.")
        return set()

    def _give_back(self, items: list[_Item], later: list[_Item]) -> list[_Item]:
        """Leave messages for a later batch (pending, their attempt not counted), with the messages
        of this batch that thread to them or copy them; returns what is left of ``later``."""
        ids = {item.parsed.message_id for item in items if item.parsed.message_id}
        waiting = list(later)
        grown = True
        while grown:
            grown = False
            for item in list(waiting):
                if item.parsed.message_id in ids or any(m in ids for m in _candidates(item.row, item.parsed)):
                    waiting.remove(item)
                    items.append(item)
                    if item.parsed.message_id:
                        ids.add(item.parsed.message_id)
                    grown = True
        for item in items:
            item.row.attempts -= 1
            self.given_back.append(item.row)
        return waiting

    def _waits_for_batch(self, item: _Item, batch_ids: set[str]) -> bool:
        """Whether the message replies to another message of the batch (which must be placed first)."""
        own = item.parsed.message_id
        return any(m in batch_ids and m != own for m in _candidates(item.row, item.parsed))

    # --- lookups for the whole batch

    def _find_senders(self, items: list[_Item], *, batch_ids: set[str]) -> None:
        """The senders' contacts, with the people in To/Cc of the messages that open a ticket for
        sure, in one pass (one query, and new contacts created in address order)."""
        addresses = []
        for item in items:
            author = _author_address(item.parsed)
            if author is not None:
                addresses.append(author)
            if self._opens_a_ticket(item, batch_ids):
                addresses += self._cc_addresses(item)
        self._resolve(addresses)
        for item in items:
            try:
                item.sender = self._sender(item)
            except Exception as exc:
                _fail(item.row, exc)

    def _opens_a_ticket(self, item: _Item, batch_ids: set[str]) -> bool:
        """Whether the message opens a new ticket whoever sent it (nothing it could thread by)."""
        if item.row.source == Source.WEB:
            return True
        if self._waits_for_batch(item, batch_ids) or _subject_ticket_ids(item.parsed):
            return False
        return not any(m in self.known for m in _candidates(item.row, item.parsed))

    def _sender(self, item: _Item) -> Contact:
        author = _author_address(item.parsed)
        if author is None:
            raise parsing.EmailParseError("The message has no usable sender address (From or Reply-To).")
        return self.contact(author)

    def contact(self, address: parsing.Address) -> Contact:
        """The contact of an address, created if new; raises what creating it raised."""
        email = address.email
        if email not in self.contacts and email not in self.contact_errors:
            self._resolve([address])
        if email in self.contact_errors:
            raise self.contact_errors[email]
        return self.contacts[email]

    def _resolve(self, addresses: Iterable[parsing.Address]) -> None:
        """Find the contacts of these addresses in one query, and create the missing ones one by one
        through the accounts service, in address order (so two batches take the locks of new
        addresses in the same order)."""
        names: dict[str, str] = {}
        for address in addresses:
            if address.email and address.email not in self.contacts and address.email not in self.contact_errors:
                names.setdefault(address.email, address.name)  # the first message's name, as one by one
        if not names:
            return
        normalized: dict[str, str] = {}
        for email in names:
            with suppress(InvalidEmail):  # creating it below says why, as an AccountError
                normalized[email] = normalize_email(email)
        found = {
            row.email: row.contact
            for row in ContactEmail.objects.filter(email__in=set(normalized.values())).select_related(
                "contact__organization"
            )
        }
        for email in sorted(names):
            contact = found.get(normalized.get(email, ""))
            if contact is None:
                try:
                    contact = self._create_contact(email, names[email])
                except Exception as exc:  # AccountError: an unusable address; anything else: its messages fail
                    self.contact_errors[email] = exc
                    continue
                if email in normalized:
                    found[normalized[email]] = contact
            self.contacts[email] = contact

    @staticmethod
    def _create_contact(email: str, name: str) -> Contact:
        """A new contact for an address the lookup did not find (``contact_create`` is atomic: a
        failure rolls back its savepoint only). Another worker may have created it meanwhile."""
        try:
            # An unknown sender cannot be asked for required fields.
            return account_services.contact_create(email=email, name=name, enforce_required_fields=False)
        except (IntegrityError, AccountError):  # "already belongs to another contact": created meanwhile
            existing = account_selectors.contact_by_email(email)
            if existing is None:
                raise
            return existing

    def _prefetch_facts(self, items: list[_Item]) -> None:
        """What threading needs to know of the tickets the batch's messages point at, in two queries."""
        ids: set[int] = set()
        for item in items:
            if item.row.source == Source.WEB:
                continue
            ids.update(self.known[m] for m in _candidates(item.row, item.parsed) if m in self.known)
            ids.update(_subject_ticket_ids(item.parsed))
        ids -= self.facts.keys()
        if not ids:
            return
        ccs: dict[int, set[int]] = defaultdict(set)
        for ticket_id, contact_id in TicketCC.objects.filter(ticket_id__in=ids).values_list("ticket_id", "contact_id"):
            ccs[ticket_id].add(contact_id)
        for pk, status, merged_into_id, requester_id, organization_id in Ticket.objects.filter(pk__in=ids).values_list(
            "pk", "status", "merged_into_id", "requester_id", "organization_id"
        ):
            self.facts[pk] = thread_rules.TicketFacts(
                ticket_id=pk,
                is_closed=status == Status.CLOSED,
                merged_into_id=merged_into_id,
                requester_id=requester_id,
                organization_id=organization_id,
                cc_contact_ids=frozenset(ccs[pk]),
            )
        for pk in ids - self.facts.keys():
            self.facts[pk] = None

    def ticket_facts(self, ticket_id: int) -> thread_rules.TicketFacts | None:
        if ticket_id not in self.facts:
            self.facts[ticket_id] = _ticket_facts(ticket_id)
        return self.facts[ticket_id]

    def _decide(self, item: _Item) -> thread_rules.Decision:
        assert item.sender is not None  # noqa: S101 - only messages with a sender are placed
        return _decide(item.row, item.parsed, item.sender, known=self.known, facts=self.ticket_facts)

    # --- writes

    def _not_cc(self, item: _Item) -> set[str]:
        author = _author_address(item.parsed)
        return {*self.own, author.email.lower()} if author else set(self.own)

    def _cc_addresses(self, item: _Item) -> list[parsing.Address]:
        not_cc = self._not_cc(item)
        return [a for a in (*item.parsed.to, *item.parsed.cc) if a.email and a.email.lower() not in not_cc]

    def _cc_contacts(self, item: _Item) -> list[Contact]:
        contacts: dict[int, Contact] = {}
        for address in self._cc_addresses(item):
            try:
                contact = self.contact(address)
            except AccountError:  # an unusable address in Cc is not a reason to lose the message
                continue
            contacts[contact.pk] = contact
        return list(contacts.values())

    def _ticket_spec(self, item: _Item, decision: thread_rules.Decision) -> NewTicket:
        row, parsed, mailbox = item.row, item.parsed, item.row.mailbox
        assert item.sender is not None  # noqa: S101 - only messages with a sender are placed
        return NewTicket(
            subject=parsed.subject or "(no subject)",
            requester=item.sender,
            channel=_channel_for(row),
            messages=[_new_message(parsed, decision.rule)],
            priority=mailbox.default_priority if mailbox else NewTicket.priority,
            team=mailbox.default_team if mailbox else None,
            type=mailbox.default_type if mailbox else None,
            cc=self._cc_contacts(item),
        )

    def _open_tickets(self, work: list[tuple[_Item, thread_rules.Decision]]) -> None:
        """New tickets with one ``tickets_create_bulk``. It is all or nothing: if it refuses, each
        message is placed alone, so only the one at fault is quarantined."""
        if not work:
            return
        self._resolve(a for item, _ in work for a in self._cc_addresses(item))
        specs: list[NewTicket] = []
        ready: list[tuple[_Item, thread_rules.Decision]] = []
        for item, decision in work:
            try:
                specs.append(self._ticket_spec(item, decision))
            except Exception as exc:
                _fail(item.row, exc)
                continue
            ready.append((item, decision))
        if not specs:
            return
        try:
            tickets = ticket_services.tickets_create_bulk(specs)  # atomic: a refusal rolls back its savepoint
        except Exception as exc:
            if len(ready) == 1:
                _fail(ready[0][0].row, exc)
                return
            logger.info("%s new tickets were refused together; opening them one by one.", len(ready), exc_info=True)
            for item, decision in ready:
                self._isolated(item.row, partial(self._place, item, decision))
            return
        first_messages = dict(Message.objects.filter(ticket__in=tickets).order_by("-id").values_list("ticket_id", "pk"))
        for (item, decision), ticket in zip(ready, tickets, strict=True):
            _placed(item.row, ticket, first_messages.get(ticket.pk), Outcome.TICKET_CREATED, decision.rule)

    def _append_replies(self, work: list[tuple[_Item, thread_rules.Decision]]) -> None:
        """Replies to existing tickets (naming nobody to copy) with one ``tickets_add_customer_replies``.
        It is all or nothing: if it refuses, each reply is placed alone."""
        if not work:
            return
        replies = []
        for item, decision in work:
            assert item.sender is not None  # noqa: S101 - sorted out above
            assert decision.ticket_id is not None  # noqa: S101 - an append names its ticket
            replies.append(
                CustomerReply(
                    ticket_id=decision.ticket_id,
                    contact=item.sender,
                    channel=_channel_for(item.row),
                    message=_new_message(item.parsed, decision.rule),
                )
            )
        try:
            # Atomic: a refusal rolls back its own savepoint only.
            messages = ticket_services.tickets_add_customer_replies(replies)
        except Exception as exc:
            if len(work) == 1:
                _fail(work[0][0].row, exc)
                return
            logger.info("%s replies were refused together; adding them one by one.", len(work), exc_info=True)
            for item, decision in work:
                self._isolated(item.row, partial(self._place, item, decision))
            return
        for (item, decision), message in zip(work, messages, strict=True):
            self.facts.pop(message.ticket_id, None)
            _placed(item.row, message.ticket, message.pk, Outcome.APPENDED, decision.rule)

    def _place(self, item: _Item, decision: thread_rules.Decision) -> None:
        """Put one message where the threading rules say. The people in To/Cc (but us and the sender)
        become CCs of a new ticket, or of an existing one only when the sender belongs to it: a
        message that merely threads by a known Message-ID must not add addresses that would receive
        the desk's replies."""
        row, parsed, sender = item.row, item.parsed, item.sender
        assert sender is not None  # noqa: S101 - only messages with a sender are placed
        channel = _channel_for(row)
        if decision.action is thread_rules.Action.APPEND:
            assert decision.ticket_id is not None  # noqa: S101 - an append names its ticket
            new_message = _new_message(parsed, decision.rule)
            message = ticket_services.ticket_reply(
                ticket=Ticket(pk=decision.ticket_id),  # ticket_reply locks and reads the row itself
                by=Actor.customer(sender, channel),
                body_text=new_message.body_text,
                body_html=new_message.body_html,
                attachments=new_message.attachments,
                message_headers={name: getattr(new_message, name) for name in _MESSAGE_FIELDS},
            )
            ticket = message.ticket
            self.facts.pop(ticket.pk, None)
            if self._cc_addresses(item):
                facts = _ticket_facts(ticket.pk)
                if facts is not None and thread_rules.sender_belongs(facts, sender.pk, sender.organization_id):
                    cc = self._cc_contacts(item)
                    if cc:
                        ticket_services.ticket_update_cc(ticket=ticket, by=Actor(channel=channel), add=cc)
            _note_skipped_parts(row, parsed, ticket, channel)
            _placed(row, ticket, message.pk, Outcome.APPENDED, decision.rule)
            return
        spec = self._ticket_spec(item, decision)
        by = Actor.customer(sender, channel)
        if decision.action is thread_rules.Action.NEW_LINKED:
            related = Ticket.objects.get(pk=decision.related_ticket_id)
            kind = LinkKind.FOLLOW_UP if decision.rule == thread_rules.Rule.FOLLOW_UP else LinkKind.RELATED
            ticket = ticket_services.ticket_create_linked(related=related, spec=spec, by=by, kind=kind)
        else:
            ticket = ticket_services.tickets_create_bulk([spec], by=by)[0]
        message_id = ticket.messages.order_by("id").values_list("pk", flat=True).first()
        _note_skipped_parts(row, parsed, ticket, channel)
        _placed(row, ticket, message_id, Outcome.TICKET_CREATED, decision.rule)

    def _place_after_batch(self, item: _Item) -> None:
        """A message that waited for the rest of its batch, placed with fresh lookups as if it had
        come after it."""
        row, parsed = item.row, item.parsed
        if parsed.message_id:
            earlier = _known_message_ids([parsed.message_id]).get(parsed.message_id)
            if earlier is not None:
                _mark_duplicate(row, earlier)
                return
        if item.sender is None:
            item.sender = self._sender(item)
        self._place(item, _decide(row, parsed, item.sender))


# Shown for a message that arrived with a subject but no text and no attachment.
EMPTY_BODY_TEXT = "(The message had no text.)"

_MESSAGE_FIELDS = (
    "message_id",
    "in_reply_to",
    "references",
    "from_address",
    "to_addresses",
    "cc_addresses",
    "threading_rule",
    "quoted_text",
)


def _new_message(parsed: parsing.ParsedEmail, rule: str) -> NewMessage:
    split = quotes.split_reply(parsed.text)
    text = split.visible if split.visible.strip() else parsed.text
    if not (text.strip() or parsed.html.strip() or parsed.attachments):
        text = EMPTY_BODY_TEXT
    return NewMessage(
        body_text=text,
        body_html=parsed.html,
        created_at=None,
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=" ".join(parsed.references),
        from_address=(_author_address(parsed) or parsing.Address("", "")).email,
        to_addresses=", ".join(a.email for a in parsed.to),
        cc_addresses=", ".join(a.email for a in parsed.cc),
        threading_rule=rule,
        quoted_text=split.quoted if split.visible.strip() else "",
        attachments=_attachments(parsed),
    )


def _attachments(parsed: parsing.ParsedEmail) -> list[NewAttachment]:
    return [
        NewAttachment(filename=a.filename, content=a.content, content_id=a.content_id, is_inline=a.is_inline)
        for a in parsed.attachments
    ]


def _note_skipped_parts(row: InboundMessage, parsed: parsing.ParsedEmail, ticket: Ticket, channel: str) -> None:
    """Tell the agents, on the ticket, what was not stored (the raw original is kept in intake)."""
    if not parsed.skipped:
        return
    lines = [f"- {s.filename or 'unnamed part'} ({s.size:,} bytes): {s.reason}" for s in parsed.skipped]
    ticket_services.ticket_add_note(
        ticket=ticket,
        by=Actor(channel=channel),
        body_text=f"Parts of the message were not stored (the original is kept as intake #{row.pk}):\n"
        + "\n".join(lines),
    )


def _acknowledge(rows: list[InboundMessage]) -> None:
    """Acknowledge the tickets the batch opened to their senders, with one task after commit (the
    acknowledgement's own limits apply when it is sent). Not for a message stored with notify off
    (``ingest_email --no-notify``): the flag is on the stored row, so it holds whichever process or
    worker opens the ticket."""
    ticket_ids = [row.ticket_id for row in rows if row.outcome == Outcome.TICKET_CREATED and row.notify]
    if ticket_ids:
        transaction.on_commit(partial(_queue_acknowledgements, ticket_ids))


def _queue_acknowledgements(ticket_ids: list[int]) -> None:
    from channels_intake.tasks import send_acknowledgement_task, send_acknowledgements_task

    try:
        if len(ticket_ids) == 1:
            send_acknowledgement_task.delay(ticket_ids[0])
        else:
            send_acknowledgements_task.delay(ticket_ids)
    except Exception:
        logger.warning("Could not queue the acknowledgements for tickets %s.", ticket_ids, exc_info=True)


# --- Polling ---------------------------------------------------------------------------------------


def mailbox_poll(mailbox_id: int) -> int:
    """Fetch new mail of one mailbox (IMAP or POP3) into storage; returns how many messages were stored.

    Mail leaves the server only after its raw bytes are committed here. A server error is recorded
    on the mailbox (visible in the admin) rather than raised.
    """
    from channels_intake.email.transports import imap, pop3
    from channels_intake.models import Protocol

    mailbox = Mailbox.objects.get(pk=mailbox_id)
    source = Source.POP3 if mailbox.protocol == Protocol.POP3 else Source.IMAP

    def stored(remote_ids: list[str]) -> set[str]:
        return set(
            InboundMessage.objects.filter(mailbox=mailbox, remote_id__in=remote_ids).values_list("remote_id", flat=True)
        )

    def store(raw: bytes, remote_id: str) -> InboundMessage:
        return inbound_store(raw=raw, source=source, mailbox=mailbox, remote_id=remote_id)

    try:
        if mailbox.protocol == Protocol.POP3:
            pop3_config = pop3.Pop3Settings(
                host=mailbox.host,
                port=mailbox.port,
                security=mailbox.security,
                username=mailbox.username,
                secret=mailbox.secret,
            )
            result = pop3.poll(pop3_config, stored_remote_ids=stored, store=store)
        elif mailbox.protocol == Protocol.IMAP:
            imap_config = imap.ImapSettings(
                host=mailbox.host,
                port=mailbox.port,
                security=mailbox.security,
                username=mailbox.username,
                secret=mailbox.secret,
                folder=mailbox.folder,
                archive_folder=mailbox.archive_folder,
            )
            result = imap.poll(imap_config, stored_remote_ids=stored, store=store)
        else:
            raise ValueError(f"Unknown protocol {mailbox.protocol!r}.")
    except Exception as exc:
        logger.warning("Polling mailbox %s failed: %s", mailbox, exc)
        Mailbox.objects.filter(pk=mailbox.pk).update(last_error=f"{type(exc).__name__}: {exc}"[:2000])
        return 0
    Mailbox.objects.filter(pk=mailbox.pk).update(last_polled_at=timezone.now(), last_error="")
    return result.fetched


# --- Summaries ----------------------------------------------------------------------------------------


def summarize(rows: Iterable[InboundMessage]) -> dict[str, int]:
    """Counts for ``ingest_email --json``: the last five always add up to ``received``."""
    counts = {
        "received": 0,
        "tickets_created": 0,
        "messages_appended": 0,
        "duplicates": 0,
        "suppressed": 0,
        "quarantined": 0,
    }
    key = {
        Outcome.TICKET_CREATED: "tickets_created",
        Outcome.APPENDED: "messages_appended",
        Outcome.DUPLICATE: "duplicates",
        Outcome.SUPPRESSED: "suppressed",
        Outcome.QUARANTINED: "quarantined",
    }
    for row in rows:
        if row.outcome == Outcome.PENDING:
            raise ValueError(f"Inbound message {row.pk} is still pending; summarize processed rows only.")
        counts["received"] += 1
        counts[key[Outcome(row.outcome)]] += 1
    return counts
