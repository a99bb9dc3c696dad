"""What an entry's args, kwargs and options must be for every run's message to be built and sent."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from beatd.config.schema import EntryKeyError

# Deeper nesting than this is refused: json.dumps recurses once per level (Python's
# recursion limit is about 1,000), and no task argument needs it.
MAX_NESTING = 100
# AMQP 0-9-1 writes queue, exchange and routing key names, and header names, as "short
# strings" of at most 255 bytes (py-amqp fails to pack a longer one), and header
# integers in 64 bits. Enforced for every broker, so that an entry runs on any of them.
MAX_AMQP_NAME_BYTES = 255
_AMQP_INT_RANGE = range(-(2**63), 2**63)
_ROUTE_OPTIONS = ("queue", "exchange", "routing_key")
# Values every JSON encoder writes as they are (bool is a subclass of int, checked apart).
_SCALARS = (str, int, type(None))
# Non-finite floats by the name Python's json.dumps writes them under (not JSON at all).
_NON_FINITE_NAMES = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def check_arguments(args: Any, kwargs: Any) -> None:
    """Refuse args or kwargs that a task message cannot carry as plain JSON.

    Plain JSON: text, whole numbers, finite floats, true/false, null, lists, and mappings
    with text keys. NaN and Infinity are refused (JSON has neither; json.dumps writes them
    anyway and other consumers fail on them), and so are non-text keys (JSON would turn
    1 into "1", so the task would get another value than the entry holds). Other values
    pass only if kombu's JSON encoder, which Celery's "json" serializer uses, writes them
    (dates, Decimals and UUIDs in its tagged form).

    Raises:
        EntryKeyError: the message names the value and its place, e.g. `args[1]`.
    """
    if args:
        for index, value in enumerate(args):
            if type(value) not in _SCALARS:  # the common case, decided without a call
                _check_json(value, ("args", index), amqp=False)
    if kwargs:
        _check_json(kwargs, ("kwargs",), amqp=False)


def check_options(options: Mapping[str, Any]) -> None:
    """Refuse options that fail when a run is published: reserved or unencodable headers, overlong names.

    Raises:
        EntryKeyError: the message names the option and the rule it breaks.
    """
    for key in _ROUTE_OPTIONS:
        value = options.get(key)
        if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > MAX_AMQP_NAME_BYTES:
            raise EntryKeyError(("options", key), f"options.{key} {_shortened(value)} is longer than AMQP's limit "
                                                  f"of {MAX_AMQP_NAME_BYTES} bytes for names")
    headers = options.get("headers")
    if headers:
        _check_header_names(headers)
        _check_json(headers, ("options", "headers"), amqp=True)


def _check_header_names(headers: Mapping[str, Any]) -> None:
    # Imported here: the message module brings kombu, which loading a config otherwise
    # never needs (`beatd next` stays quick), and few entries set headers.
    from beatd.publish.message import RESERVED_HEADERS

    clashes = [name for name in headers if name in RESERVED_HEADERS]  # in file order; the first is pointed at
    if clashes:
        raise EntryKeyError(("options", "headers", clashes[0]),
                            f"options.headers may not set {', '.join(map(repr, clashes))}: beatd writes these "
                            "Celery protocol headers itself; rename the header")


def _check_json(value: Any, keys: tuple[str | int, ...], *, amqp: bool) -> None:
    """Walk value depth first and raise at the first part that is not plain JSON (or not AMQP, with amqp)."""
    if len(keys) > MAX_NESTING:
        raise EntryKeyError(keys[:1], f"{_place(keys[:1])} is nested more than {MAX_NESTING} levels deep "
                                      "(or holds itself)")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if amqp and value not in _AMQP_INT_RANGE:
            raise EntryKeyError(keys, f"{_place(keys)} is {value}, outside the 64-bit integers AMQP headers hold")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EntryKeyError(keys, f"{_place(keys)} is {_NON_FINITE_NAMES[repr(value)]}: JSON has no NaN or "
                                      "Infinity; send a number or null")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json(item, (*keys, index), amqp=amqp)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EntryKeyError(keys, f"{_place(keys)} has the key {key!r}, a {type(key).__name__}: JSON keys "
                                          "are text, so the task would get a different key; quote it")
            if amqp and len(key.encode("utf-8", "surrogatepass")) > MAX_AMQP_NAME_BYTES:
                raise EntryKeyError(keys, f"{_place(keys)} has the key {_shortened(key)}, longer than AMQP's "
                                          f"limit of {MAX_AMQP_NAME_BYTES} bytes for header names")
            _check_json(item, (*keys, key), amqp=amqp)
        return
    _check_other(value, keys, amqp=amqp)


def _check_other(value: Any, keys: tuple[str | int, ...], *, amqp: bool) -> None:
    """A value of no JSON type: passes where kombu's encoder writes it (and, in a header, AMQP too)."""
    from kombu.utils.json import dumps as kombu_json_dumps

    try:
        kombu_json_dumps(value)
    except (TypeError, ValueError) as exc:
        raise EntryKeyError(keys, f"{_place(keys)} is a {type(value).__name__}, which Celery's JSON "
                                  f"serializer cannot encode: {exc}") from exc
    if amqp:
        raise EntryKeyError(keys, f"{_place(keys)} is a {type(value).__name__}; header values are plain JSON: "
                                  "text, numbers, true/false, null, lists and mappings")


def _place(keys: tuple[str | int, ...]) -> str:
    """A key path as the user writes it: kwargs.when, args[1], options.headers.x."""
    text = ""
    for key in keys:
        text += f"[{key}]" if isinstance(key, int) else f".{key}" if text else key
    return text


def _shortened(text: str) -> str:
    return repr(text) if len(text) <= 40 else f"{text[:40]!r}... ({len(text)} characters)"
