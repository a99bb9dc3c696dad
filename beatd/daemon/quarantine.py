"""Per-entry fault isolation: an entry whose runs cannot be built, published or recorded waits alone.

While an entry is held here the engine hands out none of its runs; every other entry
keeps its schedule. After a backoff the daemon gives the entry back to the engine from
its first unsent slot, so the entry's catch-up policy decides what the held time still
sends, as it does after any time nobody published.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from beatd.state import EntryFault

log = logging.getLogger("beatd")

# The first retry comes soon (a queue key fixed by hand), later ones rarely enough that a
# permanently refused entry costs nothing and logs nothing.
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 60.0


@dataclass(slots=True)
class _Held:
    fault: EntryFault
    resume_after: datetime  # the newest slot known sent: the engine resumes after it
    retry_at: float  # monotonic
    delay_s: float
    retrying: bool = False  # given back to the engine; not yet shown to succeed


class Quarantine:
    """The entries held back, each with its own backoff; logs a fault once and a recovery once."""

    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}
        # Faults to write to the state store (for `beatd status`), and recovered names to clear.
        self.unsaved: dict[str, EntryFault] = {}
        self.recovered: set[str] = set()

    def __contains__(self, name: str) -> bool:
        held = self._held.get(name)
        return held is not None and not held.retrying

    def __len__(self) -> int:
        return len(self._held)

    def faults(self) -> list[EntryFault]:
        return [held.fault for held in self._held.values()]

    def hold(self, name: str, reason: str, detail: str, *, resume_after: datetime,
             wall_now: datetime, monotonic_now: float) -> EntryFault:
        """Hold an entry back after a fault; returns its fault (attempts counts every failure)."""
        held = self._held.get(name)
        if held is None:
            log.error("entry %s held back (%s): %s; the other entries run on, retrying it in %.0f s",
                      name, reason, detail, FIRST_RETRY_S)
            fault = EntryFault(entry=name, reason=reason, detail=detail, since=wall_now, attempts=1)
            held = self._held[name] = _Held(fault=fault, resume_after=resume_after,
                                            retry_at=monotonic_now + FIRST_RETRY_S, delay_s=FIRST_RETRY_S)
        else:
            if not held.retrying:
                # Another run of the same batch failed too: one fault, the earliest slot.
                held.resume_after = min(held.resume_after, resume_after)
                return held.fault
            held.fault.attempts += 1
            held.fault.reason, held.fault.detail = reason, detail
            held.delay_s = min(MAX_RETRY_S, held.delay_s * 2)
            held.retry_at = monotonic_now + held.delay_s
            # The retry's own runs tell where the entry now stands (a run that went out
            # but was not recorded moves it on; one that was refused does not).
            held.resume_after = resume_after
            held.retrying = False
            log.debug("entry %s still failing (%s, attempt %d): %s", name, reason, held.fault.attempts, detail)
        self.unsaved[name] = held.fault
        self.recovered.discard(name)
        return held.fault

    def due(self, monotonic_now: float) -> list[tuple[str, datetime]]:
        """Entries whose retry time has come, with the slot to resume after; they count as retrying."""
        ready = []
        for name, held in self._held.items():
            if not held.retrying and held.retry_at <= monotonic_now:
                held.retrying = True
                ready.append((name, held.resume_after))
        return ready

    def next_retry(self) -> float | None:
        """The monotonic time of the earliest retry, or None."""
        return min((held.retry_at for held in self._held.values() if not held.retrying), default=None)

    def succeeded(self, name: str) -> bool:
        """A run of the entry went out and was recorded; True when that ends its being held back."""
        held = self._held.get(name)
        if held is None or not held.retrying:
            return False
        del self._held[name]
        log.warning("entry %s runs again after %d failed attempts", name, held.fault.attempts)
        self.unsaved.pop(name, None)
        self.recovered.add(name)
        return True

    def release(self, name: str) -> None:
        """Forget an entry's fault without a success: it was removed or changed."""
        if self._held.pop(name, None) is not None:
            self.unsaved.pop(name, None)
            self.recovered.add(name)
