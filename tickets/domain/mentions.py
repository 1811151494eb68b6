"""@mentions in internal notes: ``@username`` or ``@"Full Name"``. Pure, no Django.

An ``@`` only starts a mention at the start of the text or after a character that cannot be part
of a word or an address (so ``ana@example.com`` mentions nobody). Trailing sentence punctuation is
not part of a username (``thanks @ben.`` mentions ``ben``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Django's default username characters: letters, digits and @ . + - _
_USERNAME = re.compile(r'(?<![\w@.+\-])@(?:"(?P<name>[^"\n]{1,150})"|(?P<user>[\w.+\-]{1,150}))')
_TRAILING = ".-+"
MAX_MENTIONS = 20


@dataclass(frozen=True)
class Mentions:
    """Who a text mentions, normalised for case-insensitive lookups, in order of first mention."""

    usernames: tuple[str, ...] = ()
    full_names: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.usernames or self.full_names)


def _normalise_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def parse_mentions(text: str, *, limit: int = MAX_MENTIONS) -> Mentions:
    """The usernames and quoted full names mentioned in ``text`` (at most ``limit`` in all, no duplicates)."""
    usernames: dict[str, None] = {}
    full_names: dict[str, None] = {}
    for match in _USERNAME.finditer(text or ""):
        if len(usernames) + len(full_names) >= limit:
            break
        if match.group("name") is not None:
            name = _normalise_name(match.group("name"))
            if name:
                full_names.setdefault(name, None)
            continue
        user = match.group("user").rstrip(_TRAILING).casefold()
        if user:
            usernames.setdefault(user, None)
    return Mentions(usernames=tuple(usernames), full_names=tuple(full_names))


def full_name_key(first_name: str, last_name: str) -> str:
    """How a person's full name is compared with a quoted mention."""
    return _normalise_name(f"{first_name} {last_name}")
