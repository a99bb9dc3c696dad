"""What the admin shows and does beyond the rows: last and next runs, the next runs of a draft, and "run now"."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from beatd.config import Config
from beatd.contrib.django.models import Entry as EntryRow
from beatd.entry import Entry
from beatd.errors import BeatdError
from beatd.schedules.describe import describe
from beatd.state import RunRecord, open_state_store

PREVIEW_RUNS = 5


def local_text(moment: datetime, zone: tzinfo) -> str:
    """An instant as its wall time in zone with the zone's abbreviation and offset: 2026-11-23 07:30:00 CET (+01:00)."""
    local = moment.astimezone(zone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()} ({offset[:3]}:{offset[3:]})"


def next_runs(entry: Entry, after: datetime, count: int = PREVIEW_RUNS) -> list[datetime]:
    """The first `count` fires of the entry's schedule strictly after `after` (fewer if it ends)."""
    runs: list[datetime] = []
    fire_at = entry.schedule.next_after(after)
    while fire_at is not None and len(runs) < count:
        runs.append(fire_at)
        fire_at = entry.schedule.next_after(fire_at)
    return runs


@dataclass(frozen=True, slots=True, kw_only=True)
class RowStatus:
    """One row as the list shows it; `problem` is set (and the rest empty) when the row does not validate."""

    schedule: str = ""
    next_run: str = "-"
    last_run: str = "-"
    run_count: int = 0
    problem: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Board:
    """The state store's records at one instant, for one page of the list.

    `unavailable` says why records are missing (state store down or misconfigured).
    """

    now: datetime
    default_zone: tzinfo
    records: dict[str, RunRecord] = field(default_factory=dict)
    unavailable: str | None = None

    @classmethod
    def load(cls, config: Config, now: datetime) -> Board:
        """Read every record from the config's state store; a failure leaves the board empty and says why."""
        try:
            state = open_state_store(config.state)
            with contextlib.closing(state):
                return cls(now=now, default_zone=config.timezone, records=state.load())
        except BeatdError as exc:
            return cls(now=now, default_zone=config.timezone, unavailable=str(exc))

    def status(self, row: EntryRow) -> RowStatus:
        """The row's schedule in words, next run (after now and after its last run), last run and run count.

        As `beatd status` computes them; times are in the entry's zone.
        """
        try:
            entry = row.to_entry(self.default_zone)
        except (ValueError, BeatdError) as exc:
            return RowStatus(problem=str(exc))
        record = self.records.get(entry.name)
        after = max(self.now, record.scheduled_at) if record else self.now
        next_run = entry.schedule.next_after(after) if entry.enabled else None
        return RowStatus(
            schedule=describe(entry.schedule, entry.timezone),
            next_run=local_text(next_run, entry.timezone) if next_run else "-",
            last_run=local_text(record.scheduled_at, entry.timezone) if record else "-",
            run_count=record.run_count if record else 0,
        )


