"""Macro placeholders. Pure, no Django.

Placeholders are ``{{ name }}`` with a fixed whitelist of names. Nothing else in a macro is
interpreted: no template tags, no attribute access, no filters, so macro text written by an agent
can never run code or read data it should not. Unknown placeholders are reported, not guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDERS: Mapping[str, str] = {
    "customer.name": "Full name of the requester",
    "customer.first_name": "First name of the requester",
    "customer.email": "Primary email address of the requester",
    "organization.name": "Organization of the requester (empty for consumers)",
    "ticket.reference": "Ticket reference such as SD-1042",
    "ticket.subject": "Ticket subject",
    "agent.name": "Full name of the agent applying the macro",
    "agent.first_name": "First name of the agent applying the macro",
    "desk.name": "Name of the service desk",
}

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+(?:\.[a-z_]+)?)\s*\}\}")


class UnknownPlaceholder(ValueError):
    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__(f"Unknown placeholder(s): {', '.join(names)}. Available: {', '.join(sorted(PLACEHOLDERS))}.")


def placeholders_in(text: str) -> list[str]:
    return [match.group(1) for match in _PLACEHOLDER.finditer(text)]


def check_placeholders(text: str) -> None:
    unknown = sorted({name for name in placeholders_in(text) if name not in PLACEHOLDERS})
    if unknown:
        raise UnknownPlaceholder(unknown)


def render(text: str, values: Mapping[str, str]) -> str:
    """Replace known placeholders with ``values``; everything else stays literally as written."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PLACEHOLDERS:
            return match.group(0)
        return values.get(name, "")

    return _PLACEHOLDER.sub(substitute, text)
