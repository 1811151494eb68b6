"""Satisfaction surveys (CSAT): when a survey may be answered, and the score. Pure, no Django.

- A survey is asked for each solve of a ticket (a status change *to solved*; closing without a
  solve, a merge or spam handling ask nothing). ``solve_number`` counts the solved transitions.
- It may be answered while that solve stands: the ticket is solved, or closed after that solve.
  A reopen (and a later solve) ends it: the old link says so instead of recording a stale answer.
- The customer may change their answer while it stands; the latest answer counts and each
  answer is one timeline event.
- The score is good / (good + bad), in per cent; no answers, no score.
"""

from __future__ import annotations

from datetime import datetime

SOLVED = "solved"
CLOSED = "closed"
RATINGS = ("good", "bad")
MAX_COMMENT = 2000


def survey_open(*, ticket_status: str, ticket_solved_at: datetime | None, asked_at: datetime) -> bool:
    """Whether a survey asked at ``asked_at`` (the moment of its solve) still stands.

    ``ticket_solved_at`` is cleared by a reopen and moves on with the next solve, while closing a
    solved ticket keeps it: so the solve stands exactly when it is not later than the survey's.
    """
    if ticket_status not in (SOLVED, CLOSED) or ticket_solved_at is None:
        return False
    return ticket_solved_at <= asked_at


def clean_rating(value: str) -> str:
    rating = (value or "").strip().lower()
    if rating not in RATINGS:
        raise ValueError("Choose good or bad.")
    return rating


def clean_comment(value: str) -> str:
    comment = (value or "").replace("\r\n", "\n").strip()
    if len(comment) > MAX_COMMENT:
        raise ValueError(f"Keep the comment under {MAX_COMMENT} characters.")
    return comment


def score(good: int, bad: int) -> float | None:
    """Good answers as a share of all answers, in per cent (one decimal); None without answers."""
    total = good + bad
    return round(100 * good / total, 1) if total else None
