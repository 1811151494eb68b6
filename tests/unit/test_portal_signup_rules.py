"""Portal account rules (accounts/domain/signup.py): pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounts.domain.signup import (
    AddressFacts,
    PendingUser,
    ResetCandidate,
    SignUpOutcome,
    lockout_ends_at,
    may_receive_password_reset,
    minutes_until,
    safe_next_path,
    sign_up_outcome,
    verification_refusal,
)


@pytest.mark.parametrize(
    ("facts", "outcome"),
    [
        (AddressFacts(), SignUpOutcome.NEW_CONTACT),
        (AddressFacts(contact_id=7), SignUpOutcome.CLAIM_CONTACT),
        (AddressFacts(contact_id=7, contact_has_user=True), SignUpOutcome.EXISTING_ACCOUNT),
        (AddressFacts(belongs_to_staff=True), SignUpOutcome.STAFF_ADDRESS),
        # A staff address stays one even when a contact (without or with a login) holds it too.
        (AddressFacts(belongs_to_staff=True, contact_id=7), SignUpOutcome.STAFF_ADDRESS),
        (AddressFacts(belongs_to_staff=True, contact_id=7, contact_has_user=True), SignUpOutcome.STAFF_ADDRESS),
    ],
)
def test_sign_up_outcome_by_what_the_desk_knows_of_the_address(facts, outcome):
    assert sign_up_outcome(facts) is outcome


def _pending(**changes: object) -> PendingUser:
    values = {"is_active": False, "has_contact": False, "is_staff": False, "email": "ann@example.com"}
    values.update(changes)
    return PendingUser(**values)  # type: ignore[arg-type]


def test_verification_of_a_waiting_sign_up_for_a_new_or_claimable_address_is_allowed():
    assert verification_refusal(_pending(), "ann@example.com", AddressFacts()) is None
    assert verification_refusal(_pending(), "ann@example.com", AddressFacts(contact_id=3)) is None


@pytest.mark.parametrize(
    ("user", "email", "facts", "reason"),
    [
        (_pending(is_active=True), "ann@example.com", AddressFacts(), "used"),
        (_pending(has_contact=True), "ann@example.com", AddressFacts(), "used"),
        (_pending(is_staff=True), "ann@example.com", AddressFacts(), "invalid"),
        (_pending(email="bob@example.com"), "ann@example.com", AddressFacts(), "invalid"),
        (_pending(), "ann@example.com", AddressFacts(belongs_to_staff=True), "staff"),
        (_pending(), "ann@example.com", AddressFacts(contact_id=3, contact_has_user=True), "taken"),
    ],
)
def test_verification_is_refused_when_the_link_cannot_attach_the_address(user, email, facts, reason):
    assert verification_refusal(user, email, facts) == reason


def test_password_reset_only_for_active_customers_with_a_verified_address():
    ok = ResetCandidate(is_active=True, has_usable_password=True, is_staff=False, address_verified=True)
    assert may_receive_password_reset(ok)
    for change in ("is_active", "has_usable_password", "address_verified"):
        assert not may_receive_password_reset(ResetCandidate(**{**ok.__dict__, change: False}))
    assert not may_receive_password_reset(ResetCandidate(**{**ok.__dict__, "is_staff": True}))


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/portal/tickets/", "/portal/tickets/"),
        ("/portal/tickets/?status=open#top", "/portal/tickets/?status=open#top"),
        ("", None),
        (None, None),
        ("https://evil.example/", None),
        ("http://testserver/portal/", None),
        ("//evil.example/path", None),
        ("/\\evil.example", None),
        ("/portal\\..\\evil", None),
        ("javascript:alert(1)", None),
        ("portal/tickets/", None),
        ("/portal/\x00", None),
        ("/ /evil", "/ /evil"),
    ],
)
def test_login_next_is_only_a_path_on_this_host(target, expected):
    assert safe_next_path(target) == expected


def test_lockout_ends_one_cool_off_after_the_last_failure():
    last = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    ends = lockout_ends_at(last, timedelta(minutes=15))
    assert ends == datetime(2026, 11, 25, 10, 15, tzinfo=UTC)
    assert minutes_until(ends, last) == 15
    assert minutes_until(ends, last + timedelta(minutes=14, seconds=1)) == 1
    assert minutes_until(ends, last + timedelta(minutes=14, seconds=59)) == 1
    assert minutes_until(ends, ends) == 0
    assert minutes_until(ends, ends + timedelta(seconds=1)) == 0
