"""The `beatd` command line: run, next, check and friends (the only place that picks exit codes)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import IO, Any

import click

from beatd import __version__
from beatd.config import Config, load_config
from beatd.entry import Entry
from beatd.errors import BeatdError

CONFIG_OPTION = click.option(
    "--config", "-c", "config_path", required=True, envvar="BEATD_CONFIG", show_envvar=True,
    type=click.Path(dir_okay=False, path_type=str), help="The YAML schedule file.")


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


@main.command()
@CONFIG_OPTION
def check(config_path: str) -> None:
    """Validate a configuration file and everything it includes.

    Prints `ok` with the entry count and exits 0, or prints `file:line: message` for the
    first problem and exits 1.
    """
    config = _load(config_path)
    click.echo(f"ok: {config.path}: {len(config.entries)} entries")


def _parse_instant_option(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date-time", param_hint=option) from exc
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r} needs a UTC offset, e.g. {value}+00:00", param_hint=option)
    return moment


def _fires_of(entry: Entry, start: datetime, until: datetime | None, count: int | None) -> Iterator[datetime]:
    """The entry's fires strictly after start, at or before until, at most count of them."""
    produced = 0
    fire_at = entry.schedule.next_after(start)
    while fire_at is not None and (until is None or fire_at <= until) and (count is None or produced < count):
        yield fire_at
        produced += 1
        fire_at = entry.schedule.next_after(fire_at)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _in_words(delta_seconds: float) -> str:
    """How far away, the way a person says it: "in 3h 12m", "in 45s", "in 2d 4h"."""
    seconds = int(delta_seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"in {days}d {hours}h"
    if hours:
        return f"in {hours}h {minutes}m"
    if minutes:
        return f"in {minutes}m {seconds}s"
    return f"in {seconds}s"


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
    start = _parse_instant_option(from_text, "--from") or datetime.now(timezone.utc)
    until = _parse_instant_option(until_text, "--until")
    if count is None and until is None:
        count = 5
    entries = [entry for entry in config.entries if entry.enabled]
    if entry_names:
        known = {entry.name for entry in config.entries}
        unknown = [name for name in entry_names if name not in known]
        if unknown:
            raise UserError(f"{config.path}: no entry named {unknown[0]!r}")
        entries = [entry for entry in entries if entry.name in entry_names]
    rows = sorted(
        ((fire_at.astimezone(timezone.utc), entry.name, fire_at.astimezone(entry.timezone), entry)
         for entry in entries for fire_at in _fires_of(entry, start, until, count)),
        key=lambda row: (row[0], row[1]),
    )
    out = sys.stdout
    if as_json:
        for utc, name, local, entry in rows:
            out.write(json.dumps({"entry": name, "task": entry.task, "at": local.isoformat(), "utc": _utc_text(utc)}) + "\n")
        return
    table = [("ENTRY", "TASK", "KIND", "NEXT", "WHEN")]
    table += [(name, entry.task, entry.schedule.kind, local.isoformat(sep=" "), _in_words((utc - start).total_seconds()))
              for utc, name, local, entry in rows]
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    for row in table:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n")
