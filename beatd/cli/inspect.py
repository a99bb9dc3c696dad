"""`beatd check`, `beatd trigger` and `beatd status`: the config validated, one run published now, the state shown."""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from beatd.cli.errors import UserError, user_errors
from beatd.cli.options import ScheduleOptions, complete_catalog, load_schedule, read_entries, schedule_options
from beatd.text import local_text, plural, write_table

if TYPE_CHECKING:
    from beatd.config import Config
    from beatd.entry import Entry
    from beatd.state import EntryFault, RunRecord


@click.command(short_help="Validate the configuration: file, includes, stores, Celery app.")
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
    config = load_schedule(schedule)
    if config.app is not None:
        _check_task_names(config.app, strict)
    if not config.entries and not config.stores:
        click.echo(f"warning: {config.place}: no entries: the file and its includes define none and name no store",
                   err=True)
        return
    catalog = read_entries(config)
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



@click.command(short_help="Publish one run of an entry now, outside its schedule.")
@schedule_options
@click.argument("name")
def trigger(schedule: ScheduleOptions, name: str) -> None:
    """Publish one run of entry NAME now, outside its schedule (its state is not changed).

    NAME may be an entry of the file, its includes or an entry store.
    """
    from beatd.daemon.build import origin_name
    from beatd.publish.now import publish_now

    config = load_schedule(schedule)
    catalog = read_entries(config)
    entry = catalog.entry(name)
    if entry is None:
        unread = "".join(f"; {reading.error}" for reading in catalog.unreadable())
        raise UserError(f"{config.place}: no entry named {name!r}{unread}")
    with user_errors():
        [fire] = publish_now([entry], config.broker, origin=origin_name(),
                             transport_options=config.broker_transport_options)
    click.echo(f"published {name} ({entry.task}) task id {fire.task_id}")


@click.command(short_help="Show the leader and each entry's last and next run.")
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

    config = load_schedule(schedule)
    catalog = complete_catalog(config)
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
