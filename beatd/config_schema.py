"""Check config documents against the shipped JSON Schema and word each problem as file:line: entry 'name': message."""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from beatd.config_yaml import LineDict
from beatd.errors import ConfigError
from beatd.schema_shortcut import SchemaShortcut


class EntryKeyError(ValueError):
    """A ValueError about one key of an entry (a path for nested keys), so the error can point at its line."""

    def __init__(self, keys: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.keys = keys



def _schema() -> dict[str, Any]:
    return json.loads(resources.files("beatd").joinpath("config.schema.json").read_text(encoding="utf-8"))


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
            line = node.key_lines.get(str(key), node.line)
        elif isinstance(node, LineDict):
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


def validate_schema(document: LineDict, path: Path, included: bool) -> None:
    """Structural checks from the shipped JSON Schema, reported as file:line: entry: message."""
    if included:
        extra = sorted(set(document) - INCLUDED_FILE_KEYS)
        if extra:
            line = document.key_lines.get(extra[0], document.line)
            raise ConfigError(f"{path}:{line}: included files hold only `entries:`; move {extra[0]!r} to the main file")
    if valid_by_shortcut(document):
        return
    described = [_describe_schema_error(error) for error in VALIDATOR.iter_errors(document)
                 if not _reported_by_build_entry(error)]
    if not described:
        return
    # The first problem in the file, the outermost one where two share a line.
    line, location, message = min(((line_of(document, location), location, message) for location, message in described),
                                  key=lambda found: (found[0], len(found[1])))
    if len(location) >= 2 and location[0] == "entries":
        raise ConfigError(f"{path}:{line}: entry {location[1]!r}: {message}")
    raise ConfigError(f"{path}:{line}: {message}")


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
    described = [_describe_schema_error(error) for error in VALIDATOR.iter_errors({"entries": {name: dict(raw)}})
                 if not _reported_by_build_entry(error)]
    if not described:
        return
    order = {key: index for index, key in enumerate(raw)}

    def place(found: tuple[list[Any], str]) -> tuple[int, int]:
        location = found[0]
        return (order.get(location[2], -1) if len(location) > 2 else -1, len(location))

    location, message = min(described, key=place)
    raise EntryKeyError(tuple(str(key) for key in location[2:]), message)

