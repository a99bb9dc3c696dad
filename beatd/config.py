"""Load beatd's YAML configuration: includes, ${VAR} interpolation, schema and semantic checks, file:line errors."""

from __future__ import annotations

import functools
import glob
import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar
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
from beatd.schema_shortcut import SchemaShortcut

DEFAULT_BROKER = "sqla+sqlite:///beatd-broker.sqlite3"
DEFAULT_STATE = "sqlite:///beatd-state.sqlite3"
DEFAULT_CATCHUP_LIMIT = 100
MIN_LEASE_TTL = timedelta(seconds=1)
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
    # host:port of the /metrics, /healthz and /readyz endpoint; None: no HTTP server.
    http: str | None = None
    # Where else entries come from, as (kind, target) pairs: ("sql", URL) or ("django", settings module).
    stores: tuple[tuple[str, str], ...] = ()
    entries: tuple[Entry, ...] = ()


# ---------------------------------------------------------------------------------------
# YAML with line numbers

_YAML_TAG = "tag:yaml.org,2002:"
# What an unquoted ${VAR} may turn into besides text (never null: an empty variable is "").
_INTERPOLATED_TYPES = {_YAML_TAG + name for name in ("bool", "int", "float")}

_Mark = tuple[int, int]
"""A 0-based (line, column) place in a YAML file."""


class _LineDict(dict[str, Any]):
    """A mapping that remembers the line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]
    # Where the mapping and each key start and where the mapping ends, 0-based
    # (line, column): enough to tell which entry any place in the file belongs to.
    mark: _Mark = (0, 0)
    end_mark: _Mark = (0, 0)
    key_marks: dict[str, _Mark]


def _new_line_dict(line: int = 1) -> _LineDict:
    data = _LineDict()
    data.line, data.key_lines, data.key_marks = line, {}, {}
    return data


@dataclass(frozen=True, slots=True)
class _Problem:
    """Something wrong that the loader noticed; reported after loading, when the entry it is in is known."""

    mark: _Mark
    message: str
    # For a problem with a mapping key: the mapping and the key, so that a repeated or
    # unusable entry name is reported as that entry.
    mapping: _LineDict | None = None
    key: Any = None


def _mark_of(node: yaml.Node) -> _Mark:
    return (node.start_mark.line, node.start_mark.column)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG):] if tag.startswith(_YAML_TAG) else tag


class _Loader(yaml.SafeLoader):
    """safe_load with line numbers, ${VAR} interpolation, and ISO timestamps left as strings.

    Problems that safe_load would raise on, or let through silently (a repeated key, a key
    that YAML reads as a number or boolean, an unset variable, a Python or other non-data
    tag), are collected in `problems` with their place, so the caller can name the entry.
    """

    # Keep timestamps as strings so `at`/`start`/`end` are read one way, in one place;
    # and read a lone `=` as text (YAML 1.1's "value" type has no constructor).
    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {
        first: [(tag, pattern) for tag, pattern in resolvers
                if tag not in (_YAML_TAG + "timestamp", _YAML_TAG + "value")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    # A copy of its own, so the constructors added below leave yaml.SafeLoader alone.
    yaml_constructors: ClassVar[dict[Any, Any]] = dict(yaml.SafeLoader.yaml_constructors)

    def __init__(self, stream: str, path: Path) -> None:
        super().__init__(stream)
        self.path = path
        self.problems: list[_Problem] = []

    def construct_line_mapping(self, node: yaml.MappingNode) -> Iterator[_LineDict]:
        # `<<: *anchor` merge keys, as safe_load reads them: flatten_mapping puts the
        # merged pairs first, and a key written here overrides a merged one.
        written = sum(1 for key_node, _ in node.value if key_node.tag != _YAML_TAG + "merge")
        self.flatten_mapping(node)
        merged = len(node.value) - written
        data = _new_line_dict(node.start_mark.line + 1)
        data.mark, data.end_mark = _mark_of(node), (node.end_mark.line, node.end_mark.column)
        yield data
        written_keys: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                self.problems.append(_Problem(_mark_of(key_node), _key_not_text(key_node, key), data, key))
                continue
            if index >= merged:
                if key in written_keys:
                    message = f"key {key!r} appears twice in one mapping; the first is at line {data.key_lines[key]}"
                    self.problems.append(_Problem(_mark_of(key_node), message, data, key))
                    continue
                written_keys.add(key)
            data[key] = self.construct_object(value_node, deep=True)
            data.key_lines[key] = key_node.start_mark.line + 1
            data.key_marks[key] = _mark_of(key_node)

    def construct_interpolated_str(self, node: yaml.ScalarNode) -> Any:
        text = str(self.construct_scalar(node))
        if "${" not in text:
            return text
        value, missing = _interpolate(text)
        for name in missing:
            self.problems.append(_Problem(
                _mark_of(node), f"environment variable {name} is not set (write ${{{name}:-default}} to give a default)"))
        if missing or node.style:  # plain scalars: style None (Python parser) or "" (libyaml)
            return value
        # An unquoted ${VAR} is typed as YAML types the text it stands for, so
        # `enabled: ${FLAG:-true}` is a boolean and `priority: ${PRIO:-5}` a number.
        tag = self.resolve(yaml.ScalarNode, value, (True, False))
        if tag not in _INTERPOLATED_TYPES:
            return value
        return self.construct_object(yaml.ScalarNode(tag, value, node.start_mark, node.end_mark, style=None))

    def construct_timestamp_as_str(self, node: yaml.ScalarNode) -> str:
        """An explicit !!timestamp stays text too; parse_instant reads it."""
        return str(self.construct_scalar(node))

    def construct_checked_scalar(self, node: yaml.ScalarNode) -> Any:
        """!!int, !!float, !!bool with text that is not one (safe_load raises a bare ValueError)."""
        try:
            return yaml.SafeLoader.yaml_constructors[node.tag](self, node)
        except (ValueError, KeyError, TypeError, AttributeError):
            self.problems.append(_Problem(_mark_of(node), f"{node.value!r} is not a valid {_short_tag(node.tag)}"))
            return None

    def construct_not_data(self, node: yaml.Node) -> None:
        """Python objects, sets, binary and unknown tags: refused, never constructed."""
        self.problems.append(_Problem(
            _mark_of(node),
            f"the YAML tag {_short_tag(node.tag)!r} is not allowed: beatd reads plain data "
            "(mappings, lists, text, numbers, true/false), never objects"))


def _key_not_text(key_node: yaml.Node, key: Any) -> str:
    if isinstance(key_node, yaml.ScalarNode):
        read_as = "null" if key is None else f"{type(key).__name__} {key!r}"
        return f"key {key_node.value!r} is read as {read_as}, not text; quote it: {key_node.value!r}"
    return f"a key must be text, not a {'list' if isinstance(key_node, yaml.SequenceNode) else 'mapping'}"


_Loader.add_constructor(_YAML_TAG + "map", _Loader.construct_line_mapping)
_Loader.add_constructor(_YAML_TAG + "str", _Loader.construct_interpolated_str)
_Loader.add_constructor(_YAML_TAG + "timestamp", _Loader.construct_timestamp_as_str)
for _tag in ("int", "float", "bool"):
    _Loader.add_constructor(_YAML_TAG + _tag, _Loader.construct_checked_scalar)
for _tag in ("set", "omap", "pairs", "binary"):
    _Loader.add_constructor(_YAML_TAG + _tag, _Loader.construct_not_data)
_Loader.add_constructor(None, _Loader.construct_not_data)


def _interpolate(text: str) -> tuple[str, list[str]]:
    """Replace ${VAR} and ${VAR:-default} from the environment; also return the names that are unset without default."""
    missing: list[str] = []

    def value_of(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        missing.append(name)
        return match.group(0)

    return _INTERPOLATION.sub(value_of, text), missing


def _entry_name_at(document: Any, problem: _Problem) -> str | None:
    """The name of the entry whose text holds the problem's place, if any."""
    entries = document.get("entries") if isinstance(document, _LineDict) else None
    if not isinstance(entries, _LineDict):
        return None
    if problem.mapping is entries:
        return problem.key if isinstance(problem.key, str) else None
    if not entries.mark <= problem.mark < entries.end_mark:
        return None
    before = [(mark, name) for name, mark in entries.key_marks.items() if mark <= problem.mark]
    return max(before)[1] if before else None


def _raise_first_problem(document: Any, path: Path, problems: list[_Problem]) -> None:
    problem = min(problems, key=lambda problem: problem.mark)
    where = f"{path}:{problem.mark[0] + 1}"
    name = _entry_name_at(document, problem)
    if name is None:
        raise ConfigError(f"{where}: {problem.message}")
    message = problem.message
    if problem.mapping is not None and problem.mapping is document.get("entries"):
        message = f"the name is used twice; first at {path}:{problem.mapping.key_lines[name]}"
    raise ConfigError(f"{where}: entry {name!r}: {message}")


if getattr(yaml, "__with_libyaml__", False):

    class _FastLoader(yaml.cyaml.CParser, _Loader):  # type: ignore[misc]
        """_Loader on libyaml's parser, several times faster; constructors and resolvers are _Loader's.

        Syntax errors are worded differently by libyaml, so a file it refuses is parsed
        again by _Loader for the message users see.
        """

        def __init__(self, stream: str, path: Path) -> None:
            yaml.cyaml.CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self.path = path
            self.problems = []

    _FIRST_LOADER: type[_Loader] = _FastLoader
else:
    _FIRST_LOADER = _Loader


def _read_yaml(path: Path) -> _LineDict:
    """Parse one file into a line-aware mapping, turning YAML errors into file:line messages."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        bad_byte = exc.object[exc.start]
        raise ConfigError(f"{path}: the file is not UTF-8 text (byte {bad_byte:#04x} at offset {exc.start})") from exc
    try:
        fast = _FIRST_LOADER(text, path)
        try:
            document, problems = fast.get_single_data(), fast.problems
        finally:
            fast.dispose()
    except yaml.YAMLError:
        document, problems = _parse_for_messages(text, path)
    if problems:
        _raise_first_problem(document, path, problems)
    if document is None:
        return _new_line_dict()
    if not isinstance(document, _LineDict):
        kind = "list" if isinstance(document, list) else type(document).__name__
        raise ConfigError(f"{path}:1: the file must be a mapping of settings and `entries:`, not a {kind}")
    return document


def _parse_for_messages(text: str, path: Path) -> tuple[Any, list[_Problem]]:
    """Parse with the pure-Python loader, whose YAML errors are the ones users see."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text, path)
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        message = exc.problem or exc.context
        if exc.problem and exc.context and exc.context_mark and exc.context_mark.line + 1 != line:
            message = f"{exc.problem} ({exc.context} at line {exc.context_mark.line + 1})"
        raise ConfigError(f"{path}:{line}: invalid YAML: {message}") from exc
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(f"{path}:{line}: invalid YAML: character {exc.character:#x} is not allowed in YAML text") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    finally:
        if loader is not None:
            loader.dispose()
    return document, loader.problems


# ---------------------------------------------------------------------------------------
# Schema validation


def _schema() -> dict[str, Any]:
    return json.loads(resources.files("beatd").joinpath("config.schema.json").read_text(encoding="utf-8"))


_SCHEMA = _schema()
_VALIDATOR = jsonschema.Draft202012Validator(_SCHEMA)
# Most entries are valid; this answers that cheaply and exactly (see beatd.schema_shortcut).
SCHEMA_SHORTCUT = SchemaShortcut(_SCHEMA)
_DURATION_SCHEMA = _SCHEMA["$defs"]["duration"]
_ENTRY_SCHEMA = _SCHEMA["$defs"]["entry"]
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
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(instance) - set(allowed))
        return location + [unknown[0]], f"unknown key {unknown[0]!r}; allowed keys: {', '.join(allowed)}"
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in instance]
        return location, f"missing required key {missing[0]!r}"
    if error.validator == "enum":
        choices = ", ".join(str(choice) for choice in error.validator_value)
        return location, f"{what} {instance!r} is not one of {choices}"
    if error.validator == "type" and len(location) == 2 and location[0] == "entries":
        return location, f"the entry must be a mapping of keys such as task and every, not {instance!r}"
    if error.validator == "type":
        expected = error.validator_value
        expected_words = " or ".join(expected) if isinstance(expected, list) else expected
        return location, f"{what} must be {_article(expected_words)}, not {instance!r}"
    if error.validator in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            return location, f"{what} {instance!r} is outside {low}..{high}"
        if low is not None:
            return location, f"{what} {instance!r} must be at least {low}"
        return location, f"{what} {instance!r} must be at most {high}"
    if error.validator == "minLength":
        return location, f"{what} must not be empty"
    if error.validator == "oneOf" and schema == _DURATION_SCHEMA:
        if isinstance(instance, (int, float)) and not isinstance(instance, bool) and instance <= 0:
            return location, f"{what} {instance!r} must be greater than zero"
        return location, f"{what} {instance!r} is not a duration; write seconds (30, 2.5) or 30s, 5m, 1h30m, 2d"
    return location, f"{what}: {error.message}"


def _reported_by_build_entry(error: jsonschema.ValidationError) -> bool:
    """The schema's which-schedule-keys rules, which build_entry words better and places on the key's line."""
    return error.validator in ("oneOf", "dependentRequired") and error.schema == _ENTRY_SCHEMA


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
    if _valid_by_shortcut(document):
        return
    described = [_describe_schema_error(error) for error in _VALIDATOR.iter_errors(document)
                 if not _reported_by_build_entry(error)]
    if not described:
        return
    # The first problem in the file, the outermost one where two share a line.
    line, location, message = min(((_line_of(document, location), location, message) for location, message in described),
                                  key=lambda found: (found[0], len(found[1])))
    if len(location) >= 2 and location[0] == "entries":
        raise ConfigError(f"{path}:{line}: entry {location[1]!r}: {message}")
    raise ConfigError(f"{path}:{line}: {message}")


def _valid_by_shortcut(document: _LineDict) -> bool:
    """True when the schema surely accepts the document; False means "run the full validation"."""
    entries = document.get("entries")
    if entries is not None and not isinstance(entries, Mapping):
        return False
    if entries and not all(isinstance(raw, Mapping) and SCHEMA_SHORTCUT.passes(raw) for raw in entries.values()):
        return False
    return bool(_VALIDATOR.is_valid({**document, "entries": None}))


def validate_entry_mapping(name: str, raw: Mapping[str, Any]) -> None:
    """The schema checks of one entry's mapping, worded as for an entry in a file (without file:line).

    For entries that come from elsewhere than a file (a SQL row, a command line); run
    build_entry afterwards for the semantic checks, as the file loader does.

    Raises:
        ValueError: the first problem, in the mapping's key order (a file's line order);
            its `keys` attribute is the path to the key it is about.
    """
    described = [_describe_schema_error(error) for error in _VALIDATOR.iter_errors({"entries": {name: dict(raw)}})
                 if not _reported_by_build_entry(error)]
    if not described:
        return
    order = {key: index for index, key in enumerate(raw)}

    def place(found: tuple[list[Any], str]) -> tuple[int, int]:
        location = found[0]
        return (order.get(location[2], -1) if len(location) > 2 else -1, len(location))

    location, message = min(described, key=place)
    raise _EntryKeyError(tuple(str(key) for key in location[2:]), message)


# ---------------------------------------------------------------------------------------
# Entries


@functools.lru_cache(maxsize=65536)
def _parse_cron(expression: str, zone: tzinfo) -> CronSchedule:
    """CronSchedule.parse, shared: schedules are immutable, and big files repeat a few expressions."""
    return CronSchedule.parse(expression, zone)


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


class _EntryKeyError(ValueError):
    """A ValueError about one key of an entry (a path for nested keys), so the error can point at its line."""

    def __init__(self, keys: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.keys = keys


@contextmanager
def _about(*keys: str) -> Iterator[None]:
    """Tag a ValueError raised inside with the entry key it is about."""
    try:
        yield
    except _EntryKeyError:
        raise
    except ValueError as exc:
        raise _EntryKeyError(keys, str(exc)) from exc


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
    if kind != "solar":
        stray = [key for key in _SOLAR_ONLY_KEYS if key in raw]
        if stray:
            raise _EntryKeyError((stray[0],), f"{stray[0]!r} applies only to solar entries")
    with _about("start"):
        start = parse_instant(raw["start"], zone, "start") if "start" in raw else None
    with _about("end"):
        end = parse_instant(raw["end"], zone, "end") if "end" in raw else None
    schedule: Schedule
    with _about(kind):
        if kind == "every":
            schedule = IntervalSchedule(every=parse_duration(raw["every"]), anchor=start or EPOCH)
        elif kind == "cron":
            schedule = _parse_cron(raw["cron"], zone)
        elif kind == "solar":
            if "lat" not in raw or "lon" not in raw:
                raise _EntryKeyError((), "solar entries need lat and lon")
            schedule = SolarSchedule(event=raw["solar"], latitude=_degrees(raw, "lat"), longitude=_degrees(raw, "lon"),
                                     elevation=_degrees(raw, "elevation") if "elevation" in raw else 0.0,
                                     zone=_solar_zone(zone))
        else:
            schedule = OnceSchedule(at=parse_instant(raw["at"], zone, "at"))
    if start is None and end is None:
        return schedule
    with _about("end" if end is not None else "start"):
        return WindowedSchedule(inner=schedule, start=start, end=end)


def _options_of(raw: Mapping[str, Any]) -> Options:
    def seconds(key: str) -> float | None:
        with _about("options", key):
            return parse_duration(raw[key]).total_seconds() if key in raw else None

    with _about("options", "expires"):
        expires = parse_duration(raw["expires"]) if "expires" in raw else None
    return Options(
        queue=raw.get("queue"),
        exchange=raw.get("exchange"),
        routing_key=raw.get("routing_key"),
        # The schema lets 5.0 through as an integer; AMQP wants an int.
        priority=int(raw["priority"]) if raw.get("priority") is not None else None,
        expires=expires,
        headers=dict(raw.get("headers", {})),
        time_limit=seconds("time_limit"),
        soft_time_limit=seconds("soft_time_limit"),
    )


def build_entry(name: str, raw: Mapping[str, Any], default_zone: tzinfo, source: Source | None = None) -> Entry:
    """One Entry from its already schema-checked mapping.

    Raises:
        ValueError: a semantic problem (bad cron, zone, duration, window); the message
            names the value but not the place, which the caller adds. When the problem
            is one key's, the exception has a `keys` attribute: the path to that key.
    """
    with _about("timezone"):
        zone = parse_zone(raw["timezone"]) if "timezone" in raw else default_zone
    schedule = _schedule_of(raw, zone)
    with _about("catchup"):
        catchup = CatchUp(raw.get("catchup", CatchUp.LATEST.value))
    with _about("jitter"):
        jitter = parse_duration(raw["jitter"]) if "jitter" in raw else None
    return Entry(
        name=name,
        task=raw["task"],
        schedule=schedule,
        args=tuple(raw.get("args", ())),
        kwargs=dict(raw.get("kwargs", {})),
        options=_options_of(raw.get("options", {})),
        enabled=raw.get("enabled", True),
        catchup=catchup,
        jitter=jitter,
        timezone=zone,
        description=raw.get("description", ""),
        source=source,
    )


def _entries_of(document: _LineDict, path: Path, default_zone: tzinfo) -> Iterator[Entry]:
    raw_entries = document.get("entries")
    if not isinstance(raw_entries, _LineDict):
        return
    for name, raw in raw_entries.items():
        line = raw_entries.key_lines.get(name, raw_entries.line)
        try:
            yield build_entry(str(name), raw, default_zone, Source(path=str(path), line=line))
        except ValueError as exc:
            keys = list(getattr(exc, "keys", ()))
            problem_line = _line_of(raw, keys) if keys and isinstance(raw, _LineDict) else line
            raise ConfigError(f"{path}:{problem_line}: entry {name!r}: {exc}") from exc


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


_LISTEN_ADDRESS = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]*)):(?P<port>[0-9]{1,5})")


def parse_listen_address(text: str) -> tuple[str, int]:
    """The host and port of `host:port`; IPv6 in brackets (`[::1]:9808`); no host (`:9808`) means 127.0.0.1.

    Raises:
        ValueError: not host:port, or the port is outside 1-65535; the message names the value.
    """
    match = _LISTEN_ADDRESS.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not host:port; write for example 127.0.0.1:9808 (this host only) "
                         "or 0.0.0.0:9808 (every interface)")
    port = int(match["port"])
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} in {text!r} is outside 1-65535")
    return match["ipv6"] or match["host"] or "127.0.0.1", port


def _http_address(value: str) -> str:
    """The `http:` setting, checked, with the default host written out."""
    host, port = parse_listen_address(value)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _leader_of(raw: Mapping[str, Any]) -> LeaderConfig:
    backend = raw.get("backend", "none")
    if backend != "none" and not raw.get("url"):
        raise ValueError(f"backend {backend!r} needs a url")
    ttl = parse_duration(raw.get("ttl", 10))
    # Lease tokens are seeded from the store's clock in milliseconds and must outgrow the
    # number of acquisitions, and a sub-second lease leaves no time to renew.
    if ttl < MIN_LEASE_TTL:
        raise ValueError(f"ttl {raw.get('ttl')!r} is shorter than the minimum of 1s")
    return LeaderConfig(backend=backend, url=raw.get("url"), ttl=ttl, lock_file=raw.get("lock_file"))


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
        http=_setting(document, path, "http", _http_address, None),
        stores=tuple((kind, target) for store in document.get("stores") or [] for kind, target in store.items()),
        entries=tuple(entries),
    )


def _reject_duplicate_names(entries: list[Entry]) -> None:
    first_seen: dict[str, Entry] = {}
    for entry in entries:
        if entry.name in first_seen:
            first = first_seen[entry.name].source
            raise ConfigError(f"{entry.source}: entry {entry.name!r}: the name is used twice; first at {first}")
        first_seen[entry.name] = entry
