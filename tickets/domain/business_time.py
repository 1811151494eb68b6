"""Business time for SLA clocks. Pure, no Django.

A :class:`Calendar` says when a desk is open: weekly working hours in a time zone, holidays, or 24x7.
SLA targets are counted in business time: ``first_response_due = add_business_time(cal, created_at,
timedelta(hours=4))``; a paused clock resumes with ``business_time_between(...)`` left.

Semantics
---------
* Working hours are LOCAL WALL-CLOCK ranges ``[start, end)`` in minutes from local midnight; 1440 means
  the next local midnight, so ``22:00-24:00`` on Monday and ``00:00-06:00`` on Tuesday are one stretch.
* Business time is REAL elapsed time (microseconds, exact, no rounding) inside the open intervals.
* A wall-clock boundary ``w`` of a local day becomes the first instant at which the local clock shows
  ``w`` or later. So on a spring-forward day a boundary inside the skipped hour falls on the jump
  (Berlin ``00:00-24:00`` is 23 h, ``01:00-04:00`` is 2 h); on a fall-back day a boundary inside the
  repeated hour is its first reading (``00:00-24:00`` is 25 h, ``01:00-04:00`` is 4 h, but
  ``00:00-02:30`` ends at the first 02:30 and does not reopen for the repeated 02:00-02:30).
* Holidays close their whole local date (only that date's ranges; a ``22:00-24:00`` range of the day
  before still runs up to midnight).
* ``always_open`` is literally 24x7: business time equals elapsed time; holidays and weekly hours are
  still validated but ignored. For "24x7 except holidays" give every weekday ``((0, 1440),)`` instead.
* Every datetime argument must be timezone-aware (``ValueError`` otherwise); results are in UTC.
  Instants and results must lie within the years 2 to 9998 (``ValueError`` otherwise).
* Assumption: a local day on which the UTC offset changes and changes back (same offset at both
  midnights) would be treated as a regular 24-hour day. Transitions are found to the second.

Algorithm
---------
Instants are integer microseconds since the Unix epoch. For every (zone, year) the UTC instants of the
local midnights are computed once and cached, which also marks the "irregular" days (DST changes) whose
real length is not 24 h. A local day's open intervals are ``midnight + range`` on a regular day and an
exact wall-clock conversion on an irregular one. Long durations jump over whole weeks: ``k`` weeks are
worth ``k * regular_week`` plus a correction for the few exception days in them (holidays, DST days);
the rest is walked one day at a time.
"""

from __future__ import annotations

from bisect import bisect_left
from calendar import isleap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "MINUTES_PER_DAY",
    "TWENTY_FOUR_SEVEN",
    "Calendar",
    "CalendarError",
    "add_business_time",
    "business_time_between",
    "is_open",
    "next_open_moment",
    "open_intervals",
]

MINUTES_PER_DAY = 1440

_US_PER_SECOND = 1_000_000
_US_PER_MINUTE = 60 * _US_PER_SECOND
_US_PER_DAY = 86_400 * _US_PER_SECOND
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAYS_OF_A_LEAP_YEAR = 366

Ranges = tuple[tuple[int, int], ...]


class CalendarError(ValueError):
    """The calendar definition is not usable (bad zone, bad ranges, never open)."""


@dataclass(frozen=True)
class Calendar:
    """When a desk is open. Immutable, hashable, validated on construction.

    ``weekly_hours`` maps a weekday (0 = Monday .. 6 = Sunday) to sorted, non-overlapping
    ``(start, end)`` minute ranges with ``0 <= start < end <= 1440``; a missing day is closed. It is
    stored normalised (tuples, empty days dropped), so lists are accepted too.
    """

    time_zone: str
    weekly_hours: Mapping[int, Ranges]
    holidays: frozenset[date] = frozenset()
    yearly_holidays: frozenset[tuple[int, int]] = frozenset()
    always_open: bool = False

    _tz: ZoneInfo = field(init=False, repr=False, compare=False)
    _week: tuple[Ranges, ...] = field(init=False, repr=False, compare=False)
    _week_offsets: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False)
    _nominal: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _week_total: int = field(init=False, repr=False, compare=False)
    _holiday_ordinals: frozenset[int] = field(init=False, repr=False, compare=False)
    _holiday_sorted: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _yearly_sorted: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tz = _load_zone(self.time_zone)
        week = _normalise_week(self.weekly_hours)
        holidays = _normalise_holidays(self.holidays)
        yearly = _normalise_yearly(self.yearly_holidays)
        if not isinstance(self.always_open, bool):
            raise CalendarError(f"always_open must be True or False, not {self.always_open!r}.")
        if not self.always_open:
            if not week:
                raise CalendarError(
                    "The calendar is never open: give weekly_hours at least one range, or set always_open."
                )
            if len(yearly) >= _DAYS_OF_A_LEAP_YEAR:
                raise CalendarError("The calendar is never open: every day of the year is a yearly holiday.")

        per_day = tuple(week.get(weekday, ()) for weekday in range(7))
        offsets = tuple(tuple(m * _US_PER_MINUTE for pair in ranges for m in pair) for ranges in per_day)
        nominal = tuple(sum(end - start for start, end in ranges) * _US_PER_MINUTE for ranges in per_day)
        setattr_ = object.__setattr__
        setattr_(self, "weekly_hours", MappingProxyType(week))
        setattr_(self, "holidays", holidays)
        setattr_(self, "yearly_holidays", yearly)
        setattr_(self, "_tz", tz)
        setattr_(self, "_week", per_day)
        setattr_(self, "_week_offsets", offsets)
        setattr_(self, "_nominal", nominal)
        setattr_(self, "_week_total", sum(nominal))
        setattr_(self, "_holiday_ordinals", frozenset(day.toordinal() for day in holidays))
        setattr_(self, "_holiday_sorted", tuple(sorted(day.toordinal() for day in holidays)))
        setattr_(self, "_yearly_sorted", tuple(sorted(yearly)))
        setattr_(self, "_hash", hash((self.time_zone, per_day, holidays, yearly, self.always_open)))

    def __hash__(self) -> int:
        return self._hash


# --- public functions ------------------------------------------------------------------------


def is_open(cal: Calendar, moment: datetime) -> bool:
    """Whether the desk is open at ``moment`` (intervals are half-open: closing time is closed)."""
    t = _to_us(moment, "moment")
    if cal.always_open:
        return True
    bounds = _day(cal, _day_of(cal, t))
    return any(bounds[i] <= t < bounds[i + 1] for i in range(0, len(bounds), 2))


def next_open_moment(cal: Calendar, moment: datetime) -> datetime:
    """The first open instant at or after ``moment`` (``moment`` itself if open), in UTC."""
    t = _to_us(moment, "moment")
    if cal.always_open:
        return _from_us(t)
    ordinal = _day_of(cal, t)
    while True:
        bounds = _day(cal, ordinal)
        for i in range(0, len(bounds), 2):
            if bounds[i + 1] > t:
                return _from_us(max(bounds[i], t))
        ordinal += 1


def add_business_time(cal: Calendar, start: datetime, duration: timedelta) -> datetime:
    """The instant at which ``duration`` of business time has elapsed since ``start``, in UTC.

    A zero duration gives ``start`` back (even when closed). Otherwise the result is the earliest such
    instant, so it lies inside an open interval or exactly at its end (Friday 16:00 + 1 h is Friday
    17:00, not Monday 09:00).
    """
    t = _to_us(start, "start")
    remaining = _timedelta_us(duration)
    if remaining < 0:
        raise ValueError(f"duration must not be negative, got {duration}.")
    if remaining == 0 or cal.always_open:
        return _from_us(t + remaining)

    ordinal = _day_of(cal, t)
    bounds = _day(cal, ordinal)
    for i in range(0, len(bounds), 2):
        begin, end = bounds[i], bounds[i + 1]
        if end <= t:
            continue
        begin = max(begin, t)
        if remaining <= end - begin:
            return _from_us(begin + remaining)
        remaining -= end - begin

    ordinal, remaining = _skip_weeks(cal, ordinal + 1, remaining)
    while True:
        bounds = _day(cal, ordinal)
        for i in range(0, len(bounds), 2):
            length = bounds[i + 1] - bounds[i]
            if remaining <= length:
                return _from_us(bounds[i] + remaining)
            remaining -= length
        ordinal += 1


def business_time_between(cal: Calendar, start: datetime, end: datetime) -> timedelta:
    """Business time in ``[start, end)``; zero when ``end <= start``."""
    s = _to_us(start, "start")
    e = _to_us(end, "end")
    if e <= s:
        return timedelta(0)
    if cal.always_open:
        return timedelta(microseconds=e - s)
    first, last = _day_of(cal, s), _day_of(cal, e)
    total = _overlap(_day(cal, first), s, e)
    if last != first:
        total += _full_days(cal, first + 1, last) + _overlap(_day(cal, last), s, e)
    return timedelta(microseconds=total)


def open_intervals(cal: Calendar, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The open stretches within ``[start, end)`` as UTC ``(from, to)`` pairs, in order.

    Stretches that touch (``22:00-24:00`` then ``00:00-06:00``) are merged into one.
    """
    s = _to_us(start, "start")
    e = _to_us(end, "end")
    return _open_intervals(cal, s, e)


# --- the machinery ---------------------------------------------------------------------------


def _open_intervals(cal: Calendar, s: int, e: int) -> Iterator[tuple[datetime, datetime]]:
    if e <= s:
        return
    if cal.always_open:
        yield _from_us(s), _from_us(e)
        return
    pending: tuple[int, int] | None = None
    for ordinal in range(_day_of(cal, s), _day_of(cal, e) + 1):
        bounds = _day(cal, ordinal)
        for i in range(0, len(bounds), 2):
            begin, finish = max(bounds[i], s), min(bounds[i + 1], e)
            if finish <= begin:
                continue
            if pending is not None and pending[1] == begin:
                pending = (pending[0], finish)
                continue
            if pending is not None:
                yield _from_us(pending[0]), _from_us(pending[1])
            pending = (begin, finish)
    if pending is not None:
        yield _from_us(pending[0]), _from_us(pending[1])


class _ZoneYear(NamedTuple):
    first_ordinal: int  # ordinal of January 1st
    midnights: tuple[int, ...]  # UTC microseconds of each local midnight, January 1st .. next January 1st
    irregular: tuple[int, ...]  # ordinals of the local days that do not last exactly 24 hours


@lru_cache(maxsize=512)  # a few KB each: 512 covers dozens of zones over a decade or two
def _zone_year(tz: ZoneInfo, year: int) -> _ZoneYear:
    first = date(year, 1, 1).toordinal()
    days = 366 if isleap(year) else 365
    # Fast path: local midnight minus its (fold=0) UTC offset. Near an offset change, and at both ends,
    # use the exact conversion, which also handles a midnight that the clock skips.
    offsets = [
        _timedelta_us(_utcoffset(datetime(day.year, day.month, day.day, tzinfo=tz)))
        for day in (date.fromordinal(first + i) for i in range(days + 1))
    ]
    midnights = tuple(
        _wall_to_us(tz, first + i, 0)
        if i in (0, days) or offsets[i - 1] != offsets[i] or offsets[i] != offsets[i + 1]
        else (first + i - _EPOCH_ORDINAL) * _US_PER_DAY - offsets[i]
        for i in range(days + 1)
    )
    irregular = tuple(first + i for i in range(days) if midnights[i + 1] - midnights[i] != _US_PER_DAY)
    return _ZoneYear(first, midnights, irregular)


def _midnight(tz: ZoneInfo, ordinal: int) -> int:
    zone_year = _zone_year(tz, date.fromordinal(ordinal).year)
    return zone_year.midnights[ordinal - zone_year.first_ordinal]


def _day_of(cal: Calendar, t: int) -> int:
    """The local day whose ``[midnight, next midnight)`` contains the instant ``t``."""
    ordinal = _EPOCH_ORDINAL + t // _US_PER_DAY  # the UTC date; the local one is at most a day away
    while t < _midnight(cal._tz, ordinal):
        ordinal -= 1
    while t >= _midnight(cal._tz, ordinal + 1):
        ordinal += 1
    return ordinal


def _day(cal: Calendar, ordinal: int) -> tuple[int, ...]:
    """Open intervals of one local day as flat UTC microsecond bounds ``(b0, e0, b1, e1, ...)``."""
    weekday = (ordinal + 6) % 7  # ordinal 1 (0001-01-01) was a Monday
    ranges = cal._week[weekday]
    if not ranges or ordinal in cal._holiday_ordinals:
        return ()
    day = date.fromordinal(ordinal)
    if cal._yearly_sorted and (day.month, day.day) in cal.yearly_holidays:
        return ()
    zone_year = _zone_year(cal._tz, day.year)
    index = ordinal - zone_year.first_ordinal
    midnight = zone_year.midnights[index]
    if zone_year.midnights[index + 1] - midnight == _US_PER_DAY:
        return tuple(midnight + offset for offset in cal._week_offsets[weekday])
    bounds: list[int] = []
    for start, end in ranges:
        begin, finish = _wall_to_us(cal._tz, ordinal, start), _wall_to_us(cal._tz, ordinal, end)
        if finish > begin:  # a range inside a skipped hour does not happen at all
            bounds += (begin, finish)
    return tuple(bounds)


def _day_total(cal: Calendar, ordinal: int) -> int:
    bounds = _day(cal, ordinal)
    return sum(bounds[i + 1] - bounds[i] for i in range(0, len(bounds), 2))


def _overlap(bounds: tuple[int, ...], s: int, e: int) -> int:
    total = 0
    for i in range(0, len(bounds), 2):
        begin, finish = max(bounds[i], s), min(bounds[i + 1], e)
        if finish > begin:
            total += finish - begin
    return total


def _full_days(cal: Calendar, first: int, stop: int) -> int:
    """Business time of the whole local days ``first .. stop - 1``."""
    weeks = max(0, stop - first) // 7
    total = 0
    if weeks:
        total = weeks * cal._week_total + _correction(cal, first, first + 7 * weeks)
    for ordinal in range(first + 7 * weeks, stop):
        total += _day_total(cal, ordinal)
    return total


def _skip_weeks(cal: Calendar, ordinal: int, remaining: int) -> tuple[int, int]:
    """Jump from the start of day ``ordinal`` over whole weeks that use up less than ``remaining``."""
    week = cal._week_total
    while remaining > week:
        weeks = (remaining - 1) // week
        worth = weeks * week + _correction(cal, ordinal, ordinal + 7 * weeks)
        while weeks and worth >= remaining:  # only DST days make weeks worth more than nominal
            weeks -= 1
            worth = weeks * week + _correction(cal, ordinal, ordinal + 7 * weeks)
        if not weeks:
            break
        # Holidays may have made the weeks worth much less than nominal: loop and jump again.
        ordinal += 7 * weeks
        remaining -= worth
    return ordinal, remaining


def _correction(cal: Calendar, first: int, stop: int) -> int:
    """Real minus nominal business time of the days ``first .. stop - 1`` (holidays, DST days)."""
    if stop <= first:
        return 0
    exceptions: set[int] = set()
    holidays = cal._holiday_sorted
    exceptions.update(holidays[bisect_left(holidays, first) : bisect_left(holidays, stop)])
    for year in range(date.fromordinal(first).year, date.fromordinal(stop - 1).year + 1):
        for month, day in cal._yearly_sorted:
            if month == 2 and day == 29 and not isleap(year):
                continue
            ordinal = date(year, month, day).toordinal()
            if first <= ordinal < stop:
                exceptions.add(ordinal)
        irregular = _zone_year(cal._tz, year).irregular
        exceptions.update(irregular[bisect_left(irregular, first) : bisect_left(irregular, stop)])
    nominal = cal._nominal
    return sum(_day_total(cal, ordinal) - nominal[(ordinal + 6) % 7] for ordinal in exceptions)


def _wall_to_us(tz: ZoneInfo, ordinal: int, minute: int) -> int:
    """First instant at which the local clock of ``tz`` shows ``minute`` of day ``ordinal`` or later."""
    day = date.fromordinal(ordinal + minute // MINUTES_PER_DAY)
    minute %= MINUTES_PER_DAY
    wall = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=tz)
    earlier = _to_us(wall, "wall time")  # fold=0: the first reading when the hour repeats
    if _from_us(earlier).astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return earlier
    # The wall time was skipped (spring forward): find the instant of the jump, to the second.
    other = _to_us(wall.replace(fold=1), "wall time")
    low, high = sorted((other // _US_PER_SECOND, earlier // _US_PER_SECOND))
    before = _offset_at(tz, low)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_at(tz, middle) == before:
            low = middle
        else:
            high = middle
    return high * _US_PER_SECOND


def _offset_at(tz: ZoneInfo, second: int) -> timedelta:
    return _utcoffset((_EPOCH + timedelta(seconds=second)).astimezone(tz))


def _utcoffset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    if offset is None:  # pragma: no cover - ZoneInfo always has an offset
        raise ValueError(f"{moment!r} has no UTC offset.")
    return offset


def _to_us(moment: datetime, name: str) -> int:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(moment).__name__}.")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got the naive datetime {moment.isoformat()}.")
    return _timedelta_us(moment - _EPOCH)


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _timedelta_us(delta: timedelta) -> int:
    if not isinstance(delta, timedelta):
        raise TypeError(f"duration must be a timedelta, not {type(delta).__name__}.")
    return (delta.days * 86_400 + delta.seconds) * _US_PER_SECOND + delta.microseconds


# --- validation ------------------------------------------------------------------------------


def _load_zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise CalendarError(f"time_zone must be an IANA zone name such as 'Europe/Berlin', not {name!r}.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(f"Unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin'.") from exc


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _normalise_week(weekly_hours: object) -> dict[int, Ranges]:
    if not isinstance(weekly_hours, Mapping):
        raise CalendarError("weekly_hours must map weekdays (0=Monday..6=Sunday) to minute ranges.")
    week: dict[int, Ranges] = {}
    for weekday, raw in weekly_hours.items():
        if not _is_int(weekday) or not 0 <= weekday <= 6:
            raise CalendarError(f"weekly_hours has the key {weekday!r}; weekdays are 0 (Monday) to 6 (Sunday).")
        ranges = _normalise_ranges(weekday, raw)
        if ranges:
            week[weekday] = ranges
    return dict(sorted(week.items()))


def _normalise_ranges(weekday: int, raw: object) -> Ranges:
    if not isinstance(raw, Iterable) or isinstance(raw, str | bytes):
        raise CalendarError(f"weekly_hours[{weekday}] must be a sequence of (start, end) minute pairs.")
    ranges: list[tuple[int, int]] = []
    for pair in raw:
        if not isinstance(pair, Iterable) or isinstance(pair, str | bytes):
            raise CalendarError(f"weekly_hours[{weekday}] has {pair!r}; expected a (start, end) pair of minutes.")
        values = tuple(pair)
        if len(values) != 2 or not all(_is_int(v) for v in values):
            raise CalendarError(f"weekly_hours[{weekday}] has {pair!r}; expected a (start, end) pair of minutes.")
        start, end = values
        if not 0 <= start < end <= MINUTES_PER_DAY:
            raise CalendarError(
                f"weekly_hours[{weekday}] has the range {start}-{end}; "
                f"ranges need 0 <= start < end <= {MINUTES_PER_DAY} (minutes from local midnight)."
            )
        if ranges and start < ranges[-1][1]:
            previous = ranges[-1]
            problem = "overlaps" if start >= previous[0] else "is not sorted after"
            raise CalendarError(
                f"weekly_hours[{weekday}]: the range {start}-{end} {problem} {previous[0]}-{previous[1]}; "
                "give sorted, non-overlapping ranges."
            )
        ranges.append((start, end))
    return tuple(ranges)


def _normalise_holidays(holidays: object) -> frozenset[date]:
    if not isinstance(holidays, Iterable) or isinstance(holidays, str | bytes):
        raise CalendarError("holidays must be a set of dates.")
    result = frozenset(holidays)
    for day in result:
        if not isinstance(day, date) or isinstance(day, datetime):
            raise CalendarError(f"holidays must contain dates (not datetimes or strings), got {day!r}.")
    return result


def _normalise_yearly(yearly: object) -> frozenset[tuple[int, int]]:
    if not isinstance(yearly, Iterable) or isinstance(yearly, str | bytes):
        raise CalendarError("yearly_holidays must be a set of (month, day) pairs.")
    result: set[tuple[int, int]] = set()
    for pair in yearly:
        values = tuple(pair) if isinstance(pair, Iterable) and not isinstance(pair, str | bytes) else ()
        if len(values) != 2 or not all(_is_int(v) for v in values):
            raise CalendarError(f"yearly_holidays has {pair!r}; expected a (month, day) pair such as (12, 25).")
        month, day = values
        try:
            date(2000, month, day)  # a leap year, so (2, 29) is allowed
        except ValueError as exc:
            raise CalendarError(f"yearly_holidays has {pair!r}, which is not a day of the year.") from exc
        result.add((month, day))
    return frozenset(result)


TWENTY_FOUR_SEVEN = Calendar(time_zone="UTC", weekly_hours={}, always_open=True)
