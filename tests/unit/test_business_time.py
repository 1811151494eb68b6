"""Business time for SLA due dates: worked examples, DST, validation, properties and a speed check."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickets.domain.business_time import (
    MINUTES_PER_DAY,
    TWENTY_FOUR_SEVEN,
    Calendar,
    CalendarError,
    add_business_time,
    business_time_between,
    is_open,
    next_open_moment,
    open_intervals,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)
TINY = timedelta(microseconds=1)


def hm(hours: int, minutes: int = 0) -> int:
    return hours * 60 + minutes


NINE_TO_FIVE = {weekday: ((hm(9), hm(17)),) for weekday in range(5)}


def office(**kwargs: object) -> Calendar:
    """Mon-Fri 09:00-17:00 in Berlin."""
    return Calendar("Europe/Berlin", NINE_TO_FIVE, **kwargs)  # type: ignore[arg-type]


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def new_york(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def total(intervals: list[tuple[datetime, datetime]]) -> timedelta:
    return sum((end - start for start, end in intervals), timedelta(0))


# --- worked examples ---------------------------------------------------------------------------


def test_friday_afternoon_plus_two_hours_is_monday_ten_local() -> None:
    due = add_business_time(office(), berlin(2024, 6, 7, 16), 2 * HOUR)

    assert due == berlin(2024, 6, 10, 10)
    assert due.tzinfo is UTC


def test_start_on_a_weekend_counts_from_monday_opening() -> None:
    cal = office()

    assert add_business_time(cal, berlin(2024, 6, 8, 10), HOUR) == berlin(2024, 6, 10, 10)
    assert business_time_between(cal, berlin(2024, 6, 8, 10), berlin(2024, 6, 10, 10)) == HOUR
    assert next_open_moment(cal, berlin(2024, 6, 8, 10)) == berlin(2024, 6, 10, 9)


def test_holiday_monday_moves_the_due_date_to_tuesday() -> None:
    cal = office(holidays=frozenset({date(2024, 6, 10)}))

    assert add_business_time(cal, berlin(2024, 6, 7, 16), 2 * HOUR) == berlin(2024, 6, 11, 10)
    assert business_time_between(cal, berlin(2024, 6, 7, 0), berlin(2024, 6, 12, 0)) == 16 * HOUR
    assert not is_open(cal, berlin(2024, 6, 10, 12))


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (berlin(2024, 12, 24, 16), berlin(2024, 12, 26, 10)),  # Christmas on a Wednesday
        (berlin(2025, 12, 24, 16), berlin(2025, 12, 26, 10)),  # on a Thursday
        (berlin(2027, 12, 24, 16), berlin(2027, 12, 27, 10)),  # on a Saturday: no effect
    ],
)
def test_yearly_christmas_holiday_applies_every_year(start: datetime, expected: datetime) -> None:
    cal = office(yearly_holidays=frozenset({(12, 25)}))

    assert add_business_time(cal, start, 2 * HOUR) == expected


def test_yearly_february_29th_is_skipped_in_common_years() -> None:
    cal = office(yearly_holidays=frozenset({(2, 29)}))

    # 2028-02-29 is a Tuesday; 2025 has no February 29th at all.
    assert add_business_time(cal, berlin(2028, 2, 28, 16), 2 * HOUR) == berlin(2028, 3, 1, 10)
    assert add_business_time(cal, berlin(2025, 2, 28, 16), 2 * HOUR) == berlin(2025, 3, 3, 10)


def test_split_shift_skips_the_lunch_break() -> None:
    cal = Calendar("Europe/Berlin", {d: ((hm(8), hm(12)), (hm(13), hm(17))) for d in range(5)})

    assert add_business_time(cal, berlin(2024, 6, 10, 11), 2 * HOUR) == berlin(2024, 6, 10, 14)
    assert add_business_time(cal, berlin(2024, 6, 10, 11), HOUR) == berlin(2024, 6, 10, 12)
    assert business_time_between(cal, berlin(2024, 6, 10, 11), berlin(2024, 6, 10, 14)) == 2 * HOUR
    assert not is_open(cal, berlin(2024, 6, 10, 12, 30))
    assert next_open_moment(cal, berlin(2024, 6, 10, 12, 30)) == berlin(2024, 6, 10, 13)
    assert list(open_intervals(cal, berlin(2024, 6, 10, 7), berlin(2024, 6, 10, 18))) == [
        (berlin(2024, 6, 10, 8), berlin(2024, 6, 10, 12)),
        (berlin(2024, 6, 10, 13), berlin(2024, 6, 10, 17)),
    ]


def test_overnight_coverage_runs_across_midnight() -> None:
    # Nights from Monday 22:00 to Saturday 06:00: 22:00-24:00 plus 00:00-06:00 of the next day.
    late, early = (hm(22), MINUTES_PER_DAY), (0, hm(6))
    week = {0: (late,), 1: (early, late), 2: (early, late), 3: (early, late), 4: (early, late), 5: (early,)}
    cal = Calendar("Europe/Berlin", week)

    assert add_business_time(cal, berlin(2024, 6, 10, 23), 3 * HOUR) == berlin(2024, 6, 11, 2)
    assert list(open_intervals(cal, berlin(2024, 6, 10, 20), berlin(2024, 6, 11, 8))) == [
        (berlin(2024, 6, 10, 22), berlin(2024, 6, 11, 6)),
    ]
    assert business_time_between(cal, berlin(2024, 6, 10, 0), berlin(2024, 6, 12, 0)) == 10 * HOUR
    assert is_open(cal, berlin(2024, 6, 11, 0))
    assert is_open(cal, berlin(2024, 6, 11, 0) - TINY)
    # Friday 23:00 + 8 h: 1 h on Friday, 6 h on Saturday morning, 1 h from Monday 22:00.
    assert add_business_time(cal, berlin(2024, 6, 14, 23), 8 * HOUR) == berlin(2024, 6, 17, 23)


def test_zero_duration_returns_the_start_even_when_closed() -> None:
    saturday = berlin(2024, 6, 8, 10)

    due = add_business_time(office(), saturday, timedelta(0))

    assert due == saturday
    assert due.tzinfo is UTC


def test_calendar_open_only_on_tuesday_and_thursday() -> None:
    cal = Calendar("Europe/Berlin", {1: ((hm(9), hm(17)),), 3: ((hm(9), hm(17)),)})

    assert add_business_time(cal, berlin(2024, 6, 11, 16), 2 * HOUR) == berlin(2024, 6, 13, 10)
    assert add_business_time(cal, berlin(2024, 6, 13, 16), 2 * HOUR) == berlin(2024, 6, 18, 10)
    assert add_business_time(cal, berlin(2024, 6, 10, 9), 16 * HOUR * 10) == berlin(2024, 8, 15, 17)
    assert business_time_between(cal, berlin(2024, 6, 10), berlin(2024, 8, 16)) == 160 * HOUR


def test_start_at_opening_or_closing_time() -> None:
    cal = office()

    assert add_business_time(cal, berlin(2024, 6, 10, 9), HOUR) == berlin(2024, 6, 10, 10)
    assert add_business_time(cal, berlin(2024, 6, 10, 17), HOUR) == berlin(2024, 6, 11, 10)
    assert add_business_time(cal, berlin(2024, 6, 10, 16), HOUR) == berlin(2024, 6, 10, 17)  # not next morning
    assert add_business_time(cal, berlin(2024, 6, 14, 16), HOUR) == berlin(2024, 6, 14, 17)
    assert is_open(cal, berlin(2024, 6, 10, 9))
    assert not is_open(cal, berlin(2024, 6, 10, 17))
    assert is_open(cal, berlin(2024, 6, 10, 17) - TINY)
    assert next_open_moment(cal, berlin(2024, 6, 10, 10)) == berlin(2024, 6, 10, 10)
    assert next_open_moment(cal, berlin(2024, 6, 14, 17)) == berlin(2024, 6, 17, 9)


def test_microseconds_are_exact() -> None:
    cal = office()
    almost_closing = berlin(2024, 6, 10, 17) - TINY

    assert add_business_time(cal, almost_closing, TINY) == berlin(2024, 6, 10, 17)
    assert add_business_time(cal, almost_closing, 2 * TINY) == berlin(2024, 6, 11, 9) + TINY
    assert business_time_between(cal, almost_closing, berlin(2024, 6, 11, 9) + TINY) == 2 * TINY


def test_durations_of_many_weeks() -> None:
    cal = office()
    monday = berlin(2024, 6, 3, 9)

    assert add_business_time(cal, monday, 400 * HOUR) == berlin(2024, 8, 9, 17)  # ten weeks, ends Friday
    assert add_business_time(cal, monday, 400 * HOUR + TINY) == berlin(2024, 8, 12, 9) + TINY
    with_holiday = office(holidays=frozenset({date(2024, 7, 17)}))
    assert add_business_time(with_holiday, monday, 400 * HOUR) == berlin(2024, 8, 12, 17)
    # Twenty weeks across the spring DST change: local hours stay 09:00-17:00.
    assert add_business_time(cal, berlin(2024, 1, 8, 9), 800 * HOUR) == berlin(2024, 5, 24, 17)


def test_business_time_of_a_whole_year() -> None:
    cal = office(yearly_holidays=frozenset({(1, 1), (12, 25), (12, 26)}))

    # 2024 has 262 weekdays; New Year (Mon) and Christmas (Wed, Thu) fall on three of them.
    assert business_time_between(cal, berlin(2024, 1, 1), berlin(2025, 1, 1)) == 259 * 8 * HOUR
    assert add_business_time(cal, berlin(2024, 1, 1), 259 * 8 * HOUR) == berlin(2024, 12, 31, 17)


# --- daylight saving time ----------------------------------------------------------------------

DST_SUNDAYS = [
    pytest.param(BERLIN, date(2024, 3, 31), 23, 2, id="berlin-spring-forward"),
    pytest.param(BERLIN, date(2024, 10, 27), 25, 4, id="berlin-fall-back"),
    pytest.param(NEW_YORK, date(2024, 3, 10), 23, 2, id="new-york-spring-forward"),
    pytest.param(NEW_YORK, date(2024, 11, 3), 25, 4, id="new-york-fall-back"),
]


@pytest.mark.parametrize(("tz", "sunday", "whole_day_hours", "one_to_four_hours"), DST_SUNDAYS)
def test_dst_sunday_has_the_real_length_of_its_wall_clock_hours(
    tz: ZoneInfo, sunday: date, whole_day_hours: int, one_to_four_hours: int
) -> None:
    saturday, next_day = sunday - timedelta(days=1), sunday + timedelta(days=1)
    saturday_noon = datetime(saturday.year, saturday.month, saturday.day, 12, tzinfo=tz)
    monday = datetime(next_day.year, next_day.month, next_day.day, tzinfo=tz)
    monday_noon = monday.replace(hour=12)
    whole_day = Calendar(tz.key, {6: ((0, MINUTES_PER_DAY),)})
    one_to_four = Calendar(tz.key, {6: ((hm(1), hm(4)),)})

    assert business_time_between(whole_day, saturday_noon, monday_noon) == whole_day_hours * HOUR
    assert business_time_between(one_to_four, saturday_noon, monday_noon) == one_to_four_hours * HOUR
    assert add_business_time(whole_day, saturday_noon, whole_day_hours * HOUR) == monday
    assert add_business_time(one_to_four, saturday_noon, one_to_four_hours * HOUR) == datetime(
        sunday.year, sunday.month, sunday.day, 4, tzinfo=tz
    )
    assert total(list(open_intervals(whole_day, saturday_noon, monday_noon))) == whole_day_hours * HOUR


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (berlin(2024, 3, 29, 16), berlin(2024, 4, 1, 10)),
        (berlin(2024, 10, 25, 16), berlin(2024, 10, 28, 10)),
        (new_york(2024, 3, 8, 16), new_york(2024, 3, 11, 10)),
        (new_york(2024, 11, 1, 16), new_york(2024, 11, 4, 10)),
    ],
)
def test_office_hours_follow_the_local_clock_across_a_dst_weekend(start: datetime, expected: datetime) -> None:
    cal = Calendar(str(start.tzinfo), NINE_TO_FIVE)

    assert add_business_time(cal, start, 2 * HOUR) == expected
    assert business_time_between(cal, start, expected) == 2 * HOUR


def test_range_starting_in_the_skipped_hour_opens_when_the_clock_jumps() -> None:
    cal = Calendar("Europe/Berlin", {6: ((hm(2, 30), hm(5)),)})

    assert list(open_intervals(cal, berlin(2024, 3, 30), berlin(2024, 4, 1))) == [
        (berlin(2024, 3, 31, 3), berlin(2024, 3, 31, 5)),
    ]


def test_range_ending_in_the_repeated_hour_ends_at_its_first_reading() -> None:
    cal = Calendar("Europe/Berlin", {6: ((0, hm(2, 30)),)})
    second_two_ten = datetime(2024, 10, 27, 2, 10, tzinfo=BERLIN, fold=1)

    assert business_time_between(cal, berlin(2024, 10, 26), berlin(2024, 10, 28)) == timedelta(hours=2, minutes=30)
    assert is_open(cal, berlin(2024, 10, 27, 2, 10))
    assert not is_open(cal, second_two_ten)


# --- 24x7 ----------------------------------------------------------------------------------------


def test_twenty_four_seven_counts_elapsed_time() -> None:
    start = berlin(2024, 3, 30, 12)

    assert add_business_time(TWENTY_FOUR_SEVEN, start, 30 * HOUR) == start.astimezone(UTC) + 30 * HOUR
    assert business_time_between(TWENTY_FOUR_SEVEN, start, berlin(2024, 4, 1, 12)) == 47 * HOUR  # DST night
    assert is_open(TWENTY_FOUR_SEVEN, start)
    assert list(open_intervals(TWENTY_FOUR_SEVEN, start, start + HOUR)) == [(start, start + HOUR)]


def test_always_open_ignores_holidays_but_full_day_hours_honour_them() -> None:
    christmas = frozenset({(12, 25)})
    always = Calendar("Europe/Berlin", {}, yearly_holidays=christmas, always_open=True)
    every_day = Calendar("Europe/Berlin", {d: ((0, MINUTES_PER_DAY),) for d in range(7)}, yearly_holidays=christmas)

    assert business_time_between(always, berlin(2024, 12, 24), berlin(2024, 12, 27)) == 72 * HOUR
    assert business_time_between(every_day, berlin(2024, 12, 24), berlin(2024, 12, 27)) == 48 * HOUR
    assert add_business_time(every_day, berlin(2024, 12, 24, 12), 13 * HOUR) == berlin(2024, 12, 26, 1)


# --- validation ----------------------------------------------------------------------------------

EVERY_DAY_OF_THE_YEAR = frozenset((day.month, day.day) for day in (date(2024, 1, 1) + timedelta(n) for n in range(366)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weekly_hours": {0: ((540, 720), (700, 800))}}, "overlaps"),
        ({"weekly_hours": {0: ((780, 1020), (480, 720))}}, "not sorted"),
        ({"weekly_hours": {0: ((1320, 1500),)}}, "1320-1500"),
        ({"weekly_hours": {0: ((600, 600),)}}, "start < end"),
        ({"weekly_hours": {0: ((-60, 600),)}}, "start < end"),
        ({"weekly_hours": {0: ((540.0, 600),)}}, "pair of minutes"),
        ({"weekly_hours": {7: ((540, 600),)}}, "weekdays are 0"),
        ({"weekly_hours": {}}, "never open"),
        ({"weekly_hours": {0: (), 3: []}}, "never open"),
        ({"time_zone": "Mars/Olympus_Mons"}, "Unknown time zone"),
        ({"time_zone": "../../etc/passwd"}, "Unknown time zone"),
        ({"time_zone": ""}, "IANA"),
        ({"yearly_holidays": frozenset({(2, 30)})}, "not a day of the year"),
        ({"yearly_holidays": frozenset({(13, 1)})}, "not a day of the year"),
        ({"holidays": frozenset({"2024-12-25"})}, "must contain dates"),
        ({"holidays": frozenset({datetime(2024, 12, 25, tzinfo=UTC)})}, "must contain dates"),
        ({"yearly_holidays": EVERY_DAY_OF_THE_YEAR}, "every day of the year"),
    ],
)
def test_invalid_calendars_are_rejected(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"time_zone": "Europe/Berlin", "weekly_hours": NINE_TO_FIVE} | kwargs

    with pytest.raises(CalendarError, match=message):
        Calendar(**arguments)  # type: ignore[arg-type]


def test_touching_ranges_are_allowed_and_act_as_one_stretch() -> None:
    cal = Calendar("Europe/Berlin", {0: ((hm(8), hm(12)), (hm(12), hm(17)))})

    assert add_business_time(cal, berlin(2024, 6, 10, 11), 2 * HOUR) == berlin(2024, 6, 10, 13)
    assert list(open_intervals(cal, berlin(2024, 6, 10), berlin(2024, 6, 11))) == [
        (berlin(2024, 6, 10, 8), berlin(2024, 6, 10, 17)),
    ]


def test_calendars_are_normalised_hashable_and_compare_by_value() -> None:
    from_lists = Calendar("Europe/Berlin", {d: [[hm(9), hm(17)]] for d in range(5)} | {6: []})  # type: ignore[arg-type]

    assert from_lists == office()
    assert hash(from_lists) == hash(office())
    assert from_lists.weekly_hours[0] == ((hm(9), hm(17)),)
    assert 6 not in from_lists.weekly_hours
    assert office() != office(holidays=frozenset({date(2024, 12, 24)}))
    assert isinstance(CalendarError("x"), ValueError)


@pytest.mark.parametrize(
    "call",
    [
        lambda: is_open(office(), datetime(2024, 6, 10, 12)),  # noqa: DTZ001
        lambda: next_open_moment(office(), datetime(2024, 6, 10, 12)),  # noqa: DTZ001
        lambda: add_business_time(office(), datetime(2024, 6, 10, 12), HOUR),  # noqa: DTZ001
        lambda: business_time_between(office(), berlin(2024, 6, 10), datetime(2024, 6, 11)),  # noqa: DTZ001
        lambda: open_intervals(office(), datetime(2024, 6, 10), berlin(2024, 6, 11)),  # noqa: DTZ001
        lambda: add_business_time(office(), berlin(2024, 6, 10), -TINY),
    ],
)
def test_naive_datetimes_and_negative_durations_are_rejected(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware|negative"):
        call()


def test_between_is_zero_when_the_end_is_not_after_the_start() -> None:
    cal = office()

    assert business_time_between(cal, berlin(2024, 6, 10, 12), berlin(2024, 6, 10, 10)) == timedelta(0)
    assert business_time_between(cal, berlin(2024, 6, 10, 12), berlin(2024, 6, 10, 12)) == timedelta(0)
    assert list(open_intervals(cal, berlin(2024, 6, 10, 12), berlin(2024, 6, 10, 10))) == []


# --- properties ----------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago"]
# Minute values that hit the DST hours and midnight often, plus anything else.
MINUTES = st.sampled_from([0, 30, 60, 90, 120, 150, 180, 210, 240, 1380, 1410, 1440]) | st.integers(0, MINUTES_PER_DAY)
# Yearly holidays that land on DST Sundays in some years, New Year, Christmas, and the leap day.
YEARLY = st.sampled_from([(1, 1), (12, 25), (12, 26), (2, 29), (3, 31), (3, 10), (10, 27), (11, 3), (4, 7), (9, 8)])


@st.composite
def day_ranges(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    bounds = sorted(draw(st.lists(MINUTES, max_size=6, unique=True)))
    return tuple(zip(bounds[0::2], bounds[1::2], strict=False))


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    week = {weekday: draw(day_ranges()) for weekday in range(7) if draw(st.booleans())}
    if not any(week.values()):
        week[draw(st.integers(0, 6))] = ((hm(9), hm(17)),)
    return Calendar(
        time_zone=draw(st.sampled_from(ZONES)),
        weekly_hours=week,
        holidays=draw(st.frozensets(st.dates(date(2023, 1, 1), date(2027, 12, 31)), max_size=25)),
        yearly_holidays=draw(st.frozensets(YEARLY, max_size=4)),
    )


# Generated in several zones, then normalised to UTC: Python compares and subtracts two datetimes of the
# same zone by wall clock, which would make the properties' own arithmetic wrong across DST changes.
moments = st.datetimes(
    min_value=datetime(2023, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2026, 12, 31),  # noqa: DTZ001
    timezones=st.sampled_from([ZoneInfo(name) for name in ZONES]),
).map(lambda moment: moment.astimezone(UTC))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)) | st.timedeltas(
    min_value=timedelta(0), max_value=timedelta(days=400)
)
PROPERTY = settings(max_examples=150, deadline=None)


def capped(cal: Calendar, duration: timedelta) -> timedelta:
    """Keep thin calendars (minutes a week) from running centuries ahead: at most 300 open weeks."""
    week = sum((end - start for ranges in cal.weekly_hours.values() for start, end in ranges), 0)
    return min(duration, timedelta(minutes=week) * 300)


@PROPERTY
@given(cal=calendars(), start=moments, duration=durations)
def test_add_then_between_gives_the_duration_back(cal: Calendar, start: datetime, duration: timedelta) -> None:
    duration = capped(cal, duration)

    due = add_business_time(cal, start, duration)

    assert due >= start
    assert due.tzinfo is UTC
    assert business_time_between(cal, start, due) == duration
    assert total(list(open_intervals(cal, start, due))) == duration
    if duration:
        assert is_open(cal, due - TINY)


@PROPERTY
@given(cal=calendars(), first=moments, second=moments, duration=durations)
def test_add_is_monotonic_in_the_start(cal: Calendar, first: datetime, second: datetime, duration: timedelta) -> None:
    duration = capped(cal, duration)
    early, late = sorted((first, second))

    assert add_business_time(cal, early, duration) <= add_business_time(cal, late, duration)


@PROPERTY
@given(cal=calendars(), start=moments, first=durations, second=durations)
def test_add_is_strictly_monotonic_in_the_duration(
    cal: Calendar, start: datetime, first: timedelta, second: timedelta
) -> None:
    short, long = sorted((capped(cal, first), capped(cal, second)))

    if short < long:
        assert add_business_time(cal, start, short) < add_business_time(cal, start, long)
    else:
        assert add_business_time(cal, start, short) == add_business_time(cal, start, long)


@PROPERTY
@given(cal=calendars(), start=moments, first=durations, second=durations)
def test_add_is_additive(cal: Calendar, start: datetime, first: timedelta, second: timedelta) -> None:
    first, second = capped(cal, first) / 2, capped(cal, second) / 2

    in_two_steps = add_business_time(cal, add_business_time(cal, start, first), second)

    assert in_two_steps == add_business_time(cal, start, first + second)


@PROPERTY
@given(cal=calendars(), points=st.lists(moments, min_size=3, max_size=3))
def test_between_is_additive_and_matches_the_open_intervals(cal: Calendar, points: list[datetime]) -> None:
    a, b, c = sorted(points)

    whole = business_time_between(cal, a, c)

    assert whole == business_time_between(cal, a, b) + business_time_between(cal, b, c)
    assert timedelta(0) <= whole <= c - a
    intervals = list(open_intervals(cal, a, c))
    assert total(intervals) == whole
    for (start, end), following in zip(intervals, [*intervals[1:], (c, c)], strict=False):
        assert a <= start < end <= following[0]
        assert end < following[0] or following[0] == c  # touching stretches are merged
        assert is_open(cal, start)
        assert is_open(cal, end - TINY)


@PROPERTY
@given(start=moments, end=moments, zone=st.sampled_from(ZONES), duration=durations)
def test_always_open_counts_elapsed_time(start: datetime, end: datetime, zone: str, duration: timedelta) -> None:
    cal = Calendar(zone, {}, holidays=frozenset({start.date()}), always_open=True)

    assert business_time_between(cal, start, end) == max(end - start, timedelta(0))
    assert add_business_time(cal, start, duration) == start + duration


@PROPERTY
@given(cal=calendars(), moment=moments)
def test_is_open_agrees_with_the_local_wall_clock(cal: Calendar, moment: datetime) -> None:
    local = moment.astimezone(ZoneInfo(cal.time_zone))
    if local.fold:  # the second reading of a repeated hour: see the module's documented choice
        return
    minute = local.hour * 60 + local.minute
    closed_day = local.date() in cal.holidays or (local.month, local.day) in cal.yearly_holidays
    ranges = () if closed_day else cal.weekly_hours.get(local.weekday(), ())

    assert is_open(cal, moment) == any(start <= minute < end for start, end in ranges)


@PROPERTY
@given(cal=calendars(), moment=moments)
def test_next_open_moment_is_the_first_open_instant(cal: Calendar, moment: datetime) -> None:
    found = next_open_moment(cal, moment)

    assert found >= moment
    assert is_open(cal, found)
    assert business_time_between(cal, moment, found) == timedelta(0)
    assert (found == moment) == is_open(cal, moment)


# --- speed ---------------------------------------------------------------------------------------


def test_ten_thousand_due_dates_are_fast() -> None:
    cal = Calendar(
        "Europe/Berlin",
        {d: ((hm(8), hm(12)), (hm(13), hm(17))) for d in range(5)},
        holidays=frozenset({date(2025, 4, 18), date(2025, 4, 21), date(2025, 5, 1), date(2026, 5, 14)}),
        yearly_holidays=frozenset({(1, 1), (10, 3), (12, 25), (12, 26)}),
    )
    rng = random.Random(20240607)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    calls = [
        (base + timedelta(seconds=rng.randrange(3 * 365 * 86_400)), timedelta(seconds=rng.randrange(30 * 8 * 3600)))
        for _ in range(10_000)
    ]

    began = time.perf_counter()
    for start, duration in calls:
        add_business_time(cal, start, duration)
    elapsed = time.perf_counter() - began

    print(f"10,000 add_business_time calls (up to 30 business days): {elapsed:.3f} s")
    assert elapsed < 10
