"""The ticket state machine. Pure, no Django.

    new ──► open ◄──► pending
     │       ▲  ▲──► on_hold
     │       │
     └──────► solved ──► closed  (closed is final: a later customer message opens a follow-up)

Any non-closed status may go straight to closed (spam, duplicates, merges); "new" is only ever
the status a ticket is created with.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    ON_HOLD = "on_hold"
    SOLVED = "solved"
    CLOSED = "closed"


ACTIVE_STATUSES: frozenset[Status] = frozenset({Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD})
# Statuses in which the ticket waits on somebody other than the agent: SLA clocks pause here.
PAUSED_STATUSES: frozenset[Status] = frozenset({Status.PENDING, Status.ON_HOLD})

_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED, Status.CLOSED}),
    Status.OPEN: frozenset({Status.PENDING, Status.ON_HOLD, Status.SOLVED, Status.CLOSED}),
    Status.PENDING: frozenset({Status.OPEN, Status.ON_HOLD, Status.SOLVED, Status.CLOSED}),
    Status.ON_HOLD: frozenset({Status.OPEN, Status.PENDING, Status.SOLVED, Status.CLOSED}),
    Status.SOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


class IllegalTransition(ValueError):
    def __init__(self, current: Status, target: Status) -> None:
        self.current = current
        self.target = target
        if current is Status.CLOSED:
            reason = "a closed ticket is final; a new message opens a follow-up ticket instead"
        elif target is Status.NEW:
            reason = "'new' is only the status a ticket starts in"
        else:
            reason = f"allowed from {current.value}: {', '.join(sorted(s.value for s in _TRANSITIONS[current]))}"
        super().__init__(f"Cannot change status from {current.value} to {target.value}: {reason}.")


# Every function accepts any str with a status value (Django's TextChoices included) and
# compares by value, never by identity.


def allowed_transitions(current: str) -> frozenset[Status]:
    return _TRANSITIONS[Status(current)]


def can_transition(current: str, target: str) -> bool:
    return Status(target) in _TRANSITIONS[Status(current)]


def check_transition(current: str, target: str) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is allowed (same status is not a move)."""
    now, then = Status(current), Status(target)
    if now == then or then not in _TRANSITIONS[now]:
        raise IllegalTransition(now, then)


def status_after_customer_message(current: str) -> Status | None:
    """The status a ticket moves to when its customer writes; ``None`` to leave it (or closed: follow-up)."""
    if Status(current) in (Status.PENDING, Status.SOLVED):
        return Status.OPEN
    return None


def status_after_agent_reply(current: str, requested: str | None) -> Status | None:
    """An agent's public reply opens a new ticket unless the agent chose a status explicitly."""
    now = Status(current)
    if requested is not None and Status(requested) != now:
        return Status(requested)
    if now == Status.NEW:
        return Status.OPEN
    return None
