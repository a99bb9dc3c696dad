"""Entries written as YAML that `beatd import` reads back: entries in block style, args, kwargs and options on one line."""

from __future__ import annotations

from typing import Any

import yaml


class _FlowList(list[Any]):
    """A list written on one line: `args: [16, 16]`."""


class _FlowDict(dict[str, Any]):
    """A mapping written on one line: `options: {queue: reports, priority: 5}`."""


class _Dumper(yaml.SafeDumper):  # type: ignore[misc,unused-ignore]  # PyYAML ships no types
    """safe_dump that writes entries in block style and their args, kwargs and options in flow style."""


_Dumper.add_representer(_FlowList, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=True))
_Dumper.add_representer(_FlowDict, lambda dumper, data: dumper.represent_mapping(
    "tag:yaml.org,2002:map", data, flow_style=True))


def dump_entries(entries_by_name: dict[str, dict[str, Any]], *, top_key: str | None = None) -> str:
    """Entries as YAML, keys in the order given; `beatd import` reads it back."""
    shown: dict[str, Any] = {}
    for name, mapping in entries_by_name.items():
        shown[name] = {key: _FlowList(value) if isinstance(value, list) else _FlowDict(value) if isinstance(value, dict)
                       else value for key, value in mapping.items()}
    document = {top_key: shown} if top_key else shown
    text: str = yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                          width=1000)
    return text

