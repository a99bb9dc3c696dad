"""`beatd run` on a django-celery-beat database: a real Celery worker runs the rows, DCB's models show the runs.

The rows are made by DCB's own models (tests/dcb_project, in subprocesses); beatd runs
with `stores: [{django_celery_beat: URL}]` and a Redis broker; a solo-pool worker
(tests/worker_app.py) appends what it ran to a file. The last test runs DCB's own
scheduler (`celery beat -S django_celery_beat.schedulers:DatabaseScheduler`) on a copy
of the same rows over the same minutes and compares what each had run.
"""

from __future__ import annotations

import math
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dcb_project import beatd_config, dcb
from dcb_project.beat import dcb_celery_beat
from processes import Processes, log_tail, wait_until

pytestmark = [pytest.mark.slow]

# The bound: an edit reaches the running daemon within this long.
TAKES_EFFECT_S = 2.0


def every(seconds: int, tag: str, **fields: Any) -> dict[str, Any]:
    return {"name": tag, "task": "tests.record", "args": f'["{tag}"]',
            "schedule": {"interval": {"every": seconds, "period": "seconds"}}, **fields}


def runs_of(events: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    return [event for event in events if event["event"] == "ran" and event["args"][:1] == [tag]]


def test_beatd_runs_dcb_rows_and_dcbs_models_show_the_runs(dcb_url: str, redis_url: str, processes: Processes,
                                                           tmp_path: Path) -> None:
    # given DCB rows: an interval, a queue of its own, a clocked one-off and an interval one-off
    clocked_at = (datetime.now(UTC) + timedelta(seconds=6)).isoformat()
    dcb(dcb_url, "create", [
        every(2, "every"),
        every(2, "queued", queue="dcb-queue"),
        every(2, "one-off", one_off=True),
        {"name": "clocked", "task": "tests.record", "args": '["clocked"]', "one_off": True,
         "schedule": {"clocked": {"clocked_time": clocked_at}}},
    ])
    worker = processes.worker(redis_url, ["celery", "dcb-queue"], tmp_path / "worker", "worker")

    # when beatd runs on the same database
    beatd = processes.beatd(beatd_config(tmp_path, redis_url, dcb_url), tmp_path / "beatd.log")

    # then the worker runs each row as DCB would have it run
    worker.wait_for(lambda events: len(runs_of(events, "every")) >= 3 and runs_of(events, "clocked")
                    and runs_of(events, "one-off") and runs_of(events, "queued"), "every row ran", timeout_s=30)
    first = runs_of(worker.events(), "every")[0]
    assert first["periodic_task_name"] == "every" and first["beatd_entry"] == "every"
    assert runs_of(worker.events(), "queued")[0]["delivery_info"]["routing_key"] == "dcb-queue"

    # and an update() (which DCB's own scheduler would miss) reaches the daemon within 2 s
    dcb(dcb_url, "update", [{"name": "every", "via": "update", "args": '["edited"]'}])
    committed = time.monotonic()
    beatd.wait_for_log(r"entry stores changed: 0 added, 1 changed", "the edit", timeout_s=TAKES_EFFECT_S + 1)
    assert time.monotonic() - committed <= TAKES_EFFECT_S
    worker.wait_for(lambda events: runs_of(events, "edited"), "the edited args", timeout_s=10)
    time.sleep(2.5)  # one more run of everything, then stop: the last runs are written on the way out
    assert beatd.stop() == 0

    # DCB's models show beatd's runs: the count and the last slot of each, one-offs disabled once run
    rows = {row["name"]: row for row in dcb(dcb_url, "dump")}
    published = beatd.published()
    for name in ("every", "queued"):
        mine = [run for run in published if run.entry == name]
        assert rows[name]["total_run_count"] == len(mine), name
        assert datetime.fromisoformat(rows[name]["last_run_at"]) == max(run.scheduled_at for run in mine)
        assert rows[name]["enabled"]
    for name in ("clocked", "one-off"):
        assert [run.entry for run in published].count(name) == 1
        assert (rows[name]["enabled"], rows[name]["total_run_count"], rows[name]["last_run_at"]) == (False, 0, None)
    assert len(runs_of(worker.events(), "clocked")) == 1 and len(runs_of(worker.events(), "one-off")) == 1


def test_same_runs_as_dcbs_own_scheduler_on_the_same_rows(sqlite_url: str, redis_url: str, processes: Processes,
                                                          tmp_path: Path) -> None:
    """celery beat with DCB's DatabaseScheduler on one copy of the rows, beatd on another, the same minute.

    Both send to one broker and one worker; beatd's messages carry `beatd_entry`, DCB's do
    not. For each whole minute both ran, each row must have run in it under both: the
    minutely crontab once, the 5 s interval twelve times (DCB counts 5 s from each run's
    send time, beatd from its first slot, so a minute may hold one run more or less).
    Differences beatd fixes (DST days, update() edits) are covered elsewhere: this window
    has neither.
    """
    dcb(sqlite_url, "migrate")
    dcb(sqlite_url, "create", [
        {"name": "minutely", "task": "tests.record", "args": '["minutely"]', "schedule": {"crontab": {"minute": "*"}}},
        every(5, "every-5s"),
    ])
    copy = tmp_path / "beatd-copy.sqlite3"
    shutil.copyfile(sqlite_url.removeprefix("sqlite:///"), copy)
    worker = processes.worker(redis_url, ["celery"], tmp_path / "worker", "worker")
    with dcb_celery_beat(sqlite_url, redis_url, tmp_path) as celery_log:
        processes.beatd(beatd_config(tmp_path, redis_url, f"sqlite:///{copy}"), tmp_path / "beatd.log")
        started = time.time()
        window_start = math.ceil(started / 60) * 60
        window_end = window_start + 60  # one whole minute: the minutely row once, the 5 s row twelve times
        wait_until(lambda: time.time() > window_end + 3, window_end - started + 10, "the window",
                   lambda: log_tail(celery_log))

    def minutes(source: str) -> dict[tuple[str, int], int]:
        counts: dict[tuple[str, int], int] = {}
        for event in worker.events():
            if event["event"] != "ran" or (event["beatd_entry"] is not None) != (source == "beatd"):
                continue
            at = (datetime.fromisoformat(event["beatd_scheduled_at"]).timestamp() if source == "beatd"
                  else event["ran_at"])
            if window_start <= at < window_end:
                key = (event["periodic_task_name"], int(at // 60) * 60)
                counts[key] = counts.get(key, 0) + 1
        return counts

    beatd_runs, dcb_runs = minutes("beatd"), minutes("dcb")
    assert set(beatd_runs) == set(dcb_runs), (beatd_runs, dcb_runs)
    assert {key for key in beatd_runs if key[0] == "minutely"} == {("minutely", window_start)}
    for key, count in beatd_runs.items():
        expected = 1 if key[0] == "minutely" else 12
        assert count == expected and abs(dcb_runs[key] - expected) <= 1, (key, count, dcb_runs[key])
