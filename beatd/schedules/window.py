"""Active windows: limit any schedule to fires between a start and an end instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from beatd.schedules import Schedule

_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowedSchedule:
    """The inner schedule's fires with start <= fire <= end (both ends inclusive, both optional)."""

    inner: Schedule
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end {self.end.isoformat()!r} is before start {self.start.isoformat()!r}")

    @property
    def kind(self) -> str:
        return self.inner.kind

    def next_after(self, t: datetime) -> datetime | None:
        if self.start is not None and t < self.start:
            t = self.start - _MICROSECOND
        fire_at = self.inner.next_after(t)
        if fire_at is None or (self.end is not None and fire_at > self.end):
            return None
        return fire_at

    def describe(self) -> str:
        bounds = []
        if self.start:
            bounds.append(f"from {self.start.isoformat()}")
        if self.end:
            bounds.append(f"until {self.end.isoformat()}")
        return " ".join([self.inner.describe(), *bounds])
