"""Where beatd and DCB's own scheduler differ on the same django-celery-beat rows: DST days, and update() edits.

Issue 14's side-by-side test, the parts that differ on purpose (the non-DST part, where both
must send the same runs, is in test_django_celery_beat_e2e.py). Each difference is listed
in the test; the DST ones are those README.md ("What changes") states for celery beat's
crontab, since DCB's TzAwareCrontab is Celery's crontab run in the row's zone:

- DST, on a simulated clock: the rows' celery schedule as DCB's DatabaseScheduler builds it
  (a TzAwareCrontab, stepped by tests/dcb_project/fires.py as celery beat's loop steps it)
  beside beatd's store over the same rows, through each zone's two DST days of 2026.
- update(): a real `celery beat -S django_celery_beat.schedulers:DatabaseScheduler` and a
  real `beatd run` on the same SQLite database; a QuerySet.update() of a row's args and
  interval mid-run reaches beatd within 2 s, while DCB keeps sending the row as it was.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from dcb_project import TESTS_DIR, beatd_config, dcb
from dcb_project.beat import dcb_celery_beat
from processes import Processes, log_tail, wait_until
from test_celery_app import beatd_fires
from test_django_celery_beat_e2e import TAKES_EFFECT_S, every

from beatd.stores.django_celery_beat import DjangoCeleryBeatStore

pytestmark = [pytest.mark.slow]

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"

# Each zone's two DST days of 2026, local midnight to local midnight.
DST_DAYS = {
    BERLIN: [("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"),   # 02:00 CET -> 03:00 CEST
             ("2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00")],  # 03:00 CEST -> 02:00 CET
    NEW_YORK: [("2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00"),  # 02:00 EST -> 03:00 EDT
               ("2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00")],  # 02:00 EDT -> 01:00 EST
}

# name: (zone, minute, hour)
DST_ROWS = {
    # 02:30 is in both zones' spring-forward gap; in Berlin it is also in the repeated hour in October.
    "berlin-02:30": (BERLIN, "30", "2"),
    "new-york-02:30": (NEW_YORK, "30", "2"),
    # 01:30 is in New York's repeated hour on 2026-11-01.
    "new-york-01:30": (NEW_YORK, "30", "1"),
    "berlin-hourly": (BERLIN, "0", "*"),
    "new-york-hourly": (NEW_YORK, "0", "*"),
}

# (row, run) pairs only DCB's scheduler sends, and only beatd sends, on those days; every other run is the same:
# a fixed time in the repeated hour (Berlin 02:30 on 2026-10-25, New York 01:30 on 2026-11-01) runs once, at
# its first pass, in both; an hourly wildcard skips the spring-forward gap in both.
DCB_ONLY = [
    # A fixed time in the spring-forward gap: Celery's crontab an hour late by the wall clock ...
    ("berlin-02:30", "2026-03-29T03:30:00+02:00"),
    ("new-york-02:30", "2026-03-08T03:30:00-04:00"),
]
BEATD_ONLY = [
    # ... beatd at the gap's end (cronie's rule).
    ("berlin-02:30", "2026-03-29T03:00:00+02:00"),
    ("new-york-02:30", "2026-03-08T03:00:00-04:00"),
    # A wildcard hour in the repeated hour: Celery's crontab its first pass only, beatd both.
    ("berlin-hourly", "2026-10-25T02:00:00+01:00"),
    ("new-york-hourly", "2026-11-01T01:00:00-05:00"),
]


def dcb_scheduler_runs(url: str, windows: dict[str, list[tuple[str, str]]]) -> dict[str, list[str]]:
    """What DCB's scheduler would send for each named row over its windows (tests/dcb_project/fires.py)."""
    environment = {**os.environ, "BEATD_DCB_DATABASE": url, "DJANGO_SETTINGS_MODULE": "dcb_project.settings",
                   "PYTHONPATH": str(TESTS_DIR)}
    result = subprocess.run([sys.executable, "-m", "dcb_project.fires"], cwd=TESTS_DIR, env=environment,
                            input=json.dumps({"windows": windows}), capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    runs: dict[str, list[str]] = json.loads(result.stdout)
    return runs


def beatd_runs(url: str, windows: dict[str, list[tuple[str, str]]]) -> dict[str, list[str]]:
    """What beatd sends for each named row over its windows: the entries its store reads, walked by next_after."""
    store = DjangoCeleryBeatStore(url)
    try:
        entries = {entry.name: entry for entry in store.load()}
    finally:
        store.close()
    return {name: [moment.astimezone(entries[name].timezone).isoformat()
                   for start, end in spans
                   for moment in beatd_fires(entries[name].schedule,  # type: ignore[arg-type]
                                             datetime.fromisoformat(start), datetime.fromisoformat(end))]
            for name, spans in windows.items()}


def pairs(runs: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {(name, moment) for name, moments in runs.items() for moment in moments}


def test_on_dst_days_beatd_differs_from_dcbs_scheduler_only_as_documented(sqlite_url: str) -> None:
    # given crontab rows in Berlin and New York made by DCB's own models
    dcb(sqlite_url, "migrate")
    dcb(sqlite_url, "create", [
        {"name": name, "task": "tests.record", "schedule": {"crontab": {"minute": minute, "hour": hour, "timezone": zone}}}
        for name, (zone, minute, hour) in DST_ROWS.items()])
    windows = {name: DST_DAYS[zone] for name, (zone, _, _) in DST_ROWS.items()}

    # when DCB's scheduler and beatd each run them through their zone's DST days
    theirs, ours = pairs(dcb_scheduler_runs(sqlite_url, windows)), pairs(beatd_runs(sqlite_url, windows))

    # then they differ by exactly the listed runs, and agree on the rest
    assert (sorted(theirs - ours), sorted(ours - theirs)) == (sorted(DCB_ONLY), sorted(BEATD_ONLY))
    hourly = sorted(moment for name, moment in ours if name == "berlin-hourly")
    # a day of 23 hours and one of 25, once an hour each (the closing midnight in, the opening one out)
    assert len(hourly) == 23 + 25, hourly


# What each scheduler sent for the row after a QuerySet.update() of its args (["before"] -> ["after"]) and its
# interval (2 s -> 3 s): (the args, the seconds between runs). DCB's scheduler watches only the
# periodictasks.last_update stamp, which save() moves and update() does not (DCB#498, DCB#694): it keeps
# the row as it was until its 5-minute full reload, which this run does not reach.
UPDATE_DIFFERENCES = {
    "beatd": ([["after"]], 3),
    "dcb": ([["before"]], 2),
}


def test_an_update_edit_reaches_beatd_within_2_s_and_dcbs_scheduler_keeps_the_old_row(
        sqlite_url: str, redis_url: str, processes: Processes, tmp_path: Path) -> None:
    # given one DCB database, a row every 2 s, and a disabled one whose 3 s interval the edit will take
    dcb(sqlite_url, "migrate")
    dcb(sqlite_url, "create", [every(2, "edited", args='["before"]'), every(3, "spare", enabled=False)])
    with sqlalchemy.create_engine(sqlite_url).connect() as connection:
        three_seconds = connection.execute(sqlalchemy.text(
            "SELECT id FROM django_celery_beat_intervalschedule WHERE every = 3")).scalar_one()
    worker = processes.worker(redis_url, ["celery"], tmp_path / "worker", "worker")

    def sent_by(source: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [event for event in events if event["event"] == "ran" and event["periodic_task_name"] == "edited"
                and (event["beatd_entry"] is not None) == (source == "beatd")]

    # and DCB's scheduler and beatd both running on it
    with dcb_celery_beat(sqlite_url, redis_url, tmp_path) as celery_log:
        beatd = processes.beatd(beatd_config(tmp_path, redis_url, sqlite_url), tmp_path / "beatd.log")
        worker.wait_for(lambda events: len(sent_by("beatd", events)) >= 2 and len(sent_by("dcb", events)) >= 2,
                        "both sent the row", timeout_s=20)

        # when the row's args and interval change by QuerySet.update()
        changed = r"entry stores changed: 0 added, 1 changed"
        seen = beatd.count(changed)
        dcb(sqlite_url, "update", [{"name": "edited", "via": "update", "args": '["after"]',
                                    "interval_id": three_seconds}])
        committed, edited_at = time.monotonic(), time.time()
        wait_until(lambda: beatd.count(changed) > seen, TAKES_EFFECT_S + 1, "beatd applies the edit",
                   lambda: log_tail(beatd.log))
        took_s = time.monotonic() - committed
        worker.wait_for(lambda events: len([event for event in sent_by("beatd", events)
                                            if event["ran_at"] > edited_at + TAKES_EFFECT_S]) >= 4,
                        "beatd's runs after the edit", timeout_s=20)
        assert beatd.stop() == 0
        assert "Schedule changed" not in celery_log.read_text(), "DCB's scheduler noticed the update()"

    # then beatd applied it within 2 s, and DCB's scheduler went on sending the row as it was
    assert took_s <= TAKES_EFFECT_S, took_s
    events = worker.events()
    after = {source: [event for event in sent_by(source, events) if event["ran_at"] > edited_at + TAKES_EFFECT_S]
             for source in ("beatd", "dcb")}
    assert len(after["dcb"]) >= 4, after["dcb"]
    slots = [datetime.fromisoformat(event["beatd_scheduled_at"]).timestamp() for event in after["beatd"]]
    sent = [event["ran_at"] for event in after["dcb"]]
    assert {b - a for a, b in zip(slots, slots[1:])} == {3.0}, slots  # beatd's slots are exact
    measured = {
        "beatd": (unique_args(after["beatd"]), 3),
        # DCB counts from each send, so its gaps drift by its loop's latency: the median, rounded.
        "dcb": (unique_args(after["dcb"]), round(statistics.median(b - a for a, b in zip(sent, sent[1:])))),
    }
    assert measured == UPDATE_DIFFERENCES, [(event["args"], event["beatd_entry"], event["ran_at"])
                                            for event in events if event["event"] == "ran"]


def unique_args(events: list[dict[str, Any]]) -> list[list[Any]]:
    return [json.loads(args) for args in sorted({json.dumps(event["args"]) for event in events})]
