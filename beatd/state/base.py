"""The state store contract: what was last sent for each entry, fenced by the leader's token."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

# Bump when the persisted layout changes; stores refuse data written by a newer layout.
STATE_FORMAT_VERSION = 1


@dataclass(slots=True, kw_only=True)
class RunRecord:
    """The newest run of one entry that was published and recorded.

    scheduled_at and sent_at are aware UTC instants; run_count counts every run ever
    recorded for the entry (the engine adds to the count it loaded). Not frozen: one
    is made per published run, and a frozen dataclass costs four times as much to create.
    """

    entry: str
    scheduled_at: datetime
    sent_at: datetime
    run_count: int


class StateStore(ABC):
    """Persists RunRecords, durable once `record` returns, across kill -9.

    Fencing: the store remembers the highest lease token that ever wrote to it. `record`
    with a token lower than that raises LeaseLost and writes nothing, so a deposed leader
    cannot overwrite its successor's state. A write with a token at least as high is
    accepted and raises the remembered token to it. Token 0 is what a single instance
    without leader election uses.
    """

    @abstractmethod
    def load(self) -> dict[str, RunRecord]:
        """Every recorded entry's newest run, by entry name.

        Raises:
            BackendUnavailable: the store cannot be reached.
        """

    @abstractmethod
    def record(self, records: Iterable[RunRecord], token: int) -> None:
        """Upsert these records atomically (all or none) under the lease token.

        A record never moves an entry's scheduled_at backwards.

        Raises:
            LeaseLost: a newer token has written; nothing was written.
            BackendUnavailable: the store cannot be reached; nothing was written.
        """

    @abstractmethod
    def forget(self, entry_names: Iterable[str], token: int) -> None:
        """Drop the records of entries that no longer exist (fenced like `record`)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
