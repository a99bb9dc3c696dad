"""load_config and check_config: a file and its includes, read, schema-checked and built into a Config.

One pass per file: beatd.config.document reads it with line numbers, beatd.config.schema
checks it against the shipped JSON Schema, beatd.config.build makes each entry; every
problem names its file and line.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

from beatd.config.build import build_entry, parse_zone
from beatd.config.document import LineDict, read_yaml
from beatd.config.routes import routed
from beatd.config.schema import SCHEMA_SHORTCUT, line_of, schema_problems
from beatd.config.settings import (
    DEFAULT_BROKER,
    DEFAULT_CATCHUP_LIMIT,
    DEFAULT_STATE,
    Config,
    LeaderConfig,
    http_address,
    leader_of,
)
from beatd.entry import Entry, Source, check_entry_name, entry_of
from beatd.errors import ConfigError
from beatd.gcpause import garbage_collection_paused
from beatd.payload import check_arguments

# ---------------------------------------------------------------------------------------
# Entries alike


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
        if not isinstance(raw, dict) or not self.args_apart or type(raw.get("args", [])) is not list:
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
        yield str(name), raw_entries.key_line(name), raw


# ---------------------------------------------------------------------------------------
# Files, read with line numbers, checked, built


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


def _load(path: Path, problems: _Problems) -> Config | None:
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
    alike = _AlikeEntries(default_zone)
    for name, line, raw in _named_mappings(checked.document, path_text):
        if name in checked.bad_entries:
            continue
        source = Source(path=path_text, line=line)
        try:
            entry = alike.entry(name, raw, source)
            if entry is None:
                entry = build_entry(name, raw, default_zone, source)
                alike.remember(raw, entry)
        except ValueError as exc:
            keys = list(getattr(exc, "keys", ()))
            problem_line = line_of(raw, keys) if keys and isinstance(raw, LineDict) else line
            problems.add(path, problem_line, f"entry {name!r}: {exc}", exc)
        else:
            entries.append(entry)
    return entries


# ---------------------------------------------------------------------------------------
# Settings and the whole load


def _included_paths(document: LineDict, path: Path, problems: _Problems) -> list[Path]:
    """Files named by `include` globs, relative to the including file, sorted per glob."""
    found: list[Path] = []
    for pattern in document.get("include") or []:
        matches = sorted(glob.glob(str(path.parent / pattern)))
        if not matches:
            problems.add(path, document.key_line("include"), f"include {pattern!r} matches no file")
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
            problems.add(path, document.key_line(key), f"{key}: {exc}", exc)
            return default

    return _Settings(zone=setting("timezone", parse_zone, UTC), leader=setting("leader", leader_of, LeaderConfig()),
                     http=setting("http", http_address, None))



def load_config(path: str | Path) -> Config:
    """Load a configuration file and everything it includes.

    Raises:
        ConfigError: with `file:line: entry 'name': message` for the first problem found.
    """
    with garbage_collection_paused():
        config = _load(Path(path), _Problems(keep_all=False))
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
    problems = _Problems(keep_all=True)
    with garbage_collection_paused():
        config = _load(Path(path), problems)
    return ConfigCheck(config=config, problems=problems.texts)


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
        settings_given=frozenset(document) - {"entries"},
    )


def _reject_duplicate_names(entries: list[Entry], problems: _Problems) -> None:
    first_seen: dict[str, Entry] = {}
    for entry in entries:
        if entry.name in first_seen:
            first, source = first_seen[entry.name].source, entry.source
            assert source is not None  # entries of files have one
            problems.add(source.path, source.line, f"entry {entry.name!r}: the name is used twice; first at {first}")
        else:
            first_seen[entry.name] = entry
