"""`beatd run --app` takes over the example Celery project: each entry reaches a real worker on the
queue Celery itself picks, with the same arguments and priority as `celery beat` sends, on Redis
and on RabbitMQ.

Given a worker of examples/celery_app_project consuming its two queues (private names per test),
when `celery beat` runs the app (on Redis with a global_keyprefix in broker_transport_options) (its interval entries come due within seconds; the rest are sent
once through celery.beat.Scheduler.apply_async, celery beat's publishing code) and `beatd run
--app` runs it too (intervals; the rest by `beatd trigger --app`), then per entry the worker saw
both messages on the queue app.amqp.router.route(...) names, with equal priority and arguments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import BEATD, Processes, log_tail, wait_until, worker_results_path

pytestmark = [pytest.mark.services, pytest.mark.slow]

TESTS_DIR = Path(__file__).resolve().parent
EXAMPLE = TESTS_DIR.parent / "examples" / "celery_app_project"
INTERVAL_ENTRIES = ("report-every-2s", "cleanup-every-3s", "urgent-digest", "ping-every-4s")
DEADLINE_S = 40.0


@pytest.fixture(params=["redis", "amqp"])
def broker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url = request.getfixturevalue(f"{request.param}_url")
    yield url


@pytest.fixture
def prefix(broker_url: str) -> Iterator[str]:
    """Queue names of this test's own; on RabbitMQ the queues and exchanges are deleted afterwards."""
    prefix = f"beatd13-{uuid.uuid4().hex[:8]}-"
    yield prefix
    if broker_url.startswith("amqp"):
        from kombu import Connection

        with Connection(broker_url) as connection:
            channel = connection.channel()
            for name in (f"{prefix}reports", f"{prefix}housekeeping"):
                channel.queue_delete(name)
                channel.exchange_delete(name)


def celery_side(*args: str, cwd: Path) -> str:
    result = subprocess.run([sys.executable, str(TESTS_DIR / "celery_beat_side.py"), *args], cwd=cwd,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def beatd(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BEATD, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def call_key(event: dict[str, Any]) -> tuple[str, str, str]:
    return event["task"], json.dumps(event["args"]), json.dumps(event["kwargs"], sort_keys=True)


def test_beatd_run_app_publishes_each_entry_where_celery_beat_does(
        broker_url: str, prefix: str, tmp_path: Path, processes: Processes, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the example app on this broker with private queues, and a worker of it
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(EXAMPLE), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("PROJ_BROKER_URL", broker_url)
    monkeypatch.setenv("PROJ_QUEUE_PREFIX", prefix)
    if broker_url.startswith("redis"):
        # The app's broker_transport_options: a worker only sees what is pushed under its key prefix.
        monkeypatch.setenv("PROJ_REDIS_KEYPREFIX", f"{prefix}keys:")
    workdir = tmp_path / "worker"
    monkeypatch.setenv("PROJ_RESULTS", str(worker_results_path(workdir, "example")))
    worker = processes.worker(broker_url, [f"{prefix}reports", f"{prefix}housekeeping"], workdir, "example",
                              app="proj")
    routes = json.loads(celery_side("routes", cwd=tmp_path))
    assert len(routes) == 11 and {route["queue"] for route in routes.values()} == {f"{prefix}reports",
                                                                                  f"{prefix}housekeeping"}

    # When celery beat runs the app: the interval entries from a real `celery beat`, the rest through its Scheduler
    beat_log = tmp_path / "celery-beat.log"
    with beat_log.open("w") as out:
        beat = subprocess.Popen([sys.executable, "-m", "celery", "-A", "proj", "beat", "--loglevel", "info",
                                 "-s", str(tmp_path / "celerybeat-schedule")], cwd=tmp_path, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        calls = routes_calls(tmp_path)
        wait_until(lambda: _celery_calls(worker.ran(), INTERVAL_ENTRIES, calls), DEADLINE_S,
                   "celery beat's interval entries ran", lambda: log_tail(beat_log) + log_tail(worker.log))
    finally:
        beat.terminate()
        beat.wait(timeout=15)
    others = [name for name in routes if name not in INTERVAL_ENTRIES]
    celery_side("publish", *others, cwd=tmp_path)

    # ... and beatd runs it: `beatd run --app` for the intervals, `beatd trigger --app` for the rest
    config = tmp_path / "beatd.yaml"
    config.write_text("state: sqlite:///beatd-state.sqlite3\n")
    running = processes.beatd(config, tmp_path / "beatd.log", "--app", "proj.celery")
    wait_until(lambda: {published.entry for published in running.published()} >= set(INTERVAL_ENTRIES), DEADLINE_S,
               "beatd published the interval entries", lambda: log_tail(running.log))
    running.stop()
    for name in others:
        result = beatd("trigger", "--app", "proj.celery", name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr

    # Then per entry the worker ran beatd's message and celery beat's, on the router's queue, alike

    def both_ran() -> dict[str, tuple[dict[str, Any], dict[str, Any]]] | None:
        ran = worker.ran()
        by_beatd = {event["beatd_entry"]: event for event in ran if event["beatd_entry"]}
        by_call = {call_key(event): event for event in ran if event["celery_beat"]}
        pairs = {name: (by_beatd.get(name), by_call.get(calls[name])) for name in routes}
        return pairs if all(ours and theirs for ours, theirs in pairs.values()) else None  # type: ignore[return-value]

    pairs = wait_until(both_ran, DEADLINE_S, "every entry ran from beatd and from celery beat",
                       lambda: f"ran: {[(e['task'], e['beatd_entry']) for e in worker.ran()]}\n{log_tail(worker.log)}")
    for name, (ours, theirs) in pairs.items():
        route = routes[name]
        assert ours["routing_key"] == theirs["routing_key"] == route["queue"], name
        assert (ours["args"], ours["kwargs"]) == (theirs["args"], theirs["kwargs"]), name
        assert ours["priority"] == theirs["priority"], name
        if route["priority"] is not None:
            assert ours["priority"] == route["priority"], name


def routes_calls(cwd: Path) -> dict[str, tuple[str, str, str]]:
    """Each entry's (task, args, kwargs) as the worker records them: the example's calls are all distinct."""
    return {name: (call["task"], json.dumps(call["args"]), json.dumps(call["kwargs"], sort_keys=True))
            for name, call in _entry_calls(cwd).items()}


_CALLS: dict[str, dict[str, Any]] = {}


def _entry_calls(cwd: Path) -> dict[str, dict[str, Any]]:
    if not _CALLS:
        probe = ("import json; from proj.celery import app; app.finalize(auto=True); print(json.dumps({name: "
                 "{'task': raw['task'], 'args': list(raw.get('args', ())), 'kwargs': raw.get('kwargs', {})} "
                 "for name, raw in app.conf.beat_schedule.items()}))")
        result = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, timeout=60,
                                check=True)
        _CALLS.update(json.loads(result.stdout))
    return _CALLS


def _celery_calls(ran: list[dict[str, Any]], names: tuple[str, ...],
                  calls: dict[str, tuple[str, str, str]]) -> set[str] | None:
    """The names among `names` whose call celery beat's messages ran, once all have."""
    seen = {call_key(event) for event in ran if event["celery_beat"]}
    done = {name for name in names if calls[name] in seen}
    return done if done == set(names) else None
