"""Ticket lists of the agent workspace: the built-in views, the sort orders and keyset cursors.

Pure: no ORM, no settings. ``tickets.selectors`` turns a view and a sort into a query; the sort
orders all end in ``id`` so every list has a total order and keyset paging never skips or repeats a
ticket, whatever is inserted meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from enum import StrEnum

ACTIVE = ("new", "open", "pending", "on_hold")


class Builtin(StrEnum):
    MINE = "mine"
    UNASSIGNED = "unassigned"
    MY_TEAMS = "my-teams"
    BREACHING_SOON = "breaching-soon"
    PENDING = "pending"
    RECENT = "recent"
    ALL = "all"


@dataclass(frozen=True)
class ViewSpec:
    """What a built-in view shows, in words the selector translates into a query."""

    key: Builtin
    statuses: tuple[str, ...] | None = ACTIVE
    assigned_to_me: bool = False
    unassigned: bool = False
    my_teams: bool = False
    breaching_within_minutes: int | None = None
    updated_within_hours: int | None = None
    default_sort: str = "updated"


BUILTIN_VIEWS: dict[Builtin, ViewSpec] = {
    Builtin.MINE: ViewSpec(Builtin.MINE, assigned_to_me=True),
    Builtin.UNASSIGNED: ViewSpec(Builtin.UNASSIGNED, unassigned=True),
    Builtin.MY_TEAMS: ViewSpec(Builtin.MY_TEAMS, my_teams=True),
    Builtin.BREACHING_SOON: ViewSpec(Builtin.BREACHING_SOON, breaching_within_minutes=120, default_sort="sla"),
    Builtin.PENDING: ViewSpec(Builtin.PENDING, statuses=("pending",)),
    Builtin.RECENT: ViewSpec(Builtin.RECENT, statuses=None, updated_within_hours=24),
    Builtin.ALL: ViewSpec(Builtin.ALL, statuses=None),
}


@dataclass(frozen=True)
class SortKey:
    """One column of a sort order. ``nulls_last`` only matters for nullable columns."""

    field: str
    descending: bool
    nullable: bool = False


@dataclass(frozen=True)
class SortSpec:
    key: str
    columns: tuple[SortKey, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.columns)


SORTS: dict[str, SortSpec] = {
    "updated": SortSpec("updated", (SortKey("updated_at", True), SortKey("id", True))),
    "created": SortSpec("created", (SortKey("created_at", True), SortKey("id", True))),
    # Soonest SLA due first; tickets without a running target come last.
    "sla": SortSpec("sla", (SortKey("sla_due_at", False, nullable=True), SortKey("id", False))),
    # Urgent first, then most recently updated.
    "priority": SortSpec(
        "priority", (SortKey("priority_rank", False), SortKey("updated_at", True), SortKey("id", True))
    ),
}


def sort_for(key: str | None, default: str = "updated") -> SortSpec:
    return SORTS.get(key or "", SORTS[default])


class BadCursor(ValueError):
    """A cursor that was not made by ``encode_cursor`` for this sort (tampered, stale or truncated)."""


CursorValue = str | int | None


def encode_cursor(sort: SortSpec, values: tuple[CursorValue, ...]) -> str:
    """An opaque token for "the rows after this one" in ``sort``."""
    if len(values) != len(sort.columns):
        raise ValueError("one value per sort column")
    raw = json.dumps([sort.key, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: SortSpec, token: str) -> tuple[CursorValue, ...]:
    """The values of the row a cursor points after; ``BadCursor`` for anything not made for ``sort``."""
    if not token or len(token) > 512:
        raise BadCursor("empty or oversized cursor")
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BadCursor("not a cursor") from exc
    if not isinstance(data, list) or len(data) != len(sort.columns) + 1 or data[0] != sort.key:
        raise BadCursor("cursor for another sort")
    values = tuple(data[1:])
    for column, value in zip(sort.columns, values, strict=True):
        if value is None and not column.nullable:
            raise BadCursor(f"{column.field} cannot be empty")
        if column.field in ("id", "priority_rank"):
            if not isinstance(value, int) or isinstance(value, bool):
                raise BadCursor(f"{column.field} must be a number")
        elif value is not None and not isinstance(value, str):
            raise BadCursor(f"{column.field} must be a timestamp")
    return values
