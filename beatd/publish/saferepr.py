"""A truncating, non-recursive repr that renders argsrepr/kwargsrepr exactly as Celery does."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from numbers import Number
from typing import Any, cast

# celery.app.amqp.AMQP.argsrepr_maxsize / kwargsrepr_maxsize and the default of the
# task_repr_maxlevels setting: monitoring tools (Flower, `celery events`) show these
# headers, so they must look like the ones `apply_async` writes.
REPR_MAXLEN = 1024
REPR_MAXLEVELS = 3

# celery.utils.text.truncate's suffix; `', ...'` marks elements left out of a container.
_SUFFIX = "..."
_ELLIPSIS_ELEMENT = ", ..."


class _Kind(Enum):
    OPEN = "open"  # a container's opening bracket; never truncated
    CLOSE = "close"  # its closing bracket; printed even past the limit
    CAPPED = "capped"  # a whole container beyond maxlevels, e.g. "[...]"
    SEPARATOR = "separator"  # ", " or ": "
    KEY = "key"  # a dict key: rendered by a nested saferepr with the remaining budget
    TEXT = "text"  # a str or bytes value: quoted, truncated inside the quotes
    OTHER = "other"  # str() of a number, repr() of anything else: truncated as is


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    value: Any
    closing: str = ""  # for OPEN: the bracket that will close this container


def saferepr(obj: object, maxlen: int | None = REPR_MAXLEN, maxlevels: int = REPR_MAXLEVELS) -> str:
    """Render obj like celery.utils.saferepr.saferepr: at most about maxlen characters.

    Containers nested deeper than maxlevels (0: no limit) show as "[...]". Past the
    limit a container ends with ", ..." and its closing brackets, so the text stays
    balanced. Strings are quoted with single quotes and are not escaped beyond "'",
    as in Celery. Never raises for a repr() that fails: the object is shown as
    "<Unrepresentable ...>".
    """
    budget = maxlen
    pieces: list[str] = []
    # Closing brackets of the containers currently open, innermost last: what must still
    # be printed if the budget runs out in the middle of them.
    pending_closes: list[str] = []
    for token in _tokens(obj, 0, maxlevels, set()):
        if budget is not None and budget <= 0:
            if token.kind is _Kind.CLOSE:
                # The element that used up the budget was the container's last, so
                # nothing is left out: close it and look at what follows.
                pieces.append(token.value)
                pending_closes.pop()
                continue
            pieces.append(_ELLIPSIS_ELEMENT)
            pieces.extend(reversed(pending_closes))
            break
        text = _render(token, budget, maxlevels)
        if token.kind is _Kind.OPEN:
            pending_closes.append(token.closing)
        elif token.kind is _Kind.CLOSE:
            pending_closes.pop()
        pieces.append(text)
        if budget is not None:
            budget -= len(text)
    return "".join(pieces)


def _render(token: _Token, budget: int | None, maxlevels: int) -> str:
    if token.kind is _Kind.KEY:
        return saferepr(token.value, budget, maxlevels)
    if token.kind is _Kind.TEXT:
        return _quote(token.value, budget)
    if token.kind is _Kind.OTHER:
        return _truncate(token.value, budget)
    # Brackets, separators and capped containers are printed whole.
    return str(token.value)


def _tokens(obj: object, level: int, maxlevels: int, path: set[int]) -> Iterator[_Token]:
    """The token stream of obj; lazy, so a limit stops the walk early on huge arguments."""
    # bool and Decimal are Numbers too; Celery renders Decimal with repr() and every
    # other number with str(), hence the order of these tests.
    if isinstance(obj, Decimal):
        yield _Token(_Kind.OTHER, _safe_repr(obj))
        return
    if isinstance(obj, Number):
        yield _Token(_Kind.OTHER, str(obj))
        return
    if isinstance(obj, (str, bytes)):
        yield _Token(_Kind.TEXT, obj)
        return
    brackets = _brackets(obj)
    if brackets is None:
        yield _Token(_Kind.OTHER, _safe_repr(obj))
        return
    opening, closing = brackets
    if maxlevels and level >= maxlevels:
        yield _Token(_Kind.CAPPED, f"{opening}...{closing}")
        return
    if id(obj) in path:
        yield _Token(_Kind.OTHER, f"<Recursion on {type(obj).__name__} with id={id(obj)}>")
        return
    path.add(id(obj))
    yield _Token(_Kind.OPEN, opening, closing)
    if isinstance(obj, dict):
        for index, (key, value) in enumerate(obj.items()):
            if index:
                yield _Token(_Kind.SEPARATOR, ", ")
            yield _Token(_Kind.KEY, key)
            yield _Token(_Kind.SEPARATOR, ": ")
            yield from _tokens(value, level + 1, maxlevels, path)
    else:
        for index, item in enumerate(cast("Iterable[Any]", obj)):
            if index:
                yield _Token(_Kind.SEPARATOR, ", ")
            yield from _tokens(item, level + 1, maxlevels, path)
    path.discard(id(obj))
    yield _Token(_Kind.CLOSE, closing)


def _brackets(obj: object) -> tuple[str, str] | None:
    """The brackets of a container, or None for anything repr() renders whole.

    Celery prints subclasses of dict, list and tuple (OrderedDict, namedtuples) with
    the plain brackets, but names set subclasses: "frozenset({1})". An empty set is
    not a container here: it renders as "set()" through repr().
    """
    if isinstance(obj, (set, frozenset)):
        if not obj:
            return None
        if type(obj) is set:
            return "{", "}"
        return f"{type(obj).__name__}({{", "})"
    if isinstance(obj, tuple):
        return "(", ",)" if len(obj) == 1 else ")"
    if isinstance(obj, dict):
        return "{", "}"
    if isinstance(obj, list):
        return "[", "]"
    return None


def _truncate(text: str, maxlen: int | None) -> str:
    """celery.utils.text.truncate: cut at the last space before maxlen, then add "...".

    Like Celery, a text exactly maxlen long is cut too.
    """
    if maxlen and len(text) >= maxlen:
        return text[:maxlen].rsplit(" ", 1)[0] + _SUFFIX
    return text


def _quote(value: str | bytes, maxlen: int | None) -> str:
    if isinstance(value, bytes):
        # Celery shows bytes decoded when they are UTF-8 and as hex otherwise, and cuts
        # only when strictly longer than the limit (unlike text).
        chunk = value[:maxlen] if maxlen and len(value) > maxlen else value
        suffix = _SUFFIX if chunk is not value else ""
        try:
            shown = chunk.decode("utf-8")
        except UnicodeDecodeError:
            shown = chunk.hex()
        return f"b'{shown}{suffix}'"
    return "'" + _truncate(value, maxlen).replace("'", "\\'") + "'"


def _safe_repr(obj: object) -> str:
    try:
        return repr(obj)
    except Exception as exc:  # noqa: BLE001 - a user's __repr__ may fail; the header must still be written
        return f"<Unrepresentable {type(obj)!r}{id(obj):#x}: {exc!r}>"
