"""Shared fixtures: real services (skip with a hint locally, fail under BEATD_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest
from processes import Processes

REQUIRE_SERVICES = os.environ.get("BEATD_REQUIRE_SERVICES") == "1"

# How to start each service on a developer machine, shown when a test skips.
START_HINTS = {
    "redis": "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no",
    "rabbitmq": "rabbitmq-server -detached",
    "postgres": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "mariadb": "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
}
PORTS = {"redis": 6379, "rabbitmq": 5672, "postgres": 5432, "mariadb": 3306}


def require_service(name: str) -> None:
    """Skip (or fail, under BEATD_REQUIRE_SERVICES=1) unless the service's port answers."""
    try:
        with socket.create_connection(("127.0.0.1", PORTS[name]), timeout=1):
            return
    except OSError as exc:
        message = f"{name} is not reachable on 127.0.0.1:{PORTS[name]} ({exc}); start it with: {START_HINTS[name]}"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database number of its own, flushed before and after the test."""
    require_service("redis")
    import redis

    url = "redis://127.0.0.1:6379/9"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def amqp_url() -> str:
    """The local RabbitMQ (guest/guest); tests use uniquely named queues."""
    require_service("rabbitmq")
    return "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped after the test."""
    require_service("postgres")
    import sqlalchemy

    name = f"beatd_test_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(
        "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh MariaDB database, dropped after the test."""
    require_service("mariadb")
    import sqlalchemy

    name = f"beatd_test_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine("mysql+pymysql://root@127.0.0.1:3306/test")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    yield f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A SQLite file of the test's own."""
    return f"sqlite:///{tmp_path / 'state.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def sql_url(request) -> str:
    """Each SQL database in turn, for contract suites."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def processes() -> Iterator[Processes]:
    """What the test starts (beatd, workers, servers); whatever still runs at teardown is ended."""
    started = Processes()
    try:
        yield started
    finally:
        started.close()
