"""The `django` entry store: entries from a Django project's database, read through this app's models, incrementally by revision.

The models sit on the SQL store's tables, whose triggers stamp a revision on every write
by anyone (admin, `QuerySet.update()`, raw SQL), so this store reads them with the same
algorithm as the SQL store (beatd.stores.revisioned); only the reads differ. They go
through Django's connection for the models' database (its routers, its settings), in
Django's default autocommit mode, so each query sees what was committed before it.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, tzinfo
from typing import TypeVar

from beatd.entry import Entry
from beatd.errors import BackendUnavailable, ConfigError
from beatd.sqlhelpers import driver_reason
from beatd.stores.revisioned import RevisionedEntryStore, RowToEntry, Window, check_schema_revision, lost_counter

APP = "beatd.contrib.django"
# Rows per fetch when reading every entry: Django streams them (a server-side cursor on
# PostgreSQL), so a big table is never in memory at once, only its entries.
_ROWS_PER_FETCH = 10_000
_T = TypeVar("_T")


def setup_django(settings_module: str) -> None:
    """Make Django usable with settings_module (once per process) and check beatd's app is installed.

    A process that has Django set up already (`manage.py beatd run`, a test) must use the
    same settings module. Settings are imported as `python manage.py` would import them:
    the current directory is searched too.

    Raises:
        ConfigError: Django is missing, the settings cannot be imported or are not
            usable, they are not the ones already in use, or lack the app.
    """
    try:
        import django
        from django.apps import apps
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError as exc:
        raise ConfigError(f"the django store needs Django: pip install 'beatd[django]' ({exc})") from exc
    if settings.configured:
        current = getattr(settings, "SETTINGS_MODULE", None)  # None for settings.configure()
        if current != settings_module:
            raise ConfigError(f"Django is already set up with settings {current!r} in this process, "
                              f"not {settings_module!r}")
    if not apps.ready:
        os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
        if os.getcwd() not in sys.path:
            sys.path.append(os.getcwd())
        try:
            django.setup()
        except ImportError as exc:
            raise ConfigError(f"cannot import Django settings {settings_module!r} ({exc}); run beatd in the directory "
                              "of manage.py, or put that directory on PYTHONPATH") from exc
        except ImproperlyConfigured as exc:
            raise ConfigError(f"Django settings {settings_module!r}: {exc}") from exc
    if not apps.is_installed(APP):
        raise ConfigError(f"Django settings {settings_module!r}: add {APP!r} to INSTALLED_APPS "
                          "and run: python manage.py migrate")


class DjangoEntryStore(RevisionedEntryStore):
    """An EntryStore reading beatd_entries through Django's ORM, with the SQL store's revision cursor.

    Opening sets Django up (see `setup_django`) but does not connect: `load` does. A read
    that fails on a connection the server dropped is retried once on a fresh connection
    before it reports BackendUnavailable. Writes are the models' business (the admin).
    """

    log = logging.getLogger("beatd.contrib.django.store")

    def __init__(self, settings_module: str, *, default_zone: tzinfo = UTC) -> None:
        super().__init__()
        setup_django(settings_module)
        from django.db import router

        from beatd.contrib.django.models import EntriesRevision, Entry, EntryTombstone

        self._entries, self._tombstones, self._revision = Entry, EntryTombstone, EntriesRevision
        self._alias = router.db_for_read(Entry)
        self.where = f"django {settings_module} database {self._alias!r}"
        self.default_zone = default_zone
        self._schema_checked = False

    def __repr__(self) -> str:
        return f"DjangoEntryStore({self.where!r})"

    def __str__(self) -> str:
        return self.where

    def _read_all(self, entry_of_row: RowToEntry) -> tuple[int, list[Entry]]:
        def read() -> tuple[int, list[Entry]]:
            if not self._schema_checked:
                self._check_schema()
            head = self._head(startup=True)
            rows = self._entries.objects.using(self._alias).order_by().values().iterator(chunk_size=_ROWS_PER_FETCH)
            return head, [entry for row in rows if (entry := entry_of_row(row)) is not None]

        return self._read(read)

    def _read_window(self, cursor: int) -> Window | None:
        def read() -> Window | None:
            head = self._head(startup=False)
            if head == cursor:
                return None
            if head < cursor:
                return Window(head=head, rows=[], gone=[])
            # Bounded by head: why that misses nothing is in beatd.stores.sql's docstring.
            window = {"revision__gt": cursor, "revision__lte": head}
            rows = list(self._entries.objects.using(self._alias).order_by().filter(**window).values())
            gone = list(self._tombstones.objects.using(self._alias).filter(**window).values_list("name", flat=True))
            return Window(head=head, rows=rows, gone=gone)

        return self._read(read)

    def _head(self, *, startup: bool) -> int:
        head = self._revision.objects.using(self._alias).filter(id=1).values_list("revision", flat=True).first()
        if head is None:
            raise lost_counter(self.where, startup=startup)
        return int(head)

    def _check_schema(self) -> None:
        from django.db import connections

        connection = connections[self._alias]
        version = None
        if "beatd_alembic_version" in connection.introspection.table_names():
            with connection.cursor() as cursor:
                cursor.execute("SELECT version_num FROM beatd_alembic_version")
                row = cursor.fetchone()
                version = row[0] if row else None
        check_schema_revision(version, self.where, "run: python manage.py migrate beatd")
        self._schema_checked = True

    def _read(self, work: Callable[[], _T]) -> _T:
        from django.db import DatabaseError, InterfaceError, OperationalError, connections

        for attempt in (1, 2):
            try:
                return work()
            except (OperationalError, InterfaceError) as exc:
                connections[self._alias].close()
                if attempt == 1:
                    continue  # the server restarted or dropped us since the last call
                raise BackendUnavailable(f"entry store {self.where} is unavailable: {driver_reason(exc)}") from exc
            except DatabaseError as exc:
                raise BackendUnavailable(f"entry store {self.where}: {driver_reason(exc)}") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        from django.db import connections

        connections[self._alias].close()
