"""Entries in a SQL database (SQLite, PostgreSQL, MariaDB/MySQL), read incrementally by revision.

Three tables, created by `beatd db upgrade` (the Alembic migrations in ./migrations):

    beatd_entries            one row per entry: its YAML keys as columns, plus id,
                             revision, created_at and updated_at
    beatd_entry_tombstones   name, revision, deleted_at: one row per deleted name
    beatd_entries_revision   one row (id = 1): the revision counter

Every write to beatd_entries, by this module or by any other program with plain SQL,
runs triggers (installed by the migration) that take the next value of the counter row,
stamp it on the written row as `revision`, and record deleted names (and the old name of
a renamed row) as tombstones with their revision. A reader remembers the counter value
it has seen (its cursor); "what changed" is then the rows and tombstones with a larger
revision, found through an index. Why a counter row and not a sequence or max(revision):
the UPDATE of the counter row locks it until the writer commits, so revisions become
visible in the order they were handed out. With a sequence, a transaction holding
revision 7 may commit after one holding 8 has been read, and a reader whose cursor moved
to 8 would never see 7. Why tombstones: a deleted row leaves nothing to find by revision.

Reads run in autocommit mode, each statement on its own snapshot. `changes` reads the
counter (head) first, then the rows and tombstones with cursor < revision <= head, and
moves the cursor to head: every revision up to head was committed before head was, so
none is missed, and a row rewritten meanwhile (its revision now above head) comes back,
in its newer form, in the next call. `load` reads every row after the counter, so a row
written in between may be returned again by the next `changes`, which is harmless.
docs/sql-store.md tells the long story and what other writers must (not) do.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    column,
    delete,
    func,
    insert,
    select,
    table,
    update,
)
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)

from beatd.entry import Entry
from beatd.errors import BackendUnavailable, ConfigError
from beatd.sqlhelpers import (
    AutocommitReader,
    EntryName,
    check_dialect,
    check_sqlite_directory,
    create_engine,
    driver_reason,
    tune_sqlite_connection,
)
from beatd.stores.conversion import (
    ENTRIES_TABLE,
    JSON_KEYS,
    mapping_of_row,
    row_of_mapping,
)
from beatd.stores.revisioned import (
    RevisionedEntryStore,
    RowToEntry,
    Window,
    check_schema_revision,
    lost_counter,
)
from beatd.urls import redact_url

log = logging.getLogger("beatd.stores.sql")

TOMBSTONES_TABLE = "beatd_entry_tombstones"
REVISION_TABLE = "beatd_entries_revision"
# Not Alembic's default `alembic_version`: the database may be an application's whose
# own Alembic history lives there.
VERSION_TABLE = "beatd_alembic_version"

_NAMES_PER_QUERY = 500
# Rows per query when reading every entry: enough to amortise the round trip, few
# enough that a page is small beside the entries it becomes.
_ROWS_PER_PAGE = 10_000

metadata = MetaData()

entries_table = Table(
    ENTRIES_TABLE,
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", EntryName(), nullable=False),
    Column("task", Text, nullable=False),
    Column("kind", String(16), nullable=False, comment="every, cron, solar or at: the schedule column that is set"),
    Column("every_s", Double, comment="interval in seconds"),
    Column("cron", Text),
    Column("day_match", String(16),
           comment="cron entries: NULL or either (day of month OR day of week), both (AND, as Celery)"),
    Column("solar", String(32)),
    Column("lat", Double),
    Column("lon", Double),
    Column("elevation", Double),
    Column("at", String(64), comment="ISO 8601; without an offset it is read in the entry's zone"),
    Column("args", JSON(none_as_null=True)),
    Column("kwargs", JSON(none_as_null=True)),
    Column("options", JSON(none_as_null=True)),
    Column("enabled", Boolean, nullable=False, server_default=sqlalchemy.true()),
    Column("timezone", String(64)),
    Column("catchup", String(16)),
    Column("jitter_s", Double),
    Column("start_at", String(64), comment="ISO 8601, the YAML key `start`"),
    Column("end_at", String(64), comment="ISO 8601, the YAML key `end`"),
    Column("description", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revision", BigInteger, nullable=False, server_default="0", index=True,
           comment="set by trigger from beatd_entries_revision on every write"),
    UniqueConstraint("name", name="uq_beatd_entries_name"),
    comment="beatd: schedule entries",
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

tombstones_table = Table(
    TOMBSTONES_TABLE,
    metadata,
    Column("name", EntryName(), primary_key=True),
    Column("revision", BigInteger, nullable=False, index=True),
    Column("deleted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    comment="beatd: names deleted from beatd_entries (or renamed away), with the revision of the deletion",
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

revision_table = Table(
    REVISION_TABLE,
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", BigInteger, nullable=False),
    comment="beatd: one row, the revision counter of beatd_entries",
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

_version_table = table(VERSION_TABLE, column("version_num", String(32)))
_ENTRY_COLUMNS = [c for c in entries_table.c if c.name not in ("id", "created_at", "updated_at", "revision")]
# What reading an entry needs: its id (for messages), its columns, not the timestamps.
_READ_COLUMNS = [entries_table.c.id, *_ENTRY_COLUMNS]

_T = TypeVar("_T")


def _same_row(stored: Mapping[Any, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether a write would change nothing; JSON compared as text, so [1], [1.0] and [true] differ."""
    for name, value in wanted.items():
        held = stored[name]
        if name in JSON_KEYS:
            if json.dumps(held) != json.dumps(value):
                return False
        elif held != value:
            return False
    return True


# ---------------------------------------------------------------------------------------
# The store


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEntry:
    """One row of beatd_entries as stored: its YAML keys and its bookkeeping columns."""

    row_id: int
    name: str
    kind: str
    mapping: dict[str, Any]
    revision: int
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UpsertCounts:
    """What `upsert_many` did: rows inserted, rows rewritten, rows left as they were."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0


class SqlEntryStore(RevisionedEntryStore):
    """An EntryStore in beatd_entries, plus the writes the CLI and applications use.

    Pass a SQLAlchemy URL, or an existing engine to share its pool (the store keeps one
    of its connections for reading); the store disposes only an engine it created.
    Opening does not connect: `load` does, so a daemon can start while the database is
    down. Reads run on that one connection in autocommit mode, so an idle `changes` is
    one statement and one round trip; a connection the server dropped is replaced once,
    silently, before a read reports BackendUnavailable.

    `default_zone` is the zone of entries without a `timezone` (the daemon's `timezone`).
    Writes validate each entry as a YAML file's entry is validated, with the same
    messages, and raise ConfigError("entry 'name': ...") before writing anything.
    """

    log = log

    def __init__(self, url: str | None = None, *, engine: Engine | None = None, default_zone: tzinfo = UTC) -> None:
        if (url is None) == (engine is None):
            raise TypeError("SqlEntryStore takes exactly one of url or engine")
        self._owns_engine = engine is None
        self.engine = engine if engine is not None else create_store_engine(str(url))
        self.default_zone = default_zone
        self.where = redact_url(self.engine.url.render_as_string(hide_password=False))
        try:
            check_dialect(self.engine, where=f"entry store {self.where}")
        except ConfigError:
            if self._owns_engine:
                self.engine.dispose()
            raise
        super().__init__()
        self._reader = AutocommitReader(self.engine, f"entry store {self.where} is unavailable")
        self._schema_checked = False

    def __repr__(self) -> str:
        return f"SqlEntryStore({self.where!r})"

    def __str__(self) -> str:
        return f"sql {self.where}"

    # -- reading ------------------------------------------------------------------------------

    def _read_all(self, entry_of_row: RowToEntry) -> tuple[int, list[Entry]]:
        def read(connection: Connection) -> tuple[int, list[Entry]]:
            if not self._schema_checked:
                self._check_schema(connection)
            head = self._head(connection, startup=True)
            # Page by id, each page dropped once converted: no driver buffers the whole
            # table then (psycopg2 and PyMySQL fetch a whole result into memory, and a
            # server-side cursor needs a transaction). A row written while the pages are
            # read has a revision above head, so the next window reads it again anyway.
            entries: list[Entry] = []
            after: int | None = None
            while True:
                page = select(*_READ_COLUMNS).order_by(entries_table.c.id).limit(_ROWS_PER_PAGE)
                if after is not None:
                    page = page.where(entries_table.c.id > after)
                rows = connection.execute(page).mappings().all()
                entries.extend(entry for row in rows if (entry := entry_of_row(row)) is not None)
                if len(rows) < _ROWS_PER_PAGE:
                    return head, entries
                after = rows[-1]["id"]

        return self._read(read)

    def _read_window(self, cursor: int) -> Window | None:
        def read(connection: Connection) -> Window | None:
            head = self._head(connection, startup=False)
            if head == cursor:
                return None
            if head < cursor:
                return Window(head=head, rows=[], gone=[])
            # Bounded by head; why that loses nothing is in the module docstring.
            rows = [row._mapping for row in connection.execute(select(*_READ_COLUMNS).where(
                entries_table.c.revision > cursor, entries_table.c.revision <= head))]
            gone = list(connection.execute(select(tombstones_table.c.name).where(
                tombstones_table.c.revision > cursor, tombstones_table.c.revision <= head)).scalars())
            return Window(head=head, rows=rows, gone=gone)

        return self._read(read)

    def _head(self, connection: Connection, *, startup: bool) -> int:
        head = connection.execute(select(revision_table.c.revision).where(revision_table.c.id == 1)).scalar()
        if head is None:
            raise lost_counter(self.where, startup=startup)
        return int(head)

    def _check_schema(self, connection: Connection) -> None:
        """Refuse a database without the tables, or with tables of another beatd version."""
        has_table = sqlalchemy.inspect(connection).has_table(VERSION_TABLE)
        version = connection.execute(select(_version_table.c.version_num)).scalar() if has_table else None
        check_schema_revision(version, self.where, f"run: beatd db upgrade --url {self.where}")
        self._schema_checked = True

    def _read(self, work: Callable[[Connection], _T]) -> _T:
        return self._reader.read(work)

    def close(self) -> None:
        self._reader.drop()
        if self._owns_engine:
            self.engine.dispose()

    # -- browsing -----------------------------------------------------------------------------

    def rows(self) -> list[StoredEntry]:
        """Every row as stored, valid or not, by name."""
        rows = self._read(lambda connection: list(connection.execute(select(entries_table).order_by(entries_table.c.id))))
        return sorted((_stored(row) for row in rows), key=lambda stored: stored.name)

    def get(self, name: str) -> StoredEntry | None:
        """The row of one entry as stored, or None."""
        row = self._read(lambda connection: connection.execute(
            select(entries_table).where(entries_table.c.name == name)).first())
        return None if row is None else _stored(row)

    def problem_of(self, stored: StoredEntry) -> str | None:
        """Why a stored row would be skipped, or None if it is a valid entry."""
        try:
            self.entry_of(stored.row_id, stored.name, stored.kind, stored.mapping)
        except ConfigError as exc:
            return str(exc)
        return None

    # -- writing ------------------------------------------------------------------------------

    def add(self, name: str, mapping: Mapping[str, Any]) -> None:
        """Insert a new entry.

        Raises:
            ConfigError: the entry does not validate, or an entry of that name exists.
        """
        values = row_of_mapping(name, mapping)

        def write(connection: Connection) -> None:
            if self._id_of(connection, name) is not None:
                raise ConfigError(f"entry {name!r} already exists in {self.where}; change it with `beatd entries edit`")
            connection.execute(insert(entries_table).values(values))

        self._write(write)

    def update(self, name: str, mapping: Mapping[str, Any]) -> bool:
        """Replace an entry's keys with `mapping` (keys left out are removed); False if nothing changed.

        Raises:
            ConfigError: the entry does not validate, or no entry has that name.
        """
        values = row_of_mapping(name, mapping)

        def write(connection: Connection) -> bool:
            stored = connection.execute(select(entries_table).where(entries_table.c.name == name)).first()
            if stored is None:
                raise self._missing(name)
            if _same_row(stored._mapping, values):
                return False
            connection.execute(update(entries_table).where(entries_table.c.id == stored.id).values(values))
            return True

        return self._write(write)

    def set_enabled(self, name: str, enabled: bool) -> bool:
        """Enable or disable an entry; False if it already was.

        Raises:
            ConfigError: no entry has that name.
        """
        def write(connection: Connection) -> bool:
            result = connection.execute(update(entries_table).where(entries_table.c.name == name,
                                                                    entries_table.c.enabled != enabled)
                                        .values(enabled=enabled))
            if result.rowcount:
                return True
            if self._id_of(connection, name) is None:
                raise self._missing(name)
            return False

        return self._write(write)

    def remove(self, name: str) -> None:
        """Delete an entry (a tombstone tells readers).

        Raises:
            ConfigError: no entry has that name.
        """
        def write(connection: Connection) -> None:
            if not connection.execute(delete(entries_table).where(entries_table.c.name == name)).rowcount:
                raise self._missing(name)

        self._write(write)

    def upsert_many(self, mappings: Mapping[str, Mapping[str, Any]]) -> UpsertCounts:
        """Insert or replace many entries in one transaction, all or none; identical rows are not rewritten.

        Raises:
            ConfigError: an entry does not validate (the first one, in the mapping's order);
                nothing is written.
        """
        wanted = {name: row_of_mapping(name, mapping) for name, mapping in mappings.items()}

        def write(connection: Connection) -> UpsertCounts:
            stored = self._rows_named(connection, list(wanted))
            new = [values for name, values in wanted.items() if name not in stored]
            changed = [{"match_name": name, **values} for name, values in wanted.items()
                       if name in stored and not _same_row(stored[name], values)]
            if new:
                connection.execute(insert(entries_table), new)
            if changed:
                statement = (update(entries_table).where(entries_table.c.name == bindparam("match_name"))
                             .values({c.name: bindparam(c.name) for c in _ENTRY_COLUMNS}))
                connection.execute(statement, changed)
            return UpsertCounts(added=len(new), changed=len(changed), unchanged=len(wanted) - len(new) - len(changed))

        return self._write(write)

    def _rows_named(self, connection: Connection, names: list[str]) -> dict[str, Mapping[Any, Any]]:
        columns = [entries_table.c[c.name] for c in _ENTRY_COLUMNS]
        if len(names) > 4 * _NAMES_PER_QUERY:
            rows = connection.execute(select(*columns)).all()
        else:
            rows = [row for start in range(0, len(names), _NAMES_PER_QUERY)
                    for row in connection.execute(select(*columns).where(
                        entries_table.c.name.in_(names[start:start + _NAMES_PER_QUERY])))]
        return {row.name: row._mapping for row in rows}

    def _id_of(self, connection: Connection, name: str) -> int | None:
        return connection.execute(select(entries_table.c.id).where(entries_table.c.name == name)).scalar()

    def _missing(self, name: str) -> ConfigError:
        return ConfigError(f"no entry named {name!r} in {self.where}")

    def _write(self, work: Callable[[Connection], _T]) -> _T:
        try:
            with self.engine.begin() as connection:
                _lock_for_writing(connection)
                return work(connection)
        except (OperationalError, InterfaceError, sqlalchemy.exc.TimeoutError) as exc:
            raise BackendUnavailable(f"entry store {self.where} is unavailable: {driver_reason(exc)}") from exc
        except IntegrityError as exc:
            raise ConfigError(f"entry store {self.where}: the database refused the write: {driver_reason(exc)}") from exc
        except DBAPIError as exc:
            raise ConfigError(f"entry store {self.where}: the database refused the write: {driver_reason(exc)}; "
                              f"are the tables there (beatd db upgrade) and may this user write them?") from exc


def _lock_for_writing(connection: Connection) -> None:
    """Start a write transaction holding the lock every writer of beatd_entries needs.

    The triggers lock the counter row at the first row written; taking it first means
    two writers that each hold a row the other wants cannot deadlock. On SQLite, whose
    driver would begin the transaction only at the first INSERT (after our reads), BEGIN
    IMMEDIATE takes the database's write lock at once instead.
    """
    if connection.dialect.name == "sqlite":
        dbapi_connection = connection.connection.dbapi_connection
        if dbapi_connection is not None and not getattr(dbapi_connection, "in_transaction", True):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        return
    connection.execute(select(revision_table.c.revision).where(revision_table.c.id == 1).with_for_update())


def _stored(row: Row[Any]) -> StoredEntry:
    def aware(moment: datetime | None) -> datetime | None:
        # MySQL DATETIME and SQLite text come back naive; the triggers write them in UTC.
        return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment

    return StoredEntry(row_id=row.id, name=row.name, kind=row.kind, mapping=mapping_of_row(row._mapping), revision=row.revision,
                       created_at=aware(row.created_at), updated_at=aware(row.updated_at))


def create_store_engine(url: str) -> Engine:
    """A SQLAlchemy engine for the entry store.

    Raises:
        ConfigError: the URL is malformed, names an unknown driver, or a SQLite file in a
            directory that does not exist.
    """
    engine = create_engine(url, unusable=f"entry store URL {redact_url(url)!r} is not usable",
                           hint="; expected a URL such as sqlite:///var/lib/beatd/entries.sqlite3, "
                                "postgresql+psycopg2://user@host/db or mysql+pymysql://user@host/db",
                           on_sqlite_connect=tune_sqlite_connection)
    try:
        check_sqlite_directory(engine, where=f"entry store {redact_url(url)}", fix="the entry store URL")
    except ConfigError:
        engine.dispose()
        raise
    return engine
