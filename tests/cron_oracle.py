"""A brute-force cron oracle for the tests: plain sets of values and a walk, nothing clever.

It shares no code with beatd and does not use croniter, so a bug in either cannot hide in
both. It is slow on purpose: wildcard expressions are checked against every real UTC minute
of the window, fixed-time expressions against every matching wall time of every local date.

The rules it encodes (DESIGN.md, "Time rules — contract"):

- Vixie's day rule: day-of-month and day-of-week are ORed when neither field starts with
  `*`, ANDed otherwise (a bare `*` matches every day). 0 and 7 are Sunday.
- Celery's day rule (`day_match="both"`): the two are always ANDed.
- Fixed-time expressions (neither minute nor hour starts with `*`) follow cronie: a wall
  time inside a spring-forward gap fires once, at the transition instant (several such
  wall times in one gap give that one fire); a wall time that occurs twice fires at its
  first occurrence only.
- Wildcard expressions fire at every real instant whose wall time matches: nothing inside a
  gap, both passes of a repeated hour.
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

ONE_MINUTE = timedelta(minutes=1)

MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1
    )
}
WEEKDAY_NAMES = {name: number for number, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}

# (name, smallest, largest, names allowed in the field)
FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, MONTH_NAMES),
    ("day-of-week", 0, 7, WEEKDAY_NAMES),
)

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class OracleCron:
    """One parsed expression: the allowed values of each field, plus the day extensions."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday (7 already folded into 0)
    last_day: bool  # day-of-month `L`
    nearest_weekday_days: frozenset[int]  # day-of-month `nW`
    nth_weekdays: frozenset[tuple[int, int]]  # day-of-week `n#k` as (weekday, k)
    last_weekdays: frozenset[int]  # day-of-week `Ln` / `nL`
    day_of_month_star: bool
    day_of_week_star: bool
    fixed_time: bool
    both_days_must_match: bool = False  # day_match "both": Celery's crontab ANDs the day fields


    def day_matches(self, day: date) -> bool:
        """Whether the date passes the month field and Vixie's day rule."""
        if day.month not in self.months:
            return False
        days_in_month = calendar.monthrange(day.year, day.month)[1]
        by_day_of_month = (
            day.day in self.days
            or (self.last_day and day.day == days_in_month)
            or any(nearest_weekday(day.year, day.month, n) == day.day for n in self.nearest_weekday_days)
        )
        weekday = (day.weekday() + 1) % 7  # Python: Monday = 0; cron: Sunday = 0
        by_day_of_week = (
            weekday in self.weekdays
            or (weekday, (day.day - 1) // 7 + 1) in self.nth_weekdays
            or (weekday in self.last_weekdays and day.day + 7 > days_in_month)
        )
        if self.both_days_must_match or self.day_of_month_star or self.day_of_week_star:
            return by_day_of_month and by_day_of_week
        return by_day_of_month or by_day_of_week

    def wall_matches(self, wall: datetime) -> bool:
        """Whether a wall-clock time matches every field."""
        return wall.minute in self.minutes and wall.hour in self.hours and self.day_matches(wall.date())


def nearest_weekday(year: int, month: int, n: int) -> int | None:
    """The Monday-Friday day nearest to day n, staying inside the month; None if n is past its end."""
    days_in_month = calendar.monthrange(year, month)[1]
    if n > days_in_month:
        return None
    weekday = date(year, month, n).weekday()
    if weekday == 5:  # Saturday: the Friday before, unless that is last month
        return n - 1 if n > 1 else n + 2
    if weekday == 6:  # Sunday: the Monday after, unless that is next month
        return n + 1 if n < days_in_month else n - 2
    return n


def _number(text: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(text.lower())
    if value is None:
        if not text.isdigit():
            raise ValueError(f"{name}: bad value {text!r}")
        value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{name}: {text!r} outside {low}-{high}")
    return value


def _parse_field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> tuple[set[int], list[str]]:
    """The plain values of a field and the extension items (L, nW, n#k, Ln, nL) left over."""
    values: set[int] = set()
    extensions: list[str] = []
    for item in text.split(","):
        upper = item.upper()
        if name == "day-of-month" and (upper == "L" or upper.endswith("W")):
            extensions.append(upper)
            continue
        if name == "day-of-week" and ("#" in item or upper.startswith("L") or upper.endswith("L")):
            extensions.append(upper)
            continue
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"{name}: bad step in {item!r}")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, _, last_text = base.partition("-")
            first = _number(first_text, name, low, high, names)
            last = _number(last_text, name, low, high, names)
            if first > last:
                raise ValueError(f"{name}: reversed range {item!r}")
        else:
            first = _number(base, name, low, high, names)
            last = high if step_text else first  # `a/n` runs from a to the field's maximum
        values.update(range(first, last + 1, step))
    return values, extensions


def parse(expression: str, day_match: str = "either") -> OracleCron:
    """Parse a 5-field expression or an alias; ValueError for anything else."""
    expression = ALIASES.get(expression.strip().lower(), expression)
    texts = expression.split()
    if len(texts) != 5:
        raise ValueError(f"expected 5 fields, got {len(texts)} in {expression!r}")
    parsed = [
        _parse_field(text, name, low, high, names)
        for text, (name, low, high, names) in zip(texts, FIELDS, strict=False)
    ]
    day_extensions, weekday_extensions = parsed[2][1], parsed[4][1]
    if parsed[0][1] or parsed[1][1] or parsed[3][1]:
        raise ValueError("extensions only belong in the day fields")
    nearest: set[int] = set()
    last_day = False
    for item in day_extensions:
        if item == "L":
            last_day = True
        else:
            nearest.add(_number(item[:-1], "day-of-month", 1, 31, {}))
    nth: set[tuple[int, int]] = set()
    last_weekdays: set[int] = set()
    for item in weekday_extensions:
        if "#" in item:
            weekday_text, _, k_text = item.partition("#")
            nth.add(
                (
                    _number(weekday_text, "day-of-week", 0, 7, WEEKDAY_NAMES) % 7,
                    _number(k_text, "day-of-week", 1, 5, {}),
                )
            )
        else:
            weekday_text = item[1:] if item.startswith("L") else item[:-1]
            last_weekdays.add(_number(weekday_text, "day-of-week", 0, 7, WEEKDAY_NAMES) % 7)
    return OracleCron(
        minutes=frozenset(parsed[0][0]),
        hours=frozenset(parsed[1][0]),
        days=frozenset(parsed[2][0]),
        months=frozenset(parsed[3][0]),
        weekdays=frozenset(value % 7 for value in parsed[4][0]),
        last_day=last_day,
        nearest_weekday_days=frozenset(nearest),
        nth_weekdays=frozenset(nth),
        last_weekdays=frozenset(last_weekdays),
        day_of_month_star=texts[2].startswith("*"),
        day_of_week_star=texts[4].startswith("*"),
        fixed_time=not texts[0].startswith("*") and not texts[1].startswith("*"),
        both_days_must_match={"either": False, "both": True}[day_match],
    )


def fires(expression: str, zone: ZoneInfo, start: datetime, end: datetime, day_match: str = "either") -> list[datetime]:
    """Every fire in [start, end] (both inclusive), sorted, as aware datetimes in zone.

    Results carry the right fold, so their isoformat() shows the offset actually in force.
    """
    cron = parse(expression, day_match)
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    if cron.fixed_time:
        instants = _fixed_time_instants(cron, zone, start_utc, end_utc)
    elif end_utc - start_utc <= MINUTE_WALK_CACHE_LIMIT:
        instants = [
            instant for instant, wall in _walls(zone.key, _ceil_minute(start_utc), end_utc) if cron.wall_matches(wall)
        ]
    else:
        instants = _wildcard_instants_skipping_idle_hours(cron, zone, start_utc, end_utc)
    return [instant.astimezone(zone) for instant in instants]


# Windows up to this long share a cached minute walk (the DST table asks many expressions
# about the same window); longer ones walk afresh and skip idle hours.
MINUTE_WALK_CACHE_LIMIT = timedelta(days=3)


def _wildcard_instants_skipping_idle_hours(
    cron: OracleCron, zone: ZoneInfo, start_utc: datetime, end_utc: datetime
) -> list[datetime]:
    """The minute walk, skipping real hours in which no wall date can match.

    Within one real hour the wall clock stays within a few hours of where it started (no
    zone jumps by more than 3 hours), so its dates lie within a day of the first one: if
    none of those three dates matches the day rule, no minute of that hour can.
    """
    found = []
    instant = _ceil_minute(start_utc)
    while instant <= end_utc:
        first_date = instant.astimezone(zone).date()
        if not any(cron.day_matches(first_date + timedelta(days=shift)) for shift in (-1, 0, 1)):
            instant += timedelta(hours=1)
            continue
        hour_end = instant + timedelta(hours=1)
        while instant < hour_end and instant <= end_utc:
            if cron.wall_matches(instant.astimezone(zone)):
                found.append(instant)
            instant += ONE_MINUTE
    return found


def _ceil_minute(instant: datetime) -> datetime:
    floor = instant.replace(second=0, microsecond=0)
    return floor if floor == instant else floor + ONE_MINUTE


@functools.lru_cache(maxsize=4)
def _walls(zone_key: str, first_utc: datetime, end_utc: datetime) -> tuple[tuple[datetime, datetime], ...]:
    """Every real UTC minute from first_utc to end_utc, with its wall clock (cached: the slow part)."""
    zone = ZoneInfo(zone_key)
    out = []
    instant = first_utc
    while instant <= end_utc:
        out.append((instant, instant.astimezone(zone)))
        instant += ONE_MINUTE
    return tuple(out)


def resolve_wall_time(naive: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants showing this wall time: one, two (a repeated hour) or none (a gap)."""
    instants = set()
    for fold in (0, 1):
        instant = naive.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == naive:
            instants.add(instant)
    return sorted(instants)


def gap_end(naive: datetime, zone: ZoneInfo) -> datetime:
    """For a wall time inside a gap: the first real instant after the gap (the transition), in UTC."""
    low, high = sorted(naive.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    offset_before = low.astimezone(zone).utcoffset()
    instant = low
    while instant <= high:
        if instant.astimezone(zone).utcoffset() != offset_before:
            return instant
        instant += ONE_MINUTE
    raise AssertionError(f"{naive} in {zone.key}: no transition found between {low} and {high}")


def _fixed_time_instants(cron: OracleCron, zone: ZoneInfo, start_utc: datetime, end_utc: datetime) -> list[datetime]:
    instants: set[datetime] = set()  # UTC, so two passes of one wall time stay distinct
    day = start_utc.astimezone(zone).date() - timedelta(days=1)
    last_day = end_utc.astimezone(zone).date() + timedelta(days=1)
    while day <= last_day:
        if cron.day_matches(day):
            for hour in cron.hours:
                for minute in cron.minutes:
                    naive = datetime(day.year, day.month, day.day, hour, minute)
                    real = resolve_wall_time(naive, zone)
                    instant = real[0] if real else gap_end(naive, zone)
                    if start_utc <= instant <= end_utc:
                        instants.add(instant)
        day += timedelta(days=1)
    return sorted(instants)


@functools.lru_cache(maxsize=64)
def transitions(zone_key: str, first_year: int = 2024, last_year: int = 2027) -> tuple[datetime, ...]:
    """The UTC instants (to the minute) where the zone's UTC offset changes in those years."""
    zone = ZoneInfo(zone_key)
    instant = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    offset = instant.astimezone(zone).utcoffset()
    found = []
    while instant < end:
        later = instant + timedelta(hours=1)
        later_offset = later.astimezone(zone).utcoffset()
        if later_offset != offset:
            minute = instant + ONE_MINUTE
            while minute.astimezone(zone).utcoffset() == offset:
                minute += ONE_MINUTE
            found.append(minute)
            offset = later_offset
        instant = later
    return tuple(found)
