"""Count a test's open connections to a store, so tests can prove that closing releases them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import sqlalchemy
from conftest import redis_test_url
from sqlalchemy.pool import NullPool

Counter = Callable[[], int]

POSTGRES_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
MYSQL_ADMIN_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


def admin_engine(url: str) -> sqlalchemy.Engine:
    """An engine that keeps no connection open between uses, so it does not count itself."""
    return sqlalchemy.create_engine(url, poolclass=NullPool)


def sqlite_handles(url: str) -> Counter:
    """Open file descriptors of this process on the database file or its WAL and journal."""
    path = os.path.realpath(sqlalchemy.make_url(url).database or "")

    def count() -> int:
        targets = []
        for fd in Path("/proc/self/fd").iterdir():
            try:
                targets.append(os.readlink(fd))
            except OSError:
                continue
        return sum(target.startswith(path) for target in targets)

    return count


def _sql_sessions(admin_url: str, query: str, url: str) -> Counter:
    database = sqlalchemy.make_url(url).database

    def count() -> int:
        with admin_engine(admin_url).connect() as connection:
            return int(connection.exec_driver_sql(query, {"name": database}).scalar_one())

    return count


def postgres_sessions(url: str) -> Counter:
    return _sql_sessions(POSTGRES_ADMIN_URL, "SELECT count(*) FROM pg_stat_activity WHERE datname = %(name)s", url)


def mysql_sessions(url: str) -> Counter:
    return _sql_sessions(MYSQL_ADMIN_URL, "SELECT count(*) FROM information_schema.processlist WHERE db = %(name)s", url)


def redis_clients(url: str) -> Counter:
    """Clients carrying the URL's client_name, or else on its database (other test runs may share the server)."""
    import redis

    parts = urlsplit(url)
    names = parse_qs(parts.query).get("client_name")
    database = parts.path.lstrip("/") or "0"

    def count() -> int:
        with redis.Redis.from_url(redis_test_url(0)) as admin:
            clients = admin.client_list(_type="normal")
        if names:
            return sum(client["name"] == names[0] for client in clients)
        return sum(client["db"] == database for client in clients)

    return count


COUNTERS: dict[str, Callable[[str], Counter]] = {
    "sqlite": sqlite_handles,
    "postgres": postgres_sessions,
    "mysql": mysql_sessions,
    "redis": redis_clients,
}
