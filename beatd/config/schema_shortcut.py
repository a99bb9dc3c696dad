"""A fast, exact "valid" answer from the shipped JSON Schema for entry mappings, remembered per key set and value."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema

_SCALARS = frozenset({str, int, float, bool, type(None)})


class SchemaShortcut:
    """A fast yes from the shipped entry schema, for the common case of a valid entry.

    jsonschema takes about 300 µs for one entry, so 100,000 rows took 30 s to check. The
    entry schema's keywords other than `properties` (additionalProperties: false,
    required, oneOf of required, dependentRequired) depend only on which keys are present,
    and `properties` checks each value on its own. So an entry is valid exactly when its
    key set is, and each value is under its key's subschema; jsonschema decides both,
    against the shipped schema, and the answers are remembered by key set and by (key,
    value), or by (key, type) for a list or mapping under a subschema that asks only for
    a type (args, kwargs: a million entries with their own args each cost one check). A
    "no" sends the entry down the full path that words the message. If the schema ever
    uses other keywords, the shortcut switches itself off.
    """

    _KEY_SET_KEYWORDS = {"type", "additionalProperties", "required", "oneOf", "dependentRequired", "properties",
                         "description", "title"}
    _TYPE_ONLY_KEYWORDS = {"type", "description", "title"}
    _MAX_REMEMBERED = 200_000

    def __init__(self, schema: Mapping[str, Any]) -> None:
        definitions = schema["$defs"]
        entry = definitions["entry"]
        self.usable = (set(entry) <= self._KEY_SET_KEYWORDS and entry.get("type") == "object"
                       and isinstance(entry.get("additionalProperties", True), bool)
                       and all(set(branch) == {"required"} for branch in entry.get("oneOf", [])))
        properties = entry.get("properties", {})
        self._key_set = jsonschema.Draft202012Validator({**entry, "properties": {key: True for key in properties}})
        self._values = {key: jsonschema.Draft202012Validator({**subschema, "$defs": definitions})
                        for key, subschema in properties.items()}
        # Keys whose subschema asks only for a JSON type ({"type": "array"} for args): for a
        # list or a mapping that answer depends on the Python type alone, not on the items.
        self.type_only_keys = frozenset(key for key, subschema in properties.items()
                                        if isinstance(subschema, Mapping) and set(subschema) <= self._TYPE_ONLY_KEYWORDS)
        self._key_sets_seen: dict[frozenset[str], bool] = {}
        self._values_seen: dict[tuple[Any, ...], bool] = {}

    def passes(self, mapping: Mapping[str, Any]) -> bool:
        """True only if the schema accepts the entry; False means "ask the full validation"."""
        if not self.usable:
            return False
        keys = frozenset(mapping)
        valid = self._key_sets_seen.get(keys)
        if valid is None:
            valid = self._key_sets_seen[keys] = self._key_set.is_valid(dict.fromkeys(mapping))
        if not valid:
            return False
        if len(self._values_seen) > self._MAX_REMEMBERED:
            self._values_seen.clear()
        for key, value in mapping.items():
            kind = type(value)
            seen: tuple[Any, ...]
            if kind in _SCALARS:
                # The type is part of the key: 1, 1.0 and True are equal in Python, not in the schema.
                seen = (key, kind, value)
            elif key in self.type_only_keys and kind in (list, dict):
                seen = (key, kind)
            else:
                try:
                    seen = (key, json.dumps(value, sort_keys=True))
                except (TypeError, ValueError):
                    return False
            valid = self._values_seen.get(seen)
            if valid is None:
                validator = self._values.get(key)
                # A key without a subschema got past the key-set check: anything goes there.
                valid = self._values_seen[seen] = validator is None or validator.is_valid(value)
            if not valid:
                return False
        return True
