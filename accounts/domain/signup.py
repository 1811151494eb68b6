"""Portal account rules: who may sign up with an address, what a verified address is attached to,
who may receive a password reset, where a login may send the browser, when a lockout ends.

Pure: no ORM, no settings, no I/O. The selectors gather the facts, the services act on the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from urllib.parse import urlsplit


class SignUpOutcome(Enum):
    """What a sign-up with an address leads to. The visitor sees the same page in every case."""

    # Nobody has the address: a new contact is created when the link is followed.
    NEW_CONTACT = "new_contact"
    # A contact wrote in with the address before and has no login: it is claimed when the link is followed.
    CLAIM_CONTACT = "claim_contact"
    # The address already has a customer login: a "you already have an account" mail, nothing else.
    EXISTING_ACCOUNT = "existing_account"
    # The address belongs to a staff user (agent, admin): never a customer login; a notice mail only.
    STAFF_ADDRESS = "staff_address"


@dataclass(frozen=True)
class AddressFacts:
    """What the desk knows about one (normalised) address."""

    # A user who is an agent (any agent profile), staff or superuser has this address.
    belongs_to_staff: bool = False
    # The contact that owns the address, if any.
    contact_id: int | None = None
    # That contact already has a login.
    contact_has_user: bool = False


def sign_up_outcome(facts: AddressFacts) -> SignUpOutcome:
    """Staff addresses first: an agent's address never becomes a customer login, whatever contact holds it."""
    if facts.belongs_to_staff:
        return SignUpOutcome.STAFF_ADDRESS
    if facts.contact_id is not None and facts.contact_has_user:
        return SignUpOutcome.EXISTING_ACCOUNT
    if facts.contact_id is not None:
        return SignUpOutcome.CLAIM_CONTACT
    return SignUpOutcome.NEW_CONTACT


@dataclass(frozen=True)
class PendingUser:
    """A user made by a sign-up, as the verification link finds it."""

    is_active: bool
    has_contact: bool
    is_staff: bool
    email: str


def verification_refusal(user: PendingUser, token_email: str, facts: AddressFacts) -> str | None:
    """Why a verification link cannot attach ``user`` to the address (``None``: it can).

    The link only ever activates a sign-up still waiting for it: an active user, or one already
    attached to a contact, was verified before (or is managed by the desk), and an address taken
    meanwhile by a staff user or by another login is never handed over.
    """
    if user.is_active or user.has_contact:
        return "used"
    if user.is_staff or user.email != token_email:
        return "invalid"
    outcome = sign_up_outcome(facts)
    if outcome is SignUpOutcome.STAFF_ADDRESS:
        return "staff"
    if outcome is SignUpOutcome.EXISTING_ACCOUNT:
        return "taken"
    return None


@dataclass(frozen=True)
class ResetCandidate:
    """A user who could get a password reset mail for an address they own as a contact."""

    is_active: bool
    has_usable_password: bool
    is_staff: bool
    address_verified: bool


def may_receive_password_reset(candidate: ResetCandidate) -> bool:
    """Only active customers, for an address they proved (verified), get a reset link from the portal."""
    return (
        candidate.is_active and candidate.has_usable_password and not candidate.is_staff and candidate.address_verified
    )


def safe_next_path(target: str | None) -> str | None:
    """A ``next=`` target a login may redirect to: a path on this host only, else ``None``.

    Refused: absolute URLs (any host, any scheme), scheme-relative ``//host`` and ``/\\host``,
    and anything with control characters or backslashes browsers would read as a host.
    """
    if not target:
        return None
    value = target.strip()
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    if "\\" in value or any(ord(char) < 32 or ord(char) == 127 for char in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def lockout_ends_at(last_failure: datetime, cool_off: timedelta) -> datetime:
    """A lockout ends one cool-off after the last counted failure (failures during it are not counted)."""
    return last_failure + cool_off


def minutes_until(moment: datetime, now: datetime) -> int:
    """Whole minutes left until ``moment``, rounded up, at least 1 while it is still ahead (0 after)."""
    seconds = (moment - now).total_seconds()
    if seconds <= 0:
        return 0
    return max(1, int(-(-seconds // 60)))
