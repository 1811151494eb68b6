"""SLA rules without a database: policy selection, calendars from rows, clocks with pauses, escalation shares."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tickets.domain import sla
from tickets.domain.business_time import TWENTY_FOUR_SEVEN, Calendar, add_business_time, business_time_between
from tickets.domain.sla import (
    ClockState,
    ContractFacts,
    Interval,
    LevelSpec,
    RuleKind,
    SelectionRule,
    Target,
    TicketFacts,
)

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = timedelta(hours=1)
OFFICE = Calendar("Europe/Berlin", {d: ((9 * 60, 17 * 60),) for d in range(5)})  # Mon-Fri 09:00-17:00
TODAY = date(2025, 3, 10)


def berlin(day: int, hour: int = 0, minute: int = 0, month: int = 3) -> datetime:
    """March 2025 in Berlin: the 10th is a Monday, the 14th a Friday, the 15th/16th the weekend."""
    return datetime(2025, month, day, hour, minute, tzinfo=BERLIN)


# --- policy selection ---------------------------------------------------------------------------

RULES = (
    SelectionRule(id=1, position=0, kind=RuleKind.CHANNEL, policy_id=50, channel="phone"),
    SelectionRule(id=2, position=0, kind=RuleKind.TICKET_TYPE, policy_id=40, type_id=7),
    SelectionRule(id=3, position=0, kind=RuleKind.TIER, policy_id=30, tier="strategic"),
)


def facts(**overrides: object) -> TicketFacts:
    values: dict[str, object] = {
        "channel": "phone",
        "type_id": 7,
        "type_name": "Incident",
        "organization_id": 1,
        "organization_name": "Acme",
        "organization_policy_id": 20,
        "tier": "strategic",
        "contracts": (ContractFacts(9, "Premium 2025", 10, date(2025, 1, 1), None),),
    }
    values.update(overrides)
    return TicketFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, (10, RuleKind.CONTRACT, "Premium 2025")),
        ({"contracts": ()}, (20, RuleKind.ORGANIZATION, "Acme")),
        ({"contracts": (), "organization_policy_id": None}, (30, RuleKind.TIER, "strategic")),
        ({"contracts": (), "organization_policy_id": None, "tier": "standard"}, (40, RuleKind.TICKET_TYPE, "Incident")),
        (
            {"contracts": (), "organization_policy_id": None, "tier": "standard", "type_id": None},
            (50, RuleKind.CHANNEL, "phone"),
        ),
        (
            {"contracts": (), "organization_policy_id": None, "tier": "standard", "type_id": None, "channel": "email"},
            (99, RuleKind.DEFAULT, ""),
        ),
    ],
    ids=["contract", "organization", "tier", "type", "channel", "default"],
)
def test_policy_comes_from_the_first_matching_rule_in_the_fixed_order(overrides, expected):
    choice = sla.select_policy(facts(**overrides), RULES, default_policy_id=99, on=TODAY)

    assert choice is not None
    assert (choice.policy_id, choice.kind, choice.detail) == expected


def test_b2c_ticket_without_organization_gets_the_default_or_nothing():
    b2c = TicketFacts(channel="email")

    assert sla.select_policy(b2c, RULES, default_policy_id=99, on=TODAY).kind is RuleKind.DEFAULT
    assert sla.select_policy(b2c, RULES, default_policy_id=None, on=TODAY) is None


def test_only_a_contract_running_on_the_day_with_a_policy_counts_and_the_latest_start_wins():
    contracts = (
        ContractFacts(1, "Expired", 11, date(2023, 1, 1), date(2024, 12, 31)),
        ContractFacts(2, "Future", 12, date(2025, 6, 1), None),
        ContractFacts(3, "Running old", 13, date(2024, 1, 1), None),
        ContractFacts(4, "Running new", 14, date(2025, 2, 1), date(2025, 12, 31)),
        ContractFacts(5, "Newest, no policy", None, date(2025, 3, 1), None),
    )

    choice = sla.select_policy(facts(contracts=contracts), RULES, 99, on=TODAY)

    assert (choice.policy_id, choice.detail, choice.ref_id) == (14, "Running new", 4)
    ended = sla.select_policy(facts(contracts=contracts), RULES, 99, on=date(2026, 1, 1))
    assert (ended.policy_id, ended.detail) == (12, "Future")


def test_rules_of_one_kind_are_tried_by_position():
    rules = (
        SelectionRule(id=1, position=5, kind=RuleKind.CHANNEL, policy_id=1, channel="email"),
        SelectionRule(id=2, position=1, kind=RuleKind.CHANNEL, policy_id=2, channel="email"),
    )
    b2c = TicketFacts(channel="email")

    assert sla.select_policy(b2c, rules, None, on=TODAY).policy_id == 2


def test_tier_rule_does_not_match_a_ticket_without_organization():
    rule = SelectionRule(id=1, position=0, kind=RuleKind.TIER, policy_id=1, tier="")

    assert sla.select_policy(TicketFacts(channel="web"), [rule], None, on=TODAY) is None


# --- calendars from rows --------------------------------------------------------------------------


def test_calendar_rows_become_a_calendar_with_merged_ranges_and_both_kinds_of_holiday():
    cal = sla.build_calendar(
        time_zone="Europe/Berlin",
        always_open=False,
        hours=[(0, 720, 1080), (0, 480, 720), (1, 480, 600), (1, 780, 1020)],
        holidays=[(date(2025, 4, 18), False), (date(2000, 12, 25), True)],
    )

    assert cal.weekly_hours[0] == ((480, 1080),)  # 08:00-12:00 and 12:00-18:00 are one stretch
    assert cal.weekly_hours[1] == ((480, 600), (780, 1020))  # a split shift stays split
    assert cal.holidays == frozenset({date(2025, 4, 18)})
    assert cal.yearly_holidays == frozenset({(12, 25)})
    assert sla.weekly_hours_summary(cal) == "Mon 08:00-18:00; Tue 08:00-10:00, 13:00-17:00"


def test_weekly_hours_summary_groups_days_with_the_same_hours():
    assert sla.weekly_hours_summary(OFFICE) == "Mon-Fri 09:00-17:00"
    assert sla.weekly_hours_summary(TWENTY_FOUR_SEVEN) == "24x7"


@pytest.mark.parametrize(
    ("value", "text"),
    [(timedelta(0), "0 min"), (timedelta(seconds=59), "0 min"), (timedelta(minutes=150), "2 h 30 min"),
     (timedelta(days=1, hours=2), "1 d 2 h"), (timedelta(hours=3), "3 h")],
)  # fmt: skip
def test_durations_read_like_a_person_writes_them(value, text):
    assert sla.format_duration(value) == text


# --- clocks ---------------------------------------------------------------------------------------


def test_pauses_are_clipped_to_the_clock_merged_and_kept_open_while_they_last():
    start = berlin(10, 9)
    pauses = [
        Interval(berlin(10, 7), berlin(10, 8)),  # before the clock: gone
        Interval(berlin(10, 8), berlin(10, 10)),  # straddles the start: from the start
        Interval(berlin(10, 11), berlin(10, 12)),
        Interval(berlin(10, 11, 30), berlin(10, 13)),  # overlaps: merged
        Interval(berlin(10, 15)),  # still going
    ]

    assert sla.clip_pauses(pauses, start) == [
        Interval(berlin(10, 9), berlin(10, 10)),
        Interval(berlin(10, 11), berlin(10, 13)),
        Interval(berlin(10, 15), None),
    ]
    assert sla.clip_pauses(pauses, start, finish=berlin(10, 12)) == [
        Interval(berlin(10, 9), berlin(10, 10)),
        Interval(berlin(10, 11), berlin(10, 12)),
    ]


def test_friday_afternoon_ticket_with_four_hours_is_due_monday_noon():
    result = sla.evaluate_clock(OFFICE, started_at=berlin(14, 16), target=4 * HOUR, pauses=[], now=berlin(14, 16))

    assert result.state is ClockState.RUNNING
    assert result.due_at == berlin(17, 12)
    assert result.breached_at is None


def test_pause_over_the_weekend_resumes_with_the_time_that_was_left():
    started, paused, resumed = berlin(14, 15), berlin(14, 16, 30), berlin(17, 10)

    while_paused = sla.evaluate_clock(
        OFFICE, started_at=started, target=4 * HOUR, pauses=[Interval(paused)], now=berlin(15, 12)
    )
    after = sla.evaluate_clock(
        OFFICE, started_at=started, target=4 * HOUR, pauses=[Interval(paused, resumed)], now=resumed
    )

    assert while_paused.state is ClockState.PAUSED
    assert (while_paused.due_at, while_paused.remaining) == (None, timedelta(hours=2, minutes=30))
    assert after.state is ClockState.RUNNING
    assert after.due_at == berlin(17, 12, 30)  # Monday 10:00 + the 2.5 h that were left


def test_priority_change_midway_keeps_the_start_and_the_time_used():
    # Started Monday 09:00 with 8 h (due 17:00); at 11:00 the priority's target becomes 4 h.
    result = sla.evaluate_clock(OFFICE, started_at=berlin(10, 9), target=4 * HOUR, pauses=[], now=berlin(10, 11))

    assert result.due_at == berlin(10, 13)


def test_a_clock_that_breached_before_its_pause_keeps_its_breach_while_paused():
    result = sla.evaluate_clock(
        OFFICE, started_at=berlin(10, 9), target=HOUR, pauses=[Interval(berlin(10, 11))], now=berlin(10, 12)
    )

    assert result.state is ClockState.PAUSED
    assert (result.due_at, result.breached_at, result.remaining) == (berlin(10, 10), berlin(10, 10), timedelta(0))


def test_met_clock_is_judged_at_the_moment_it_was_met():
    in_time = sla.evaluate_clock(
        OFFICE, started_at=berlin(10, 9), target=HOUR, pauses=[], now=berlin(10, 12), met_at=berlin(10, 10)
    )
    late = sla.evaluate_clock(
        OFFICE, started_at=berlin(10, 9), target=HOUR, pauses=[], now=berlin(10, 12), met_at=berlin(10, 10, 1)
    )

    assert (in_time.state, in_time.breached_at, in_time.escalations) == (ClockState.MET, None, ())
    assert (late.state, late.breached_at) == (ClockState.MET, berlin(10, 10))


def test_clock_met_while_paused_is_in_time_when_time_was_left():
    result = sla.evaluate_clock(
        OFFICE,
        started_at=berlin(10, 9),
        target=2 * HOUR,
        pauses=[Interval(berlin(10, 10))],
        now=berlin(11, 12),
        met_at=berlin(11, 12),
    )

    assert (result.state, result.breached_at, result.remaining) == (ClockState.MET, None, HOUR)


def test_escalations_fall_at_their_share_of_the_target():
    result = sla.evaluate_clock(
        OFFICE, started_at=berlin(10, 9), target=4 * HOUR, pauses=[], now=berlin(10, 9), percents=(75, 150)
    )

    assert result.escalations == ((75, berlin(10, 12)), (100, berlin(10, 13)), (150, berlin(10, 15)))


def test_thresholds_use_configured_levels_or_the_warning_share_and_always_the_breach():
    levels = [LevelSpec(50, Target.RESOLUTION), LevelSpec(200, None), LevelSpec(90, Target.FIRST_RESPONSE)]

    assert sla.thresholds_for(Target.RESOLUTION, levels, 75) == (50, 100, 200)
    assert sla.thresholds_for(Target.NEXT_RESPONSE, levels, 75) == (100, 200)
    assert sla.thresholds_for(Target.NEXT_RESPONSE, [], 75) == (75, 100)
    assert sla.thresholds_for(Target.NEXT_RESPONSE, [], None) == (100,)


@pytest.mark.parametrize(("percent", "kind"), [(75, "warning"), (100, "breach"), (150, "escalation")])
def test_escalation_kind_follows_the_share(percent, kind):
    assert sla.escalation_kind(percent) == kind


def test_percent_of_a_target_is_exact_to_the_microsecond():
    assert sla.percent_of(timedelta(minutes=1), 75) == timedelta(seconds=45)
    assert sla.percent_of(timedelta(microseconds=3), 50) == timedelta(microseconds=1)


# --- properties -----------------------------------------------------------------------------------

CALENDARS = st.sampled_from(
    [
        OFFICE,
        TWENTY_FOUR_SEVEN,
        Calendar("America/New_York", {d: ((8 * 60, 12 * 60), (13 * 60, 17 * 60)) for d in range(6)}),
        Calendar("Europe/Berlin", {d: ((22 * 60, 1440),) for d in range(7)}, holidays=frozenset({date(2025, 3, 12)})),
    ]
)
BASE = datetime(2025, 3, 3, tzinfo=UTC)  # spans the DST change of 30 March in Berlin and 9 March in New York
MOMENTS = st.integers(min_value=0, max_value=60 * 24 * 40).map(lambda m: BASE + timedelta(minutes=m))
TARGETS = st.integers(min_value=1, max_value=60 * 60).map(lambda m: timedelta(minutes=m))


@st.composite
def closed_pauses(draw: st.DrawFn, start: datetime) -> list[Interval]:
    offsets = sorted(draw(st.lists(st.integers(0, 60 * 24 * 20), min_size=0, max_size=8, unique=True)))
    if len(offsets) % 2:
        offsets = offsets[:-1]
    return [
        Interval(start + timedelta(minutes=offsets[i]), start + timedelta(minutes=offsets[i + 1]))
        for i in range(0, len(offsets), 2)
    ]


@settings(max_examples=150, deadline=None)
@given(cal=CALENDARS, start=MOMENTS, target=TARGETS)
def test_without_pauses_the_due_date_is_plain_business_time(cal, start, target):
    result = sla.evaluate_clock(cal, started_at=start, target=target, pauses=[], now=start)

    assert result.due_at == add_business_time(cal, start, target)


@settings(max_examples=150, deadline=None)
@given(cal=CALENDARS, start=MOMENTS, target=TARGETS, data=st.data())
def test_the_clock_counts_exactly_the_target_outside_its_pauses(cal, start, target, data):
    pauses = data.draw(closed_pauses(start))

    result = sla.evaluate_clock(cal, started_at=start, target=target, pauses=pauses, now=start)

    assert result.due_at is not None
    assert sla.counted_time(cal, start, result.due_at, sla.clip_pauses(pauses, start)) == target
    assert result.due_at >= add_business_time(cal, start, target)  # pauses never bring a due date forward


@settings(max_examples=150, deadline=None)
@given(
    cal=CALENDARS,
    start=MOMENTS,
    target=TARGETS,
    pause_at=st.integers(0, 60 * 24 * 10),
    length=st.integers(1, 60 * 24 * 5),
)
def test_resuming_continues_with_what_was_left_when_the_pause_began(cal, start, target, pause_at, length):
    began = start + timedelta(minutes=pause_at)
    ended = began + timedelta(minutes=length)
    unpaused = add_business_time(cal, start, target)
    assume(unpaused > began)  # the pause starts before the target is reached

    paused = sla.evaluate_clock(cal, started_at=start, target=target, pauses=[Interval(began)], now=began)
    resumed = sla.evaluate_clock(cal, started_at=start, target=target, pauses=[Interval(began, ended)], now=ended)

    assert paused.remaining == target - business_time_between(cal, start, began)
    assert resumed.due_at == add_business_time(cal, ended, paused.remaining)


@settings(max_examples=100, deadline=None)
@given(cal=CALENDARS, start=MOMENTS, target=TARGETS, data=st.data())
def test_escalation_moments_come_in_the_order_of_their_shares(cal, start, target, data):
    pauses = data.draw(closed_pauses(start))
    percents = sorted(data.draw(st.lists(st.integers(1, 300), min_size=1, max_size=5, unique=True)))

    result = sla.evaluate_clock(cal, started_at=start, target=target, pauses=pauses, now=start, percents=percents)

    moments = [m for _, m in result.escalations]
    assert [p for p, _ in result.escalations] == sorted(set(percents) | {100})
    assert moments == sorted(moments)


@settings(max_examples=100, deadline=None)
@given(start=MOMENTS, target=TARGETS)
def test_a_pause_while_the_desk_is_closed_changes_nothing(start, target):
    # Saturday and Sunday of every week in range: the office calendar is closed then.
    local = start.astimezone(BERLIN)
    saturday = (local + timedelta(days=(5 - local.weekday()) % 7)).replace(hour=0, minute=0, second=0, microsecond=0)
    pause = Interval(saturday, saturday + timedelta(days=2))

    plain = sla.evaluate_clock(OFFICE, started_at=start, target=target, pauses=[], now=start)
    paused = sla.evaluate_clock(OFFICE, started_at=start, target=target, pauses=[pause], now=start)

    assert paused.due_at == plain.due_at
