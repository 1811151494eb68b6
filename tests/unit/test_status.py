import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickets.domain.status import (
    ACTIVE_STATUSES,
    IllegalTransition,
    Status,
    allowed_transitions,
    can_transition,
    check_transition,
    status_after_agent_reply,
    status_after_customer_message,
)

statuses = st.sampled_from(list(Status))


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.NEW, Status.OPEN),
        (Status.NEW, Status.SOLVED),
        (Status.OPEN, Status.PENDING),
        (Status.PENDING, Status.OPEN),
        (Status.ON_HOLD, Status.OPEN),
        (Status.OPEN, Status.SOLVED),
        (Status.SOLVED, Status.OPEN),
        (Status.SOLVED, Status.CLOSED),
        (Status.PENDING, Status.CLOSED),
    ],
)
def test_legal_transitions_pass(current, target):
    check_transition(current, target)
    assert can_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target", "reason"),
    [
        (Status.CLOSED, Status.OPEN, "closed ticket is final"),
        (Status.OPEN, Status.NEW, "only the status a ticket starts in"),
        (Status.SOLVED, Status.PENDING, "allowed from solved: closed, open"),
        (Status.SOLVED, Status.ON_HOLD, "allowed from solved"),
        (Status.OPEN, Status.OPEN, "allowed from open"),
    ],
)
def test_illegal_transitions_raise_with_reason(current, target, reason):
    with pytest.raises(IllegalTransition, match=reason):
        check_transition(current, target)
    assert not can_transition(current, target) or current is target


@given(statuses, statuses)
def test_check_transition_agrees_with_allowed_transitions(current, target):
    legal = target in allowed_transitions(current) and current is not target
    try:
        check_transition(current, target)
    except IllegalTransition:
        assert not legal
    else:
        assert legal


@given(statuses)
def test_nothing_returns_to_new_and_closed_is_final(current):
    assert Status.NEW not in allowed_transitions(current)
    assert not allowed_transitions(Status.CLOSED)


@given(statuses)
def test_every_active_status_can_be_solved_and_closed(current):
    if current in ACTIVE_STATUSES:
        assert {Status.SOLVED, Status.CLOSED} <= allowed_transitions(current)


def test_customer_message_reopens_pending_and_solved_only():
    assert status_after_customer_message(Status.PENDING) is Status.OPEN
    assert status_after_customer_message(Status.SOLVED) is Status.OPEN
    for status in (Status.NEW, Status.OPEN, Status.ON_HOLD, Status.CLOSED):
        assert status_after_customer_message(status) is None


def test_agent_reply_opens_new_ticket_unless_status_chosen():
    assert status_after_agent_reply(Status.NEW, None) is Status.OPEN
    assert status_after_agent_reply(Status.NEW, Status.PENDING) is Status.PENDING
    assert status_after_agent_reply(Status.OPEN, None) is None
    assert status_after_agent_reply(Status.OPEN, Status.OPEN) is None
    assert status_after_agent_reply(Status.OPEN, Status.SOLVED) is Status.SOLVED


def test_django_text_choices_values_are_accepted_and_compared_by_value():
    from tickets.choices import Status as DjangoStatus

    check_transition(DjangoStatus.OPEN, DjangoStatus.PENDING)
    with pytest.raises(IllegalTransition):
        check_transition(DjangoStatus.OPEN, Status.OPEN)
    assert status_after_customer_message(DjangoStatus.SOLVED) is Status.OPEN
    assert status_after_agent_reply("new", None) is Status.OPEN
    assert status_after_agent_reply(DjangoStatus.OPEN, "open") is None
