"""One Entry from its schema-checked mapping (build_entry): schedules, windows, options, zones; what every entry source shares."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from beatd.config.schema import EntryKeyError
from beatd.durations import parse_duration
from beatd.entry import CatchUp, Entry, Options, Source, check_entry_name, entry_of
from beatd.payload import check_arguments, check_options
from beatd.schedules import Schedule
from beatd.schedules.cron import CronSchedule
from beatd.schedules.interval import EPOCH, IntervalSchedule
from beatd.schedules.once import OnceSchedule
from beatd.schedules.solar import SolarSchedule
from beatd.schedules.window import WindowedSchedule

SCHEDULE_KEYS = ("every", "cron", "solar", "at")
# Keys of one schedule kind only; `beatd entries edit` drops them when it replaces that schedule.
ONLY_FOR_KIND = {"lat": "solar", "lon": "solar", "elevation": "solar", "day_match": "cron"}


@functools.lru_cache(maxsize=65536)
def _parse_cron(expression: str, zone: tzinfo, day_match: str) -> CronSchedule:
    """CronSchedule.parse, shared: schedules are immutable, and big files repeat a few expressions."""
    return CronSchedule.parse(expression, zone, day_match=day_match)


@functools.lru_cache(maxsize=4096, typed=True)
def _cached_duration(value: object) -> timedelta:
    return parse_duration(value)


def _duration(value: object) -> timedelta:
    """parse_duration, remembered per value: big files repeat a few durations."""
    try:
        return _cached_duration(value)
    except TypeError:  # unhashable: not a duration either, and parse_duration says why
        return parse_duration(value)


@functools.lru_cache(maxsize=4096)
def _interval_from_epoch(every: timedelta) -> IntervalSchedule:
    """One shared IntervalSchedule per step: a million entries often have a few dozen distinct steps."""
    return IntervalSchedule(every=every, anchor=EPOCH)


def parse_zone(name: str) -> ZoneInfo:
    """An IANA zone by name.

    Raises:
        ValueError: unknown zone; the message names it.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # "Europe" is a directory: IsADirectoryError
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from exc


def parse_instant(text: str, zone: tzinfo, what: str) -> datetime:
    """An ISO 8601 date-time; a naive one is read in `zone` (the earlier of two on a fall-back day)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{what} {text!r} is not an ISO 8601 date-time such as 2026-12-01T10:00:00+01:00") from exc
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


class _about:  # noqa: N801  (used like a function: `with _about("jitter"):`)
    """Tag a ValueError raised inside with the entry key it is about (a path for nested keys).

    A class rather than a @contextmanager generator: build_entry enters a few of these
    per entry, and a million entries made the generator's cost show.
    """

    __slots__ = ("keys",)

    def __init__(self, *keys: str) -> None:
        self.keys = keys

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if isinstance(exc, ValueError) and not isinstance(exc, EntryKeyError):
            raise EntryKeyError(self.keys, str(exc)) from exc


def _degrees(raw: Mapping[str, Any], key: str) -> float:
    with _about(key):
        value = float(raw[key])
        if not math.isfinite(value):
            raise ValueError(f"{key} {raw[key]!r} is not a finite number")
        return value


def _solar_zone(zone: tzinfo) -> ZoneInfo:
    """SolarSchedule wants an IANA zone; the default zone is the fixed datetime.timezone.utc."""
    if isinstance(zone, ZoneInfo):
        return zone
    if zone is UTC:
        return ZoneInfo("UTC")
    raise ValueError(f"solar entries need an IANA time zone, not {zone!r}")


def _schedule_of(raw: Mapping[str, Any], zone: tzinfo) -> Schedule:
    """The schedule named by the one schedule key of an entry, inside its active window."""
    kinds = [key for key in SCHEDULE_KEYS if key in raw]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        raise ValueError(f"needs exactly one of every, cron, solar, at (found: {found})")
    kind = kinds[0]
    for key, key_kind in ONLY_FOR_KIND.items():
        if key in raw and kind != key_kind:
            raise EntryKeyError((key,), f"{key!r} applies only to {key_kind} entries")
    if "start" in raw or "end" in raw:
        return _windowed(raw, zone, kind)
    with _about(kind):
        return _inner_schedule(raw, zone, kind, EPOCH)


def _inner_schedule(raw: Mapping[str, Any], zone: tzinfo, kind: str, start: datetime) -> Schedule:
    if kind == "every":
        every = _duration(raw["every"])
        return _interval_from_epoch(every) if start is EPOCH else IntervalSchedule(every=every, anchor=start)
    if kind == "cron":
        return _parse_cron(raw["cron"], zone, raw.get("day_match", "either"))
    if kind == "solar":
        if "lat" not in raw or "lon" not in raw:
            raise EntryKeyError((), "solar entries need lat and lon")
        return SolarSchedule(event=raw["solar"], latitude=_degrees(raw, "lat"), longitude=_degrees(raw, "lon"),
                             elevation=_degrees(raw, "elevation") if "elevation" in raw else 0.0,
                             zone=_solar_zone(zone))
    return OnceSchedule(at=_schedulable_instant(raw["at"], zone, "at"))


# Runs are scheduled before this instant, so that a run's time plus its jitter or expiry
# (each at most 100 years) stays inside datetime's range (the year 9999): an `at` of
# 9999-12-31 with a jitter would otherwise fail every time the entry is scheduled.
_LAST_SCHEDULABLE = datetime(9000, 1, 1, tzinfo=UTC)


def _schedulable_instant(text: str, zone: tzinfo, what: str) -> datetime:
    """parse_instant, refusing instants too late to schedule (an `end` may be later: it is only compared)."""
    moment = parse_instant(text, zone, what)
    if moment >= _LAST_SCHEDULABLE:
        raise ValueError(f"{what} {text!r} is too far ahead: beatd schedules runs before the year 9000")
    return moment


def _windowed(raw: Mapping[str, Any], zone: tzinfo, kind: str) -> Schedule:
    """The schedule inside its `start`/`end` window; interval slots count from `start`."""
    start = end = None
    if "start" in raw:
        with _about("start"):
            start = _schedulable_instant(raw["start"], zone, "start")
    if "end" in raw:
        with _about("end"):
            end = parse_instant(raw["end"], zone, "end")
    with _about(kind):
        schedule = _inner_schedule(raw, zone, kind, start or EPOCH)
    with _about("end" if end is not None else "start"):
        return WindowedSchedule(inner=schedule, start=start, end=end)


# Entries without options, kwargs or headers share these: entries never change them
# (Entry is immutable), and a million entries each with its own would take 200 MB.
_NO_OPTIONS = Options()
_NO_KWARGS: dict[str, Any] = {}


def _options_of(raw: Mapping[str, Any]) -> Options:
    def seconds(key: str) -> float | None:
        with _about("options", key):
            return _duration(raw[key]).total_seconds() if key in raw else None

    check_options(raw)
    with _about("options", "expires"):
        expires = _duration(raw["expires"]) if "expires" in raw else None
    return Options(
        queue=raw.get("queue"),
        exchange=raw.get("exchange"),
        routing_key=raw.get("routing_key"),
        # The schema lets 5.0 through as an integer; AMQP wants an int.
        priority=int(raw["priority"]) if raw.get("priority") is not None else None,
        expires=expires,
        headers=dict(raw["headers"]) if raw.get("headers") else _NO_KWARGS,
        time_limit=seconds("time_limit"),
        soft_time_limit=seconds("soft_time_limit"),
    )


def build_entry(name: str, raw: Mapping[str, Any], default_zone: tzinfo, source: Source | None = None) -> Entry:
    """One Entry from its already schema-checked mapping.

    Raises:
        ValueError: a semantic problem (bad cron, zone, duration, window), or anything
            that would make publishing or recording a run fail (the name, args and
            kwargs that are not plain JSON, reserved headers); the message names the
            value but not the place, which the caller adds. When the problem is one
            key's, the exception has a `keys` attribute: the path to that key.
    """
    check_entry_name(name)
    check_arguments(raw.get("args"), raw.get("kwargs"))
    zone = default_zone
    if "timezone" in raw:
        with _about("timezone"):
            zone = parse_zone(raw["timezone"])
    schedule = _schedule_of(raw, zone)
    catchup = CatchUp.LATEST
    if "catchup" in raw:
        with _about("catchup"):
            catchup = CatchUp(raw["catchup"])
    jitter = None
    if "jitter" in raw:
        with _about("jitter"):
            jitter = _duration(raw["jitter"])
    return entry_of(
        name=name,
        task=raw["task"],
        schedule=schedule,
        args=tuple(raw["args"]) if "args" in raw else (),
        kwargs=dict(raw["kwargs"]) if raw.get("kwargs") else _NO_KWARGS,
        options=_options_of(raw["options"]) if "options" in raw else _NO_OPTIONS,
        enabled=raw.get("enabled", True),
        catchup=catchup,
        jitter=jitter,
        timezone=zone,
        description=raw.get("description", ""),
        source=source,
    )
