"""One-off schedules: a single instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from beatd.schedules import check_aware


@dataclass(frozen=True, slots=True, kw_only=True)
class OnceSchedule:
    """Fires once, at `at`, and never again."""

    at: datetime

    def __post_init__(self) -> None:
        check_aware(self.at, "one-off time")

    @property
    def kind(self) -> str:
        return "once"

    def next_after(self, t: datetime) -> datetime | None:
        return self.at if self.at > t else None

    def describe(self) -> str:
        return f"once at {self.at.isoformat()}"
