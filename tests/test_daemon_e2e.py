"""`beatd run` end to end: a real daemon subprocess publishes, a real Celery worker executes.

Every test writes its own config (SQLite state and lock file in tmp_path, entries with
unique names routed to unique queues), starts `python -m beatd run`, and reads two
records: the worker's results file (tests/worker_app.py: what ran, with beatd's headers)
and beatd's own log (its `published entry ... id ... scheduled ...` lines). The schedules
run on the real clock, so the waits here are real seconds; each wait polls against a
deadline, and a fixed sleep appears only where letting real time pass is the point.

One worker per broker serves the module (each test owns a queue of its own); tests that
need a worker started late, or a broker they may kill, start their own.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import sqlite3
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REQUIRE_SERVICES, redis_test_url, require_service
from processes import BeatdProcess, Event, Processes, Published, WorkerProcess, beatd_command, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

# Not db 9 (conftest flushes it) nor 14 (test_publish, test_worker_e2e); keys are per-queue anyway.
REDIS_URL = redis_test_url(15)
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
TASK = "tests.record"
ONE_SECOND = timedelta(seconds=1)
# What each test of the shared workers routes its entries to (one queue per test).
QUEUE_PURPOSES = ("interval", "routed", "cron", "sigterm", "sigkill", "reload", "status")


# ---------------------------------------------------------------------------------------------
# fixtures: processes, one shared worker per broker


@dataclass
class Broker:
    """A broker with a module-wide worker consuming one queue per purpose."""

    kind: str
    url: str
    worker: WorkerProcess
    queues: dict[str, str]


@dataclass
class SharedWorkers:
    """Starts one worker per broker kind on first use; `close` stops them and deletes their queues."""

    workdir: Path
    started: Processes = field(default_factory=Processes)
    brokers: dict[str, Broker] = field(default_factory=dict)

    def get(self, kind: str) -> Broker:
        if kind not in self.brokers:
            url = {"redis": REDIS_URL, "rabbitmq": AMQP_URL}.get(kind)
            if kind in ("redis", "rabbitmq"):
                require_service(kind)
            if url is None:
                url = f"sqla+sqlite:///{self.workdir / 'broker.sqlite3'}"
            token = uuid.uuid4().hex[:10]
            queues = {purpose: f"beatd-daemon-e2e.{purpose}.{token}" for purpose in QUEUE_PURPOSES}
            worker = self.started.worker(url, list(queues.values()), self.workdir / kind, f"worker-{kind}")
            self.brokers[kind] = Broker(kind, url, worker, queues)
        return self.brokers[kind]

    def close(self) -> None:
        self.started.close()
        for broker in self.brokers.values():
            forget_queues(broker.url, list(broker.queues.values()))


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedWorkers]:
    shared = SharedWorkers(tmp_path_factory.mktemp("workers"))
    try:
        yield shared
    finally:
        shared.close()


def forget_queues(url: str, queues: list[str]) -> None:
    """Delete queues (and Redis keys naming them) so the shared brokers do not collect them."""
    if url.startswith("sqla"):
        return  # the file goes with the temporary directory
    from kombu import Connection

    with Connection(url) as connection:
        channel = connection.channel()
        for name in queues:
            channel.queue_delete(name)
            channel.exchange_delete(name)
        channel.close()
    if url.startswith("redis"):
        import redis

        with redis.Redis.from_url(url) as client:
            for name in queues:
                for key in client.scan_iter(match=f"*{name}*"):
                    client.delete(key)


# ---------------------------------------------------------------------------------------------
# configs and what the records say


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def write_config(directory: Path, broker_url: str, entries: dict[str, dict[str, Any]], **settings: Any) -> Path:
    """A config with SQLite state and a lock file of the test's own; rewritten in place on reuse."""
    config = {
        "broker": broker_url,
        "state": f"sqlite:///{directory / 'state.sqlite3'}",
        "leader": {"backend": "none", "lock_file": str(directory / "beatd.lock")},
        **settings,
        "entries": entries,
    }
    path = directory / "beatd.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def every_second(queue: str, **fields: Any) -> dict[str, Any]:
    return {"task": TASK, "every": 1, "options": {"queue": queue}, **fields}


def scheduled(run: Event) -> datetime:
    return datetime.fromisoformat(run["beatd_scheduled_at"])


def published_of(entry: str, *beatds: BeatdProcess) -> list[Published]:
    return [line for beatd in beatds for line in beatd.published() if line.entry == entry]


def assert_consecutive_seconds(instants: list[datetime]) -> None:
    """Whole UTC seconds, each one second after the one before: no gap, no repeat."""
    assert instants, "no runs at all"
    assert all(instant.utcoffset() == timedelta(0) and instant.microsecond == 0 for instant in instants), instants
    pairs = list(zip(instants, instants[1:], strict=False))
    gaps = [(earlier.isoformat(), later.isoformat()) for earlier, later in pairs if later - earlier != ONE_SECOND]
    assert not gaps, f"not consecutive seconds around {gaps}"


def slots_by_instant(runs: list[Event]) -> dict[datetime, list[str]]:
    """Task ids executed per scheduled instant."""
    ids: dict[datetime, list[str]] = defaultdict(list)
    for run in runs:
        ids[scheduled(run)].append(run["id"])
    return dict(ids)


def utc_now() -> datetime:
    return datetime.now(UTC)


def ceil_to_second(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + ONE_SECOND


def ceil_to_minute(moment: datetime) -> datetime:
    whole = moment.replace(second=0, microsecond=0)
    return whole if whole == moment else whole + timedelta(minutes=1)


# ---------------------------------------------------------------------------------------------
# the message contract, per broker


@pytest.mark.parametrize("kind", ["redis", "rabbitmq", "sqlite"])
def test_interval_entry_runs_every_second_with_its_args_and_kwargs(
    kind: str, workers: SharedWorkers, processes: Processes, tmp_path: Path
) -> None:
    # Given an entry due every second, with arguments, routed to a queue the worker consumes
    broker = workers.get(kind)
    name, queue = unique("add"), broker.queues["interval"]
    kwargs = {"label": "sum", "nested": {"n": [1, 2]}}
    config = write_config(tmp_path, broker.url, {name: every_second(queue, args=[16, 16], kwargs=kwargs)})

    # When beatd runs until the worker has executed four runs, then stops gracefully
    beatd = processes.beatd(config, tmp_path / "beatd.log")
    broker.worker.wait_for(
        lambda events: len([e for e in events if e.get("beatd_entry") == name]) >= 4, "run four slots of the entry"
    )
    assert beatd.stop() == 0
    published = published_of(name, beatd)
    broker.worker.wait_ran_ids([line.task_id for line in published], "run every run beatd published")

    # Then every published run ran once, with its arguments, from its queue, in consecutive seconds
    runs = broker.worker.ran(name)
    assert len(runs) >= 4
    for run in runs:
        assert (run["args"], run["kwargs"]) == ([16, 16], kwargs)
        assert run["delivery_info"]["routing_key"] == queue
    ids = [run["id"] for run in runs]
    assert len(set(ids)) == len(ids), f"a task id ran twice: {ids}"
    assert sorted(ids) == sorted(line.task_id for line in published)
    assert {line.task_id: line.scheduled_at for line in published} == {run["id"]: scheduled(run) for run in runs}
    assert_consecutive_seconds(sorted(scheduled(run) for run in runs))


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_routed_entry_arrives_on_its_queue_with_its_priority(
    kind: str, workers: SharedWorkers, processes: Processes, tmp_path: Path
) -> None:
    # Given an entry routed to a queue of its own with priority 5
    broker = workers.get(kind)
    name, queue = unique("report"), broker.queues["routed"]
    entry = {"task": TASK, "every": 1, "kwargs": {"format": "pdf"}, "options": {"queue": queue, "priority": 5}}
    config = write_config(tmp_path, broker.url, {name: entry})

    # When beatd publishes a run of it
    beatd = processes.beatd(config, tmp_path / "beatd.log")
    run = broker.worker.wait_for(
        lambda events: next((e for e in events if e.get("beatd_entry") == name), None), "run the routed entry"
    )
    assert beatd.stop() == 0

    # Then the worker took it from that queue, with that priority
    assert run["delivery_info"]["routing_key"] == queue
    assert run["delivery_info"]["priority"] == 5
    assert run["kwargs"] == {"format": "pdf"}


def test_message_consumed_after_it_expired_is_revoked_not_run(processes: Processes, tmp_path: Path) -> None:
    require_service("redis")
    # Given an entry due every second whose runs expire one second after their slot,
    # and no worker consuming its queue yet
    name, queue = unique("expiring"), unique("beatd-daemon-e2e.expires")
    entry = every_second(queue)
    entry["options"]["expires"] = 1
    config = write_config(tmp_path, REDIS_URL, {name: entry})
    try:
        beatd = processes.beatd(config, tmp_path / "beatd.log")
        wait_for_published(beatd, name, 3)

        # When a worker starts consuming only after three runs were queued (and expired)
        worker_started_at = utc_now()
        worker = processes.worker(REDIS_URL, [queue], tmp_path, "late-worker")
        # ...and keeps consuming until a run published while it listens has run
        fresh = worker.wait_for(
            lambda events: next((e for e in events if e.get("beatd_entry") == name), None),
            "run a run published after it started",
            10,
        )
        assert beatd.stop() == 0

        # Then each run queued before the worker started was revoked as expired, and never ran
        stale = [
            line.task_id for line in published_of(name, beatd) if line.scheduled_at + ONE_SECOND < worker_started_at
        ]
        assert len(stale) >= 2, f"expected runs queued before the worker started: {published_of(name, beatd)}"
        revoked = worker.wait_for(
            lambda events: revoked_by_id(events) if set(stale) <= revoked_by_id(events).keys() else None,
            "revoke every stale run",
        )
        assert all(revoked[task_id]["expired"] is True for task_id in stale), revoked
        ran_ids = {run["id"] for run in worker.ran(name)}
        assert not ran_ids & set(stale), "an expired run ran"
        assert scheduled(fresh) + ONE_SECOND >= worker_started_at
    finally:
        forget_queues(REDIS_URL, [queue])


def wait_for_published(beatd: BeatdProcess, entry: str, count: int, timeout_s: float = 10.0) -> None:
    wait_until(
        lambda: len(published_of(entry, beatd)) >= count,
        timeout_s,
        f"beatd: publish {count} runs of {entry}",
        lambda: beatd.text()[-3000:],
    )


def revoked_by_id(events: list[Event]) -> dict[str, Event]:
    return {event["id"]: event for event in events if event["event"] == "revoked"}


# ---------------------------------------------------------------------------------------------
# restarts: catch-up, exactly once, same ids


@dataclass(frozen=True)
class AcrossRestart:
    """What happened around one stop and restart of beatd."""

    runs: list[Event]  # the worker's executions of the entry, once it drained everything published
    first_exit_status: int
    stopped_at: datetime
    restarted_at: datetime
    first_published: list[Published]
    second_published: list[Published]

    def instants_missed_while_down(self) -> list[datetime]:
        """Executed slots that came due while no beatd ran (so only catch-up can have sent them)."""
        return [
            scheduled(run) for run in self.runs if self.stopped_at < scheduled(run) < self.restarted_at - ONE_SECOND
        ]


def run_across_restart(
    stop_signal: int,
    worker: WorkerProcess,
    queue: str,
    processes: Processes,
    tmp_path: Path,
    *,
    stall_records: bool = False,
) -> AcrossRestart:
    """Run beatd about 4 s, stop it with stop_signal, wait 3 s, run it again about 4 s, stop it.

    With stall_records, the test holds the SQLite state's write lock before the stop, from
    before a slot until the worker has run that slot: beatd published it and is still
    waiting to record it when it gets the signal.
    """
    name = unique(signal.Signals(stop_signal).name.lower())
    config = write_config(tmp_path, REDIS_URL, {name: every_second(queue, catchup="all")})

    first = processes.beatd(config, tmp_path / "beatd-1.log")
    worker.wait_for(lambda events: len([e for e in events if e.get("beatd_entry") == name]) >= 4, "run four slots")
    with contextlib.ExitStack() as stalled:
        if stall_records:
            locked_at = utc_now()
            stalled.enter_context(state_write_lock(tmp_path / "state.sqlite3"))
            worker.wait_for(
                lambda events: any(e.get("beatd_entry") == name and scheduled(e) > locked_at for e in events),
                "run a slot published while records stall",
            )
        first_exit_status = first.stop(stop_signal)
    stopped_at = utc_now()
    time.sleep(3)  # the point: slots come due while no beatd runs
    second = processes.beatd(config, tmp_path / "beatd-2.log")
    restarted_at = utc_now()
    worker.wait_for(
        lambda events: any(
            e.get("beatd_entry") == name and scheduled(e) >= restarted_at + 3 * ONE_SECOND for e in events
        ),
        "run slots three seconds after the restart",
    )
    assert second.stop() == 0
    worker.wait_ran_ids([line.task_id for line in published_of(name, first, second)], "run every run beatd published")
    return AcrossRestart(
        runs=worker.ran(name),
        first_exit_status=first_exit_status,
        stopped_at=stopped_at,
        restarted_at=restarted_at,
        first_published=published_of(name, first),
        second_published=published_of(name, second),
    )


@contextlib.contextmanager
def state_write_lock(database: Path) -> Iterator[None]:
    """Hold SQLite's write lock on beatd's state file: its records wait (busy timeout), then fail."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def test_sigterm_and_restart_runs_every_slot_exactly_once(
    workers: SharedWorkers, processes: Processes, tmp_path: Path
) -> None:
    # Given an entry due every second with `catchup: all`
    broker = workers.get("redis")

    # When beatd is stopped with SIGTERM for about three seconds and started again
    restart = run_across_restart(signal.SIGTERM, broker.worker, broker.queues["sigterm"], processes, tmp_path)

    # Then it exited 0, and every one-second slot from the first to the last ran exactly once,
    # the ones missed while it was down included
    assert restart.first_exit_status == 0
    ids = [run["id"] for run in restart.runs]
    assert len(set(ids)) == len(ids), f"a run was executed twice: {sorted(ids)}"
    instants = sorted(scheduled(run) for run in restart.runs)
    assert_consecutive_seconds(instants)
    assert instants[0] < restart.stopped_at and instants[-1] > restart.restarted_at
    assert len(restart.instants_missed_while_down()) >= 2, f"the downtime was not caught up: {instants}"
    # A graceful stop records everything it sent: the second run resends nothing.
    first_slots = {line.scheduled_at for line in restart.first_published}
    assert not first_slots & {line.scheduled_at for line in restart.second_published}


def test_kill_9_and_restart_loses_no_slot_and_resends_with_the_same_id(
    workers: SharedWorkers, processes: Processes, tmp_path: Path
) -> None:
    # Given an entry due every second with `catchup: all`
    broker = workers.get("redis")

    # When beatd is killed with SIGKILL while a run it published is not yet recorded (the
    # test holds the state file's write lock), and started again about three seconds later
    restart = run_across_restart(
        signal.SIGKILL, broker.worker, broker.queues["sigkill"], processes, tmp_path, stall_records=True
    )

    # Then no slot from the first to the last is missing
    assert restart.first_exit_status == -signal.SIGKILL
    by_instant = slots_by_instant(restart.runs)
    instants = sorted(by_instant)
    assert_consecutive_seconds(instants)
    assert instants[0] < restart.stopped_at and instants[-1] > restart.restarted_at
    assert len(set(restart.instants_missed_while_down())) >= 2, f"the downtime was not caught up: {instants}"
    # ...the run that was published but not recorded at the kill was sent again, under its
    # id, and the Redis broker's high-water mark kept the copy out: it ran once
    different_ids = {instant.isoformat(): ids for instant, ids in by_instant.items() if len(set(ids)) > 1}
    assert not different_ids, f"one slot ran under several task ids: {different_ids}"
    resent = {(line.scheduled_at, line.task_id) for line in restart.first_published} & {
        (line.scheduled_at, line.task_id) for line in restart.second_published
    }
    assert resent, "no unrecorded run was re-sent after the kill"
    assert all(len(by_instant[instant]) == 1 for instant, _ in resent), by_instant
    slot_ids = [ids[0] for ids in by_instant.values()]
    assert len(set(slot_ids)) == len(slot_ids), "two slots share a task id"


# ---------------------------------------------------------------------------------------------
# broker outage


def require_redis_server_binary() -> None:
    if shutil.which("redis-server") is None:
        message = "redis-server is not on PATH; install it (apt-get install redis-server) for the broker outage test"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)


def test_broker_down_20s_beatd_survives_logs_once_and_catches_up_every_slot(
    processes: Processes, tmp_path: Path
) -> None:
    # Given a private Redis that keeps queued messages across a crash (AOF, fsync always),
    # a worker on it, and beatd publishing an entry due every second with `catchup: all`
    require_redis_server_binary()
    server = processes.redis_server(tmp_path / "redis")
    name, queue = unique("outage"), unique("beatd-daemon-e2e.outage")
    worker = processes.worker(server.url, [queue], tmp_path, "outage-worker")
    config = write_config(tmp_path, server.url, {name: every_second(queue, catchup="all")})
    beatd = processes.beatd(config, tmp_path / "beatd.log")
    worker.wait_for(lambda events: len([e for e in events if e.get("beatd_entry") == name]) >= 3, "run three slots")

    # When the broker dies and stays away for 20 s
    server.kill()
    down_at = utc_now()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the point: real time passes with the broker down
        assert beatd.alive(), f"beatd exited during the outage:\n{beatd.text()[-3000:]}"
        time.sleep(0.5)
    beatd.wait_for_log(r"broker unavailable", "logging the outage", 1)
    server.start()
    up_at = utc_now()

    # Then beatd is still running, and once the worker is back every slot has run
    assert beatd.alive()
    # beatd retries with exponential backoff capped at 30 s, so it may take that long to notice.
    beatd.wait_for_log(r"broker available again", "logging the broker's return", 35)
    # Celery's worker reconnects with growing pauses (2 s, 4 s, 6 s, ...): allow for them.
    worker.wait_for(
        lambda events: any(e.get("beatd_entry") == name and scheduled(e) >= up_at + 2 * ONE_SECOND for e in events),
        "run slots after the broker came back",
        45,
    )
    assert beatd.stop() == 0
    published = published_of(name, beatd)
    worker.wait_ran_ids([line.task_id for line in published], "run every run beatd published", 30)
    by_instant = slots_by_instant(worker.ran(name))
    instants = sorted(by_instant)
    assert_consecutive_seconds(instants)
    during = [instant for instant in instants if down_at < instant < up_at - ONE_SECOND]
    assert len(during) >= 18, f"slots of the outage missing: {[i.isoformat() for i in instants]}"
    assert all(len(set(ids)) == 1 for ids in by_instant.values()), by_instant
    # ...and it said so once each way, not once per retry
    assert beatd.count(r"broker unavailable") == 1, beatd.text()
    assert beatd.count(r"broker available again") == 1, beatd.text()


# ---------------------------------------------------------------------------------------------
# reload, status, cron


def test_sighup_adds_and_removes_entries_while_the_others_keep_their_slots(
    workers: SharedWorkers, processes: Processes, tmp_path: Path
) -> None:
    # Given beatd running one entry due every second
    broker = workers.get("redis")
    queue = broker.queues["reload"]
    kept, added = unique("kept"), unique("added")
    config = write_config(tmp_path, broker.url, {kept: every_second(queue)})
    beatd = processes.beatd(config, tmp_path / "beatd.log")
    broker.worker.wait_for(lambda events: any(e.get("beatd_entry") == kept for e in events), "run the first entry")

    # When a second entry is added to the file and beatd gets SIGHUP
    write_config(tmp_path, broker.url, {kept: every_second(queue), added: every_second(queue)})
    hup_at = utc_now()
    beatd.process.send_signal(signal.SIGHUP)

    # Then it reports the change and the new entry runs within 2 s
    beatd.wait_for_log(r"config reloaded: 1 added, 0 changed, 0 removed, 1 unchanged", "the reload")
    first_added = broker.worker.wait_for(
        lambda events: next((e for e in events if e.get("beatd_entry") == added), None), "run the added entry", 5
    )
    assert scheduled(first_added) <= hup_at + 2 * ONE_SECOND

    # When it is removed again
    broker.worker.wait_for(
        lambda events: len([e for e in events if e.get("beatd_entry") == added]) >= 2, "run the added entry twice"
    )
    write_config(tmp_path, broker.url, {kept: every_second(queue)})
    removed_at = utc_now()
    beatd.process.send_signal(signal.SIGHUP)
    beatd.wait_for_log(r"config reloaded: 0 added, 0 changed, 1 removed, 1 unchanged", "the second reload")
    time.sleep(2.5)  # the point: slots of the removed entry would come due now
    assert beatd.stop() == 0

    # Then it stops: no run of it scheduled after the reload, while the kept entry ran on
    published = beatd.published()
    broker.worker.wait_ran_ids([line.task_id for line in published], "run every run beatd published")
    late = [
        line.scheduled_at
        for line in published
        if line.entry == added and line.scheduled_at > ceil_to_second(removed_at)
    ]
    assert not late, f"the removed entry was still published for {late}"
    kept_slots = sorted(scheduled(run) for run in broker.worker.ran(kept))
    assert_consecutive_seconds(kept_slots)
    assert kept_slots[-1] > removed_at + ONE_SECOND
    ids = [run["id"] for run in broker.worker.ran(kept)]
    assert len(set(ids)) == len(ids)


def test_check_and_status_report_what_the_worker_executed(
    workers: SharedWorkers, processes: Processes, tmp_path: Path
) -> None:
    # Given a config with two entries, one due every second and one every two seconds
    broker = workers.get("redis")
    queue = broker.queues["status"]
    often, seldom = unique("often"), unique("seldom")
    entries = {often: every_second(queue), seldom: {**every_second(queue), "every": 2}}
    config = write_config(tmp_path, broker.url, entries)

    # Then `beatd check` accepts it
    checked = beatd_command("check", "--config", str(config), cwd=tmp_path)
    assert (checked.returncode, checked.stdout) == (0, f"ok: {config}: 2 entries\n"), checked.stderr

    # When beatd runs a few seconds, `beatd status` names it as the leader
    beatd = processes.beatd(config, tmp_path / "beatd.log")
    broker.worker.wait_for(
        lambda events: len([e for e in events if e.get("beatd_entry") == often]) >= 4, "run four slots"
    )
    running = beatd_command("status", "--config", str(config), "--json", cwd=tmp_path)
    assert running.returncode == 0, running.stderr
    assert json.loads(running.stdout)["leader"] is not None
    assert beatd.stop() == 0
    published = beatd.published()
    broker.worker.wait_ran_ids([line.task_id for line in published], "run every run beatd published")

    # Then, once stopped, `beatd status --json` counts exactly what the worker ran
    stopped = beatd_command("status", "--config", str(config), "--json", cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    report = json.loads(stopped.stdout)
    assert report["leader"] is None
    rows = {row["entry"]: row for row in report["entries"]}
    for name in (often, seldom):
        runs = broker.worker.ran(name)
        assert rows[name]["run_count"] == len({run["id"] for run in runs}) > 0, (name, rows[name], runs)
        assert datetime.fromisoformat(rows[name]["last_run"]) == max(scheduled(run) for run in runs)
        assert datetime.fromisoformat(rows[name]["next_run"]) > max(scheduled(run) for run in runs)


def test_trigger_publishes_one_run_now_that_the_worker_executes(workers: SharedWorkers, tmp_path: Path) -> None:
    # Given an hourly entry with arguments, and no beatd running
    broker = workers.get("redis")
    name = unique("report")
    config = write_config(tmp_path, broker.url, {name: {**every_second(broker.queues["status"], args=[7]), "every": "1h"}})

    # When `beatd trigger` publishes it
    triggered = beatd_command("trigger", name, "--config", str(config), cwd=tmp_path)

    # Then it says which task id it sent, and the worker runs that id with the entry's args
    assert triggered.returncode == 0, triggered.stderr
    match = re.fullmatch(rf"published {name} \(tests\.record\) task id ([0-9a-f-]{{36}})\n", triggered.stdout)
    assert match, triggered.stdout
    broker.worker.wait_ran_ids([match.group(1)], "run the triggered run")
    assert [run["args"] for run in broker.worker.ran(name)] == [[7]]

    # And an unknown name is an error naming the file, not a traceback
    unknown = beatd_command("trigger", "no-such-entry", "--config", str(config), cwd=tmp_path)
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr.strip() == f"{config}: no entry named 'no-such-entry'"


def test_cron_every_minute_runs_on_the_minute(workers: SharedWorkers, processes: Processes, tmp_path: Path) -> None:
    # Given a cron entry `* * * * *` (the only test here that waits for a minute boundary)
    broker = workers.get("redis")
    name = unique("minutely")
    config = write_config(
        tmp_path, broker.url, {name: {"task": TASK, "cron": "* * * * *", "options": {"queue": broker.queues["cron"]}}}
    )

    # When beatd runs across the next minute boundary
    launched_at = utc_now()
    beatd = processes.beatd(config, tmp_path / "beatd.log")
    wait_s = (ceil_to_minute(utc_now()) - utc_now()).total_seconds() + 10
    run = broker.worker.wait_for(
        lambda events: next((e for e in events if e.get("beatd_entry") == name), None),
        "run the cron entry at the next minute",
        wait_s,
    )
    assert beatd.stop() == 0

    # Then its run belongs to second 0 of that minute and was published on time
    assert scheduled(run) in (ceil_to_minute(launched_at), ceil_to_minute(launched_at) + timedelta(minutes=1))
    assert (scheduled(run).second, scheduled(run).microsecond) == (0, 0)
    published = published_of(name, beatd)
    assert [line.task_id for line in published] == [run["id"]]
    lateness_s = float(beatd.wait_for_log(rf"published entry {name} .* lateness (-?[0-9.]+)s", "the publish")[1])
    assert lateness_s < 1.0
