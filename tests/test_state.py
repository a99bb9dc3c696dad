"""The state store contract, run on every backend: SQLite, PostgreSQL, MariaDB and Redis."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import connections
import pytest
import sqlalchemy
from connections import admin_engine

from beatd.errors import BackendUnavailable, ConfigError, LeaseLost
from beatd.state import STATE_FORMAT_VERSION, RunRecord, StateStore, open_state_store
from beatd.state.redis import RedisStateStore
from beatd.state.sql import SqlStateStore
from beatd.urls import redact_url

T0 = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)
PASSWORD = "s3cr3t-Pw"


def run(
    entry: str, scheduled_at: datetime, *, count: int = 1, sent_after: timedelta = timedelta(milliseconds=3)
) -> RunRecord:
    return RunRecord(entry=entry, scheduled_at=scheduled_at, sent_at=scheduled_at + sent_after, run_count=count)


@dataclass
class Backend:
    """One backend under test: opens stores on a fresh database and watches its connections."""

    name: str
    url: str
    count_connections: Callable[[], int]
    write_format_version: Callable[[int], None]
    opened: list[StateStore] = field(default_factory=list)

    def open(self) -> StateStore:
        store = open_state_store(self.url)
        self.opened.append(store)
        return store


def _write_sql_format_version(url: str) -> Callable[[int], None]:
    def write(version: int) -> None:
        with admin_engine(url).begin() as connection:
            connection.exec_driver_sql(f"UPDATE beatd_state_meta SET format_version = {version}")

    return write


def _write_redis_format_version(url: str) -> Callable[[int], None]:
    import redis

    def write(version: int) -> None:
        with redis.Redis.from_url(url) as client:
            client.set("beatd:state:format", version)

    return write


BACKENDS = {
    "sqlite": (connections.sqlite_handles, _write_sql_format_version),
    "postgres": (connections.postgres_sessions, _write_sql_format_version),
    "mysql": (connections.mysql_sessions, _write_sql_format_version),
    "redis": (connections.redis_clients, _write_redis_format_version),
}


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.services),
        pytest.param("mysql", marks=pytest.mark.services),
        pytest.param("redis", marks=pytest.mark.services),
    ]
)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each backend on a database of its own; at teardown every store is closed and no
    connection the test opened may remain (a poll, as servers notice a hang-up late)."""
    url = request.getfixturevalue(f"{request.param}_url")
    if request.param == "redis":
        url += f"?client_name=beatd-test-{uuid.uuid4().hex[:10]}"
    count_connections, format_writer = BACKENDS[request.param]
    backend = Backend(request.param, url, count_connections(url), format_writer(url))
    baseline = backend.count_connections()
    yield backend
    for store in backend.opened:
        store.close()
    deadline = time.monotonic() + 5
    while (leftover := backend.count_connections()) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftover == baseline, f"{leftover - baseline} connection(s) to {backend.name} left open"


@pytest.fixture
def store(backend: Backend) -> StateStore:
    return backend.open()


def test_empty_store_loads_nothing(store: StateStore) -> None:
    assert store.load() == {}


def test_record_round_trips_microseconds_as_aware_utc(store: StateStore) -> None:
    # Given instants with microseconds, in a zone with a half-hour offset and in Berlin
    # summer time, and one before the epoch
    kolkata = datetime(2026, 10, 25, 6, 29, 59, 123_457, tzinfo=ZoneInfo("Asia/Kolkata"))
    berlin = datetime(2026, 7, 1, 12, 0, 0, 1, tzinfo=ZoneInfo("Europe/Berlin"))
    old = datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    store.record([run("kolkata", kolkata, count=7), run("berlin", berlin), run("old", old)], token=0)

    loaded = store.load()

    assert loaded["kolkata"] == RunRecord(
        entry="kolkata",
        scheduled_at=datetime(2026, 10, 25, 0, 59, 59, 123_457, tzinfo=UTC),
        sent_at=datetime(2026, 10, 25, 0, 59, 59, 126_457, tzinfo=UTC),
        run_count=7,
    )
    assert loaded["berlin"].scheduled_at.isoformat() == "2026-07-01T10:00:00.000001+00:00"
    assert loaded["old"].scheduled_at.isoformat() == "1969-12-31T23:59:59.999999+00:00"
    assert all(record.scheduled_at.tzinfo == UTC and record.sent_at.tzinfo == UTC for record in loaded.values())


def test_entry_names_are_kept_exactly(store: StateStore) -> None:
    # MariaDB's default collations would merge the first three into one key
    names = ["report", "Report", "report ", "überprüfung", "报告-每日", "x" * 255]
    store.record([run(name, T0 + timedelta(seconds=index)) for index, name in enumerate(names)], token=0)

    loaded = store.load()

    assert sorted(loaded) == sorted(names)
    assert loaded["report "].scheduled_at == T0 + timedelta(seconds=2)


def test_record_updates_an_existing_entry(store: StateStore) -> None:
    store.record([run("a", T0, count=1), run("b", T0, count=1)], token=0)

    # a batch may name an entry twice; its newest run counts
    store.record([run("a", T0 + timedelta(minutes=1), count=2), run("a", T0, count=9)], token=0)

    loaded = store.load()
    assert loaded["a"] == run("a", T0 + timedelta(minutes=1), count=2)
    assert loaded["b"] == run("b", T0, count=1)


def test_record_never_moves_scheduled_at_backwards(store: StateStore) -> None:
    # Given a newer run on record
    store.record([run("a", T0 + timedelta(minutes=5), count=5)], token=0)

    # When a stale run of "a" comes in the same batch as a new entry, and then the same
    # instant is recorded again with a later send time
    store.record([run("a", T0, count=9), run("b", T0)], token=0)
    loaded_after_stale = store.load()
    store.record([run("a", T0 + timedelta(minutes=5), count=6, sent_after=timedelta(seconds=2))], token=0)

    # Then the stale run changed nothing of "a", the new entry was written, and the equal
    # instant was accepted
    assert loaded_after_stale["a"] == run("a", T0 + timedelta(minutes=5), count=5)
    assert loaded_after_stale["b"] == run("b", T0)
    assert store.load()["a"] == run("a", T0 + timedelta(minutes=5), count=6, sent_after=timedelta(seconds=2))


def test_a_lower_token_is_fenced_off_and_writes_nothing(backend: Backend) -> None:
    # Given two instances on one store: the old leader wrote with token 5
    old_leader, new_leader = backend.open(), backend.open()
    old_leader.record([run("a", T0, count=1)], token=5)

    # When a leader with token 4 writes, through either store object
    for store in (old_leader, new_leader):
        with pytest.raises(LeaseLost, match=r"lease token 4 is fenced off, token 5 has written since"):
            store.record([run("a", T0 + timedelta(hours=1), count=2), run("new", T0)], token=4)
        with pytest.raises(LeaseLost, match=r"lease token 4 is fenced off"):
            store.forget(["a"], token=4)

    # Then nothing of either batch was written
    assert new_leader.load() == {"a": run("a", T0, count=1)}

    # When the new leader writes with token 6, the old one's token 5 is fenced off too
    new_leader.record([run("a", T0 + timedelta(hours=2), count=3)], token=6)
    with pytest.raises(LeaseLost, match=r"lease token 5 is fenced off, token 6 has written since"):
        old_leader.record([run("a", T0 + timedelta(hours=3), count=4)], token=5)
    assert old_leader.load() == {"a": run("a", T0 + timedelta(hours=2), count=3)}


def _write_at_once(store: StateStore, token: int, start: threading.Barrier, outcomes: dict[int, str]) -> None:
    start.wait()
    try:
        store.record([run("shared", T0, count=token), run(f"own-{token}", T0)], token=token)
        outcomes[token] = "written"
    except LeaseLost:
        outcomes[token] = "fenced"


def test_racing_leaders_never_let_a_fenced_write_land(backend: Backend) -> None:
    # Given eight instances that write at the same moment, each with its own token, each
    # to a shared entry (run_count = its token) and to an entry of its own
    rounds, writers = 4, 8
    stores = [backend.open() for _ in range(writers)]
    for round_number in range(rounds):
        offsets = random.Random(round_number).sample(range(1, writers + 1), writers)
        tokens = [round_number * 100 + offset for offset in offsets]
        start = threading.Barrier(writers)
        outcomes: dict[int, str] = {}
        threads = [
            threading.Thread(target=_write_at_once, args=(store, token, start, outcomes))
            for store, token in zip(stores, tokens, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        # Then the highest token always wins the shared entry: a write that passed the
        # fence before it and committed after it would show here as a lower run_count
        loaded = stores[0].load()
        assert loaded["shared"].run_count == max(tokens)
        # and each batch landed whole or not at all
        assert len(outcomes) == writers
        written = {token for token, outcome in outcomes.items() if outcome == "written"}
        assert {token for token in tokens if f"own-{token}" in loaded} == written


def test_an_empty_batch_still_raises_the_fence(store: StateStore) -> None:
    store.record([], token=9)

    with pytest.raises(LeaseLost):
        store.record([run("a", T0)], token=8)
    assert store.load() == {}


def test_tokens_beyond_float_precision_compare_exactly(store: StateStore) -> None:
    # 2**53 + 1 is the first integer a double cannot hold; Lua numbers are doubles
    store.record([run("a", T0)], token=2**53 + 1)

    with pytest.raises(LeaseLost):
        store.record([run("a", T0 + timedelta(seconds=1))], token=2**53)
    store.record([run("a", T0 + timedelta(seconds=2))], token=2**63 - 1)
    assert store.load()["a"].scheduled_at == T0 + timedelta(seconds=2)


def test_forget_drops_only_the_named_entries(store: StateStore) -> None:
    # Given more entries than one DELETE or HDEL takes at a time
    names = [f"entry-{index}" for index in range(2_500)]
    store.record([run(name, T0) for name in names], token=0)

    store.forget(["never-recorded", *names[1:], names[1]], token=0)

    assert store.load() == {"entry-0": run("entry-0", T0)}


def test_a_batch_of_10000_records_is_one_call(
    store: StateStore, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = [run(f"entry-{index:05d}", T0 + timedelta(microseconds=index), count=index) for index in range(10_000)]

    started = time.perf_counter()
    store.record(batch, token=1)
    inserted_s = time.perf_counter() - started
    later = [
        run(record.entry, record.scheduled_at + timedelta(minutes=1), count=record.run_count + 1) for record in batch
    ]
    started = time.perf_counter()
    store.record(later, token=1)
    updated_s = time.perf_counter() - started
    started = time.perf_counter()
    loaded = store.load()
    loaded_s = time.perf_counter() - started

    assert len(loaded) == 10_000
    assert loaded["entry-09999"] == later[-1]
    assert loaded["entry-00000"] == later[0]
    with capsys.disabled():
        print(
            f"\n[state {backend.name}] 10,000 records: insert {inserted_s:.3f} s, "
            f"update {updated_s:.3f} s, load {loaded_s:.3f} s"
        )


def test_state_survives_reopening_the_store(backend: Backend) -> None:
    first = backend.open()
    first.record([run("a", T0, count=3)], token=7)
    first.close()

    second = backend.open()

    assert second.load() == {"a": run("a", T0, count=3)}
    with pytest.raises(LeaseLost):
        second.record([run("a", T0 + timedelta(seconds=1))], token=6)


def test_a_newer_format_version_is_refused_with_the_reason(backend: Backend) -> None:
    # Given a store in use, then upgraded by a newer beatd
    running = backend.open()
    running.record([run("a", T0)], token=0)
    backend.write_format_version(STATE_FORMAT_VERSION + 1)
    expected = (
        f"holds state format version {STATE_FORMAT_VERSION + 1}, but this beatd reads versions up to "
        f"{STATE_FORMAT_VERSION}: a newer beatd has written it. Upgrade beatd"
    )

    # Then a new store refuses to open, and the running one refuses to read or write
    with pytest.raises(ConfigError, match=expected):
        backend.open()
    with pytest.raises(ConfigError, match=expected):
        running.load()
    with pytest.raises(ConfigError, match=expected):
        running.record([run("a", T0 + timedelta(seconds=1))], token=0)


_CHILD = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timezone
    from beatd.state import RunRecord, open_state_store

    store = open_state_store(sys.argv[1])
    at = datetime(2026, 3, 29, 1, 0, 0, 654321, tzinfo=timezone.utc)
    store.record([RunRecord(entry="survivor", scheduled_at=at, sent_at=at, run_count=42)], token=3)
    print("recorded", flush=True)
    time.sleep(60)
    """
)


def test_a_recorded_run_survives_kill_9(backend: Backend) -> None:
    # Given a process that recorded a run and holds its connection open
    child = subprocess.Popen([sys.executable, "-c", _CHILD, backend.url], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "recorded"
    finally:
        # When it is killed without a chance to close or checkpoint anything
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.stdout is not None
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    # Then a new store reads the run back
    at = datetime(2026, 3, 29, 1, 0, 0, 654321, tzinfo=UTC)
    assert backend.open().load() == {"survivor": RunRecord(entry="survivor", scheduled_at=at, sent_at=at, run_count=42)}


def test_invalid_records_and_tokens_are_refused_before_writing(store: StateStore) -> None:
    with pytest.raises(ConfigError, match=r"is 256 characters long; state stores keep names of up to 255"):
        store.record([run("ok", T0), run("x" * 256, T0)], token=0)
    with pytest.raises(ValueError, match=r"entry 'naive': instant .* is naive"):
        store.record([run("naive", T0.replace(tzinfo=None))], token=0)
    with pytest.raises(ValueError, match=r"lease token -1 is not an integer from 0 to"):
        store.record([run("ok", T0)], token=-1)
    assert store.load() == {}


def test_sqlite_store_runs_in_wal_mode_with_full_sync(sqlite_url: str) -> None:
    store = SqlStateStore(sqlite_url)
    try:
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
    finally:
        store.close()


def test_sqlite_path_in_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"directory '.*/missing' does not exist; create it or fix the path"):
        open_state_store(f"sqlite:///{tmp_path}/missing/state.sqlite3")


def test_a_sql_store_can_share_an_existing_engine(sqlite_url: str) -> None:
    engine = sqlalchemy.create_engine(sqlite_url)
    try:
        store = SqlStateStore(engine=engine)
        store.record([run("a", T0)], token=0)
        store.close()
        # close() left the caller's engine usable
        assert SqlStateStore(engine=engine).load() == {"a": run("a", T0)}
        assert "***" not in repr(store) and "state.sqlite3" in repr(store)
    finally:
        engine.dispose()


@pytest.mark.services
def test_a_redis_store_can_share_an_existing_client(redis_url: str) -> None:
    import redis

    # A client that decodes replies to str, unlike the store's own
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        store = RedisStateStore(client=client, prefix="shared")
        store.record([run("a", T0)], token=0)
        store.close()
        # close() left the caller's client usable, and the prefix names the keys
        assert store.load() == {"a": run("a", T0)}
        assert client.exists("shared:state") and all(key.startswith("shared:") for key in client.keys("*"))
        assert repr(store) == f"RedisStateStore('{redis_url}', prefix='shared')"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "url_template",
    [
        "postgresql+psycopg2://beatd:{password}@127.0.0.1:{port}/beatd",
        "mysql+pymysql://beatd:{password}@127.0.0.1:{port}/beatd",
        "redis://:{password}@127.0.0.1:{port}/0",
    ],
    ids=["postgres", "mysql", "redis"],
)
def test_a_closed_port_raises_backend_unavailable_without_the_password(url_template: str) -> None:
    port = _closed_port()

    with pytest.raises(BackendUnavailable) as raised:
        open_state_store(url_template.format(password=PASSWORD, port=port))

    message = str(raised.value)
    assert PASSWORD not in message
    assert f"127.0.0.1:{port}" in message and ":***@" in message
    assert message.startswith("state store ") and " is unavailable: " in message


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgresql://beatd:pw@db:5432/beatd", "postgresql://beatd:***@db:5432/beatd"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://user:p%40ss@cache/1", "rediss://user:***@cache/1"),
        ("postgresql://beatd:p@ss:w0rd@db/beatd", "postgresql://beatd:***@db/beatd"),
        ("unix:///run/redis.sock?db=2&password=pw", "unix:///run/redis.sock?db=2&password=***"),
        ("mysql+pymysql://root@127.0.0.1/test", "mysql+pymysql://root@127.0.0.1/test"),
        ("sqlite:////var/lib/beatd/state.sqlite3", "sqlite:////var/lib/beatd/state.sqlite3"),
    ],
    ids=[
        "user-password",
        "password-only",
        "encoded-password",
        "raw-at-sign",
        "query-password",
        "no-password",
        "sqlite",
    ],
)
def test_redact_url_hides_passwords(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


@pytest.mark.parametrize(
    ("scheme", "store_type"),
    [pytest.param("redis", RedisStateStore, marks=pytest.mark.services), ("sqlite", SqlStateStore)],
    ids=["redis", "sqlite"],
)
def test_open_state_store_chooses_the_backend_by_scheme(
    scheme: str, store_type: type[StateStore], request: pytest.FixtureRequest
) -> None:
    store = open_state_store(request.getfixturevalue(f"{scheme}_url"))
    try:
        assert type(store) is store_type
    finally:
        store.close()
