"""A Celery app's beat schedule taken over: routing by the app's own router, every schedule type,
Celery's crontab read as Celery reads it, refusals, --app beside --config, `routes:`, check and convert.

No broker here (routing is Celery's pure code); tests/test_celery_app_e2e.py runs real workers.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from celery.schedules import crontab
from click.testing import CliRunner
from kombu import Exchange, Queue

from beatd.cli import main
from beatd.config.app import load
from beatd.entry import Options
from beatd.errors import ConfigError
from beatd.schedules.cron import CronSchedule
from beatd.stores.celery_app import cron_keys, read_app, routed_options

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "celery_app_project"
_modules = itertools.count()


@pytest.fixture
def example_app(monkeypatch: pytest.MonkeyPatch) -> str:
    """The example project importable as `proj.celery`, with its default settings."""
    for variable in ("PROJ_BROKER_URL", "PROJ_QUEUE_PREFIX", "PROJ_TIMEZONE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    return "proj.celery"


def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> str:
    """A module of its own (a fresh name: sys.modules caches imports) in the current directory."""
    name = f"celeryapp{next(_modules)}_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


# ---------------------------------------------------------------------------------------
# Routing: what apply_async would publish, per kind of router


def routing_app() -> Celery:
    app = Celery("routing", broker="memory://", set_as_current=False)
    app.conf.update(
        task_queues=(Queue("reports", Exchange("reports"), routing_key="reports"),
                     Queue("events", Exchange("events", type="topic"), routing_key="events.#"),
                     Queue("work", Exchange("work"), routing_key="work")),
        task_default_queue="work",
        task_routes=[
            lambda name, args, kwargs, options, task=None, **kw: {"queue": "reports", "priority": 8}
            if kwargs.get("urgent") else None,
            {"app.exact": {"queue": "reports"}, "app.glob.*": "reports",
             re.compile(r"app\.regex\.\d+"): {"queue": "reports", "priority": 1},
             "app.topic": {"queue": "events", "routing_key": "events.topic"}},
        ],
    )

    @app.task(name="app.own_queue", queue="reports", shared=False)
    def own_queue() -> None: ...

    @app.task(name="app.glob.registered", priority=6, shared=False)
    def registered() -> None: ...

    app.finalize()
    return app


ROUTING_CASES = [
    # (task, entry options, kwargs, expected options)
    pytest.param("app.exact", {}, {}, {"queue": "reports"}, id="exact-name"),
    pytest.param("app.glob.anything", {}, {}, {"queue": "reports"}, id="glob-with-queue-name"),
    pytest.param("app.regex.42", {}, {}, {"queue": "reports", "priority": 1}, id="regex"),
    pytest.param("app.regex.x", {}, {}, {"queue": "work"}, id="regex-no-match-default-queue"),
    pytest.param("app.other", {}, {"urgent": True}, {"queue": "reports", "priority": 8}, id="router-function"),
    pytest.param("app.exact", {"queue": "work", "priority": 3}, {}, {"queue": "work", "priority": 3},
                 id="entry-options-win"),
    pytest.param("app.own_queue", {}, {}, {"queue": "reports"}, id="task-own-queue"),
    # A task's own priority is an option of the call: it wins over the route's (Celery's lpmerge).
    pytest.param("app.glob.registered", {}, {"urgent": True}, {"queue": "reports", "priority": 6},
                 id="task-priority-over-route"),
    # A topic exchange: published to the exchange with the route's key, as send_task_message does.
    pytest.param("app.topic", {}, {}, {"queue": "events", "exchange": "events", "routing_key": "events.topic"},
                 id="topic-exchange"),
    pytest.param("app.exact", {"expires": 60, "time_limit": 30, "headers": {"a": 1}}, {},
                 {"queue": "reports", "expires": 60, "time_limit": 30, "headers": {"a": 1}}, id="carried-options"),
]


@pytest.mark.parametrize(("task", "options", "kwargs", "expected"), ROUTING_CASES)
def test_routed_options_are_what_apply_async_publishes(task: str, options: dict[str, Any], kwargs: dict[str, Any],
                                                       expected: dict[str, Any]) -> None:
    app = routing_app()
    assert routed_options(app, task, dict(options), (), kwargs) == expected
    # And the queue is the one the app's own router picks for the same call.
    task_type = app.tasks.get(task)
    own = {key: value for key, value in (task_type._get_exec_options() if task_type else {}).items()
           if value is not None}
    route = app.amqp.router.route(dict(own, **options), task, (), kwargs, task_type)
    assert route["queue"].name == expected["queue"]


def test_task_default_priority_and_default_queue_apply_to_registered_tasks() -> None:
    app = Celery("defaults", broker="memory://", set_as_current=False)
    app.conf.update(task_default_priority=4, task_default_queue="jobs")

    @app.task(name="defaults.job", shared=False)
    def job() -> None: ...

    app.finalize()
    assert routed_options(app, "defaults.job", {}, (), {}) == {"queue": "jobs", "priority": 4}
    # An unregistered task is sent by name (send_task): no task options, so no default priority.
    assert routed_options(app, "elsewhere.job", {}, (), {}) == {"queue": "jobs"}


@pytest.mark.parametrize(("options", "message"), [
    ({"expires": datetime(2027, 1, 1, tzinfo=UTC)}, "options expires=2027-01-01T00:00:00+00:00 is a datetime"),
    ({"countdown": 10}, "option countdown=10 has no beatd equivalent"),
    ({"serializer": "pickle"}, "option serializer='pickle' has no beatd equivalent"),
])
def test_options_beatd_cannot_carry_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        routed_options(routing_app(), "app.exact", options, (), {})


# ---------------------------------------------------------------------------------------
# crontab read as Celery reads it


@pytest.mark.parametrize(("arguments", "cron", "day_match"), [
    (dict(minute=30, hour=7, day_of_week="mon-fri"), "30 7 * * 1-5", None),
    (dict(minute=0, hour=9, day_of_month=13, day_of_week="friday"), "0 9 13 * 5", "both"),
    (dict(minute="*/30", hour="22-23", day_of_week="fri-mon"), "*/30 22,23 * * 0,1,5,6", None),
    (dict(minute=0, hour="*/2"), "0 */2 * * *", None),
    (dict(minute=0, hour="0,2,4,6,8,10,12,14,16,18,20,22"), "0 0,2,4,6,8,10,12,14,16,18,20,22 * * *", None),
    (dict(minute=0, hour=0, day_of_month="1", month_of_year="*/3"), "0 0 1 */3 *", None),
    (dict(minute=0, hour=0, day_of_month="1-7", day_of_week="sat-sun"), "0 0 1-7 * 0,6", "both"),
    (dict(), "* * * * *", None),
], ids=["weekdays", "friday-13th", "wrap-around", "star-step-stays-wildcard", "list-stays-fixed", "quarterly",
        "first-weekend", "every-minute"])
def test_crontab_becomes_cron_naming_the_same_sets(arguments: dict[str, Any], cron: str, day_match: str | None) -> None:
    keys, _ = cron_keys(crontab(**arguments), ZoneInfo("UTC"))
    assert keys == ({"cron": cron} | ({"day_match": day_match} if day_match else {}))


def brute_force_fires(schedule: crontab, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Every wall minute in (start, end] whose fields are in the crontab's own sets, days ANDed as Celery does.

    For a zone without DST: each wall minute happens exactly once.
    """
    fires = []
    minute = start.astimezone(zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute <= end:
        if (minute.minute in schedule.minute and minute.hour in schedule.hour
                and minute.month in schedule.month_of_year and minute.day in schedule.day_of_month
                and (minute.weekday() + 1) % 7 in schedule.day_of_week):
            fires.append(minute)
        minute += timedelta(minutes=1)
    return fires


def beatd_fires(schedule: CronSchedule, start: datetime, end: datetime) -> list[datetime]:
    fires = []
    moment: datetime | None = start
    while (moment := schedule.next_after(moment)) is not None and moment <= end:  # type: ignore[arg-type]
        fires.append(moment)
    return fires


@pytest.mark.slow
def test_each_example_crontab_fires_over_a_year_as_a_walk_over_its_own_sets(example_app: str) -> None:
    # Asia/Kolkata has had no DST since 1945, so every wall minute happens once.
    zone = ZoneInfo("Asia/Kolkata")
    start, end = datetime(2026, 1, 1, tzinfo=zone), datetime(2027, 1, 1, tzinfo=zone)
    app = __import__(example_app, fromlist=["app"]).app
    crontabs = {name: raw["schedule"] for name, raw in app.conf.beat_schedule.items()
                if type(raw["schedule"]) is crontab}
    assert len(crontabs) >= 5
    for name, schedule in crontabs.items():
        keys, _ = cron_keys(schedule, zone)
        ours = CronSchedule.parse(keys["cron"], zone, day_match=keys.get("day_match", "either"))
        expected = brute_force_fires(schedule, zone, start, end)
        assert expected, f"{name}: no fire in a year tests nothing"
        assert [fire.isoformat() for fire in beatd_fires(ours, start, end)] == [
            fire.isoformat() for fire in expected], name


# ---------------------------------------------------------------------------------------
# The example app read whole


def test_example_app_gives_every_entry_with_its_routes_and_settings(example_app: str) -> None:
    schedule = read_app(example_app)
    assert (schedule.broker, schedule.timezone) == ("redis://localhost:6379/0", "Europe/Berlin")
    mappings = schedule.mappings
    assert "ping-every-4s" in mappings, "the add_periodic_task entry"
    assert mappings["report-every-2s"] == {"task": "proj.tasks.report_daily", "every": 2, "args": ["sales"],
                                           "options": {"queue": "reports"}}
    assert mappings["urgent-digest"]["options"] == {"queue": "reports", "priority": 9}
    assert mappings["cleanup-every-3s"]["options"] == {"queue": "housekeeping", "priority": 2}
    assert mappings["vacuum-nightly"]["options"] == {"queue": "reports", "priority": 2}
    assert mappings["friday-13th"]["day_match"] == "both"
    assert mappings["sunrise-ping"] == {"task": "proj.tasks.ping", "solar": "sunrise", "lat": 52.52, "lon": 13.405,
                                        "args": ["sunrise"], "options": {"queue": "housekeeping"}}
    assert mappings["monthly-report"]["options"] == {"queue": "housekeeping", "priority": 7, "expires": 600,
                                                     "headers": {"tenant": "acme"}, "time_limit": 120,
                                                     "soft_time_limit": 100}
    entries = {entry.name: entry for entry in schedule.entries()}
    assert entries["monthly-report"].options == Options(
        queue="housekeeping", priority=7, expires=timedelta(seconds=600), headers={"tenant": "acme"},
        time_limit=120, soft_time_limit=100)
    assert entries["weekday-report"].timezone == ZoneInfo("Europe/Berlin")
    assert str(entries["weekday-report"].source) == "app proj.celery beat_schedule"
    assert set(schedule.cautions) >= {"friday-13th", "report-every-2s"}
    assert "vacuum-nightly" not in schedule.cautions, "03:15 is never skipped or repeated in Berlin"


# ---------------------------------------------------------------------------------------
# Refused at start: one line naming the entry and the reason


REFUSED_APPS = {
    "custom-schedule-class": (
        """
        from celery import Celery
        from celery.schedules import schedule

        class every_other(schedule):
            pass

        app = Celery("x", broker="memory://")
        app.conf.beat_schedule = {"odd": {"task": "t.odd", "schedule": every_other(10)}}
        """,
        r"^app {module}: entry 'odd': schedule {module}\.every_other is a custom schedule class; beatd maps "
        r"numbers, timedelta, celery\.schedules\.schedule, crontab and solar only$",
    ),
    "lazy-args": (
        """
        from celery import Celery
        from celery.beat import BeatLazyFunc

        app = Celery("x", broker="memory://")
        app.conf.beat_schedule = {"lazy": {"task": "t.lazy", "schedule": 10, "args": (BeatLazyFunc(list),)}}
        """,
        r"^app {module}: entry 'lazy': args or kwargs hold a BeatLazyFunc",
    ),
    "datetime-expires": (
        """
        from datetime import datetime, timezone
        from celery import Celery

        app = Celery("x", broker="memory://")
        app.conf.beat_schedule = {"late": {"task": "t.late", "schedule": 10,
                                           "options": {"expires": datetime(2030, 1, 1, tzinfo=timezone.utc)}}}
        """,
        r"^app {module}: entry 'late': options expires=2030-01-01T00:00:00\+00:00 is a datetime",
    ),
    "local-time": (
        """
        from celery import Celery

        app = Celery("x", broker="memory://")
        app.conf.enable_utc = False
        """,
        r"^app {module}: enable_utc is False and timezone is unset",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED_APPS))
def test_what_cannot_be_expressed_is_refused_naming_entry_and_reason(
        case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body, pattern = REFUSED_APPS[case]
    module = app_module(tmp_path, monkeypatch, body)
    with pytest.raises(ConfigError, match=pattern.format(module=module)):
        read_app(module)


BAD_APPS = [
    pytest.param("import nosuchpackage_beatd\n", "{module}",
                 "app {module}: cannot import it: ModuleNotFoundError: No module named 'nosuchpackage_beatd'",
                 id="module-does-not-import"),
    pytest.param("app = 42\n", "{module}:app",
                 "app {module}:app: '{module}:app' is a builtins.int, not a Celery app; name the app as celery -A "
                 "does: MODULE or MODULE:ATTRIBUTE", id="attribute-not-an-app"),
    pytest.param(REFUSED_APPS["custom-schedule-class"][0], "{module}",
                 "app {module}: entry 'odd': schedule {module}.every_other is a custom schedule class; beatd maps "
                 "numbers, timedelta, celery.schedules.schedule, crontab and solar only", id="custom-schedule"),
]


@pytest.mark.parametrize(("body", "target", "message"), BAD_APPS)
def test_bad_app_is_one_line_exit_1_no_traceback(body: str, target: str, message: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    module = app_module(tmp_path, monkeypatch, body)
    for command in (["check"], ["next"], ["run"]):
        result = subprocess.run([sys.executable, "-m", "beatd", *command, "--app", target.format(module=module)],
                                cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", message.format(module=module) + "\n")


# ---------------------------------------------------------------------------------------
# --app beside --config, routes:, check


def test_app_entries_run_beside_the_files_and_the_file_settings_win(
        example_app: str, tmp_path: Path) -> None:
    config_file = tmp_path / "beatd.yaml"
    config_file.write_text("state: sqlite:///state.db\nentries:\n  mine:\n    task: t.mine\n    every: 10\n")
    config = load(config_file, example_app)
    names = [entry.name for entry in config.entries]
    assert names[0] == "mine" and "friday-13th" in names
    # The file sets no broker: the app's fills in; the file's own zone stays (UTC), the app's entries keep Berlin.
    assert (config.broker, config.timezone, config.state) == ("redis://localhost:6379/0", UTC, "sqlite:///state.db")
    assert {entry.name: entry.timezone for entry in config.entries}["friday-13th"] == ZoneInfo("Europe/Berlin")


def test_a_name_in_both_the_file_and_the_app_is_an_error_naming_both(example_app: str, tmp_path: Path) -> None:
    config_file = tmp_path / "beatd.yaml"
    config_file.write_text("app: proj.celery\nentries:\n  quarterly:\n    task: t.mine\n    every: 10\n")
    with pytest.raises(ConfigError, match=re.escape(
            f"{config_file}:3: entry 'quarterly': the name is also in the beat_schedule of app proj.celery; "
            "rename one of them")):
        load(config_file, None)


def test_routes_in_yaml_route_as_celerys_dict_form(tmp_path: Path) -> None:
    config_file = tmp_path / "beatd.yaml"
    config_file.write_text(textwrap.dedent("""
        routes:
          reports.weekly: {queue: weekly, priority: 3}
          reports.*: reports
          "*.cleanup": {queue: housekeeping, exchange: maintenance, routing_key: cleanup}
        entries:
          weekly: {task: reports.weekly, every: 60}
          daily: {task: reports.daily, every: 60}
          mine: {task: reports.daily, every: 60, options: {queue: mine}}
          cleanup: {task: db.cleanup, every: 60}
          other: {task: other.thing, every: 60}
    """))
    entries = {entry.name: entry.options for entry in load(config_file).entries}
    assert entries == {
        "weekly": Options(queue="weekly", priority=3),  # the exact name wins over the glob
        "daily": Options(queue="reports"),
        "mine": Options(queue="mine"),  # the entry's own options win
        "cleanup": Options(queue="housekeeping", exchange="maintenance", routing_key="cleanup"),
        "other": Options(),
    }


def test_check_app_warns_of_unregistered_tasks_with_did_you_mean_and_strict_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = app_module(tmp_path, monkeypatch, """
        from celery import Celery

        app = Celery("x", broker="memory://")

        @app.task(name="shop.tasks.send_invoice")
        def send_invoice(): ...

        app.conf.beat_schedule = {
            "invoices": {"task": "shop.tasks.send_invoices", "schedule": 60},
            "known": {"task": "shop.tasks.send_invoice", "schedule": 60},
        }
    """)
    warning = (f"warning: app {module}: entry 'invoices': task 'shop.tasks.send_invoices' is not registered "
               "by the app; did you mean 'shop.tasks.send_invoice'?")
    result = CliRunner().invoke(main, ["check", "--app", module])
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"ok: app {module}: 2 entries\n", warning + "\n")
    strict = CliRunner().invoke(main, ["check", "--app", module, "--strict"])
    assert (strict.exit_code, strict.stderr) == (1, warning.removeprefix("warning: ") + "\n")


def test_no_config_and_no_app_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEATD_CONFIG", raising=False)
    monkeypatch.delenv("BEATD_APP", raising=False)
    result = CliRunner().invoke(main, ["next"])
    assert result.exit_code == 2
    assert result.stderr.endswith("Error: Missing option '--config' / '-c' (env var: 'BEATD_CONFIG') "
                                  "or '--app' / '-A' (env var: 'BEATD_APP').\n")
    with pytest.raises(ConfigError, match="^no configuration: give --config FILE"):
        load(None, None)


def test_celery_is_imported_only_when_an_app_is_named(tmp_path: Path) -> None:
    config_file = tmp_path / "beatd.yaml"
    config_file.write_text("entries:\n  tick: {task: t.tick, every: 10}\n")
    probe = ("import sys; from beatd.cli import main; from beatd.config.app import load; load(sys.argv[1]); "
             "print(sorted(name for name in sys.modules if name == 'celery' or name.startswith('celery.')))")
    result = subprocess.run([sys.executable, "-c", probe, str(config_file)], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout == "[]\n"


# ---------------------------------------------------------------------------------------
# convert


def beatd_run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {"PYTHONPATH": str(EXAMPLE), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "beatd", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False, env=environment)


@pytest.mark.slow
def test_convert_output_passes_check_and_lists_the_same_runs_over_a_year_byte_for_byte(tmp_path: Path) -> None:
    converted = tmp_path / "converted.yaml"
    result = beatd_run("convert", "--celery-app", "proj.celery", "-o", str(converted), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = converted.read_text()
    assert "  # day_match both: Celery's crontab fires only on days matching day_of_month AND day_of_week\n" \
           "  friday-13th:\n" in text
    check = beatd_run("check", "-c", str(converted), cwd=tmp_path)
    assert (check.returncode, check.stdout) == (0, f"ok: {converted}: 11 entries\n"), check.stderr
    # The sub-minute intervals over a day (a year would be 40 million rows), everything else over a year.
    windows = [("2026-01-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00",
                ["vacuum-nightly", "weekday-report", "friday-13th", "long-weekend", "quarterly", "sunrise-ping",
                 "monthly-report"]),
               ("2026-03-28T12:00:00+00:00", "2026-03-29T12:00:00+00:00",
                ["report-every-2s", "cleanup-every-3s", "urgent-digest", "ping-every-4s"])]
    for start, until, names in windows:
        selection = [argument for name in names for argument in ("--entry", name)]
        from_file = beatd_run("next", "--json", "--from", start, "--until", until, *selection, "-c", str(converted),
                              cwd=tmp_path)
        from_app = beatd_run("next", "--json", "--from", start, "--until", until, *selection, "--app", "proj.celery",
                             cwd=tmp_path)
        assert from_file.returncode == from_app.returncode == 0, from_file.stderr + from_app.stderr
        assert from_file.stdout == from_app.stdout
        listed = {json.loads(line)["entry"] for line in from_file.stdout.splitlines()}
        assert listed == set(names), "every entry has runs in its window"


def test_status_and_next_take_the_app_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = app_module(tmp_path, monkeypatch, """
        from celery import Celery
        from celery.schedules import crontab

        app = Celery("x", broker="memory://")
        app.conf.timezone = "America/New_York"
        app.conf.beat_schedule = {"report": {"task": "x.report", "schedule": crontab(minute=30, hour=7)}}
    """)
    status = CliRunner().invoke(main, ["status", "--app", module, "--json"])
    assert status.exit_code == 0, status.output
    [row] = json.loads(status.stdout)["entries"]
    # 07:30 in New York whatever the season (the offset is -05:00 or -04:00).
    assert (row["entry"], row["kind"], row["last_run"], row["next_run"][10:-4]) == (
        "report", "cron", None, "T07:30:00-0")
    listing = CliRunner().invoke(main, ["next", "--json", "--from", "2026-07-01T00:00:00+00:00", "--count", "1"],
                                 env={"BEATD_APP": module})
    assert listing.stdout == ('{"entry": "report", "task": "x.report", "at": "2026-07-01T07:30:00-04:00", '
                              '"utc": "2026-07-01T11:30:00Z"}\n')


# ---------------------------------------------------------------------------------------
# Across DST: the runs beatd and celery beat differ on are exactly the documented ones.
# 2026 transitions: Europe/Berlin 03-29 01:00Z (02:00+01 -> 03:00+02), 10-25 01:00Z (03:00+02 -> 02:00+01);
# America/New_York 03-08 07:00Z (02:00-05 -> 03:00-04), 11-01 06:00Z (02:00-04 -> 01:00-05).


def celery_beat_fires(schedule_arguments: dict[str, Any], zone_name: str, start: datetime,
                      end: datetime) -> list[str]:
    """The runs celery beat makes: after each run, crontab.remaining_estimate (Celery's own code, on a
    simulated clock standing at that run) says when the next is due."""
    app = Celery("dst", set_as_current=False)
    app.conf.timezone = zone_name
    clock = [start]
    schedule = crontab(app=app, nowfun=lambda: clock[0], **schedule_arguments)
    fires, last = [], start
    while True:
        clock[0] = last
        last = last + schedule.remaining_estimate(last)
        if last > end:
            return fires
        fires.append(last.astimezone(ZoneInfo(zone_name)).isoformat())


DST_DIFFERENCES = [
    # A fixed time in the spring-forward gap: celery beat an hour later by the wall clock, beatd at the gap's end.
    pytest.param("Europe/Berlin", dict(minute=30, hour=2), ["2026-03-29T03:30:00+02:00"],
                 ["2026-03-29T03:00:00+02:00"], id="berlin-fixed-02:30"),
    pytest.param("America/New_York", dict(minute=30, hour=2), ["2026-03-08T03:30:00-04:00"],
                 ["2026-03-08T03:00:00-04:00"], id="new-york-fixed-02:30"),
    # A fixed time in the repeated hour: both once, at its first pass.
    pytest.param("America/New_York", dict(minute=30, hour=1), [], [], id="new-york-fixed-01:30"),
    # A wildcard in the repeated hour: celery beat its first pass only, beatd both.
    pytest.param("Europe/Berlin", dict(minute=0), [], ["2026-10-25T02:00:00+01:00"], id="berlin-hourly"),
    pytest.param("America/New_York", dict(minute="*/30", hour="0-3"), [],
                 ["2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00"], id="new-york-half-hourly-0-3"),
    # Hours no DST change touches: no difference all year.
    pytest.param("Europe/Berlin", dict(minute=0, hour=9, day_of_month=13, day_of_week="friday"), [], [],
                 id="berlin-friday-13th"),
    pytest.param("America/New_York", dict(minute="*/30", hour="22-23", day_of_week="fri-mon"), [], [],
                 id="new-york-long-weekend"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("zone_name", "arguments", "celery_only", "beatd_only"), DST_DIFFERENCES)
def test_over_a_year_beatd_differs_from_celery_beat_only_at_dst_as_documented(
        zone_name: str, arguments: dict[str, Any], celery_only: list[str], beatd_only: list[str]) -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    theirs = celery_beat_fires(arguments, zone_name, start, end)
    keys, _ = cron_keys(crontab(**arguments), ZoneInfo(zone_name))
    ours = [fire.isoformat() for fire in beatd_fires(
        CronSchedule.parse(keys["cron"], ZoneInfo(zone_name), day_match=keys.get("day_match", "either")), start, end)]
    assert theirs, "a year without runs tests nothing"
    assert (sorted(set(theirs) - set(ours)), sorted(set(ours) - set(theirs))) == (celery_only, beatd_only)


def test_convert_never_prints_the_broker_password() -> None:
    from beatd.stores.celery_app import AppSchedule, converted_yaml

    schedule = AppSchedule(target="proj.celery", broker="amqp://app:s3cret@rabbit:5672//", transport_options={},
                           timezone="UTC", mappings={"tick": {"task": "t.tick", "every": 10}})
    text = converted_yaml(schedule)
    assert "s3cret" not in text
    assert "# The app's broker_url holds a password: set BROKER_URL (amqp://app:***@rabbit:5672//).\n" in text
    assert "broker: ${BROKER_URL}\n" in text


def test_sighup_reload_keeps_the_apps_entries_beside_the_changed_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_daemon import T0, SimulatedClock, drain

    from beatd.daemon.loop import Daemon
    from beatd.leader import LocalLeaseBackend
    from beatd.publish import open_transport
    from beatd.state import open_state_store

    # Given a file naming an app (one entry each) on a SQLite broker, run on a simulated clock
    module = app_module(tmp_path, monkeypatch, """
        from celery import Celery

        app = Celery("x", broker="memory://")
        app.conf.beat_schedule = {"from-app": {"task": "x.app_tick", "schedule": 10}}
    """)
    config_file = tmp_path / "beatd.yaml"
    settings = (f"app: {module}\nbroker: sqla+sqlite:///{tmp_path / 'broker.sqlite3'}\n"
                f"state: sqlite:///{tmp_path / 'state.sqlite3'}\n"
                f"leader: {{backend: none, lock_file: {tmp_path / 'beatd.lock'}}}\nentries:\n")
    config_file.write_text(settings + "  from-file: {task: x.file_tick, every: 10, args: [1]}\n")
    config = load(config_file)
    clock = SimulatedClock(T0, T0 + timedelta(seconds=60.5))
    daemon = Daemon(config, clock=clock, transport=open_transport(config.broker), state=open_state_store(config.state),
                    lease_backend=LocalLeaseBackend(config.leader.lock_file, monotonic=clock.monotonic),
                    holder="test:1:a", origin="beatd-1@test")
    clock.daemon = daemon
    original_wait = clock.wait

    def wait_and_edit(seconds: float, wake: Any) -> None:
        original_wait(seconds, wake)
        if clock.current >= T0 + timedelta(seconds=35) and not getattr(clock, "edited", False):
            clock.edited = True  # type: ignore[attr-defined]
            config_file.write_text(settings + "  from-file: {task: x.file_tick, every: 10, args: [2]}\n")
            daemon.reload()

    clock.wait = wait_and_edit  # type: ignore[method-assign]
    # When the file changes and beatd reloads at 35 s
    daemon.run()
    # Then the app's entry ran on, and the file's entry changed from its next run
    sent = [(message["headers"]["task"], message["headers"]["beatd_scheduled_at"][17:19], message["body"][0])
            for message in drain(tmp_path)]
    assert [run for run in sent if run[0] == "x.app_tick"] == [
        ("x.app_tick", second, []) for second in ("10", "20", "30", "40", "50", "00")]
    assert [run[2] for run in sent if run[0] == "x.file_tick"] == [[1], [1], [1], [2], [2], [2]]


def test_tasks_found_by_autodiscovery_count_as_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / f"autopkg_{tmp_path.name.replace('-', '_')}"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text("from celery import shared_task\n\n\n@shared_task(name='auto.found')\n"
                                      "def found():\n    pass\n")
    module = app_module(tmp_path, monkeypatch, f"""
        from celery import Celery

        app = Celery("x", broker="memory://")
        app.autodiscover_tasks(["{package.name}"])
        app.conf.beat_schedule = {{"found": {{"task": "auto.found", "schedule": 60}}}}
    """)
    result = CliRunner().invoke(main, ["check", "--strict", "--app", module])
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"ok: app {module}: 1 entry\n", "")


@pytest.mark.parametrize("args", [[], ["--celery-app", "proj.celery", "--django-celery-beat", "sqlite:///x.db"]],
                         ids=["neither", "both"])
def test_convert_takes_exactly_one_source(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["convert", *args])
    assert result.exit_code == 2
    assert result.stderr.endswith("Error: give one of --celery-app MODULE[:ATTRIBUTE] and --django-celery-beat URL\n")


def test_convert_django_celery_beat_still_converts_through_the_shared_command(sqlite_url: str) -> None:
    from dcb_project import dcb

    dcb(sqlite_url, "migrate")
    dcb(sqlite_url, "create", [{"name": "every", "task": "tests.record",
                                "schedule": {"interval": {"every": 10, "period": "seconds"}}}])
    result = CliRunner().invoke(main, ["convert", "--django-celery-beat", sqlite_url])
    assert result.exit_code == 0, result.stderr
    assert "  every:\n    task: tests.record\n    every: 10\n" in result.stdout
