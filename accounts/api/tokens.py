"""Personal API tokens: generating, hashing and recognising them. Pure: no ORM, no settings.

A token is ``sdk_`` followed by 43 URL-safe characters (``secrets.token_urlsafe(32)``: 256 bits).
Only its SHA-256 is stored; its first characters (``prefix``) are kept in clear so a person can tell
their tokens apart. Looking a token up by its hash is as safe as comparing in constant time: an
attacker cannot steer which stored hash a guess is compared against.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

TOKEN_MARK = "sdk_"  # noqa: S105 - a public marker, not a secret
PREFIX_LENGTH = 12
MAX_TOKEN_LENGTH = 200


@dataclass(frozen=True)
class NewToken:
    token: str  # shown once, never stored
    prefix: str
    key_hash: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_token() -> NewToken:
    token = TOKEN_MARK + secrets.token_urlsafe(32)
    return NewToken(token=token, prefix=token[:PREFIX_LENGTH], key_hash=hash_token(token))


def looks_like_token(value: str) -> bool:
    """Cheap sanity check before hashing: printable, no spaces, not absurdly long."""
    return 0 < len(value) <= MAX_TOKEN_LENGTH and value.isascii() and value.isprintable() and " " not in value
