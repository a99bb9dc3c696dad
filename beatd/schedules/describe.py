"""Any schedule in plain English, for listings: "At 07:30, Monday through Friday (Europe/Berlin)".

Wording follows cron-descriptor and crontab.guru, with 24-hour times. Zones: a trailing
" (Zone/Name)" names the zone of every time of day and instant written before it. Cron
times are wall-clock times in the schedule's own zone, which is named even when it differs
from the `zone` argument, since converting them would be wrong on every DST change. One-off
instants and window bounds are shown in `zone`. Intervals count real elapsed time and solar
events belong to a place, so neither names a zone on its own; interval slots are aligned to
the interval's anchor (the Unix epoch unless the entry has a start), which is not shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from beatd.schedules import Schedule
from beatd.schedules.cron import CronSchedule, DayRule
from beatd.schedules.interval import IntervalSchedule
from beatd.schedules.once import OnceSchedule
from beatd.schedules.solar import SolarSchedule, format_degrees
from beatd.schedules.window import WindowedSchedule

WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTHS = ("", "January", "February", "March", "April", "May", "June",
          "July", "August", "September", "October", "November", "December")
OCCURRENCES = ("", "first", "second", "third", "fourth", "fifth")
SOLAR_EVENTS = {
    "dawn_astronomical": "astronomical dawn",
    "dawn_nautical": "nautical dawn",
    "dawn_civil": "civil dawn",
    "sunrise": "sunrise",
    "solar_noon": "solar noon",
    "sunset": "sunset",
    "dusk_civil": "civil dusk",
    "dusk_nautical": "nautical dusk",
    "dusk_astronomical": "astronomical dusk",
}
# Largest unit first, as durations are written in config files (1h30m).
DURATION_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
# Up to this many times of day read better as a list than as a pattern ("At 09:00 and 17:30").
MAX_LISTED_TIMES = 6
# Three values read better as a list ("days 1, 15 and 29") than as a step ("every 14th day").
MIN_STEPPED_VALUES = 4
ALL_MONTHS = tuple(range(1, 13))
ALL_MONTH_DAYS = frozenset(range(1, 32))
ALL_WEEKDAYS = frozenset(range(7))


@dataclass(frozen=True, slots=True)
class Span:
    """Values first, first + step, ..., last of one cron field; a single value has first == last."""

    first: int
    last: int
    step: int


def describe(schedule: Schedule, zone: tzinfo) -> str:
    """The schedule in words, for the admin's list column and CLI listings.

    Args:
        schedule: Any beatd schedule; an unknown kind falls back to its own describe().
        zone: The zone one-off instants and window bounds are shown in (the entry's zone).
    """
    text, text_zone = _describe(schedule, zone)
    return f"{text} ({text_zone})" if text_zone else text


def _describe(schedule: Schedule, zone: tzinfo) -> tuple[str, str | None]:
    """The words and the name of the zone their times are in (None if they contain none)."""
    for kind, describe_kind in _DESCRIBERS:
        if isinstance(schedule, kind):
            return describe_kind(schedule, zone)
    text = schedule.describe()
    return text[:1].upper() + text[1:], None


# --- lists and numbers ---------------------------------------------------------------------------

def _join(items: Sequence[str], word: str = "and") -> str:
    """"a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def _ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _plural(count: int | str, unit: str) -> str:
    return f"{count} {unit}" if str(count) == "1" else f"{count} {unit}s"


def spans(values: Sequence[int], steps: bool = True) -> list[Span]:
    """Values as one stepped span if they form a long enough one (with steps), else runs of 3+ and singles."""
    gaps = {b - a for a, b in zip(values, values[1:], strict=False)}
    if steps and len(values) >= MIN_STEPPED_VALUES and len(gaps) == 1 and gaps != {1}:
        return [Span(values[0], values[-1], gaps.pop())]
    runs: list[list[int]] = []
    for value in values:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    found = []
    for run in runs:
        # A run of two reads better as a pair: "Monday and Tuesday", not "Monday through Tuesday".
        if len(run) >= 3:
            found.append(Span(run[0], run[-1], 1))
        else:
            found.extend(Span(value, value, 1) for value in run)
    return found


def _even_step(values: tuple[int, ...], size: int) -> int | None:
    """The step of values spaced evenly around a field of size values from 0, wrap included.

    Every value of the field gives 1; */15 on minutes gives 15 (and so does 0,30 give 30);
    */7 gives None, since 56 to 0 is 4 minutes, and "every 7 minutes" would hide that.
    """
    step = values[1] - values[0] if len(values) >= 2 else 0
    return step if step > 0 and size % step == 0 and values == tuple(range(0, size, step)) else None


def _every(step: int, unit: str) -> str:
    """"Every minute", "Every 15 minutes"."""
    return f"Every {unit}" if step == 1 else f"Every {step} {unit}s"


# --- cron -----------------------------------------------------------------------------------------

def _clock(hour: int, minute: int) -> str:
    return f"{hour:02}:{minute:02}"


def _cron(schedule: CronSchedule, zone: tzinfo) -> tuple[str, str | None]:
    parts = [_cron_time(schedule.minutes, schedule.hours), _cron_days(schedule.day_rule), _cron_months(schedule.months)]
    return ", ".join(part for part in parts if part), str(schedule.zone)


def _cron_time(minutes: tuple[int, ...], hours: tuple[int, ...]) -> str:
    """When in the day: "At 07:30", "Every 15 minutes, from 09:00 through 17:59"."""
    minute_spans, hour_spans = spans(minutes), spans(hours)
    singles = all(span.first == span.last for span in minute_spans + hour_spans)
    if singles and len(minutes) * len(hours) <= MAX_LISTED_TIMES:
        return "At " + _join([_clock(hour, minute) for hour in hours for minute in minutes])
    if len(minutes) == 1:
        return _hourly_at(minutes[0], hours, hour_spans)
    return _minutes_phrase(minutes, minute_spans) + _hours_qualifier(hours, hour_spans)


def _hourly_at(minute: int, hours: tuple[int, ...], hour_spans: list[Span]) -> str:
    """One minute in several hours: "Every hour, at minute 0", "Every hour from 09:30 through 17:30"."""
    step = _even_step(hours, 24)
    if step:
        return f"{_every(step, 'hour')}, at minute {minute}"
    items = []
    for index, span in enumerate(hour_spans):
        if span.first == span.last:
            # "at" once per list of times: "At 01:00, 03:00 and every hour from 09:00 through 17:00".
            after_time = index > 0 and hour_spans[index - 1].first == hour_spans[index - 1].last
            items.append(_clock(span.first, minute) if after_time else f"at {_clock(span.first, minute)}")
        else:
            every = "every hour" if span.step == 1 else f"every {span.step} hours"
            items.append(f"{every} from {_clock(span.first, minute)} through {_clock(span.last, minute)}")
    text = _join(items)
    return text[:1].upper() + text[1:]


def _minutes_phrase(minutes: tuple[int, ...], spans: list[Span]) -> str:
    """Several minutes of each hour: "Every minute", "Every 15 minutes", "At minutes 0 and 30 past the hour"."""
    step = _even_step(minutes, 60)
    if step:
        return _every(step, "minute")
    if len(spans) == 1 and spans[0].step > 1:
        span = spans[0]
        return f"Every {span.step} minutes from minute {span.first} through {span.last}"
    return f"At minutes {_join([_range_text(span) for span in spans])} past the hour"


def _range_text(span: Span) -> str:
    return str(span.first) if span.first == span.last else f"{span.first} through {span.last}"


def _hours_qualifier(hours: tuple[int, ...], spans: list[Span]) -> str:
    """Which hours a within-the-hour pattern runs in: "", ", in every 2nd hour", ", from 09:00 through 17:59"."""
    step = _even_step(hours, 24)
    if step == 1:
        return ""
    # "in every 2nd hour", not "every 2 hours": the minutes repeat within each such hour.
    if step:
        return f", in every {_ordinal(step)} hour"
    items = []
    for span in spans:
        window = f"from {_clock(span.first, 0)} through {_clock(span.last, 59)}"
        items.append(window if span.step == 1 else f"in every {_ordinal(span.step)} hour {window}")
    return ", " + _join(items)


def _cron_months(months: tuple[int, ...]) -> str:
    if months == ALL_MONTHS:
        return ""
    month_spans = spans(months, steps=False)
    return "only in " + _join([_named_range(span, MONTHS) for span in month_spans])


def _named_range(span: Span, names: Sequence[str]) -> str:
    first, last = names[span.first], names[span.last]
    return first if span.first == span.last else f"{first} through {last}"


def _cron_days(rule: DayRule) -> str:
    """Which days: day-of-month OR day-of-week (Vixie cron, both restricted), else AND (also Celery's day_match both)."""
    month_days = _month_days_phrase(rule)
    weekdays, one_range = _weekday_items(rule)
    if rule.either_matches:
        # Either field matching every day makes every day match.
        if not month_days or not weekdays:
            return ""
        return f"on {month_days} or on {_join(weekdays)}"
    if month_days and weekdays:
        return f"on {month_days}, if it falls on {_join(weekdays, 'or')}"
    if month_days:
        return f"on {month_days}"
    if weekdays:
        # cron-descriptor writes a lone range without "on": "Monday through Friday".
        return _join(weekdays) if one_range else f"on {_join(weekdays)}"
    return ""


def _month_days_phrase(rule: DayRule) -> str:
    """"day 1 of the month", "days 1, 15 and the last day of the month"; "" for every day."""
    if rule.month_days == ALL_MONTH_DAYS and not rule.last_day_of_month and not rule.nearest_weekdays:
        return ""
    items, bounds = [], ""
    day_spans = spans(sorted(rule.month_days))
    if len(day_spans) == 1 and day_spans[0].step > 1:
        span = day_spans[0]
        items.append(f"every {_ordinal(span.step)} day")
        if span.first != 1 or span.last + span.step <= 31:
            bounds = f", from day {span.first} through {span.last}"
    elif day_spans:
        # One flat list, so extras join it without a second "and": "days 1, 15 and the last day".
        single = len(day_spans) == 1 and day_spans[0].first == day_spans[0].last
        items += [_range_text(span) for span in day_spans]
        items[0] = ("day " if single else "days ") + items[0]
    items += [f"the weekday nearest day {day}" for day in sorted(rule.nearest_weekdays)]
    if rule.last_day_of_month:
        items.append("the last day")
    return f"{_join(items)} of the month{bounds}"


def _weekday_items(rule: DayRule) -> tuple[list[str], bool]:
    """Weekdays to join: "Monday", "Wednesday through Friday", "the second Tuesday of the month".

    No items means every day; the flag says the items are one plain range.
    """
    if rule.weekdays == ALL_WEEKDAYS:
        return [], False
    # Weeks read Monday first, so a weekend is "Saturday and Sunday", not "Sunday and Saturday".
    monday_first = sorted((day - 1) % 7 for day in rule.weekdays)
    weekday_spans = [Span((span.first + 1) % 7, (span.last + 1) % 7, 1) for span in spans(monday_first, steps=False)]
    items = [_named_range(span, WEEKDAYS) for span in weekday_spans]
    items += [f"the {OCCURRENCES[nth]} {WEEKDAYS[day]}"
              for day, nth in sorted(rule.nth_weekdays, key=lambda pair: ((pair[0] - 1) % 7, pair[1]))]
    items += [f"the last {WEEKDAYS[day]}" for day in sorted(rule.last_weekdays, key=lambda day: (day - 1) % 7)]
    if rule.nth_weekdays or rule.last_weekdays:
        # Said once at the end: "on the first Monday and the last Friday of the month".
        items[-1] += " of the month"
    return items, len(items) == 1 and len(weekday_spans) == 1 and weekday_spans[0].first != weekday_spans[0].last


# --- the other kinds ----------------------------------------------------------------------------

def _instant(moment: datetime, zone: tzinfo) -> str:
    """Date and time in zone, to the minute unless seconds are set: "2026-12-01 10:00".

    A wall time that happens twice (the hour repeated when DST ends) gets its UTC offset,
    "2026-10-25 02:30+01:00", so the reader can tell which of the two is meant.
    """
    local = moment.astimezone(zone)
    precision = "minutes" if not local.second and not local.microsecond else "auto"
    repeated = local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()
    return (local if repeated else local.replace(tzinfo=None)).isoformat(sep=" ", timespec=precision)


def _duration(every: timedelta) -> str:
    """"day", "30 seconds", "1 hour 30 minutes", "2.5 seconds"."""
    whole_seconds, microseconds = divmod(every // timedelta(microseconds=1), 1_000_000)
    parts = []
    for unit, size in DURATION_UNITS:
        count, whole_seconds = divmod(whole_seconds, size)
        if unit == "second" and microseconds:
            parts.append(_plural(f"{count}.{microseconds:06}".rstrip("0"), unit))
        elif count:
            parts.append(_plural(count, unit))
    # "Every day", not "Every 1 day"; but "Every 1 hour 30 minutes" keeps its counts.
    return parts[0].removeprefix("1 ") if len(parts) == 1 else " ".join(parts)


def _interval(schedule: IntervalSchedule, zone: tzinfo) -> tuple[str, str | None]:
    return f"Every {_duration(schedule.every)}", None


def _solar(schedule: SolarSchedule, zone: tzinfo) -> tuple[str, str | None]:
    # Degrees as SolarSchedule.describe() writes them, so the two never disagree.
    place = f"{format_degrees(schedule.latitude)}, {format_degrees(schedule.longitude)}"
    # Only a positive elevation moves the events (it lowers the horizon; see solar.py).
    if schedule.elevation > 0:
        place += f", {schedule.elevation:g} m above sea level"
    return f"At {SOLAR_EVENTS[schedule.event]} at {place}", None


def _once(schedule: OnceSchedule, zone: tzinfo) -> tuple[str, str | None]:
    return f"Once, at {_instant(schedule.at, zone)}", str(zone)


def _window(schedule: WindowedSchedule, zone: tzinfo) -> tuple[str, str | None]:
    text, text_zone = _describe(schedule.inner, zone)
    bounds = []
    if schedule.start is not None:
        bounds.append(f"from {_instant(schedule.start, zone)}")
    if schedule.end is not None:
        bounds.append(f"until {_instant(schedule.end, zone)}")
    if not bounds:
        return text, text_zone
    # One trailing zone names both the inner times and the bounds when they agree.
    if text_zone is not None and text_zone != str(zone):
        text += f" ({text_zone})"
    return f"{text}, {' '.join(bounds)}", str(zone)


_DESCRIBERS: tuple[tuple[type, Callable[[Any, tzinfo], tuple[str, str | None]]], ...] = (
    (CronSchedule, _cron),
    (IntervalSchedule, _interval),
    (SolarSchedule, _solar),
    (OnceSchedule, _once),
    (WindowedSchedule, _window),
)
