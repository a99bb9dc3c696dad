"""Entries as mappings of their YAML keys, and as rows of beatd_entries: the conversions every entry store shares.

The SQL store, the Django app (its models, admin form and store) and the `beatd entries`
commands all go through here, so a row is validated by the same rules, with the same
messages, as the same entry in a YAML file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from beatd.config import schema
from beatd.config.build import SCHEDULE_KEYS, build_entry
from beatd.durations import format_duration, parse_duration
from beatd.entry import CatchUp, Entry, Source
from beatd.errors import ConfigError
from beatd.schedules import Schedule
from beatd.schedules.cron import CronSchedule
from beatd.schedules.interval import IntervalSchedule
from beatd.schedules.once import OnceSchedule
from beatd.schedules.solar import SolarSchedule
from beatd.schedules.window import WindowedSchedule

ENTRIES_TABLE = "beatd_entries"
# The YAML keys, in the order rows are exported and their problems reported.
ENTRY_KEYS = ("task", "every", "cron", "day_match", "solar", "lat", "lon", "elevation", "at", "args", "kwargs", "options",
              "enabled", "timezone", "catchup", "jitter", "start", "end", "description")
# Where each YAML key lives when its column has another name.
COLUMN_OF_KEY = {"every": "every_s", "jitter": "jitter_s", "start": "start_at", "end": "end_at"}
_DURATION_KEYS = ("every", "jitter")
JSON_KEYS = ("args", "kwargs", "options")
_SCHEDULE_KEYS = SCHEDULE_KEYS
_SOLAR_KEYS = ("lat", "lon", "elevation")


def _check_entry_schema(name: str, mapping: Mapping[str, Any]) -> None:
    """The JSON Schema checks of one entry, with a fast path for the common valid row.

    Raises:
        ValueError: the first problem, worded exactly as for an entry in a YAML file.
    """
    if not schema.SCHEMA_SHORTCUT.passes(mapping):
        schema.validate_entry_mapping(name, mapping)


def entry_of_mapping(name: str, mapping: Mapping[str, Any], default_zone: tzinfo, source: Source | None = None) -> Entry:
    """An Entry from its YAML keys, validated by the same rules, with the same messages, as a file's.

    Raises:
        ValueError: the message a YAML file gets after its `file:line: entry 'name': `.
    """
    _check_entry_schema(name, mapping)
    return build_entry(name, mapping, default_zone, source)


def mapping_of_entry(entry: Entry) -> dict[str, Any]:
    """The YAML keys that build the same Entry again (with the default zone it was built with).

    Durations become seconds. An entry in the default zone (built without a `timezone`)
    gets no `timezone` key, so it keeps following the default zone. An instant read
    without an offset in the entry's zone is written without one again: with an offset,
    a wall time that happens twice (02:30 on a fall-back day) would be the same instant
    but no longer compare equal (PEP 495), and would stop following the entry's zone.
    """
    schedule: Schedule = entry.schedule
    start = end = None
    if isinstance(entry.schedule, WindowedSchedule):
        schedule, start, end = entry.schedule.inner, entry.schedule.start, entry.schedule.end
    mapping: dict[str, Any] = {"task": entry.task}
    if isinstance(schedule, IntervalSchedule):
        mapping["every"] = _seconds(schedule.every)
    elif isinstance(schedule, CronSchedule):
        mapping["cron"] = schedule.expression
        if schedule.day_match != "either":
            mapping["day_match"] = schedule.day_match
    elif isinstance(schedule, SolarSchedule):
        mapping.update(solar=schedule.event, lat=schedule.latitude, lon=schedule.longitude)
        if schedule.elevation:
            mapping["elevation"] = schedule.elevation
    elif isinstance(schedule, OnceSchedule):
        mapping["at"] = _instant_text(schedule.at, entry.timezone)
    else:
        raise TypeError(f"entry {entry.name!r}: schedule {schedule!r} has no YAML form")
    if entry.args:
        mapping["args"] = list(entry.args)
    if entry.kwargs:
        mapping["kwargs"] = dict(entry.kwargs)
    options = _mapping_of_options(entry)
    if options:
        mapping["options"] = options
    if not entry.enabled:
        mapping["enabled"] = False
    if isinstance(entry.timezone, ZoneInfo):
        mapping["timezone"] = entry.timezone.key
    if entry.catchup != CatchUp.LATEST:
        mapping["catchup"] = entry.catchup.value
    if entry.jitter:
        mapping["jitter"] = _seconds(entry.jitter)
    if start is not None:
        mapping["start"] = _instant_text(start, entry.timezone)
    if end is not None:
        mapping["end"] = _instant_text(end, entry.timezone)
    if entry.description:
        mapping["description"] = entry.description
    return mapping


def _mapping_of_options(entry: Entry) -> dict[str, Any]:
    options = entry.options
    mapping: dict[str, Any] = {}
    for key in ("queue", "exchange", "routing_key", "priority"):
        if getattr(options, key) is not None:
            mapping[key] = getattr(options, key)
    if options.expires is not None:
        mapping["expires"] = _seconds(options.expires)
    if options.headers:
        mapping["headers"] = dict(options.headers)
    for key in ("time_limit", "soft_time_limit"):
        seconds = getattr(options, key)
        if seconds is not None:
            mapping[key] = int(seconds) if float(seconds).is_integer() else seconds
    return mapping


def _instant_text(moment: datetime, zone: tzinfo) -> str:
    """ISO 8601; naive when the instant was read, naive, in the entry's own (IANA) zone."""
    if moment.tzinfo is zone and isinstance(zone, ZoneInfo):
        return moment.replace(tzinfo=None).isoformat()
    return moment.isoformat()


def _seconds(duration: timedelta) -> int | float:
    """A duration as a number of seconds: whole ones as an int (YAML's `50`, not `50.0`)."""
    seconds = duration.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


def mapping_of_row(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The YAML keys a row holds, in ENTRY_KEYS order; NULL columns are absent keys."""
    mapping: dict[str, Any] = {}
    for key in ENTRY_KEYS:
        value = row[COLUMN_OF_KEY.get(key, key)]
        if key == "enabled":
            if not value:
                mapping["enabled"] = False
        elif value is not None:
            mapping[key] = value
    return mapping


def row_of_mapping(name: str, mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Column values for an entry, after validating it as a YAML file's entry would be.

    Raises:
        ConfigError: `entry 'name': message`, the message as `beatd check` words it.
    """
    try:
        entry_of_mapping(name, mapping, UTC)
        for key in JSON_KEYS:
            if key in mapping:
                check_json(key, mapping[key])
    except ValueError as exc:
        raise ConfigError(f"entry {name!r}: {exc}") from exc
    kind = next(key for key in _SCHEDULE_KEYS if key in mapping)
    row: dict[str, Any] = {"name": name, "kind": kind}
    for key in ENTRY_KEYS:
        value = mapping.get(key)
        if key == "enabled":
            value = True if value is None else value
        elif value is not None and key in _DURATION_KEYS:
            value = parse_duration(value).total_seconds()
        elif value is not None and key in _SOLAR_KEYS:
            value = float(value)
        row[COLUMN_OF_KEY.get(key, key)] = value
    return row


def check_json(key: str, value: Any) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{key} cannot be stored as JSON: {exc}") from exc


def yaml_mapping(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """An entry's keys as `beatd export` writes them: whole-second durations as 30s, 1h30m."""
    shown = dict(mapping)
    for key in _DURATION_KEYS:
        if key in shown:
            shown[key] = _yaml_duration(shown[key])
    return shown


def _yaml_duration(value: Any) -> Any:
    """A duration key's value as YAML writes it: 90.0 as 1m30s; anything else as it is."""
    if isinstance(value, float) and value.is_integer() and value > 0:
        return format_duration(timedelta(seconds=value))
    return value


# What a listing says for each schedule key an entry has, in this order; {lat} and {lon}
# show None where missing, as the entry may be invalid.
_SCHEDULE_PHRASES = (
    ("every", "every {every}"),
    ("cron", "cron {cron}"),
    ("day_match", "(day_match {day_match})"),
    ("solar", "solar {solar} at {lat},{lon}"),
    ("at", "at {at}"),
    ("start", "from {start}"),
    ("end", "until {end}"),
)


class _PhraseKeys(dict[str, Any]):
    """An entry's keys for _SCHEDULE_PHRASES: `every` as YAML writes it, a missing key as None."""

    def __missing__(self, key: str) -> None:
        return None


def describe_mapping(mapping: Mapping[str, Any]) -> str:
    """An entry's schedule in words, from its keys (valid or not), for listings."""
    keys = _PhraseKeys(mapping)
    if "every" in keys:
        keys["every"] = _yaml_duration(keys["every"])
    phrases = [phrase.format_map(keys) for key, phrase in _SCHEDULE_PHRASES if key in mapping]
    return " ".join(phrases) or "(no schedule)"
