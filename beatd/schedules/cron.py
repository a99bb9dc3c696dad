"""Cron expressions evaluated in a wall clock, with Vixie cron's (or Celery's) day rule and cronie's DST rule.

Reading order: the field tables, the field parser, the day-of-month/day-of-week rule
(computed once per month and cached), the naive wall-clock walker, and finally
`CronSchedule.next_after`, which cuts real time into segments of constant UTC offset
(beatd.schedules.zones) and applies the DST rule at their edges.
"""

from __future__ import annotations

import bisect
import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

from beatd.schedules.zones import segment_at

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTH_NAMES = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
WEEKDAY_NAMES = {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One of the five positions: its name, its bounds and the names it accepts."""

    name: str
    low: int
    high: int
    names: dict[str, int] = field(default_factory=dict)


MINUTE = FieldSpec("minute", 0, 59)
HOUR = FieldSpec("hour", 0, 23)
DAY_OF_MONTH = FieldSpec("day-of-month", 1, 31)
MONTH = FieldSpec("month", 1, 12, MONTH_NAMES)
# 7 is accepted as a second Sunday and folded onto 0 after parsing.
DAY_OF_WEEK = FieldSpec("day-of-week", 0, 7, WEEKDAY_NAMES)

_RANGE = re.compile(r"^(?P<first>[^-/]+)(?:-(?P<last>[^-/]+))?(?:/(?P<step>[^/]*))?$")
_NEAREST_WEEKDAY = re.compile(r"^(?:(?P<before>\d+)W|W(?P<after>\d+))$", re.IGNORECASE)
_NTH_WEEKDAY = re.compile(r"^(?P<weekday>\w+)#(?P<nth>\d+)$")
_LAST_WEEKDAY = re.compile(r"^(?:L(?P<after>\w+)|(?P<before>\w+)L)$", re.IGNORECASE)

_ONE_MINUTE = timedelta(minutes=1)
_ONE_MICROSECOND = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)
# How day-of-month and day-of-week combine when both are restricted: "either" is Vixie
# cron's OR, "both" is Celery's crontab, which ANDs them (`crontab(day_of_month=13,
# day_of_week=5)` is Friday the 13th only, where cron's `0 0 13 * 5` is every Friday and
# every 13th).
DAY_MATCHES = ("either", "both")
# Day-of-week and leap-year patterns repeat every 28 years between 1901 and 2099; an
# expression that matches no date in 28 consecutive years never matches.
_CYCLE_YEARS = 28


class CronSyntaxError(ValueError):
    """A cron expression that cannot be parsed; the message names the field and the token."""


def _number(token: str, spec: FieldSpec, item: str) -> int:
    """One value of a field, as a number or a name, checked against the field's bounds."""
    lowered = token.lower()
    if lowered in spec.names:
        return spec.names[lowered]
    if not token.isdigit():
        expected = "a number or a name" if spec.names else "a number"
        raise CronSyntaxError(f"cron {spec.name} field {item!r}: {token!r} is not {expected}")
    value = int(token)
    if not spec.low <= value <= spec.high:
        raise CronSyntaxError(f"cron {spec.name} field {item!r} is out of range {spec.low}-{spec.high}")
    return value


def _expand_item(item: str, spec: FieldSpec) -> set[int]:
    """Values of one comma-separated item: `*`, `n`, `a-b`, with an optional `/step`."""
    match = _RANGE.match(item)
    if not item or match is None:
        raise CronSyntaxError(f"cron {spec.name} field {item!r} is not a value, range or step")
    first, last, step_text = match.group("first"), match.group("last"), match.group("step")
    if first == "*":
        if last is not None:
            raise CronSyntaxError(f"cron {spec.name} field {item!r}: '*' cannot start a range")
        low, high = spec.low, spec.high
    else:
        low = _number(first, spec, item)
        # `a/n` means from a to the end of the field, as in Vixie cron.
        high = _number(last, spec, item) if last is not None else (spec.high if step_text is not None else low)
    if low > high:
        raise CronSyntaxError(f"cron {spec.name} field {item!r} is a reversed range; write it low to high")
    step = 1
    if step_text is not None:
        if not step_text.isdigit() or int(step_text) == 0:
            raise CronSyntaxError(f"cron {spec.name} field {item!r}: the step must be a whole number of at least 1")
        step = int(step_text)
    return set(range(low, high + 1, step))


def _parse_plain_field(text: str, spec: FieldSpec) -> frozenset[int]:
    """A field without extensions: the union of its comma-separated items."""
    values: set[int] = set()
    for item in text.split(","):
        values |= _expand_item(item, spec)
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class DayRule:
    """Which days of a month match: day-of-month and day-of-week with their extensions.

    Hashable on purpose: the days of a (rule, year, month) are computed once and cached,
    and many entries share one rule.
    """

    month_days: frozenset[int]
    last_day_of_month: bool
    nearest_weekdays: frozenset[int]
    weekdays: frozenset[int]
    nth_weekdays: frozenset[tuple[int, int]]
    last_weekdays: frozenset[int]
    # Vixie cron ORs the two fields when neither starts with '*', and ANDs them otherwise
    # (a bare '*' matches every day, so ANDing with it leaves the other field alone);
    # with day_match "both" (Celery's rule) they are always ANDed.
    either_matches: bool


def _parse_day_of_month(text: str) -> tuple[frozenset[int], bool, frozenset[int]]:
    """Plain days, whether `L` (last day) appears, and the `nW` nearest-weekday days."""
    days: set[int] = set()
    last_day = False
    nearest: set[int] = set()
    for item in text.split(","):
        nearest_match = _NEAREST_WEEKDAY.match(item)
        if item.upper() == "L":
            last_day = True
        elif nearest_match:
            nearest.add(_number(nearest_match.group("before") or nearest_match.group("after"), DAY_OF_MONTH, item))
        else:
            days |= _expand_item(item, DAY_OF_MONTH)
    return frozenset(days), last_day, frozenset(nearest)


def _weekday(token: str, item: str) -> int:
    """A weekday number 0-6 (Sunday is 0 and 7)."""
    return _number(token, DAY_OF_WEEK, item) % 7


def _parse_day_of_week(text: str) -> tuple[frozenset[int], frozenset[tuple[int, int]], frozenset[int]]:
    """Plain weekdays, `n#k` (k-th weekday n) pairs, and `Ln`/`nL` (last weekday n)."""
    weekdays: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last: set[int] = set()
    for item in text.split(","):
        nth_match = _NTH_WEEKDAY.match(item)
        last_match = _LAST_WEEKDAY.match(item) if item.upper() != "L" else None
        if nth_match:
            occurrence = int(nth_match.group("nth"))
            if not 1 <= occurrence <= 5:
                raise CronSyntaxError(f"cron day-of-week field {item!r}: the occurrence after '#' must be 1-5")
            nth.add((_weekday(nth_match.group("weekday"), item), occurrence))
        elif last_match:
            last.add(_weekday(last_match.group("after") or last_match.group("before"), item))
        else:
            weekdays |= {value % 7 for value in _expand_item(item, DAY_OF_WEEK)}
    return frozenset(weekdays), frozenset(nth), frozenset(last)


def _nearest_weekday(day: int, last_day: int, weekday_of_first: int) -> int:
    """The Monday-to-Friday day nearest to `day`, never leaving the month (Quartz's W rule)."""
    weekday = (weekday_of_first + day - 1) % 7
    if weekday == 6:  # Saturday: Friday before, or Monday after when the 1st is a Saturday
        return day - 1 if day > 1 else day + 2
    if weekday == 0:  # Sunday: Monday after, or Friday before when it is the month's last day
        return day + 1 if day < last_day else day - 2
    return day


@lru_cache(maxsize=16384)
def days_matching(rule: DayRule, year: int, month: int) -> tuple[int, ...]:
    """The sorted days of one month that the rule accepts."""
    weekday_of_first, last_day = calendar.monthrange(year, month)
    weekday_of_first = (weekday_of_first + 1) % 7  # calendar counts Monday as 0, cron Sunday
    by_month_day = {day for day in rule.month_days if day <= last_day}
    if rule.last_day_of_month:
        by_month_day.add(last_day)
    by_month_day |= {_nearest_weekday(day, last_day, weekday_of_first)
                     for day in rule.nearest_weekdays if day <= last_day}
    by_weekday = set()
    for day in range(1, last_day + 1):
        weekday = (weekday_of_first + day - 1) % 7
        if (weekday in rule.weekdays
                or (weekday, (day - 1) // 7 + 1) in rule.nth_weekdays
                or (weekday in rule.last_weekdays and day + 7 > last_day)):
            by_weekday.add(day)
    chosen = by_month_day | by_weekday if rule.either_matches else by_month_day & by_weekday
    return tuple(sorted(chosen))


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed 5-field cron expression bound to the zone whose wall clock it reads."""

    expression: str
    zone: tzinfo
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    day_rule: DayRule
    # cronie's DST rule depends on this: see next_after.
    fixed_time: bool
    # "either" (Vixie cron) or "both" (Celery's crontab): see DAY_MATCHES.
    day_match: str = "either"

    @property
    def kind(self) -> str:
        return "cron"

    @classmethod
    def parse(cls, expression: str, zone: tzinfo = UTC, *, day_match: str = "either") -> CronSchedule:
        """Parse an expression or alias.

        Args:
            day_match: "either" ORs restricted day-of-month and day-of-week fields, as
                Vixie cron does; "both" ANDs them, as Celery's crontab does.

        Raises:
            CronSyntaxError: the message names the field and shows the offending token,
                or the day_match value that is not one of DAY_MATCHES.
        """
        if day_match not in DAY_MATCHES:
            raise CronSyntaxError(f"day_match {day_match!r} is not one of {', '.join(DAY_MATCHES)}")
        text = " ".join(expression.split())
        if not text:
            raise CronSyntaxError("cron expression is empty")
        if text.startswith("@"):
            if text.lower() not in ALIASES:
                raise CronSyntaxError(f"cron alias {text!r} is not one of {', '.join(ALIASES)}")
            text = ALIASES[text.lower()]
        fields = text.split(" ")
        if len(fields) != 5:
            raise CronSyntaxError(
                f"cron expression {expression!r} has {len(fields)} fields; expected 5 "
                "(minute hour day-of-month month day-of-week) or an alias such as @daily")
        minute_text, hour_text, month_day_text, month_text, weekday_text = fields
        month_days, last_day, nearest = _parse_day_of_month(month_day_text)
        weekdays, nth, last_weekdays = _parse_day_of_week(weekday_text)
        rule = DayRule(
            month_days=month_days, last_day_of_month=last_day, nearest_weekdays=nearest,
            weekdays=weekdays, nth_weekdays=nth, last_weekdays=last_weekdays,
            either_matches=(day_match == "either" and not month_day_text.startswith("*")
                            and not weekday_text.startswith("*")),
        )
        schedule = cls(
            expression=expression.strip(),
            zone=zone,
            minutes=tuple(sorted(_parse_plain_field(minute_text, MINUTE))),
            hours=tuple(sorted(_parse_plain_field(hour_text, HOUR))),
            months=tuple(sorted(_parse_plain_field(month_text, MONTH))),
            day_rule=rule,
            fixed_time=not minute_text.startswith("*") and not hour_text.startswith("*"),
            day_match=day_match,
        )
        schedule._require_some_date()
        return schedule

    def _require_some_date(self) -> None:
        """Reject expressions such as `0 0 31 2 *` that name no real date."""
        for year in range(2000, 2000 + _CYCLE_YEARS):
            if any(days_matching(self.day_rule, year, month) for month in self.months):
                return
        rule = " with day_match both" if self.day_match == "both" else ""
        raise CronSyntaxError(f"cron expression {self.expression!r}{rule} never matches a date")

    def describe(self) -> str:
        return f"cron {self.expression}" + (" (both day fields must match)" if self.day_match == "both" else "")

    def next_after(self, t: datetime) -> datetime | None:
        """First fire strictly after t, in the schedule's zone; None only past year 9000.

        Real time is cut into segments of constant UTC offset. Inside a segment wall time
        and real time move together, so a plain walk over wall time finds the next match.
        At the segment edges cronie's DST rule applies (DESIGN.md, Time rules):
        - spring forward leaves a gap of wall times that never happen: a fixed-time
          entry (neither minute nor hour starts with '*') whose time falls in it fires
          once, at the first instant after the gap; a wildcard entry skips it;
        - fall back repeats wall times: a wildcard entry fires in both passes, a
          fixed-time entry only in the first, so the second pass skips them.
        """
        cursor = t.astimezone(UTC)
        strictly_after = True
        while cursor.year < 9000:
            segment = segment_at(self.zone, cursor)
            wall_from = (cursor + segment.offset).replace(tzinfo=None)
            if not strictly_after:
                wall_from -= _ONE_MICROSECOND
            if self.fixed_time and segment.previous_offset > segment.offset:
                repeated_until = (segment.start + segment.previous_offset).replace(tzinfo=None)
                wall_from = max(wall_from, repeated_until - _ONE_MICROSECOND)
            wall_end = (segment.end + segment.offset).replace(tzinfo=None)
            match = self._next_wall_match(wall_from, wall_end)
            if match is not None:
                return (match - segment.offset).replace(tzinfo=UTC).astimezone(self.zone)
            if self.fixed_time and segment.next_offset > segment.offset:
                gap_end = (segment.end + segment.next_offset).replace(tzinfo=None)
                if self._next_wall_match(wall_end - _ONE_MICROSECOND, gap_end) is not None:
                    return segment.end.astimezone(self.zone)
            cursor, strictly_after = segment.end, False
        return None

    def _next_wall_match(self, after: datetime, before: datetime) -> datetime | None:
        """First matching naive wall minute strictly after `after` and before `before`."""
        candidate = after.replace(second=0, microsecond=0) + _ONE_MINUTE
        while candidate < before:
            if candidate.month not in self.months:
                candidate = self._first_of_next_month(candidate)
                continue
            days = days_matching(self.day_rule, candidate.year, candidate.month)
            day_index = bisect.bisect_left(days, candidate.day)
            if day_index == len(days):
                candidate = self._first_of_next_month(candidate)
                continue
            if days[day_index] != candidate.day:
                candidate = candidate.replace(day=days[day_index], hour=0, minute=0)
            hour_index = bisect.bisect_left(self.hours, candidate.hour)
            if hour_index == len(self.hours):
                candidate = candidate.replace(hour=0, minute=0) + _ONE_DAY
                continue
            if self.hours[hour_index] != candidate.hour:
                candidate = candidate.replace(hour=self.hours[hour_index], minute=0)
            minute_index = bisect.bisect_left(self.minutes, candidate.minute)
            if minute_index == len(self.minutes):
                candidate = candidate.replace(minute=0) + timedelta(hours=1)
                continue
            candidate = candidate.replace(minute=self.minutes[minute_index])
            return candidate if candidate < before else None
        return None

    def _first_of_next_month(self, moment: datetime) -> datetime:
        """Midnight on the 1st of the next month the expression allows."""
        month_index = bisect.bisect_right(self.months, moment.month)
        if month_index < len(self.months):
            return datetime(moment.year, self.months[month_index], 1)
        return datetime(moment.year + 1, self.months[0], 1)
