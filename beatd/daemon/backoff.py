"""Exponential retry delays for one failing dependency, logged once when it goes down and once when it is back."""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("beatd")


@dataclass(slots=True)
class Backoff:
    """Exponential retry delays for one failing dependency, and whether it is down."""

    what: str
    initial_s: float = 0.5
    # Short enough that a recovered broker is noticed within seconds (runs with a short
    # `expires` would otherwise lapse while beatd waits), long enough not to hammer it.
    maximum_s: float = 5.0
    retry_at: float = 0.0
    delay_s: float = 0.0
    down_since: float | None = None

    def failed(self, monotonic_now: float, error: Exception) -> None:
        """Schedule the next attempt; log only when the dependency goes down."""
        if self.down_since is None:
            self.down_since = monotonic_now
            log.error("%s unavailable, retrying with backoff: %s", self.what, error)
        self.delay_s = min(self.maximum_s, self.delay_s * 2 or self.initial_s)
        self.retry_at = monotonic_now + self.delay_s

    def succeeded(self, monotonic_now: float) -> None:
        if self.down_since is not None:
            log.warning("%s available again after %.1f s", self.what, monotonic_now - self.down_since)
        self.down_since, self.delay_s, self.retry_at = None, 0.0, 0.0

    def ready(self, monotonic_now: float) -> bool:
        return monotonic_now >= self.retry_at
