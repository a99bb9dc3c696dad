"""Pure time math: every schedule kind answers `next_after(t)` with no I/O and no clock reads."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Schedule(Protocol):
    """What the engine needs from any schedule kind."""

    @property
    def kind(self) -> str:
        """One word naming the kind: interval, cron, solar or once."""
        ...

    def next_after(self, t: datetime) -> datetime | None:
        """First fire strictly after the aware instant t; None once it never fires again.

        The result is aware; its zone is the schedule's display zone (cron, solar, once)
        or UTC (interval), but callers must only rely on the instant it denotes.
        """
        ...

    def describe(self) -> str:
        """The schedule in words, for listings ("every 30s", "cron 30 7 * * 1-5")."""
        ...


def check_aware(instant: datetime, what: str) -> None:
    """Refuse a naive instant: it names no instant until a zone is chosen, and the core never assumes the host's.

    Raises:
        ValueError: names what and the instant.
    """
    if instant.tzinfo is None:
        raise ValueError(f"{what} {instant.isoformat()!r} must be timezone-aware")
