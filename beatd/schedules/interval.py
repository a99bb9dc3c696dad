"""Interval schedules: fixed steps of real elapsed time from an anchor instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from beatd.durations import format_duration
from beatd.schedules import check_aware

# Slots are counted from the Unix epoch unless an entry has a `start`, so `every: 30s`
# fires at :00 and :30 on every instance: peers and restarts agree on the slots, and
# so on the deterministic task ids derived from them.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class IntervalSchedule:
    """Fires at anchor + k * every for whole k; DST never shifts it (real time only)."""

    every: timedelta
    anchor: datetime = EPOCH

    def __post_init__(self) -> None:
        if self.every <= timedelta(0):
            raise ValueError(f"interval {self.every!r} must be greater than zero")
        check_aware(self.anchor, "interval anchor")

    @property
    def kind(self) -> str:
        return "interval"

    def next_after(self, t: datetime) -> datetime | None:
        """The first slot strictly after t, in UTC; None past the end of the calendar (year 9999)."""
        # timedelta // timedelta and int * timedelta work in whole microseconds: exact for
        # intervals such as 2.5 s, with no float on the way.
        slots_passed = (t - self.anchor) // self.every
        try:
            return (self.anchor + (slots_passed + 1) * self.every).astimezone(UTC)
        except OverflowError:
            return None

    def describe(self) -> str:
        return f"every {format_duration(self.every)}"
