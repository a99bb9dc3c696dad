"""YAML with line numbers for beatd's config files: safe_load semantics, ${VAR} interpolation, file:line errors.

`read_yaml` parses a file into `LineDict` mappings that remember where each key is, so
every later check can name the line. libyaml's parser does the work when PyYAML has it;
the pure-Python parser words the syntax errors users see.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from beatd.errors import ConfigError

INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")

YAML_TAG = "tag:yaml.org,2002:"
# What an unquoted ${VAR} may turn into besides text (never null: an empty variable is "").
_INTERPOLATED_TYPES = {YAML_TAG + name for name in ("bool", "int", "float")}

_Mark = tuple[int, int]
"""A 0-based (line, column) place in a YAML file."""


class LineDict(dict[str, Any]):
    """A mapping that remembers the line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]
    # Where the mapping and each key start and where the mapping ends, 0-based
    # (line, column): enough to tell which entry any place in the file belongs to.
    mark: _Mark = (0, 0)
    end_mark: _Mark = (0, 0)
    key_marks: dict[str, _Mark]


def new_line_dict(line: int = 1) -> LineDict:
    data = LineDict()
    data.line, data.key_lines, data.key_marks = line, {}, {}
    return data


@dataclass(frozen=True, slots=True)
class _Problem:
    """Something wrong that the loader noticed; reported after loading, when the entry it is in is known."""

    mark: _Mark
    message: str
    # For a problem with a mapping key: the mapping and the key, so that a repeated or
    # unusable entry name is reported as that entry.
    mapping: LineDict | None = None
    key: Any = None


def _mark_of(node: yaml.Node) -> _Mark:
    return (node.start_mark.line, node.start_mark.column)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(YAML_TAG):] if tag.startswith(YAML_TAG) else tag


class LineLoader(yaml.SafeLoader):
    """safe_load with line numbers, ${VAR} interpolation, and ISO timestamps left as strings.

    Problems that safe_load would raise on, or let through silently (a repeated key, a key
    that YAML reads as a number or boolean, an unset variable, a Python or other non-data
    tag), are collected in `problems` with their place, so the caller can name the entry.
    """

    # Keep timestamps as strings so `at`/`start`/`end` are read one way, in one place;
    # and read a lone `=` as text (YAML 1.1's "value" type has no constructor).
    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {
        first: [(tag, pattern) for tag, pattern in resolvers
                if tag not in (YAML_TAG + "timestamp", YAML_TAG + "value")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    # A copy of its own, so the constructors added below leave yaml.SafeLoader alone.
    yaml_constructors: ClassVar[dict[Any, Any]] = dict(yaml.SafeLoader.yaml_constructors)

    def __init__(self, stream: str, path: Path) -> None:
        super().__init__(stream)
        self.path = path
        self.problems: list[_Problem] = []

    def construct_line_mapping(self, node: yaml.MappingNode) -> Iterator[LineDict]:
        # `<<: *anchor` merge keys, as safe_load reads them: flatten_mapping puts the
        # merged pairs first, and a key written here overrides a merged one.
        written = sum(1 for key_node, _ in node.value if key_node.tag != YAML_TAG + "merge")
        self.flatten_mapping(node)
        merged = len(node.value) - written
        data = new_line_dict(node.start_mark.line + 1)
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


LineLoader.add_constructor(YAML_TAG + "map", LineLoader.construct_line_mapping)
LineLoader.add_constructor(YAML_TAG + "str", LineLoader.construct_interpolated_str)
LineLoader.add_constructor(YAML_TAG + "timestamp", LineLoader.construct_timestamp_as_str)
for _tag in ("int", "float", "bool"):
    LineLoader.add_constructor(YAML_TAG + _tag, LineLoader.construct_checked_scalar)
for _tag in ("set", "omap", "pairs", "binary"):
    LineLoader.add_constructor(YAML_TAG + _tag, LineLoader.construct_not_data)
LineLoader.add_constructor(None, LineLoader.construct_not_data)


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

    return INTERPOLATION.sub(value_of, text), missing


def _entry_name_at(document: Any, problem: _Problem) -> str | None:
    """The name of the entry whose text holds the problem's place, if any."""
    entries = document.get("entries") if isinstance(document, LineDict) else None
    if not isinstance(entries, LineDict):
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

    class _LibyamlLineLoader(yaml.cyaml.CParser, LineLoader):  # type: ignore[misc]
        """LineLoader on libyaml's parser, several times faster; constructors and resolvers are LineLoader's.

        Syntax errors are worded differently by libyaml, so a file it refuses is parsed
        again by LineLoader for the message users see.
        """

        def __init__(self, stream: str, path: Path) -> None:
            yaml.cyaml.CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self.path = path
            self.problems = []

    _FIRST_LOADER: type[LineLoader] = _LibyamlLineLoader
else:
    _FIRST_LOADER = LineLoader


def read_text(path: Path) -> str:
    """The file's text; unreadable or non-UTF-8 files are a ConfigError naming the file."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        bad_byte = exc.object[exc.start]
        raise ConfigError(f"{path}: the file is not UTF-8 text (byte {bad_byte:#04x} at offset {exc.start})") from exc


def read_yaml(path: Path) -> LineDict:
    """Parse one file into a line-aware mapping, turning YAML errors into file:line messages."""
    return parse_text(read_text(path), path)


def parse_text(text: str, path: Path) -> LineDict:
    """Parse the text of the file at `path` into a line-aware mapping (see read_yaml)."""
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
        return new_line_dict()
    if not isinstance(document, LineDict):
        kind = "list" if isinstance(document, list) else type(document).__name__
        raise ConfigError(f"{path}:1: the file must be a mapping of settings and `entries:`, not a {kind}")
    return document


def _parse_for_messages(text: str, path: Path) -> tuple[Any, list[_Problem]]:
    """Parse with the pure-Python loader, whose YAML errors are the ones users see."""
    loader: LineLoader | None = None
    try:
        loader = LineLoader(text, path)
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


