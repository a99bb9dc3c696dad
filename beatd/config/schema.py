"""Check config documents against the shipped JSON Schema and word each problem as file:line: entry 'name': message."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jsonschema

from beatd.config.document import LineDict
from beatd.config.schema_shortcut import SchemaShortcut


class EntryKeyError(ValueError):
    """A ValueError about one key of an entry (a path for nested keys), so the error can point at its line."""

    def __init__(self, keys: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.keys = keys



def _schema() -> dict[str, Any]:
    return json.loads(resources.files("beatd.config").joinpath("config.schema.json").read_text(encoding="utf-8"))


_SCHEMA = _schema()
VALIDATOR = jsonschema.Draft202012Validator(_SCHEMA)
# Most entries are valid; this answers that cheaply and exactly (see beatd.schema_shortcut).
SCHEMA_SHORTCUT = SchemaShortcut(_SCHEMA)
_DURATION_SCHEMA = _SCHEMA["$defs"]["duration"]
_ENTRY_SCHEMA = _SCHEMA["$defs"]["entry"]
INCLUDED_FILE_KEYS = {"entries"}


def line_of(document: LineDict, path_in_document: list[Any]) -> int:
    """The line of the deepest mapping key on the path, or of the nearest mapping."""
    node: Any = document
    line = document.line
    for key in path_in_document:
        if isinstance(node, LineDict) and key in node:
            line = node.key_line(str(key))
        elif isinstance(node, LineDict):
            line = node.line
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
    return line


def _describe_schema_error(error: jsonschema.ValidationError) -> list[tuple[list[Any], str]]:
    """Where a schema error points (as a path) and a message in our words: one per unknown key, else one."""
    location = list(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted((error.schema if isinstance(error.schema, dict) else {}).get("properties", {}))
        return [(location + [key], _unknown_key_message(location, key, allowed))
                for key in error.instance if key not in allowed]
    return [(location, _describe_one(error, location))]


def _unknown_key_message(location: list[Any], key: Any, allowed: list[str]) -> str:
    """`unknown key 'x'; allowed keys: ...`; for a likely typo in an entry, its path there and the key meant.

    Top-level settings get no hint: their message is pinned word for word by the tests.
    """
    listed = f"allowed keys: {', '.join(allowed)}"
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.7) if location[:1] == ["entries"] else []
    if not close:
        return f"unknown key {key!r}; {listed}"
    shown = ".".join(str(part) for part in [*location[2:], key])
    return f"unknown key {shown!r}; did you mean {close[0]!r}? {listed}"


def _describe_one(error: jsonschema.ValidationError, location: list[Any]) -> str:
    """Any other schema error in our words, naming the key and the value."""
    what = f"{location[-1]!s}" if location else "the file"
    instance = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in instance]
        return f"missing required key {missing[0]!r}"
    if error.validator == "enum":
        choices = ", ".join(str(choice) for choice in error.validator_value)
        return f"{what} {instance!r} is not one of {choices}"
    if error.validator == "type" and len(location) == 2 and location[0] == "entries":
        return f"the entry must be a mapping of keys such as task and every, not {instance!r}"
    if error.validator == "type":
        expected = error.validator_value
        expected_words = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{what} must be {_article(expected_words)}, not {instance!r}"
    if error.validator in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            return f"{what} {instance!r} is outside {low}..{high}"
        if low is not None:
            return f"{what} {instance!r} must be at least {low}"
        return f"{what} {instance!r} must be at most {high}"
    if error.validator == "minLength":
        return f"{what} must not be empty"
    if error.validator == "oneOf" and schema == _DURATION_SCHEMA:
        if isinstance(instance, (int, float)) and not isinstance(instance, bool) and instance <= 0:
            return f"{what} {instance!r} must be greater than zero"
        return f"{what} {instance!r} is not a duration; write seconds (30, 2.5) or 30s, 5m, 1h30m, 2d"
    return f"{what}: {error.message}"


def _reported_by_build_entry(error: jsonschema.ValidationError) -> bool:
    """The schema's which-schedule-keys rules, which build_entry words better and places on the key's line."""
    return error.validator in ("oneOf", "dependentRequired") and error.schema == _ENTRY_SCHEMA


def _article(type_name: str) -> str:
    words = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "a whole number",
             "number": "a number", "boolean": "true or false", "object or null": "a mapping"}
    return words.get(type_name, type_name)


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """One structural problem of a document: its line, the path to it, and `entry 'name': message` or `message`."""

    line: int
    location: tuple[Any, ...]
    text: str


def schema_problems(document: LineDict, included: bool) -> list[SchemaProblem]:
    """Every structural problem the shipped JSON Schema finds, in file order (the outermost first on a line)."""
    if included:
        extra = [key for key in document if key not in INCLUDED_FILE_KEYS]
        if extra:
            return [SchemaProblem(line=document.key_line(key), location=(key,),
                                  text=f"included files hold only `entries:`; move {key!r} to the main file")
                    for key in extra]
    if valid_by_shortcut(document):
        return []
    found = []
    for error in VALIDATOR.iter_errors(document):
        if _reported_by_build_entry(error):
            continue
        for location, message in _describe_schema_error(error):
            in_entry = len(location) >= 2 and location[0] == "entries"
            found.append(SchemaProblem(line=line_of(document, location), location=tuple(location),
                                       text=f"entry {location[1]!r}: {message}" if in_entry else message))
    return sorted(found, key=lambda problem: (problem.line, len(problem.location)))


def valid_by_shortcut(document: Mapping[str, Any]) -> bool:
    """True when the schema surely accepts the document; False means "run the full validation"."""
    entries = document.get("entries")
    if entries is not None and not isinstance(entries, Mapping):
        return False
    if entries and not all(isinstance(raw, Mapping) and SCHEMA_SHORTCUT.passes(raw) for raw in entries.values()):
        return False
    return bool(VALIDATOR.is_valid({**document, "entries": None}))


def validate_entry_mapping(name: str, raw: Mapping[str, Any]) -> None:
    """The schema checks of one entry's mapping, worded as for an entry in a file (without file:line).

    For entries that come from elsewhere than a file (a SQL row, a command line); run
    build_entry afterwards for the semantic checks, as the file loader does.

    Raises:
        ValueError: the first problem, in the mapping's key order (a file's line order);
            its `keys` attribute is the path to the key it is about.
    """
    described = [found for error in VALIDATOR.iter_errors({"entries": {name: dict(raw)}})
                 if not _reported_by_build_entry(error) for found in _describe_schema_error(error)]
    if not described:
        return
    order = {key: index for index, key in enumerate(raw)}

    def place(found: tuple[list[Any], str]) -> tuple[int, int]:
        location = found[0]
        return (order.get(location[2], -1) if len(location) > 2 else -1, len(location))

    location, message = min(described, key=place)
    raise EntryKeyError(tuple(str(key) for key in location[2:]), message)

