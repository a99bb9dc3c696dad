"""Publish one run of some entries now, outside their schedules: `beatd trigger` and the admin's "run now"."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from beatd.entry import Entry, Fire
from beatd.publish import build_message, open_transport


def publish_now(entries: Iterable[Entry], broker: str, *, origin: str, now: datetime | None = None) -> list[Fire]:
    """Publish one run of each entry, scheduled at now; no state is read or changed.

    Raises:
        BeatdError: the broker URL is unusable or the broker unreachable; nothing more is sent.
    """
    now = now or datetime.now(UTC)
    fires = [Fire(entry=entry, scheduled_at=now, publish_at=now) for entry in entries]
    with open_transport(broker) as transport:
        transport.publish([build_message(fire, origin, now) for fire in fires])
    return fires
