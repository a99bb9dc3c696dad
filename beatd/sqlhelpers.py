"""Small SQLAlchemy helpers the SQL state store, lease backend and entry store share."""

from __future__ import annotations

import os

from sqlalchemy import Engine, MetaData
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from beatd.errors import ConfigError


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
