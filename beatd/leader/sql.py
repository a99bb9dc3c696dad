"""The leader lease as a row in a SQL database (SQLite, PostgreSQL, MariaDB/MySQL), timed by its clock.

One table, created when missing, one row per lease name:

    beatd_lease   name (primary key), holder, token, expires_at_us

expires_at_us is whole microseconds since 1970-01-01T00:00:00Z on the database server's
clock, in a BIGINT: exact on every database and free of driver time-zone conversions.
token is the fencing token: it starts at the server's time in milliseconds and grows by
one on every new acquisition. Every comparison with "now" and every new expiry is computed
inside the statement from the server's clock, so the competing hosts never compare clocks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy
from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    String,
    Table,
    inspect,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from beatd.errors import BackendUnavailable, ConfigError
from beatd.leader.base import (
    MAX_HOLDER_CHARS,
    Lease,
    LeaseBackend,
    LeaseInfo,
    monotonic_clock,
)
from beatd.sqlhelpers import (
    MYSQL_DIALECTS,
    check_dialect,
    check_sqlite_directory,
    create_engine,
    create_tables,
    driver_reason,
)
from beatd.urls import redact_url

DEFAULT_LEASE_NAME = "beatd"
MAX_LEASE_NAME_CHARS = 255

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)
# A lease call must fail fast rather than hang past the publish deadline: the daemon
# retries anyway. Only drivers known to take these arguments get them.
_TIMEOUT_S = 5
# On PostgreSQL the server enforces them too: a holder frozen inside its renew
# transaction (SIGSTOP, a dead host behind a half-open connection) must not keep the
# lease row locked, or standbys would wait on it silently and never take over.
_POSTGRES_TIMEOUTS = (f"-c lock_timeout={_TIMEOUT_S * 1000} -c statement_timeout={_TIMEOUT_S * 1000} "
                      f"-c idle_in_transaction_session_timeout={_TIMEOUT_S * 1000}")
_DRIVER_TIMEOUTS: dict[str, dict[str, Any]] = {
    "psycopg2": {"connect_timeout": _TIMEOUT_S, "options": _POSTGRES_TIMEOUTS},
    "psycopg": {"connect_timeout": _TIMEOUT_S, "options": _POSTGRES_TIMEOUTS},
    "pymysql": {"connect_timeout": _TIMEOUT_S, "read_timeout": _TIMEOUT_S, "write_timeout": _TIMEOUT_S},
    "mysqldb": {"connect_timeout": _TIMEOUT_S, "read_timeout": _TIMEOUT_S, "write_timeout": _TIMEOUT_S},
}


def _exact_string(length: int) -> sqlalchemy.types.TypeEngine[str]:
    """A VARCHAR that compares case and accents exactly: MariaDB's default collation folds
    them, and must not let one holder renew another's lease. (Trailing spaces are ignored
    even by utf8mb4_bin; check_holder refuses them.)"""
    return String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), *MYSQL_DIALECTS)


_metadata = MetaData()

_lease = Table(
    "beatd_lease",
    _metadata,
    Column("name", _exact_string(MAX_LEASE_NAME_CHARS), primary_key=True),
    Column("holder", _exact_string(MAX_HOLDER_CHARS), nullable=True),
    Column(
        "token",
        BigInteger,
        nullable=False,
        comment="fencing token: starts at the database time in ms, grows by one on every new acquisition",
    ),
    Column(
        "expires_at_us",
        BigInteger,
        nullable=False,
        comment="microseconds since 1970-01-01T00:00:00Z on the database clock; 0 = free",
    ),
    comment="beatd: the leader lease, one row per lease name",
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)


class SqlLeaseBackend(LeaseBackend):
    """A LeaseBackend in table beatd_lease of a SQLite, PostgreSQL or MariaDB/MySQL database.

    Pass a SQLAlchemy URL, or an existing engine to share its pool; only an engine it
    created is disposed by `close`. name tells leases apart when several beatd clusters
    share one database. The table and the lease row are created on first use, so a
    backend built while the database is down works once it is back.

    Raises:
        ConfigError: the URL or engine is unusable, or a SQLite file's directory is missing.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        engine: Engine | None = None,
        name: str = DEFAULT_LEASE_NAME,
        monotonic: Callable[[], float] = monotonic_clock,
    ) -> None:
        if (url is None) == (engine is None):
            raise TypeError("SqlLeaseBackend takes exactly one of url or engine")
        if not name or len(name) > MAX_LEASE_NAME_CHARS or name != name.strip():
            raise ValueError(
                f"lease name {name!r} must be 1 to {MAX_LEASE_NAME_CHARS} characters long, without surrounding spaces"
            )
        self._owns_engine = engine is None
        self.engine = engine if engine is not None else create_engine(
            str(url), unusable=f"lease store URL {redact_url(str(url))!r} is not usable", driver_arguments=_DRIVER_TIMEOUTS
        )
        self._where = redact_url(self.engine.url.render_as_string(hide_password=False))
        dialect_name = self.engine.dialect.name
        try:
            check_dialect(self.engine, where=f"lease store {self._where}", otherwise=", or `leader: {backend: redis}`")
            check_sqlite_directory(self.engine, where=f"lease store {self._where}", fix="`leader: url`")
        except ConfigError:
            self.close()
            raise
        self._name = name
        self._now_us = _server_now_us(dialect_name)
        # The first token is the server's time in milliseconds, not 1: should the row be
        # lost (deleted, the table dropped, a new database), tokens still exceed every
        # earlier one, which the state store's fence insists on. Same rule as RedisLeaseBackend.
        self._insert_free_row = _insert_ignoring_duplicates(dialect_name).values(
            name=name, holder=None, token=self._now_us // 1000, expires_at_us=0
        )
        self._monotonic = monotonic
        self._ready = False
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SqlLeaseBackend({self._where!r}, name={self._name!r})"

    def _acquire(self, holder: str, ttl: timedelta) -> Lease | None:
        ttl_us = ttl // _ONE_MICROSECOND
        with self._backend_errors():
            for _attempt in range(2):
                self._prepare()
                with self.engine.begin() as connection:
                    # Read before the first statement goes out: the server's "now" in it is
                    # later, so a local validity counted from here ends before the lease does.
                    sent_monotonic = self._monotonic()
                    if self._renew(connection, holder, ttl_us) or self._take(connection, holder, ttl_us):
                        return self._held_lease(connection, holder, sent_monotonic)
                    if connection.execute(select(_lease.c.name).where(_lease.c.name == self._name)).first():
                        return None
                # The row is gone (someone reset the lease by deleting it): without it every
                # instance would stand by for ever. Create it again and try once more.
                self._ready = False
        return None

    def release(self, lease: Lease) -> None:
        with self._backend_errors():
            self._prepare()
            with self.engine.begin() as connection:
                # Matching the token as well as the holder: a release of an old term must
                # not end a newer one. The token stays, so the next holder's is larger.
                connection.execute(
                    update(_lease)
                    .where(
                        _lease.c.name == self._name,
                        _lease.c.holder == lease.holder,
                        _lease.c.token == lease.token,
                    )
                    .values(expires_at_us=0)
                )

    def current(self) -> LeaseInfo | None:
        with self._backend_errors(), self.engine.connect() as connection:
            # `beatd status` must not create tables; a missing table means nobody ever led.
            if not self._ready and not inspect(connection).has_table(_lease.name):
                return None
            row = connection.execute(
                select(
                    _lease.c.holder,
                    _lease.c.token,
                    _lease.c.expires_at_us,
                    self._now_us.label("now_us"),
                ).where(_lease.c.name == self._name)
            ).one_or_none()
        if row is None or row.holder is None or row.expires_at_us <= row.now_us:
            return None
        return LeaseInfo(holder=row.holder, token=row.token, expires_at=_from_microseconds(row.expires_at_us))

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def _renew(self, connection: Connection, holder: str, ttl_us: int) -> bool:
        """Extend holder's lease while it is live on the server's clock; the token stays."""
        result = connection.execute(
            update(_lease)
            .where(
                _lease.c.name == self._name,
                _lease.c.holder == holder,
                _lease.c.expires_at_us > self._now_us,
            )
            .values(expires_at_us=self._now_us + ttl_us)
        )
        return result.rowcount == 1

    def _held_lease(self, connection: Connection, holder: str, sent_monotonic: float) -> Lease:
        """The lease just renewed or taken, read inside the transaction that keeps its row locked."""
        row = connection.execute(
            select(_lease.c.token, _lease.c.expires_at_us).where(_lease.c.name == self._name)
        ).one()
        return Lease(
            holder=holder,
            token=row.token,
            expires_at=_from_microseconds(row.expires_at_us),
            acquired_monotonic=sent_monotonic,
        )

    def _take(self, connection: Connection, holder: str, ttl_us: int) -> bool:
        """Take a free or expired lease for holder with the next token.

        The WHERE is evaluated against the latest committed row under its lock (PostgreSQL
        re-checks it after waiting, InnoDB reads the current version, SQLite holds the
        database write lock), so of several concurrent takers exactly one matches. An
        expired lease of holder's own is taken here too: its publish deadline passed long
        ago, and a new token tells the daemon to start a new term.
        """
        result = connection.execute(
            update(_lease)
            .where(_lease.c.name == self._name, _lease.c.expires_at_us <= self._now_us)
            .values(holder=holder, token=_lease.c.token + 1, expires_at_us=self._now_us + ttl_us)
        )
        return result.rowcount == 1

    def _prepare(self) -> None:
        """Create the table and this lease's row once; retried on later calls until done."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            self._create_table()
            with self.engine.begin() as connection:
                connection.execute(self._insert_free_row)
            self._ready = True

    def _create_table(self) -> None:
        create_tables(_metadata, self.engine, cannot=f"lease store {self._where}: cannot create table beatd_lease")

    @contextmanager
    def _backend_errors(self) -> Iterator[None]:
        """Turn every error the database reports into BackendUnavailable, without the password.

        A lease call fails for the daemon's purposes the same way whether the server is down
        or the table was dropped: it stops publishing, logs this, and retries. After any
        error the next call checks the table and row again, so a dropped table or a deleted
        row is created anew.
        """
        try:
            yield
        except Exception as exc:
            self._ready = False
            if isinstance(exc, (DBAPIError, sqlalchemy.exc.TimeoutError)):
                raise BackendUnavailable(f"lease store {self._where} is unavailable: {driver_reason(exc)}") from exc
            raise


def _server_now_us(dialect_name: str) -> ColumnElement[int]:
    """Microseconds since the epoch on the database server's clock, one value per statement.

    The same "now" must hold for the WHERE and the SET of one UPDATE, or a lease could be
    judged expired at one instant and given an expiry from another.
    """
    if dialect_name == "postgresql":
        # statement_timestamp() is when the server received the statement and is constant
        # within it (clock_timestamp() is not); now() would be frozen at BEGIN.
        expression = "CAST(FLOOR(EXTRACT(EPOCH FROM statement_timestamp()) * 1000000) AS BIGINT)"
    elif dialect_name in MYSQL_DIALECTS:
        # UTC_TIMESTAMP(6) is the statement's start, in UTC: UNIX_TIMESTAMP(NOW(6)) would go
        # through the session time zone and be an hour off in a DST fall-back's repeated hour.
        expression = "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6))"
    else:
        # SQLite reads 'now' once per statement step (documented in lang_datefunc), to the
        # millisecond; 2440587.5 is the Julian day of the Unix epoch.
        expression = "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
    return literal_column(expression, BigInteger)


def _insert_ignoring_duplicates(dialect_name: str) -> Insert:
    """INSERT the lease row unless it exists; racing first starts all succeed, none errs."""
    if dialect_name in MYSQL_DIALECTS:
        return mysql.insert(_lease).prefix_with("IGNORE")
    if dialect_name == "postgresql":
        return postgresql.insert(_lease).on_conflict_do_nothing(index_elements=[_lease.c.name])
    return sqlite.insert(_lease).on_conflict_do_nothing(index_elements=[_lease.c.name])


def _from_microseconds(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


