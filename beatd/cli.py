"""The `beatd` command line: run, next, check and friends (the only place that picks exit codes).

Each command imports what it needs when it runs, so `beatd --help` and `beatd next` on a
plain file start without SQLAlchemy, kombu or Django.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

import click

from beatd import __version__
from beatd.cli_entries import db, entries, export_command, import_command
from beatd.cli_errors import UserError, user_errors
from beatd.text import local_text, plural, write_table

if TYPE_CHECKING:
    from beatd.catalog import Catalog
    from beatd.config import Config
    from beatd.entry import Entry
    from beatd.state import EntryFault, RunRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleOptions:
    """The options that say where run, next, check, trigger and status find their entries.

    Each field is the parameter name of one option in SCHEDULE_OPTIONS: adding an option
    to all five commands is a field here and a line there.
    """

    config_path: str | None
    app: str | None


SCHEDULE_OPTIONS = (
    click.option("--config", "-c", "config_path", envvar="BEATD_CONFIG", show_envvar=True,
                 type=click.Path(dir_okay=False, path_type=str), help="The YAML schedule file (this, --app, or both)."),
    click.option("--app", "-A", "app", envvar="BEATD_APP", show_envvar=True, metavar="MODULE[:ATTRIBUTE]",
                 help="A Celery app, named as for `celery -A` (imported from the current directory): its "
                      "beat_schedule and add_periodic_task entries run beside the file's, routed by the app's own "
                      "task_routes and task_queues. Without --config, the app's broker_url, "
                      "broker_transport_options and timezone are the settings. Overrides the file's `app:`. "
                      "Needs beatd[celery]."),
)


def schedule_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command SCHEDULE_OPTIONS; it receives their values as one `schedule: ScheduleOptions`."""
    names = [field.name for field in fields(ScheduleOptions)]

    @functools.wraps(command)
    def with_schedule(**kwargs: Any) -> None:
        command(schedule=ScheduleOptions(**{name: kwargs.pop(name) for name in names}), **kwargs)

    for option in reversed(SCHEDULE_OPTIONS):
        with_schedule = option(with_schedule)
    return with_schedule


def _load(schedule: ScheduleOptions) -> Config:
    """The configuration the schedule options name: the file, the Celery app, or both."""
    from beatd.config_app import load

    if schedule.config_path is None and schedule.app is None:
        raise click.UsageError("Missing option '--config' / '-c' (env var: 'BEATD_CONFIG') "
                               "or '--app' / '-A' (env var: 'BEATD_APP').")
    with user_errors():
        return load(schedule.config_path, schedule.app)


@contextlib.contextmanager
def _store_logs_quiet() -> Iterator[None]:
    """The stores log each row they skip; commands that read them once say it themselves."""
    store_log = logging.getLogger("beatd.stores")
    level = store_log.level
    store_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        store_log.setLevel(level)


def _catalog(config: Config) -> Catalog:
    """The entries the daemon would run now: the file's and every store's."""
    from beatd.catalog import read_catalog

    with user_errors(), _store_logs_quiet():
        return read_catalog(config)


def _complete_catalog(config: Config) -> Catalog:
    """The catalogue, refusing to go on without a store's entries; warnings for the rows skipped."""
    catalog = _catalog(config)
    unreadable = catalog.unreadable()
    if unreadable:
        raise UserError(f"{unreadable[0].error}; its entries cannot be shown")
    _warn_skipped(catalog)
    return catalog


def _warn_skipped(catalog: Catalog) -> None:
    for reading in catalog.stores:
        for problem in reading.invalid.values():
            click.echo(f"warning: {reading.label}: {problem}; the daemon skips it", err=True)
    for conflict in catalog.conflicts:
        click.echo(f"warning: {conflict}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="beatd")
def main() -> None:
    """beatd: a periodic task scheduler that publishes Celery task messages.

    Reads interval, cron, solar and one-off entries from YAML files and SQL or Django
    stores, works out when each is due with exact time-zone and DST rules, and sends one
    Celery task message per run.
    """


# The SQL entry store's commands: beatd db ..., beatd entries ..., beatd import, beatd export.
main.add_command(db)
main.add_command(entries)
main.add_command(import_command)
main.add_command(export_command)


@main.command(name="convert", short_help="Print another scheduler's schedule as a beatd configuration file.")
@click.option("--celery-app", "celery_app", metavar="MODULE[:ATTRIBUTE]",
              help="A Celery app, named as for `celery -A`: its beat_schedule and add_periodic_task entries, "
                   "each routed by the app's own router into its `options`.")
@click.option("--django-celery-beat", "dcb_url", metavar="URL",
              help="The SQLAlchemy URL of a Django database with django-celery-beat's tables "
                   "(?time_zone=TIME_ZONE when the project has USE_TZ = False).")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False, path_type=str),
              help="Write the YAML to this file instead of standard output.")
def convert(celery_app: str | None, dcb_url: str | None, output: str | None) -> None:
    """Print another scheduler's schedule as a beatd configuration file: give --celery-app or --django-celery-beat.

    A Celery app (`--celery-app`): its entries, each routed by the app's own router
    (task_routes, task_queues, the task's own options) into its `options`, so the file
    needs no app to route; the app's timezone, broker_url (a password becomes
    ${BROKER_URL}) and broker_transport_options become the file's settings. Entries
    whose meaning needed care (Celery's crontab day rule, DST, interval slots) get a
    comment saying what beatd does. `beatd next` on the file lists the same runs as
    `beatd next --app`. What cannot be converted is one line naming the entry, exit 1.

    django-celery-beat (`--django-celery-beat`): every row becomes an entry with DCB's
    meaning (disabled rows as `enabled: false`). Rows that cannot be converted are listed
    as comments and on standard error, one line each with the row id and the reason, and
    the exit code is 1.
    """
    if celery_app is not None and dcb_url is None:
        from beatd.stores.celery_app import converted_yaml, read_app

        with user_errors():
            schedule = read_app(celery_app)
            schedule.entries()  # the same checks `beatd run --app` makes
        _write_converted(converted_yaml(schedule), output)
        return
    if dcb_url is None or celery_app is not None:
        raise click.UsageError("give one of --celery-app MODULE[:ATTRIBUTE] and --django-celery-beat URL")
    from beatd.stores.django_celery_beat import convert_database
    from beatd.stores.django_celery_beat import converted_yaml as dcb_yaml
    from beatd.urls import redact_url

    with user_errors():
        conversion = convert_database(dcb_url)
    _write_converted(dcb_yaml(conversion, redact_url(dcb_url)), output)
    for problem in conversion.skipped:
        click.echo(f"not converted: {problem}", err=True)
    if conversion.skipped:
        sys.exit(1)


def _write_converted(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as file:
            file.write(text)


@main.command(short_help="Validate the configuration: file, includes, stores, Celery app.")
@schedule_options
@click.option("--strict", is_flag=True,
              help="With an app: a task name the app does not register is an error, not a warning.")
def check(schedule: ScheduleOptions, strict: bool) -> None:
    """Validate a configuration file, everything it includes, every entry store it names, and the app's schedule.

    Each store is read: the command prints how many entries it holds, or why it cannot be
    read. Prints `ok` with the number of entries the daemon would run and exits 0; or
    prints every problem, in file order (`file:line: message`, then how many when there
    are several; a store that cannot be read, a row the daemon would skip, a name defined
    twice) and exits 1. A file that defines no entries and names no store gets a warning
    instead of `ok` (exit 0). With an app, an entry it cannot convert is an error, and
    each entry whose task the app does not register after autodiscovery gets a warning,
    with a "did you mean" when a registered name is close (--strict: an error).
    """
    from beatd.config import check_config

    if schedule.config_path is not None:
        checked = check_config(schedule.config_path)
        if checked.problems:
            for problem in checked.problems:
                click.echo(problem, err=True)
            if len(checked.problems) > 1:
                click.echo(f"{len(checked.problems)} errors", err=True)
            raise SystemExit(1)
    config = _load(schedule)
    if config.app is not None:
        _check_task_names(config.app, strict)
    if not config.entries and not config.stores:
        click.echo(f"warning: {config.place}: no entries: the file and its includes define none and name no store",
                   err=True)
        return
    catalog = _catalog(config)
    problems: list[str] = []
    for reading in catalog.stores:
        if reading.error is not None:
            problems.append(reading.error)
            continue
        click.echo(f"{reading.label}: {plural(len(reading.entries), 'entry')}")
        problems += [f"{reading.label}: {problem}; the daemon skips it" for problem in reading.invalid.values()]
    problems += list(catalog.conflicts)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise UserError(f"{config.place}: {plural(len(problems), 'problem')}")
    click.echo(f"ok: {config.place}: {plural(len(catalog.entries), 'entry')}")


def _check_task_names(app: str, strict: bool) -> None:
    """Warn (--strict: fail) about entries whose task the app does not register."""
    from beatd.stores.celery_app import read_app

    with user_errors():
        schedule = read_app(app)
    problems = []
    for name, task, close in schedule.unregistered_tasks():
        hint = f"; did you mean {close!r}?" if close else ""
        problems.append(f"{schedule.place}: entry {name!r}: task {task!r} is not registered by the app{hint}")
    if strict and problems:
        raise UserError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)


# Zone data and datetime arithmetic need headroom around the instants they are given.
FIRST_LISTED_YEAR, LAST_LISTED_YEAR = 1900, 9000
# `beatd next --until` without --count lists every fire in the window; this keeps a
# one-second entry over a year (31 million rows) from exhausting memory.
MAX_NEXT_ROWS = 1_000_000
INSTANT_HELP = ("an ISO 8601 date-time (2026-03-30T07:30:00+02:00, 2026-03-30T07:30Z), a local time without "
                "offset (2026-03-30 07:30, read in the config's `timezone:`) or a date alone (its midnight there)")


def _parse_instant_option(value: str | None, option: str, zone: tzinfo) -> datetime | None:
    """The instant --from or --until names; without an offset it is read in `zone`."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not {INSTANT_HELP}", param_hint=option) from exc
    if not FIRST_LISTED_YEAR <= moment.year <= LAST_LISTED_YEAR:
        raise click.BadParameter(f"{value!r} is outside the years {FIRST_LISTED_YEAR}-{LAST_LISTED_YEAR}",
                                 param_hint=option)
    # The earlier of two readings on a fall-back day, as entries' `at` and `start` are read.
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


@main.command(name="next", short_help="List upcoming runs without publishing anything.")
@schedule_options
@click.option("--from", "from_text", metavar="TIME",
              help="List runs strictly after this time. Default: now. TIME is " + INSTANT_HELP + ".")
@click.option("--until", "until_text", metavar="TIME", help="List runs at or before this time (as --from).")
@click.option("--count", "-n", type=click.IntRange(min=1), metavar="N",
              help="The first N runs of each entry. Default 5 when --until is absent; all runs in the window otherwise.")
@click.option("--entry", "-e", "entry_names", multiple=True, metavar="NAME", help="Only this entry (repeatable).")
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object per line: {"entry", "task", "at" (entry zone), "utc"}, sorted by time then entry.')
def next_command(schedule: ScheduleOptions, from_text: str | None, until_text: str | None, count: int | None,
                 entry_names: tuple[str, ...], as_json: bool) -> None:
    """Dry run: list upcoming runs of the file's and the stores' entries without publishing anything.

    Times are shown in each entry's zone (the config's zone for entries without one),
    and are the instants the runs are published: an entry with `jitter` is shown at its
    jittered time. WHEN counts from --from when given, from now otherwise. Disabled
    entries are left out.
    """
    from beatd.cli_next import Listing

    config = _load(schedule)
    start = _parse_instant_option(from_text, "--from", config.timezone) or datetime.now(UTC)
    until = _parse_instant_option(until_text, "--until", config.timezone)
    catalog = _complete_catalog(config)
    if count is None and until is None:
        count = 5
    listed = [entry for entry in catalog.entries if entry.enabled]
    if entry_names:
        by_name = {entry.name: entry for entry in catalog.entries}
        unknown = [name for name in entry_names if name not in by_name]
        if unknown:
            raise UserError(f"{config.place}: no entry named {unknown[0]!r}")
        disabled = [name for name in entry_names if not by_name[name].enabled]
        if disabled:
            click.echo(f"note: entry {disabled[0]!r} is disabled and never fires", err=True)
        listed = [entry for entry in listed if entry.name in entry_names]
    listing = Listing.build(listed, start, until, min(count, MAX_NEXT_ROWS + 1) if count else MAX_NEXT_ROWS + 1)
    if listing.count() > MAX_NEXT_ROWS:
        raise UserError(f"more than {MAX_NEXT_ROWS:,} runs in that window; narrow --from/--until, "
                        "pick entries with --entry, or use --count")
    if as_json:
        listing.write_json(sys.stdout)
    else:
        listing.write_table(sys.stdout)


LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)


@main.command(short_help="Run the scheduler daemon.")
@schedule_options
@click.option("--log-level", type=LOG_LEVELS, default="info", show_default=True, envvar="BEATD_LOG_LEVEL",
              help="Lowest level logged. `info` logs one line per published run.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              envvar="BEATD_LOG_FORMAT", help="Plain text lines or one JSON object per line.")
def run(schedule: ScheduleOptions, log_level: str, log_format: str) -> None:
    """Run the scheduler daemon: publish every due run to the broker and record it.

    Runs the entries of the file, its includes and its entry stores. At start it logs
    which broker, state store, lease store and entry stores it reached, and which not.
    Several instances may run against one lease store (`leader:`); one leads and the
    others stand by. SIGTERM or SIGINT stops gracefully (the batch in flight finishes,
    state is flushed, the lease released, exit 0); SIGHUP reloads the config file (and
    reads the app's beat_schedule again; code changes need a restart).
    """
    from beatd.cli_run import configure_logging, run_daemon

    configure_logging(log_level, log_format)
    run_daemon(_load(schedule))


@main.command(short_help="Publish one run of an entry now, outside its schedule.")
@schedule_options
@click.argument("name")
def trigger(schedule: ScheduleOptions, name: str) -> None:
    """Publish one run of entry NAME now, outside its schedule (its state is not changed).

    NAME may be an entry of the file, its includes or an entry store.
    """
    from beatd.daemon import origin_name
    from beatd.publish.now import publish_now

    config = _load(schedule)
    catalog = _catalog(config)
    entry = catalog.entry(name)
    if entry is None:
        unread = "".join(f"; {reading.error}" for reading in catalog.unreadable())
        raise UserError(f"{config.place}: no entry named {name!r}{unread}")
    with user_errors():
        [fire] = publish_now([entry], config.broker, origin=origin_name(),
                             transport_options=config.broker_transport_options)
    click.echo(f"published {name} ({entry.task}) task id {fire.task_id}")


@main.command(short_help="Show the leader and each entry's last and next run.")
@schedule_options
@click.option("--json", "as_json", is_flag=True, help="One JSON document: leader and per-entry status.")
def status(schedule: ScheduleOptions, as_json: bool) -> None:
    """Show the leader and, per entry, the last run, the next run, the run count and where it is defined.

    Reads the state and lease stores and the entry stores, so it works from any host that
    can reach them. Times are in each entry's zone; the next run is the instant it is
    published (jitter included). An entry the leader holds back after a fault of its own
    (a message the broker refuses, one that cannot be built or recorded) shows why under
    FAILING (`failing` in --json: reason, detail, since, attempts).
    """
    from beatd.state import open_state_store

    config = _load(schedule)
    catalog = _complete_catalog(config)
    now = datetime.now(UTC)
    with user_errors():
        state = open_state_store(config.state)
        with contextlib.closing(state):
            records, faults = state.load(), state.load_faults()
        leader = _leader_info(config)
    runs = {entry.name: _runs_of(entry, records.get(entry.name), now) for entry in catalog.entries}
    if as_json:
        rows = [{"entry": entry.name, "task": entry.task, "kind": entry.schedule.kind, "enabled": entry.enabled,
                 "last_run": _iso(runs[entry.name][0], entry), "next_run": _iso(runs[entry.name][1], entry),
                 "run_count": runs[entry.name][2], "source": catalog.origins[entry.name],
                 "failing": _fault_json(faults.get(entry.name), entry)} for entry in catalog.entries]
        click.echo(json.dumps({"leader": leader, "entries": rows}, indent=2))
        return
    if leader:
        expiry = f"lease expires {leader['expires']}" if leader["expires"] else "single instance"
        click.echo(f"leader: {leader['holder']} (token {leader['token']}, {expiry})")
    else:
        click.echo("leader: none")
    table: list[tuple[str, ...]] = [("ENTRY", "TASK", "KIND", "LAST RUN", "NEXT RUN", "RUNS", "SOURCE")]
    failing = any(entry.name in faults for entry in catalog.entries)
    if failing:
        table[0] += ("FAILING",)
    for entry in catalog.entries:
        last_run, next_run, run_count = runs[entry.name]
        row = (entry.name, entry.task, entry.schedule.kind if entry.enabled else "disabled",
               local_text(last_run, entry.timezone) if last_run else "-",
               local_text(next_run, entry.timezone) if next_run else "-", str(run_count),
               catalog.origins[entry.name])
        fault = faults.get(entry.name)
        table.append(row + (f"{fault.reason}: {fault.detail}" if fault else "-",) if failing else row)
    write_table(table, sys.stdout)


def _fault_json(fault: EntryFault | None, entry: Entry) -> dict[str, Any] | None:
    if fault is None:
        return None
    return {"reason": fault.reason, "detail": fault.detail, "since": _iso(fault.since, entry), "attempts": fault.attempts}


def _runs_of(entry: Entry, record: RunRecord | None, now: datetime) -> tuple[datetime | None, datetime | None, int]:
    """The entry's last recorded slot, when its next run is published, and its run count.

    The next run is its first slot whose jittered time is after now (and after the last
    run), as the engine picks it; None for a disabled entry or one that never fires again.
    """
    last_run = record.scheduled_at if record else None
    next_run = None
    if entry.enabled:
        jitter = entry.jitter_offset()
        slot = entry.schedule.next_after(max(now - jitter, last_run) if last_run else now - jitter)
        next_run = None if slot is None else slot.astimezone(UTC) + jitter
    return last_run, next_run, record.run_count if record else 0


def _iso(moment: datetime | None, entry: Entry) -> str | None:
    return moment.astimezone(entry.timezone).isoformat() if moment else None


def _leader_info(config: Config) -> dict[str, Any] | None:
    from beatd.leader import NEVER_EXPIRES, default_lock_path, open_lease_backend

    lock_path = config.leader.lock_file or default_lock_path(config.state)
    backend = open_lease_backend(config.leader.backend, config.leader.url, lock_path=lock_path)
    with contextlib.closing(backend):
        info = backend.current()
    if info is None:
        return None
    expires = None if info.expires_at == NEVER_EXPIRES else info.expires_at.isoformat()
    return {"holder": info.holder, "token": info.token, "expires": expires}
