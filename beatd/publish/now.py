"""Publish one run of some entries now, outside their schedules: `beatd trigger` and the admin's "run now"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from beatd.entry import Entry, Fire
from beatd.errors import BeatdError
from beatd.publish import MessageBuilder, open_transport


def publish_now(entries: Iterable[Entry], broker: str, *, origin: str, now: datetime | None = None,
                transport_options: Mapping[str, Any] | None = None) -> list[Fire]:
    """Publish one run of each entry, scheduled at now; no state is read or changed.

    The runs are manual: on Redis the high-water mark neither holds them back nor moves.

    Raises:
        BeatdError: the broker URL is unusable or the broker unreachable (nothing more is
            sent), or the broker refused some of the runs (the message names them and
            why; the others were published).
    """
    now = now or datetime.now(UTC)
    fires = [Fire(entry=entry, scheduled_at=now, publish_at=now) for entry in entries]
    builder = MessageBuilder(origin)
    with open_transport(broker, transport_options=transport_options) as transport:
        result = transport.publish([builder.build(fire, now, manual=True) for fire in fires])
    if result.refused:
        refusals = "; ".join(f"entry {fires[index].entry.name!r}: {reason}" for index, reason in sorted(result.refused.items()))
        published = len(fires) - len(result.refused)
        raise BeatdError(f"broker refused {len(result.refused)} of {len(fires)} runs ({published} published): {refusals}")
    return fires
