"""`beatd next`: the upcoming runs of the file's and the stores' entries, published nowhere."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, tzinfo

import click

from beatd.cli.errors import UserError
from beatd.cli.options import ScheduleOptions, complete_catalog, load_schedule, schedule_options

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


@click.command(name="next", short_help="List upcoming runs without publishing anything.")
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
    from beatd.cli.listing import Listing

    config = load_schedule(schedule)
    start = _parse_instant_option(from_text, "--from", config.timezone) or datetime.now(UTC)
    until = _parse_instant_option(until_text, "--until", config.timezone)
    catalog = complete_catalog(config)
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
