"""Human ticket references such as ``SD-1042``. Pure, no Django."""

from __future__ import annotations

import re


def format_reference(prefix: str, number: int) -> str:
    return f"{prefix}-{number}"


def parse_reference(text: str, prefix: str) -> int | None:
    """The ticket number in ``SD-1042`` or ``sd-1042`` (surrounding space ignored), else ``None``."""
    match = re.fullmatch(rf"\s*{re.escape(prefix)}-([0-9]{{1,18}})\s*", text, flags=re.IGNORECASE)
    return int(match.group(1)) if match else None


def subject_token(prefix: str, number: int) -> str:
    """The token put in outgoing subjects so replies can be threaded: ``[SD-1042]``."""
    return f"[{format_reference(prefix, number)}]"


def find_subject_tokens(subject: str, prefix: str) -> list[int]:
    """Ticket numbers carried as ``[SD-1042]`` tokens in a subject, in order of appearance."""
    return [int(n) for n in re.findall(rf"\[{re.escape(prefix)}-([0-9]{{1,18}})\]", subject, flags=re.IGNORECASE)]
