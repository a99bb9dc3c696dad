"""The daemon loop on a simulated clock, with a real (SQLite) broker, state store and lock."""

from __future__ import annotations

import json
import logging
import math
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kombu import Connection

from beatd.config import load_config
from beatd.daemon.loop import MAX_SLEEP_S, PREPARE_AHEAD, Daemon
from beatd.errors import LeaseLost
from beatd.leader import LocalLeaseBackend
from beatd.publish import open_transport
from beatd.state import RunRecord, open_state_store

UTC = UTC
T0 = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)


class SimulatedClock:
    """Wall and monotonic time that advance only when the daemon waits; stops the daemon at `until`.

    The daemon stops as soon as a wait reaches `until`, so a slot at exactly `until` is not published.
    """

    def __init__(self, start: datetime, until: datetime) -> None:
        self.current = start
        self.until = until
        self.daemon: Daemon | None = None
        self.waits: list[float] = []

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return (self.current - T0).total_seconds() + 1000.0

    def wait(self, seconds: float, wake: threading.Event) -> None:
        self.waits.append(seconds)
        # Round up to whole microseconds, as a real sleep never returns before its time.
        self.current += timedelta(microseconds=max(math.ceil(seconds * 1e6), 1))
        if self.current >= self.until and self.daemon is not None:
            self.daemon.stop()


def write_config(path: Path, entries: str, tmp_path: Path) -> Path:
    path.write_text(
        f"broker: sqla+sqlite:///{tmp_path / 'broker.sqlite3'}\n"
        f"state: sqlite:///{tmp_path / 'state.sqlite3'}\n"
        f"leader: {{backend: none, lock_file: {tmp_path / 'beatd.lock'}}}\n"
        f"entries:\n{entries}"
    )
    return path


def make_daemon(config_path: Path, start: datetime, until: datetime) -> tuple[Daemon, SimulatedClock]:
    """A daemon on real SQLite broker, state and lock, driven by a simulated clock that stops it at `until`."""
    config = load_config(config_path)
    clock = SimulatedClock(start, until)
    daemon = Daemon(
        config,
        clock=clock,
        transport=open_transport(config.broker),
        state=open_state_store(config.state),
        lease_backend=LocalLeaseBackend(config.leader.lock_file, monotonic=clock.monotonic),
        holder="test:1:a",
        origin="beatd-1@test",
    )
    clock.daemon = daemon
    return daemon, clock


def run_daemon(config_path: Path, start: datetime, until: datetime) -> tuple[Daemon, SimulatedClock]:
    daemon, clock = make_daemon(config_path, start, until)
    daemon.run()
    return daemon, clock


def drain(tmp_path: Path, queue: str = "celery") -> list[dict]:
    """Every message on the test's SQLite broker's queue: headers plus decoded body."""
    return drain_queue(f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}", queue)


def drain_queue(url: str, queue: str, *, delete: bool = False) -> list[dict]:
    """Every message on a broker's queue (headers plus decoded body), oldest first; delete: then the queue too."""
    messages = []
    with Connection(url) as connection:
        simple = connection.SimpleQueue(queue)
        while True:
            try:
                message = simple.get(block=False)
            except simple.Empty:
                break
            messages.append({"headers": message.headers, "body": json.loads(message.body)})
            message.ack()
        if delete:
            simple.queue.delete()
        simple.close()
    return messages


def scheduled(messages: list[dict]) -> list[str]:
    return [message["headers"]["beatd_scheduled_at"] for message in messages]


def test_simulated_hour_publishes_every_slot_once_and_records_it(tmp_path):
    # Given an entry every 30 s and an hour of simulated time
    config = write_config(
        tmp_path / "beatd.yaml", "  tick:\n    task: tasks.tick\n    every: 30s\n    args: [1, 2]\n", tmp_path
    )
    daemon, clock = run_daemon(config, T0, T0 + timedelta(hours=1, seconds=1))
    # Then the broker holds one message per slot, in order, with the entry's args
    messages = drain(tmp_path)
    assert len(messages) == 120
    expected = [(T0 + timedelta(seconds=30 * index)).isoformat() for index in range(1, 121)]
    assert scheduled(messages) == expected
    assert messages[0]["body"][0] == [1, 2]
    assert len({message["headers"]["id"] for message in messages}) == 120
    # And it slept between runs instead of polling: two waits a run, one until it is
    # time to build the run's message (PREPARE_AHEAD before it), one until it is due
    assert len(clock.waits) <= 2 * 120 + 2
    assert sorted(set(clock.waits))[:2] == [PREPARE_AHEAD.total_seconds(), 30 - PREPARE_AHEAD.total_seconds()]
    # And the state says the last slot and the count
    records = open_state_store(f"sqlite:///{tmp_path / 'state.sqlite3'}").load()
    assert records["tick"].scheduled_at == T0 + timedelta(hours=1)
    assert records["tick"].run_count == 120
    assert daemon.published_total == 120


def test_restart_with_catchup_all_sends_each_missed_slot_exactly_once(tmp_path):
    config = write_config(
        tmp_path / "beatd.yaml", "  tick:\n    task: tasks.tick\n    every: 1\n    catchup: all\n", tmp_path
    )
    # Given a first run of 60 s, then 30 s with nobody running, then a second run
    run_daemon(config, T0, T0 + timedelta(seconds=60))
    run_daemon(config, T0 + timedelta(seconds=90), T0 + timedelta(seconds=120.5))
    # Then every one-second slot from 1 to 120 went out exactly once
    expected = [(T0 + timedelta(seconds=second)).isoformat() for second in range(1, 121)]
    assert scheduled(drain(tmp_path)) == expected


def test_restart_with_catchup_latest_sends_one_run_for_the_gap(tmp_path):
    config = write_config(tmp_path / "beatd.yaml", "  tick:\n    task: tasks.tick\n    every: 10\n", tmp_path)
    run_daemon(config, T0, T0 + timedelta(seconds=30.5))
    run_daemon(config, T0 + timedelta(seconds=95), T0 + timedelta(seconds=120.5))
    seconds = [int((datetime.fromisoformat(text) - T0).total_seconds()) for text in scheduled(drain(tmp_path))]
    assert seconds == [10, 20, 30, 90, 100, 110, 120]


def test_cron_entry_over_the_spring_forward_night_fires_once_after_the_gap(tmp_path):
    config = write_config(
        tmp_path / "beatd.yaml",
        "  nightly:\n    task: tasks.n\n    cron: '30 2 * * *'\n    timezone: Europe/Berlin\n",
        tmp_path,
    )
    run_daemon(config, T0, T0 + timedelta(days=2))
    assert scheduled(drain(tmp_path)) == ["2026-03-29T01:00:00+00:00", "2026-03-30T00:30:00+00:00"]


def test_reload_adds_changes_and_removes_entries_keeping_the_others(tmp_path):
    config_path = write_config(
        tmp_path / "beatd.yaml",
        "  keep:\n    task: tasks.keep\n    every: 10\n  drop:\n    task: tasks.drop\n    every: 10\n",
        tmp_path,
    )
    daemon, clock = make_daemon(config_path, T0, T0 + timedelta(seconds=60.5))
    original_wait = clock.wait

    def wait_and_edit(seconds: float, wake: threading.Event) -> None:
        original_wait(seconds, wake)
        if clock.current >= T0 + timedelta(seconds=30) and not getattr(clock, "edited", False):
            clock.edited = True
            write_config(
                config_path,
                "  keep:\n    task: tasks.keep\n    every: 10\n  added:\n    task: tasks.added\n    every: 10\n",
                tmp_path,
            )
            daemon.reload()

    clock.wait = wait_and_edit
    daemon.run()
    by_task: dict[str, list[str]] = {}
    for message in drain(tmp_path):
        by_task.setdefault(message["headers"]["task"], []).append(message["headers"]["beatd_scheduled_at"][17:19])
    assert by_task["tasks.keep"] == ["10", "20", "30", "40", "50", "00"]
    assert by_task["tasks.drop"] == ["10", "20"]
    # The edit lands at 30 s, when the runs of 30 s are built but not yet sent: the
    # removed entry's run is withdrawn; an added entry starts with its first slot after 30 s.
    assert by_task["tasks.added"] == ["40", "50", "00"]


def test_entry_changed_while_its_run_is_prepared_sends_that_run_once_in_its_new_form(tmp_path):
    config_path = write_config(tmp_path / "beatd.yaml", "  tick:\n    task: tasks.tick\n    every: 10\n    args: [1]\n", tmp_path)
    daemon, clock = make_daemon(config_path, T0, T0 + timedelta(seconds=60.5))
    original_wait = clock.wait

    def wait_and_edit(seconds: float, wake: threading.Event) -> None:
        original_wait(seconds, wake)
        # At 30 s the run of 30 s has been built (PREPARE_AHEAD earlier) with args [1].
        if clock.current >= T0 + timedelta(seconds=30) and not getattr(clock, "edited", False):
            assert daemon.term is not None and daemon.term.prepared is not None
            assert [fire.entry.args for fire in daemon.term.prepared.fires] == [(1,)]
            clock.edited = True
            write_config(config_path, "  tick:\n    task: tasks.tick\n    every: 10\n    args: [2]\n", tmp_path)
            daemon.reload()

    clock.wait = wait_and_edit
    daemon.run()
    sent = [(message["headers"]["beatd_scheduled_at"][17:19], message["body"][0]) for message in drain(tmp_path)]
    assert sent == [("10", [1]), ("20", [1]), ("30", [2]), ("40", [2]), ("50", [2]), ("00", [2])]


def test_reload_with_a_broken_file_keeps_the_running_config(tmp_path, caplog):
    config_path = write_config(tmp_path / "beatd.yaml", "  keep:\n    task: tasks.keep\n    every: 10\n", tmp_path)
    daemon, clock = make_daemon(config_path, T0, T0 + timedelta(seconds=30.5))
    config_path.write_text("entries:\n  keep:\n    task: tasks.keep\n    every: 0\n")
    daemon.reload()
    with caplog.at_level(logging.ERROR, logger="beatd"):
        daemon.run()
    assert any(
        "config reload failed" in record.getMessage() and "beatd.yaml:4" in record.getMessage()
        for record in caplog.records
    )
    assert len(drain(tmp_path)) == 3


def test_a_fenced_state_write_makes_the_leader_step_down(tmp_path, caplog):
    config = write_config(tmp_path / "beatd.yaml", "  tick:\n    task: tasks.tick\n    every: 10\n", tmp_path)
    # Given a newer leader (token 7) has written the state store
    newer = open_state_store(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    newer.record([RunRecord(entry="other", scheduled_at=T0, sent_at=T0, run_count=1)], token=7)
    with pytest.raises(LeaseLost):
        newer.record([RunRecord(entry="other", scheduled_at=T0, sent_at=T0, run_count=1)], token=0)
    # When a single-instance daemon (token 0) publishes and tries to record
    with caplog.at_level(logging.WARNING, logger="beatd"):
        _, clock = run_daemon(config, T0, T0 + timedelta(seconds=15))
    # Then its write is refused and it steps down, and the store keeps the newer leader's state
    stepped_down = [record for record in caplog.records if "stepping down" in record.getMessage()]
    assert stepped_down
    assert "tick" not in newer.load()
    # And it tries to lead again once a second, as a standby would, not in a busy loop
    assert len(stepped_down) <= 16 and len(clock.waits) <= 100


class SteppedWallClock:
    """Monotonic time that advances only when the daemon waits, and a wall clock that also jumps.

    `steps` maps a monotonic second (from the start) to a step of the wall clock, as NTP or an
    operator setting the date would make it; each is applied at the end of the wait that
    reaches it, as a sleeping daemon sees it when it wakes. The daemon is stopped once a wait
    reaches `until_s`, or after `max_waits` waits (a busy loop would never get there).
    """

    def __init__(self, start: datetime, steps: dict[float, timedelta], until_s: float, max_waits: int) -> None:
        self.start = start
        self.elapsed = timedelta(0)
        self.offset = timedelta(0)
        self.steps = dict(steps)
        self.until = timedelta(seconds=until_s)
        self.max_waits = max_waits
        self.daemon: Daemon | None = None
        self.waits: list[float] = []

    def now(self) -> datetime:
        return self.start + self.elapsed + self.offset

    def monotonic(self) -> float:
        return self.elapsed.total_seconds() + 1000.0

    def wait(self, seconds: float, wake: threading.Event) -> None:
        self.waits.append(seconds)
        self.elapsed += timedelta(microseconds=max(math.ceil(seconds * 1e6), 1))
        for at_s in [at_s for at_s in self.steps if timedelta(seconds=at_s) <= self.elapsed]:
            self.offset += self.steps.pop(at_s)
        if (self.elapsed >= self.until or len(self.waits) >= self.max_waits) and self.daemon is not None:
            self.daemon.stop()


def tens(first: int, last: int) -> list[int]:
    """Every ten seconds from first to last, both included."""
    return list(range(first, last + 1, 10))


HOUR = timedelta(hours=1)


# An `every: 10` entry; the wall clock steps at monotonic 35 s and again at 3705 s, and the
# daemon stops at monotonic 3745 s, when the wall clock is right again (wall 3745 s).
# Forward first: wall 35 -> 3635. Slots 40 to 3630 were never published on time, so the
# engine treats them as missed (as if beatd had been down that hour): catch-up decides.
# At 3705 (wall 3705 -> 105) the wall clock goes back: the slots of 105 to 3705 went out
# already, and none is sent again; the next run waits for wall 3710.
# Back first: wall 35 -> -3565; nothing is due until wall 40 (monotonic 3640); at 3705 (wall
# 105 -> 3705) the slots 110 to 3700 are missed, and catch-up decides again.
# `all` sends the newest catchup_limit (100) of the 360 missed slots.
WALL_STEP_CASES = {
    "forward-then-back-latest": ({35: HOUR, 105: -HOUR}, "latest",
                                 tens(10, 30) + [3630] + tens(3640, 3740)),
    "forward-then-back-all": ({35: HOUR, 105: -HOUR}, "all",
                              tens(10, 30) + tens(2640, 3630) + tens(3640, 3740)),
    "back-then-forward-latest": ({35: -HOUR, 3705: HOUR}, "latest",
                                 tens(10, 100) + [3700] + tens(3710, 3740)),
    "back-then-forward-all": ({35: -HOUR, 3705: HOUR}, "all",
                              tens(10, 100) + tens(2710, 3700) + tens(3710, 3740)),
}


@pytest.mark.parametrize(("steps", "catchup", "expected_s"), WALL_STEP_CASES.values(), ids=WALL_STEP_CASES.keys())
def test_wall_clock_steps_double_nothing_lose_only_what_catchup_drops_and_never_spin(
        tmp_path, steps: dict[float, timedelta], catchup: str, expected_s: list[int]) -> None:
    # Given an entry every 10 s on a clock whose wall time jumps an hour each way while
    # monotonic time runs on for 3745 s
    config_path = write_config(tmp_path / "beatd.yaml",
                               f"  tick:\n    task: tasks.tick\n    every: 10\n    catchup: {catchup}\n", tmp_path)
    config = load_config(config_path)
    clock = SteppedWallClock(T0, steps, until_s=3745, max_waits=10_000)
    daemon = Daemon(config, clock=clock, transport=open_transport(config.broker),
                    state=open_state_store(config.state),
                    lease_backend=LocalLeaseBackend(config.leader.lock_file, monotonic=clock.monotonic),
                    holder="test:1:a", origin="beatd-1@test")
    clock.daemon = daemon
    daemon.run()

    # Then exactly the expected slots went out, each once, in order
    messages = drain(tmp_path)
    assert [int((datetime.fromisoformat(text) - T0).total_seconds()) for text in scheduled(messages)] == expected_s
    assert len({message["headers"]["id"] for message in messages}) == len(expected_s)
    records = open_state_store(config.state).load()
    assert records["tick"].scheduled_at == T0 + timedelta(seconds=3740)
    assert records["tick"].run_count == len(expected_s)
    # And the daemon slept: two waits per run sent on time (until its message is built,
    # then until it is due), and through the hour with nothing due, waits of MAX_SLEEP_S
    on_time_runs = len(tens(10, 100)) + len(tens(3640, 3740))
    assert len(clock.waits) <= 2 * on_time_runs + HOUR.total_seconds() / MAX_SLEEP_S + 4, clock.waits
    assert sum(1 for seconds in clock.waits if seconds < PREPARE_AHEAD.total_seconds()) <= 2, clock.waits
