"""Intake: store what a channel receives first, then process it idempotently into tickets.

``inbound_store`` commits the raw bytes (and nothing else) so that the sender, an IMAP server or
a web visitor can be told "received" without waiting for parsing. ``inbound_process`` turns one
stored row into a ticket, an appended message, a suppression or a quarantine; it can run any
number of times for the same row and acts once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Contact
from accounts.services import AccountError
from channels_intake.email import autoreply, parsing, quotes
from channels_intake.email import threading as thread_rules
from channels_intake.models import InboundMessage, Mailbox, Outcome, Source
from tickets import services as ticket_services
from tickets.choices import Channel, LinkKind, Status
from tickets.domain.references import find_subject_tokens
from tickets.models import Message, Ticket, TicketCC
from tickets.services import Actor, NewAttachment, NewMessage, NewTicket, TicketError

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


@dataclass(frozen=True)
class _Placement:
    ticket: Ticket
    message: Message
    outcome: str
    rule: str


def inbound_process(inbound_id: int) -> InboundMessage:
    """Process one stored message exactly once; a second call returns the row as it is.

    Anything that cannot be processed is quarantined with its reason and kept for a retry; no
    exception escapes, so a bad message never crashes a worker.
    """
    # Counted before the work and committed on its own: a worker killed mid-way (time limit,
    # memory) rolls its work back but not this count, so a message that kills workers stops.
    InboundMessage.objects.filter(pk=inbound_id, outcome=Outcome.PENDING).update(attempts=F("attempts") + 1)
    with transaction.atomic():
        row = InboundMessage.objects.select_for_update(of=("self",)).select_related("mailbox").get(pk=inbound_id)
        if row.outcome != Outcome.PENDING:
            return row
        if row.attempts > settings.INTAKE_MAX_ATTEMPTS:
            _quarantine(row, f"Processing was started {row.attempts - 1} times and never finished (worker killed?).")
            row.processed_at = timezone.now()
            row.save(update_fields=_PROCESSING_FIELDS)
            return row
        try:
            with transaction.atomic():
                _process(row)
        except (parsing.EmailParseError, TicketError, AccountError) as exc:
            _quarantine(row, str(getattr(exc, "reason", "") or exc))
        except Exception as exc:
            logger.exception("Inbound message %s could not be processed", row.pk)
            _quarantine(row, f"Internal error: {type(exc).__name__}: {exc}")
        row.processed_at = timezone.now()
        # Never write the raw bytes back: they are stored once, as received.
        row.save(update_fields=_PROCESSING_FIELDS)
    return row


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


def _process(row: InboundMessage) -> None:
    parsed = parsing.parse_email(bytes(row.raw), max_attachment_bytes=ticket_services.MAX_ATTACHMENT_BYTES)
    row.subject = parsed.subject[:255]
    row.from_address = parsed.sender.email[:254] if parsed.sender else ""
    ours = own_addresses()
    suppression = autoreply.classify(parsed, own_addresses=ours)
    if suppression is not None:
        _suppress(row, parsed, suppression)
        return
    if parsed.message_id:
        earlier = Message.objects.filter(message_id=parsed.message_id).select_related("ticket").first()
        if earlier is not None:
            # The same message reached us again in other bytes (or claims one of our own ids).
            row.outcome = Outcome.DUPLICATE
            row.reason = f"A message with this Message-ID is already on {earlier.ticket.reference}."
            row.ticket = earlier.ticket
            return
    author = _author_address(parsed)
    if author is None:
        raise parsing.EmailParseError("The message has no usable sender address (From or Reply-To).")
    sender, _ = account_services.contact_get_or_create_by_email(email=author.email, name=author.name)
    placement = _place(row, parsed, sender, not_cc={*ours, author.email.lower()})
    row.outcome = placement.outcome
    row.ticket = placement.ticket
    row.message = placement.message
    row.threading_rule = placement.rule
    row.reason = ""


def _author_address(parsed: parsing.ParsedEmail) -> parsing.Address | None:
    """From, or Reply-To when From carries no address (as some mailers send it)."""
    if parsed.sender is not None and parsed.sender.email:
        return parsed.sender
    return next((a for a in parsed.reply_to if a.email), None)


def _suppress(row: InboundMessage, parsed: parsing.ParsedEmail, suppression: autoreply.Suppression) -> None:
    row.outcome = Outcome.SUPPRESSED
    row.reason = f"{suppression.kind}: {suppression.reason}"
    if (
        suppression.kind == "bounce"
        and parsed.bounced_message_id
        and autoreply.bounce_is_permanent(bytes(row.raw), parsed.subject)
    ):
        bounced = Message.objects.filter(message_id=parsed.bounced_message_id).select_related("ticket").first()
        if bounced is not None:
            ticket_services.message_record_bounce(message=bounced, reason=_bounce_summary(parsed))
            row.ticket = bounced.ticket


def _bounce_summary(parsed: parsing.ParsedEmail) -> str:
    text = " ".join(parsed.text.split())
    return f"{parsed.subject}: {text[:500]}" if text else parsed.subject


def _cc_contacts(parsed: parsing.ParsedEmail, *, exclude: set[str]) -> list[Contact]:
    contacts: dict[int, Contact] = {}
    for address in [*parsed.to, *parsed.cc]:
        email = address.email.lower()
        if not email or email in exclude:
            continue
        try:
            contact, _ = account_services.contact_get_or_create_by_email(email=email, name=address.name)
        except AccountError:  # an unusable address in Cc is not a reason to lose the message
            continue
        contacts[contact.pk] = contact
    return list(contacts.values())


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


def _decide(row: InboundMessage, parsed: parsing.ParsedEmail, sender: Contact) -> thread_rules.Decision:
    if row.source == Source.WEB:
        # A web form's sender address is not verified: it never threads into an existing ticket.
        return thread_rules.Decision(thread_rules.Action.NEW_TICKET, thread_rules.Rule.NEW)
    candidates = [msgid for msgid, _ in thread_rules.candidate_message_ids(parsed.in_reply_to, parsed.references)]
    # The first message with an id decides (newest id last in the dict would win otherwise), so a
    # later copy of a Message-ID, placed elsewhere, can never redirect a thread.
    known = (
        dict(Message.objects.filter(message_id__in=candidates).order_by("-id").values_list("message_id", "ticket_id"))
        if candidates
        else {}
    )
    return thread_rules.decide(
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        known_message_ids=known,
        subject_ticket_ids=find_subject_tokens(parsed.subject, settings.TICKET_REFERENCE_PREFIX),
        facts=_ticket_facts,
        sender_contact_id=sender.pk,
        sender_organization_id=sender.organization_id,
    )


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


def _place(row: InboundMessage, parsed: parsing.ParsedEmail, sender: Contact, *, not_cc: set[str]) -> _Placement:
    """Put the message where the threading rules say. The people in To/Cc (but ``not_cc``) become
    CCs of a new ticket, or of an existing one only when the sender belongs to it: a message that
    merely threads by a known Message-ID must not add addresses that would receive the desk's replies."""
    decision = _decide(row, parsed, sender)
    channel = _channel_for(row)
    new_message = _new_message(parsed, decision.rule)
    if decision.action is thread_rules.Action.APPEND:
        ticket = Ticket.objects.get(pk=decision.ticket_id)
        message = ticket_services.ticket_reply(
            ticket=ticket,
            by=Actor.customer(sender, channel),
            body_text=new_message.body_text,
            body_html=new_message.body_html,
            attachments=new_message.attachments,
            message_headers={name: getattr(new_message, name) for name in _MESSAGE_FIELDS},
        )
        named = [a for a in (*parsed.to, *parsed.cc) if a.email and a.email.lower() not in not_cc]
        facts = _ticket_facts(ticket.pk) if named else None
        if facts is not None and thread_rules.sender_belongs(facts, sender.pk, sender.organization_id):
            cc = _cc_contacts(parsed, exclude=not_cc)
            if cc:
                ticket_services.ticket_update_cc(ticket=ticket, by=Actor(channel=channel), add=cc)
        _note_skipped_parts(row, parsed, ticket, channel)
        return _Placement(ticket, message, Outcome.APPENDED, decision.rule)
    mailbox = row.mailbox
    spec = NewTicket(
        subject=parsed.subject or "(no subject)",
        requester=sender,
        channel=channel,
        messages=[new_message],
        priority=mailbox.default_priority if mailbox else NewTicket.priority,
        team=mailbox.default_team if mailbox else None,
        type=mailbox.default_type if mailbox else None,
        cc=_cc_contacts(parsed, exclude=not_cc),
    )
    by = Actor.customer(sender, channel)
    if decision.action is thread_rules.Action.NEW_LINKED:
        related = Ticket.objects.get(pk=decision.related_ticket_id)
        kind = LinkKind.FOLLOW_UP if decision.rule == thread_rules.Rule.FOLLOW_UP else LinkKind.RELATED
        ticket = ticket_services.ticket_create_linked(related=related, spec=spec, by=by, kind=kind)
    else:
        ticket = ticket_services.tickets_create_bulk([spec], by=by)[0]
    message = ticket.messages.order_by("id").first()
    _note_skipped_parts(row, parsed, ticket, channel)
    transaction.on_commit(lambda: _queue_acknowledgement(ticket.pk))
    return _Placement(ticket, message, Outcome.TICKET_CREATED, decision.rule)


def _queue_acknowledgement(ticket_id: int) -> None:
    from channels_intake.tasks import send_acknowledgement_task

    try:
        send_acknowledgement_task.delay(ticket_id)
    except Exception:
        logger.warning("Could not queue the acknowledgement for ticket %s.", ticket_id, exc_info=True)


# --- Polling ---------------------------------------------------------------------------------------


def mailbox_poll(mailbox_id: int) -> int:
    """Fetch new mail of one mailbox into storage; returns how many messages were stored.

    A server error is recorded on the mailbox (visible in the admin) rather than raised.
    """
    from channels_intake.email.transports import imap

    mailbox = Mailbox.objects.get(pk=mailbox_id)
    config = imap.ImapSettings(
        host=mailbox.host,
        port=mailbox.port,
        security=mailbox.security,
        username=mailbox.username,
        secret=mailbox.secret,
        folder=mailbox.folder,
        archive_folder=mailbox.archive_folder,
    )

    def stored(remote_ids: list[str]) -> set[str]:
        return set(
            InboundMessage.objects.filter(mailbox=mailbox, remote_id__in=remote_ids).values_list("remote_id", flat=True)
        )

    def store(raw: bytes, remote_id: str) -> InboundMessage:
        return inbound_store(raw=raw, source=Source.IMAP, mailbox=mailbox, remote_id=remote_id)

    try:
        result = imap.poll(config, stored_remote_ids=stored, store=store)
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
