"""Last-run state in a SQL database (SQLite, PostgreSQL, MariaDB/MySQL) through SQLAlchemy Core.

Three tables, created when missing:

    beatd_state        entry (primary key), scheduled_at_us, sent_at_us, run_count
    beatd_state_meta   one row (id = 1): format_version, fence_token
    beatd_entry_fault  entry (primary key), reason, detail, since_us, attempts: entries held back

Instants are stored as whole microseconds since 1970-01-01T00:00:00Z in BIGINT columns:
exact on every database (no driver time-zone conversion, no fractional-second rounding)
and ordered as the instants are, so the upsert can compare them in SQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    case,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from beatd.errors import BackendUnavailable, ConfigError
from beatd.gcpause import garbage_collection_paused
from beatd.sqlhelpers import (
    MYSQL_DIALECTS,
    EntryName,
    check_dialect,
    check_sqlite_directory,
    create_engine,
    create_tables,
    driver_reason,
    tune_sqlite_connection,
)
from beatd.state.base import STATE_FORMAT_VERSION, EntryFault, RunRecord, StateStore
from beatd.urls import redact_url

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)


_META_ROW_ID = 1
_DELETE_CHUNK = 500
_ROWS_PER_FETCH = 10_000
# How many distinct instants _InstantMemo keeps: far more than a batch's, and bounded
# when every record's instants differ.
_INSTANTS_REMEMBERED = 65_536
# scheme://user:password@host: the password runs to the authority's last "@".


_metadata = MetaData()
_MICROSECONDS_COMMENT = "microseconds since 1970-01-01T00:00:00Z"

_state = Table(
    "beatd_state",
    _metadata,
    Column("entry", EntryName(), primary_key=True),
    Column("scheduled_at_us", BigInteger, nullable=False, comment=_MICROSECONDS_COMMENT),
    Column("sent_at_us", BigInteger, nullable=False, comment=_MICROSECONDS_COMMENT),
    Column("run_count", BigInteger, nullable=False),
    comment="beatd: the newest run recorded for each entry",
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

_meta = Table(
    "beatd_state_meta",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("format_version", Integer, nullable=False),
    Column("fence_token", BigInteger, nullable=False, comment="highest lease token that has written"),
    comment="beatd: layout version and fencing token of beatd_state",
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)


_fault = Table(
    "beatd_entry_fault",
    _metadata,
    Column("entry", EntryName(), primary_key=True),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("since_us", BigInteger, nullable=False, comment=_MICROSECONDS_COMMENT),
    Column("attempts", BigInteger, nullable=False),
    comment="beatd: entries whose runs the leader holds back, and why",
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)


class SqlStateStore(StateStore):
    """A StateStore in two tables of a SQLite, PostgreSQL or MariaDB/MySQL database.

    Pass a SQLAlchemy URL, or an existing engine to share its pool; the store disposes
    only an engine it created. Opening connects, creates the tables when missing and
    checks their format version. For SQLite files the store's own engine runs in WAL
    mode with synchronous=FULL, so a committed record survives kill -9 and power loss.

    Raises:
        ConfigError: the URL or engine is unusable, or the tables were written by a newer
            beatd (the message says which version and what to do).
        BackendUnavailable: the database cannot be reached.
    """

    def __init__(self, url: str | None = None, *, engine: Engine | None = None) -> None:
        if (url is None) == (engine is None):
            raise TypeError("SqlStateStore takes exactly one of url or engine")
        self._owns_engine = engine is None
        if engine is None:
            engine = create_engine(
                str(url),
                unusable=f"state URL {redact_url(str(url))!r} is not usable",
                hint="; expected a URL such as sqlite:///var/lib/beatd/state.sqlite3, postgresql+psycopg2://user@host/db, "
                     "mysql+pymysql://user@host/db or redis://host:6379/0",
                on_sqlite_connect=tune_sqlite_connection,
            )
        self.engine = engine
        self._where = redact_url(engine.url.render_as_string(hide_password=False))
        with self._closed_on_error():
            check_dialect(engine, where=f"state store {self._where}", otherwise=", or a redis:// URL")
            self._upsert = _upsert_statement(engine.dialect.name)
            # SQLite runs in-process, so its driver's executemany of plain tuples costs a
            # third of the same rows through SQLAlchemy's parameter processing. Elsewhere
            # SQLAlchemy's multi-row INSERT batching saves round trips, so it stays.
            self._sqlite_upsert = (str(self._upsert.compile(dialect=engine.dialect))
                                   if engine.dialect.name == "sqlite" else None)
            self._prepare()

    def __repr__(self) -> str:
        return f"SqlStateStore({self._where!r})"

    def load(self) -> dict[str, RunRecord]:
        records: dict[str, RunRecord] = {}
        with self._backend_errors(), self.engine.connect() as connection, garbage_collection_paused():
            self._check_format(connection.execute(select(_meta.c.format_version)).scalar_one_or_none())
            # One statement, so one consistent snapshot, streamed in batches (a server-side
            # cursor inside the connection's transaction): a million rows are never all in
            # memory beside their records.
            rows = connection.execute(select(*_state.c[_RECORD_COLUMNS]).execution_options(yield_per=_ROWS_PER_FETCH))
            # Records share few instants (one sent_at per batch, slots on common grids):
            # one datetime object per distinct instant keeps a million records small.
            instant = _InstantMemo()
            for entry, scheduled_at_us, sent_at_us, run_count in rows:
                records[entry] = RunRecord(entry=entry, scheduled_at=instant(scheduled_at_us),
                                           sent_at=instant(sent_at_us), run_count=run_count)
        return records

    def _write_records(self, records: Sequence[RunRecord], token: int) -> None:
        # A batch's records share few instants (one sent_at, the slots of a second).
        microseconds = _MicrosecondsMemo()
        rows = [
            (run.entry, microseconds(run.scheduled_at), microseconds(run.sent_at), run.run_count)
            for run in records
        ]
        with self._backend_errors(), self.engine.begin() as connection:
            self._claim_fence(connection, token)
            if not rows:
                return
            if self._sqlite_upsert is not None:
                connection.exec_driver_sql(self._sqlite_upsert, rows)
            else:
                # A list of parameter sets runs as executemany; SQLAlchemy and the drivers
                # batch it into multi-row INSERTs, so ten thousand rows are a few round trips.
                connection.execute(self._upsert, [dict(zip(_RECORD_COLUMNS, row)) for row in rows])

    def _drop_entries(self, entry_names: Sequence[str], token: int) -> None:
        with self._backend_errors(), self.engine.begin() as connection:
            self._claim_fence(connection, token)
            for start in range(0, len(entry_names), _DELETE_CHUNK):
                chunk = entry_names[start : start + _DELETE_CHUNK]
                connection.execute(delete(_state).where(_state.c.entry.in_(chunk)))
                connection.execute(delete(_fault).where(_fault.c.entry.in_(chunk)))

    def load_faults(self) -> dict[str, EntryFault]:
        with self._backend_errors(), self.engine.connect() as connection:
            rows = connection.execute(select(_fault)).all()
        return {
            row.entry: EntryFault(entry=row.entry, reason=row.reason, detail=row.detail,
                                  since=_from_microseconds(row.since_us), attempts=row.attempts)
            for row in rows
        }

    def _write_faults(self, failing: Sequence[EntryFault], recovered: Sequence[str], token: int) -> None:
        # Few entries fail at once: delete-then-insert is plain SQL on every database.
        rows = [{"entry": fault.entry, "reason": fault.reason, "detail": fault.detail,
                 "since_us": _to_microseconds(fault.since), "attempts": fault.attempts} for fault in failing]
        names = list(dict.fromkeys([*recovered, *(row["entry"] for row in rows)]))
        with self._backend_errors(), self.engine.begin() as connection:
            self._claim_fence(connection, token)
            for start in range(0, len(names), _DELETE_CHUNK):
                connection.execute(delete(_fault).where(_fault.c.entry.in_(names[start : start + _DELETE_CHUNK])))
            if rows:
                connection.execute(insert(_fault), rows)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def _prepare(self) -> None:
        """Create the tables and the meta row if missing, then check the format version."""
        with self._backend_errors():
            check_sqlite_directory(self.engine, where=f"state store {redact_url(str(self.engine.url))}",
                                   fix="the path in `state:`")
            self._create_tables()
            try:
                with self.engine.begin() as connection:
                    if connection.execute(select(_meta.c.id)).first() is None:
                        connection.execute(
                            insert(_meta).values(
                                id=_META_ROW_ID, format_version=STATE_FORMAT_VERSION, fence_token=0
                            )
                        )
            except IntegrityError:
                pass  # another instance inserted the row first; theirs is as good as ours
            with self.engine.connect() as connection:
                self._check_format(connection.execute(select(_meta.c.format_version)).scalar_one_or_none())

    def _create_tables(self) -> None:
        cannot = f"state store {self._where}: cannot create tables beatd_state, beatd_state_meta and beatd_entry_fault"
        create_tables(_metadata, self.engine, cannot=cannot)

    def _claim_fence(self, connection: Connection, token: int) -> None:
        """Lock the meta row, refuse a token lower than the stored one, raise the stored one.

        The conditional UPDATE is the transaction's first statement, and it takes the lock
        every other writer queues behind until we commit: the meta row's lock on PostgreSQL
        and MariaDB (as SELECT ... FOR UPDATE would), the database's write lock on SQLite (a
        write as the first statement takes it at once, as BEGIN IMMEDIATE would). So no
        other leader can raise the token between our check and our upsert.
        """
        connection.execute(
            update(_meta)
            .where(_meta.c.id == _META_ROW_ID, _meta.c.fence_token <= token)
            .values(fence_token=token)
        )
        row = connection.execute(
            select(_meta.c.format_version, _meta.c.fence_token)
            .where(_meta.c.id == _META_ROW_ID)
            .with_for_update()
        ).one_or_none()
        if row is None:
            raise ConfigError(
                f"state store {self._where}: table beatd_state_meta has lost its row, and with it "
                "the fencing token; restore it from a backup, or drop both beatd_state tables "
                "to start afresh"
            )
        self._check_format(row.format_version)
        if row.fence_token > token:
            raise self._fenced_off(token, row.fence_token)

    @contextmanager
    def _backend_errors(self) -> Iterator[None]:
        """Turn "cannot reach the database" into BackendUnavailable, without the password."""
        try:
            yield
        except (OperationalError, InterfaceError, sqlalchemy.exc.TimeoutError) as exc:
            raise BackendUnavailable(f"state store {self._where} is unavailable: {driver_reason(exc)}") from exc


def _upsert_statement(dialect_name: str) -> sqlalchemy.Insert:
    """INSERT the row, or update the stored one unless that would move scheduled_at back.

    A stale record (an older scheduled_at) leaves the whole stored row as it is.
    """
    if dialect_name in MYSQL_DIALECTS:
        mysql_insert = mysql.insert(_state)
        incoming = mysql_insert.inserted
        not_older = incoming.scheduled_at_us >= _state.c.scheduled_at_us
        # MariaDB/MySQL apply these assignments left to right, and each later one sees the
        # values set before it; scheduled_at_us, which the condition reads, must go last.
        return mysql_insert.on_duplicate_key_update(
            [
                (column, case((not_older, incoming[column]), else_=_state.c[column]))
                for column in ("sent_at_us", "run_count", "scheduled_at_us")
            ]
        )
    conflict_insert = sqlite.insert(_state) if dialect_name == "sqlite" else postgresql.insert(_state)
    excluded = conflict_insert.excluded
    upsert = conflict_insert.on_conflict_do_update(
        index_elements=[_state.c.entry],
        set_={column: excluded[column] for column in ("scheduled_at_us", "sent_at_us", "run_count")},
        where=excluded.scheduled_at_us >= _state.c.scheduled_at_us,
    )
    if dialect_name != "postgresql":
        return upsert
    # SQLAlchemy batches an executemany into multi-row INSERTs ("insertmanyvalues") for an
    # ON CONFLICT statement only when it has RETURNING (sqlalchemy#13130); without it,
    # psycopg2 sends one statement per row: 10,000 records took 1.1 s instead of 0.4 s.
    # The returned names are not used.
    return upsert.returning(_state.c.entry)


# The order of a record's values in the upsert's parameters (as the statement names them).
_RECORD_COLUMNS = ("entry", "scheduled_at_us", "sent_at_us", "run_count")


class _MicrosecondsMemo(dict[datetime, int]):
    """_to_microseconds, remembering each instant's value for the life of the memo."""

    def __call__(self, instant: datetime) -> int:
        value = self.get(instant)
        if value is None:
            value = self[instant] = _to_microseconds(instant)
        return value


class _InstantMemo(dict[int, datetime]):
    """_from_microseconds, handing out one datetime per distinct value while the memo is not full."""

    def __call__(self, microseconds: int) -> datetime:
        instant = self.get(microseconds)
        if instant is None:
            instant = _from_microseconds(microseconds)
            if len(self) < _INSTANTS_REMEMBERED:
                self[microseconds] = instant
        return instant


def _to_microseconds(instant: datetime) -> int:
    """Whole microseconds since the epoch of an aware instant, exact (no float on the way)."""
    return (instant - _EPOCH) // _ONE_MICROSECOND


def _from_microseconds(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)
