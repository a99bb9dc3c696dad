"""A fast reader for config files written in the plain, common subset of YAML; big files load in seconds.

A schedule file with many entries is mostly lines such as `    every: 30s` or
`    args: [16, 1234]`: block mappings whose values are plain or quoted scalars or
one-line flow lists and mappings. This reader takes exactly that subset, line by line
with one regular expression, and builds no YAML node graph, no marks and no per-key
line tables, so 1,000,000 entries stream through in seconds and in little memory.

It is a fast path, never a second dialect: every scalar is typed by the same resolver
and constructors as config_yaml.LineLoader (so `on`, `1.5`, `0x1f`, `~` and `${VAR}`
come out as they would there). An entry with a line outside the subset (a block list,
a tag, a multi-line scalar, an escape, ...) is parsed alone by config_yaml's parser;
what only the whole file can settle (an anchor or alias, a tab or carriage return
anywhere, a line that fits no entry) makes it give up with NotPlain, and the caller
reads the file with config_yaml, which also words every error. Top-level settings
other than a block `entries:` are few lines, so they always go through config_yaml's
parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from beatd.config.document import YAML_TAG, LineDict, LineLoader, parse_text


class NotPlain(Exception):
    """The text is outside the subset this reader takes; read it with config_yaml instead."""


@dataclass(frozen=True, slots=True)
class PlainFile:
    """A config file as read by read_plain.

    `settings` holds every top-level key except a block-style `entries:`, whose
    entries `entries` yields one at a time as (name, line of the name, mapping);
    `entries` is None when the file has no block-style `entries:` or it is empty.
    """

    settings: LineDict
    entries: Iterator[tuple[str, int, Any]] | None


# Characters YAML reads as something other than text on one line (tabs, carriage
# returns, the other line breaks \x85 \u2028 \u2029, a byte-order mark, control
# characters): any of them anywhere sends the file to config_yaml.
_OUTSIDE_SUBSET = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
# The same for ASCII text, as bytes to delete (what is left is outside), checked a chunk
# at a time: four times faster than the regular expression on a 70 MB file.
_ASCII_INSIDE_SUBSET = bytes([ord("\n"), *range(0x20, 0x7F)])

# A plain scalar in a block mapping, as YAML scans it: it may not start with an indicator
# (a negative number may), a word may not start with `#` (a comment), and a `:` must be
# inside a word. Patterns use re.ASCII: YAML's blanks are ASCII ones (and tabs, not taken).
_PLAIN_START = r"[^\s\-?:,\[\]{}#&*!|>'\"%@`]"
_WORD = r"[^\s:]*(?::[^\s:]+)*"
_WORDS = _WORD + r"(?: +[^\s#:]" + _WORD + ")*"
_BLOCK_PLAIN = r"(?:" + _PLAIN_START + r"|-(?=[0-9.]))" + _WORDS
# A mapping key: quoted without escapes, or plain (so never `? `, `- `, `&a`, `!tag`).
_KEY = r"\"[^\"\\\n]*\"|'[^'\n]*'|" + _PLAIN_START + _WORDS
# One line without its line break: an optional `key:` with an optional value, an optional
# comment. Groups: indentation, key, value (quoted, [flow list], {flow mapping} or plain).
_LINE = (r"( *)(?:(" + _KEY + r"):(?: +(\"[^\"\\\n]*\"|'[^'\n]*'|\[[^\[\]{}\n#]*\]|\{[^\[\]{}\n#]*\}|"
         + _BLOCK_PLAIN + r"))?(?: +#[^\n]*)? *|(?:#[^\n]*)?)")
# Every line in turn, with its line break: one outside the subset lands whole in group 4.
_LINES = re.compile(_LINE + r"\n|([^\n]*)\n", re.ASCII)
# Where a line starts in column 0 and is not a comment: a top-level key, or not plain; and
# how it starts. Values of settings other than a block `entries:` are config_yaml's to read.
_TOP_LINE_START = re.compile(r"\n(?=[^ \n#])")
_TOP_KEY = re.compile(r"(" + _KEY + r"):(?: +(#.*)?|$)(.*)", re.ASCII)
_BLANK_LINES = re.compile(r"(?: *(?:#[^\n]*)?\n)*")
# How much of the entries' text one findall covers (bounds the list of lines it makes).
_CHUNK_CHARS = 1 << 18

# Inside one-line [..] and {..}: no colons in plain scalars, nothing nested.
_FLOW_PLAIN = r"(?:[^\s\-?:,\[\]{}#&*!|>'\"%@`]|-(?=[0-9.]))[^\s:,\[\]{}#'\"]*(?: +[^\s:,\[\]{}#'\"]+)*"
_FLOW_SCALAR = r"\"[^\"\\]*\"|'[^']*'|" + _FLOW_PLAIN
_FLOW_LIST_ITEM = re.compile(r" *(" + _FLOW_SCALAR + r") *(?:,|\Z)", re.ASCII)
_FLOW_MAPPING_ITEM = re.compile(r" *(" + _FLOW_SCALAR + r"): +(" + _FLOW_SCALAR + r") *(?:,|\Z)", re.ASCII)
# A flow list of plain scalars only, which splitting at the commas takes apart; and one
# of decimal integers only (args: [16, 1234]), which int() reads, spaces and all.
_PLAIN_FLOW_LIST = re.compile(r" *(?:" + _FLOW_PLAIN + r" *(?:, *" + _FLOW_PLAIN + r" *)*)?", re.ASCII)
_DECIMAL = r"-?(?:0|[1-9][0-9]*)"
_DECIMAL_FLOW_LIST = re.compile(r" *" + _DECIMAL + r" *(?:, *" + _DECIMAL + r" *)*")

# What LineLoader's resolver makes of a plain scalar depends on its first character; one
# not in this set is always text (PyYAML registers its implicit types by first character;
# a resolver for any first character, which PyYAML does not register, switches this reader off).
_RESOLVED_FIRST = frozenset(first for first in LineLoader.yaml_implicit_resolvers if first)
_TYPED_EVERYWHERE = None in LineLoader.yaml_implicit_resolvers
_CHECKED_KEY_FIRST = _RESOLVED_FIRST | frozenset("\"'")
_STR_TAG = YAML_TAG + "str"
# Decimal integers, which LineLoader's int constructor reads as int() does (no octal, no _).
_ONE_DECIMAL = re.compile(_DECIMAL)
_NO_MARK = yaml.Mark("", 0, 0, 0, None, None)
# The scalar cache of one file's reading is cleared when it grows this big.
_MAX_REMEMBERED = 100_000
_MISSING = object()


def read_plain(text: str, path: Path) -> PlainFile:
    """Read a config file's text if it is in the plain subset.

    Raises:
        NotPlain: the text is outside the subset; read it with config_yaml.read_yaml.
        ConfigError: the top-level settings are not valid YAML (config_yaml words it).
    """
    if _TYPED_EVERYWHERE:
        raise NotPlain("PyYAML types scalars whatever their first character")
    if _outside_subset(text):
        raise NotPlain("characters outside the subset")
    return _PlainReader(path).read(text)


def _outside_subset(text: str) -> bool:
    if not text.isascii():
        return _OUTSIDE_SUBSET.search(text) is not None
    return any(text[start:start + _CHUNK_CHARS].encode("ascii").translate(None, _ASCII_INSIDE_SUBSET)
               for start in range(0, len(text), _CHUNK_CHARS))


class _PlainReader:
    """One file's reading: the scalar cache and the LineLoader that types scalars."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.loader = LineLoader("", path)
        # Scalar text as written (quotes included) -> its value. Besides saving the typing,
        # this makes entries share one object per distinct value (a task name, say).
        self.scalars: dict[str, Any] = {}
        self.text_keys: set[str] = set()  # plain keys that LineLoader's resolver reads as text

    def read(self, text: str) -> PlainFile:
        tops = [match.end() for match in _TOP_LINE_START.finditer(text)]
        if text[:1] not in ("", " ", "\n", "#"):
            tops.insert(0, 0)
        if not tops or _BLANK_LINES.match(text).end() != tops[0]:  # type: ignore[union-attr]
            raise NotPlain("content before the first top-level key")
        settings_text: list[str] = []
        entries: Iterator[tuple[str, int, Any]] | None = None
        entries_seen = False
        for number, start in enumerate(tops):
            end = tops[number + 1] if number + 1 < len(tops) else len(text)
            line_end = text.find("\n", start, end)
            line = _TOP_KEY.fullmatch(text, start, end if line_end < 0 else line_end)
            if line is None:
                raise NotPlain("a top-level line that is not `key: value`")
            if self.key(line.group(1)) == "entries":
                if entries_seen:
                    raise NotPlain("entries twice")
                entries_seen = True
                if not line.group(3).strip(" "):
                    body = end if line_end < 0 else line_end + 1
                    entries = self.entries(text, body, end, text.count("\n", 0, body) + 1)
                    continue
            settings_text.append(text[start:end])
        return PlainFile(settings=parse_text("".join(settings_text), self.path), entries=entries)

    def entries(self, text: str, start: int, end: int, first_line: int) -> Iterator[tuple[str, int, Any]]:
        """The block mapping under `entries:`, one entry at a time, lines checked as they come.

        An entry with a line outside the subset (a block list, an anchor, a multi-line
        text, ...) is handed whole to config_yaml's parser (see _fragment), so one odd
        entry does not send a big file down the slow path.
        """
        # `level` is the innermost open block mapping and `outer` the ones around it, with
        # their indentation; the outermost, `current`, holds only the entry being read,
        # which is yielded once the next one starts.
        current: dict[str, Any] = {}
        level, level_indent = current, -1
        outer: list[tuple[dict[str, Any], int]] = []
        # Whether the last key had no value on its line: a block mapping may follow.
        pending, pending_key = False, ""
        scalars, text_keys = self.scalars, self.text_keys
        name_line = line_number = first_line - 1
        entry_indent = -1
        # While > 0: the first line of an entry that config_yaml reads; its lines are skipped.
        fragment_line = 0
        cursor = [first_line, start]  # a line and where it starts in text, moved forward only
        for lines in _chunks_of_lines(text, start, end):
            for indentation, raw_key, raw_value, outside in lines:
                line_number += 1
                if not raw_key and not outside:
                    continue
                indent = len(indentation) if raw_key else len(outside) - len(outside.lstrip(" "))
                if fragment_line:
                    if indent > entry_indent:
                        continue
                    yield self._fragment(text, cursor, fragment_line, line_number, end)
                    fragment_line = 0
                try:
                    if outside:
                        raise NotPlain(f"line {line_number}")
                    key = raw_key if raw_key[0] not in _CHECKED_KEY_FIRST or raw_key in text_keys else self.key(raw_key)
                    if not raw_value:
                        value = None
                    else:
                        value = scalars.get(raw_value, _MISSING)
                        if value is _MISSING:
                            value = self.value(raw_value)
                    if pending and indent > level_indent:
                        mapping: dict[str, Any] = {}
                        level[pending_key] = mapping
                        outer.append((level, level_indent))
                        level, level_indent = mapping, indent
                    elif indent != level_indent or level is current:
                        if level_indent < 0:
                            level_indent = entry_indent = indent
                        while indent < level_indent and outer:
                            level, level_indent = outer.pop()
                        if indent != level_indent:
                            raise NotPlain(f"line {line_number}: indentation")
                        if level is current:
                            if current:
                                [(name, entry)] = current.items()
                                yield name, name_line, entry
                                current.clear()
                            name_line = line_number
                        elif key in level:
                            raise NotPlain(f"line {line_number}: a repeated key")
                    elif key in level:
                        raise NotPlain(f"line {line_number}: a repeated key")
                    level[key] = value
                    pending, pending_key = not raw_value, key
                except NotPlain:
                    # The entry this line is in goes to config_yaml: from its name line, or
                    # from this line if it is where an entry starts.
                    if entry_indent < 0:
                        entry_indent = indent
                    if indent > entry_indent and current:
                        fragment_line = name_line
                    elif indent == entry_indent:
                        if current:
                            [(name, entry)] = current.items()
                            yield name, name_line, entry
                        fragment_line = line_number
                    else:
                        raise
                    current.clear()
                    outer.clear()
                    level, level_indent, pending = current, entry_indent, False
        if fragment_line:
            yield self._fragment(text, cursor, fragment_line, line_number + 1, end)
        elif current:
            [(name, entry)] = current.items()
            yield name, name_line, entry

    def _fragment(self, text: str, cursor: list[int], first: int, stop: int, end: int) -> tuple[str, int, Any]:
        """The one entry written on lines first to stop - 1, as config_yaml reads it: (name, line, mapping).

        On its own the entry's text means what it means in the file: it is a whole entry
        of the block mapping (its lines are more indented than its name, up to the next
        name), and anything it cannot mean alone (an alias to another entry's anchor, a
        text or list cut short) is an error here, which sends the file to config_yaml.
        """
        begin = _line_start(text, cursor, first, end)
        written = text[begin:_line_start(text, cursor, stop, end)]
        if "&" in written or "*" in written:  # anchors are the file's: one entry cannot tell a repeated one
            raise NotPlain(f"line {first}: an anchor or alias, maybe")
        document = parse_text(written, self.path)
        if len(document) != 1:
            raise NotPlain(f"line {first}: not one entry")
        [(name, mapping)] = document.items()
        return name, first + document.key_lines[name] - 1, mapping

    def key(self, raw: str) -> str:
        """A mapping key: text, as LineLoader would read it, or NotPlain."""
        if raw[0] in "\"'":
            if "${" in raw:
                raise NotPlain("a key with ${")
            return raw[1:-1]
        if raw[0] in _RESOLVED_FIRST and raw not in self.text_keys:
            if self.loader.resolve(yaml.ScalarNode, raw, (True, False)) != _STR_TAG:
                raise NotPlain(f"key {raw!r} is not text")
            if len(self.text_keys) >= _MAX_REMEMBERED:
                self.text_keys.clear()
            self.text_keys.add(raw)
        return raw

    def value(self, raw: str) -> Any:
        first = raw[0]
        if first == "[":
            return self.flow_list(raw[1:-1])
        if first == "{":
            return self.flow_mapping(raw[1:-1])
        return self.scalar(raw)

    def scalar(self, raw: str) -> Any:
        """The value of a plain scalar, or of a quoted one (raw still in its quotes)."""
        value = self.scalars.get(raw, _MISSING)
        if value is not _MISSING:
            return value
        first = raw[0]
        if (first == "-" or "0" <= first <= "9") and _ONE_DECIMAL.fullmatch(raw):
            # Remember small numbers only: unique ones (args: [16, 1234]) would fill the cache.
            if len(raw) > 4:
                return int(raw)
            value = int(raw)
        elif first in "\"'":
            value = self.construct(_STR_TAG, raw[1:-1], first) if "${" in raw else raw[1:-1]
        elif first not in _RESOLVED_FIRST and "${" not in raw:
            value = raw
        else:
            value = self.construct(self.loader.resolve(yaml.ScalarNode, raw, (True, False)), raw, None)
        if len(self.scalars) >= _MAX_REMEMBERED:
            self.scalars.clear()
        self.scalars[raw] = value
        return value

    def construct(self, tag: str, text: str, style: str | None) -> Any:
        """What LineLoader makes of the scalar; anything it would report sends the file to config_yaml."""
        loader = self.loader
        try:
            value = loader.construct_object(yaml.ScalarNode(tag, text, _NO_MARK, _NO_MARK, style=style), deep=True)
        except yaml.YAMLError as exc:
            raise NotPlain(str(exc)) from exc
        finally:
            loader.constructed_objects.clear()
        if loader.problems:
            raise NotPlain(loader.problems[0].message)
        return value

    def flow_list(self, inside: str) -> list[Any]:
        if _DECIMAL_FLOW_LIST.fullmatch(inside):
            return [int(item) for item in inside.split(",")]
        if _PLAIN_FLOW_LIST.fullmatch(inside):
            return [self.scalar(item.strip(" ")) for item in inside.split(",")] if inside.strip(" ") else []
        items = []
        position = 0
        for match in _FLOW_LIST_ITEM.finditer(inside):
            if match.start() != position:
                raise NotPlain("a flow list")
            position = match.end()
            items.append(self.scalar(match.group(1)))
        _check_flow_end(inside, position)
        return items

    def flow_mapping(self, inside: str) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        position = 0
        for match in _FLOW_MAPPING_ITEM.finditer(inside):
            if match.start() != position:
                raise NotPlain("a flow mapping")
            position = match.end()
            raw_key, raw_value = match.groups()
            key = self.key(raw_key)
            if key in mapping:
                raise NotPlain("a repeated key")
            mapping[key] = self.scalar(raw_value)
        _check_flow_end(inside, position)
        return mapping


def _line_start(text: str, cursor: list[int], line: int, end: int) -> int:
    """Where a line starts, counting on from cursor (a line and its start), which moves there."""
    while cursor[0] < line and cursor[1] < end:
        found = text.find("\n", cursor[1], end)
        cursor[1] = end if found < 0 else found + 1
        cursor[0] += 1
    return cursor[1]


def _chunks_of_lines(text: str, start: int, end: int) -> Iterator[list[tuple[str, str, str, str]]]:
    """_LINES.findall over text[start:end] a chunk at a time: (indentation, key, value, outside) per line."""
    if end == len(text) and end > start and not text.endswith("\n"):
        last = text.rfind("\n", start, end) + 1 or start
        yield from _chunks_of_lines(text, start, last)
        yield _LINES.findall(text[last:end] + "\n")
        return
    while start < end:
        stop = text.rfind("\n", start, min(start + _CHUNK_CHARS, end)) + 1
        if stop <= start:  # one line longer than a chunk
            stop = end
        yield _LINES.findall(text, start, stop)
        start = stop


def _check_flow_end(inside: str, position: int) -> None:
    # Everything read, and no trailing comma (YAML allows one; this reader need not).
    if position != len(inside) and inside[position:].strip(" ") or inside.rstrip(" ").endswith(","):
        raise NotPlain("a flow collection")
