"""Which ticket an incoming message belongs to. Pure, no Django: the pipeline looks facts up and asks here.

Order of rules:
1. In-Reply-To, then References newest first, against Message-IDs we sent or received.
2. A ``[SD-1042]`` token in the subject, trusted only when the sender belongs to that ticket
   (requester, CC, or a contact of the same organization). From anyone else it opens a new
   ticket linked to the old one, so nobody writes into a stranger's ticket by guessing a number.
3. Otherwise a new ticket.
A message for a merged ticket goes to the ticket it was merged into; one for a closed ticket
opens a follow-up linked to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Rule(StrEnum):
    IN_REPLY_TO = "in_reply_to"
    REFERENCES = "references"
    SUBJECT_TOKEN = "subject_token"  # noqa: S105 - a rule name, not a secret
    SUBJECT_TOKEN_UNTRUSTED = "subject_token_untrusted"  # noqa: S105
    FOLLOW_UP = "follow_up"
    NEW = "new"


class Action(StrEnum):
    APPEND = "append"  # add the message to an existing ticket
    NEW_TICKET = "new_ticket"  # open a new ticket
    NEW_LINKED = "new_linked"  # open a new ticket linked to ``related_ticket_id``


@dataclass(frozen=True)
class TicketFacts:
    ticket_id: int
    is_closed: bool
    merged_into_id: int | None
    requester_id: int
    organization_id: int | None
    cc_contact_ids: frozenset[int]


@dataclass(frozen=True)
class Decision:
    action: Action
    rule: Rule
    ticket_id: int | None = None  # for APPEND
    related_ticket_id: int | None = None  # for NEW_LINKED


def candidate_message_ids(in_reply_to: str, references: Sequence[str]) -> list[tuple[str, Rule]]:
    """Message-IDs to look up, in the order they are trusted: In-Reply-To, then References newest first."""
    seen: set[str] = set()
    ordered: list[tuple[str, Rule]] = []
    for msgid, rule in [(in_reply_to, Rule.IN_REPLY_TO), *((r, Rule.REFERENCES) for r in reversed(references))]:
        if msgid and msgid not in seen:
            seen.add(msgid)
            ordered.append((msgid, rule))
    return ordered


def sender_belongs(facts: TicketFacts, contact_id: int | None, contact_organization_id: int | None) -> bool:
    if contact_id is None:
        return False
    if contact_id == facts.requester_id or contact_id in facts.cc_contact_ids:
        return True
    return facts.organization_id is not None and contact_organization_id == facts.organization_id


def decide(
    *,
    in_reply_to: str,
    references: Sequence[str],
    known_message_ids: Mapping[str, int],
    subject_ticket_ids: Sequence[int],
    facts: Callable[[int], TicketFacts | None],
    sender_contact_id: int | None,
    sender_organization_id: int | None,
    max_merge_hops: int = 10,
) -> Decision:
    """Place a message. ``facts`` returns what we know of a ticket id (None if it does not exist)."""
    for msgid, rule in candidate_message_ids(in_reply_to, references):
        ticket_id = known_message_ids.get(msgid)
        if ticket_id is not None:
            resolved = _follow_merges(ticket_id, facts, max_merge_hops)
            if resolved is not None:
                return _append_or_follow_up(resolved, rule)
    for ticket_id in subject_ticket_ids:
        resolved = _follow_merges(ticket_id, facts, max_merge_hops)
        if resolved is None:
            continue
        if sender_belongs(resolved, sender_contact_id, sender_organization_id):
            return _append_or_follow_up(resolved, Rule.SUBJECT_TOKEN)
        return Decision(Action.NEW_LINKED, Rule.SUBJECT_TOKEN_UNTRUSTED, related_ticket_id=resolved.ticket_id)
    return Decision(Action.NEW_TICKET, Rule.NEW)


def _follow_merges(ticket_id: int, facts: Callable[[int], TicketFacts | None], max_hops: int) -> TicketFacts | None:
    current = facts(ticket_id)
    hops = 0
    while current is not None and current.merged_into_id is not None and hops < max_hops:
        current = facts(current.merged_into_id)
        hops += 1
    return current


def _append_or_follow_up(facts: TicketFacts, rule: Rule) -> Decision:
    if facts.is_closed:
        return Decision(Action.NEW_LINKED, Rule.FOLLOW_UP, related_ticket_id=facts.ticket_id)
    return Decision(Action.APPEND, rule, ticket_id=facts.ticket_id)
