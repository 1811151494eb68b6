"""Who else has a ticket open right now: collision detection for the agent workspace.

Kept in the cache (Redis in production and tests), never in the database: each agent's presence on
a ticket is one small entry that lives ``PRESENCE_TTL`` seconds after their last touch, and a
per-ticket index lists who touched it lately. A page polls every 10 s, so an agent who closes the
tab disappears within about 30 s.

The index is read, changed and written back, so two agents arriving in the same instant can drop
one another from it; each poll puts its agent back, so at worst someone shows up one poll late.
Entries themselves are never lost that way: each agent writes only their own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from django.core.cache import cache

KEY_PREFIX = "presence"  # tests isolate themselves with their own prefix
PRESENCE_TTL = 30  # seconds an entry counts after its last touch
INDEX_TTL = 60 * 60  # the index outlives idle periods; stale ids in it are pruned on write
State = Literal["viewing", "replying"]
STATES: tuple[State, ...] = ("viewing", "replying")


@dataclass(frozen=True)
class Presence:
    user_id: int
    state: State
    at: float  # epoch seconds of the last touch


def _index_key(ticket_id: int) -> str:
    return f"{KEY_PREFIX}:{ticket_id}:who"


def _entry_key(ticket_id: int, user_id: int) -> str:
    return f"{KEY_PREFIX}:{ticket_id}:{user_id}"


def _alive(entry: object, now: float) -> bool:
    return isinstance(entry, dict) and now - float(entry.get("at", 0)) < PRESENCE_TTL


def presence_touch(ticket_id: int, user_id: int, state: State, *, now: float | None = None) -> None:
    """Record that ``user_id`` is on the ticket. "replying" lasts ``PRESENCE_TTL`` after the last keystroke;
    a "viewing" poll meanwhile does not turn it back into viewing."""
    if state not in STATES:
        raise ValueError(f"Unknown presence state {state!r}.")
    moment = time.time() if now is None else now
    key = _entry_key(ticket_id, user_id)
    entry = {"at": moment, "replying_at": None}
    previous = cache.get(key)
    if isinstance(previous, dict) and previous.get("replying_at") is not None:
        entry["replying_at"] = previous["replying_at"]
    if state == "replying":
        entry["replying_at"] = moment
    cache.set(key, entry, timeout=PRESENCE_TTL + 5)
    index_key = _index_key(ticket_id)
    who = cache.get(index_key)
    who = set(who) if isinstance(who, list | set | tuple) else set()
    if user_id not in who:
        # Prune ids whose entries expired, so the index does not grow with every agent who ever looked.
        entries = cache.get_many([_entry_key(ticket_id, uid) for uid in who])
        who = {uid for uid in who if _alive(entries.get(_entry_key(ticket_id, uid)), moment)}
        who.add(user_id)
        cache.set(index_key, sorted(who), timeout=INDEX_TTL)


def presence_leave(ticket_id: int, user_id: int) -> None:
    cache.delete(_entry_key(ticket_id, user_id))


def presence_others(ticket_id: int, user_id: int, *, now: float | None = None) -> list[Presence]:
    """Everybody but ``user_id`` on the ticket lately, those replying first."""
    moment = time.time() if now is None else now
    who = cache.get(_index_key(ticket_id))
    if not who:
        return []
    others = [uid for uid in who if uid != user_id]
    entries = cache.get_many([_entry_key(ticket_id, uid) for uid in others])
    result = []
    for uid in others:
        entry = entries.get(_entry_key(ticket_id, uid))
        if not _alive(entry, moment):
            continue
        replying_at = entry.get("replying_at")  # type: ignore[union-attr]
        replying = replying_at is not None and moment - float(replying_at) < PRESENCE_TTL
        result.append(Presence(user_id=uid, state="replying" if replying else "viewing", at=float(entry["at"])))  # type: ignore[index]
    result.sort(key=lambda p: (p.state != "replying", p.user_id))
    return result
