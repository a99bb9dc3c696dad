"""The state store contract: what was last sent for each entry, fenced by the leader's token."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from beatd.entry import MAX_ENTRY_NAME_CHARS
from beatd.errors import ConfigError, LeaseLost

# Bump when the persisted layout changes; stores refuse data written by a newer layout.
STATE_FORMAT_VERSION = 1
# Tokens live in BIGINT columns.
MAX_TOKEN = 2**63 - 1


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


@dataclass(slots=True, kw_only=True)
class EntryFault:
    """Why one entry's runs are held back: what failed, since when, how often tried.

    reason is a short word for metrics and tables ("message", "broker", "record");
    detail is the error as an operator reads it. since is an aware UTC instant.
    """

    entry: str
    reason: str
    detail: str
    since: datetime
    attempts: int


class StateStore(ABC):
    """Persists RunRecords, durable once `record` returns, across kill -9.

    Fencing: the store remembers the highest lease token that ever wrote to it. `record`
    with a token lower than that raises LeaseLost and writes nothing, so a deposed leader
    cannot overwrite its successor's state. A write with a token at least as high is
    accepted and raises the remembered token to it. Token 0 is what a single instance
    without leader election uses.

    A backend sets `_where` (its name for messages, without a password) and writes what
    `record`, `forget` and `record_faults` have checked through `_write_records`,
    `_drop_entries` and `_write_faults`.
    """

    _where: str

    @abstractmethod
    def load(self) -> dict[str, RunRecord]:
        """Every recorded entry's newest run, by entry name.

        Raises:
            BackendUnavailable: the store cannot be reached.
        """

    def record(self, records: Iterable[RunRecord], token: int) -> None:
        """Upsert these records atomically (all or none) under the lease token.

        A record never moves an entry's scheduled_at backwards.

        Raises:
            LeaseLost: a newer token has written; nothing was written.
            BackendUnavailable: the store cannot be reached; nothing was written.
            ConfigError, ValueError: a record or the token is invalid (see newest_per_entry
                and check_token); nothing was written.
        """
        newest = newest_per_entry(records)
        check_token(token)
        self._write_records(newest, token)

    def forget(self, entry_names: Iterable[str], token: int) -> None:
        """Drop the records and faults of entries that no longer exist (fenced like `record`)."""
        names = list(dict.fromkeys(entry_names))
        check_token(token)
        self._drop_entries(names, token)

    @abstractmethod
    def load_faults(self) -> dict[str, EntryFault]:
        """The entries the leader holds back, by name, as it last wrote them (for `beatd status`).

        Raises:
            BackendUnavailable: the store cannot be reached.
        """

    def record_faults(self, failing: Iterable[EntryFault], recovered: Iterable[str], token: int) -> None:
        """Upsert the faults of failing entries and drop those of recovered ones (fenced like `record`)."""
        faults, names = list(failing), list(dict.fromkeys(recovered))
        check_token(token)
        self._write_faults(faults, names, token)

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    @abstractmethod
    def _write_records(self, records: Sequence[RunRecord], token: int) -> None:
        """`record`, with one record per entry and the token checked."""

    @abstractmethod
    def _drop_entries(self, entry_names: Sequence[str], token: int) -> None:
        """`forget`, with each name once and the token checked."""

    @abstractmethod
    def _write_faults(self, failing: Sequence[EntryFault], recovered: Sequence[str], token: int) -> None:
        """`record_faults`, with each recovered name once and the token checked."""

    def _check_format(self, version: int | str | bytes | None) -> None:
        """Refuse a store that a newer beatd wrote; version as stored (a number or its digits), None when unset.

        Raises:
            ConfigError: the version is higher than STATE_FORMAT_VERSION.
        """
        if version is not None and int(version) > STATE_FORMAT_VERSION:
            raise self._newer_format(int(version))

    def _newer_format(self, version: int) -> ConfigError:
        """The error for a store written by a newer beatd (a higher STATE_FORMAT_VERSION)."""
        return ConfigError(
            f"state store {self._where} holds state format version {version}, but this beatd reads "
            f"versions up to {STATE_FORMAT_VERSION}: a newer beatd has written it. Upgrade beatd, "
            "or point `state:` at another database"
        )

    def _fenced_off(self, token: int, newer_token: int | str) -> LeaseLost:
        """The error for a write under token after newer_token has written."""
        return LeaseLost(
            f"state store {self._where}: lease token {token} is fenced off, token "
            f"{newer_token} has written since; nothing was written"
        )

    @contextmanager
    def _closed_on_error(self) -> Iterator[None]:
        """Close the store if the block raises: for constructors, whose caller gets no store to close."""
        try:
            yield
        except BaseException:
            self.close()
            raise


def check_token(token: int) -> None:
    """Refuse a lease token no store can hold (tokens live in BIGINT columns)."""
    if isinstance(token, bool) or not isinstance(token, int) or not 0 <= token <= MAX_TOKEN:
        raise ValueError(f"lease token {token!r} is not an integer from 0 to {MAX_TOKEN}")


def newest_per_entry(records: Iterable[RunRecord]) -> Sequence[RunRecord]:
    """One record per entry (the one with the latest scheduled_at, the later on a tie), checked.

    A batch naming an entry twice would otherwise make PostgreSQL refuse the upsert
    ("cannot affect row a second time") and leave the outcome to row order elsewhere.

    Raises:
        ConfigError: an entry name is longer than any store keeps.
        ValueError: a record holds a naive instant or a negative run count.
    """
    newest: dict[str, RunRecord] = {}
    for run in records:
        if len(run.entry) > MAX_ENTRY_NAME_CHARS:
            raise ConfigError(
                f"entry name {run.entry[:40]!r}... is {len(run.entry)} characters long; state "
                f"stores keep names of up to {MAX_ENTRY_NAME_CHARS}"
            )
        for instant in (run.scheduled_at, run.sent_at):
            if instant.tzinfo is None or instant.utcoffset() is None:
                raise ValueError(f"entry {run.entry!r}: instant {instant!r} is naive; record aware datetimes")
        if run.run_count < 0:
            raise ValueError(f"entry {run.entry!r}: run_count {run.run_count!r} is negative")
        held = newest.get(run.entry)
        if held is None or run.scheduled_at >= held.scheduled_at:
            newest[run.entry] = run
    return list(newest.values())
