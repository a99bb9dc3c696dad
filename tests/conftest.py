"""Shared fixtures: real services (skip with a hint locally, fail under BEATD_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from processes import Processes, RedisServer, free_port

REQUIRE_SERVICES = os.environ.get("BEATD_REQUIRE_SERVICES") == "1"

# How to start each service on a developer machine, shown when a test skips.
START_HINTS = {
    "redis": "apt-get install redis-server (the tests start a server of their own), or set BEATD_TEST_REDIS_URL",
    "rabbitmq": "rabbitmq-server -detached",
    "postgres": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "mariadb": "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
}
PORTS = {"rabbitmq": 5672, "postgres": 5432, "mariadb": 3306}

# Redis: each test run starts a redis-server of its own (a free port, nothing kept on disk),
# so the tests never write a database that something else on the machine uses; under
# pytest-xdist each worker starts one, as the tests flush their database numbers. Set
# BEATD_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379) to use a server whose databases the
# tests may flush instead (then run them in one process: `-n 0`).
REDIS_URL_VARIABLE = "BEATD_TEST_REDIS_URL"
_private_redis: RedisServer | None = None


def _is_xdist_controller(config: pytest.Config) -> bool:
    """True in the process that hands tests to xdist workers and runs none itself."""
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


def pytest_configure(config: pytest.Config) -> None:
    global _private_redis
    if os.environ.get(REDIS_URL_VARIABLE) or shutil.which("redis-server") is None or _is_xdist_controller(config):
        return
    _private_redis = RedisServer(port=free_port(), directory=Path(tempfile.mkdtemp(prefix="beatd-test-redis-")),
                                 persistent=False)
    _private_redis.start()
    os.environ[REDIS_URL_VARIABLE] = f"redis://127.0.0.1:{_private_redis.port}"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _private_redis is not None:
        _private_redis.kill()
        shutil.rmtree(_private_redis.directory, ignore_errors=True)


def redis_test_url(database: int = 0) -> str:
    """A database of the test run's Redis (see REDIS_URL_VARIABLE)."""
    base = os.environ.get(REDIS_URL_VARIABLE, "redis://127.0.0.1:6379").rstrip("/")
    return f"{base}/{database}"


def _address(name: str) -> tuple[str, int]:
    if name == "redis":
        parts = urlsplit(redis_test_url())
        return parts.hostname or "127.0.0.1", parts.port or 6379
    return "127.0.0.1", PORTS[name]


def require_service(name: str) -> None:
    """Skip (or fail, under BEATD_REQUIRE_SERVICES=1) unless the service's port answers."""
    host, port = _address(name)
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError as exc:
        message = f"{name} is not reachable on {host}:{port} ({exc}); start it with: {START_HINTS[name]}"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database number of its own, flushed before and after the test."""
    require_service("redis")
    import redis

    url = redis_test_url(9)
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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services),
                        pytest.param("mysql", marks=pytest.mark.services)])
def dcb_url(request: pytest.FixtureRequest) -> str:
    """A fresh database of each kind, migrated by Django with django_celery_beat's migrations (tests/dcb_project)."""
    from dcb_project import dcb

    url: str = request.getfixturevalue(f"{request.param}_url")
    dcb(url, "migrate")
    return url
