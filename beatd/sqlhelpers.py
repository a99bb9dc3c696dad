"""The SQL backends' one engine factory and dialect list, and the small SQLAlchemy helpers they share."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy import Engine, MetaData, String
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, NoSuchModuleError, OperationalError
from sqlalchemy.types import TypeDecorator, TypeEngine

from beatd.entry import MAX_ENTRY_NAME_CHARS
from beatd.errors import BackendUnavailable, ConfigError

MYSQL_DIALECTS = ("mysql", "mariadb")
# Every SQL backend (state, lease, entry stores) runs on these and only these.
SUPPORTED_DIALECTS = ("sqlite", "postgresql", *MYSQL_DIALECTS)
_T = TypeVar("_T")

ConnectHook = Callable[[Any, Any], None]


def create_engine(
    url: str | sqlalchemy.URL,
    *,
    unusable: str,
    hint: str = "",
    driver_arguments: Mapping[str, Mapping[str, Any]] | None = None,
    on_sqlite_connect: ConnectHook | None = None,
) -> Engine:
    """The engine of one SQL backend; what differs between backends comes in as arguments.

    Every engine pings a pooled connection before handing it out, so a connection the
    server dropped (a restart, an idle timeout) is replaced instead of failing the next
    statement. `driver_arguments` maps a DBAPI driver name ("psycopg2", "pymysql") to the
    connect arguments it gets (the lease's timeouts); `on_sqlite_connect` runs on each
    new SQLite connection (e.g. `tune_sqlite_connection`).

    Raises:
        ConfigError: "<unusable>: <SQLAlchemy's reason><hint>" for a malformed URL or a
            driver that is not installed.
    """
    try:
        driver = sqlalchemy.make_url(url).get_driver_name()
        connect_args = dict((driver_arguments or {}).get(driver, {}))
        engine = sqlalchemy.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"{unusable}: {exc}{hint}") from exc
    if on_sqlite_connect is not None and engine.dialect.name == "sqlite":
        sqlalchemy.event.listen(engine, "connect", on_sqlite_connect)
    return engine


def check_dialect(engine: Engine, *, where: str, otherwise: str = "") -> None:
    """Refuse a database none of the SQL backends supports.

    Raises:
        ConfigError: "<where>: database 'x' is not supported; use one of sqlite, ...<otherwise>".
    """
    if engine.dialect.name not in SUPPORTED_DIALECTS:
        raise ConfigError(f"{where}: database {engine.dialect.name!r} is not supported; "
                          f"use one of {', '.join(SUPPORTED_DIALECTS)}{otherwise}")


def driver_reason(exc: BaseException) -> str:
    """The driver's own words, first line only, without SQLAlchemy's statement and links."""
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(original).strip() or type(original).__name__
    return text.splitlines()[0]


def create_tables(metadata: MetaData, engine: Engine, *, cannot: str) -> None:
    """create_all, tolerating another instance creating the same tables at the same moment.

    Raises:
        OperationalError, InterfaceError: the server cannot be reached (the caller maps it).
        ConfigError: the tables cannot be created; `cannot` says what, e.g.
            "lease store URL: cannot create table beatd_lease".
    """
    try:
        metadata.create_all(engine, checkfirst=True)
        return
    except DBAPIError:
        # Another instance may have created the tables between our check and our
        # CREATE TABLE; a second pass then finds them, and a second failure is real.
        pass
    try:
        metadata.create_all(engine, checkfirst=True)
    except (OperationalError, InterfaceError):
        raise
    except DBAPIError as exc:
        raise ConfigError(f"{cannot}: {driver_reason(exc)}; grant the database user CREATE, "
                          "or create them as an administrator") from exc


def check_sqlite_directory(engine: Engine, *, where: str, fix: str) -> None:
    """A SQLite path in a missing directory is a configuration mistake, not an outage.

    Raises:
        ConfigError: "<where>: directory '...' does not exist; create it or fix <fix>".
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return
    directory = os.path.dirname(os.path.abspath(database))
    if not os.path.isdir(directory):
        raise ConfigError(f"{where}: directory {directory!r} does not exist; create it or fix {fix}")


class EntryName(TypeDecorator[str]):
    """An entry name that compares exactly: case, accents and trailing spaces included.

    MariaDB/MySQL's default collations fold case and ignore trailing spaces, so 'report'
    and 'Report ' would share one primary key there. On those servers the name is kept as
    its UTF-8 bytes in VARBINARY, which compares byte for byte.
    """

    impl = String(MAX_ENTRY_NAME_CHARS)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in MYSQL_DIALECTS:
            return dialect.type_descriptor(mysql.VARBINARY(4 * MAX_ENTRY_NAME_CHARS))
        return dialect.type_descriptor(String(MAX_ENTRY_NAME_CHARS))

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        if value is not None and dialect.name in MYSQL_DIALECTS:
            return value.encode("utf-8")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if isinstance(value, (bytes, bytearray)):
            return bytes(value).decode("utf-8")
        return None if value is None else str(value)


def tune_sqlite_connection(dbapi_connection: Any, _connection_record: Any) -> None:
    """WAL lets readers run beside the writer; synchronous=FULL fsyncs the WAL at each commit.

    A commit that returned is then on disk: it survives kill -9 of beatd (any mode would)
    and also a crash of the machine (NORMAL would not promise that).
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


class AutocommitReader:
    """One autocommit connection for an entry store's reads: each statement sees what was committed before it.

    A connection the server dropped (a restart, an idle timeout) is replaced once,
    silently, before a read reports BackendUnavailable with `unavailable` and the
    driver's words.
    """

    def __init__(self, engine: Engine, unavailable: str) -> None:
        self.engine = engine
        self.unavailable = unavailable
        self._connection: Connection | None = None

    def read(self, work: Callable[[Connection], _T]) -> _T:
        for attempt in (1, 2):
            try:
                if self._connection is None:
                    self._connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                return work(self._connection)
            except DBAPIError as exc:
                self.drop()
                if attempt == 1 and exc.connection_invalidated:
                    continue  # the server restarted or dropped us since the last call
                raise BackendUnavailable(f"{self.unavailable}: {driver_reason(exc)}") from exc
            except sqlalchemy.exc.TimeoutError as exc:
                self.drop()
                raise BackendUnavailable(f"{self.unavailable}: {exc}") from exc
        raise AssertionError("unreachable")

    def drop(self) -> None:
        """Let go of the connection (the next read opens another)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()
                connection.close()
            except DBAPIError:
                pass
