"""Every change to a ticket goes through this module.

Each function is atomic, validates before it writes (an invalid request raises
:class:`TicketError` and writes nothing), records what changed as :class:`TicketEvent` rows
and publishes those events to Celery after commit. The agent UI, the portal, the API and the
intake workers all call these functions; nothing else saves a ticket.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.choices import CustomFieldEntity
from accounts.domain import custom_fields as cf
from accounts.models import AgentProfile, Contact, ContactEmail, Organization, Team
from tickets import sla
from tickets.choices import Channel, DeliveryStatus, EventAction, LinkKind, MessageKind, Priority, Status
from tickets.domain import status as state
from tickets.domain.files import safe_filename, sha256_hex, sniff_content_type
from tickets.models import Attachment, Message, Tag, Ticket, TicketCC, TicketEvent, TicketLink, TicketType

logger = logging.getLogger(__name__)
User = get_user_model()

MAX_SUBJECT = 255
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024


class TicketError(ValueError):
    """A change that is not allowed or not valid. Nothing was written.

    ``field`` names the input at fault where there is one, for forms and API error bodies.
    """

    def __init__(self, message: str, *, field: str | None = None, errors: Mapping[str, str] | None = None) -> None:
        self.field = field
        self.errors = dict(errors or ({field: message} if field else {}))
        super().__init__(message)


class PermissionDenied(TicketError):
    """The actor may not make this change at all."""


# --- Who is acting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who makes a change and through which door."""

    user: User | None = None  # type: ignore[valid-type]
    contact: Contact | None = None
    channel: str = Channel.AGENT_UI

    @classmethod
    def agent(cls, user: User, channel: str = Channel.AGENT_UI) -> Actor:  # type: ignore[valid-type]
        return cls(user=user, channel=channel)

    @classmethod
    def customer(cls, contact: Contact, channel: str, user: User | None = None) -> Actor:  # type: ignore[valid-type]
        return cls(user=user, contact=contact, channel=channel)

    @classmethod
    def system(cls) -> Actor:
        return cls(channel=Channel.SYSTEM)

    @property
    def is_customer(self) -> bool:
        return self.contact is not None

    @property
    def is_agent(self) -> bool:
        return self.contact is None and self.user is not None


def _require_agent(by: Actor, what: str) -> None:
    if by.is_customer:
        raise PermissionDenied(f"Customers cannot {what}.")
    if by.user is not None and not _is_active_agent(by.user.pk):
        raise PermissionDenied(f"Only agents can {what}.")


def _is_active_agent(user_id: int) -> bool:
    return AgentProfile.objects.filter(user_id=user_id, is_active=True, user__is_active=True).exists() or (
        User.objects.filter(pk=user_id, is_superuser=True, is_active=True).exists()
    )


# --- Input records --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewAttachment:
    filename: str
    content: bytes
    content_id: str = ""
    is_inline: bool = False


@dataclass(frozen=True)
class NewMessage:
    """One message of a new or imported ticket. Author: ``author_user`` (agent) or the requester."""

    body_text: str = ""
    body_html: str = ""
    kind: str = MessageKind.REPLY
    author_user: User | None = None  # type: ignore[valid-type]
    author_contact: Contact | None = None
    created_at: datetime | None = None
    message_id: str = ""
    in_reply_to: str = ""
    references: str = ""
    from_address: str = ""
    to_addresses: str = ""
    cc_addresses: str = ""
    threading_rule: str = ""
    quoted_text: str = ""
    attachments: Sequence[NewAttachment] = ()


@dataclass
class NewTicket:
    """Everything needed to open a ticket. ``messages[0]`` is the description.

    ``status`` other than new and explicit times exist for imports and for tickets solved on the
    phone; normal intake leaves them alone.
    """

    subject: str
    requester: Contact
    channel: str
    messages: Sequence[NewMessage] = ()
    priority: str = Priority.NORMAL
    status: str = Status.NEW
    type: TicketType | None = None
    team: Team | None = None
    assignee: User | None = None  # type: ignore[valid-type]
    organization: Organization | None = None
    tags: Iterable[str] = ()
    cc: Iterable[Contact] = ()
    custom_fields: Mapping[str, object] = field(default_factory=dict)
    created_at: datetime | None = None
    # Email and imports cannot ask the sender for a required field: only the given values are checked.
    enforce_required_fields: bool = True


# --- Publishing ---------------------------------------------------------------------------------


def _send_publish() -> None:
    from tickets.tasks import publish_ticket_events_task

    try:
        publish_ticket_events_task.delay()
    except Exception:  # the broker is down; the periodic sweep will catch up
        logger.warning("Could not queue ticket event publishing; the periodic sweep will retry.", exc_info=True)


# Set inside ``batch()``: the changes made there ask for publishing once, when the batch ends.
_publish_wanted: ContextVar[list[bool] | None] = ContextVar("publish_wanted", default=None)


def _publish_after_commit() -> None:
    """Hand new events to the worker once the transaction commits.

    If the broker is unreachable the events stay unpublished in the database and the beat sweep
    (``publish-pending-ticket-events``) delivers them later: the caller's change never fails for it.
    Inside ``batch()`` the changes of the whole batch are handed over with one task.
    """
    wanted = _publish_wanted.get()
    if wanted is not None:
        wanted.append(True)
        return
    transaction.on_commit(_send_publish)


@contextmanager
def batch() -> Iterator[None]:
    """Many changes in one transaction (intake processes a batch of messages at once): reads that
    do not change meanwhile (SLA selection rules, policy versions) are made once, and the events of
    all the changes are published with one task after commit.

    Use it inside the transaction (``with transaction.atomic(): with batch(): ...``). A change
    rolled back in a savepoint may still leave that one task queued: publishing finds nothing new,
    which is harmless, while never queueing it would leave events to the periodic sweep.
    """
    if _publish_wanted.get() is not None:  # nested: the outer batch publishes
        yield
        return
    wanted: list[bool] = []
    token = _publish_wanted.set(wanted)
    try:
        with sla.reads_cached():
            yield
    finally:
        _publish_wanted.reset(token)
    if wanted:
        transaction.on_commit(_send_publish)


def _event(
    ticket: Ticket,
    by: Actor,
    action: str,
    *,
    field: str = "",
    old: object = "",
    new: object = "",
    message: Message | None = None,
    at: datetime | None = None,
    new_ref: int | None = None,
) -> TicketEvent:
    return TicketEvent(
        ticket=ticket,
        action=action,
        field=field,
        old_value="" if old is None else str(old),
        new_value="" if new is None else str(new),
        new_ref=new_ref,
        message=message,
        actor=by.user,
        actor_contact=by.contact,
        channel=by.channel,
        created_at=at or timezone.now(),
    )


# --- Validation helpers ---------------------------------------------------------------------------


def _clean_subject(subject: str) -> str:
    # Never let a subject carry line breaks into mail headers.
    value = " ".join((subject or "").replace("\r", " ").replace("\n", " ").split())
    if not value:
        raise TicketError("A ticket needs a subject.", field="subject")
    if len(value) > MAX_SUBJECT:
        value = value[: MAX_SUBJECT - 1] + "…"
    return value


@functools.cache
def _choice_values(choices: type) -> tuple[str, ...]:
    return tuple(c.value for c in choices)  # type: ignore[attr-defined]


def _check_choice(value: str, choices: type, field_name: str) -> str:
    valid = _choice_values(choices)
    if value not in valid:
        raise TicketError(f"Unknown {field_name} {value!r}; use one of: {', '.join(valid)}.", field=field_name)
    return value


def _active_agent_ids(user_ids: Iterable[int]) -> set[int]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return set()
    agents = set(
        AgentProfile.objects.filter(user_id__in=ids, is_active=True, user__is_active=True).values_list(
            "user_id", flat=True
        )
    )
    return agents | set(
        User.objects.filter(pk__in=ids - agents, is_superuser=True, is_active=True).values_list("pk", flat=True)
    )


def _team_member_pairs(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which (user_id, team_id) pairs are memberships."""
    pairs = set(pairs)
    if not pairs:
        return set()
    through = AgentProfile.teams.through
    rows = through.objects.filter(
        agentprofile__user_id__in={u for u, _ in pairs}, team_id__in={t for _, t in pairs}
    ).values_list("agentprofile__user_id", "team_id")
    return set(rows) & pairs


def _tags_by_name(names: Iterable[str]) -> dict[str, Tag]:
    """Normalised name -> Tag, creating missing tags."""
    try:
        wanted = {Tag.normalize(name) for name in names}
    except Exception as exc:
        raise TicketError(str(getattr(exc, "message", exc)), field="tags") from exc
    if not wanted:
        return {}
    found = {t.name: t for t in Tag.objects.filter(name__in=wanted)}
    missing = wanted - found.keys()
    if missing:
        Tag.objects.bulk_create([Tag(name=name) for name in missing], ignore_conflicts=True)
        found = {t.name: t for t in Tag.objects.filter(name__in=wanted)}
    return found


def _validate_custom_fields(
    values: Mapping[str, object],
    specs: Sequence[cf.FieldSpec],
    existing: Mapping | None = None,
    *,
    require: bool = True,
) -> dict:
    try:
        return cf.validate_values(  # type: ignore[arg-type]
            specs, values, existing=existing, partial=existing is not None or not require
        )
    except cf.CustomFieldError as exc:
        raise TicketError(str(exc), errors={f"custom_fields.{k}": v for k, v in exc.errors.items()}) from exc


def _build_attachments(message: Message, files: Sequence[NewAttachment]) -> list[Attachment]:
    rows = []
    for upload in files:
        if len(upload.content) > MAX_ATTACHMENT_BYTES:
            raise TicketError(
                f"{safe_filename(upload.filename)} is larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB.",
                field="attachments",
            )
        digest = sha256_hex(upload.content)
        attachment = Attachment(
            message=message,
            filename=safe_filename(upload.filename),
            content_type=sniff_content_type(upload.content),
            size=len(upload.content),
            sha256=digest,
            content_id=upload.content_id.strip("<> ")[:255],
            is_inline=upload.is_inline,
        )
        attachment.file.save(digest, ContentFile(upload.content), save=False)
        rows.append(attachment)
    return rows


# --- Creating tickets ---------------------------------------------------------------------------


@transaction.atomic
def tickets_create_bulk(specs: Sequence[NewTicket], *, by: Actor | None = None, publish: bool = True) -> list[Ticket]:
    """Open many tickets at once: the same rules and audit as :func:`ticket_create`, in a few queries.

    Used by ``ticket_create`` (one spec), imports and the demo data. All or nothing: one invalid
    spec rejects the batch. ``publish=False`` (imports, demo data) records the audit events as
    already published, so importing history sends no notifications or emails.
    """
    if not specs:
        return []
    now = timezone.now()
    ticket_specs = account_selectors.custom_field_specs(CustomFieldEntity.TICKET)
    agent_ids = _active_agent_ids(s.assignee.pk for s in specs if s.assignee is not None)
    memberships = _team_member_pairs((s.assignee.pk, s.team.pk) for s in specs if s.assignee and s.team)
    tags = _tags_by_name(name for s in specs for name in s.tags)

    tickets: list[Ticket] = []
    for index, spec in enumerate(specs):
        where = f" (ticket {index + 1} of {len(specs)})" if len(specs) > 1 else ""
        try:
            _check_choice(spec.channel, Channel, "channel")
            if spec.channel in (Channel.SYSTEM, Channel.AGENT_UI):
                raise TicketError(f"{spec.channel} is not a channel a ticket can come in through.", field="channel")
            _check_choice(spec.priority, Priority, "priority")
            _check_choice(spec.status, Status, "status")
            if spec.assignee is not None:
                if spec.assignee.pk not in agent_ids:
                    raise TicketError(f"{spec.assignee} is not an active agent.", field="assignee")
                if spec.team is not None and (spec.assignee.pk, spec.team.pk) not in memberships:
                    raise TicketError(f"{spec.assignee} is not a member of {spec.team}.", field="assignee")
            if spec.requester.pk is None:
                raise TicketError("The requester must be saved first.", field="requester")
            if spec.type is not None and not spec.type.is_active:
                raise TicketError(f"The ticket type {spec.type} is retired.", field="type")
            created = spec.created_at or (
                spec.messages[0].created_at if spec.messages and spec.messages[0].created_at else now
            )
            status_value = Status(spec.status)
            ticket = Ticket(
                subject=_clean_subject(spec.subject),
                status=status_value,
                priority=spec.priority,
                type=spec.type,
                channel=spec.channel,
                requester=spec.requester,
                organization=spec.organization if spec.organization is not None else spec.requester.organization,
                assignee=spec.assignee,
                team=spec.team,
                custom_fields=_validate_custom_fields(
                    spec.custom_fields, ticket_specs, require=spec.enforce_required_fields
                ),
                created_at=created,
                updated_at=max([created, *(m.created_at for m in spec.messages if m.created_at)]),
                solved_at=created if status_value in (Status.SOLVED, Status.CLOSED) else None,
                closed_at=created if status_value is Status.CLOSED else None,
            )
        except TicketError as exc:
            raise TicketError(f"{exc}{where}", field=exc.field, errors=exc.errors) from exc
        tickets.append(ticket)

    messages: list[Message] = []
    events: list[TicketEvent] = []
    attachments: list[Attachment] = []
    tag_links = []
    cc_links = []
    for spec, ticket in zip(specs, tickets, strict=True):
        creator = by or (
            Actor.customer(spec.requester, spec.channel)
            if not spec.messages or spec.messages[0].author_user is None
            else Actor.agent(spec.messages[0].author_user, spec.channel)
        )
        events.append(_event(ticket, creator, EventAction.CREATED, new=ticket.subject, at=ticket.created_at))
        for position, new in enumerate(spec.messages):
            message = _message_from(ticket, new, spec.channel, default_contact=spec.requester)
            messages.append(message)
            _track_message_times(ticket, message, opening=position == 0)
        for name in {Tag.normalize(n) for n in spec.tags}:
            tag_links.append(Ticket.tags.through(ticket=ticket, tag=tags[name]))
        for contact in {c.pk: c for c in spec.cc if c.pk != spec.requester.pk}.values():
            cc_links.append(TicketCC(ticket=ticket, contact=contact))
    # Inserted only now, with the response times, the SLA policy and the due dates already set:
    # updating the rows right after inserting them rewrote every ticket and all its indexes a second time.
    sla_start = sla.tickets_sla_plan(tickets, at=now, imported=not publish)
    Ticket.objects.bulk_create(tickets)
    Message.objects.bulk_create(messages)
    index = 0
    for spec, ticket in zip(specs, tickets, strict=True):
        for new in spec.messages:
            message = messages[index]
            index += 1
            attachments.extend(_build_attachments(message, new.attachments))
            author = (
                Actor.agent(new.author_user, spec.channel)
                if new.author_user
                else Actor.customer(new.author_contact or spec.requester, spec.channel)
            )
            events.append(
                _event(
                    ticket, author, EventAction.MESSAGE_ADDED, field=new.kind, message=message, at=message.created_at
                )
            )
    Attachment.objects.bulk_create(attachments)
    Ticket.tags.through.objects.bulk_create(tag_links)
    TicketCC.objects.bulk_create(cc_links)
    if not publish:
        for event in events:
            event.published_at = now
    TicketEvent.objects.bulk_create(events)
    sla.tickets_sla_write(sla_start)
    if publish:
        _publish_after_commit()
    return tickets


def ticket_create(
    *,
    subject: str,
    requester: Contact,
    channel: str,
    body_text: str = "",
    body_html: str = "",
    by: Actor | None = None,
    attachments: Sequence[NewAttachment] = (),
    message_headers: Mapping[str, str] | None = None,
    **options: object,
) -> Ticket:
    """Open one ticket with its first message. ``options`` are the other :class:`NewTicket` fields."""
    author_user = by.user if by is not None and by.is_agent else None
    message = NewMessage(
        body_text=body_text,
        body_html=body_html,
        author_user=author_user,
        author_contact=None if author_user else requester,
        attachments=attachments,
        **(message_headers or {}),
    )
    spec = NewTicket(subject=subject, requester=requester, channel=channel, messages=[message], **options)  # type: ignore[arg-type]
    return tickets_create_bulk([spec], by=by)[0]


def _message_from(ticket: Ticket, new: NewMessage, channel: str, *, default_contact: Contact | None) -> Message:
    _check_choice(new.kind, MessageKind, "kind")
    if not (new.body_text.strip() or new.body_html.strip() or new.attachments):
        raise TicketError("A message needs text or an attachment.", field="body_text")
    return Message(
        ticket=ticket,
        kind=new.kind,
        channel=channel,
        author_user=new.author_user,
        author_contact=None if new.author_user else (new.author_contact or default_contact),
        body_text=new.body_text,
        body_html=new.body_html,
        message_id=new.message_id,
        in_reply_to=new.in_reply_to,
        references=new.references,
        from_address=new.from_address,
        to_addresses=new.to_addresses,
        cc_addresses=new.cc_addresses,
        threading_rule=new.threading_rule,
        quoted_text=new.quoted_text,
        created_at=new.created_at or ticket.created_at,
    )


def _track_message_times(ticket: Ticket, message: Message, *, opening: bool = False) -> None:
    """Keep the response times. A ticket's opening message is the request itself, even when an
    agent types it in for a caller: it never counts as the desk's first response."""
    if message.kind != MessageKind.REPLY:
        return
    if opening:
        if message.author_user_id is None:
            ticket.last_customer_message_at = message.created_at
        return
    if message.author_user_id is not None:
        ticket.last_agent_message_at = message.created_at
        if ticket.first_responded_at is None:
            ticket.first_responded_at = message.created_at
    else:
        ticket.last_customer_message_at = message.created_at


# --- Changing one ticket --------------------------------------------------------------------------


def _lock(ticket: Ticket | int) -> Ticket:
    pk = ticket if isinstance(ticket, int) else ticket.pk
    return Ticket.objects.select_for_update().get(pk=pk)


def _not_closed(ticket: Ticket, what: str) -> None:
    if ticket.status == Status.CLOSED:
        raise TicketError(f"{ticket.reference} is closed; you cannot {what}.", field="status")


def _save(ticket: Ticket, fields: Iterable[str], events: Sequence[TicketEvent], at: datetime) -> Ticket:
    # The SLA clocks follow what the events say happened (replies, status, priority, type).
    sla_fields, sla_events = sla.ticket_sla_refresh(ticket, events=events, at=at)
    ticket.updated_at = at
    ticket.save(update_fields=[*set(fields), *sla_fields, "updated_at"])
    TicketEvent.objects.bulk_create([*events, *sla_events])
    if events:
        _publish_after_commit()
    return ticket


def _apply_status(ticket: Ticket, new: Status, by: Actor, at: datetime) -> tuple[list[str], list[TicketEvent]]:
    current = Status(ticket.status)
    new = Status(new)  # the state machine returns its own enum; the identity checks below need TextChoices
    try:
        state.check_transition(current, new)
    except state.IllegalTransition as exc:
        raise TicketError(str(exc), field="status") from exc
    changed = ["status"]
    ticket.status = new
    if new is Status.SOLVED:
        ticket.solved_at = at
        changed.append("solved_at")
    elif new is Status.CLOSED:
        ticket.closed_at = at
        ticket.solved_at = ticket.solved_at or at
        changed += ["closed_at", "solved_at"]
    elif current is Status.SOLVED:  # reopened
        ticket.solved_at = None
        changed.append("solved_at")
    return changed, [_event(ticket, by, EventAction.STATUS, field="status", old=current.value, new=new.value, at=at)]


@transaction.atomic
def ticket_change_status(*, ticket: Ticket, by: Actor, status: str) -> Ticket:
    ticket = _lock(ticket)
    new = Status(_check_choice(status, Status, "status"))
    if new == ticket.status:
        return ticket
    if by.is_customer:
        if new not in (Status.SOLVED, Status.CLOSED, Status.OPEN):
            raise PermissionDenied("Customers can only close or reopen their tickets.")
    else:
        _require_agent(by, "change the status")
    at = timezone.now()
    fields, events = _apply_status(ticket, new, by, at)
    return _save(ticket, fields, events, at)


@transaction.atomic
def ticket_change_priority(*, ticket: Ticket, by: Actor, priority: str) -> Ticket:
    _require_agent(by, "change the priority")
    ticket = _lock(ticket)
    _check_choice(priority, Priority, "priority")
    _not_closed(ticket, "change its priority")
    if priority == ticket.priority:
        return ticket
    at = timezone.now()
    event = _event(ticket, by, EventAction.PRIORITY, field="priority", old=ticket.priority, new=priority, at=at)
    ticket.priority = priority
    return _save(ticket, ["priority"], [event], at)


@transaction.atomic
def ticket_assign(*, ticket: Ticket, by: Actor, assignee: User | None) -> Ticket:  # type: ignore[valid-type]
    """Assign to an active agent (a member of the ticket's team, if it has one) or unassign with None."""
    _require_agent(by, "assign tickets")
    ticket = _lock(ticket)
    _not_closed(ticket, "reassign it")
    new_id = assignee.pk if assignee is not None else None
    if new_id == ticket.assignee_id:
        return ticket
    if assignee is not None:
        if not _active_agent_ids([assignee.pk]):
            raise TicketError(f"{assignee} is not an active agent.", field="assignee")
        if ticket.team_id and not _team_member_pairs([(assignee.pk, ticket.team_id)]):
            raise TicketError(f"{assignee} is not a member of the ticket's team {ticket.team}.", field="assignee")
    at = timezone.now()
    old = ticket.assignee.get_username() if ticket.assignee_id else ""
    event = _event(
        ticket,
        by,
        EventAction.ASSIGNEE,
        field="assignee",
        old=old,
        new=assignee.get_username() if assignee else "",
        new_ref=assignee.pk if assignee else None,
        at=at,
    )
    ticket.assignee = assignee
    return _save(ticket, ["assignee"], [event], at)


@transaction.atomic
def ticket_set_team(*, ticket: Ticket, by: Actor, team: Team | None) -> Ticket:
    """Route to a team. An assignee who is not in the new team is unassigned (and that is recorded)."""
    _require_agent(by, "route tickets")
    ticket = _lock(ticket)
    _not_closed(ticket, "route it")
    new_id = team.pk if team else None
    if new_id == ticket.team_id:
        return ticket
    at = timezone.now()
    events = [
        _event(ticket, by, EventAction.TEAM, field="team", old=ticket.team or "", new=team or "", new_ref=new_id, at=at)
    ]
    fields = ["team"]
    if team is not None and ticket.assignee_id and not _team_member_pairs([(ticket.assignee_id, team.pk)]):
        events.append(
            _event(
                ticket, by, EventAction.ASSIGNEE, field="assignee", old=ticket.assignee.get_username(), new="", at=at
            )
        )
        ticket.assignee = None
        fields.append("assignee")
    ticket.team = team
    return _save(ticket, fields, events, at)


@transaction.atomic
def ticket_set_type(*, ticket: Ticket, by: Actor, type: TicketType | None) -> Ticket:  # noqa: A002
    _require_agent(by, "change the ticket type")
    ticket = _lock(ticket)
    _not_closed(ticket, "change its type")
    if (type.pk if type else None) == ticket.type_id:
        return ticket
    if type is not None and not type.is_active:
        raise TicketError(f"The ticket type {type} is retired.", field="type")
    at = timezone.now()
    event = _event(ticket, by, EventAction.TYPE, field="type", old=ticket.type or "", new=type or "", at=at)
    ticket.type = type
    return _save(ticket, ["type"], [event], at)


@transaction.atomic
def ticket_update_tags(*, ticket: Ticket, by: Actor, add: Iterable[str] = (), remove: Iterable[str] = ()) -> Ticket:
    _require_agent(by, "tag tickets")
    ticket = _lock(ticket)
    _not_closed(ticket, "change its tags")
    try:
        to_remove = {Tag.normalize(n) for n in remove}
    except Exception as exc:
        raise TicketError(str(getattr(exc, "message", exc)), field="tags") from exc
    wanted = _tags_by_name(add)
    current = {t.name: t for t in ticket.tags.all()}
    adding = [t for name, t in wanted.items() if name not in current and name not in to_remove]
    removing = [t for name, t in current.items() if name in to_remove]
    if not adding and not removing:
        return ticket
    at = timezone.now()
    ticket.tags.add(*adding)
    ticket.tags.remove(*removing)
    before = sorted(current)
    after = sorted((set(current) - to_remove) | {t.name for t in adding})
    event = _event(ticket, by, EventAction.TAGS, field="tags", old=", ".join(before), new=", ".join(after), at=at)
    return _save(ticket, [], [event], at)


@transaction.atomic
def ticket_update_cc(
    *, ticket: Ticket, by: Actor, add: Iterable[Contact] = (), remove: Iterable[Contact] = ()
) -> Ticket:
    _require_agent(by, "change who is copied")
    ticket = _lock(ticket)
    _not_closed(ticket, "change who is copied")
    current = set(TicketCC.objects.filter(ticket=ticket).values_list("contact_id", flat=True))
    add_ids = {c.pk for c in add} - current - {ticket.requester_id}
    remove_ids = {c.pk for c in remove} & current
    if not add_ids and not remove_ids:
        return ticket
    at = timezone.now()
    TicketCC.objects.bulk_create([TicketCC(ticket=ticket, contact_id=pk) for pk in add_ids])
    TicketCC.objects.filter(ticket=ticket, contact_id__in=remove_ids).delete()
    names = dict(Contact.objects.filter(pk__in=current | add_ids).values_list("pk", "name"))
    event = _event(
        ticket,
        by,
        EventAction.CC,
        field="cc",
        old=", ".join(sorted(names[i] for i in current)),
        new=", ".join(sorted(names[i] for i in (current | add_ids) - remove_ids)),
        at=at,
    )
    return _save(ticket, [], [event], at)


@transaction.atomic
def ticket_set_custom_fields(*, ticket: Ticket, by: Actor, values: Mapping[str, object]) -> Ticket:
    """Set some custom fields (the others stay); every changed field is its own audit event."""
    _require_agent(by, "change custom fields")
    ticket = _lock(ticket)
    _not_closed(ticket, "change its fields")
    specs = account_selectors.custom_field_specs(CustomFieldEntity.TICKET)
    new = _validate_custom_fields(values, specs, existing=ticket.custom_fields or {})
    old = ticket.custom_fields or {}
    at = timezone.now()
    events = [
        _event(ticket, by, EventAction.CUSTOM_FIELD, field=key, old=old.get(key, ""), new=new.get(key, ""), at=at)
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
    if not events:
        return ticket
    ticket.custom_fields = new
    return _save(ticket, ["custom_fields"], events, at)


# --- Conversation ---------------------------------------------------------------------------------


def _add_message(
    ticket: Ticket, by: Actor, new: NewMessage, at: datetime, *, delivery_status: str = ""
) -> tuple[Message, list[TicketEvent]]:
    message = _message_from(ticket, new, by.channel, default_contact=None)
    message.created_at = at
    message.delivery_status = delivery_status
    message.save()
    Attachment.objects.bulk_create(_build_attachments(message, new.attachments))
    _track_message_times(ticket, message)
    return message, [_event(ticket, by, EventAction.MESSAGE_ADDED, field=message.kind, message=message, at=at)]


@transaction.atomic
def ticket_reply(
    *,
    ticket: Ticket,
    by: Actor,
    body_text: str = "",
    body_html: str = "",
    attachments: Sequence[NewAttachment] = (),
    status: str | None = None,
    message_headers: Mapping[str, str] | None = None,
) -> Message:
    """A public reply by an agent or by a customer; moves the status as the state machine says.

    A customer reply to a pending or solved ticket reopens it. Nobody replies to a closed ticket:
    a customer's message then belongs in a follow-up ticket (see :func:`ticket_create_linked`).
    An agent's reply is queued for email when the requester has an address.
    """
    ticket = _lock(ticket)
    _not_closed(ticket, "reply to it")
    at = timezone.now()
    new = NewMessage(
        body_text=body_text,
        body_html=body_html,
        kind=MessageKind.REPLY,
        author_user=by.user if by.is_agent else None,
        author_contact=by.contact,
        attachments=attachments,
        **(message_headers or {}),
    )
    if by.is_customer:
        if status not in (None, ""):
            raise PermissionDenied("Customers cannot set a status while replying.")
        next_status = state.status_after_customer_message(Status(ticket.status))
    else:
        _require_agent(by, "reply as the desk")
        requested = Status(_check_choice(status, Status, "status")) if status else None
        next_status = state.status_after_agent_reply(Status(ticket.status), requested)
    emailed = by.is_agent and ContactEmail.objects.filter(contact_id=ticket.requester_id).exists()
    queued = DeliveryStatus.QUEUED if emailed else ""
    message, events = _add_message(ticket, by, new, at, delivery_status=queued)
    fields = ["first_responded_at", "last_customer_message_at", "last_agent_message_at"]
    if next_status is not None:
        status_fields, status_events = _apply_status(ticket, next_status, by, at)
        fields += status_fields
        events += status_events
    _save(ticket, fields, events, at)
    return message


@dataclass(frozen=True)
class CustomerReply:
    """A customer's reply to one ticket, for :func:`tickets_add_customer_replies`."""

    ticket_id: int
    contact: Contact
    channel: str
    message: NewMessage  # text, HTML, attachments and email headers; kind and author are set


@transaction.atomic
def tickets_add_customer_replies(replies: Sequence[CustomerReply]) -> list[Message]:
    """Customers' replies to many tickets at once (intake's batches): the rules and the audit of
    :func:`ticket_reply` by a customer, in a few queries for all of them. Several replies to one
    ticket apply in order. All or nothing; returns the messages in the order of ``replies``.
    """
    if not replies:
        return []
    at = timezone.now()
    # In id order, as every batch locks: two batches never wait for each other in a circle.
    tickets = {
        t.pk: t for t in Ticket.objects.select_for_update().filter(pk__in={r.ticket_id for r in replies}).order_by("pk")
    }
    messages: list[Message] = []
    events: dict[int, list[TicketEvent]] = {}
    fields: set[str] = {"first_responded_at", "last_customer_message_at", "last_agent_message_at"}
    for reply in replies:
        ticket = tickets.get(reply.ticket_id)
        if ticket is None:
            raise TicketError(f"Ticket {reply.ticket_id} does not exist.", field="ticket")
        _not_closed(ticket, "reply to it")
        by = Actor.customer(reply.contact, reply.channel)
        new = dataclasses.replace(reply.message, kind=MessageKind.REPLY, author_user=None, author_contact=reply.contact)
        message = _message_from(ticket, new, by.channel, default_contact=None)
        message.created_at = at
        messages.append(message)
        _track_message_times(ticket, message)
        changes = [_event(ticket, by, EventAction.MESSAGE_ADDED, field=message.kind, message=message, at=at)]
        next_status = state.status_after_customer_message(Status(ticket.status))
        if next_status is not None:
            status_fields, status_events = _apply_status(ticket, next_status, by, at)
            fields.update(status_fields)
            changes += status_events
        events.setdefault(ticket.pk, []).extend(changes)
    Message.objects.bulk_create(messages)
    files = zip(messages, (reply.message.attachments for reply in replies), strict=True)
    Attachment.objects.bulk_create([a for message, upload in files for a in _build_attachments(message, upload)])
    changed = [tickets[pk] for pk in events]
    sla_fields, sla_events = sla.tickets_sla_refresh(changed, events=events, at=at)
    for ticket in changed:
        ticket.updated_at = at
    sla.update_rows(Ticket, changed, sorted({*fields, *sla_fields, "updated_at"}))
    TicketEvent.objects.bulk_create([*(e for found in events.values() for e in found), *sla_events])
    _publish_after_commit()
    return messages


@transaction.atomic
def ticket_add_note(
    *, ticket: Ticket, by: Actor, body_text: str = "", body_html: str = "", attachments: Sequence[NewAttachment] = ()
) -> Message:
    """An internal note: agents only, never shown to customers, never changes the status."""
    _require_agent(by, "write internal notes")
    ticket = _lock(ticket)
    _not_closed(ticket, "add notes to it")
    at = timezone.now()
    new = NewMessage(
        body_text=body_text, body_html=body_html, kind=MessageKind.NOTE, author_user=by.user, attachments=attachments
    )
    message, events = _add_message(ticket, by, new, at)
    _save(ticket, [], events, at)
    return message


@transaction.atomic
def ticket_log_interaction(
    *,
    ticket: Ticket,
    by: Actor,
    kind: str,
    body_text: str,
    occurred_at: datetime | None = None,
    duration_minutes: int | None = None,
) -> Message:
    """Log a phone call or meeting held with the customer as part of the timeline (agents only)."""
    _require_agent(by, "log calls and meetings")
    if kind not in (MessageKind.PHONE_CALL, MessageKind.MEETING):
        raise TicketError("Log a phone_call or a meeting.", field="kind")
    if duration_minutes is not None and not 0 <= duration_minutes <= 24 * 60:
        raise TicketError("A duration is between 0 and 1440 minutes.", field="duration_minutes")
    at = timezone.now()
    if occurred_at is not None and occurred_at > at:
        raise TicketError("A logged call or meeting cannot lie in the future.", field="occurred_at")
    ticket = _lock(ticket)
    _not_closed(ticket, "log calls or meetings on it")
    new = NewMessage(body_text=body_text, kind=kind, author_user=by.user)
    message, events = _add_message(ticket, by, new, at)
    message.occurred_at = occurred_at or at
    message.duration_minutes = duration_minutes
    message.save(update_fields=["occurred_at", "duration_minutes"])
    _save(ticket, [], events, at)
    return message


# --- Merging and linking --------------------------------------------------------------------------


def tickets_share_customer(a: Ticket, b: Ticket) -> bool:
    """Whether two tickets are one customer's, or one organization's: then merging may copy people."""
    same_organization = a.organization_id is not None and a.organization_id == b.organization_id
    return a.requester_id == b.requester_id or same_organization


@transaction.atomic
def ticket_merge(*, source: Ticket, target: Ticket, by: Actor, copy_people: bool = True) -> Ticket:
    """Merge ``source`` into ``target``: its messages move over, it is closed and points at the target.

    With ``copy_people`` the source requester and CCs are copied on the target so nobody drops out
    of the conversation. They then see the target's whole public conversation, so the agent turns it
    off when the two tickets belong to different customers.
    """
    _require_agent(by, "merge tickets")
    if source.pk == target.pk:
        raise TicketError("A ticket cannot be merged into itself.", field="target")
    # Lock both in id order so two opposite merges cannot deadlock.
    locked = {t.pk: t for t in Ticket.objects.select_for_update().filter(pk__in=[source.pk, target.pk]).order_by("pk")}
    source, target = locked[source.pk], locked[target.pk]
    if source.merged_into_id:
        raise TicketError(f"{source.reference} was already merged into another ticket.", field="source")
    if target.merged_into_id:
        raise TicketError(f"{target.reference} was merged into another ticket; merge into that one.", field="target")
    _not_closed(source, "merge it")
    if target.status == Status.CLOSED:
        raise TicketError(f"{target.reference} is closed; merge into an open ticket.", field="target")
    at = timezone.now()
    moved = Message.objects.filter(ticket=source).update(ticket=target)
    if copy_people:
        copied = TicketCC.objects.filter(ticket=source).values_list("contact_id", flat=True)
        present = TicketCC.objects.filter(ticket=target).values_list("contact_id", flat=True)
        cc_ids = (set(copied) | {source.requester_id}) - (set(present) | {target.requester_id})
        TicketCC.objects.bulk_create([TicketCC(ticket=target, contact_id=pk) for pk in cc_ids])
    target.tags.add(*source.tags.all())
    source_events = [_event(source, by, EventAction.MERGED_INTO, field="merged_into", new=target.reference, at=at)]
    status_fields, status_events = _apply_status(source, Status.CLOSED, by, at)
    source.merged_into = target
    _save(source, ["merged_into", *status_fields], source_events + status_events, at)
    target_events = [
        _event(
            target,
            by,
            EventAction.MERGED_FROM,
            field="merged_from",
            new=f"{source.reference} ({moved} messages)",
            at=at,
        )
    ]
    last_customer = (
        Message.objects.filter(ticket=target, kind=MessageKind.REPLY, author_user__isnull=True)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    target.last_customer_message_at = last_customer
    return _save(target, ["last_customer_message_at"], target_events, at)


@transaction.atomic
def ticket_link(*, source: Ticket, target: Ticket, by: Actor, kind: str = LinkKind.RELATED) -> TicketLink:
    _check_choice(kind, LinkKind, "kind")
    if source.pk == target.pk:
        raise TicketError("A ticket cannot be linked to itself.", field="target")
    _require_agent(by, "link tickets")
    link, created = TicketLink.objects.get_or_create(source=source, target=target, kind=kind)
    if created:
        at = timezone.now()
        TicketEvent.objects.bulk_create(
            [
                _event(source, by, EventAction.LINKED, field=kind, new=target.reference, at=at),
                _event(target, by, EventAction.LINKED, field=f"{kind}_of", new=source.reference, at=at),
            ]
        )
        Ticket.objects.filter(pk__in=[source.pk, target.pk]).update(updated_at=at)
        _publish_after_commit()
    return link


def ticket_create_linked(
    *, related: Ticket, spec: NewTicket, by: Actor | None = None, kind: str = LinkKind.FOLLOW_UP
) -> Ticket:
    """Open a new ticket linked to ``related``: a follow-up of a closed ticket, or a message that
    named a ticket its sender does not belong to (linked as related, for an agent to judge)."""
    with transaction.atomic():
        ticket = tickets_create_bulk([spec], by=by)[0]
        # Linking is the desk's move: a customer writing about a closed ticket may not link tickets.
        link_by = by if by is not None and not by.is_customer else Actor(channel=spec.channel)
        ticket_link(source=ticket, target=related, by=link_by, kind=kind)
    return ticket


@transaction.atomic
def message_record_bounce(*, message: Message, reason: str) -> Message:
    """A delivery failure report came back for ``message``: mark it failed and tell the agents on the ticket."""
    message = Message.objects.select_for_update(of=("self",)).select_related("ticket").get(pk=message.pk)
    message.delivery_status = DeliveryStatus.FAILED
    message.delivery_error = f"Bounced: {reason}"[:2000]
    message.save(update_fields=["delivery_status", "delivery_error"])
    ticket = message.ticket
    if ticket.status != Status.CLOSED:
        sent = timezone.localtime(message.sent_at or message.created_at).strftime("%Y-%m-%d %H:%M")
        recipients = message.to_addresses or "the requester"
        ticket_add_note(
            ticket=ticket,
            by=Actor(channel=Channel.EMAIL),
            body_text=f"The reply of {sent} to {recipients} could not be delivered.\n{reason}",
        )
    return message


# --- Saved views ----------------------------------------------------------------------------------


def saved_view_create(
    *,
    user: User,  # type: ignore[valid-type]
    name: str,
    filters: Mapping[str, list[str]],
    sort: str,
    shared: bool = False,
):  # -> SavedView
    """Save a list's filters and sort as a personal view, or one shared with every agent."""
    from tickets.choices import ViewVisibility
    from tickets.models import SavedView

    principal = account_selectors.principal_for(user)
    if not principal.is_agent:
        raise PermissionDenied("Only agents save views.")
    name = " ".join(name.split())[:100]
    if not name:
        raise TicketError("A view needs a name.", field="name")
    visibility = ViewVisibility.SHARED if shared else ViewVisibility.PERSONAL
    return SavedView.objects.create(name=name, filters=dict(filters), sort=sort, visibility=visibility, owner=user)


def saved_view_delete(*, view, user: User) -> None:  # type: ignore[valid-type]
    """Delete a saved view: its owner may, and an admin may delete shared ones."""
    principal = account_selectors.principal_for(user)
    if view.owner_id != principal.user_id and not principal.is_admin:
        raise PermissionDenied("Only the owner or an admin can delete this view.")
    view.delete()


# --- Agent workspace: the ticket page ---------------------------------------------------------------
# Notes with @mentions, CC by address, and replies or notes that must not cross a message the agent
# has not seen yet. (Appended by the ticket-page helper of issue 6.)


class ConversationMoved(TicketError):
    """Messages arrived after the one the agent last saw: nothing was written, so they can read them first."""

    def __init__(self, messages: Sequence[Message]) -> None:
        self.messages = list(messages)
        super().__init__(
            f"{len(self.messages)} new message(s) arrived on the ticket while you were writing. "
            "Read them, then send again or tick “send anyway”.",
            field="body",
        )


def _refuse_unseen(ticket: Ticket, seen_message_id: int | None) -> None:
    """Refuse when the ticket has messages newer than ``seen_message_id`` (None: no check). Call under the row lock."""
    if seen_message_id is None:
        return
    newer = list(
        Message.objects.filter(ticket=ticket, pk__gt=seen_message_id)
        .select_related("author_user", "author_contact")
        .order_by("created_at", "id")
    )
    if newer:
        raise ConversationMoved(newer)


def _mentioned_agents(ticket: Ticket, text: str, *, exclude_user_id: int | None) -> list[User]:  # type: ignore[valid-type]
    """Active agents mentioned in ``text`` who may see ``ticket`` (the author is never notified of themself)."""
    from django.db.models import Q

    from tickets import selectors
    from tickets.domain.mentions import full_name_key, parse_mentions

    mentions = parse_mentions(text)
    if not mentions:
        return []
    condition = Q()
    for username in mentions.usernames:
        condition |= Q(username__iexact=username)
    for name in mentions.full_names:
        first, _sep, rest = name.partition(" ")
        # Narrow in the database by the first word, match the whole name below.
        condition |= Q(first_name__iexact=first) | Q(first_name__iexact=name)
        if rest:
            condition |= Q(last_name__iexact=rest.rsplit(" ", 1)[-1])
    candidates = (
        User.objects.filter(condition, is_active=True)
        .filter(Q(agent_profile__is_active=True) | Q(is_superuser=True))
        .exclude(pk=exclude_user_id)
        .distinct()
        .order_by("pk")
    )
    usernames, names = set(mentions.usernames), set(mentions.full_names)
    found = [
        user
        for user in candidates
        if user.get_username().casefold() in usernames or full_name_key(user.first_name, user.last_name) in names
    ]
    return [user for user in found if selectors.tickets_visible_to(user).filter(pk=ticket.pk).exists()]


def _notify_mentions(ticket: Ticket, message: Message, by: Actor) -> list:
    from django.utils.translation import gettext as _

    from tickets.models import Notification
    from tickets.models.sla import EmailStatus, NotificationKind

    recipients = _mentioned_agents(ticket, message.body_text, exclude_user_id=by.user.pk if by.user else None)
    if not recipients:
        return []
    author = (by.user.get_full_name() or by.user.get_username()) if by.user else _("The desk")
    title = _("%(reference)s: %(author)s mentioned you in a note - %(subject)s") % {
        "reference": ticket.reference,
        "author": author,
        "subject": ticket.subject,
    }
    excerpt = message.body_text.strip()
    if len(excerpt) > 1000:
        excerpt = excerpt[:999] + "…"
    at = timezone.now()
    Notification.objects.bulk_create(
        [
            Notification(
                recipient=user, ticket=ticket, kind=NotificationKind.MENTION, message=message, title=title[:255],
                body=excerpt, created_at=at,
            )
            for user in recipients
        ],
        ignore_conflicts=True,
    )  # fmt: skip
    notified = list(Notification.objects.filter(message=message).order_by("pk"))
    pending = [n.pk for n in notified if n.email_status == EmailStatus.PENDING]
    if pending:
        sla._after_commit_send_emails(notification_ids=pending)
    return notified


@transaction.atomic
def ticket_add_note_mentioning(
    *,
    ticket: Ticket,
    by: Actor,
    body_text: str,
    attachments: Sequence[NewAttachment] = (),
    seen_message_id: int | None = None,
) -> tuple[Message, list]:
    """An internal note that notifies the agents it @mentions (``@username`` or ``@"Full Name"``).

    Each mentioned active agent who may see the ticket gets one ``mention`` notification (in the
    workspace and by email); mentions of anybody else are ignored. With ``seen_message_id`` the
    note is refused (:class:`ConversationMoved`) if newer messages arrived meanwhile.
    Returns the note and its notifications.
    """
    _require_agent(by, "write internal notes")
    locked = _lock(ticket)
    _refuse_unseen(locked, seen_message_id)
    message = ticket_add_note(ticket=locked, by=by, body_text=body_text, attachments=attachments)
    return message, _notify_mentions(locked, message, by)


@transaction.atomic
def ticket_set_cc_addresses(*, ticket: Ticket, by: Actor, addresses: Iterable[str]) -> Ticket:
    """Make the ticket's CC exactly ``addresses`` ("a@x.example" or "Ann <a@x.example>").

    Unknown addresses become contacts (as with Cc on incoming mail); the requester is never a CC,
    and CCs without any email address stay (they cannot be listed by address).
    Every address is checked before anything changes; all problems are reported at once.
    """
    from email.utils import parseaddr

    from accounts import services as account_services

    _require_agent(by, "change who is copied")
    locked = _lock(ticket)
    _not_closed(locked, "change who is copied")
    contacts: list[Contact] = []
    problems = []
    for item in (a.strip() for a in addresses):
        if not item:
            continue
        name, email = parseaddr(item)
        if "@" not in email:
            problems.append(f"“{item}” is not an email address.")
            continue
        try:
            contact, _created = account_services.contact_get_or_create_by_email(email=email, name=name)
        except account_services.AccountError as exc:
            problems.append(f"{email}: {exc}")
            continue
        contacts.append(contact)
    if problems:
        raise TicketError(" ".join(problems), field="cc")
    wanted = {c.pk for c in contacts}
    # A CC without any address cannot be typed into the list, so it is never dropped by omission.
    current = list(Contact.objects.filter(cc_links__ticket=locked, emails__isnull=False).distinct())
    return ticket_update_cc(ticket=locked, by=by, add=contacts, remove=[c for c in current if c.pk not in wanted])


@transaction.atomic
def ticket_reply_with_cc(
    *,
    ticket: Ticket,
    by: Actor,
    body_text: str,
    attachments: Sequence[NewAttachment] = (),
    status: str | None = None,
    cc: Iterable[str] | None = None,
    seen_message_id: int | None = None,
) -> Message:
    """An agent's public reply from the workspace: emailed to the requester and the CCs.

    ``cc`` (addresses), when given, first becomes the ticket's CC list, in the same transaction;
    with ``seen_message_id`` the reply is refused (:class:`ConversationMoved`) if newer messages
    arrived meanwhile, so an agent never answers over a customer message they have not read.
    """
    _require_agent(by, "reply as the desk")
    locked = _lock(ticket)
    _refuse_unseen(locked, seen_message_id)
    if cc is not None:
        locked = ticket_set_cc_addresses(ticket=locked, by=by, addresses=cc)
    return ticket_reply(ticket=locked, by=by, body_text=body_text, attachments=attachments, status=status)


# --- Agent workspace: macros --------------------------------------------------------------------------
# One macro (a canned reply with placeholders plus actions) applied to one ticket, from the ticket page
# or once per ticket by a bulk job. (Appended by the bulk-actions helper of issue 6.)


@dataclass(frozen=True)
class MacroApplied:
    """What applying a macro did: the reply it posted (if any) and whether anything changed at all."""

    ticket: Ticket
    message: Message | None
    changed: bool


def macro_placeholder_values(*, ticket: Ticket, by: Actor) -> dict[str, str]:
    """The values of the whitelisted macro placeholders (``tickets.domain.macros.PLACEHOLDERS``)."""
    from service_desk.branding import brand

    requester = ticket.requester
    customer_name = " ".join((requester.name or "").split())
    email = (
        ContactEmail.objects.filter(contact_id=ticket.requester_id)
        .order_by("-is_primary", "email")
        .values_list("email", flat=True)
        .first()
    )
    agent = by.user
    agent_name = (agent.get_full_name() or agent.get_username()) if agent is not None else ""
    agent_first = (agent.first_name or agent_name.split(" ")[0]) if agent is not None and agent_name else ""
    return {
        "customer.name": customer_name,
        "customer.first_name": customer_name.split(" ")[0] if customer_name else "",
        "customer.email": email or "",
        "organization.name": ticket.organization.name if ticket.organization_id else "",
        "ticket.reference": ticket.reference,
        "ticket.subject": ticket.subject,
        "agent.name": agent_name,
        "agent.first_name": agent_first,
        "desk.name": brand().name,
    }


def _tag_names(ticket: Ticket) -> frozenset[str]:
    return frozenset(ticket.tags.values_list("name", flat=True))


@transaction.atomic
def ticket_apply_macro(*, ticket: Ticket, macro, by: Actor) -> MacroApplied:  # macro: tickets.models.Macro
    """Apply ``macro`` to ``ticket`` in one transaction: priority, team and tags first, then the public
    reply (its placeholders rendered) together with the macro's status, or the status alone.

    All or nothing: if any part is refused (a closed ticket, a status the ticket cannot move to) the
    :class:`TicketError` leaves the ticket as it was and no reply is sent. Only an agent who may use
    the macro (``selectors.macros_for``) applies it; its ``usage_count`` goes up by one.
    """
    from django.db.models import F

    from tickets import selectors
    from tickets.domain import macros as macro_text
    from tickets.models import Macro

    _require_agent(by, "apply macros")
    if by.user is None:
        raise PermissionDenied("Only agents apply macros.")
    if not macro.is_active:
        raise TicketError(f"The macro “{macro.name}” is retired.", field="macro")
    if not selectors.macros_for(by.user).filter(pk=macro.pk).exists():
        raise PermissionDenied(f"The macro “{macro.name}” is not available to you.")
    locked = _lock(ticket)
    _not_closed(locked, "apply a macro to it")
    before = (locked.status, locked.priority, locked.team_id, locked.assignee_id, _tag_names(locked))

    if macro.set_priority:
        locked = ticket_change_priority(ticket=locked, by=by, priority=macro.set_priority)
    if macro.set_team_id and macro.set_team_id != locked.team_id:
        locked = ticket_set_team(ticket=locked, by=by, team=macro.set_team)
    add = [tag.name for tag in macro.add_tags.all()]
    remove = [tag.name for tag in macro.remove_tags.all()]
    if add or remove:
        locked = ticket_update_tags(ticket=locked, by=by, add=add, remove=remove)
    message = None
    body = macro_text.render(macro.reply_text, macro_placeholder_values(ticket=locked, by=by)).strip()
    if body:
        message = ticket_reply(ticket=locked, by=by, body_text=body, status=macro.set_status or None)
    elif macro.set_status:
        locked = ticket_change_status(ticket=locked, by=by, status=macro.set_status)
    Macro.objects.filter(pk=macro.pk).update(usage_count=F("usage_count") + 1)

    locked = Ticket.objects.get(pk=locked.pk)
    after = (locked.status, locked.priority, locked.team_id, locked.assignee_id, _tag_names(locked))
    return MacroApplied(ticket=locked, message=message, changed=message is not None or after != before)
