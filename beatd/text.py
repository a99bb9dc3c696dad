"""Words, times and tables as operators read them: "1 entry", "2026-03-30 07:30:00-04:00"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import TextIO


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 entry`, `2 entries`, `0 stores`: the count and the noun that agrees with it."""
    if count == 1:
        return f"{count} {singular}"
    if plural_form is None:
        plural_form = f"{singular[:-1]}ies" if singular.endswith("y") and singular[-2:-1] not in "aeiou" else f"{singular}s"
    return f"{count} {plural_form}"


def local_text(moment: datetime, zone: tzinfo) -> str:
    """An instant in a zone with its offset, to the second: `2026-03-30 07:30:00-04:00`.

    `next`, `status` and the start-up log write times this way, in each entry's zone.
    """
    return moment.astimezone(zone).isoformat(sep=" ", timespec="seconds")


def write_table(table: Sequence[Sequence[str]], out: TextIO) -> None:
    """Rows as columns padded to their widest cell, two blanks apart, no trailing blanks."""
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    for row in table:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n")
