"""A real Celery worker executes what beatd publishes, on Redis (both paths), RabbitMQ and SQLite."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import redis_test_url, require_service

from beatd.entry import Entry, Fire, Options
from beatd.publish import KombuTransport, MessageBuilder, Transport, open_transport
from beatd.schedules.interval import IntervalSchedule

pytestmark = [pytest.mark.services, pytest.mark.slow]

TESTS_DIR = Path(__file__).resolve().parent
REDIS_URL = redis_test_url(14)  # not the conftest's db 9: see test_publish.PUBLISH_TEST_DB
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
EVENT_DEADLINE_S = 20.0
ORIGIN = "beatd@e2e"


@dataclass
class Worker:
    """A `celery worker` subprocess consuming two queues of its own, and what it recorded."""

    broker_url: str
    fast_path: bool
    queue: str
    reports_queue: str
    results: Path
    log: Path

    def publish(self, fires: list[Fire]) -> None:
        now = datetime.now(UTC)
        # Redis URLs always get the Lua path; kombu's own Redis transport is asked for by name.
        transport: Transport = open_transport(self.broker_url) if self.fast_path else KombuTransport(self.broker_url)
        with transport:
            builder = MessageBuilder(ORIGIN)
            transport.publish([builder.build(fire, now) for fire in fires])

    def events(self) -> list[dict[str, Any]]:
        if not self.results.exists():
            return []
        return [json.loads(line) for line in self.results.read_text().splitlines() if line.strip()]

    def wait_for(self, done: Callable[[list[dict[str, Any]]], bool], what: str) -> list[dict[str, Any]]:
        """Poll the results file until done(events) holds; fail with the worker's log after the deadline."""
        deadline = time.monotonic() + EVENT_DEADLINE_S
        while time.monotonic() < deadline:
            events = self.events()
            if done(events):
                return events
            time.sleep(0.05)
        log_tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        pytest.fail(
            f"worker did not {what} within {EVENT_DEADLINE_S}s; events: {self.events()}\nworker log:\n{log_tail}"
        )


def ran(events: list[dict[str, Any]], task_id: str) -> dict[str, Any] | None:
    return next((event for event in events if event["event"] == "ran" and event["id"] == task_id), None)


def revoked(events: list[dict[str, Any]], task_id: str) -> dict[str, Any] | None:
    return next((event for event in events if event["event"] == "revoked" and event["id"] == task_id), None)


@pytest.fixture(scope="module", params=["redis-fast-path", "redis-kombu", "rabbitmq", "sqla-sqlite"])
def worker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """One worker per broker for the module; each test tells its runs apart by task id."""
    kind = request.param
    workdir = tmp_path_factory.mktemp(kind)
    if kind.startswith("redis"):
        require_service("redis")
        broker_url = REDIS_URL
    elif kind == "rabbitmq":
        require_service("rabbitmq")
        broker_url = AMQP_URL
    else:
        broker_url = f"sqla+sqlite:///{workdir / 'broker.sqlite3'}"
    # Unique queue names: the brokers are shared with other tests and test runs.
    token = uuid.uuid4().hex[:10]
    worker = Worker(
        broker_url=broker_url,
        fast_path=kind != "redis-kombu",
        queue=f"beatd-e2e.{token}",
        reports_queue=f"reports.{token}",
        results=workdir / "results.jsonl",
        log=workdir / "worker.log",
    )
    environment = {
        **os.environ,
        "BEATD_TEST_BROKER": broker_url,
        "BEATD_TEST_RESULTS": str(worker.results),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "worker_app", "worker",
        "--pool", "solo", "--loglevel", "info",
        "--queues", f"{worker.queue},{worker.reports_queue}",
        "--hostname", f"beatd-e2e-{token}@%h",
        "--without-heartbeat", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    with worker.log.open("w") as log:
        process = subprocess.Popen(command, cwd=workdir, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        worker.wait_for(lambda events: any(event["event"] == "ready" for event in events), "start")
        yield worker
    finally:
        stop(process)
        forget_queues(worker)


def stop(process: subprocess.Popen[bytes]) -> None:
    # SIGTERM is Celery's warm shutdown; the solo pool has nothing running by now.
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def forget_queues(worker: Worker) -> None:
    """Delete the worker's queues and exchanges so shared brokers do not collect them."""
    from kombu import Connection

    if worker.broker_url.startswith("sqla"):
        return  # the file goes with the temporary directory
    with Connection(worker.broker_url) as connection:
        channel = connection.channel()
        for name in (worker.queue, worker.reports_queue):
            channel.queue_delete(name)
            channel.exchange_delete(name)
        channel.close()
    if worker.broker_url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(worker.broker_url)
        for name in (worker.queue, worker.reports_queue):
            for key in client.scan_iter(match=f"*{name}*"):
                client.delete(key)
        client.close()


def entry(name: str, **fields: Any) -> Entry:
    return Entry(
        name=f"{name}-{uuid.uuid4().hex[:8]}",
        task="tests.record",
        schedule=IntervalSchedule(every=timedelta(seconds=30)),
        **fields,
    )


def fire(of: Entry, scheduled_at: datetime) -> Fire:
    return Fire(entry=of, scheduled_at=scheduled_at, publish_at=scheduled_at)


def test_worker_runs_each_fire_with_its_args_and_kwargs(worker: Worker) -> None:
    # Given an entry like the README's add-every-30s, fired for two slots
    add = entry(
        "add", args=(16, 16), kwargs={"label": "sum", "nested": {"n": [1, 2]}}, options=Options(queue=worker.queue)
    )
    now = datetime.now(UTC)
    fires = [fire(add, now - timedelta(seconds=30)), fire(add, now)]

    # When beatd publishes them
    worker.publish(fires)

    # Then the worker runs both, with the entry's arguments and beatd's headers
    task_ids = [each.task_id for each in fires]
    events = worker.wait_for(lambda events: all(ran(events, task_id) for task_id in task_ids), "run both fires")
    for each in fires:
        execution = ran(events, each.task_id)
        assert execution is not None
        assert execution["args"] == [16, 16]
        assert execution["kwargs"] == {"label": "sum", "nested": {"n": [1, 2]}}
        assert execution["beatd_entry"] == execution["periodic_task_name"] == add.name
        assert execution["beatd_scheduled_at"] == each.scheduled_at.isoformat()
        assert execution["delivery_info"]["routing_key"] == worker.queue


def test_routed_entry_arrives_on_its_queue_with_its_priority(worker: Worker) -> None:
    # Given an entry routed like the README's weekday-report
    report = entry(
        "report",
        kwargs={"format": "pdf"},
        options=Options(
            queue=worker.reports_queue, priority=5, expires=timedelta(hours=1), time_limit=30, soft_time_limit=20
        ),
    )
    scheduled = fire(report, datetime.now(UTC))

    # When it is published
    worker.publish([scheduled])

    # Then the task ran from the reports queue and saw priority and time limits
    events = worker.wait_for(lambda events: ran(events, scheduled.task_id) is not None, "run the routed fire")
    execution = ran(events, scheduled.task_id)
    assert execution is not None
    assert execution["kwargs"] == {"format": "pdf"}
    assert execution["delivery_info"]["routing_key"] == worker.reports_queue
    assert execution["delivery_info"]["priority"] == 5
    assert execution["timelimit"] == [30, 20]


def test_expired_fire_is_discarded_while_a_fresh_one_runs(worker: Worker) -> None:
    # Given a run that expired a minute ago and a fresh run of the same entry
    report = entry("expiring", args=(1,), options=Options(queue=worker.queue, expires=timedelta(minutes=5)))
    now = datetime.now(UTC)
    stale = fire(report, now - timedelta(minutes=6))
    fresh = fire(report, now)

    # When both are published, the stale one first
    worker.publish([stale, fresh])

    # Then only the fresh one runs. The worker revokes the stale one as expired when it
    # takes it; RabbitMQ may instead drop it unseen, since its TTL (`expiration` 0) has
    # run out, and that is the same outcome for the task.
    events = worker.wait_for(lambda events: ran(events, fresh.task_id) is not None, "run the fresh fire")
    if not worker.broker_url.startswith("amqp"):
        events = worker.wait_for(lambda events: revoked(events, stale.task_id) is not None, "revoke the stale fire")
        discarded = revoked(events, stale.task_id)
        assert discarded is not None and discarded["expired"] is True
    assert ran(worker.events(), stale.task_id) is None
