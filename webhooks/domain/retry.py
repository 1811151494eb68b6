"""When a failed webhook delivery is tried again. Pure: no ORM, no settings."""

from __future__ import annotations

import random
from collections.abc import Sequence

# Seconds to wait after the 1st, 2nd, ... failed attempt; the last value repeats.
DEFAULT_SCHEDULE: tuple[int, ...] = (30, 120, 600, 3600, 6 * 3600, 12 * 3600)
JITTER = 0.1


def retry_delay(
    failed_attempts: int,
    schedule: Sequence[int] = DEFAULT_SCHEDULE,
    *,
    jitter: float = JITTER,
    rng: random.Random | None = None,
) -> float:
    """Exponential-ish backoff from a table, capped at its last value, with +-``jitter`` spread
    so that deliveries that failed together (a receiver outage) do not come back together."""
    if failed_attempts < 1:
        raise ValueError("failed_attempts starts at 1")
    base = schedule[min(failed_attempts, len(schedule)) - 1]
    spread = (rng or random).uniform(-jitter, jitter)  # noqa: S311 - not for security
    return base * (1 + spread)


def is_success(status: int) -> bool:
    return 200 <= status < 300


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def is_redirect(status: int) -> bool:
    return status in REDIRECT_STATUSES


def gives_up(failed_attempts: int, max_attempts: int) -> bool:
    return failed_attempts >= max_attempts
