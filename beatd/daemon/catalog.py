"""The entries `beatd run` schedules for a config: its file's and includes', then every entry store's.

`run` opens the stores with `open_entry_stores` and the daemon reads them as it goes;
`next`, `check`, `status` and `trigger` read the same stores once, through
`read_catalog`, so every command agrees with the daemon about which entries exist.
A name defined in two places is the first one's, in that order (file first, then the
stores as `stores:` lists them), which is also what the daemon keeps.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import tzinfo

from beatd.config import Config
from beatd.entry import Entry
from beatd.errors import BackendUnavailable, BeatdError, ConfigError
from beatd.stores import EntryStore


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
