"""The immutable schedule Entry, its publish Options, and the Fire the engine emits."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from enum import Enum
from typing import Any

from beatd.schedules import Schedule

# Namespace for deterministic task ids; a fixed constant so every instance and every
# version of beatd derives the same id for the same (entry, scheduled instant).
TASK_ID_NAMESPACE = uuid.UUID("6f1c9a52-43f4-5c8e-9d0b-6265617464e1")
# Entry names are primary keys in the state and entry stores; 255 characters keep the
# MariaDB key (4 bytes a character in UTF-8 at most) well inside InnoDB's 3072-byte index limit.
MAX_ENTRY_NAME_CHARS = 255


def check_entry_name(name: str) -> None:
    """Refuse a name that would fail when a run of the entry is published or recorded.

    Raises:
        ValueError: the name is empty, longer than MAX_ENTRY_NAME_CHARS, holds a NUL
            (PostgreSQL text cannot), or is not Unicode text that UTF-8 encodes (a lone
            surrogate, from a YAML "\\ud800" escape: the task id is a hash of its UTF-8).
    """
    if not name:
        raise ValueError("the name is empty; name the entry")
    if len(name) > MAX_ENTRY_NAME_CHARS:
        raise ValueError(f"the name is {len(name)} characters long; state stores keep names of up to "
                         f"{MAX_ENTRY_NAME_CHARS}")
    if "\x00" in name:
        raise ValueError("the name holds a NUL character (\\x00), which PostgreSQL cannot store")
    if not name.isascii():
        try:
            name.encode()
        except UnicodeEncodeError as exc:
            raise ValueError(f"the name holds {name[exc.start]!r}, a lone surrogate, which UTF-8 cannot "
                             "encode") from exc


class CatchUp(str, Enum):
    """What to do with slots that came due while no beatd instance was publishing."""

    SKIP = "skip"
    LATEST = "latest"
    ALL = "all"


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """Routing and execution options, mapped onto the message as Celery's apply_async maps them."""

    queue: str | None = None
    exchange: str | None = None
    routing_key: str | None = None
    priority: int | None = None
    expires: timedelta | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    time_limit: float | None = None
    soft_time_limit: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where an entry was defined, so every message about it can point there.

    `line` 0: not a line of a file (an entry of a Celery app's beat_schedule).
    """

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One named schedule: what task to send, when, and how.

    `timezone` is the zone the entry's times are shown in (and cron reads); `source`
    says where it was defined, for messages.
    """

    name: str
    task: str
    schedule: Schedule
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: Options = field(default_factory=Options)
    enabled: bool = True
    catchup: CatchUp = CatchUp.LATEST
    jitter: timedelta | None = None
    timezone: tzinfo = UTC
    description: str = ""
    source: Source | None = None

    def jitter_offset(self) -> timedelta:
        """A stable delay in [0, jitter) derived from the name, so restarts and peers agree."""
        if not self.jitter:
            return timedelta(0)
        digest = hashlib.sha256(self.name.encode()).digest()
        fraction = int.from_bytes(digest[:8], "big") / 2**64
        return timedelta(microseconds=int(self.jitter / timedelta(microseconds=1) * fraction))


@dataclass(slots=True, kw_only=True)
class Fire:
    """One run of an entry: the slot it belongs to and when it may be published.

    Not frozen, unlike Entry: one is made per run, tens of thousands a second, and a
    frozen dataclass costs four times as much to create. Nothing changes a Fire.
    """

    entry: Entry
    scheduled_at: datetime
    publish_at: datetime

    @property
    def task_id(self) -> str:
        """uuid5 of (entry name, scheduled instant): a re-send of the same run keeps its id."""
        return task_id_for(self.entry.name, self.scheduled_at)


def task_id_for(entry_name: str, scheduled_at: datetime) -> str:
    """The deterministic task id of one run (DESIGN.md, Messages)."""
    return task_id_of_instant(entry_name, scheduled_at.astimezone(UTC).isoformat())


def task_id_of_instant(entry_name: str, scheduled_at_utc_iso: str) -> str:
    """task_id_for with the instant already written as isoformat() in UTC.

    str(uuid.uuid5(...)) computed by hand: the same digits (tests compare them) in a
    third of the time, which counts at tens of thousands of runs a second.
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{entry_name}\x00{scheduled_at_utc_iso}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    hex_digits = digest.hex()
    return f"{hex_digits[:8]}-{hex_digits[8:12]}-{hex_digits[12:16]}-{hex_digits[16:20]}-{hex_digits[20:]}"


_NAMESPACE_BYTES = TASK_ID_NAMESPACE.bytes


def entry_of(*, name: str, task: str, schedule: Schedule, args: tuple[Any, ...], kwargs: dict[str, Any],
             options: Options, enabled: bool, catchup: CatchUp, jitter: timedelta | None, timezone: tzinfo,
             description: str, source: Source | None) -> Entry:
    """Entry(...) with every field given: the same value at less than half the cost, for loaders of big files.

    The frozen dataclass's __init__ sets each field through object.__setattr__ (3 µs an
    Entry: 3 s of loading a million); this fills the slots directly. Entry(...) checks
    and converts nothing either, so nothing is skipped.
    """
    entry = _new_entry(Entry)
    _set_name(entry, name)
    _set_task(entry, task)
    _set_schedule(entry, schedule)
    _set_args(entry, args)
    _set_kwargs(entry, kwargs)
    _set_options(entry, options)
    _set_enabled(entry, enabled)
    _set_catchup(entry, catchup)
    _set_jitter(entry, jitter)
    _set_timezone(entry, timezone)
    _set_description(entry, description)
    _set_source(entry, source)
    return entry


_new_entry = object.__new__
# The slots' own setters (tests check that entry_of sets every field of Entry).
(_set_name, _set_task, _set_schedule, _set_args, _set_kwargs, _set_options, _set_enabled, _set_catchup, _set_jitter,
 _set_timezone, _set_description, _set_source) = (
    Entry.__dict__[name].__set__ for name in ("name", "task", "schedule", "args", "kwargs", "options", "enabled",
                                              "catchup", "jitter", "timezone", "description", "source"))
