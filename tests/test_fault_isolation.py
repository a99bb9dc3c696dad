"""One entry's fault is that entry's alone; disabled periods, removals and reloads never replay or half-apply.

On the simulated clock of test_daemon, with a real SQLite broker and state store (and real
Redis state where named), so years of behaviour take seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_daemon import T0, SimulatedClock, drain, scheduled, write_config

from beatd.config import load_config
from beatd.daemon.loop import PUBLISH_BATCH, Daemon
from beatd.engine import Engine
from beatd.entry import CatchUp, Entry, Options
from beatd.leader import LocalLeaseBackend
from beatd.publish import open_transport
from beatd.schedules.interval import IntervalSchedule
from beatd.state import RunRecord, open_state_store

GOOD = "  good:\n    task: tasks.good\n    every: 10s\n"


class ScriptedClock(SimulatedClock):
    """The simulated clock, running `actions` (instant -> callable) once simulated time reaches them."""

    def __init__(self, start: datetime, until: datetime, actions: dict[datetime, Callable[[], None]]) -> None:
        super().__init__(start, until)
        self.actions = dict(sorted(actions.items()))

    def wait(self, seconds: float, wake: threading.Event) -> None:
        upcoming = next(iter(self.actions), None)
        if upcoming is not None and self.current + timedelta(seconds=seconds) >= upcoming:
            # Stop the wait at the action's instant, as a signal arriving then would.
            super().wait((upcoming - self.current).total_seconds(), wake)
            self.actions.pop(upcoming)()
            return
        super().wait(seconds, wake)


def daemon_on(config_path: Path, clock: SimulatedClock, *, extra: tuple[Entry, ...] = (),
              state_url: str | None = None) -> Daemon:
    """A daemon on a config file (plus entries built in code: ones no config file can hold), driven by clock."""
    config = load_config(config_path)
    config = dataclasses.replace(config, entries=(*config.entries, *extra))
    daemon = Daemon(config, clock=clock, transport=open_transport(config.broker),
                    state=open_state_store(state_url or config.state),
                    lease_backend=LocalLeaseBackend(config.leader.lock_file, monotonic=clock.monotonic),
                    holder="test:1:a", origin="beatd-1@test")
    clock.daemon = daemon
    return daemon


def every_10s(name: str, **fields: object) -> Entry:
    return Entry(name=name, task="tasks.bad", schedule=IntervalSchedule(every=timedelta(seconds=10)), **fields)


def of_entry(messages: list[dict], name: str) -> list[str]:
    return [message["headers"]["beatd_scheduled_at"] for message in messages if message["headers"]["beatd_entry"] == name]


def slots(start: datetime, end: datetime, step_s: int = 10) -> list[str]:
    """Every step_s slot strictly after start and strictly before end, as beatd_scheduled_at text."""
    result, slot = [], start + timedelta(seconds=step_s)
    while slot < end:
        result.append(slot.isoformat())
        slot += timedelta(seconds=step_s)
    return result


def test_an_entry_whose_message_cannot_be_built_is_held_back_and_the_others_run_on(tmp_path, caplog):
    # Given a good entry and one whose options set a reserved header (no config file can
    # hold it any more: built in code, as a store bug or a future option might)
    clock = SimulatedClock(T0, T0 + timedelta(minutes=10, seconds=1))
    bad = every_10s("bad", options=Options(headers={"task": "x"}))
    daemon = daemon_on(write_config(tmp_path / "beatd.yaml", GOOD, tmp_path), clock, extra=(bad,))

    # When ten minutes pass
    with caplog.at_level(logging.INFO, logger="beatd"):
        daemon.run()

    # Then the good entry sent every slot, once, and the bad one nothing
    messages = drain(tmp_path)
    assert of_entry(messages, "good") == slots(T0, T0 + timedelta(minutes=10, seconds=1))
    assert of_entry(messages, "bad") == []
    # And the fault was logged once, naming the entry and the reason, and kept for `beatd status`
    held = [record.getMessage() for record in caplog.records if "held back" in record.getMessage()]
    assert len(held) == 1 and "entry bad" in held[0] and "options.headers may not set 'task'" in held[0]
    faults = open_state_store(daemon.config.state).load_faults()
    assert list(faults) == ["bad"] and faults["bad"].reason == "message"
    # And it was retried with backoff: at 10 s, then 1, 2, 4, ... 64 s later, then every 60 s
    # (10, 11, 13, 17, 25, 41, 73, 133, 193, ... 553): 15 attempts, where a slot each would be 60
    assert faults["bad"].attempts == 15


def test_an_entry_whose_run_cannot_be_recorded_is_held_back_after_one_run(tmp_path, caplog):
    # Given a good entry and one whose name is longer than any state store keeps
    long_name = "n" * 300
    clock = SimulatedClock(T0, T0 + timedelta(minutes=5, seconds=1))
    daemon = daemon_on(write_config(tmp_path / "beatd.yaml", GOOD, tmp_path), clock, extra=(every_10s(long_name),))

    with caplog.at_level(logging.INFO, logger="beatd"):
        daemon.run()

    # Then the daemon did not exit; the good entry kept its schedule and its state
    messages = drain(tmp_path)
    assert of_entry(messages, "good") == slots(T0, T0 + timedelta(minutes=5, seconds=1))
    state = open_state_store(daemon.config.state)
    assert state.load()["good"].run_count == 30
    # And the long-named entry went out once per attempt, each a new slot: at 10 s, then at
    # the first slot after each backoff of 1, 2, 4, ... 60 s (20, 30, 40, 50, 70, 110, 170,
    # 230, 290): 10 of the 30 slots, and is shown failing with the reason
    sent = of_entry(messages, long_name)
    assert len(sent) == 10 and len(set(sent)) == 10
    assert state.load_faults()[long_name].reason == "record"


def test_a_held_entry_runs_again_once_it_is_fixed(tmp_path, caplog):
    # Given an entry held back for its headers, fixed by a reload 95 s later
    config_path = write_config(tmp_path / "beatd.yaml", GOOD, tmp_path)
    fix_at = T0 + timedelta(seconds=95)
    clock = ScriptedClock(T0, T0 + timedelta(minutes=3, seconds=1), {})
    bad = every_10s("bad", options=Options(headers={"task": "x"}))
    daemon = daemon_on(config_path, clock, extra=(bad,))

    def fix() -> None:
        config_path.write_text(config_path.read_text() + "  bad:\n    task: tasks.bad\n    every: 10s\n")
        daemon.reload()

    clock.actions = {fix_at: fix}
    with caplog.at_level(logging.INFO, logger="beatd"):
        daemon.run()

    # Then from the fix on it has every slot, and its fault is cleared for `beatd status`
    sent = of_entry(drain(tmp_path), "bad")
    assert sent == slots(fix_at - timedelta(seconds=5), T0 + timedelta(minutes=3, seconds=1))
    assert open_state_store(daemon.config.state).load_faults() == {}


@pytest.mark.parametrize("catchup", ["all", "latest"])
def test_slots_of_a_disabled_period_are_never_sent(tmp_path, catchup):
    # Given an entry every 10 s with catch-up, disabled by a reload at 60 s, enabled again at 180 s
    entry = f"  tick:\n    task: tasks.tick\n    every: 10s\n    catchup: {catchup}\n"
    config_path = write_config(tmp_path / "beatd.yaml", entry, tmp_path)
    disabled_text = config_path.read_text() + "    enabled: false\n"
    enabled_text = config_path.read_text()
    disable_at, enable_at, until = T0 + timedelta(seconds=65), T0 + timedelta(seconds=185), T0 + timedelta(seconds=241)

    clock = ScriptedClock(T0, until, {})
    daemon = daemon_on(config_path, clock)

    def set_text(text: str) -> Callable[[], None]:
        def apply() -> None:
            config_path.write_text(text)
            daemon.reload()
        return apply

    clock.actions = {disable_at: set_text(disabled_text), enable_at: set_text(enabled_text)}
    daemon.run()

    # Then the slots before the disable and after the enable went out, none in between
    sent = scheduled(drain(tmp_path))
    assert sent == slots(T0, disable_at) + slots(enable_at - timedelta(seconds=5), until)


@pytest.mark.parametrize("state_kind", ["sqlite", "redis"])
def test_a_removed_entry_loses_its_state_and_a_re_added_one_starts_fresh(tmp_path, state_kind, request):
    # Given an entry every 10 s with `catchup: all`, removed by a reload at 60 s and added
    # again at 300 s
    state_url = request.getfixturevalue("redis_url") if state_kind == "redis" else None
    entry = "  tick:\n    task: tasks.tick\n    every: 10s\n    catchup: all\n"
    config_path = write_config(tmp_path / "beatd.yaml", GOOD + entry, tmp_path)
    with_tick, without_tick = config_path.read_text(), write_config(tmp_path / "beatd.yaml", GOOD, tmp_path).read_text()
    config_path.write_text(with_tick)
    remove_at, add_at, until = T0 + timedelta(seconds=65), T0 + timedelta(seconds=305), T0 + timedelta(seconds=361)
    clock = ScriptedClock(T0, until, {})
    daemon = daemon_on(config_path, clock, state_url=state_url)
    config = daemon.config
    seen_after_removal: dict[str, RunRecord] = {}

    def remove() -> None:
        config_path.write_text(without_tick)
        daemon.reload()

    def add() -> None:
        seen_after_removal.update(open_state_store(state_url or config.state).load())
        config_path.write_text(with_tick)
        daemon.reload()

    clock.actions = {remove_at: remove, add_at: add}
    daemon.run()

    # Then the removal deleted its state (the good entry's stayed)
    assert "tick" not in seen_after_removal and "good" in seen_after_removal
    # And the re-added entry started at its next slot, catching up nothing of its absence
    assert of_entry(drain(tmp_path), "tick") == slots(T0, remove_at) + slots(add_at - timedelta(seconds=5), until)


def test_a_reload_that_changes_the_lease_keeps_the_whole_running_config(tmp_path, caplog):
    # Given a running daemon, and a file whose leader ttl and entries both changed
    config_path = write_config(tmp_path / "beatd.yaml", GOOD, tmp_path)
    changed = config_path.read_text().replace("leader: {backend: none,", "leader: {backend: none, ttl: 3s,")
    changed += "  other:\n    task: tasks.other\n    every: 10s\n"
    assert changed != config_path.read_text()
    clock = ScriptedClock(T0, T0 + timedelta(seconds=61), {})
    daemon = daemon_on(config_path, clock)

    def change() -> None:
        config_path.write_text(changed)
        daemon.reload()

    clock.actions = {T0 + timedelta(seconds=15): change}
    running = daemon.config
    with caplog.at_level(logging.INFO, logger="beatd"):
        daemon.run()

    # Then nothing of the new file applied (not even its entries), and the log says why at ERROR
    assert daemon.config is running
    assert of_entry(drain(tmp_path), "other") == []
    refused = [record for record in caplog.records if "reload refused" in record.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.ERROR and "leader" in refused[0].getMessage()


def test_a_backlog_is_handed_out_a_batch_at_a_time():
    # Given 3,000 entries every second with `catchup: all`, each 100 slots behind
    engine = Engine(catchup_limit=100)
    now = T0 + timedelta(seconds=100)
    entries = [Entry(name=f"e{index}", task="t", schedule=IntervalSchedule(every=timedelta(seconds=1)),
                     catchup=CatchUp.ALL) for index in range(3000)]
    engine.load(entries, now=now, last_scheduled={entry.name: T0 for entry in entries})

    # When the backlog is asked for in parts
    parts = []
    while fires := engine.due(now, limit=PUBLISH_BATCH):
        parts.append(len(fires))

    # Then no part holds more than a batch plus one entry's catch-up, and all 300,000 come out once
    assert max(parts) <= PUBLISH_BATCH + 100
    assert sum(parts) == 300_000 and len(parts) >= 300_000 // (PUBLISH_BATCH + 100)


def test_a_held_entry_alone_is_retried_on_time(tmp_path):
    # Given only an entry that cannot be built, every 10 minutes (nothing else wakes the loop)
    config_path = write_config(tmp_path / "beatd.yaml", "", tmp_path)
    config_path.write_text(config_path.read_text().replace("entries:\n", "entries: {}\n"))
    clock = SimulatedClock(T0, T0 + timedelta(minutes=30, seconds=1))
    bad = Entry(name="bad", task="tasks.bad", schedule=IntervalSchedule(every=timedelta(minutes=10)),
                options=Options(headers={"task": "x"}), catchup=CatchUp.LATEST)
    daemon = daemon_on(config_path, clock, extra=(bad,))

    daemon.run()

    # Then each retry came when its backoff ended, each trying the missed slot again under
    # `catchup: latest`: at 600 s, then 1, 2, 4, 8, 16, 32 s later (601 ... 663), then every
    # 60 s (723 ... 1743): 25 attempts (waking only every MAX_SLEEP_S would make it 40)
    faults = open_state_store(daemon.config.state).load_faults()
    assert faults["bad"].attempts == 25
    assert drain(tmp_path) == []
