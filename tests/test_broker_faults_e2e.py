"""A running beatd against brokers that hang, die, cut connections or refuse one entry's messages.

Real processes: `beatd run`, a private redis-server (AOF fsynced on every write, so a
crash keeps what it acknowledged), RabbitMQ behind the tests' TCP proxy. The queues are
read directly at the end, so every copy a broker holds is counted, not only what a
worker happened to run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import redis
from conftest import require_service
from processes import Processes, TcpProxy, launch_beatd, wait_until
from test_daemon import drain_queue
from test_daemon_e2e import (
    ONE_SECOND,
    assert_consecutive_seconds,
    every_second,
    require_redis_server_binary,
    unique,
    utc_now,
    write_config,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]


def queued_runs(url: str, queue: str) -> list[tuple[datetime, str]]:
    """(scheduled instant, task id) of every message in a Redis queue, oldest first."""
    with redis.Redis.from_url(url) as client:
        envelopes = client.lrange(queue, 0, -1)
    runs = []
    for envelope in reversed(envelopes):  # LPUSH puts the newest first
        headers = json.loads(envelope)["headers"]
        runs.append((datetime.fromisoformat(headers["beatd_scheduled_at"]), headers["id"]))
    return runs


def assert_each_slot_once(runs: list[tuple[datetime, str]], outage: tuple[datetime, datetime]) -> None:
    """Consecutive whole seconds, each exactly once, covering the outage."""
    instants = [instant for instant, _ in runs]
    duplicates = sorted({instant.isoformat() for instant in instants if instants.count(instant) > 1})
    assert not duplicates, f"slots in the queue more than once: {duplicates}"
    assert_consecutive_seconds(instants)
    down, up = outage
    assert instants[0] < down and instants[-1] > up, (instants[0], down, up, instants[-1])


@pytest.mark.parametrize("fault", ["hang", "crash"])
def test_a_redis_broker_that_hangs_or_dies_gets_every_slot_exactly_once(
    processes: Processes, tmp_path: Path, fault: str
) -> None:
    # Given beatd publishing an entry due every second with `catchup: all` to a private Redis
    require_redis_server_binary()
    server = processes.redis_server(tmp_path / "redis")
    name, queue = unique("fault"), unique("beatd-broker-faults")
    config = write_config(tmp_path, server.url, {name: every_second(queue, catchup="all")})
    beatd = processes.beatd(config, tmp_path / "beatd.log")
    beatd.wait_for_log(rf"published entry {name} ", "the first run", 5)
    time.sleep(2)  # real time: a few slots go out before the fault

    # When the broker hangs 15 s (SIGSTOP: beatd's publish times out, yet Redis runs it on
    # resume) or dies and comes back 10 s later
    assert server.process is not None
    down_at = utc_now()
    if fault == "hang":
        server.process.send_signal(signal.SIGSTOP)
        time.sleep(15)
        server.process.send_signal(signal.SIGCONT)
    else:
        server.kill()
        time.sleep(10)
        server.start()
    up_at = utc_now()
    beatd.wait_for_log(r"broker available again", "the broker's return", 30)
    time.sleep(3)

    # Then beatd never exited, logged the outage once each way, and every slot is queued once
    assert beatd.alive(), beatd.text()[-3000:]
    assert beatd.stop() == 0
    assert beatd.count(r"broker unavailable") == 1, beatd.text()
    assert beatd.count(r"broker available again") == 1, beatd.text()
    assert_each_slot_once(queued_runs(server.url, queue), (down_at, up_at))


def test_a_queue_redis_refuses_holds_back_its_entry_alone(processes: Processes, tmp_path: Path) -> None:
    # Given a good entry and one whose queue's key holds a string (every LPUSH: WRONGTYPE)
    require_redis_server_binary()
    server = processes.redis_server(tmp_path / "redis")
    good, bad = unique("good"), unique("bad")
    good_queue, bad_queue = unique("beatd-good"), unique("beatd-bad")
    with redis.Redis.from_url(server.url) as client:
        client.set(bad_queue, "not a list")
    config = write_config(tmp_path, server.url, {good: every_second(good_queue), bad: every_second(bad_queue)})
    beatd = processes.beatd(config, tmp_path / "beatd.log")
    started = utc_now()
    time.sleep(8)

    # Then `beatd status` shows the bad entry failing, with the broker's reason
    status = subprocess.run([sys.executable, "-m", "beatd", "status", "--config", str(config), "--json"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path, check=True)
    rows = {row["entry"]: row for row in json.loads(status.stdout)["entries"]}
    assert rows[good]["failing"] is None
    assert rows[bad]["failing"]["reason"] == "broker" and "WRONGTYPE" in rows[bad]["failing"]["detail"]

    # When the key is fixed
    with redis.Redis.from_url(server.url) as client:
        client.delete(bad_queue)
    fixed_at = utc_now()
    beatd.wait_for_log(rf"entry {bad} runs again", "the bad entry's recovery", 20)
    time.sleep(2)
    assert beatd.stop() == 0

    # Then the good entry kept every second, once each, throughout
    good_runs = queued_runs(server.url, good_queue)
    assert_each_slot_once(good_runs, (started + ONE_SECOND, fixed_at))
    # And the bad one was named in the log once, runs again since the fix, and nothing of it doubled
    assert beatd.count(rf"entry {bad} held back \(broker\)") == 1, beatd.text()
    bad_runs = queued_runs(server.url, bad_queue)
    assert bad_runs and len({instant for instant, _ in bad_runs}) == len(bad_runs)
    assert bad_runs[-1][0] > fixed_at


def test_a_rabbitmq_connection_cut_loses_nothing_and_any_copy_keeps_its_id(
    processes: Processes, tmp_path: Path, amqp_url: str
) -> None:
    # Given beatd publishing every second with `catchup: all` to RabbitMQ through a proxy
    require_service("rabbitmq")
    proxy = TcpProxy(("127.0.0.1", 5672))
    name, queue = unique("cut"), unique("beatd-broker-cut")
    proxied = f"amqp://guest:guest@127.0.0.1:{proxy.port}//"
    config = write_config(tmp_path, proxied, {name: every_second(queue, catchup="all")})
    try:
        beatd = processes.beatd(config, tmp_path / "beatd.log")
        beatd.wait_for_log(rf"published entry {name} ", "the first run", 5)
        time.sleep(2)

        # When the connection is cut for 10 s
        proxy.cut()
        down_at = utc_now()
        time.sleep(10)
        proxy.restore()
        up_at = utc_now()
        beatd.wait_for_log(r"broker available again", "the broker's return", 30)
        time.sleep(3)
        assert beatd.stop() == 0
    finally:
        proxy.close()

    # Then every slot is in the queue; a copy, if any, carries its run's task id
    runs = amqp_queue_runs(amqp_url, queue)
    instants = sorted({instant for instant, _ in runs})
    assert_consecutive_seconds(instants)
    assert instants[0] < down_at and instants[-1] > up_at
    ids_by_instant: dict[datetime, set[str]] = {}
    for instant, task_id in runs:
        ids_by_instant.setdefault(instant, set()).add(task_id)
    assert all(len(ids) == 1 for ids in ids_by_instant.values())
    copies = len(runs) - len(instants)
    print(f"RabbitMQ cut 10 s: {len(instants)} slots, {copies} same-id copies")


def amqp_queue_runs(url: str, queue: str) -> list[tuple[datetime, str]]:
    """(scheduled instant, task id) of every message in a RabbitMQ queue, which is then deleted."""
    return [(datetime.fromisoformat(message["headers"]["beatd_scheduled_at"]), message["headers"]["id"])
            for message in drain_queue(url, queue, delete=True)]


def test_sighup_with_a_new_lease_ttl_is_refused_and_the_lease_stays_held(
    processes: Processes, tmp_path: Path, redis_url: str
) -> None:
    # Given three instances on a Redis lease with a 2 s ttl, one leading and publishing every second
    name, queue = unique("ttl"), unique("beatd-ttl")
    instances = []
    for slot in range(3):
        directory = tmp_path / f"slot{slot}"
        directory.mkdir()
        leader = {"backend": "redis", "url": redis_url, "ttl": "2s"}
        config = write_config(directory, redis_url, {name: every_second(queue)}, leader=leader)
        config.write_text(config.read_text().replace(str(directory / "state.sqlite3"), str(tmp_path / "state.sqlite3")))
        beatd = launch_beatd(config, directory / "beatd.log")
        processes.beatds.append(beatd)
        instances.append((config, beatd))
    for _, beatd in instances:
        beatd.wait_for_log(r"beatd started", "start-up (signal handlers in place)", 20)
    wait_until(lambda: sum(beatd.count("leading with lease token") for _, beatd in instances) == 1, 20,
               "one instance leading", lambda: "\n".join(beatd.text()[-1500:] for _, beatd in instances))

    # When every file's ttl becomes 9 s and every instance gets SIGHUP
    for config, beatd in instances:
        config.write_text(config.read_text().replace("ttl: 2s", "ttl: 9s"))
        beatd.process.send_signal(signal.SIGHUP)
    for _, beatd in instances:
        beatd.wait_for_log(r"config reload refused", "the refused reload", 10)

    # Then for the next 6 s the lease key is always there, renewed on the old ttl, while the
    # leader keeps publishing and nobody else takes over
    def published() -> int:
        return sum(beatd.count(rf"published entry {name} ") for _, beatd in instances)

    published_before = published()
    with redis.Redis.from_url(redis_url) as client:
        samples = []
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            samples.append(client.pttl("beatd:lease"))
            time.sleep(0.1)
    assert samples and all(0 < remaining <= 2000 for remaining in samples), samples
    assert published() >= published_before + 4
    assert sum(beatd.count("leading with lease token") for _, beatd in instances) == 1
    for _, beatd in instances:
        assert beatd.count(r"config reload refused") == 1 and "leader" in beatd.text()
        assert beatd.stop() == 0
