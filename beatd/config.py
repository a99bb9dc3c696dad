"""Load beatd's YAML configuration: includes, ${VAR} interpolation, schema and semantic checks, file:line errors."""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
import yaml

from beatd.durations import parse_duration
from beatd.entry import CatchUp, Entry, Options, Source
from beatd.errors import ConfigError
from beatd.schedules import Schedule
from beatd.schedules.cron import CronSchedule
from beatd.schedules.interval import EPOCH, IntervalSchedule
from beatd.schedules.once import OnceSchedule
from beatd.schedules.solar import SolarSchedule
from beatd.schedules.window import WindowedSchedule
from beatd.schedules.zones import UTC

DEFAULT_BROKER = "sqla+sqlite:///beatd-broker.sqlite3"
DEFAULT_STATE = "sqlite:///beatd-state.sqlite3"
DEFAULT_CATCHUP_LIMIT = 100
SCHEDULE_KEYS = ("every", "cron", "solar", "at")
_SOLAR_ONLY_KEYS = ("lat", "lon", "elevation")
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaderConfig:
    """Which lease backend decides who publishes (DESIGN.md, leader)."""

    backend: str = "none"
    url: str | None = None
    ttl: timedelta = timedelta(seconds=10)
    lock_file: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A loaded configuration: settings plus every entry from the file and its includes."""

    path: Path
    timezone: tzinfo = UTC
    broker: str = DEFAULT_BROKER
    state: str = DEFAULT_STATE
    leader: LeaderConfig = field(default_factory=LeaderConfig)
    catchup_limit: int = DEFAULT_CATCHUP_LIMIT
    entries: tuple[Entry, ...] = ()


# ---------------------------------------------------------------------------------------
# YAML with line numbers


class _LineDict(dict[str, Any]):
    """A mapping that remembers the line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]


class _Loader(yaml.SafeLoader):
    """safe_load with line numbers, ${VAR} interpolation, and ISO timestamps left as strings."""

    # Keep timestamps as strings so `at`/`start`/`end` are read one way, in one place.
    yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str, path: Path) -> None:
        super().__init__(stream)
        self.path = path

    def construct_line_mapping(self, node: yaml.MappingNode) -> Iterator[_LineDict]:
        data = _LineDict()
        data.line = node.start_mark.line + 1
        data.key_lines = {}
        yield data
        for key_node, value_node in node.value:
            key = self.construct_object(key_node)
            if key in data:
                raise ConfigError(f"{self.path}:{key_node.start_mark.line + 1}: key {key!r} appears twice in one mapping")
            data[key] = self.construct_object(value_node, deep=True)
            data.key_lines[str(key)] = key_node.start_mark.line + 1

    def construct_interpolated_str(self, node: yaml.ScalarNode) -> str:
        text = self.construct_scalar(node)
        return _interpolate(str(text), self.path, node.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_line_mapping)
_Loader.add_constructor("tag:yaml.org,2002:str", _Loader.construct_interpolated_str)


def _interpolate(text: str, path: Path, line: int) -> str:
    """Replace ${VAR} and ${VAR:-default} from the environment; a missing VAR without default is an error."""

    def value_of(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{path}:{line}: environment variable {name} is not set (write ${{{name}:-default}} to give a default)")

    return _INTERPOLATION.sub(value_of, text) if "${" in text else text


def _read_yaml(path: Path) -> _LineDict:
    """Parse one file into a line-aware mapping, turning YAML errors into file:line messages."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    loader = _Loader(text, path)
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    finally:
        loader.dispose()
    if document is None:
        empty = _LineDict()
        empty.line, empty.key_lines = 1, {}
        return empty
    if not isinstance(document, _LineDict):
        raise ConfigError(f"{path}:1: the file must be a mapping of settings and `entries:`, not a {type(document).__name__}")
    return document


# ---------------------------------------------------------------------------------------
# Schema validation


def _schema() -> dict[str, Any]:
    return json.loads(resources.files("beatd").joinpath("config.schema.json").read_text(encoding="utf-8"))


_VALIDATOR = jsonschema.Draft202012Validator(_schema())
_INCLUDED_FILE_KEYS = {"entries"}


def _line_of(document: _LineDict, path_in_document: list[Any]) -> int:
    """The line of the deepest mapping key on the path, or of the nearest mapping."""
    node: Any = document
    line = document.line
    for key in path_in_document:
        if isinstance(node, _LineDict) and key in node:
            line = node.key_lines.get(str(key), node.line)
        elif isinstance(node, _LineDict):
            line = node.line
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
    return line


def _describe_schema_error(error: jsonschema.ValidationError) -> tuple[list[Any], str]:
    """Where a schema error points (as a path) and a message in our words."""
    location = list(error.absolute_path)
    what = f"{location[-1]!s}" if location else "the file"
    instance = error.instance
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(instance) - set(allowed))
        return location + [unknown[0]], f"unknown key {unknown[0]!r}; allowed keys: {', '.join(allowed)}"
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in instance]
        return location, f"missing required key {missing[0]!r}"
    if error.validator == "enum":
        choices = ", ".join(str(choice) for choice in error.validator_value)
        return location, f"{what} {instance!r} is not one of {choices}"
    if error.validator == "type":
        expected = error.validator_value
        expected_words = " or ".join(expected) if isinstance(expected, list) else expected
        return location, f"{what} must be {_article(expected_words)}, not {instance!r}"
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "minLength"):
        return location, f"{what} {instance!r} is out of range ({error.message})"
    if error.validator == "oneOf" and "duration" in str(error.schema.get("description", "")):
        return location, f"{what} {instance!r} is not a duration; write seconds (30, 2.5) or 30s, 5m, 1h30m, 2d"
    return location, f"{what}: {error.message}"


def _article(type_name: str) -> str:
    words = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "a whole number",
             "number": "a number", "boolean": "true or false", "object or null": "a mapping"}
    return words.get(type_name, type_name)


def _validate_schema(document: _LineDict, path: Path, included: bool) -> None:
    """Structural checks from the shipped JSON Schema, reported as file:line: entry: message."""
    if included:
        extra = sorted(set(document) - _INCLUDED_FILE_KEYS)
        if extra:
            line = document.key_lines.get(extra[0], document.line)
            raise ConfigError(f"{path}:{line}: included files hold only `entries:`; move {extra[0]!r} to the main file")
    errors = sorted(_VALIDATOR.iter_errors(document), key=lambda error: (len(error.absolute_path), list(map(str, error.absolute_path))))
    if not errors:
        return
    error = errors[0]
    location, message = _describe_schema_error(error)
    line = _line_of(document, location)
    if len(location) >= 2 and location[0] == "entries":
        raise ConfigError(f"{path}:{line}: entry {location[1]!r}: {message}")
    raise ConfigError(f"{path}:{line}: {message}")


# ---------------------------------------------------------------------------------------
# Entries


def parse_zone(name: str) -> ZoneInfo:
    """An IANA zone by name.

    Raises:
        ValueError: unknown zone; the message names it.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from exc


def parse_instant(text: str, zone: tzinfo, what: str) -> datetime:
    """An ISO 8601 date-time; a naive one is read in `zone` (the earlier of two on a fall-back day)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{what} {text!r} is not an ISO 8601 date-time such as 2026-12-01T10:00:00+01:00") from exc
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _schedule_of(raw: Mapping[str, Any], zone: tzinfo) -> Schedule:
    """The schedule named by the one schedule key of an entry, inside its active window."""
    kinds = [key for key in SCHEDULE_KEYS if key in raw]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        raise ValueError(f"needs exactly one of every, cron, solar, at (found: {found})")
    kind = kinds[0]
    if kind != "solar":
        stray = [key for key in _SOLAR_ONLY_KEYS if key in raw]
        if stray:
            raise ValueError(f"{stray[0]!r} applies only to solar entries")
    start = parse_instant(raw["start"], zone, "start") if "start" in raw else None
    end = parse_instant(raw["end"], zone, "end") if "end" in raw else None
    schedule: Schedule
    if kind == "every":
        schedule = IntervalSchedule(every=parse_duration(raw["every"]), anchor=start or EPOCH)
    elif kind == "cron":
        schedule = CronSchedule.parse(raw["cron"], zone)
    elif kind == "solar":
        if "lat" not in raw or "lon" not in raw:
            raise ValueError("solar entries need lat and lon")
        schedule = SolarSchedule(event=raw["solar"], latitude=float(raw["lat"]), longitude=float(raw["lon"]),
                                 elevation=float(raw.get("elevation", 0.0)), zone=zone)
    else:
        schedule = OnceSchedule(at=parse_instant(raw["at"], zone, "at"))
    if start is None and end is None:
        return schedule
    return WindowedSchedule(inner=schedule, start=start, end=end)


def _options_of(raw: Mapping[str, Any]) -> Options:
    def seconds(key: str) -> float | None:
        return parse_duration(raw[key]).total_seconds() if key in raw else None

    return Options(
        queue=raw.get("queue"),
        exchange=raw.get("exchange"),
        routing_key=raw.get("routing_key"),
        priority=raw.get("priority"),
        expires=parse_duration(raw["expires"]) if "expires" in raw else None,
        headers=dict(raw.get("headers", {})),
        time_limit=seconds("time_limit"),
        soft_time_limit=seconds("soft_time_limit"),
    )


def build_entry(name: str, raw: Mapping[str, Any], default_zone: tzinfo, source: Source | None = None) -> Entry:
    """One Entry from its already schema-checked mapping.

    Raises:
        ValueError: a semantic problem (bad cron, zone, duration, window); the message
            names the value but not the place, which the caller adds.
    """
    zone = parse_zone(raw["timezone"]) if "timezone" in raw else default_zone
    return Entry(
        name=name,
        task=raw["task"],
        schedule=_schedule_of(raw, zone),
        args=tuple(raw.get("args", ())),
        kwargs=dict(raw.get("kwargs", {})),
        options=_options_of(raw.get("options", {})),
        enabled=raw.get("enabled", True),
        catchup=CatchUp(raw.get("catchup", CatchUp.LATEST.value)),
        jitter=parse_duration(raw["jitter"]) if "jitter" in raw else None,
        timezone=zone,
        description=raw.get("description", ""),
        source=source,
    )


def _entries_of(document: _LineDict, path: Path, default_zone: tzinfo) -> Iterator[Entry]:
    raw_entries = document.get("entries") or {}
    for name, raw in raw_entries.items():
        line = raw_entries.key_lines.get(str(name), raw_entries.line)
        try:
            yield build_entry(str(name), raw, default_zone, Source(path=str(path), line=line))
        except ValueError as exc:
            raise ConfigError(f"{path}:{line}: entry {name!r}: {exc}") from exc


# ---------------------------------------------------------------------------------------
# Files


def _included_paths(document: _LineDict, path: Path) -> list[Path]:
    """Files named by `include` globs, relative to the including file, sorted per glob."""
    found: list[Path] = []
    for pattern in document.get("include") or []:
        matches = sorted(glob.glob(str(path.parent / pattern)))
        if not matches:
            line = document.key_lines.get("include", document.line)
            raise ConfigError(f"{path}:{line}: include {pattern!r} matches no file")
        found.extend(Path(match) for match in matches)
    return found


def _setting(document: _LineDict, path: Path, key: str, convert: Any, default: Any) -> Any:
    """A top-level setting converted, with conversion errors placed at its line."""
    if key not in document:
        return default
    try:
        return convert(document[key])
    except ValueError as exc:
        raise ConfigError(f"{path}:{document.key_lines.get(key, document.line)}: {key}: {exc}") from exc


def _leader_of(raw: Mapping[str, Any]) -> LeaderConfig:
    backend = raw.get("backend", "none")
    if backend != "none" and not raw.get("url"):
        raise ValueError(f"backend {backend!r} needs a url")
    return LeaderConfig(backend=backend, url=raw.get("url"),
                        ttl=parse_duration(raw.get("ttl", 10)), lock_file=raw.get("lock_file"))


def load_config(path: str | Path) -> Config:
    """Load a configuration file and everything it includes.

    Raises:
        ConfigError: with `file:line: entry 'name': message` for the first problem found.
    """
    path = Path(path)
    document = _read_yaml(path)
    _validate_schema(document, path, included=False)
    zone = _setting(document, path, "timezone", parse_zone, UTC)
    entries = list(_entries_of(document, path, zone))
    for included_path in _included_paths(document, path):
        included = _read_yaml(included_path)
        _validate_schema(included, included_path, included=True)
        entries.extend(_entries_of(included, included_path, zone))
    _reject_duplicate_names(entries)
    return Config(
        path=path,
        timezone=zone,
        broker=document.get("broker", DEFAULT_BROKER),
        state=document.get("state", DEFAULT_STATE),
        leader=_setting(document, path, "leader", _leader_of, LeaderConfig()),
        catchup_limit=document.get("catchup_limit", DEFAULT_CATCHUP_LIMIT),
        entries=tuple(entries),
    )


def _reject_duplicate_names(entries: list[Entry]) -> None:
    first_seen: dict[str, Entry] = {}
    for entry in entries:
        if entry.name in first_seen:
            raise ConfigError(f"{entry.source}: entry {entry.name!r} is defined twice; first at {first_seen[entry.name].source}")
        first_seen[entry.name] = entry
