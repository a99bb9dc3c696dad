"""The `beatd` command line: run, next, check and friends (the only place that picks exit codes)."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

import click

from beatd import __version__
from beatd.cli_entries import db, entries, export_command, import_command
from beatd.cli_next import Listing
from beatd.config import Config, check_config, load_config, parse_listen_address
from beatd.daemon import Clock, Daemon, SystemClock, origin_name
from beatd.entry import Entry
from beatd.errors import BeatdError
from beatd.leader import NEVER_EXPIRES, LeaseBackend, default_lock_path, holder_id, open_lease_backend
from beatd.observer import Observer, Observers
from beatd.ops import PacedClock
from beatd.ops.notify import SystemdNotifier
from beatd.publish import Transport, open_transport
from beatd.publish.now import publish_now
from beatd.state import StateStore, open_state_store
from beatd.stores import open_entry_store
from beatd.urls import redact_url

if TYPE_CHECKING:
    from beatd.ops.http import OpsEndpoint

CONFIG_OPTION = click.option(
    "--config", "-c", "config_path", required=True, envvar="BEATD_CONFIG", show_envvar=True,
    type=click.Path(dir_okay=False, path_type=str), help="The YAML schedule file.")


# `beatd next --until` without --count lists every fire in the window; this keeps a
# one-second entry over a year (31 million rows) from exhausting memory.
MAX_NEXT_ROWS = 1_000_000
# Zone data and datetime arithmetic need headroom around the instants they are given.
FIRST_LISTED_YEAR, LAST_LISTED_YEAR = 1900, 9000


class UserError(click.ClickException):
    """A BeatdError shown as its own one-line message (file:line: ...), exit 1, no traceback."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), err=True)


def _load(config_path: str) -> Config:
    try:
        return load_config(config_path)
    except BeatdError as exc:
        raise UserError(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="beatd")
def main() -> None:
    """beatd: a periodic task scheduler that publishes Celery task messages.

    Reads interval, cron, solar and one-off entries from YAML, works out when each is
    due with exact time-zone and DST rules, and sends one Celery task message per run.
    """


# The SQL entry store's commands: beatd db upgrade, beatd entries ..., beatd import, beatd export.
main.add_command(db)
main.add_command(entries)
main.add_command(import_command)
main.add_command(export_command)


@main.command()
@CONFIG_OPTION
def check(config_path: str) -> None:
    """Validate a configuration file and everything it includes.

    Prints `ok` with the entry count and exits 0; or prints every problem, in file order,
    as `file:line: message` (then how many, when there are several) and exits 1. A file
    that defines no entries and names no store gets a warning instead of `ok` (exit 0).
    """
    checked = check_config(config_path)
    if checked.problems:
        for problem in checked.problems:
            click.echo(problem, err=True)
        if len(checked.problems) > 1:
            click.echo(f"{len(checked.problems)} errors", err=True)
        raise SystemExit(1)
    config = checked.config
    assert config is not None  # no problems: loaded
    count = len(config.entries)
    if count == 0 and not config.stores:
        click.echo(f"warning: {config.path}: no entries: the file and its includes define none and name no store",
                   err=True)
        return
    click.echo(f"ok: {config.path}: {count} {'entry' if count == 1 else 'entries'}")


def _parse_instant_option(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date-time", param_hint=option) from exc
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r} needs a UTC offset, e.g. {value}+00:00", param_hint=option)
    if not FIRST_LISTED_YEAR <= moment.year <= LAST_LISTED_YEAR:
        raise click.BadParameter(f"{value!r} is outside the years {FIRST_LISTED_YEAR}-{LAST_LISTED_YEAR}", param_hint=option)
    return moment


@main.command(name="next")
@CONFIG_OPTION
@click.option("--from", "from_text", metavar="ISO", help="List fires strictly after this instant (with offset). Default: now.")
@click.option("--until", "until_text", metavar="ISO", help="List fires at or before this instant (with offset).")
@click.option("--count", "-n", type=click.IntRange(min=1), metavar="N",
              help="The first N fires of each entry. Default 5 when --until is absent; all fires in the window otherwise.")
@click.option("--entry", "-e", "entry_names", multiple=True, metavar="NAME", help="Only this entry (repeatable).")
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object per line: {"entry", "task", "at" (entry zone), "utc"}, sorted by time then entry.')
def next_command(config_path: str, from_text: str | None, until_text: str | None, count: int | None,
                 entry_names: tuple[str, ...], as_json: bool) -> None:
    """Dry run: list upcoming fire times without publishing anything.

    Times are shown in each entry's zone (the config's zone for entries without one).
    Disabled entries are left out.
    """
    config = _load(config_path)
    start = _parse_instant_option(from_text, "--from") or datetime.now(UTC)
    until = _parse_instant_option(until_text, "--until")
    if count is None and until is None:
        count = 5
    entries = [entry for entry in config.entries if entry.enabled]
    if entry_names:
        known = {entry.name for entry in config.entries}
        unknown = [name for name in entry_names if name not in known]
        if unknown:
            raise UserError(f"{config.path}: no entry named {unknown[0]!r}")
        disabled = [entry.name for entry in config.entries if entry.name in entry_names and not entry.enabled]
        if disabled:
            click.echo(f"note: entry {disabled[0]!r} is disabled and never fires", err=True)
        entries = [entry for entry in entries if entry.name in entry_names]
    listing = Listing.build(entries, start, until, min(count, MAX_NEXT_ROWS + 1) if count else MAX_NEXT_ROWS + 1)
    if listing.count() > MAX_NEXT_ROWS:
        raise UserError(f"more than {MAX_NEXT_ROWS:,} fires in that window; narrow --from/--until, "
                        "pick entries with --entry, or use --count")
    if as_json:
        listing.write_json(sys.stdout)
    else:
        listing.write_table(sys.stdout)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


def _configure_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _open_parts(config: Config) -> tuple[Transport, StateStore]:
    """The broker transport and the state store that the config names."""
    try:
        transport = open_transport(config.broker)
        state = open_state_store(config.state)
    except BeatdError as exc:
        raise UserError(str(exc)) from exc
    return transport, state


def _lease_backend(config: Config) -> LeaseBackend:
    lock_path = config.leader.lock_file or default_lock_path(config.state)
    try:
        return open_lease_backend(config.leader.backend, config.leader.url, lock_path=lock_path)
    except BeatdError as exc:
        raise UserError(str(exc)) from exc


LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)


@main.command()
@CONFIG_OPTION
@click.option("--log-level", type=LOG_LEVELS, default="info", show_default=True, envvar="BEATD_LOG_LEVEL",
              help="Lowest level logged. `info` logs one line per published run.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              envvar="BEATD_LOG_FORMAT", help="Plain text lines or one JSON object per line.")
def run(config_path: str, log_level: str, log_format: str) -> None:
    """Run the scheduler daemon: publish every due run to the broker and record it.

    Several instances may run against one lease store (`leader:`); one leads and the
    others stand by. SIGTERM or SIGINT stops gracefully (the batch in flight finishes,
    state is flushed, the lease released, exit 0); SIGHUP reloads the config file.
    """
    _configure_logging(log_level, log_format)
    config = _load(config_path)
    transport, state = _open_parts(config)
    lease_backend = _lease_backend(config)
    with contextlib.ExitStack() as cleanup:
        observers: list[Observer] = []
        # The watchdog and /healthz judge the loop by its turns: it must turn often enough.
        loop_waits_s: list[float] = []
        notifier = SystemdNotifier.from_environment()
        if notifier is not None:
            cleanup.callback(notifier.close)
            observers.append(notifier)
            if notifier.max_loop_wait_s is not None:
                loop_waits_s.append(notifier.max_loop_wait_s)
        if config.http:
            # The lambdas read the daemon when called, once it exists: the entries it runs now
            # (they change on reload), and whether its lease still allows publishing.
            endpoint = _start_http(config, config.http, entries=lambda: daemon.entries.values(),
                                   lease_valid=lambda: daemon.keeper.may_publish(daemon.clock.monotonic()))
            cleanup.callback(endpoint.close)
            observers += [endpoint.metrics, endpoint.health]
            loop_waits_s.append(endpoint.health.max_loop_wait_s)
        clock: Clock = PacedClock(SystemClock(), min(loop_waits_s)) if loop_waits_s else SystemClock()
        try:
            entry_stores = [open_entry_store(kind, target, default_zone=config.timezone) for kind, target in config.stores]
        except BeatdError as exc:
            raise UserError(f"{config.path}: stores: {exc}") from exc
        daemon = Daemon(config, clock=clock, transport=transport, state=state, lease_backend=lease_backend,
                        holder=holder_id(), origin=origin_name(), observer=Observers(*observers),
                        entry_stores=entry_stores)
        logging.getLogger("beatd").info("broker %s, state %s, leader backend %s", redact_url(config.broker),
                                        redact_url(config.state), config.leader.backend)
        signal.signal(signal.SIGTERM, lambda signum, frame: daemon.stop())
        signal.signal(signal.SIGINT, lambda signum, frame: daemon.stop())
        signal.signal(signal.SIGHUP, lambda signum, frame: daemon.reload())
        # The entries and everything loaded so far live as long as the process: out of the
        # collector's sight, its full passes no longer walk them, which with 100,000
        # entries paused the loop for tens of milliseconds in the middle of a publish.
        gc.freeze()
        try:
            daemon.run()
        except BeatdError as exc:
            raise UserError(str(exc)) from exc


def _start_http(config: Config, address: str, *, entries: Callable[[], Iterable[Entry]],
                lease_valid: Callable[[], bool]) -> OpsEndpoint:
    """Metrics, health and their HTTP server on `http:`; a missing extra or a busy port is a UserError."""
    try:
        # prometheus-client is an optional dependency: only who configures `http:` needs it.
        from beatd.ops.http import OpsEndpoint
    except ImportError as exc:
        raise UserError(f"{config.path}: http: needs prometheus-client: pip install 'beatd[metrics]' ({exc})") from exc
    host, port = parse_listen_address(address)
    try:
        return OpsEndpoint.start(host, port, entries=entries, lease_valid=lease_valid)
    except OSError as exc:
        raise UserError(f"{config.path}: http: cannot listen on {address}: {exc.strerror or exc}") from exc


@main.command()
@CONFIG_OPTION
@click.argument("name")
def trigger(config_path: str, name: str) -> None:
    """Publish one run of entry NAME now, outside its schedule (its state is not changed)."""
    config = _load(config_path)
    entry = next((entry for entry in config.entries if entry.name == name), None)
    if entry is None:
        raise UserError(f"{config.path}: no entry named {name!r}")
    try:
        [fire] = publish_now([entry], config.broker, origin=origin_name())
    except BeatdError as exc:
        raise UserError(str(exc)) from exc
    click.echo(f"published {name} ({entry.task}) task id {fire.task_id}")


@main.command()
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON document: leader and per-entry status.")
def status(config_path: str, as_json: bool) -> None:
    """Show the leader and, per entry, the last run, the next run and the run count.

    Reads the state and lease stores, so it works from any host that can reach them.
    """
    config = _load(config_path)
    now = datetime.now(UTC)
    try:
        state = open_state_store(config.state)
        with contextlib.closing(state):
            records = state.load()
        leader = _leader_info(config)
    except BeatdError as exc:
        raise UserError(str(exc)) from exc
    rows = []
    for entry in config.entries:
        record = records.get(entry.name)
        after = max(now, record.scheduled_at) if record else now
        next_run = entry.schedule.next_after(after) if entry.enabled else None
        rows.append({
            "entry": entry.name, "task": entry.task, "kind": entry.schedule.kind, "enabled": entry.enabled,
            "last_run": record.scheduled_at.astimezone(entry.timezone).isoformat() if record else None,
            "next_run": next_run.astimezone(entry.timezone).isoformat() if next_run else None,
            "run_count": record.run_count if record else 0,
        })
    if as_json:
        click.echo(json.dumps({"leader": leader, "entries": rows}, indent=2))
        return
    if leader:
        expiry = f"lease expires {leader['expires']}" if leader["expires"] else "single instance"
        click.echo(f"leader: {leader['holder']} (token {leader['token']}, {expiry})")
    else:
        click.echo("leader: none")
    table: list[tuple[str, ...]] = [("ENTRY", "TASK", "KIND", "LAST RUN", "NEXT RUN", "RUNS")]
    table += [(str(row["entry"]), str(row["task"]), str(row["kind"]) if row["enabled"] else "disabled",
               str(row["last_run"] or "-"), str(row["next_run"] or "-"), str(row["run_count"])) for row in rows]
    _print_table(table)


def _leader_info(config: Config) -> dict[str, Any] | None:
    backend = _lease_backend(config)
    with contextlib.closing(backend):
        info = backend.current()
    if info is None:
        return None
    expires = None if info.expires_at == NEVER_EXPIRES else info.expires_at.isoformat()
    return {"holder": info.holder, "token": info.token, "expires": expires}


def _print_table(table: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    for row in table:
        sys.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n")
