"""Load beatd's YAML configuration: includes, ${VAR} interpolation, schema and semantic checks, file:line errors.

Two readers share the checks and the building of entries. The plain reader
(beatd.config_plain) takes the common subset of YAML fast and keeps no line numbers;
when it declines a file, or anything about the file is wrong, the file is read again
with line numbers (beatd.config_yaml) and checked with full messages
(beatd.config_schema), so that every error names its file and line.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import gc
import glob
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from beatd.config_plain import NotPlain, PlainFile, read_plain
from beatd.config_schema import (
    INCLUDED_FILE_KEYS,
    SCHEMA_SHORTCUT,
    VALIDATOR,
    EntryKeyError,
    line_of,
    valid_by_shortcut,
    validate_entry_mapping,
    schema_problems,
)
from beatd.config_yaml import LineDict, read_text, read_yaml
from beatd.durations import parse_duration
from beatd.entry import CatchUp, Entry, Options, Source, check_entry_name, entry_of
from beatd.errors import ConfigError
from beatd.payload import check_arguments, check_options
from beatd.schedules import Schedule
from beatd.schedules.cron import CronSchedule
from beatd.schedules.interval import EPOCH, IntervalSchedule
from beatd.schedules.once import OnceSchedule
from beatd.schedules.solar import SolarSchedule
from beatd.schedules.window import WindowedSchedule

__all__ = [
    "DEFAULT_BROKER", "DEFAULT_CATCHUP_LIMIT", "DEFAULT_STATE", "MIN_LEASE_TTL", "SCHEDULE_KEYS", "SCHEMA_SHORTCUT",
    "Config", "ConfigCheck", "LeaderConfig", "build_entry", "check_config", "load_config", "parse_instant", "parse_listen_address", "parse_zone",
    "validate_entry_mapping",
]
# The full validator, for callers that want every error (the SQL store's tests compare against it).
_VALIDATOR = VALIDATOR

DEFAULT_BROKER = "sqla+sqlite:///beatd-broker.sqlite3"
DEFAULT_STATE = "sqlite:///beatd-state.sqlite3"
DEFAULT_CATCHUP_LIMIT = 100
MIN_LEASE_TTL = timedelta(seconds=1)
SCHEDULE_KEYS = ("every", "cron", "solar", "at")
_ONLY_FOR_KIND = {"lat": "solar", "lon": "solar", "elevation": "solar", "day_match": "cron"}


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaderConfig:
    """Which lease backend decides who publishes (DESIGN.md, leader)."""

    backend: str = "none"
    url: str | None = None
    ttl: timedelta = timedelta(seconds=10)
    lock_file: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A loaded configuration: settings plus every entry from the file and its includes (and a Celery app's)."""

    # The YAML file; None when the configuration is a Celery app's alone (`--app` without `--config`).
    path: Path | None
    timezone: tzinfo = UTC
    broker: str = DEFAULT_BROKER
    # kombu transport options for the broker (a Celery app's broker_transport_options).
    broker_transport_options: dict[str, Any] = field(default_factory=dict)
    # The Celery app (MODULE[:ATTRIBUTE]) whose beat_schedule runs beside the file's entries.
    app: str | None = None
    state: str = DEFAULT_STATE
    leader: LeaderConfig = field(default_factory=LeaderConfig)
    catchup_limit: int = DEFAULT_CATCHUP_LIMIT
    # host:port of the /metrics, /healthz and /readyz endpoint; None: no HTTP server.
    http: str | None = None
    # Whether metrics carry an `entry` label (one series per entry); off for very many entries.
    metrics_per_entry: bool = True
    # Where else entries come from, as (kind, target) pairs: ("sql", URL), ("django", settings module)
    # or ("django_celery_beat", URL).
    stores: tuple[tuple[str, str], ...] = ()
    entries: tuple[Entry, ...] = ()
    # The top-level keys the file set: with an app, the app's broker and zone fill in the others.
    settings_given: frozenset[str] = frozenset()

    @property
    def place(self) -> str:
        """Where the settings come from, for messages: the file, or the app."""
        return str(self.path) if self.path is not None else f"app {self.app}"


# ---------------------------------------------------------------------------------------
# Entries


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
    for key, key_kind in _ONLY_FOR_KIND.items():
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


# ---------------------------------------------------------------------------------------
# Files, read fast


class _ReadWithLines(Exception):
    """The plain reader declined a file, or something is wrong: read with line numbers to say what."""


def _load_plain(path: Path) -> Config:
    """load_config's result, from the plain reader; any problem at all raises _ReadWithLines.

    Makes every check the line-aware path makes, so it returns a Config exactly when
    that path would return the same one.
    """
    problems = _Problems(keep_all=False)
    try:
        main = _read_plain(path)
        _check_settings(main.settings, included=False)
        settings = _converted_settings(main.settings, path, problems, frozenset())
        entries = _plain_entries(main.settings, main.entries, path, settings.zone)
        for included_path in _included_paths(main.settings, path, problems):
            included = _read_plain(included_path)
            _check_settings(included.settings, included=True)
            entries.extend(_plain_entries(included.settings, included.entries, included_path, settings.zone))
        _reject_duplicate_names(entries, problems)
        return _config_of(path, main.settings, settings, entries)
    except (NotPlain, ConfigError, ValueError) as exc:
        raise _ReadWithLines from exc


def _read_plain(path: Path) -> PlainFile:
    return read_plain(read_text(path), path)


def _check_settings(settings: LineDict, included: bool) -> None:
    if (included and set(settings) - INCLUDED_FILE_KEYS) or not valid_by_shortcut(settings):
        raise NotPlain("the schema does not surely accept the file")


def _plain_entries(settings: LineDict, streamed: Iterable[tuple[str, int, Any]] | None, path: Path,
                   default_zone: tzinfo) -> list[Entry]:
    """Entries of a plain-read file, each checked and built as it is read (its mapping is dropped at once)."""
    path_text = str(path)
    if streamed is None:
        streamed = _named_mappings(settings, path_text)
    entries = []
    alike = _AlikeEntries(default_zone)
    for name, line, raw in streamed:
        source = Source(path=path_text, line=line)
        entry = alike.entry(name, raw, source)
        if entry is None:
            if not isinstance(raw, Mapping) or not SCHEMA_SHORTCUT.passes(raw):
                raise NotPlain(f"entry {name!r}: the schema does not surely accept it")
            entry = build_entry(name, raw, default_zone, source)
            alike.remember(raw, entry)
        entries.append(entry)
    return entries


class _AlikeEntries:
    """Entries of one file that differ from an earlier one only in name, args and source, made from it.

    A big file repeats a few shapes: `task: tasks.add, every: 60, args: [16, i]`. The
    schema's answer and all that build_entry makes of a mapping besides name, args and
    source depend only on its other items, with their types (the schema tells 1 from
    True), as long as the schema checks only the type of args (a list). So an entry whose
    other items are all hashable and equal, type for type, to an earlier entry's is that
    entry with its own name, args and source: half the cost of checking and building it.
    """

    _MAX_REMEMBERED = 10_000

    def __init__(self, default_zone: tzinfo) -> None:
        self.default_zone = default_zone
        self.built: dict[tuple[Any, ...], Entry] = {}
        self.args_apart = "args" in SCHEMA_SHORTCUT.type_only_keys

    def _shape(self, raw: Any) -> tuple[Any, ...] | None:
        """The items but a list of args, typed, and whether args is there; None: no shape to share."""
        if type(raw) is not dict or not self.args_apart or type(raw.get("args", [])) is not list:
            return None
        shape: list[Any] = ["args" in raw]
        for key, value in raw.items():
            kind = type(value)
            if kind is float:  # -0.0 == 0.0 but they are not the same (and NaN equals nothing)
                return None
            if key != "args":
                shape.append((key, kind, value))
        return tuple(shape)

    def entry(self, name: str, raw: Any, source: Source) -> Entry | None:
        """The entry, if an earlier one has its shape; None: check and build it, then remember it."""
        shape = self._shape(raw)
        try:
            model = self.built.get(shape) if shape is not None else None  # type: ignore[arg-type]
        except TypeError:  # an unhashable value (kwargs, options): no shape
            return None
        if model is None:
            return None
        # What build_entry checks of the name and args, the two things that differ from the model.
        check_entry_name(name)
        check_arguments(raw.get("args"), None)
        return entry_of(name=name, task=model.task, schedule=model.schedule, args=tuple(raw.get("args", ())),
                        kwargs=model.kwargs, options=model.options, enabled=model.enabled, catchup=model.catchup,
                        jitter=model.jitter, timezone=model.timezone, description=model.description, source=source)

    def remember(self, raw: Any, entry: Entry) -> None:
        shape = self._shape(raw)
        if shape is None or len(self.built) >= self._MAX_REMEMBERED:
            return
        try:
            self.built[shape] = entry
        except TypeError:
            pass


def _named_mappings(document: LineDict, path_text: str) -> Iterator[tuple[str, int, Any]]:
    """(name, line, mapping) of each entry under a document's `entries:`."""
    raw_entries = document.get("entries")
    if not isinstance(raw_entries, LineDict):
        return
    for name, raw in raw_entries.items():
        yield str(name), raw_entries.key_lines.get(name, raw_entries.line), raw


# ---------------------------------------------------------------------------------------
# Files, read with line numbers


class _Problems:
    """What is wrong with a configuration: raised at once (load_config), or all kept (check_config).

    Kept problems come out in file order: the files in the order they were read, each by line.
    """

    def __init__(self, *, keep_all: bool) -> None:
        self.keep_all = keep_all
        self._found: list[tuple[int, int, str]] = []  # (file number, line, file:line: message)
        self._file_numbers: dict[str, int] = {}

    def reading(self, path: Path) -> None:
        self._file_numbers.setdefault(str(path), len(self._file_numbers))

    def add(self, path: Path | str, line: int, message: str, cause: BaseException | None = None) -> None:
        text = f"{path}:{line}: {message}"
        if not self.keep_all:
            raise ConfigError(text) from cause
        self._found.append((self._file_numbers.get(str(path), len(self._file_numbers)), line, text))

    def keep(self, error: ConfigError, path: Path) -> None:
        """A problem the YAML reader worded (file:line included), which ends the reading of its file."""
        if not self.keep_all:
            raise error
        self._found.append((self._file_numbers.get(str(path), len(self._file_numbers)), 0, str(error)))

    @property
    def texts(self) -> tuple[str, ...]:
        in_order = (text for _, _, text in sorted(self._found, key=lambda found: found[:2]))
        return tuple(dict.fromkeys(in_order))


@dataclass(frozen=True, slots=True)
class _CheckedFile:
    """A file read with lines, and what its schema problems rule out of further checks."""

    document: LineDict
    bad_settings: frozenset[str]
    bad_entries: frozenset[str]


def _load_with_lines(path: Path, problems: _Problems) -> Config | None:
    """The configuration, or None when problems (kept, not raised) were found."""
    main = _read_checked(path, problems, included=False)
    if main is None:
        return None
    settings = _converted_settings(main.document, path, problems, main.bad_settings)
    entries = _entries_of(main, path, settings.zone, problems)
    if "include" not in main.bad_settings:
        for included_path in _included_paths(main.document, path, problems):
            included = _read_checked(included_path, problems, included=True)
            if included is not None:
                entries.extend(_entries_of(included, included_path, settings.zone, problems))
    _reject_duplicate_names(entries, problems)
    return None if problems.texts else _config_of(path, main.document, settings, entries)


def _read_checked(path: Path, problems: _Problems, included: bool) -> _CheckedFile | None:
    """A file read and checked against the schema; None when it cannot be read as YAML."""
    problems.reading(path)
    try:
        document = read_yaml(path)
    except ConfigError as exc:
        problems.keep(exc, path)
        return None
    bad_settings, bad_entries = set(), set()
    for problem in schema_problems(document, included):
        problems.add(path, problem.line, problem.text)
        if problem.location[:1] == ("entries",) and len(problem.location) >= 2:
            bad_entries.add(str(problem.location[1]))
        else:
            bad_settings.add(str(problem.location[0]) if problem.location else "")
    return _CheckedFile(document=document, bad_settings=frozenset(bad_settings), bad_entries=frozenset(bad_entries))


def _entries_of(checked: _CheckedFile, path: Path, default_zone: tzinfo, problems: _Problems) -> list[Entry]:
    """The file's entries that build; the others are problems (entries the schema refused are left alone)."""
    path_text = str(path)
    entries = []
    for name, line, raw in _named_mappings(checked.document, path_text):
        if name in checked.bad_entries:
            continue
        try:
            entries.append(build_entry(name, raw, default_zone, Source(path=path_text, line=line)))
        except ValueError as exc:
            keys = list(getattr(exc, "keys", ()))
            problem_line = line_of(raw, keys) if keys and isinstance(raw, LineDict) else line
            problems.add(path, problem_line, f"entry {name!r}: {exc}", exc)
    return entries


# ---------------------------------------------------------------------------------------
# Settings and the whole load


def _included_paths(document: LineDict, path: Path, problems: _Problems) -> list[Path]:
    """Files named by `include` globs, relative to the including file, sorted per glob."""
    found: list[Path] = []
    for pattern in document.get("include") or []:
        matches = sorted(glob.glob(str(path.parent / pattern)))
        if not matches:
            problems.add(path, document.key_lines.get("include", document.line), f"include {pattern!r} matches no file")
        found.extend(Path(match) for match in matches)
    return found


@dataclass(frozen=True, slots=True)
class _Settings:
    """The settings that are converted, not taken as they are."""

    zone: tzinfo
    leader: LeaderConfig
    http: str | None


def _converted_settings(document: LineDict, path: Path, problems: _Problems, bad: frozenset[str]) -> _Settings:
    """The converted settings; one that the schema refused (in `bad`) or that fails to convert keeps its default."""

    def setting(key: str, convert: Any, default: Any) -> Any:
        if key not in document or key in bad:
            return default
        try:
            return convert(document[key])
        except ValueError as exc:
            problems.add(path, document.key_lines.get(key, document.line), f"{key}: {exc}", exc)
            return default

    return _Settings(zone=setting("timezone", parse_zone, UTC), leader=setting("leader", _leader_of, LeaderConfig()),
                     http=setting("http", _http_address, None))


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
    with _garbage_collection_paused():
        try:
            return _load_plain(path)
        except _ReadWithLines:
            config = _load_with_lines(path, _Problems(keep_all=False))
            assert config is not None  # problems were raised, not kept
            return config


@dataclass(frozen=True, slots=True)
class ConfigCheck:
    """What `beatd check` reports: the configuration, or every problem (`file:line: message`) in file order."""

    config: Config | None
    problems: tuple[str, ...]


def check_config(path: str | Path) -> ConfigCheck:
    """load_config, but with every problem of the file and its includes, not only the first.

    A file that cannot be read as YAML is one problem: nothing after its syntax error can
    be trusted. An entry the schema refuses is not built as well (its build would only
    repeat the problem); a setting that fails keeps its default, so the entries are still
    checked in the file's zone, or UTC.
    """
    path = Path(path)
    with _garbage_collection_paused():
        try:
            return ConfigCheck(config=_load_plain(path), problems=())
        except _ReadWithLines:
            problems = _Problems(keep_all=True)
            config = _load_with_lines(path, problems)
            return ConfigCheck(config=config, problems=problems.texts)


@contextmanager
def _garbage_collection_paused() -> Iterator[None]:
    """Loading makes millions of objects and no reference cycles worth collecting meanwhile.

    The cyclic collector would walk the growing heap again and again: 8 of 28 CPU
    seconds for 1,000,000 entries.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _config_of(path: Path, document: LineDict, settings: _Settings, entries: list[Entry]) -> Config:
    routes = document.get("routes")
    return Config(
        path=path,
        timezone=settings.zone,
        broker=document.get("broker", DEFAULT_BROKER),
        broker_transport_options=dict(document.get("broker_transport_options") or {}),
        app=document.get("app"),
        state=document.get("state", DEFAULT_STATE),
        leader=settings.leader,
        catchup_limit=document.get("catchup_limit", DEFAULT_CATCHUP_LIMIT),
        http=settings.http,
        metrics_per_entry=document.get("metrics_per_entry", True),
        stores=tuple((kind, target) for store in document.get("stores") or [] for kind, target in store.items()),
        entries=tuple(routed(entries, routes) if routes else entries),
        # Without `entries`: the plain reader keeps a block of entries apart from the settings.
        settings_given=frozenset(document) - {"entries"},
    )


# ---------------------------------------------------------------------------------------
# routes: Celery's dict form of task_routes


ROUTE_KEYS = ("queue", "exchange", "routing_key", "priority")


def route_for(task: str, routes: Mapping[str, Any]) -> dict[str, Any] | None:
    """The route of a task name as Celery's MapRoute finds it: the exact name first, then the
    first pattern with a `*` in the order written, matched with fnmatch (celery/app/routes.py).

    A route is a mapping of ROUTE_KEYS, or a queue name.
    """
    if task in routes:
        found = routes[task]
    else:
        found = next((route for pattern, route in routes.items()
                      if "*" in pattern and _glob(pattern).match(task)), None)
    if found is None:
        return None
    return {"queue": found} if isinstance(found, str) else dict(found)


@functools.lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


def routed(entries: Iterable[Entry], routes: Mapping[str, Any]) -> list[Entry]:
    """Entries with their task's route filled in, resolved once here: an entry's own options win,
    key by key, as Celery merges a route under the call's options."""
    result = []
    for entry in entries:
        route = route_for(entry.task, routes)
        if route:
            own = {key: getattr(entry.options, key) for key in ROUTE_KEYS}
            merged: dict[str, Any] = {key: own[key] if own[key] is not None else route.get(key) for key in ROUTE_KEYS}
            if merged != own:
                entry = dataclasses.replace(entry, options=dataclasses.replace(entry.options, **merged))
        result.append(entry)
    return result


def _reject_duplicate_names(entries: list[Entry], problems: _Problems) -> None:
    first_seen: dict[str, Entry] = {}
    for entry in entries:
        if entry.name in first_seen:
            first, source = first_seen[entry.name].source, entry.source
            assert source is not None  # entries of files have one
            problems.add(source.path, source.line, f"entry {entry.name!r}: the name is used twice; first at {first}")
        else:
            first_seen[entry.name] = entry
