"""YAML with line numbers for beatd's config files: safe_load semantics, ${VAR} interpolation, file:line errors.

`read_yaml` reads a file into `LineDict` mappings that remember where each key is, so
every later check can name the line: one walk over libyaml's event stream, whose
events carry their places. Only a text libyaml refuses is parsed again, by PyYAML's
pure-Python parser, whose words for syntax errors are the ones users see.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from beatd.errors import ConfigError

INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")

YAML_TAG = "tag:yaml.org,2002:"
# What an unquoted ${VAR} may turn into besides text (never null: an empty variable is "").
_INTERPOLATED_TYPES = {YAML_TAG + name for name in ("bool", "int", "float")}

_Mark = tuple[int, int]
"""A 0-based (line, column) place in a YAML file."""


class LineDict(dict[str, Any]):
    """A mapping that remembers the line of itself and of each of its keys.

    Slotted, with each key's line read from its mark: a file of 100,000 entries holds
    a few hundred thousand of these while it is checked.
    """

    __slots__ = ("line", "mark", "end_mark", "key_marks")
    line: int
    # Where the mapping and each key start and where the mapping ends, 0-based
    # (line, column): enough to tell which entry any place in the file belongs to.
    mark: _Mark
    end_mark: _Mark
    key_marks: dict[str, _Mark]

    def key_line(self, key: str) -> int:
        """The 1-based line of key, or of the mapping itself when it has no such key."""
        mark = self.key_marks.get(key)
        return self.line if mark is None else mark[0] + 1


def new_line_dict(line: int = 1) -> LineDict:
    data = LineDict()
    data.line, data.mark, data.end_mark, data.key_marks = line, (0, 0), (0, 0), {}
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


_SCALAR, _SEQUENCE, _MAPPING = "scalar", "sequence", "mapping"  # the node ids PyYAML's messages use
_STR, _INT, _MAP, _SEQ = (YAML_TAG + name for name in ("str", "int", "map", "seq"))
_NOT_DATA = ("the YAML tag {tag!r} is not allowed: beatd reads plain data "
             "(mappings, lists, text, numbers, true/false), never objects")


def _mark_of(event: yaml.Event) -> _Mark:
    return (event.start_mark.line, event.start_mark.column)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(YAML_TAG):] if tag.startswith(YAML_TAG) else tag


# safe_load's implicit types by first character, but ISO timestamps stay text (parse_instant
# reads `at`/`start`/`end`) and a lone `=` is text (YAML 1.1's "value" type has no constructor).
_IMPLICIT: dict[str | None, tuple[tuple[str, re.Pattern[str]], ...]] = {
    first: tuple((tag, pattern) for tag, pattern in resolvers
                 if tag not in (YAML_TAG + "timestamp", YAML_TAG + "value"))
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}


def _implicit_tag(text: str) -> str:
    """The tag of a plain scalar, as yaml.resolver.Resolver.resolve finds it (without its path resolvers, unused)."""
    for tag, pattern in _IMPLICIT.get(text[:1], ()) + _IMPLICIT.get(None, ()):
        if pattern.match(text):
            return tag
    return _STR


_ScalarEvent, _AliasEvent, _MappingEndEvent, _SequenceEndEvent = (
    yaml.ScalarEvent, yaml.AliasEvent, yaml.MappingEndEvent, yaml.SequenceEndEvent)
_UNREAD = object()
# safe_load's own constructors for the scalar types beatd takes; they read only node.value.
_SAFE = yaml.constructor.SafeConstructor()
_SCALAR_CONSTRUCTORS = {YAML_TAG + name: yaml.SafeLoader.yaml_constructors[YAML_TAG + name]
                        for name in ("null", "bool", "int", "float")}


@dataclass(slots=True)
class _Anchored:
    """What an anchor names: its value once built, and what messages about it as a key need."""

    value: Any
    kind: str
    text: str | None  # a scalar's text as written
    mark: _Mark
    building: bool


class _DocumentBuilder:
    """Builds the one document of a YAML event stream into plain data, LineDicts for mappings.

    Walking libyaml's events (each carries its place) instead of composing a node graph
    and constructing it keeps a 100,000-entry file fast. It reads data exactly as
    safe_load does (anchors, aliases, `<<` merge keys, the YAML 1.1 implicit types), with
    ${VAR} interpolation, timestamps left as text, and these collected in `problems` with
    their place rather than raised or let through: a repeated key, a key that YAML reads
    as a number or boolean, an unset variable, a Python or other non-data tag. What
    safe_load itself refuses (more than one document, an undefined alias, a bad merge)
    raises yaml.MarkedYAMLError with PyYAML's wording.
    """

    def __init__(self, parser: Any) -> None:
        # libyaml's CParser or PyYAML's parser; the builder knows where the stream ends.
        self._next: Callable[[], Any] = parser.get_event
        self.problems: list[_Problem] = []
        self._anchors: dict[str, _Anchored] = {}
        # Plain scalars without ${...} read the same every time: a big file repeats a few.
        self._plain: dict[str, Any] = {}

    def document(self) -> Any:
        """The single document's data; None for an empty stream."""
        self._next()  # StreamStartEvent
        event = self._next()
        if isinstance(event, yaml.StreamEndEvent):
            return None
        root_event = self._next()  # after DocumentStartEvent
        value = self._value(root_event)
        self._next()  # DocumentEndEvent
        event = self._next()
        if not isinstance(event, yaml.StreamEndEvent):
            raise yaml.composer.ComposerError("expected a single document in the stream", root_event.start_mark,
                                              "but found another document", event.start_mark)
        return value

    def _value(self, event: yaml.Event) -> Any:
        if type(event) is _ScalarEvent:
            return self._scalar(event)
        if type(event) is _AliasEvent:
            return self._alias(event).value
        kind = _MAPPING if isinstance(event, yaml.MappingStartEvent) else _SEQUENCE
        anchored = self._anchor(event, kind, None)
        tag = event.tag
        value: Any = None
        if tag is not None and tag != "!" and tag != (_MAP if kind is _MAPPING else _SEQ):
            self._not_data(event, tag)
        elif kind is _MAPPING:
            value = self._mapping(event, anchored)
        else:
            value = []
            if anchored is not None:
                anchored.value = value
            next_event, scalar, append = self._next, self._scalar, value.append
            item = next_event()
            while type(item) is not _SequenceEndEvent:
                append(scalar(item) if type(item) is _ScalarEvent else self._value(item))
                item = next_event()
        if anchored is not None:
            anchored.value, anchored.building = value, False
        return value

    def _anchor(self, event: yaml.Event, kind: str, text: str | None) -> _Anchored | None:
        if event.anchor is None:
            return None
        first = self._anchors.get(event.anchor)
        if first is not None:
            raise yaml.composer.ComposerError(
                f"found duplicate anchor {event.anchor!r}; first occurrence", _place(first.mark),
                "second occurrence", event.start_mark)
        anchored = self._anchors[event.anchor] = _Anchored(None, kind, text, _mark_of(event), True)
        return anchored

    def _alias(self, event: yaml.AliasEvent) -> _Anchored:
        anchored = self._anchors.get(event.anchor)
        if anchored is None:
            raise yaml.composer.ComposerError(None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
        if anchored.building:
            raise yaml.constructor.ConstructorError(None, None, "found unconstructable recursive node",
                                                    _place(anchored.mark))
        return anchored

    def _not_data(self, event: yaml.Event, tag: str) -> None:
        """Python objects, sets, binary and unknown tags: refused, never built (what is inside is skipped)."""
        self.problems.append(_Problem(_mark_of(event), _NOT_DATA.format(tag=_short_tag(tag))))
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            kept, self.problems = self.problems, []
            end = yaml.MappingEndEvent if isinstance(event, yaml.MappingStartEvent) else yaml.SequenceEndEvent
            next_event = self._next()
            while not isinstance(next_event, end):
                self._value(next_event)
                next_event = self._next()
            self.problems = kept
        return None

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        tag, text = event.tag, event.value
        if tag is None and event.implicit[0] and "${" not in text:
            value = self._plain.get(text, _UNREAD)
            if value is _UNREAD:
                problems = len(self.problems)
                value = self._typed(event, _implicit_tag(text), text)
                if len(self.problems) == problems:
                    self._plain[text] = value
        else:
            if tag is None or tag == "!":
                tag = _implicit_tag(text) if event.implicit[0] else _STR
            value = self._typed(event, tag, text)
        if event.anchor is not None:
            anchored = self._anchor(event, _SCALAR, text)
            assert anchored is not None
            anchored.value, anchored.building = value, False
        return value

    def _typed(self, event: yaml.ScalarEvent, tag: str, text: str) -> Any:
        """The scalar's value under its tag, as safe_load constructs it (interpolated if text)."""
        if tag == _STR:
            return self._interpolated(event, text)
        if tag == YAML_TAG + "timestamp":  # an explicit !!timestamp stays text too
            return text
        if tag == _INT and text.isdecimal() and text[0] != "0":  # the common case, without PyYAML's own parsing
            return int(text)
        constructor = _SCALAR_CONSTRUCTORS.get(tag)
        if constructor is None:
            if tag in (_MAP, _SEQ):
                raise yaml.constructor.ConstructorError(
                    None, None, f"expected a {_MAPPING if tag == _MAP else _SEQUENCE} node, but found scalar",
                    event.start_mark)
            self._not_data(event, tag)
            return None
        try:
            return constructor(_SAFE, yaml.ScalarNode(tag, text, event.start_mark, event.end_mark))
        except (ValueError, KeyError, TypeError, AttributeError):
            self.problems.append(_Problem(_mark_of(event), f"{text!r} is not a valid {_short_tag(tag)}"))
            return None

    def _interpolated(self, event: yaml.ScalarEvent, text: str) -> Any:
        if "${" not in text:
            return text
        value, missing = _interpolate(text)
        for name in missing:
            self.problems.append(_Problem(
                _mark_of(event), f"environment variable {name} is not set (write ${{{name}:-default}} to give a default)"))
        if missing or event.style:  # plain scalars: style None (Python parser) or "" (libyaml)
            return value
        # An unquoted ${VAR} is typed as YAML types the text it stands for, so
        # `enabled: ${FLAG:-true}` is a boolean and `priority: ${PRIO:-5}` a number.
        tag = _implicit_tag(value)
        if tag not in _INTERPOLATED_TYPES:
            return value
        return self._typed(event, tag, value)

    def _mapping(self, event: yaml.MappingStartEvent, anchored: _Anchored | None) -> LineDict:
        """A mapping as safe_load builds it: `<<` merged pairs first, a key written here overrides a merged one."""
        data = new_line_dict(event.start_mark.line + 1)
        data.mark = _mark_of(event)
        if anchored is not None:
            anchored.value = data
        key_marks, next_event, scalar = data.key_marks, self._next, self._scalar
        merged: list[LineDict] = []
        item = next_event()
        while type(item) is not _MappingEndEvent:
            if type(item) is _ScalarEvent and item.tag is None and item.implicit[0] and item.value == "<<":
                merged[:0] = self._merged(event, next_event())  # `<<` is the merge key wherever it is written
                item = next_event()
                continue
            kind, key, text, place = self._key(item)
            value_event = next_event()
            if type(key) is not str:
                self.problems.append(_Problem(place, _key_not_text(kind, text, key), data, key))
                self._skipped(value_event)
            elif key in key_marks:
                message = f"key {key!r} appears twice in one mapping; the first is at line {key_marks[key][0] + 1}"
                self.problems.append(_Problem(place, message, data, key))
                self._skipped(value_event)
            else:
                data[key] = scalar(value_event) if type(value_event) is _ScalarEvent else self._value(value_event)
                key_marks[key] = place
            item = next_event()
        data.end_mark = (item.end_mark.line, item.end_mark.column)
        if merged:
            _merge(data, merged)
        return data

    def _key(self, event: yaml.Event) -> tuple[str, Any, str | None, _Mark]:
        """(node kind, value, text as written if a scalar, place) of a mapping key; an alias's place is its anchor's."""
        if type(event) is _ScalarEvent:
            mark = event.start_mark
            return _SCALAR, self._scalar(event), event.value, (mark.line, mark.column)
        if isinstance(event, yaml.AliasEvent):
            anchored = self._alias(event)
            return anchored.kind, anchored.value, anchored.text, anchored.mark
        kind = (_SCALAR if isinstance(event, yaml.ScalarEvent)
                else _MAPPING if isinstance(event, yaml.MappingStartEvent) else _SEQUENCE)
        return kind, self._value(event), event.value if kind is _SCALAR else None, _mark_of(event)

    def _skipped(self, event: yaml.Event) -> None:
        """Read past a value that is not kept (its key is refused); what is wrong inside it goes unsaid, as in safe_load."""
        kept, self.problems = self.problems, []
        self._value(event)
        self.problems = kept

    def _merged(self, mapping: yaml.MappingStartEvent, event: yaml.Event) -> list[LineDict]:
        """The mappings a `<<` value merges, the one whose pairs go in first first (the first listed wins)."""
        if isinstance(event, yaml.SequenceStartEvent) and event.anchor is None and event.tag is None:
            mergees = []
            item = self._next()
            while not isinstance(item, yaml.SequenceEndEvent):
                mergees.append(self._mergee(mapping, item, "expected a mapping for merging"))
                item = self._next()
            return mergees[::-1]
        if isinstance(event, yaml.AliasEvent) and self._alias(event).kind is _SEQUENCE:
            items = self._alias(event).value
            if all(isinstance(item, LineDict) for item in items):
                return list(items[::-1])
            raise yaml.constructor.ConstructorError("while constructing a mapping", mapping.start_mark,
                                                    "expected a mapping for merging, but found scalar",
                                                    event.start_mark)
        return [self._mergee(mapping, event, "expected a mapping or list of mappings for merging")]

    def _mergee(self, mapping: yaml.MappingStartEvent, event: yaml.Event, expected: str) -> LineDict:
        if isinstance(event, yaml.AliasEvent):
            anchored = self._alias(event)
            kind, value, mark = anchored.kind, anchored.value, _place(anchored.mark)
        else:
            kind = (_SCALAR if isinstance(event, yaml.ScalarEvent)
                    else _MAPPING if isinstance(event, yaml.MappingStartEvent) else _SEQUENCE)
            value, mark = self._value(event), event.start_mark
        if kind is not _MAPPING:
            raise yaml.constructor.ConstructorError("while constructing a mapping", mapping.start_mark,
                                                    f"{expected}, but found {kind}", mark)
        return value if isinstance(value, LineDict) else new_line_dict()


def _merge(data: LineDict, merged: list[LineDict]) -> None:
    """Put the merged pairs before those written in the mapping, which win."""
    written = [(key, value, data.key_marks[key]) for key, value in data.items()]
    data.clear()
    data.key_marks.clear()
    for mergee in merged:
        for key, value in mergee.items():
            data[key] = value
            data.key_marks[key] = mergee.key_marks[key]
    for key, value, place in written:
        data[key] = value
        data.key_marks[key] = place


def _place(mark: _Mark) -> yaml.Mark:
    """A yaml.Mark for a (line, column) place, for PyYAML's errors."""
    return yaml.Mark("", 0, mark[0], mark[1], None, None)


def _key_not_text(kind: str, text: str | None, key: Any) -> str:
    if kind is _SCALAR:
        read_as = "null" if key is None else f"{type(key).__name__} {key!r}"
        return f"key {text!r} is read as {read_as}, not text; quote it: {text!r}"
    return f"a key must be text, not a {'list' if kind is _SEQUENCE else 'mapping'}"


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
        message = f"the name is used twice; first at {path}:{problem.mapping.key_line(name)}"
    raise ConfigError(f"{where}: entry {name!r}: {message}")


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
    """Parse the text of the file at `path` into a line-aware mapping (see read_yaml).

    libyaml's parser reads the text; a text it refuses is parsed again by PyYAML's own
    parser, whose words for a syntax error are the ones users see (and which takes the
    few texts that libyaml refuses and YAML allows).
    """
    try:
        builder = _DocumentBuilder(_LIBYAML_PARSER(text))
        document = _built(builder, text, path)
    except yaml.YAMLError:  # a syntax error, as libyaml words it (_built words safe_load's own refusals)
        try:  # PyYAML's reader checks the characters when it is made
            builder = _DocumentBuilder(yaml.SafeLoader(text))
            document = _built(builder, text, path)
        except yaml.YAMLError as exc:
            raise _invalid_yaml(exc, text, path) from exc
    if builder.problems:
        _raise_first_problem(document, path, builder.problems)
    if document is None:
        return new_line_dict()
    if not isinstance(document, LineDict):
        kind = "list" if isinstance(document, list) else type(document).__name__
        raise ConfigError(f"{path}:1: the file must be a mapping of settings and `entries:`, not a {kind}")
    return document


# PyYAML's own parser when it was built without libyaml (SafeLoader is used only as a parser here).
_LIBYAML_PARSER: Any = yaml.cyaml.CParser if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader


def _built(builder: _DocumentBuilder, text: str, path: Path) -> Any:
    """The builder's document; what safe_load refuses (its own errors, not libyaml's syntax errors) as a ConfigError."""
    try:
        return builder.document()
    except (yaml.composer.ComposerError, yaml.constructor.ConstructorError) as exc:
        raise _invalid_yaml(exc, text, path) from exc


def _invalid_yaml(exc: yaml.YAMLError, text: str, path: Path) -> ConfigError:
    """A YAML error in one line naming the file and line."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        message = exc.problem or exc.context
        if exc.problem and exc.context and exc.context_mark and exc.context_mark.line + 1 != line:
            message = f"{exc.problem} ({exc.context} at line {exc.context_mark.line + 1})"
        return ConfigError(f"{path}:{line}: invalid YAML: {message}")
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        return ConfigError(f"{path}:{line}: invalid YAML: character {exc.character:#x} is not allowed in YAML text")
    return ConfigError(f"{path}: invalid YAML: {exc}")
