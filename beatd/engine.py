"""The scheduling engine: a heap of next fire times that hands out every due run, applying catch-up and jitter.

The engine never reads a clock: every call receives `now`, so tests drive it through
years of simulated time in seconds, and the daemon owns the only real clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from beatd.entry import CatchUp, Entry, Fire
from beatd.schedules import Schedule

_MICROSECOND = timedelta(microseconds=1)


def recent_slots(schedule: Schedule, after: datetime, until: datetime, limit: int) -> tuple[list[datetime], datetime | None]:
    """Up to `limit` newest fires in (after, until], oldest first, and the first fire after `until`.

    Looks back from `until` over a window that doubles until it holds `limit` fires or
    reaches `after`, so the cost follows the fires returned, not the length of the gap
    (a one-second entry down for a week costs a few dozen steps, not 600,000).
    """
    span = timedelta(seconds=1)
    while True:
        window_start = max(after, until - span)
        slots = []
        slot = schedule.next_after(window_start)
        while slot is not None and slot <= until:
            slots.append(slot)
            slot = schedule.next_after(slot)
        if len(slots) >= limit or window_start == after:
            # `slot` is the first fire after the last one found, which is the newest up to `until`.
            return slots[-limit:], slot
        span *= 2


@dataclass(slots=True, eq=False)
class _Tracked:
    """What the engine keeps for one entry; replaced as a whole when the entry is added again."""

    entry: Entry
    jitter: timedelta  # the entry's stable offset, worked out once (a SHA-256 of its name)
    next: datetime | None = None  # the slot waiting in the heap
    last_handed_out: datetime | None = None

    def __lt__(self, other: _Tracked) -> bool:
        # Heap items tie on (publish_at, name) only when an entry was added again while its
        # old item waits; either order is right, the stale one is skipped when it surfaces.
        return False


# A heap item: (publish_at, name, tracked). Plain tuples compare in C, several times
# faster than a dataclass with __lt__, and the heap is the hot path: every fire is one
# pop and one push. An item whose `tracked` is no longer the entry's is stale.
_Pending = tuple[datetime, str, _Tracked]
_NO_JITTER = timedelta(0)


class Engine:
    """Hands out due runs of its entries, oldest first, at most once each.

    Missed runs: a slot whose publish time is more than `grace` behind `now` when `due`
    is called was missed, because nobody published it in time (beatd was down, on
    standby, or cut off from the broker). Each entry's catch-up policy decides what
    happens to missed slots: `latest` sends only the newest due slot, `all` sends each
    (the newest `catchup_limit` of them), `skip` sends none. Slots within `grace` are
    on time and always sent.
    """

    def __init__(self, *, catchup_limit: int = 100, grace: timedelta = timedelta(seconds=1)) -> None:
        if catchup_limit < 1:
            raise ValueError(f"catchup_limit {catchup_limit} must be at least 1")
        self.catchup_limit = catchup_limit
        self.grace = grace
        self._tracked: dict[str, _Tracked] = {}
        self._heap: list[_Pending] = []

    def add(self, entry: Entry, *, now: datetime, last_scheduled: datetime | None = None) -> None:
        """Add or replace an entry.

        Args:
            last_scheduled: the newest slot already sent for it (from the state store).
                With it, the slots after it that are already due are handed out by the
                next `due` under the catch-up policy; without it the entry starts with
                its first slot published after `now`.
        """
        pending = self._track(entry, now, last_scheduled)
        if pending is not None:
            heapq.heappush(self._heap, pending)

    def _track(self, entry: Entry, now: datetime, last_scheduled: datetime | None) -> _Pending | None:
        """Start tracking entry afresh; returns its heap item, or None when it has no next slot."""
        previous = self._tracked.get(entry.name)
        tracked = self._tracked[entry.name] = _Tracked(
            entry=entry, jitter=entry.jitter_offset() if entry.jitter else _NO_JITTER,
            last_handed_out=previous.last_handed_out if previous is not None else None)
        if not entry.enabled:
            return None
        after = last_scheduled if last_scheduled is not None else now - tracked.jitter
        return self._pending(entry.name, tracked, entry.schedule.next_after(after))

    def remove(self, name: str) -> None:
        """Forget an entry; its slot left in the heap is skipped when it surfaces."""
        self._tracked.pop(name, None)

    def last_handed_out(self, name: str) -> datetime | None:
        """The newest slot of an entry that `due` returned, or None if none yet."""
        tracked = self._tracked.get(name)
        return tracked.last_handed_out if tracked is not None else None

    def next_fire(self, name: str) -> datetime | None:
        """The next slot of an entry, or None if it is disabled, done or unknown."""
        tracked = self._tracked.get(name)
        return tracked.next if tracked is not None else None

    def next_wakeup(self) -> datetime | None:
        """When the earliest pending run may be published; None when nothing will ever fire."""
        heap, tracked = self._heap, self._tracked
        while heap and tracked.get(heap[0][1]) is not heap[0][2]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def due(self, now: datetime, limit: int | None = None) -> list[Fire]:
        """Every run whose publish time is at or before now, in publish order.

        Each slot is handed out once; calling again with the same now returns the rest.
        With a limit, entries are taken until at least `limit` runs are out (one entry's
        catch-up may pass it by up to catchup_limit): a backlog of many entries is then
        handed out, and held in memory, a part at a time.
        """
        fires: list[Fire] = []
        heap, all_tracked = self._heap, self._tracked
        while heap and heap[0][0] <= now and (limit is None or len(fires) < limit):
            _, name, tracked = heapq.heappop(heap)
            if all_tracked.get(name) is not tracked:
                continue
            entry, jitter = tracked.entry, tracked.jitter
            # In slot terms: due at or before `newest`, on time from `newest - grace` on.
            newest = now - jitter
            slots, following = self._slots_to_send(entry, tracked.next, newest, newest - self.grace)  # type: ignore[arg-type]
            fires.extend(Fire(entry=entry, scheduled_at=slot, publish_at=slot + jitter) for slot in slots)
            if slots:
                tracked.last_handed_out = slots[-1]
            self._push(name, tracked, following)
        return fires

    def _slots_to_send(self, entry: Entry, first: datetime, newest: datetime,
                       on_time_from: datetime) -> tuple[list[datetime], datetime | None]:
        """The slots from `first` up to `newest` that the entry's policy sends, and the slot after them."""
        schedule = entry.schedule
        following = schedule.next_after(first)
        if following is None or following > newest:
            # The usual case: one slot, on time or the single missed one.
            if entry.catchup is CatchUp.SKIP and first < on_time_from:
                return [], following
            return [first], following
        after = first - _MICROSECOND
        if entry.catchup is CatchUp.ALL:
            return recent_slots(schedule, after, newest, self.catchup_limit)
        if entry.catchup is CatchUp.LATEST:
            return recent_slots(schedule, after, newest, 1)
        return recent_slots(schedule, max(after, on_time_from - _MICROSECOND), newest, self.catchup_limit)

    def _push(self, name: str, tracked: _Tracked, slot: datetime | None) -> None:
        pending = self._pending(name, tracked, slot)
        if pending is not None:
            heapq.heappush(self._heap, pending)

    @staticmethod
    def _pending(name: str, tracked: _Tracked, slot: datetime | None) -> _Pending | None:
        tracked.next = slot
        if slot is None:
            return None
        # Without jitter the slot is its own publish time: one datetime, not two.
        return (slot + tracked.jitter if tracked.jitter else slot, name, tracked)

    def load(self, entries: Iterable[Entry], *, now: datetime, last_scheduled: dict[str, datetime]) -> None:
        """Add many entries with their recorded last slots (one heapify, not a push each)."""
        for entry in entries:
            pending = self._track(entry, now, last_scheduled.get(entry.name))
            if pending is not None:
                self._heap.append(pending)
        heapq.heapify(self._heap)
