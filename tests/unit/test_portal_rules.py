"""The portal's ticket rules: the reopen window, the customer's actions, status groups, field applicability."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickets.domain.portal import (
    CustomerStatus,
    can_reopen,
    custom_field_applies,
    customer_actions,
    customer_status,
    reopen_deadline,
    statuses_for,
)

SOLVED = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)


def test_reopen_inside_the_window_and_on_its_last_instant():
    assert can_reopen(SOLVED, SOLVED, 14)
    assert can_reopen(SOLVED, SOLVED + timedelta(days=13, hours=23), 14)
    assert can_reopen(SOLVED, SOLVED + timedelta(days=14), 14)


def test_reopen_refused_after_the_window():
    assert not can_reopen(SOLVED, SOLVED + timedelta(days=14, seconds=1), 14)
    assert not can_reopen(SOLVED, SOLVED + timedelta(days=400), 14)


def test_reopen_refused_without_solved_at_and_with_a_zero_day_window_only_at_once():
    assert not can_reopen(None, SOLVED, 14)
    assert can_reopen(SOLVED, SOLVED, 0)
    assert not can_reopen(SOLVED, SOLVED + timedelta(seconds=1), 0)


def test_negative_days_count_as_zero():
    assert reopen_deadline(SOLVED, -3) == SOLVED


@given(days=st.integers(min_value=0, max_value=3650), offset=st.integers(min_value=-(10**8), max_value=10**9))
def test_reopen_is_exactly_the_deadline_comparison(days, offset):
    now = SOLVED + timedelta(seconds=offset)
    assert can_reopen(SOLVED, now, days) == (now <= SOLVED + timedelta(days=days))


@pytest.mark.parametrize("status", ["new", "open", "pending", "on_hold"])
def test_active_tickets_take_replies_and_can_be_marked_solved(status):
    actions = customer_actions(status, None, SOLVED, 14)
    assert actions.can_reply and actions.can_solve
    assert not actions.can_reopen and not actions.can_follow_up


def test_solved_ticket_inside_the_window_can_be_reopened_or_answered():
    actions = customer_actions("solved", SOLVED, SOLVED + timedelta(days=2), 14)
    assert actions.can_reopen and actions.can_reply
    assert not actions.can_solve and not actions.can_follow_up
    assert actions.reopen_until == SOLVED + timedelta(days=14)


def test_solved_ticket_after_the_window_only_offers_a_follow_up():
    actions = customer_actions("solved", SOLVED, SOLVED + timedelta(days=15), 14)
    assert not actions.can_reopen and not actions.can_reply and not actions.can_solve
    assert actions.can_follow_up


def test_closed_ticket_only_offers_a_follow_up():
    actions = customer_actions("closed", SOLVED, SOLVED, 14)
    assert (actions.can_reply, actions.can_solve, actions.can_reopen, actions.can_follow_up) == (
        False,
        False,
        False,
        True,
    )


def test_status_filters_group_statuses_and_ignore_unknown_values():
    assert statuses_for("open") == ("new", "open", "pending", "on_hold")
    assert statuses_for("solved") == ("solved",)
    assert statuses_for("closed") == ("closed",)
    assert statuses_for("") is None
    assert statuses_for(None) is None
    assert statuses_for("'; drop table") is None


def test_customer_status_folds_internal_statuses():
    assert customer_status("new") is CustomerStatus.IN_PROGRESS
    assert customer_status("on_hold") is CustomerStatus.IN_PROGRESS
    assert customer_status("pending") is CustomerStatus.AWAITING_YOU
    assert customer_status("solved") is CustomerStatus.SOLVED
    assert customer_status("closed") is CustomerStatus.CLOSED


def test_unrestricted_field_applies_everywhere():
    assert custom_field_applies([], [], type_id=None, organization_id=None)
    assert custom_field_applies([], [], type_id=3, organization_id=7)


def test_field_for_types_applies_only_to_those_types():
    assert custom_field_applies([1, 2], [], type_id=2, organization_id=None)
    assert not custom_field_applies([1, 2], [], type_id=3, organization_id=None)
    assert not custom_field_applies([1, 2], [], type_id=None, organization_id=None)


def test_field_for_organizations_applies_only_to_their_contacts():
    assert custom_field_applies([], [7], type_id=None, organization_id=7)
    assert not custom_field_applies([], [7], type_id=None, organization_id=8)
    assert not custom_field_applies([], [7], type_id=None, organization_id=None)  # B2C customer


def test_field_for_types_and_organizations_needs_both():
    assert custom_field_applies([1], [7], type_id=1, organization_id=7)
    assert not custom_field_applies([1], [7], type_id=2, organization_id=7)
    assert not custom_field_applies([1], [7], type_id=1, organization_id=8)
