"""Leader election: the publish rule on a fake clock, the lease contract on every store, the local lock."""

from __future__ import annotations

import math
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import connections
import pytest
import sqlalchemy
from connections import admin_engine
from conftest import redis_test_url
from sqlalchemy.pool import NullPool, QueuePool

from beatd.errors import BackendUnavailable, ConfigError, LeaseLost
from beatd.leader import (
    NEVER_EXPIRES,
    Lease,
    LeaseBackend,
    LeaseKeeper,
    LocalLeaseBackend,
    default_lock_path,
    holder_id,
    monotonic_clock,
    open_lease_backend,
)
from beatd.leader.redis import RedisLeaseBackend
from beatd.leader.sql import SqlLeaseBackend

PASSWORD = "s3cr3t-Pw"
TTL = timedelta(seconds=10)
# Server-clock expiry cannot be simulated; these tests wait it out in real time, briefly.
SHORT_TTL = timedelta(milliseconds=500)


def lease_at(acquired_monotonic: float, *, token: int = 7) -> Lease:
    return Lease(
        holder="host:1:ab",
        token=token,
        expires_at=datetime(2026, 3, 29, tzinfo=UTC),
        acquired_monotonic=acquired_monotonic,
    )


# ---------------------------------------------------------------------------------------
# LeaseKeeper: the leader's own rule, on a fake monotonic clock (no sleeps)


@pytest.mark.parametrize(
    ("ttl", "acquired", "deadline", "renew_at"),
    [
        (timedelta(seconds=9), 100.0, 106.0, 103.0),
        (timedelta(seconds=10), 0.0, 20 / 3, 10 / 3),
        (timedelta(seconds=2), 5000.25, 5000.25 + 4 / 3, 5000.25 + 2 / 3),
        (timedelta(milliseconds=1500), 1.0, 2.0, 1.5),
    ],
    ids=["9s", "10s-from-zero", "2s", "1.5s"],
)
def test_publishing_is_allowed_until_just_before_the_deadline_and_not_at_it(
    ttl: timedelta, acquired: float, deadline: float, renew_at: float
) -> None:
    keeper = LeaseKeeper(ttl)
    keeper.hold(lease_at(acquired))

    assert keeper.publish_deadline() == pytest.approx(deadline, abs=1e-12)
    assert keeper.renew_at() == pytest.approx(renew_at, abs=1e-12)
    exact_deadline = keeper.publish_deadline()
    assert exact_deadline is not None
    assert keeper.may_publish(acquired)
    assert keeper.may_publish(math.nextafter(exact_deadline, -math.inf))
    assert not keeper.may_publish(exact_deadline)
    assert not keeper.may_publish(exact_deadline + 1e-9)


def test_a_9s_ttl_stops_publishing_at_exactly_6s() -> None:
    keeper = LeaseKeeper(timedelta(seconds=9))
    keeper.hold(lease_at(100.0))

    assert keeper.may_publish(105.999999)
    assert not keeper.may_publish(106.0)


def test_renewal_is_due_from_a_third_of_the_ttl() -> None:
    keeper = LeaseKeeper(timedelta(seconds=9))
    keeper.hold(lease_at(100.0))

    assert not keeper.renew_due(102.999999)
    assert keeper.renew_due(103.0)
    assert keeper.renew_due(200.0)


def test_without_a_lease_nothing_may_be_published_and_acquiring_is_due() -> None:
    keeper = LeaseKeeper(TTL)

    assert keeper.lease is None and keeper.publish_deadline() is None
    assert not keeper.may_publish(0.0)
    assert keeper.renew_due(0.0)
    with pytest.raises(LeaseLost, match="no leader lease is held"):
        keeper.check(0.0)


def test_a_process_paused_past_its_lease_notices_on_resume() -> None:
    # Given a leader that acquired at t=100 with ttl 9 s and published at t=101
    keeper = LeaseKeeper(timedelta(seconds=9))
    keeper.hold(lease_at(100.0, token=41))
    assert keeper.check(101.0).token == 41

    # When SIGSTOP freezes it for three ttl and SIGCONT resumes it at t=128
    resumed_at = 128.0

    # Then its first publish check, made with the clock read at that moment, refuses
    assert not keeper.may_publish(resumed_at)
    with pytest.raises(LeaseLost) as lost:
        keeper.check(resumed_at)
    assert str(lost.value) == (
        "lease token 41 of host:1:ab passed its publish deadline 22.000 s ago "
        "(last renewed 28.000 s ago, ttl 9 s); publishing stops until the lease is renewed"
    )
    # And when its renewal comes back None (a standby took over), it stays off
    keeper.hold(None)
    assert not keeper.may_publish(resumed_at)


def test_a_late_renewal_of_the_same_term_allows_publishing_again() -> None:
    keeper = LeaseKeeper(timedelta(seconds=9))
    assert keeper.hold(lease_at(100.0, token=3)) is True
    assert not keeper.may_publish(106.5)  # renewal stalled past the deadline

    assert keeper.hold(lease_at(106.4, token=3)) is False  # same token: same term
    assert keeper.may_publish(106.5)
    assert keeper.publish_deadline() == pytest.approx(112.4)


def test_hold_reports_a_new_term_for_a_new_token_only() -> None:
    keeper = LeaseKeeper(TTL)

    assert keeper.hold(lease_at(0.0, token=1)) is True
    assert keeper.hold(lease_at(3.0, token=1)) is False
    assert keeper.hold(lease_at(6.0, token=2)) is True
    assert keeper.hold(None) is False
    assert keeper.hold(lease_at(9.0, token=2)) is True


def test_fractions_are_configurable() -> None:
    keeper = LeaseKeeper(timedelta(seconds=10), publish_fraction=Fraction(1, 2), renew_fraction=0.25)
    keeper.hold(lease_at(0.0))

    assert keeper.renew_at() == 2.5
    assert keeper.may_publish(math.nextafter(5.0, 0.0)) and not keeper.may_publish(5.0)


@pytest.mark.parametrize(
    ("ttl", "publish", "renew", "message"),
    [
        (timedelta(0), Fraction(2, 3), Fraction(1, 3), "lease ttl datetime.timedelta(0) must be a positive timedelta"),
        (timedelta(seconds=-1), Fraction(2, 3), Fraction(1, 3), "must be a positive timedelta"),
        (TTL, Fraction(1, 3), Fraction(2, 3), "renew=0.666667, publish=0.333333 must satisfy 0 < renew < publish < 1"),
        (TTL, 1.0, 0.5, "renew=0.5, publish=1 must satisfy"),
        (TTL, 0.5, 0.0, "renew=0, publish=0.5 must satisfy"),
        (TTL, 0.5, 0.5, "renew=0.5, publish=0.5 must satisfy"),
    ],
    ids=[
        "zero-ttl",
        "negative-ttl",
        "renew-after-deadline",
        "deadline-at-expiry",
        "renew-at-zero",
        "renew-at-deadline",
    ],
)
def test_invalid_keeper_settings_are_refused_with_the_values(
    ttl: timedelta, publish: Fraction | float, renew: Fraction | float, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        LeaseKeeper(ttl, publish_fraction=publish, renew_fraction=renew)


def test_holder_id_is_host_pid_and_random_hex() -> None:
    first, second = holder_id(), holder_id()

    host, pid, random_part = first.split(":")
    assert host == socket.gethostname()[:200] and pid == str(os.getpid())
    assert re.fullmatch(r"[0-9a-f]{16}", random_part)
    assert first != second


# ---------------------------------------------------------------------------------------
# The lease contract, on every store


@dataclass
class Store:
    """One lease store on a fresh database; each `open` is a backend of its own, as if in
    another process, and all of them must have closed their connections at teardown."""

    name: str
    url: str
    opened: list[LeaseBackend] = field(default_factory=list)

    def open(self, monotonic: Callable[[], float] = monotonic_clock) -> LeaseBackend:
        backend: LeaseBackend
        if self.name == "redis":
            backend = RedisLeaseBackend(self.url, monotonic=monotonic)
        else:
            backend = SqlLeaseBackend(self.url, monotonic=monotonic)
        self.opened.append(backend)
        return backend


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.services),
        pytest.param("mysql", marks=pytest.mark.services),
        pytest.param("redis", marks=pytest.mark.services),
    ]
)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    url = request.getfixturevalue(f"{request.param}_url")
    count_connections = connections.COUNTERS[request.param](url)
    baseline = count_connections()
    store = Store(request.param, url)
    yield store
    for backend in store.opened:
        if isinstance(backend, SqlLeaseBackend) and isinstance(backend.engine.pool, QueuePool):
            assert backend.engine.pool.checkedout() == 0, "a lease call kept its connection checked out"
        backend.close()
    deadline = time.monotonic() + 5  # servers notice a hang-up a little late
    while (leftover := count_connections()) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftover == baseline, f"{leftover - baseline} connection(s) to {store.name} left open"


def wait_until_free(backend: LeaseBackend, timeout_s: float = 5.0) -> None:
    """Poll until the store itself reports the lease expired."""
    deadline = time.monotonic() + timeout_s
    while backend.current() is not None:
        assert time.monotonic() < deadline, "the lease did not expire on the store's clock"
        time.sleep(0.02)


def test_the_first_acquire_gets_a_token_and_an_expiry_a_ttl_ahead(store: Store) -> None:
    backend = store.open()
    before = datetime.now(UTC)

    lease = backend.acquire("host-a:1:aa", TTL)

    assert lease is not None
    assert lease.holder == "host-a:1:aa" and lease.token >= 1
    # The stores run on this host, so their clock is ours, give or take a little.
    assert before + TTL - timedelta(seconds=1) <= lease.expires_at <= datetime.now(UTC) + TTL + timedelta(seconds=1)
    assert lease.expires_at.tzinfo is not None and lease.expires_at.utcoffset() == timedelta(0)


def test_acquired_monotonic_is_read_before_the_request_reaches_the_store(store: Store) -> None:
    onlooker = store.open()
    seen_by_store_at_read: list[object] = []

    def monotonic() -> float:
        seen_by_store_at_read.append(onlooker.current())
        return 42.0

    lease = store.open(monotonic=monotonic).acquire("host-a:1:aa", TTL)

    assert lease is not None and lease.acquired_monotonic == 42.0
    assert seen_by_store_at_read == [None]  # the store had not granted anything yet


def test_a_second_holder_gets_none_while_the_lease_is_live(store: Store) -> None:
    first, second = store.open(), store.open()
    held = first.acquire("host-a:1:aa", TTL)

    assert second.acquire("host-b:2:bb", TTL) is None
    assert first.acquire("host-b:2:bb", TTL) is None  # the instance does not matter, the holder does
    assert second.acquire("HOST-A:1:AA", TTL) is None  # compared exactly, not case-folded as MariaDB would
    assert held is not None and second.current() is not None


def test_renewal_keeps_the_token_and_counts_the_ttl_from_the_renewal(store: Store) -> None:
    backend = store.open()
    first = backend.acquire("host-a:1:aa", TTL)

    renewed = backend.acquire("host-a:1:aa", 2 * TTL)

    assert first is not None and renewed is not None
    assert renewed.token == first.token
    assert renewed.acquired_monotonic >= first.acquired_monotonic
    assert TTL - timedelta(seconds=1) <= renewed.expires_at - first.expires_at <= TTL + timedelta(seconds=1)


def test_after_expiry_another_holder_takes_over_with_a_larger_token(store: Store) -> None:
    # Given holder a's lease, left to expire on the store's clock
    old_leader, standby = store.open(), store.open()
    stale = old_leader.acquire("host-a:1:aa", SHORT_TTL)
    assert stale is not None
    wait_until_free(standby)

    # When the standby acquires
    taken = standby.acquire("host-b:2:bb", TTL)

    # Then it leads with a larger token, and the old leader can neither renew nor release it
    assert taken is not None and taken.token > stale.token
    assert old_leader.acquire("host-a:1:aa", TTL) is None
    old_leader.release(stale)
    info = standby.current()
    assert info is not None and (info.holder, info.token) == ("host-b:2:bb", taken.token)


def test_an_expired_lease_of_ones_own_is_a_new_term_with_a_new_token(store: Store) -> None:
    backend = store.open()
    first = backend.acquire("host-a:1:aa", SHORT_TTL)
    assert first is not None
    wait_until_free(backend)

    again = backend.acquire("host-a:1:aa", TTL)

    assert again is not None and again.token > first.token
    backend.release(first)  # the old term's release must not end the new term
    info = backend.current()
    assert info is not None and info.token == again.token


def test_release_frees_the_lease_at_once(store: Store) -> None:
    leader, standby = store.open(), store.open()
    lease = leader.acquire("host-a:1:aa", TTL)
    assert lease is not None

    leader.release(lease)

    assert standby.current() is None
    taken = standby.acquire("host-b:2:bb", TTL)
    assert taken is not None and taken.token > lease.token
    leader.release(lease)  # a second release of an old term changes nothing
    assert standby.current() is not None


def test_current_reports_holder_token_and_expiry_to_any_instance(store: Store) -> None:
    leader, onlooker = store.open(), store.open()
    assert onlooker.current() is None
    lease = leader.acquire("host-a:1:aa", TTL)
    assert lease is not None

    info = onlooker.current()

    assert info is not None
    assert (info.holder, info.token) == ("host-a:1:aa", lease.token)
    # Redis reports expiry to the millisecond, the SQL stores to the microsecond.
    assert abs(info.expires_at - lease.expires_at) <= timedelta(milliseconds=2)


def _race(contenders: list[LeaseBackend], round_label: str) -> list[Lease | None | Exception]:
    """Every contender calls acquire at the same moment, from a thread of its own."""
    barrier = threading.Barrier(len(contenders))
    results: list[Lease | None | Exception] = [None] * len(contenders)

    def contend(index: int) -> None:
        barrier.wait()
        try:
            results[index] = contenders[index].acquire(f"host-{index}:{index}:{round_label}", TTL)
        except Exception as exc:  # noqa: BLE001 -- the test reports it, with the round
            results[index] = exc

    threads = [threading.Thread(target=contend, args=(index,)) for index in range(len(contenders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_acquires_have_exactly_one_winner_per_round(store: Store) -> None:
    # Eight instances start together on an empty database (racing to create the table,
    # too), over five rounds; each round's winner releases, and the next round begins.
    contenders = [store.open() for _ in range(8)]
    tokens: list[int] = []
    for round_number in range(5):
        results = _race(contenders, f"{round_number:02x}")

        errors = [result for result in results if isinstance(result, Exception)]
        assert not errors, f"round {round_number}: {errors!r}"
        winners = [result for result in results if isinstance(result, Lease)]
        assert len(winners) == 1, f"round {round_number}: {len(winners)} winners"
        tokens.append(winners[0].token)
        contenders[0].release(winners[0])
    assert tokens == sorted(set(tokens)), f"tokens did not grow: {tokens}"


def _wipe(store: Store) -> None:
    """What a lost lease store looks like: Redis restarted without persistence, or an
    operator deleted the lease row (resetting the lease)."""
    if store.name == "redis":
        import redis

        with redis.Redis.from_url(store.url) as admin:
            admin.flushdb()
        return
    with admin_engine(store.url).begin() as connection:
        connection.exec_driver_sql("DELETE FROM beatd_lease")


def test_tokens_keep_growing_after_the_store_loses_the_lease(store: Store) -> None:
    # Given a leader whose lease store then loses the lease and its token count
    leader, standby = store.open(), store.open()
    before = leader.acquire("host-a:1:aa", TTL)
    assert before is not None
    _wipe(store)

    # When an instance next acquires
    after = standby.acquire("host-b:2:bb", TTL)

    # Then it leads at once, with a token above every earlier one (the state store's
    # fence would refuse a smaller one), taken from the store's clock in milliseconds
    assert after is not None and after.token > before.token
    assert abs(after.token - time.time() * 1000) < 60_000
    assert leader.acquire("host-a:1:aa", TTL) is None


def _drop_connections(store: Store, backend: LeaseBackend) -> None:
    """What a server restart does to pooled connections: cut them from the server side."""
    if isinstance(backend, RedisLeaseBackend):
        import redis

        with redis.Redis.from_url(redis_test_url(0)) as admin:
            admin.client_kill_filter(_id=backend.client.client_id())  # only ours, not the fixture's
        return
    database = sqlalchemy.make_url(store.url).database
    if store.name == "postgres":
        with admin_engine(connections.POSTGRES_ADMIN_URL).connect() as connection:
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %(name)s", {"name": database}
            )
        return
    with admin_engine(connections.MYSQL_ADMIN_URL).connect() as connection:
        query = "SELECT id FROM information_schema.processlist WHERE db = %(name)s"
        for (session_id,) in connection.exec_driver_sql(query, {"name": database}).all():
            connection.exec_driver_sql(f"KILL {int(session_id)}")


def test_the_next_call_after_the_server_dropped_its_connections_just_works(store: Store) -> None:
    if store.name == "sqlite":
        pytest.skip("a SQLite file has no server to drop connections")
    backend = store.open()
    lease = backend.acquire("host-a:1:aa", TTL)
    assert lease is not None

    _drop_connections(store, backend)

    renewed = backend.acquire("host-a:1:aa", TTL)
    assert renewed is not None and renewed.token == lease.token


@pytest.mark.parametrize(
    "url_template",
    [
        "postgresql+psycopg2://beatd:{password}@127.0.0.1:{port}/beatd",
        "mysql+pymysql://beatd:{password}@127.0.0.1:{port}/beatd",
        "redis://:{password}@127.0.0.1:{port}/0",
    ],
    ids=["postgres", "mysql", "redis"],
)
def test_a_store_that_is_down_raises_backend_unavailable_without_the_password(url_template: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = url_template.format(password=PASSWORD, port=port)
    backend = open_lease_backend("redis" if url.startswith("redis") else "sql", url)

    for call in (lambda: backend.acquire("host-a:1:aa", TTL), backend.current):
        with pytest.raises(BackendUnavailable) as raised:
            call()
        message = str(raised.value)
        assert PASSWORD not in message
        assert message.startswith("lease store ") and " is unavailable: " in message
        assert f"127.0.0.1:{port}" in message and ":***@" in message
    backend.close()


@pytest.mark.parametrize(
    ("holder", "ttl"),
    [("", TTL), ("h" * 513, TTL), ("host:1:aa ", TTL), ("host:1:aa", timedelta(0))],
    ids=["empty", "too-long", "trailing-space", "zero-ttl"],
)
def test_invalid_holder_or_ttl_is_refused_before_the_store_is_asked(holder: str, ttl: timedelta) -> None:
    backend = SqlLeaseBackend("postgresql+psycopg2://nobody@127.0.0.1:1/none")  # never connected

    with pytest.raises(ValueError, match="must be"):
        backend.acquire(holder, ttl)
    backend.close()


# ---------------------------------------------------------------------------------------
# SQL specifics


@pytest.mark.services
@pytest.mark.parametrize(
    ("service", "session_zone_sql"),
    [("postgres", "SET TIME ZONE 'Pacific/Kiritimati'"), ("mysql", "SET time_zone = '+13:00'")],
    ids=["postgres", "mysql"],
)
def test_sql_expiry_does_not_depend_on_the_session_time_zone(
    request: pytest.FixtureRequest, service: str, session_zone_sql: str
) -> None:
    url = request.getfixturevalue(f"{service}_url")
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    sqlalchemy.event.listen(
        engine, "connect", lambda connection, _record: connection.cursor().execute(session_zone_sql)
    )
    backend = SqlLeaseBackend(engine=engine)

    lease = backend.acquire("host-a:1:aa", TTL)

    assert lease is not None
    assert abs(lease.expires_at - (datetime.now(UTC) + TTL)) < timedelta(seconds=2)
    backend.close()
    engine.dispose()


@pytest.mark.parametrize("service", ["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def test_a_dropped_lease_table_is_created_again_by_the_next_call(request: pytest.FixtureRequest, service: str) -> None:
    url = request.getfixturevalue(f"{service}_url")
    backend = SqlLeaseBackend(url)
    first = backend.acquire("host-a:1:aa", TTL)
    assert first is not None
    with admin_engine(url).begin() as connection:
        connection.exec_driver_sql("DROP TABLE beatd_lease")

    with pytest.raises(BackendUnavailable, match="beatd_lease"):
        backend.acquire("host-a:1:aa", TTL)
    again = backend.acquire("host-a:1:aa", TTL)

    assert again is not None and again.token > first.token
    backend.close()


def test_status_on_an_empty_database_creates_nothing(sqlite_url: str) -> None:
    backend = SqlLeaseBackend(sqlite_url)

    assert backend.current() is None
    assert not sqlalchemy.inspect(backend.engine).has_table("beatd_lease")
    backend.close()


def test_a_sql_backend_shares_an_engine_and_leaves_it_open(sqlite_url: str) -> None:
    engine = sqlalchemy.create_engine(sqlite_url)
    backend = SqlLeaseBackend(engine=engine)
    lease = backend.acquire("host-a:1:aa", TTL)
    assert lease is not None

    backend.close()

    with engine.connect() as connection:
        row = connection.exec_driver_sql("SELECT name, holder, token FROM beatd_lease").one()
    assert tuple(row) == ("beatd", "host-a:1:aa", lease.token)
    engine.dispose()


def test_leases_with_different_names_are_independent(sqlite_url: str) -> None:
    blue, green = SqlLeaseBackend(sqlite_url, name="blue"), SqlLeaseBackend(sqlite_url, name="green")

    assert blue.acquire("host-a:1:aa", TTL) is not None
    assert green.acquire("host-b:2:bb", TTL) is not None
    blue.close()
    green.close()


def test_a_sqlite_lease_in_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"directory {str(tmp_path / 'nope')!r} does not exist")):
        SqlLeaseBackend(f"sqlite:///{tmp_path / 'nope' / 'lease.sqlite3'}")


# ---------------------------------------------------------------------------------------
# Redis specifics


@pytest.mark.services
def test_redis_scripts_are_reloaded_after_script_flush(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    backend = open_lease_backend("redis", redis_url)
    lease = backend.acquire("host-a:1:aa", TTL)
    assert lease is not None
    client.script_flush()

    backend.release(lease)

    assert backend.current() is None
    backend.close()
    client.close()


@pytest.mark.services
def test_a_redis_backend_shares_a_client_and_leaves_it_open(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    backend = RedisLeaseBackend(client=client, key="blue:lease")
    lease = backend.acquire("host-a:1:aa", TTL)

    backend.close()

    assert lease is not None
    assert client.get("blue:lease") == f'{{"holder":"host-a:1:aa","token":{lease.token}}}'
    assert repr(backend) == f"RedisLeaseBackend('{redis_url}', key='blue:lease')"
    client.close()


# ---------------------------------------------------------------------------------------
# Backend `none`: the local lock file

HOLD_LOCK = textwrap.dedent(
    """
    import sys
    from datetime import timedelta
    from beatd.leader.local import LocalLeaseBackend

    backend = LocalLeaseBackend(sys.argv[1])
    backend.acquire("other-host:1:cc", timedelta(seconds=10))
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until killed
    """
)


def test_a_second_process_is_refused_until_the_first_exits(tmp_path: Path) -> None:
    # Given one beatd holding the lock file
    lock_path = tmp_path / "beatd.lock"
    first = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert first.stdout is not None and first.stdout.readline() == "locked\n"
        second = LocalLeaseBackend(lock_path)

        # When a second one starts, it is refused with the first one's pid and the file
        with pytest.raises(ConfigError) as refused:
            second.acquire("this-host:2:dd", TTL)
        assert str(refused.value).startswith(f"another beatd (pid {first.pid}) holds {lock_path}; stop it first")
        info = second.current()
        assert info is not None and (info.holder, info.token) == ("other-host:1:cc", 0)

        # And once the first dies (even by SIGKILL), the kernel frees the lock
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert second.current() is None
        lease = second.acquire("this-host:2:dd", TTL)
        assert (lease.token, lease.expires_at) == (0, NEVER_EXPIRES)
        assert lock_path.read_text() == f"{os.getpid()}\nthis-host:2:dd\n"
        second.close()
    finally:
        first.kill()
        first.wait()
        if first.stdout is not None:
            first.stdout.close()
        if first.stdin is not None:
            first.stdin.close()


def test_the_local_lease_renews_with_token_zero_and_a_release_frees_it(tmp_path: Path) -> None:
    times = iter([1.0, 4.5])
    backend = LocalLeaseBackend(tmp_path / "beatd.lock", monotonic=lambda: next(times))
    other = LocalLeaseBackend(tmp_path / "beatd.lock")

    first = backend.acquire("host-a:1:aa", TTL)
    renewed = backend.acquire("host-a:1:aa", TTL)

    assert (first.token, first.acquired_monotonic) == (0, 1.0)
    assert (renewed.token, renewed.acquired_monotonic, renewed.expires_at) == (0, 4.5, NEVER_EXPIRES)
    with pytest.raises(ConfigError, match=rf"another beatd \(pid {os.getpid()}\)"):
        other.acquire("host-b:2:bb", TTL)
    backend.release(renewed)
    assert other.acquire("host-b:2:bb", TTL).token == 0
    assert (tmp_path / "beatd.lock").exists()  # never deleted, see LocalLeaseBackend
    other.close()
    backend.close()


def test_a_lock_file_in_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    backend = LocalLeaseBackend(tmp_path / "nope" / "beatd.lock")

    with pytest.raises(ConfigError, match=re.escape(f"directory {str(tmp_path / 'nope')!r} does not exist")):
        backend.acquire("host-a:1:aa", TTL)


@pytest.mark.parametrize(
    ("state_url", "lock_path"),
    [
        ("sqlite:///beatd-state.sqlite3", "beatd-state.sqlite3.lock"),
        ("sqlite:////var/lib/beatd/state.db", "/var/lib/beatd/state.db.lock"),
        ("sqlite://", "beatd.lock"),
        ("postgresql://beatd@db/beatd", "beatd.lock"),
        ("redis://cache:6379/0", "beatd.lock"),
    ],
    ids=["relative-sqlite", "absolute-sqlite", "memory-sqlite", "postgres", "redis"],
)
def test_the_default_lock_file_sits_beside_a_sqlite_state_file(state_url: str, lock_path: str) -> None:
    assert default_lock_path(state_url) == Path(lock_path)


# ---------------------------------------------------------------------------------------
# Choosing a backend


def test_backend_none_is_the_local_lock(tmp_path: Path) -> None:
    backend = open_lease_backend("none", None, lock_path=tmp_path / "x.lock")

    assert isinstance(backend, LocalLeaseBackend) and backend.lock_path == tmp_path / "x.lock"


@pytest.mark.parametrize(
    ("backend", "url", "message"),
    [
        ("zookeeper", None, "leader backend 'zookeeper' is unknown; choose one of none, sql, redis"),
        ("sql", None, "leader backend 'sql' needs a url (`leader: {backend: sql, url: ...}`)"),
        ("redis", "", "leader backend 'redis' needs a url"),
        (
            "redis",
            "postgresql://u:pw@db/x",
            "leader backend 'redis' needs a redis://, rediss:// or unix:// url, not 'postgresql://'",
        ),
        (
            "sql",
            "redis://:pw@cache/0",
            "leader backend 'sql' needs a SQLAlchemy url; for 'redis://' use backend 'redis'",
        ),
        ("sql", "nosuchdb://u:pw@host/x", "lease store URL 'nosuchdb://u:***@host/x' is not usable"),
    ],
    ids=[
        "unknown",
        "sql-without-url",
        "redis-without-url",
        "redis-with-sql-url",
        "sql-with-redis-url",
        "unknown-dialect",
    ],
)
def test_a_bad_leader_setting_is_a_config_error_that_names_it(backend: str, url: str | None, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        open_lease_backend(backend, url)

    assert str(raised.value).startswith(message)
    assert "pw" not in str(raised.value)
