"""The entries `beatd run` schedules for a config: its file's and includes', then every entry store's.

The running daemon keeps them in an `EntryCatalog`, which polls the stores opened by
`open_entry_stores` and says what each edit added, changed and removed; `next`, `check`,
`status` and `trigger` read the same stores once, through `read_catalog`, so every
command agrees with the daemon about which entries exist. A name defined in two places
is the first one's, in that order (file first, then the stores as `stores:` lists
them), which is also what the daemon keeps.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from beatd.config import Config
from beatd.daemon.backoff import Backoff
from beatd.entry import Entry
from beatd.errors import BackendUnavailable, BeatdError, ConfigError
from beatd.stores import EntryChanges, EntryStore

if TYPE_CHECKING:
    from beatd.state import RunRecord

log = logging.getLogger("beatd")

# How often entry stores are asked what changed: edits apply within half a second.
STORE_POLL_S = 0.5


def open_entry_store(kind: str, target: str, *, default_zone: tzinfo) -> EntryStore:
    """The store a `stores:` item names; nothing is read until the daemon polls it.

    Each kind is imported only when named, so a config without Django stores never
    imports Django.

    Raises:
        ConfigError: a kind this beatd cannot open.
    """
    if kind == "sql":
        from beatd.stores.sql import SqlEntryStore

        return SqlEntryStore(target, default_zone=default_zone)
    if kind == "django":
        from beatd.contrib.django.store import DjangoEntryStore

        return DjangoEntryStore(target, default_zone=default_zone)
    if kind == "django_celery_beat":
        from beatd.stores.django_celery_beat import DjangoCeleryBeatStore

        return DjangoCeleryBeatStore(target, default_zone=default_zone)
    raise ConfigError(f"entry store {kind!r} is not available in this version; use sql, django or django_celery_beat")


def open_entry_stores(config: Config) -> list[EntryStore]:
    """The entry stores `stores:` names, opened (nothing is read yet), in their order.

    Raises:
        ConfigError: a store cannot be opened as configured; `file: stores: reason`.
    """
    stores: list[EntryStore] = []
    try:
        for kind, target in config.stores:
            stores.append(open_entry_store(kind, target, default_zone=config.timezone))
    except BeatdError as exc:
        for store in stores:
            store.close()
        raise ConfigError(f"{config.place}: stores: {exc}") from exc
    return stores


def store_label(store: EntryStore) -> str:
    """How logs and commands name a store: `store sql postgresql://beatd@db/beatd` (no password)."""
    return f"store {store}"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreReading:
    """What reading one store gave: its entries, the rows it skipped, or why it could not be read."""

    label: str
    entries: tuple[Entry, ...] = ()
    # Rows that do not validate, which the daemon skips too: entry name -> message.
    invalid: dict[str, str] = field(default_factory=dict)
    # None when read; otherwise the reason, e.g. "... is unavailable: connection refused".
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    """The entries a daemon started now would schedule, where each comes from, and what each store said."""

    entries: tuple[Entry, ...]
    # Entry name -> where it is defined: `schedules/a.yaml:12` or `store sql URL beatd_entries id 3`.
    origins: dict[str, str]
    stores: tuple[StoreReading, ...]
    # Names defined twice: one message per later definition, which is ignored.
    conflicts: tuple[str, ...] = ()

    def entry(self, name: str) -> Entry | None:
        """The entry of that name, or None."""
        return next((entry for entry in self.entries if entry.name == name), None)

    def unreadable(self) -> list[StoreReading]:
        """The stores that could not be read: their entries are missing from this catalogue."""
        return [reading for reading in self.stores if reading.error is not None]


def read_catalog(config: Config) -> Catalog:
    """Read every store once and merge its entries with the config file's.

    A store that cannot be read is reported in `stores` with its error; this never raises
    for it, so each command decides what an unreadable store means to it.

    Raises:
        ConfigError: a store cannot be opened as configured.
    """
    entries = list(config.entries)
    origins = {entry.name: str(entry.source or config.place) for entry in entries}
    readings, conflicts = [], []
    for store in open_entry_stores(config):
        reading = _read_store(store)
        readings.append(reading)
        for entry in reading.entries:
            origin = f"{reading.label} {_row_of(entry)}".rstrip()
            if entry.name in origins:
                conflicts.append(f"entry {entry.name!r} from {origin} is also defined in {origins[entry.name]}; "
                                 "the daemon keeps that one")
                continue
            origins[entry.name] = origin
            entries.append(entry)
    return Catalog(entries=tuple(entries), origins=origins, stores=tuple(readings), conflicts=tuple(conflicts))


def _read_store(store: EntryStore) -> StoreReading:
    label = store_label(store)
    with contextlib.closing(store):
        try:
            entries = store.load()
        except (BackendUnavailable, ConfigError) as exc:
            return StoreReading(label=label, error=str(exc))
        return StoreReading(label=label, entries=tuple(entries), invalid=store.invalid)


def _row_of(entry: Entry) -> str:
    """Where in its store an entry is: `beatd_entries id 3` (a store's Source is table:row id)."""
    source = entry.source
    return "" if source is None else f"{source.path} id {source.line}"


@dataclass(frozen=True, slots=True)
class CatalogChange:
    """What one edit of a running catalogue did: entries added, changed (old and new version), removed."""

    added: list[Entry]
    changed: list[tuple[Entry, Entry]]
    removed: list[str]

    def touched(self) -> list[str]:
        """The names of the changed and removed entries: what ran before in another form."""
        return [*(new.name for _, new in self.changed), *self.removed]


class EntryCatalog:
    """The entries a running daemon schedules: the config file's and each store's, each name owned by one place.

    A name belongs to whoever defined it first (the file at start, else the first store
    to send it); a later definition elsewhere is logged and ignored. Each edit (a reload,
    a store's changes) says what it added, changed and removed, so the loop's work
    follows the number of changes, not of entries.
    """

    def __init__(self, config: Config, stores: Sequence[EntryStore] = ()) -> None:
        self.place = config.place
        self.stores = tuple(stores)
        # Entries by name: the config file's, then each store's (a name may come from one place only).
        self.entries: dict[str, Entry] = {entry.name: entry for entry in config.entries}
        # The store each store-provided entry came from; every other entry is the file's.
        self._store_of: dict[str, str] = {}
        self._poll_at = 0.0
        self._backoff = Backoff("entry store")

    def owner(self, name: str) -> str | None:
        """Where the entry of this name was defined: a store, or a place in the config files."""
        if name in self._store_of:
            return self._store_of[name]
        entry = self.entries.get(name)
        return None if entry is None else str(entry.source or self.place)

    def reload(self, config: Config) -> CatalogChange:
        """Take the file's entries from a reloaded config; the stores' entries stay theirs."""
        in_file = {entry.name for entry in config.entries}
        removed = [name for name in self.entries if name not in self._store_of and name not in in_file]
        upserted = []
        for entry in config.entries:
            store = self._store_of.get(entry.name)
            if store is not None:
                log.error("config reload: entry %r at %s is also defined in %s; keeping that one",
                          entry.name, entry.source, store)
                continue
            upserted.append(entry)
        self.place = config.place
        return self._apply(upserted, removed, "config reloaded")

    def poll(self, monotonic_now: float) -> list[CatalogChange]:
        """What changed in the entry stores, asked at most every STORE_POLL_S (one cheap query each)."""
        if not self.stores or monotonic_now < self._poll_at or not self._backoff.ready(monotonic_now):
            return []
        self._poll_at = monotonic_now + STORE_POLL_S
        applied: list[CatalogChange] = []
        for store in self.stores:
            try:
                changes = store.changes()
            except BackendUnavailable as exc:
                self._backoff.failed(monotonic_now, exc)
                return applied
            if changes:
                applied.append(self._apply_store_changes(store_label(store), changes))
        self._backoff.succeeded(monotonic_now)
        return applied

    def next_poll_at(self) -> float | None:
        """When (monotonic) the stores are next asked; None without stores."""
        return max(self._poll_at, self._backoff.retry_at) if self.stores else None

    def last_scheduled(self, records: dict[str, RunRecord]) -> dict[str, datetime]:
        """Each entry's last run: the state store's, or the store's own when that is newer (a switch from DCB)."""
        last = {name: record.scheduled_at for name, record in records.items()}
        for store in self.stores:
            for name, at in store.last_runs().items():
                if name not in last or at > last[name]:
                    last[name] = at
        return last

    def runs_published(self, records: Iterable[RunRecord]) -> None:
        """Let the entry stores know what was published and recorded (DCB's admin shows last runs)."""
        if not self.stores:
            return
        recorded = list(records)
        for store in self.stores:
            store.runs_published(recorded)

    def close(self) -> None:
        for store in self.stores:
            store.close()

    def _apply_store_changes(self, origin: str, changes: EntryChanges) -> CatalogChange:
        removed = [name for name in changes.deleted if self._store_of.get(name) == origin]
        for name in removed:
            del self._store_of[name]
        upserted = []
        for entry in changes.upserted:
            owner = self.owner(entry.name)
            if owner is not None and owner != origin:
                log.error("entry %r from %s is also defined in %s; keeping that one", entry.name, origin, owner)
                continue
            self._store_of[entry.name] = origin
            upserted.append(entry)
        return self._apply(upserted, removed, "entry stores changed")

    def _apply(self, upserted: list[Entry], removed: list[str], what: str) -> CatalogChange:
        """Put upserted entries in place and drop removed ones; what actually changed is returned and logged."""
        entries = self.entries
        added = [entry for entry in upserted if entry.name not in entries]
        changed = [(entries[entry.name], entry) for entry in upserted
                   if entry.name in entries and not _same_entry(entries[entry.name], entry)]
        removed = [name for name in removed if name in entries]
        for entry in upserted:
            entries[entry.name] = entry
        for name in removed:
            del entries[name]
        log.info("%s: %d added, %d changed, %d removed, %d unchanged",
                 what, len(added), len(changed), len(removed), len(entries) - len(added) - len(changed))
        return CatalogChange(added=added, changed=changed, removed=removed)


def _same_entry(old: Entry, new: Entry) -> bool:
    """Whether an edit left an entry as it was; moving it in the file does not change it."""
    return replace(old, source=None) == replace(new, source=None)
