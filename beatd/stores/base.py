"""The entry store contract: where entries come from, read in full once, then only what changed."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from beatd.entry import Entry
from beatd.state.base import RunRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryChanges:
    """What changed in a store since the previous `load` or `changes` call.

    A name appears at most once, in one of the two lists. Apply `deleted` first, then
    `upserted`: an upserted entry is new or replaces the entry of the same name.
    """

    upserted: list[Entry] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.upserted or self.deleted)


class EntryStore(ABC):
    """A source of entries that can say cheaply what changed (YAML files, a SQL table, Django models).

    The store keeps a cursor: the point in its history that its caller has seen. `load`
    sets it to "now"; `changes` reports what happened after it and moves it on. A store
    is used by one thread at a time.

    Entries whose stored form does not validate are never returned; the store logs one
    error line per such row, naming where it is and what is wrong, exactly as a YAML file
    with that entry would be reported. In `changes`, such an entry is neither upserted nor
    deleted: the caller keeps the version it has, as a failed reload of a YAML file keeps
    the running configuration.
    """

    @abstractmethod
    def load(self) -> list[Entry]:
        """Every valid entry: a full snapshot. Sets the cursor to the snapshot.

        Raises:
            BackendUnavailable: the store cannot be read now; the cursor is unchanged.
            ConfigError: the store cannot be used as configured (tables missing or written
                by a newer beatd); the message says what to do.
        """

    @abstractmethod
    def changes(self) -> EntryChanges:
        """What was added, changed or deleted since the cursor, then move the cursor past it.

        Only entries written after the cursor are returned, so the work is proportional to
        the number of changes, not to the number of entries; when nothing changed the call
        costs one small query. An upserted entry may equal the one the caller has (a row
        rewritten with the same values); `deleted` names only entries this store returned
        before. Before the first successful `load`, `changes` loads and returns every
        entry as upserted. Callers poll it; once a second is what the daemon does.

        Raises:
            BackendUnavailable: the store cannot be read now; the cursor is unchanged, so
                the next successful call returns everything that happened meanwhile.
        """

    @property
    def invalid(self) -> dict[str, str]:
        """Entries the last reads skipped because they do not validate: name -> message (none by default)."""
        return {}

    def last_runs(self) -> dict[str, datetime]:
        """The last run the store itself knows for its entries, by name (aware instants).

        The daemon calls it when it becomes leader and takes these for entries the state
        store has no run of (or an older one), so that a store that kept last runs before
        beatd did (django-celery-beat's `last_run_at`) runs nothing twice at the switch.
        Reads nothing: the values come from the last `load`/`changes`. Default: none.
        """
        return {}

    def runs_published(self, records: Sequence[RunRecord]) -> None:
        """Told by the leader, after the state store recorded them, which runs were published.

        `records` holds the newest run of each entry in that write (entries of other
        stores too: ignore names you did not return). A store that shows last runs to
        its users (django-celery-beat's admin) writes them back. Must not raise for a
        write that fails: log it and retry later. Default: nothing.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is not used afterwards."""
