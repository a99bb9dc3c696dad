"""Entry stores: where entries come from besides the YAML file (a SQL table, Django models, django-celery-beat's tables), read incrementally."""

from __future__ import annotations

from datetime import tzinfo

from beatd.errors import ConfigError
from beatd.stores.base import EntryChanges, EntryStore

__all__ = ["EntryChanges", "EntryStore", "open_entry_store"]


def open_entry_store(kind: str, target: str, *, default_zone: tzinfo) -> EntryStore:
    """The store a `stores:` item names; nothing is read until the daemon polls it.

    Raises:
        ConfigError: a kind this beatd cannot open.
    """
    if kind == "sql":
        from beatd.stores.sql import SqlEntryStore

        return SqlEntryStore(target, default_zone=default_zone)
    if kind == "django":
        from beatd.stores.django import DjangoEntryStore

        return DjangoEntryStore(target, default_zone=default_zone)
    if kind == "django_celery_beat":
        from beatd.stores.django_celery_beat import DjangoCeleryBeatStore

        return DjangoCeleryBeatStore(target, default_zone=default_zone)
    raise ConfigError(f"entry store {kind!r} is not available in this version; use sql, django or django_celery_beat")
