"""The django_celery_beat store: rows made through DCB's own models, read with DCB's meaning, edits found, last runs written back.

DCB's side runs in subprocesses (tests/dcb_project: a Django project with
django_celery_beat installed, on the test's own database), so the rows are exactly what
DCB's admin and models write, on SQLite, PostgreSQL and MariaDB. The store runs here,
with a simulated monotonic clock where its pacing matters.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy
from celery.schedules import crontab_parser
from dcb_project import TESTS_DIR, dcb

from beatd.config import load_config
from beatd.daemon.loop import Daemon
from beatd.entry import Entry
from beatd.leader import LocalLeaseBackend
from beatd.publish import open_transport
from beatd.schedules.cron import CronSchedule
from beatd.schedules.interval import IntervalSchedule
from beatd.schedules.once import OnceSchedule
from beatd.schedules.solar import SolarSchedule
from beatd.schedules.window import WindowedSchedule
from beatd.state import open_state_store
from beatd.state.base import RunRecord
from beatd.stores.base import EntryChanges, EntryStore
from beatd.stores.django_celery_beat import (
    CELERY_CRON_FIELDS,
    CHECKSUM_INTERVAL_S,
    WRITE_BACK_INTERVAL_S,
    DjangoCeleryBeatStore,
    celery_cron_values,
    crontab_expression,
)

CRON_FIELDS = {"minute": (60, 0), "hour": (24, 0), "day_of_month": (31, 1), "month_of_year": (12, 1), "day_of_week": (7, 0)}


class SteppedClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def open_store(clock: SteppedClock) -> Iterator[Any]:
    stores: list[DjangoCeleryBeatStore] = []

    def open_one(url: str) -> DjangoCeleryBeatStore:
        store = DjangoCeleryBeatStore(url, monotonic=clock)
        stores.append(store)
        return store

    yield open_one
    for store in stores:
        store.close()


def by_name(entries: list[Entry]) -> dict[str, Entry]:
    return {entry.name: entry for entry in entries}


def raw_sql(url: str, *statements: str) -> None:
    """Plain SQL from another connection, as a script or a DBA would write it (DCB's scheduler misses these)."""
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    engine.dispose()


# ---------------------------------------------------------------------------------------
# Celery's crontab grammar and day rule


@pytest.mark.parametrize("field", list(CRON_FIELDS))
@pytest.mark.parametrize("text", ["*", "*/15", "*/7", "5", "05", " 5", "1-5", "1-5/2", "22-2", "10-3/2", "0,30", "mon-fri",
                                  "sunday", "jan", "feb-mar", "7", "60", "0", "5/15", "*x", "1-5/0", "*/0", "", "1,,2",
                                  "-1", "1-5/2x", "L", "1W", "1#2", "sat-sun", "dec-jan"])
def test_celery_grammar_reads_fields_as_celerys_parser_does(field: str, text: str) -> None:
    size, low = CRON_FIELDS[field]
    try:
        expected: set[int] | None = set(crontab_parser(size, low).parse(text))
        for value in expected:  # crontab() refuses values outside the field after parsing
            if not low <= value < low + size:
                expected = None
    except Exception:  # noqa: BLE001  (Celery raises ValueError, ParseException or IndexError)
        expected = None
    spec = next(spec for spec in CELERY_CRON_FIELDS if spec.name == field)
    if expected is None:
        with pytest.raises(ValueError):
            celery_cron_values(text, spec)
    else:
        assert celery_cron_values(text, spec) == expected


def celery_minutes(fields: dict[str, str], start: datetime, days: int) -> list[datetime]:
    """The oracle: every minute in [start, start + days) that Celery's crontab sets match (all five ANDed)."""
    from celery.schedules import crontab

    spec = crontab(**fields)
    minutes = []
    moment = start
    while moment < start + timedelta(days=days):
        weekday = (moment.weekday() + 1) % 7  # Celery: Sunday is 0
        if (moment.minute in spec.minute and moment.hour in spec.hour and weekday in spec.day_of_week
                and moment.day in spec.day_of_month and moment.month in spec.month_of_year):
            minutes.append(moment)
        moment += timedelta(minutes=1)
    return minutes


@pytest.mark.parametrize("fields", [
    {"minute": "0", "hour": "9", "day_of_month": "1-7", "day_of_week": "mon"},  # first Monday: AND, not cron's OR
    {"minute": "*/20", "hour": "22-2", "day_of_week": "sat,sun"},  # a range that wraps past midnight
    {"minute": "30", "hour": "*/6", "day_of_month": "*/10", "month_of_year": "jan-mar"},
    {"minute": "15", "hour": "4", "day_of_month": "13", "day_of_week": "fri"},  # Friday the 13th only
], ids=["first-monday", "wrapping-hours", "steps-and-names", "friday-13th"])
def test_crontab_fires_exactly_when_celerys_crontab_matches(fields: dict[str, str]) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    full = {"minute": "*", "hour": "*", "day_of_month": "*", "month_of_year": "*", "day_of_week": "*", **fields}
    expression = crontab_expression(full["minute"], full["hour"], full["day_of_month"], full["month_of_year"],
                                    full["day_of_week"], UTC)
    schedule = CronSchedule.parse(expression, UTC, day_match="both")
    days = 400 if "13" in fields.get("day_of_month", "") else 120
    fires, moment = [], start - timedelta(microseconds=1)
    while (moment := schedule.next_after(moment)) is not None and moment < start + timedelta(days=days):  # type: ignore[assignment]
        fires.append(moment)
    assert [fire.isoformat() for fire in fires] == [minute.isoformat() for minute in celery_minutes(full, start, days)]


def test_crontab_celery_reads_otherwise_is_refused() -> None:
    with pytest.raises(ValueError, match=r"day_of_week '7' is outside 0-6"):
        crontab_expression("0", "0", "*", "*", "7", UTC)
    with pytest.raises(ValueError, match="never matches"):
        crontab_expression("0", "0", "31", "2", "*", UTC)


# ---------------------------------------------------------------------------------------
# Rows through DCB's models


def test_rows_of_every_kind_mean_what_dcb_makes_of_them(dcb_url: str, open_store: Any,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    # given rows of every schedule kind and option, saved through DCB's models
    last_run = "2026-11-30T08:00:00+00:00"
    dcb(dcb_url, "create", [
        {"name": "every-90s", "task": "tests.record", "args": "[1, \"two\"]", "kwargs": "{\"k\": 3}",
         "queue": "q1", "exchange": "ex", "routing_key": "rk", "priority": 7, "expire_seconds": 30,
         "headers": "{\"h\": \"v\"}", "description": "described", "schedule": {"interval": {"every": 90, "period": "seconds"}}},
        {"name": "every-500us", "task": "tests.record", "schedule": {"interval": {"every": 500, "period": "microseconds"}}},
        {"name": "every-2d-ran", "task": "tests.record", "last_run_at": last_run,
         "schedule": {"interval": {"every": 2, "period": "days"}}},
        {"name": "cron-ny", "task": "tests.record", "start_time": "2027-01-01T00:00:00+00:00",
         "expires": "2027-06-01T00:00:00+00:00",
         "schedule": {"crontab": {"minute": "0", "hour": "22-2", "day_of_week": "mon-fri", "timezone": "America/New_York"}}},
        {"name": "first-monday", "task": "tests.record",
         "schedule": {"crontab": {"minute": "0", "hour": "9", "day_of_month": "1-7", "day_of_week": "1"}}},
        {"name": "sunset", "task": "tests.record", "schedule": {"solar": {"event": "sunset", "latitude": "52.52",
                                                                          "longitude": "13.405"}}},
        {"name": "clocked", "task": "tests.record", "one_off": True,
         "schedule": {"clocked": {"clocked_time": "2026-12-24T18:00:00+01:00"}}},
        {"name": "one-off-interval", "task": "tests.record", "one_off": True, "last_run_at": last_run,
         "schedule": {"interval": {"every": 1, "period": "hours"}}},
        {"name": "one-off-spent", "task": "tests.record", "one_off": True, "total_run_count": 3,
         "schedule": {"interval": {"every": 1, "period": "hours"}}},
        {"name": "disabled", "task": "tests.record", "enabled": False, "schedule": {"interval": {"every": 5, "period": "minutes"}}},
        {"name": "sunday-7", "task": "tests.record", "schedule": {"crontab": {"day_of_week": "7"}}},
        {"name": "bad-args", "task": "tests.record", "args": "[1,", "schedule": {"interval": {"every": 5, "period": "minutes"}}},
        {"name": "unclocked", "task": "tests.record", "one_off": True,
         "schedule": {"clocked": {"clocked_time": "2026-12-24T18:00:00+01:00"}}},
    ])
    # DCB's save() refuses a clocked row without one_off; update() does not.
    dcb(dcb_url, "update", [{"name": "unclocked", "via": "update", "one_off": False}])
    ids = {row["name"]: row["id"] for row in dcb(dcb_url, "dump")}

    # when the store loads them
    caplog.set_level(logging.ERROR, logger="beatd.stores.django_celery_beat")
    store = open_store(dcb_url)
    entries = by_name(store.load())
    last_runs = store.last_runs()

    # then each means what DCB's scheduler makes of it
    first = entries["every-90s"]
    assert isinstance(first.schedule, WindowedSchedule) and isinstance(first.schedule.inner, IntervalSchedule)
    assert first.schedule.inner.every == timedelta(seconds=90)
    assert first.schedule.inner.anchor == last_runs["every-90s"]  # never run: counted from its last save
    assert (first.args, first.kwargs, first.description) == ((1, "two"), {"k": 3}, "described")
    options = first.options
    assert (options.queue, options.exchange, options.routing_key, options.priority) == ("q1", "ex", "rk", 7)
    assert options.expires == timedelta(seconds=30)
    assert options.headers == {"h": "v"}  # periodic_task_name: beatd sends it in every message
    assert entries["every-500us"].schedule.inner.every == timedelta(microseconds=500)  # type: ignore[attr-defined]
    ran = entries["every-2d-ran"].schedule
    assert ran.inner.anchor == datetime.fromisoformat(last_run)  # type: ignore[attr-defined]
    assert last_runs["every-2d-ran"] == datetime.fromisoformat(last_run)

    cron = entries["cron-ny"].schedule
    assert isinstance(cron, WindowedSchedule) and isinstance(cron.inner, CronSchedule)
    assert (cron.inner.expression, cron.inner.day_match, cron.inner.zone) == (
        "0 0-2,22-23 * * 1-5", "both", ZoneInfo("America/New_York"))
    assert cron.start == datetime(2027, 1, 1, tzinfo=UTC)
    assert cron.end == datetime(2027, 6, 1, tzinfo=UTC) - timedelta(microseconds=1)  # DCB: no run at expires
    monday = entries["first-monday"].schedule
    # 2026-12-07 is the first Monday of December; Tuesday the 1st does not match (AND, not cron's OR)
    assert monday.next_after(datetime(2026, 11, 30, 10, tzinfo=UTC)) == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert monday.next_after(datetime(2026, 12, 7, 10, tzinfo=UTC)) == datetime(2027, 1, 4, 9, tzinfo=UTC)
    sunset = entries["sunset"].schedule
    assert isinstance(sunset, SolarSchedule)
    assert (sunset.event, sunset.latitude, sunset.longitude) == ("sunset", 52.52, 13.405)
    assert entries["clocked"].schedule == OnceSchedule(at=datetime(2026, 12, 24, 17, tzinfo=UTC))
    # one-off: the first slot after its last run, once
    assert entries["one-off-interval"].schedule == OnceSchedule(
        at=datetime.fromisoformat(last_run) + timedelta(hours=1))
    assert not entries["one-off-spent"].enabled and "one-off-spent" not in last_runs
    assert not entries["disabled"].enabled

    # and the rows DCB would skip are not run, each logged with its row id and reason
    assert {"sunday-7", "bad-args", "unclocked"}.isdisjoint(entries)
    assert sorted(store.invalid) == ["bad-args", "sunday-7", "unclocked"]  # `beatd check` and `status` list them
    errors = "\n".join(record.getMessage() for record in caplog.records)
    assert f"id {ids['sunday-7']}: entry 'sunday-7': day_of_week '7' is outside 0-6; the row is not run" in errors
    assert f"id {ids['bad-args']}: entry 'bad-args': args is not JSON" in errors
    assert f"id {ids['unclocked']}: entry 'unclocked': a clocked schedule without one_off" in errors
    assert len(caplog.records) == 3


def test_edits_reach_the_store_through_save_update_and_raw_sql(dcb_url: str, open_store: Any,
                                                               clock: SteppedClock) -> None:
    dcb(dcb_url, "create", [
        {"name": f"row-{number}", "task": "tests.record", "schedule": {"interval": {"every": 10 + number, "period": "seconds"}}}
        for number in range(5)] + [
        {"name": "cron", "task": "tests.record", "schedule": {"crontab": {"minute": "0", "hour": "4"}}}])
    store = open_store(dcb_url)
    store.load()
    assert not store.changes()

    # save() (the admin): DCB's stamp moves, found at the next poll
    dcb(dcb_url, "update", [{"name": "row-1", "description": "saved"}])
    changes = store.changes()
    assert [(entry.name, entry.description) for entry in changes.upserted] == [("row-1", "saved")]

    # update(): no stamp; found by the checksum, which runs every CHECKSUM_INTERVAL_S
    dcb(dcb_url, "update", [{"name": "row-2", "via": "update", "task": "tests.other"}])
    assert not store.changes()
    clock.now += CHECKSUM_INTERVAL_S
    assert [(entry.name, entry.task) for entry in store.changes().upserted] == [("row-2", "tests.other")]

    # raw SQL: a schedule row changed (its task is re-read), a row renamed, a row deleted
    raw_sql(dcb_url,
            "UPDATE django_celery_beat_crontabschedule SET hour = '5'",
            "UPDATE django_celery_beat_periodictask SET name = 'row-3-renamed' WHERE name = 'row-3'",
            "DELETE FROM django_celery_beat_periodictask WHERE name = 'row-4'")
    clock.now += CHECKSUM_INTERVAL_S
    changes = store.changes()
    assert sorted(entry.name for entry in changes.upserted) == ["cron", "row-3-renamed"]
    assert by_name(changes.upserted)["cron"].schedule.expression == "0 5 * * *"  # type: ignore[attr-defined]
    assert sorted(changes.deleted) == ["row-3", "row-4"]

    # a row that stops converting is dropped, as DCB's scheduler drops it
    raw_sql(dcb_url, "UPDATE django_celery_beat_periodictask SET kwargs = '[]' WHERE name = 'row-0'")
    clock.now += CHECKSUM_INTERVAL_S
    assert store.changes().deleted == ["row-0"]
    clock.now += CHECKSUM_INTERVAL_S
    assert not store.changes()


def test_last_runs_are_written_back_and_shown_by_dcbs_models(dcb_url: str, open_store: Any,
                                                             clock: SteppedClock) -> None:
    dcb(dcb_url, "create", [
        {"name": "every", "task": "tests.record", "total_run_count": 40,
         "schedule": {"interval": {"every": 10, "period": "seconds"}}},
        {"name": "once", "task": "tests.record", "one_off": True,
         "schedule": {"clocked": {"clocked_time": "2026-12-06T12:00:00+00:00"}}}])
    standby, leader = open_store(dcb_url), open_store(dcb_url)
    standby.load()
    leader.load()
    slot = datetime(2026, 12, 6, 12, tzinfo=UTC)

    # a standby is never told it leads, so writes nothing
    standby.changes()
    assert {row["name"]: row["total_run_count"] for row in dcb(dcb_url, "dump")} == {"every": 40, "once": 0}

    # the leader: last_runs (its term starts), then what was published and recorded
    assert leader.last_runs()["once"] < slot  # overdue and never run: due at once, as DCB would run it
    leader.runs_published([RunRecord(entry="every", scheduled_at=slot, sent_at=slot, run_count=1),
                           RunRecord(entry="once", scheduled_at=slot, sent_at=slot, run_count=1),
                           RunRecord(entry="not-mine", scheduled_at=slot, sent_at=slot, run_count=9)])
    rows = {row["name"]: row for row in dcb(dcb_url, "dump")}
    assert (rows["every"]["total_run_count"], rows["every"]["last_run_at"]) == (41, slot.isoformat())
    # a one-off row is disabled after its run, as DCB disables it (clearing its count and last run)
    assert (rows["once"]["enabled"], rows["once"]["total_run_count"], rows["once"]["last_run_at"]) == (False, 0, None)

    # at most one write a second; three more runs in one record count as three
    later = slot + timedelta(seconds=30)
    leader.runs_published([RunRecord(entry="every", scheduled_at=later, sent_at=later, run_count=4)])
    assert {row["name"]: row["total_run_count"] for row in dcb(dcb_url, "dump")}["every"] == 41
    clock.now += WRITE_BACK_INTERVAL_S
    changes = leader.changes()
    every = {row["name"]: row for row in dcb(dcb_url, "dump")}["every"]
    assert (every["total_run_count"], every["last_run_at"]) == (44, later.isoformat())
    # the disabled one-off row comes back as a disabled entry; written last runs are not changes
    assert [(entry.name, entry.enabled) for entry in changes.upserted] == [("once", False)]
    clock.now += CHECKSUM_INTERVAL_S
    assert not leader.changes()


def test_naive_times_are_django_time_zone_when_use_tz_is_off(sqlite_url: str, open_store: Any) -> None:
    settings = {"BEATD_DCB_USE_TZ": "0", "BEATD_DCB_TIME_ZONE": "Europe/Berlin"}
    dcb(sqlite_url, "migrate", **settings)
    dcb(sqlite_url, "create", [{"name": "clocked", "task": "tests.record", "one_off": True,
                                "schedule": {"clocked": {"clocked_time": "2026-12-24T18:00:00"}}},
                               {"name": "every", "task": "tests.record", "schedule": {"interval": {"every": 10, "period": "seconds"}}}],
        **settings)
    store = open_store(f"{sqlite_url}?time_zone=Europe/Berlin")
    entries = by_name(store.load())
    assert entries["clocked"].schedule == OnceSchedule(at=datetime(2026, 12, 24, 17, tzinfo=UTC))
    store.last_runs()
    slot = datetime(2026, 12, 6, 12, tzinfo=UTC)
    store.runs_published([RunRecord(entry="every", scheduled_at=slot, sent_at=slot, run_count=1)])
    every = {row["name"]: row for row in dcb(sqlite_url, "dump", **settings)}["every"]
    assert every["last_run_at"] == "2026-12-06T13:00:00"  # what DCB's models show: Berlin wall time


def test_beatds_django_app_reads_dcbs_tables_too_when_both_are_installed(postgres_url: str) -> None:
    """settings.BEATD's written config lists DCB's database, its password kept out of the file."""
    script = ("import os, django; django.setup()\n"
              "from beatd.contrib.django import conf\n"
              "print(conf.config_path().read_text()); print(conf.load().stores)")
    environment = {**os.environ, "BEATD_DCB_DATABASE": postgres_url, "BEATD_DCB_WITH_BEATD": "1",
                   "BEATD_DCB_USE_TZ": "0", "BEATD_DCB_TIME_ZONE": "Europe/Berlin",
                   "DJANGO_SETTINGS_MODULE": "dcb_project.settings", "PYTHONPATH": str(TESTS_DIR)}
    result = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                            cwd=TESTS_DIR, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "django_celery_beat: ${BEATD_DJANGO_CELERY_BEAT_URL}" in result.stdout
    assert f"('django_celery_beat', '{postgres_url}?time_zone=Europe%2FBerlin')" in result.stdout


def test_a_failed_write_back_is_kept_and_retried(sqlite_url: str, open_store: Any, clock: SteppedClock,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    dcb(sqlite_url, "migrate")
    dcb(sqlite_url, "create", [{"name": "every", "task": "tests.record",
                                "schedule": {"interval": {"every": 10, "period": "seconds"}}}])
    store = open_store(sqlite_url)
    store.load()
    store.last_runs()
    slot = datetime(2026, 12, 6, 12, tzinfo=UTC)
    # given the table cannot be written (a lock, a lost connection, a revoked grant)
    raw_sql(sqlite_url, "ALTER TABLE django_celery_beat_periodictask RENAME TO moved_away")
    store.runs_published([RunRecord(entry="every", scheduled_at=slot, sent_at=slot, run_count=1)])
    assert "could not write last runs of 1 rows, retrying in 5 s" in caplog.text
    raw_sql(sqlite_url, "ALTER TABLE moved_away RENAME TO django_celery_beat_periodictask")
    # when a second run comes, and the retry time passes
    later = slot + timedelta(seconds=10)
    store.runs_published([RunRecord(entry="every", scheduled_at=later, sent_at=later, run_count=2)])
    assert dcb(sqlite_url, "dump")[0]["total_run_count"] == 0  # not before the retry delay
    clock.now += 5.0
    store.changes()
    # then both runs are written, nothing lost
    row = dcb(sqlite_url, "dump")[0]
    assert (row["total_run_count"], row["last_run_at"]) == (2, later.isoformat())


class RecordingStore(EntryStore):
    """An entry store holding one entry and a last run for it, recording what the daemon tells it."""

    def __init__(self, entry: Entry, last_run: datetime) -> None:
        self.entry, self.last_run = entry, last_run
        self.published: list[RunRecord] = []
        self.loaded = False

    def load(self) -> list[Entry]:
        self.loaded = True
        return [self.entry]

    def changes(self) -> EntryChanges:
        return EntryChanges() if self.loaded else EntryChanges(upserted=self.load())

    def last_runs(self) -> dict[str, datetime]:
        return {self.entry.name: self.last_run}

    def runs_published(self, records: Sequence[RunRecord]) -> None:
        self.published.extend(records)

    def close(self) -> None:
        pass


def test_daemon_takes_a_stores_last_runs_and_tells_it_what_was_published(tmp_path: Path) -> None:
    """The two hooks the daemon calls: last_runs when it leads, runs_published after each recorded write."""
    start = datetime(2026, 12, 6, 12, 0, 30, tzinfo=UTC)
    config_path = tmp_path / "beatd.yaml"
    config_path.write_text(f"broker: sqla+sqlite:///{tmp_path / 'broker.sqlite3'}\n"
                           f"state: sqlite:///{tmp_path / 'state.sqlite3'}\n"
                           f"leader: {{backend: none, lock_file: {tmp_path / 'beatd.lock'}}}\n")
    config = load_config(config_path)
    # given an every-minute entry whose store says it last ran at 11:58 (DCB's last_run_at)
    entry = Entry(name="from-dcb", task="tests.record", schedule=IntervalSchedule(every=timedelta(minutes=1)))
    store = RecordingStore(entry, last_run=datetime(2026, 12, 6, 11, 58, tzinfo=UTC))
    clock = SimulatedDaemonClock(start, until=start + timedelta(minutes=2))
    daemon = Daemon(config, clock=clock, transport=open_transport(config.broker), state=open_state_store(config.state),
                    lease_backend=LocalLeaseBackend(config.leader.lock_file, monotonic=clock.monotonic),
                    holder="test:1:a", origin="beatd-1@test", entry_stores=[store])
    clock.daemon = daemon
    # when the daemon leads for two simulated minutes
    daemon.run()
    # then the slot missed since 11:58 is sent once at the start (catch-up latest), then each minute;
    # and the store heard of every run, after it was recorded
    assert [record.scheduled_at.isoformat() for record in store.published] == [
        "2026-12-06T12:00:00+00:00", "2026-12-06T12:01:00+00:00", "2026-12-06T12:02:00+00:00"]
    assert [record.run_count for record in store.published] == [1, 2, 3]


class SimulatedDaemonClock:
    """Wall and monotonic time that move only when the daemon waits; it stops the daemon at `until`."""

    def __init__(self, start: datetime, until: datetime) -> None:
        self.current, self.until = start, until
        self.daemon: Daemon | None = None

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.current.timestamp()

    def wait(self, seconds: float, wake: Any) -> None:
        self.current += timedelta(microseconds=max(int(seconds * 1e6) + 1, 1))
        if self.current >= self.until and self.daemon is not None:
            self.daemon.stop()
