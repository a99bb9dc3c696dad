"""Command line of the SQL entry store: `beatd db ...`, `beatd entries ...`, `beatd import`, `beatd export`.

Each command takes `--url URL` (or BEATD_DB_URL), a SQLAlchemy URL. Entries are given
with the keys of a YAML entry, as options (`--task`, `--every`, ...) or taken from a
schedule file (`--from-yaml`), and validated exactly as `beatd check` validates a file.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import click

from beatd.cli.errors import UserError, user_errors
from beatd.text import plural, write_table

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from beatd.stores.sql import SqlEntryStore

# SQLAlchemy, PyYAML and the config modules are imported by the commands that use them:
# `beatd --help` and the commands that need none of them start without their cost.

URL_OPTION = click.option(
    "--url", required=True, envvar="BEATD_DB_URL", show_envvar=True, metavar="URL",
    help="SQLAlchemy URL of the entry database: sqlite:///entries.sqlite3, "
         "postgresql+psycopg2://user@host/db, mysql+pymysql://user@host/db.")


@contextlib.contextmanager
def _store(url: str) -> Iterator[SqlEntryStore]:
    """An open store whose BeatdErrors become one-line messages; closed afterwards."""
    from beatd.stores.sql import SqlEntryStore

    with user_errors():
        store = SqlEntryStore(url)
        try:
            yield store
        finally:
            store.close()


# ---------------------------------------------------------------------------------------
# beatd db


@click.group(name="db")
def db() -> None:
    """Create, migrate and remove the SQL entry store's tables."""


@contextlib.contextmanager
def _migrating(url: str, what: str) -> Iterator[tuple[Engine, str]]:
    """The store's engine and its URL without password; a database error becomes `URL: <what> failed: reason`."""
    import sqlalchemy.exc

    from beatd.sqlhelpers import driver_reason
    from beatd.stores.sql import create_store_engine

    with user_errors():
        engine = create_store_engine(url)
    where = engine.url.render_as_string(hide_password=True)
    try:
        yield engine, where
    except sqlalchemy.exc.DBAPIError as exc:
        raise UserError(f"{where}: {what} failed: {driver_reason(exc)}") from exc
    finally:
        engine.dispose()


@db.command(name="upgrade", short_help="Create or migrate the entry tables to this beatd's version.")
@URL_OPTION
def db_upgrade(url: str) -> None:
    """Create or migrate the entry tables to this beatd's version (safe to run again).

    Needs the right to create tables and triggers (TRIGGER on MariaDB/MySQL).
    """
    from beatd.stores.migrations import upgrade

    with _migrating(url, "upgrade") as (engine, where):
        before, after = upgrade(engine)
    if before == after:
        click.echo(f"{where}: entry tables already at revision {after}")
    else:
        click.echo(f"{where}: entry tables upgraded from {before or 'nothing'} to revision {after}")


YES_OPTION = click.option("--yes", "-y", "assume_yes", is_flag=True, help="Do not ask for confirmation.")


def _confirm_removal(where: str, entry_count: int | None, assume_yes: bool) -> None:
    """Ask before entries are lost, unless --yes; anything but yes (or no answer at all) aborts, exit 1."""
    if assume_yes:
        return
    held = "" if entry_count is None else f" ({plural(entry_count, 'entry')} will be lost)"
    click.confirm(f"Remove beatd's entry tables and their triggers from {where}{held}?", abort=True)


def _entry_count(engine: Engine) -> int | None:
    """How many rows beatd_entries holds; None when there is no such table."""
    import sqlalchemy

    from beatd.stores.sql import entries_table

    with engine.connect() as connection:
        if not sqlalchemy.inspect(connection).has_table(entries_table.name):
            return None
        return int(connection.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(entries_table)).scalar_one())


@db.command(name="downgrade", short_help="Migrate the entry tables back to an older revision.")
@URL_OPTION
@click.argument("revision")
@YES_OPTION
def db_downgrade(url: str, revision: str, assume_yes: bool) -> None:
    """Migrate the entry tables back to REVISION; `base` removes them and their triggers.

    Asks first, as a downgrade may drop entries; --yes skips the question.
    """
    from beatd.stores.migrations import downgrade, known_revision

    if not known_revision(revision):
        raise click.BadParameter(f"{revision!r} is not a revision of the entry tables; use base or a revision "
                                 "that `beatd db upgrade` printed", param_hint="REVISION")
    with _migrating(url, "downgrade") as (engine, where):
        _confirm_removal(where, _entry_count(engine), assume_yes)
        before, after = downgrade(engine, revision)
    click.echo(f"{where}: entry tables downgraded from {before or 'nothing'} to {after or 'nothing (removed)'}")


@db.command(name="drop", short_help="Remove the entry tables, their triggers and their entries.")
@URL_OPTION
@YES_OPTION
def db_drop(url: str, assume_yes: bool) -> None:
    """Remove the entry tables, their triggers and every entry in them (beatd's tables only).

    Asks first; --yes skips the question. `beatd db upgrade` creates them again, empty.
    """
    from beatd.stores.migrations import drop

    with _migrating(url, "drop") as (engine, where):
        _confirm_removal(where, _entry_count(engine), assume_yes)
        drop(engine)
    click.echo(f"{where}: entry tables, triggers and revision history removed")


# ---------------------------------------------------------------------------------------
# beatd entries


def _entry_key_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options that set an entry's YAML keys, for `add` and `edit`."""
    options = [
        click.option("--task", metavar="NAME", help="Celery task name."),
        click.option("--every", metavar="DURATION", help="Interval: 30, 2.5, 30s, 5m, 1h30m, 2d."),
        click.option("--cron", metavar="EXPR", help='Cron expression or alias: "30 7 * * 1-5", @daily.'),
        click.option("--day-match", type=click.Choice(["either", "both"]),
                     help="With --cron: whether a restricted day of month and day of week must match either "
                          "(cron, the default) or both (Celery)."),
        click.option("--solar", metavar="EVENT", help="Solar event (sunrise, sunset, ...), with --lat and --lon."),
        click.option("--lat", type=float, metavar="DEGREES", help="Latitude of a solar entry."),
        click.option("--lon", type=float, metavar="DEGREES", help="Longitude of a solar entry."),
        click.option("--elevation", type=float, metavar="METRES", help="Elevation of a solar entry."),
        click.option("--at", metavar="ISO", help="One-off instant: 2026-12-01T10:00:00+01:00."),
        click.option("--args", "args", metavar="JSON", help="Positional arguments, a JSON list: '[16, 16]'."),
        click.option("--kwargs", "kwargs", metavar="JSON", help="""Keyword arguments, a JSON object: '{"format": "pdf"}'."""),
        click.option("--options", "options", metavar="JSON", help="""Publish options, a JSON object: '{"queue": "reports"}'."""),
        click.option("--enabled/--disabled", "enabled", default=None, help="Whether the entry fires."),
        click.option("--timezone", metavar="ZONE", help="IANA zone: Europe/Berlin."),
        click.option("--catchup", metavar="POLICY", help="latest, all or skip."),
        click.option("--jitter", metavar="DURATION", help="Spread runs over [0, jitter)."),
        click.option("--start", metavar="ISO", help="Start of the active window."),
        click.option("--end", metavar="ISO", help="End of the active window."),
        click.option("--description", metavar="TEXT", help="Free text for people."),
        click.option("--from-yaml", "yaml_path", metavar="FILE", type=click.Path(dir_okay=False),
                     help="Take the entry NAME from this schedule file instead (checked as `beatd check` does)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


_JSON_KEYS = ("args", "kwargs", "options")


def _keys_given(given: dict[str, Any]) -> dict[str, Any]:
    """The YAML keys set on the command line, JSON ones parsed, in ENTRY_KEYS order."""
    from beatd.stores.conversion import ENTRY_KEYS

    mapping: dict[str, Any] = {}
    for key in ENTRY_KEYS:
        value = given.get(key)
        if value is None:
            continue
        if key in _JSON_KEYS:
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise click.BadParameter(f"{value!r} is not JSON: {exc}", param_hint=f"--{key}") from exc
        mapping[key] = value
    return mapping


def _entry_from_file(path: str, name: str) -> dict[str, Any]:
    """The keys of entry NAME in a schedule file; the file must pass `beatd check`."""
    from beatd.config import load_config
    from beatd.stores.conversion import mapping_of_entry

    with user_errors():
        config = load_config(path)
    for entry in config.entries:
        if entry.name == name:
            return mapping_of_entry(entry)
    raise UserError(f"{path}: no entry named {name!r}")


def _wanted_mapping(name: str, given: dict[str, Any], yaml_path: str | None) -> dict[str, Any] | None:
    keys = _keys_given(given)
    if yaml_path is not None:
        if keys:
            raise click.UsageError("--from-yaml takes the whole entry from the file; leave out the other entry options")
        return _entry_from_file(yaml_path, name)
    return keys or None


@click.group(name="entries", short_help="List, show, add, change and remove entries in a SQL store.")
def entries() -> None:
    """List, show, add, change and remove entries in a SQL entry store.

    Changes reach running daemons within about a second.
    """


@entries.command(name="list", short_help="List every entry with its schedule and status.")
@URL_OPTION
def entries_list(url: str) -> None:
    """List every entry: name, task, schedule, status (enabled, disabled or INVALID)."""
    from beatd.stores.conversion import describe_mapping

    with _store(url) as store:
        stored = store.rows()
        problems = {row.name: store.problem_of(row) for row in stored}
    table: list[tuple[str, ...]] = [("ENTRY", "TASK", "SCHEDULE", "STATUS", "UPDATED")]
    for row in stored:
        status = "INVALID" if problems[row.name] else ("enabled" if row.mapping.get("enabled", True) else "disabled")
        updated = row.updated_at.strftime("%Y-%m-%d %H:%M:%SZ") if row.updated_at else "-"
        table.append((row.name, str(row.mapping.get("task", "")), describe_mapping(row.mapping), status, updated))
    write_table(table, sys.stdout)
    invalid = sum(1 for problem in problems.values() if problem)
    if invalid:
        click.echo(f"{invalid} invalid {'entry is' if invalid == 1 else 'entries are'} skipped by beatd; "
                   "see `beatd entries show NAME`", err=True)


@entries.command(name="show", short_help="Print one entry as YAML, with its row id and revision.")
@URL_OPTION
@click.argument("name")
def entries_show(url: str, name: str) -> None:
    """Print one entry as YAML, with its row id, revision and times (and why it is invalid, if it is)."""
    from beatd.stores.conversion import yaml_mapping
    from beatd.yaml_dump import dump_entries

    with _store(url) as store:
        stored = store.get(name)
        if stored is None:
            raise UserError(f"no entry named {name!r} in {store.where}")
        problem = store.problem_of(stored)
    created = stored.created_at.isoformat() if stored.created_at else "-"
    updated = stored.updated_at.isoformat() if stored.updated_at else "-"
    click.echo(f"# beatd_entries id {stored.row_id}, revision {stored.revision}, created {created}, updated {updated}")
    if problem:
        click.echo(f"# INVALID, skipped by beatd: {problem}")
    sys.stdout.write(dump_entries({stored.name: yaml_mapping(stored.mapping)}))


@entries.command(name="add", short_help="Add an entry.")
@URL_OPTION
@click.argument("name")
@_entry_key_options
def entries_add(url: str, name: str, yaml_path: str | None, **given: Any) -> None:
    """Add entry NAME, e.g. `beatd entries add report --task reports.send --cron "30 7 * * 1-5"`.

    Give its keys as options, or take it whole from a schedule file with --from-yaml.
    """
    from beatd.stores.conversion import describe_mapping

    mapping = _wanted_mapping(name, given, yaml_path)
    if mapping is None:
        raise click.UsageError("give the entry's keys (--task and one of --every, --cron, --solar, --at) or --from-yaml FILE")
    with _store(url) as store:
        store.add(name, mapping)
    click.echo(f"added {name}: {mapping['task']} {describe_mapping(mapping)}")


@entries.command(name="edit", short_help="Change some keys of an entry.")
@URL_OPTION
@click.argument("name")
@_entry_key_options
@click.option("--unset", "unset_keys", multiple=True, metavar="KEY", help="Remove a key, e.g. --unset jitter (repeatable).")
def entries_edit(url: str, name: str, yaml_path: str | None, unset_keys: tuple[str, ...], **given: Any) -> None:
    """Change entry NAME: set the keys given, remove those named by --unset, keep the rest.

    A new schedule (--every, --cron, --solar or --at) replaces the old one. With
    --from-yaml the entry is replaced whole by the file's.
    """
    from beatd.stores.conversion import ENTRY_KEYS, describe_mapping

    unknown = [key for key in unset_keys if key not in ENTRY_KEYS]
    if unknown:
        raise click.BadParameter(f"{unknown[0]!r} is not an entry key; keys: {', '.join(ENTRY_KEYS)}", param_hint="--unset")
    wanted = _wanted_mapping(name, given, yaml_path)
    if wanted is None and not unset_keys:
        raise click.UsageError("nothing to change: give keys to set, --unset KEY or --from-yaml FILE")
    with _store(url) as store:
        stored = store.get(name)
        if stored is None:
            raise UserError(f"no entry named {name!r} in {store.where}")
        if yaml_path is not None:
            mapping = wanted or {}
        else:
            mapping = _edited(stored.mapping, wanted or {}, unset_keys)
        changed = store.update(name, mapping)
    click.echo(f"updated {name}: {mapping['task']} {describe_mapping(mapping)}" if changed else f"{name} unchanged")


def _edited(mapping: dict[str, Any], wanted: dict[str, Any], unset_keys: tuple[str, ...]) -> dict[str, Any]:
    """The stored keys with the wanted ones set and the unset ones removed, in ENTRY_KEYS order."""
    from beatd.config import SCHEDULE_KEYS
    from beatd.config.build import ONLY_FOR_KIND
    from beatd.stores.conversion import ENTRY_KEYS

    edited = dict(mapping)
    new_schedule = [key for key in SCHEDULE_KEYS if key in wanted]
    if new_schedule:
        for key in SCHEDULE_KEYS:
            edited.pop(key, None)
        for key, kind in ONLY_FOR_KIND.items():
            if new_schedule != [kind]:
                edited.pop(key, None)
    for key in unset_keys:
        edited.pop(key, None)
    edited.update(wanted)
    return {key: edited[key] for key in ENTRY_KEYS if key in edited}


@entries.command(name="enable")
@URL_OPTION
@click.argument("name")
def entries_enable(url: str, name: str) -> None:
    """Let entry NAME fire again."""
    _set_enabled(url, name, True)


@entries.command(name="disable")
@URL_OPTION
@click.argument("name")
def entries_disable(url: str, name: str) -> None:
    """Stop entry NAME from firing; it keeps its keys and its state."""
    _set_enabled(url, name, False)


def _set_enabled(url: str, name: str, enabled: bool) -> None:
    state = "enabled" if enabled else "disabled"
    with _store(url) as store:
        changed = store.set_enabled(name, enabled)
    click.echo(f"{state} {name}" if changed else f"{name} was already {state}")


@entries.command(name="remove")
@URL_OPTION
@click.argument("name")
def entries_remove(url: str, name: str) -> None:
    """Delete entry NAME."""
    with _store(url) as store:
        store.remove(name)
    click.echo(f"removed {name}")


# ---------------------------------------------------------------------------------------
# beatd import / export


@click.command(name="import", short_help="Add or replace a schedule file's entries in a SQL entry store.")
@click.argument("path", metavar="FILE.yaml", type=click.Path(dir_okay=False))
@URL_OPTION
def import_command(path: str, url: str) -> None:
    """Add or replace the entries of a schedule file (and its includes) in a SQL entry store.

    The file is checked as `beatd check` checks it and nothing is written unless all of
    it is valid; the entries are written in one transaction. Entries not in the file are
    left alone; identical ones are not rewritten. ${VAR} is replaced now, from this
    environment. Entries without `timezone` get the file's top-level `timezone` if it
    has one, and otherwise follow the daemon's.
    """
    from beatd.config import load_config
    from beatd.stores.conversion import mapping_of_entry

    with user_errors():
        config = load_config(path)
    mappings = {entry.name: mapping_of_entry(entry) for entry in config.entries}
    with _store(url) as store:
        counts = store.upsert_many(mappings)
        where = store.where
    click.echo(f"imported {plural(len(mappings), 'entry')} from {path} into {where}: "
               f"{counts.added} added, {counts.changed} changed, {counts.unchanged} unchanged")


@click.command(name="export", short_help="Print a SQL entry store's entries as a schedule file.")
@URL_OPTION
@click.option("--output", "-o", "output_path", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write to FILE instead of standard output.")
def export_command(url: str, output_path: str | None) -> None:
    """Print every entry as a schedule file that `beatd import` reads back into the same entries."""
    from beatd.stores.conversion import yaml_mapping
    from beatd.yaml_dump import dump_entries

    with _store(url) as store:
        stored = store.rows()
        invalid = [row.name for row in stored if store.problem_of(row)]
        where = store.where
    text = f"# beatd export of {where}: {plural(len(stored), 'entry')}\n" + dump_entries(
        {row.name: yaml_mapping(row.mapping) for row in stored}, top_key="entries")
    if output_path is None:
        sys.stdout.write(text)
    else:
        with open(output_path, "w", encoding="utf-8") as output:
            output.write(text)
    if invalid:
        click.echo(f"{len(invalid)} exported entries are invalid and `beatd import` will refuse them until fixed: "
                   f"{', '.join(invalid[:5])}{' ...' if len(invalid) > 5 else ''}", err=True)


__all__ = ["db", "entries", "export_command", "import_command"]
