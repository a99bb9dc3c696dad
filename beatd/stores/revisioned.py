"""The revision-cursor reading of the entry tables, shared by every way of reading them (SQLAlchemy, Django's ORM).

beatd.stores.sql's docstring explains the tables and why reading by revision misses
nothing; this module is that algorithm, written once. A subclass says how to read the
counter and the rows; here they become entries, with the same validation and messages.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from beatd import config
from beatd.entry import Entry, Source
from beatd.errors import BackendUnavailable, ConfigError
from beatd.gcpause import garbage_collection_paused
from beatd.stores.base import EntryChanges, EntryStore
from beatd.stores.conversion import COLUMN_OF_KEY, ENTRIES_TABLE, entry_of_mapping, mapping_of_row

# One beatd_entries row: its columns by name (id, name, kind, the YAML keys' columns...);
# Any keys, as SQLAlchemy's RowMapping also takes Column objects.
StoredRow = Mapping[Any, Any]
# Turns one row into its Entry as the row is read; None for a row that does not validate.
RowToEntry = Callable[[StoredRow], Entry | None]
# The migration this code reads; tests check it is the migrations' head.
SCHEMA_REVISION = "b0002"
# Older revisions this code knows about (a store at one of them needs upgrading).
OLDER_SCHEMA_REVISIONS: tuple[str, ...] = ("b0001",)


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """What was written after a cursor: the counter's value (head), the rows and the deleted names up to it.

    A head below the cursor (tables recreated, a backup restored) comes with no rows.
    """

    head: int
    rows: Sequence[StoredRow]
    gone: Sequence[str]


@dataclass(slots=True)
class _Snapshot:
    """What the caller has been handed: the cursor, and the names it holds or that failed."""

    cursor: int
    known: set[str] = field(default_factory=set)


def check_schema_revision(version: str | None, where: str, upgrade: str) -> None:
    """Refuse tables that are missing or at another revision than this beatd's; `upgrade` says how to upgrade.

    Raises:
        ConfigError: what is wrong and what to run.
    """
    if version is None:
        raise ConfigError(f"entry store {where}: the entry tables do not exist; {upgrade}")
    if version in OLDER_SCHEMA_REVISIONS:
        raise ConfigError(f"entry store {where}: the entry tables are at schema revision {version}, "
                          f"this beatd needs {SCHEMA_REVISION}; {upgrade}")
    if version != SCHEMA_REVISION:
        raise ConfigError(f"entry store {where}: the entry tables are at schema revision {version!r}, "
                          f"which this beatd does not know: a newer beatd has upgraded them. Upgrade beatd")


def lost_counter(where: str, *, startup: bool) -> ConfigError | BackendUnavailable:
    """The error for a counter table without its row; while running, one the daemon waits out."""
    message = (f"entry store {where}: table beatd_entries_revision has lost its row; restore it with: "
               f"INSERT INTO beatd_entries_revision (id, revision) "
               f"SELECT 1, COALESCE(MAX(revision), 0) FROM {ENTRIES_TABLE}")
    return ConfigError(message) if startup else BackendUnavailable(message)


class RevisionedEntryStore(EntryStore):
    """An EntryStore over beatd_entries that reads everything once, then only rows past its cursor.

    Subclasses set `where` (shown in messages) and `default_zone`, and implement the two reads.
    """

    where: str
    default_zone: tzinfo
    log: logging.Logger

    def __init__(self) -> None:
        self._snapshot: _Snapshot | None = None
        self._invalid: dict[str, str] = {}

    @abstractmethod
    def _read_all(self, entry_of_row: RowToEntry) -> tuple[int, list[Entry]]:
        """The counter, then every row (read in that order), each turned into its entry as it arrives.

        Rows are read in batches and dropped once converted, so a million of them are
        never in memory at once, only their entries. A read that is retried starts
        again with an empty list.

        Raises:
            ConfigError: the tables are missing, of another revision, or the counter lost its row.
            BackendUnavailable: the database cannot be read now.
        """

    @abstractmethod
    def _read_window(self, cursor: int) -> Window | None:
        """The counter, then the rows and tombstones with cursor < revision <= counter; None if the counter is the cursor.

        Raises:
            BackendUnavailable: the database cannot be read now, or the counter lost its row.
        """

    @property
    def invalid(self) -> dict[str, str]:
        """Rows skipped by the last reads because they do not validate: entry name -> message."""
        return dict(self._invalid)

    def load(self) -> list[Entry]:
        self._invalid = {}
        with garbage_collection_paused():
            head, entries = self._read_all(self._entry_or_none)
        self._snapshot = _Snapshot(cursor=head, known={entry.name for entry in entries})
        return entries

    def changes(self) -> EntryChanges:
        snapshot = self._snapshot
        if snapshot is None:
            return EntryChanges(upserted=self.load())
        window = self._read_window(snapshot.cursor)
        if window is None:
            return EntryChanges()
        if window.head < snapshot.cursor:
            return self._resynchronise(snapshot, window.head)
        upserted = []
        for row in window.rows:
            entry = self._entry_or_none(row)
            if entry is not None:
                upserted.append(entry)
        upserted_names = {entry.name for entry in upserted}
        deleted = [name for name in dict.fromkeys(window.gone) if name not in upserted_names and name in snapshot.known]
        present = {row["name"] for row in window.rows}
        for name in window.gone:
            if name not in present:
                self._invalid.pop(name, None)
        snapshot.known.difference_update(deleted)
        snapshot.known.update(upserted_names)
        snapshot.cursor = window.head
        return EntryChanges(upserted=upserted, deleted=deleted)

    def _resynchronise(self, snapshot: _Snapshot, head: int) -> EntryChanges:
        """The counter went back (tables recreated, a backup restored): compare a full snapshot."""
        self.log.warning("entry store %s: revision %d is below the %d already seen (tables recreated or restored?); "
                    "reading every entry again", self.where, head, snapshot.cursor)
        known = snapshot.known
        entries = self.load()
        # Names handed out before whose rows are now invalid keep their last good version.
        kept = known & set(self._invalid)
        if self._snapshot is not None:
            self._snapshot.known |= kept
        current = {entry.name for entry in entries} | kept
        return EntryChanges(upserted=entries, deleted=sorted(known - current))

    def _entry_or_none(self, row: StoredRow) -> Entry | None:
        """The row's Entry; None, with an error logged once per revision, if it does not validate."""
        try:
            entry = self.entry_of(row["id"], row["name"], row["kind"], mapping_of_row(row))
        except ConfigError as exc:
            self._invalid[row["name"]] = str(exc)
            self.log.error("entry store %s: %s; the row is skipped (a version loaded before, if any, is kept)",
                      self.where, exc)
            return None
        self._invalid.pop(row["name"], None)
        return entry

    def entry_of(self, row_id: int, name: str, kind: str, mapping: Mapping[str, Any]) -> Entry:
        """The Entry of a row's keys. Raises ConfigError naming the table, the row id and the entry.

        Its source is `beatd_entries:<row id>`, in the file:line form of YAML entries.
        """
        try:
            entry = entry_of_mapping(name, mapping, self.default_zone, Source(path=ENTRIES_TABLE, line=row_id))
            schedule_key = next(key for key in config.SCHEDULE_KEYS if key in mapping)
            if kind != schedule_key:
                raise ValueError(f"kind {kind!r} does not match the schedule column that is set "
                                 f"({COLUMN_OF_KEY.get(schedule_key, schedule_key)}); set kind to {schedule_key!r}")
        except ValueError as exc:
            raise ConfigError(f"{ENTRIES_TABLE} id {row_id}: entry {name!r}: {exc}") from exc
        return entry
