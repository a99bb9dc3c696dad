"""Where a time zone's UTC offset changes, found by probing, so wall-clock math can cut time into segments."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

# No zone in the IANA database changes its offset twice within six hours, so probing
# every six hours finds every transition; bisection then pins it to the second.
_PROBE_STEP = timedelta(hours=6)
_ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Transition:
    """The instant (UTC) a zone's offset changes, with the offsets on either side."""

    at: datetime
    offset_before: timedelta
    offset_after: timedelta


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of real time over which a zone keeps one UTC offset.

    `end` is exclusive. A segment may end at a pseudo transition (same offset on both
    sides) when the real one is further away than the cached window; walking on from
    there is still correct, only a little slower.
    """

    start: datetime
    end: datetime
    offset: timedelta
    previous_offset: timedelta
    next_offset: timedelta


def utc_offset(zone: tzinfo, instant: datetime) -> timedelta:
    """The zone's offset at an aware instant."""
    # astimezone always yields an offset; `or` only narrows the Optional for the type checker
    return instant.astimezone(zone).utcoffset() or timedelta(0)


@lru_cache(maxsize=4096)
def transitions_in_year(zone: tzinfo, year: int) -> tuple[Transition, ...]:
    """Every offset change of the zone during one UTC calendar year."""
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    found = []
    probe, probe_offset = start, utc_offset(zone, start)
    while probe < end:
        following = min(probe + _PROBE_STEP, end)
        following_offset = utc_offset(zone, following)
        if following_offset != probe_offset:
            found.append(_pin_transition(zone, probe, following))
        probe, probe_offset = following, following_offset
    return tuple(found)


def _pin_transition(zone: tzinfo, before: datetime, after: datetime) -> Transition:
    """Bisect [before, after) down to the first second that has the later offset."""
    offset_before = utc_offset(zone, before)
    while after - before > _ONE_SECOND:
        middle = before + (after - before) // 2
        middle = middle.replace(microsecond=0)
        if utc_offset(zone, middle) == offset_before:
            before = middle
        else:
            after = middle
    return Transition(at=after, offset_before=offset_before, offset_after=utc_offset(zone, after))


@lru_cache(maxsize=4096)
def _segments(zone: tzinfo, year: int) -> tuple[tuple[datetime, ...], tuple[Segment, ...]]:
    """The segments covering the years around `year`, with their starts ready for bisection.

    Cached per (zone, year) so the hot path of a schedule only bisects; the first and
    last segments end at pseudo transitions on the window's edges.
    """
    window_start = datetime(year - 1, 1, 1, tzinfo=UTC)
    window_end = datetime(year + 2, 1, 1, tzinfo=UTC)
    changes = transitions_in_year(zone, year - 1) + transitions_in_year(zone, year) + transitions_in_year(zone, year + 1)
    first_offset = utc_offset(zone, window_start)
    edges = [Transition(at=window_start, offset_before=first_offset, offset_after=first_offset), *changes]
    segments = []
    for index, edge in enumerate(edges):
        following = edges[index + 1] if index + 1 < len(edges) else None
        segments.append(Segment(
            start=edge.at,
            end=following.at if following else window_end,
            offset=edge.offset_after,
            previous_offset=edge.offset_before,
            next_offset=following.offset_after if following else edge.offset_after,
        ))
    return tuple(segment.start for segment in segments), tuple(segments)


def segment_at(zone: tzinfo, instant: datetime) -> Segment:
    """The segment of constant offset that contains the aware instant."""
    starts, segments = _segments(zone, instant.astimezone(UTC).year)
    return segments[bisect.bisect_right(starts, instant) - 1]
