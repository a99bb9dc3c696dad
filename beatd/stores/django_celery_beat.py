"""django-celery-beat's tables as an entry store: its rows as Entries with DCB's meaning, last runs written back.

django-celery-beat (DCB) keeps schedules in `django_celery_beat_periodictask`, each row
pointing at one row of `..._intervalschedule`, `..._crontabschedule`,
`..._solarschedule` or `..._clockedschedule`. This module reads them with SQLAlchemy
Core (no Django import), turns each row into the YAML keys of an entry that means what
DCB's scheduler (django_celery_beat.schedulers.DatabaseScheduler) makes of the row, and
builds the Entry from those keys exactly as a YAML file's entry is built. `beatd
convert --django-celery-beat` prints the same keys.

What DCB's fields mean, and what they become here:

- interval `every` x `period` (days ... microseconds): `every`. DCB counts the next run
  from the last one (`last_run_at + every`), so slots are counted from the row's last
  run (its `last_run_at`, else `date_changed`, as DCB takes it), or from `start_time`.
- crontab: Celery's crontab grammar (ranges that wrap, names, `*/n`), Celery's rule that
  day-of-month AND day-of-week must both match (`day_match: both`), in the crontab's
  own `timezone`. Fields are rewritten as plain cron only when both grammars give the
  same minutes, hours, days and months; a row where they would not is skipped.
- solar `event`, `latitude`, `longitude`; clocked `clocked_time` (DCB runs a clocked
  row only as `one_off`).
- `one_off`: one run, at the first slot after the row's last run (or `start_time`),
  then the row is disabled, as DCB disables it. A one-off row that has run already
  (total_run_count > 0) is not run again.
- `start_time`: no run before it. `expires`: no run at or after it (DCB disables the
  row then). `expire_seconds`: each message expires that long after it is sent.
- `args`, `kwargs`, `headers`: JSON text; `queue`, `exchange`, `routing_key`,
  `priority`; every message carries the header `periodic_task_name`, as DCB's do (beatd
  sends it for every entry).

Datetimes without an offset (SQLite, MySQL/MariaDB) are in UTC when the project has
USE_TZ = True, and in TIME_ZONE when USE_TZ = False: the store URL's `time_zone` query
parameter says which zone (default UTC); it is removed before connecting.

Change detection. DCB bumps `django_celery_beat_periodictasks.last_update` on every
save through its models, but not for `QuerySet.update()` or plain SQL, so a checksum
computed by the database finds those: each table's rows are hashed in SQL and summed
per block of 1,024 ids (see _TableChecksum). A poll reads the stamp; when it moved, or
every CHECKSUM_INTERVAL_S, it reads the block sums of the task table and of the four
schedule tables, then the row hashes of the blocks whose sum moved, then the tasks whose
row changed or whose schedule row did. Python handles blocks and changed rows, never
every row. `last_run_at` and `total_run_count` are left out of the hash: this store
writes them.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy
import yaml
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql.elements import ColumnElement

from beatd.config.build import SCHEDULE_KEYS
from beatd.entry import Entry, Source
from beatd.errors import ConfigError
from beatd.schedules.cron import CronSchedule
from beatd.sqlhelpers import AutocommitReader, check_dialect, create_engine, driver_reason
from beatd.state.base import RunRecord
from beatd.stores.base import EntryChanges, EntryStore
from beatd.stores.conversion import entry_of_mapping
from beatd.urls import redact_url

log = logging.getLogger("beatd.stores.django_celery_beat")

TASK_TABLE = "django_celery_beat_periodictask"
# The stamp row (ident = 1) DCB's models bump on every save or delete.
STAMP_TABLE = "django_celery_beat_periodictasks"
# How often the checksum runs when the stamp did not move (update() and raw SQL):
# with the daemon's half-second polls, such an edit applies within 1.5 s.
CHECKSUM_INTERVAL_S = 1.0
# Last runs are written at most this often (each row at most once per write).
WRITE_BACK_INTERVAL_S = 1.0
# After a failed write, wait this long before the next attempt (nothing is dropped).
WRITE_RETRY_S = 5.0
# Ids per checksum block: a block is one row of the block query, and one changed row
# costs reading the hashes of its block.
BLOCK_IDS = 1024
_IDS_PER_QUERY = 500
# The `time_zone` query parameter of the store URL: the zone of naive datetimes.
TIME_ZONE_PARAMETER = "time_zone"
_PERIODS = ("days", "hours", "minutes", "seconds", "microseconds")
_SQLITE_HASH = "beatd_crc32"
_NULL_TEXT = "~"
_MICROSECOND = timedelta(microseconds=1)
_T = TypeVar("_T")

metadata = MetaData()

interval_table = Table(
    "django_celery_beat_intervalschedule", metadata,
    Column("id", Integer, primary_key=True),
    Column("every", Integer, nullable=False),
    Column("period", String(24), nullable=False),
)
crontab_table = Table(
    "django_celery_beat_crontabschedule", metadata,
    Column("id", Integer, primary_key=True),
    Column("minute", String(240), nullable=False),
    Column("hour", String(96), nullable=False),
    Column("day_of_week", String(64), nullable=False),
    Column("day_of_month", String(124), nullable=False),
    Column("month_of_year", String(64), nullable=False),
    Column("timezone", String(63), nullable=False),
)
solar_table = Table(
    "django_celery_beat_solarschedule", metadata,
    Column("id", Integer, primary_key=True),
    Column("event", String(24), nullable=False),
    Column("latitude", Numeric(9, 6), nullable=False),
    Column("longitude", Numeric(9, 6), nullable=False),
)
clocked_table = Table(
    "django_celery_beat_clockedschedule", metadata,
    Column("id", Integer, primary_key=True),
    Column("clocked_time", DateTime(timezone=True), nullable=False),
)
task_table = Table(
    TASK_TABLE, metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("task", String(200), nullable=False),
    Column("interval_id", Integer),
    Column("crontab_id", Integer),
    Column("solar_id", Integer),
    Column("clocked_id", Integer),
    Column("args", Text, nullable=False),
    Column("kwargs", Text, nullable=False),
    Column("queue", String(200)),
    Column("exchange", String(200)),
    Column("routing_key", String(200)),
    Column("headers", Text, nullable=False),
    Column("priority", Integer),
    Column("expires", DateTime(timezone=True)),
    Column("expire_seconds", Integer),
    Column("one_off", Boolean, nullable=False),
    Column("start_time", DateTime(timezone=True)),
    Column("enabled", Boolean, nullable=False),
    Column("last_run_at", DateTime(timezone=True)),
    Column("total_run_count", BigInteger, nullable=False),
    Column("date_changed", DateTime(timezone=True), nullable=False),
    Column("description", Text, nullable=False),
)
stamp_table = Table(
    STAMP_TABLE, metadata,
    Column("ident", SmallInteger, primary_key=True),
    Column("last_update", DateTime(timezone=True), nullable=False),
)
# Each schedule table, with the task column that points at its rows.
_SCHEDULE_TABLES = {interval_table: task_table.c.interval_id, crontab_table: task_table.c.crontab_id,
                    solar_table: task_table.c.solar_id, clocked_table: task_table.c.clocked_id}
# Not part of what a row means: its id, and the two columns this store writes.
_UNHASHED = ("id", "last_run_at", "total_run_count")
_JOINED = (task_table
           .outerjoin(interval_table, task_table.c.interval_id == interval_table.c.id)
           .outerjoin(crontab_table, task_table.c.crontab_id == crontab_table.c.id)
           .outerjoin(solar_table, task_table.c.solar_id == solar_table.c.id)
           .outerjoin(clocked_table, task_table.c.clocked_id == clocked_table.c.id))


# ---------------------------------------------------------------------------------------
# Celery's crontab grammar (celery.schedules.crontab_parser), which DCB's crontabs use


@dataclass(frozen=True, slots=True)
class CeleryCronField:
    """One of crontab()'s five fields: its name and its values, low to low + size - 1."""

    name: str
    size: int  # how many values: 60 minutes, 24 hours, 7 weekdays, 31 days, 12 months
    low: int

    @property
    def high(self) -> int:
        return self.low + self.size - 1


CELERY_CRON_FIELDS = (CeleryCronField("minute", 60, 0), CeleryCronField("hour", 24, 0), CeleryCronField("day_of_month", 31, 1),
                CeleryCronField("month_of_year", 12, 1), CeleryCronField("day_of_week", 7, 0))
_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_WEEKDAYS = {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# Celery matches these at the start of a part only (re.match), so text after a match is ignored.
_RANGE_STEPS = re.compile(r"(\w+?)-(\w+)/(\w+)?")
_RANGE = re.compile(r"(\w+?)-(\w+)")
_STAR_STEPS = re.compile(r"\*/(\w+)?")
# A part that means the same in Celery and in beatd's cron: `*`, `n`, `a-b` with a <= b, each with `/step`.
_PLAIN_PART = re.compile(r"(?:\*|(?P<low>\d+)-(?P<high>\d+)|\d+)(?:/[1-9]\d*)?")


def celery_cron_values(text: str, spec: CeleryCronField) -> set[int]:
    """The values a crontab field means to Celery: its parser's rules, including its oddities.

    Ranges wrap around (hour `22-2` is 22, 23, 0, 1, 2); month and weekday names (their
    first three letters) are read in every field, month names first; int() reads a number,
    so spaces around it are allowed.

    Raises:
        ValueError: the message Celery gives, or the part that broke it.
    """
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ValueError(f"{spec.name} {text!r} has an empty part")
        values.update(_celery_part(part, spec))
    for value in values:
        if not spec.low <= value <= spec.high:
            raise ValueError(f"{spec.name} {text!r}: {value} is outside {spec.low}-{spec.high}")
    return values


def _celery_part(part: str, spec: CeleryCronField) -> list[int]:
    if match := _RANGE_STEPS.match(part):
        if not match.group(3):
            raise ValueError(f"{spec.name} part {part!r} has an empty step")
        return _celery_range(match.group(1), match.group(2), spec)[::_celery_step(match.group(3), part, spec)]
    if match := _RANGE.match(part):
        return _celery_range(match.group(1), match.group(2), spec)
    if match := _STAR_STEPS.match(part):
        if not match.group(1):
            raise ValueError(f"{spec.name} part {part!r} has an empty step")
        return list(range(spec.low, spec.high + 1))[::_celery_step(match.group(1), part, spec)]
    if part == "*":
        return list(range(spec.low, spec.high + 1))
    return [_celery_number(part, spec)]


def _celery_step(text: str, part: str, spec: CeleryCronField) -> int:
    try:
        step = int(text)
    except ValueError:
        raise ValueError(f"{spec.name} part {part!r}: step {text!r} is not a number") from None
    if step == 0:
        raise ValueError(f"{spec.name} part {part!r}: the step is zero")
    return step


def _celery_range(first: str, last: str, spec: CeleryCronField) -> list[int]:
    low, high = _celery_number(first, spec), _celery_number(last, spec)
    if high < low:
        return list(range(low, spec.high + 1)) + list(range(spec.low, high + 1))
    return list(range(low, high + 1))


def _celery_number(token: str, spec: CeleryCronField) -> int:
    if token.startswith("-"):
        raise ValueError(f"{spec.name} {token!r}: negative numbers are not allowed")
    try:
        value = int(token)
    except ValueError:
        name = token[:3].lower()
        if name in _MONTHS:
            value = _MONTHS[name]
        elif name in _WEEKDAYS:
            value = _WEEKDAYS[name]
        else:
            raise ValueError(f"{spec.name} {token!r} is not a number, month or weekday name") from None
    if not spec.low <= value <= spec.high:
        raise ValueError(f"{spec.name} {token!r} is outside {spec.low}-{spec.high}")
    return value


def _cron_text(text: str, values: set[int], spec: CeleryCronField) -> str:
    """The field for beatd's cron parser: the text itself when it means the same there, else the values."""
    if all((match := _PLAIN_PART.fullmatch(part)) and (match["low"] is None or int(match["low"]) <= int(match["high"]))
           for part in text.split(",")):
        return text
    if values == set(range(spec.low, spec.high + 1)):
        return "*"
    runs: list[list[int]] = []
    for value in sorted(values):
        if runs and runs[-1][1] == value - 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    return ",".join(str(low) if low == high else f"{low}-{high}" for low, high in runs)


def crontab_expression(minute: str, hour: str, day_of_month: str, month_of_year: str, day_of_week: str,
                       zone: tzinfo) -> str:
    """The 5-field cron expression that, with `day_match: both`, fires when Celery's crontab does.

    Raises:
        ValueError: Celery would refuse the crontab (DCB's scheduler skips such rows), or
            beatd's cron would read it differently (it is then not run at all).
    """
    texts, expected = [], []
    for text, spec in zip((minute, hour, day_of_month, month_of_year, day_of_week), CELERY_CRON_FIELDS):
        values = celery_cron_values(text, spec)
        expected.append(values)
        texts.append(_cron_text(text.replace(" ", ""), values, spec))
    expression = " ".join(texts)
    try:
        schedule = CronSchedule.parse(expression, zone, day_match="both")
    except ValueError as exc:
        raise ValueError(f"crontab {expression!r}: {exc}") from exc
    rule = schedule.day_rule
    parsed = [set(schedule.minutes), set(schedule.hours), set(rule.month_days), set(schedule.months), set(rule.weekdays)]
    extensions = rule.last_day_of_month or rule.nearest_weekdays or rule.nth_weekdays or rule.last_weekdays
    if parsed != expected or extensions:
        raise ValueError(f"crontab {expression!r} would not mean the same in beatd's cron; not run")
    return expression


# ---------------------------------------------------------------------------------------
# Rows -> the YAML keys of entries


@dataclass(frozen=True, slots=True, kw_only=True)
class RowMeaning:
    """One periodictask row as beatd reads it: the entry's YAML keys, and what write-back needs."""

    row_id: int
    name: str
    mapping: dict[str, Any]
    one_off: bool
    # The instant taken as the row's last run on a first start (DCB's reference point).
    last_run: datetime
    expires: datetime | None


class RowSkipped(ValueError):
    """A row that is not run: DCB's scheduler would skip it, or it cannot be converted."""


def _aware(moment: datetime | None, naive_zone: tzinfo) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=naive_zone)


def _json_text(row: Mapping[Any, Any], key: str, default: str, kind: type) -> Any:
    try:
        value = json.loads(row[key] or default)
    except ValueError as exc:
        raise RowSkipped(f"{key} is not JSON ({exc}); DCB disables such a row") from exc
    if not isinstance(value, kind):
        raise RowSkipped(f"{key} {row[key]!r} is not a JSON {'array' if kind is list else 'object'}")
    return value


def _schedule_keys(row: Mapping[Any, Any], naive_zone: tzinfo) -> dict[str, Any]:
    """The schedule keys of the row's one schedule: DCB's precedence, interval, crontab, solar, clocked."""
    if row["interval_id"] is not None:
        if row["every"] is None:
            raise RowSkipped(f"interval id {row['interval_id']} does not exist")
        if row["period"] not in _PERIODS:
            raise RowSkipped(f"interval period {row['period']!r} is not one of {', '.join(_PERIODS)}")
        if row["every"] < 1:
            raise RowSkipped(f"interval every {row['every']!r} is below 1")
        seconds = timedelta(**{row["period"]: row["every"]}).total_seconds()
        return {"every": int(seconds) if seconds.is_integer() else seconds}
    if row["crontab_id"] is not None:
        if row["minute"] is None:
            raise RowSkipped(f"crontab id {row['crontab_id']} does not exist")
        return dict(_crontab_keys(row["minute"], row["hour"], row["day_of_month"], row["month_of_year"],
                                  row["day_of_week"], row["timezone"]))
    if row["solar_id"] is not None:
        if row["event"] is None:
            raise RowSkipped(f"solar id {row['solar_id']} does not exist")
        return {"solar": row["event"], "lat": float(row["latitude"]), "lon": float(row["longitude"])}
    if row["clocked_id"] is not None:
        if row["clocked_time"] is None:
            raise RowSkipped(f"clocked id {row['clocked_id']} does not exist")
        if not row["one_off"]:
            raise RowSkipped("a clocked schedule without one_off, which DCB refuses to save")
        return {"at": _aware(row["clocked_time"], naive_zone)}
    raise RowSkipped("no schedule: interval, crontab, solar and clocked are all empty")


@functools.lru_cache(maxsize=4096)
def _crontab_keys(minute: str, hour: str, day_of_month: str, month_of_year: str, day_of_week: str,
                  zone_name: str) -> tuple[tuple[str, str], ...]:
    """The cron keys of one crontab row, remembered: many tasks share a crontab, and parsing is slow."""
    zone = _zone(zone_name)
    try:
        expression = crontab_expression(minute, hour, day_of_month, month_of_year, day_of_week, zone)
    except ValueError as exc:
        raise RowSkipped(str(exc)) from exc
    return (("cron", expression), ("day_match", "both"), ("timezone", zone.key))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RowSkipped(f"crontab timezone {name!r} is not an IANA time zone") from None


def _options(row: Mapping[Any, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key in ("queue", "exchange", "routing_key"):
        if row[key]:  # DCB's save() stores '' as NULL; both mean "the default"
            options[key] = row[key]
    if row["priority"] is not None:
        options["priority"] = row["priority"]
    # DCB passes `expires or expire_seconds`; a datetime `expires` ends the schedule instead (see end).
    if row["expires"] is None and row["expire_seconds"]:
        options["expires"] = row["expire_seconds"]
    headers = _json_text(row, "headers", "{}", dict)
    # DCB sets it to the row's name whatever the row says; beatd sends every entry's name in it.
    headers.pop("periodic_task_name", None)
    if headers:
        options["headers"] = headers
    return options


def meaning_of_row(row: Mapping[Any, Any], naive_zone: tzinfo, default_zone: tzinfo = UTC) -> RowMeaning:
    """The entry keys of one periodictask row (joined with its schedule row), with DCB's meaning.

    Raises:
        RowSkipped: why the row is not run.
    """
    mapping: dict[str, Any] = {"task": row["task"]}
    mapping.update(_schedule_keys(row, naive_zone))
    args = _json_text(row, "args", "[]", list)
    kwargs = _json_text(row, "kwargs", "{}", dict)
    if args:
        mapping["args"] = args
    if kwargs:
        mapping["kwargs"] = kwargs
    options = _options(row)
    if options:
        mapping["options"] = options
    if not row["enabled"]:
        mapping["enabled"] = False
    if row["description"]:
        mapping["description"] = row["description"]
    start_time = _aware(row["start_time"], naive_zone)
    expires = _aware(row["expires"], naive_zone)
    last_run_at = _aware(row["last_run_at"], naive_zone)
    # DCB's reference point: the last run, else the last save; a start_time makes it
    # "long ago", so the first run is due at start_time.
    reference = last_run_at or _aware(row["date_changed"], naive_zone)
    if reference is None:
        raise RowSkipped("date_changed is empty")
    if last_run_at is None and start_time is not None:
        reference = min(reference, start_time - _MICROSECOND)
    if "every" in mapping:
        # Slots follow the last run (DCB: last_run_at + every), not the epoch.
        anchor = max(reference, start_time) if start_time is not None else reference
        mapping["start"] = anchor.isoformat()
    elif start_time is not None:
        mapping["start"] = start_time.isoformat()
    if "at" in mapping:
        # DCB runs a clocked row once both its time and its start_time have come.
        at = max(mapping["at"], start_time) if start_time is not None else mapping["at"]
        reference = min(reference, at - _MICROSECOND)
        mapping["at"] = at.isoformat()
    if expires is not None:
        mapping["end"] = (expires - _MICROSECOND).isoformat()
    if row["one_off"]:
        mapping = _one_off(row, mapping, reference, default_zone)
    return RowMeaning(row_id=row["id"], name=row["name"], mapping=mapping, one_off=bool(row["one_off"]),
                      last_run=reference, expires=expires)


def _one_off(row: Mapping[Any, Any], mapping: dict[str, Any], reference: datetime, default_zone: tzinfo) -> dict[str, Any]:
    """A one-off row: its schedule's first slot after the reference point, once; none after it has run."""
    if row["total_run_count"] > 0:
        # DCB disables such a row at its next check, without running it.
        return {**mapping, "enabled": False}
    if "at" in mapping:
        return mapping
    schedule = _entry(row, mapping, default_zone).schedule
    first = schedule.next_after(reference)
    if first is None:
        raise RowSkipped("one_off: the schedule has no run after the row's last run")
    once = {key: value for key, value in mapping.items() if key not in (*SCHEDULE_KEYS, "day_match", "lat", "lon", "start")}
    once["at"] = first.isoformat()
    return once


def _entry(row: Mapping[Any, Any], mapping: Mapping[str, Any], default_zone: tzinfo) -> Entry:
    try:
        return entry_of_mapping(row["name"], mapping, default_zone, Source(path=TASK_TABLE, line=row["id"]))
    except ValueError as exc:
        raise RowSkipped(str(exc)) from exc


# ---------------------------------------------------------------------------------------
# SQL: the checksum expression, the engine


def _row_hash(table: Table, dialect: str) -> ColumnElement[Any]:
    """A 32-bit hash of what a row means, computed by the database (each dialect has its own hash function).

    PostgreSQL's hashtext is internal but present in every version, and three times
    cheaper than md5 (100,000 rows: 0.19 s against 0.31 s); the hashes are only ever
    compared within one process.
    """
    text: ColumnElement[Any] = literal("")
    for column in table.c:
        if column.name not in _UNHASHED:
            text = text + "|" + func.coalesce(cast(column, Text), _NULL_TEXT)
    if dialect == "postgresql":
        return func.hashtext(text)
    if dialect == "sqlite":
        return getattr(func, _SQLITE_HASH)(cast(text, LargeBinary))
    return func.crc32(text)


class _TableChecksum:
    """Which rows of one table changed since the last look, found by sums the database computes.

    Rows are hashed in SQL and the hashes summed per block of BLOCK_IDS ids: one query
    returns a row per block; only a block whose count or sum moved has its rows' hashes
    read, and only rows whose hash moved are reported. Python's work follows the number
    of blocks and of changed rows, never the number of rows.
    """

    def __init__(self, table: Table, dialect: str) -> None:
        self.table = table
        self.row_hash = _row_hash(table, dialect)
        self.hashes: dict[int, int] = {}
        self._blocks: dict[int, tuple[int, int]] = {}

    def reset(self, hashes: dict[int, int]) -> None:
        """Start from these row hashes (a full read)."""
        self.hashes = hashes
        self._blocks = {}
        for row_id, row_hash in hashes.items():
            count, total = self._blocks.get(_block_of(row_id), (0, 0))
            self._blocks[_block_of(row_id)] = (count + 1, total + row_hash)

    def read_all(self, connection: Connection) -> None:
        ids = self.table.c.id
        self.reset({row.id: int(row.row_hash) for row in connection.execute(
            select(ids, self.row_hash.label("row_hash")))})

    def changes(self, connection: Connection) -> tuple[list[int], list[int]]:
        """Ids of rows added or changed, and of rows gone, since the last call (or reset)."""
        ids = self.table.c.id
        block = (ids - ids % BLOCK_IDS).label("block")
        blocks = {int(row.block): (int(row.rows_in_block), int(row.total)) for row in connection.execute(
            select(block, func.count().label("rows_in_block"), func.sum(self.row_hash).label("total")).group_by(block))}
        moved = [low for low in set(blocks) | set(self._blocks) if blocks.get(low) != self._blocks.get(low)]
        self._blocks = blocks
        hashes: dict[int, int] = {}
        for start in range(0, len(moved), _IDS_PER_QUERY):
            ranges = [and_(ids >= low, ids < low + BLOCK_IDS) for low in moved[start:start + _IDS_PER_QUERY]]
            hashes.update((row.id, int(row.row_hash)) for row in connection.execute(
                select(ids, self.row_hash.label("row_hash")).where(or_(*ranges))))
        gone = [row_id for low in moved for row_id in range(low, low + BLOCK_IDS)
                if row_id in self.hashes and row_id not in hashes]
        changed = [row_id for row_id, row_hash in hashes.items() if self.hashes.get(row_id) != row_hash]
        for row_id in gone:
            del self.hashes[row_id]
        self.hashes.update(hashes)
        return changed, gone


def _register_sqlite_hash(dbapi_connection: Any, _record: Any) -> None:
    """SQLite has no hash function; zlib's crc32, called by SQLite for each row, is one."""
    dbapi_connection.create_function(_SQLITE_HASH, 1, zlib.crc32, deterministic=True)


def _store_url(url: str) -> tuple[sqlalchemy.URL, tzinfo]:
    """The URL to connect with, and the zone of naive datetimes (its `time_zone` parameter, removed).

    Raises:
        ConfigError: the URL or the zone cannot be used.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"django_celery_beat store URL {redact_url(url)!r} is not a SQLAlchemy URL: {exc}") from exc
    name = parsed.query.get(TIME_ZONE_PARAMETER, "UTC")
    zone_name = name if isinstance(name, str) else name[-1]
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"django_celery_beat store URL {redact_url(url)!r}: {TIME_ZONE_PARAMETER} {zone_name!r} "
                          "is not an IANA time zone; give Django's TIME_ZONE (for USE_TZ = False)") from None
    return parsed.difference_update_query([TIME_ZONE_PARAMETER]), zone


def _create_engine(url: sqlalchemy.URL, where: str) -> Engine:
    engine = create_engine(url, unusable=f"django_celery_beat store {where}", on_sqlite_connect=_register_sqlite_hash)
    try:
        check_dialect(engine, where=f"django_celery_beat store {where}")
    except ConfigError:
        engine.dispose()
        raise
    return engine


# ---------------------------------------------------------------------------------------
# The store


@dataclass(slots=True)
class _Known:
    """What the store remembers of one row: its name; if it converted, what write-back needs."""

    name: str
    converted: bool
    one_off: bool = False
    # Its last run as DCB reckons it, for enabled rows.
    last_run: datetime | None = None


@dataclass(slots=True)
class _PendingRun:
    """Runs published for one row since its last write: the newest slot, how many runs."""

    last_run: datetime
    runs: int


@dataclass(slots=True)
class _WriteBack:
    """What waits to be written to DCB's rows, and when writing may happen next."""

    runs: dict[int, _PendingRun] = field(default_factory=dict)
    disable: set[int] = field(default_factory=set)
    next_at: float = 0.0
    # Only the leader writes: the daemon calls last_runs and runs_published when it leads.
    leading: bool = False
    # The run count of each entry's newest record seen in this leadership term.
    counts: dict[str, int] = field(default_factory=dict)


class DjangoCeleryBeatStore(EntryStore):
    """An EntryStore over a django-celery-beat database, which also writes last runs back to it.

    Pass the SQLAlchemy URL of the Django project's database; `?time_zone=` names
    Django's TIME_ZONE when the project has USE_TZ = False. Opening does not connect.

    Unlike other stores, a row that stops converting is reported as deleted (DCB's
    scheduler drops it), so it never keeps running with a meaning its row no longer has.
    Disabled rows are returned as disabled entries; disabled rows that do not convert
    are left out silently, as DCB never reads them.

    Writing (the leader only: `last_runs` and `runs_published` are the daemon's calls
    when it leads): each published run's slot becomes the row's `last_run_at`, and
    `total_run_count` grows by the runs published, in one batch at most every
    WRITE_BACK_INTERVAL_S; a one-off row is disabled after its run, as DCB does (which
    also clears its last_run_at and total_run_count, so that enabling it again runs it
    again).
    """

    def __init__(self, url: str, *, default_zone: tzinfo = UTC,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        connect_url, self.naive_zone = _store_url(url)
        self.where = redact_url(url)
        self.engine = _create_engine(connect_url, self.where)
        self.default_zone = default_zone
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        dialect = self.engine.dialect.name
        self._tasks = _TableChecksum(task_table, dialect)
        self._schedules = [_TableChecksum(table, dialect) for table in _SCHEDULE_TABLES]
        self._reader = AutocommitReader(self.engine, f"django_celery_beat store {self.where} is unavailable")
        self._loaded = False
        self._stamp: Any = None
        self._next_check = 0.0
        self._rows: dict[int, _Known] = {}
        self._skipped: dict[str, str] = {}
        self._ids: dict[str, int] = {}
        self._write = _WriteBack()

    def __repr__(self) -> str:
        return f"DjangoCeleryBeatStore({self.where!r})"

    def __str__(self) -> str:
        return f"django_celery_beat {self.where}"

    @property
    def invalid(self) -> dict[str, str]:
        """Enabled rows the last reads skipped: entry name -> why (with the table and row id)."""
        return dict(self._skipped)

    # -- reading ------------------------------------------------------------------------------

    def load(self) -> list[Entry]:
        def read(connection: Connection) -> tuple[Any, list[Mapping[Any, Any]]]:
            self._check_tables(connection)
            stamp = self._read_stamp(connection)
            for schedules in self._schedules:
                schedules.read_all(connection)
            rows: list[Mapping[Any, Any]] = [row._mapping for row in connection.execute(self._rows_query())]
            return stamp, rows

        stamp, rows = self._read(read)
        self._rows, self._ids, self._skipped = {}, {}, {}
        entries = []
        for row in rows:
            entry = self._remember(row)
            if entry is not None:
                entries.append(entry)
        self._tasks.reset({row["id"]: int(row["row_hash"]) for row in rows})
        self._stamp, self._loaded = stamp, True
        self._next_check = self._monotonic() + CHECKSUM_INTERVAL_S
        return entries

    def changes(self) -> EntryChanges:
        if not self._loaded:
            return EntryChanges(upserted=self.load())
        self._write_back()
        stamp = self._read(self._read_stamp)
        now = self._monotonic()
        if stamp == self._stamp and now < self._next_check:
            return EntryChanges()
        self._next_check = now + CHECKSUM_INTERVAL_S
        changes = self._read(self._changed_rows)
        self._stamp = stamp
        return changes

    def _changed_rows(self, connection: Connection) -> EntryChanges:
        """The tasks whose rows or schedule rows changed, read again; the tasks whose rows are gone."""
        changed, gone = self._tasks.changes(connection)
        wanted = set(changed)
        for schedules in self._schedules:
            schedule_changed, schedule_gone = schedules.changes(connection)
            schedule_ids = schedule_changed + schedule_gone
            foreign_key = _SCHEDULE_TABLES[schedules.table]
            for start in range(0, len(schedule_ids), _IDS_PER_QUERY):
                wanted.update(connection.execute(select(task_table.c.id).where(
                    foreign_key.in_(schedule_ids[start:start + _IDS_PER_QUERY]))).scalars())
        ordered = sorted(wanted)
        rows: list[Mapping[Any, Any]] = []
        for start in range(0, len(ordered), _IDS_PER_QUERY):
            rows.extend(row._mapping for row in connection.execute(
                self._rows_query().where(task_table.c.id.in_(ordered[start:start + _IDS_PER_QUERY]))))
        for row in rows:
            self._tasks.hashes[row["id"]] = int(row["row_hash"])
        return self._apply(rows, set(gone) | (wanted - {row["id"] for row in rows}))

    def _apply(self, rows: Sequence[Mapping[Any, Any]], gone: Iterable[int]) -> EntryChanges:
        deleted: list[str] = []
        for row_id in gone:
            known = self._rows.pop(row_id, None)
            if known is None:
                continue
            self._skipped.pop(known.name, None)
            if self._ids.get(known.name) == row_id:
                del self._ids[known.name]
                deleted.append(known.name)
        upserted = []
        for row in rows:
            before = self._rows.get(row["id"])
            if before is not None and before.name != row["name"]:
                self._skipped.pop(before.name, None)
            entry = self._remember(row)
            if before is not None and before.converted and (entry is None or before.name != row["name"]):
                if self._ids.get(before.name) in (None, row["id"]):
                    self._ids.pop(before.name, None)
                    deleted.append(before.name)
            if entry is not None:
                upserted.append(entry)
        names = {entry.name for entry in upserted}
        return EntryChanges(upserted=upserted, deleted=[name for name in dict.fromkeys(deleted) if name not in names])

    def _remember(self, row: Mapping[Any, Any]) -> Entry | None:
        """Convert one row and remember it; None (logged, unless disabled) when it is not run."""
        known = self._rows[row["id"]] = _Known(name=row["name"], converted=False)
        try:
            meaning = meaning_of_row(row, self.naive_zone, self.default_zone)
            entry = _entry(row, meaning.mapping, self.default_zone)
        except RowSkipped as exc:
            if row["enabled"]:
                problem = f"{TASK_TABLE} id {row['id']}: entry {row['name']!r}: {exc}"
                self._skipped[row["name"]] = problem
                log.error("django_celery_beat store %s: %s; the row is not run", self.where, problem)
            return None
        self._skipped.pop(row["name"], None)
        known.converted, known.one_off = True, meaning.one_off
        known.last_run = meaning.last_run if entry.enabled else None
        self._ids[row["name"]] = row["id"]
        if row["one_off"] and row["enabled"] and row["total_run_count"] > 0:
            self._write.disable.add(row["id"])
        return entry

    def all_rows(self) -> list[Mapping[Any, Any]]:
        """Every periodictask row joined with its schedule row, in id order (for `beatd convert`).

        Raises:
            ConfigError: the tables are missing.
            BackendUnavailable: the database cannot be read.
        """
        def read(connection: Connection) -> list[Mapping[Any, Any]]:
            self._check_tables(connection)
            return [row._mapping for row in connection.execute(self._rows_query().order_by(task_table.c.id))]

        return self._read(read)

    def _rows_query(self) -> sqlalchemy.Select[Any]:
        return select(*task_table.c, *[c for table in _SCHEDULE_TABLES for c in table.c if c.name != "id"],
                      self._tasks.row_hash.label("row_hash")).select_from(_JOINED)

    def _read_stamp(self, connection: Connection) -> Any:
        return connection.execute(select(stamp_table.c.last_update).where(stamp_table.c.ident == 1)).scalar()

    def _check_tables(self, connection: Connection) -> None:
        inspector = sqlalchemy.inspect(connection)
        missing = [table.name for table in metadata.sorted_tables if not inspector.has_table(table.name)]
        if missing:
            raise ConfigError(f"django_celery_beat store {self.where}: table {missing[0]} does not exist; is this the "
                              "Django project's database, migrated with: python manage.py migrate django_celery_beat?")

    def _read(self, work: Callable[[Connection], _T]) -> _T:
        return self._reader.read(work)

    def close(self) -> None:
        """Write what waits to be written (the daemon's last runs, on its way out), then disconnect."""
        self._write.next_at = 0.0
        self._write_back()
        self._reader.drop()
        self.engine.dispose()

    # -- what the daemon tells the store, and writing it back -----------------------------------

    def last_runs(self) -> dict[str, datetime]:
        """Each enabled row's last run as DCB reckons it: `last_run_at`, else its reference point.

        The daemon takes these, on becoming leader, for entries without a recorded run,
        so that nothing runs twice at the switch from DCB's scheduler and nothing due is
        missed. A call also starts a new term for counting runs (see runs_published).
        """
        self._write.counts.clear()
        self._write.leading = True
        return {known.name: known.last_run for known in self._rows.values() if known.last_run is not None}

    def runs_published(self, records: Sequence[RunRecord]) -> None:
        """Queue the runs in these records (recorded in the state store) to be written to their rows.

        A record stands for the runs since the entry's previous record in this term (its
        run_count grew by that many), or for one run when it is the first.
        """
        write = self._write
        write.leading = True
        for record in records:
            row_id = self._ids.get(record.entry)
            if row_id is None:
                continue
            previous = write.counts.get(record.entry)
            write.counts[record.entry] = record.run_count
            runs = record.run_count - previous if previous is not None and record.run_count > previous else 1
            pending = write.runs.get(row_id)
            if pending is None:
                write.runs[row_id] = _PendingRun(last_run=record.scheduled_at, runs=runs)
            else:
                pending.last_run, pending.runs = max(pending.last_run, record.scheduled_at), pending.runs + runs
            if self._rows[row_id].one_off:
                write.disable.add(row_id)
        self._write_back()

    def _write_back(self) -> None:
        """Write what is queued, if the last write was long enough ago; on failure keep it for later."""
        write = self._write
        now = self._monotonic()
        if not write.leading or not (write.runs or write.disable) or now < write.next_at:
            return
        runs, disable = write.runs, write.disable
        write.runs, write.disable = {}, set()
        try:
            with self.engine.begin() as connection:
                self._write_runs(connection, {row_id: run for row_id, run in runs.items() if row_id not in disable})
                self._disable(connection, disable)
        except sqlalchemy.exc.SQLAlchemyError as exc:  # a write-back never stops the daemon
            log.warning("django_celery_beat store %s: could not write last runs of %d rows, retrying in %.0f s: %s",
                        self.where, len(runs | dict.fromkeys(disable)), WRITE_RETRY_S, driver_reason(exc))
            for row_id, run in runs.items():
                held = write.runs.setdefault(row_id, run)
                if held is not run:
                    held.last_run, held.runs = max(held.last_run, run.last_run), held.runs + run.runs
            write.disable |= disable
            write.next_at = now + WRITE_RETRY_S
            return
        write.next_at = now + WRITE_BACK_INTERVAL_S

    def _stored(self, moment: datetime) -> datetime:
        """An instant as Django stores it: aware for PostgreSQL, else naive in the naive zone."""
        if self.engine.dialect.name == "postgresql":
            return moment
        return moment.astimezone(self.naive_zone).replace(tzinfo=None)

    def _write_runs(self, connection: Connection, runs: Mapping[int, _PendingRun]) -> None:
        if not runs:
            return
        at = bindparam("at", type_=DateTime(timezone=True))
        # Never backwards: a deposed leader's late write cannot undo its successor's.
        statement = (update(task_table).where(task_table.c.id == bindparam("row_id"))
                     .values(last_run_at=case((or_(task_table.c.last_run_at.is_(None), task_table.c.last_run_at < at), at),
                                              else_=task_table.c.last_run_at),
                             total_run_count=task_table.c.total_run_count + bindparam("runs")))
        connection.execute(statement, [{"row_id": row_id, "at": self._stored(run.last_run), "runs": run.runs}
                                       for row_id, run in runs.items()])

    def _disable(self, connection: Connection, row_ids: set[int]) -> None:
        """Disable one-off rows as DCB's scheduler does, and bump the stamp so DCB's readers notice."""
        if not row_ids:
            return
        now = self._stored(self._wall_clock())
        ids = sorted(row_ids)
        for start in range(0, len(ids), _IDS_PER_QUERY):
            connection.execute(update(task_table).where(task_table.c.id.in_(ids[start:start + _IDS_PER_QUERY]))
                               .values(enabled=False, last_run_at=None, total_run_count=0, date_changed=now))
        connection.execute(update(stamp_table).where(stamp_table.c.ident == 1).values(last_update=now))
        log.info("django_celery_beat store %s: disabled %d one-off rows after their run (ids %s)",
                 self.where, len(ids), ", ".join(map(str, ids[:20])))


def _block_of(row_id: int) -> int:
    return row_id - row_id % BLOCK_IDS


# ---------------------------------------------------------------------------------------
# beatd convert --django-celery-beat


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversion:
    """Every row as entry keys (by entry name, in id order), and the rows that were not converted."""

    entries: dict[str, dict[str, Any]]
    skipped: list[str]


def convert_database(url: str, *, default_zone: tzinfo = UTC) -> Conversion:
    """Read a DCB database once and convert every row (disabled ones too, as `enabled: false`).

    Raises:
        ConfigError: the URL or the tables are not usable.
        BackendUnavailable: the database cannot be read.
    """
    store = DjangoCeleryBeatStore(url, default_zone=default_zone)
    try:
        rows = store.all_rows()
    finally:
        store.close()
    entries: dict[str, dict[str, Any]] = {}
    skipped = []
    for values in rows:
        try:
            meaning = meaning_of_row(values, store.naive_zone, default_zone)
            _entry(values, meaning.mapping, default_zone)
        except RowSkipped as exc:
            skipped.append(f"{TASK_TABLE} id {values['id']}: entry {values['name']!r}: {exc}")
            continue
        entries[meaning.name] = meaning.mapping
    return Conversion(entries=entries, skipped=skipped)


def converted_yaml(conversion: Conversion, where: str) -> str:
    """A beatd config file of a conversion: its entries, and the skipped rows as comments at the top."""
    lines = [f"# Converted from the django-celery-beat tables of {where} by `beatd convert`: "
             f"{len(conversion.entries)} entries, with DCB's meaning (day_match both: Celery's crontab day rule)."]
    lines += [f"# not converted: {problem}" for problem in conversion.skipped]
    text = yaml.safe_dump({"entries": conversion.entries}, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return "\n".join(lines) + "\n" + text
