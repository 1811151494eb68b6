"""Signing webhook bodies, Stripe-like. Pure: no ORM, no settings, no I/O.

Header: ``X-ServiceDesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
The timestamp is signed with the body, so a receiver that rejects old timestamps also rejects
replays. Several ``v1=`` values may appear (a future secret rotation); any match is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
DEFAULT_TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def mask_secret(secret: str) -> str:
    """What may be shown after creation: the prefix and the last four characters."""
    if not secret:
        return ""
    return f"{SECRET_PREFIX}…{secret[-4:]}"


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={int(timestamp)},v1={compute_signature(secret, timestamp, body)}"


def parse_signature_header(header: str) -> tuple[int | None, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    return timestamp, signatures


def verify_signature(
    secret: str, header: str, body: bytes, *, now: float, tolerance: int = DEFAULT_TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: recompute over the raw body, compare in constant time, check the age."""
    timestamp, signatures = parse_signature_header(header)
    if timestamp is None or not signatures:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = compute_signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
