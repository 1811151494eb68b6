"""What a customer may do with a ticket in the portal, and which custom fields they fill in. Pure, no Django.

- "Mark as solved" (the portal's *close*): a customer moves an active ticket to ``solved``, never to
  ``closed``. The desk can still reopen it, and the customer can reopen it themselves for
  ``DeskSettings.portal_reopen_days`` days after it was solved. ``closed`` stays the desk's final
  word (or the automatic closing of old solved tickets).
- Reopening and replying to a solved ticket work only inside that window; after it (and on a closed
  ticket) the customer opens a follow-up request linked to the old one.
- A ticket custom field applies to a new ticket when its ticket types are empty or hold the chosen
  type, and its organizations are empty or hold the customer's organization.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tickets.domain.status import ACTIVE_STATUSES

ACTIVE = frozenset(status.value for status in ACTIVE_STATUSES)


class StatusFilter(StrEnum):
    """The status groups a customer filters their lists by."""

    OPEN = "open"
    SOLVED = "solved"
    CLOSED = "closed"


STATUS_FILTERS: dict[StatusFilter, tuple[str, ...]] = {
    StatusFilter.OPEN: ("new", "open", "pending", "on_hold"),
    StatusFilter.SOLVED: ("solved",),
    StatusFilter.CLOSED: ("closed",),
}


def statuses_for(value: str | None) -> tuple[str, ...] | None:
    """The ticket statuses of a filter value; ``None`` (no filter) for an empty or unknown value."""
    try:
        return STATUS_FILTERS[StatusFilter(value or "")]
    except ValueError:
        return None


class CustomerStatus(StrEnum):
    """A ticket's status as a customer reads it: the desk's internal distinctions folded together."""

    IN_PROGRESS = "in_progress"  # new, open, on hold: the desk works on it
    AWAITING_YOU = "awaiting_you"  # pending: the desk waits for the customer's answer
    SOLVED = "solved"
    CLOSED = "closed"


def customer_status(status: str) -> CustomerStatus:
    if status == "pending":
        return CustomerStatus.AWAITING_YOU
    if status == "solved":
        return CustomerStatus.SOLVED
    if status == "closed":
        return CustomerStatus.CLOSED
    return CustomerStatus.IN_PROGRESS


def reopen_deadline(solved_at: datetime | None, days: int) -> datetime | None:
    """Until when a ticket solved at ``solved_at`` may be reopened by its customer."""
    if solved_at is None:
        return None
    return solved_at + timedelta(days=max(days, 0))


def can_reopen(solved_at: datetime | None, now: datetime, days: int) -> bool:
    """Inside the window: at most ``days`` days after ``solved_at`` (the end itself included)."""
    deadline = reopen_deadline(solved_at, days)
    return deadline is not None and now <= deadline


@dataclass(frozen=True)
class CustomerActions:
    """The buttons the customer's ticket page offers."""

    can_reply: bool
    can_solve: bool
    can_reopen: bool
    can_follow_up: bool
    reopen_until: datetime | None = None


def customer_actions(status: str, solved_at: datetime | None, now: datetime, days: int) -> CustomerActions:
    """What a customer may do with a ticket in ``status``.

    Replying to a solved ticket reopens it, so it follows the reopen window as well.
    """
    if status in ACTIVE:
        return CustomerActions(can_reply=True, can_solve=True, can_reopen=False, can_follow_up=False)
    if status == "solved":
        inside = can_reopen(solved_at, now, days)
        return CustomerActions(
            can_reply=inside,
            can_solve=False,
            can_reopen=inside,
            can_follow_up=not inside,
            reopen_until=reopen_deadline(solved_at, days) if inside else None,
        )
    return CustomerActions(can_reply=False, can_solve=False, can_reopen=False, can_follow_up=True)


def custom_field_applies(
    type_ids: Iterable[int], organization_ids: Iterable[int], *, type_id: int | None, organization_id: int | None
) -> bool:
    """Whether a ticket field limited to ``type_ids`` and ``organization_ids`` (empty: no limit) applies
    to a ticket of type ``type_id`` requested by a customer of ``organization_id`` (None: none)."""
    types = set(type_ids)
    organizations = set(organization_ids)
    if types and (type_id is None or type_id not in types):
        return False
    return not organizations or (organization_id is not None and organization_id in organizations)
