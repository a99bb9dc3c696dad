"""The Django app's tables and the django store: migrations shared with `beatd db upgrade`, ORM reads by revision."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy
import yaml
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from django.db import connection

from beatd.config import load_config
from beatd.contrib.django.models import Entry
from beatd.contrib.django.store import DjangoEntryStore
from beatd.daemon.catalog import open_entry_store
from beatd.errors import BackendUnavailable, ConfigError
from beatd.stores.migrations import upgrade as upgrade_entry_tables
from beatd.stores.sql import SqlEntryStore, metadata
from django_tests.conftest import DJANGO_TESTS_DIR, SETTINGS

BERLIN = ZoneInfo("Europe/Berlin")


def add(name: str, **mapping: object) -> Entry:
    entry = Entry(name=name)
    entry.set_mapping(dict(mapping))
    entry.save()
    return entry


@pytest.fixture
def store(entries_db: None) -> DjangoEntryStore:
    return DjangoEntryStore(SETTINGS, default_zone=BERLIN)


def manage(*args: str, database: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(DJANGO_TESTS_DIR.parent), "DJANGO_SETTINGS_MODULE": SETTINGS,
                   "BEATD_TEST_DJANGO_DB": "sqlite", "BEATD_TEST_SQLITE": str(database)}
    return subprocess.run([sys.executable, "-m", "django", *args], env=environment, capture_output=True, text=True,
                          timeout=120, check=False)


# ---------------------------------------------------------------------------------------
# migrations


def _beatd_tables_match_the_code(sa_connection: sqlalchemy.Connection) -> bool:
    context = MigrationContext.configure(sa_connection, opts={
        "include_name": lambda name, type_, parent: type_ != "table" or name in metadata.tables})
    return compare_metadata(context, metadata) == []


def test_django_migrate_makes_the_tables_beatd_db_upgrade_makes_and_records_the_revision(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    result = manage("migrate", "beatd", database=database)
    assert result.returncode == 0, result.stderr
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")
    with engine.connect() as sa_connection:
        assert _beatd_tables_match_the_code(sa_connection)
        assert sa_connection.exec_driver_sql("SELECT version_num FROM beatd_alembic_version").scalar() == "b0002"
    engine.dispose()
    upgrade = subprocess.run([sys.executable, "-m", "beatd", "db", "upgrade", "--url", f"sqlite:///{database}"],
                             capture_output=True, text=True, check=False)
    assert upgrade.stdout == f"sqlite:///{database}: entry tables already at revision b0002\n", upgrade.stderr


def test_django_migrate_adopts_tables_made_by_beatd_db_upgrade_and_both_see_the_same_rows(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    url = f"sqlite:///{database}"
    subprocess.run([sys.executable, "-m", "beatd", "db", "upgrade", "--url", url], check=True, capture_output=True)
    sql_store = SqlEntryStore(url)
    sql_store.add("from-sql", {"task": "t.sql", "every": 30})
    result = manage("migrate", "beatd", database=database)
    assert result.returncode == 0, result.stderr
    shell = manage("shell", "-c", "from beatd.contrib.django.models import Entry; "
                   "e = Entry(name='from-django'); e.set_mapping({'task': 't.dj', 'cron': '30 7 * * 1-5'}); e.save(); "
                   "print(sorted(Entry.objects.values_list('name', flat=True)))", database=database)
    assert shell.stdout.strip().splitlines()[-1] == "['from-django', 'from-sql']", shell.stderr
    assert sql_store.get("from-django").mapping == {"task": "t.dj", "cron": "30 7 * * 1-5"}
    sql_store.close()


def test_django_migrate_brings_tables_made_at_b0001_to_b0002_and_back_keeping_their_rows(tmp_path: Path) -> None:
    # Given tables that an older beatd made (revision b0001), with a cron entry
    database = tmp_path / "db.sqlite3"
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")
    assert upgrade_entry_tables(engine, "b0001") == (None, "b0001")
    with engine.begin() as sa_connection:
        sa_connection.exec_driver_sql("INSERT INTO beatd_entries (name, task, kind, cron) "
                                      "VALUES ('report', 't.report', 'cron', '0 9 13 * 5')")
    # When Django migrates
    result = manage("migrate", "beatd", database=database)
    assert result.returncode == 0, result.stderr
    # Then the tables are beatd's current ones, at b0002, with the row, whose day_match is NULL (either)
    with engine.connect() as sa_connection:
        assert _beatd_tables_match_the_code(sa_connection)
        assert sa_connection.exec_driver_sql("SELECT version_num FROM beatd_alembic_version").scalar() == "b0002"
        assert sa_connection.exec_driver_sql("SELECT name, day_match FROM beatd_entries").all() == [("report", None)]
    # And Django's model reads and writes the column
    shell = manage("shell", "-c", "from beatd.contrib.django.models import Entry; e = Entry.objects.get(name='report'); "
                   "e.set_mapping({**e.mapping(), 'day_match': 'both'}); e.save(); "
                   "print(Entry.objects.get(name='report').mapping())", database=database)
    assert shell.stdout.strip().splitlines()[-1] == (
        "{'task': 't.report', 'cron': '0 9 13 * 5', 'day_match': 'both'}"), shell.stderr
    # When Django migrates back to 0001, the column goes and the row stays, at b0001 for `beatd db upgrade`
    back = manage("migrate", "beatd", "0001", database=database)
    assert back.returncode == 0, back.stderr
    with engine.connect() as sa_connection:
        assert sa_connection.exec_driver_sql("SELECT name, cron FROM beatd_entries").all() == [("report", "0 9 13 * 5")]
        assert sa_connection.exec_driver_sql("SELECT version_num FROM beatd_alembic_version").scalar() == "b0001"
    assert "day_match" not in {column["name"] for column in sqlalchemy.inspect(engine).get_columns("beatd_entries")}
    engine.dispose()
    upgrade = subprocess.run([sys.executable, "-m", "beatd", "db", "upgrade", "--url", f"sqlite:///{database}"],
                             capture_output=True, text=True, check=False)
    assert upgrade.stdout == f"sqlite:///{database}: entry tables upgraded from b0001 to revision b0002\n", upgrade.stderr


def test_django_migrate_refuses_tables_of_a_revision_it_does_not_know(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")
    upgrade_entry_tables(engine)
    with engine.begin() as sa_connection:
        sa_connection.exec_driver_sql("UPDATE beatd_alembic_version SET version_num = 'b0099'")
    engine.dispose()
    result = manage("migrate", "beatd", database=database)
    assert result.returncode == 1
    assert ("RuntimeError: beatd_entries exists at schema revision ['b0099'], which this beatd does not know: "
            "upgrade beatd to the version that made it") in result.stderr


# ---------------------------------------------------------------------------------------
# the store


def test_open_entry_store_opens_the_django_store(entries_db: None) -> None:
    store = open_entry_store("django", SETTINGS, default_zone=UTC)
    assert isinstance(store, DjangoEntryStore)
    assert store.load() == []


def test_other_settings_than_the_ones_in_use_are_refused() -> None:
    with pytest.raises(ConfigError, match=f"Django is already set up with settings '{SETTINGS}' in this "
                                          "process, not 'mysite.settings'"):
        DjangoEntryStore("mysite.settings")


def test_load_returns_every_valid_entry_in_the_default_zone(store: DjangoEntryStore) -> None:
    add("report", task="reports.send", cron="30 7 * * 1-5", kwargs={"format": "pdf"})
    add("ping", task="ping", every="1m30s", args=[1, "two"], timezone="America/New_York")
    entries = {entry.name: entry for entry in store.load()}
    assert set(entries) == {"report", "ping"}
    assert entries["report"].timezone == BERLIN
    assert entries["report"].kwargs == {"format": "pdf"}
    assert entries["ping"].args == (1, "two")
    assert entries["ping"].schedule.every == timedelta(seconds=90)
    assert entries["ping"].timezone == ZoneInfo("America/New_York")


def test_changes_report_saves_bulk_updates_renames_and_deletes(store: DjangoEntryStore) -> None:
    add("a", task="t.a", every=10)
    add("b", task="t.b", every=20)
    add("c", task="t.c", every=30)
    store.load()
    assert not store.changes()

    # a bulk update() runs no save() and no signal: the triggers still stamp it
    Entry.objects.filter(name__in=["a", "b"]).update(enabled=False)
    changes = store.changes()
    assert sorted((entry.name, entry.enabled) for entry in changes.upserted) == [("a", False), ("b", False)]
    assert changes.deleted == []

    renamed = Entry.objects.get(name="c")
    renamed.name = "c2"
    renamed.save()
    Entry.objects.filter(name="a").delete()
    changes = store.changes()
    assert [entry.name for entry in changes.upserted] == ["c2"]
    assert sorted(changes.deleted) == ["a", "c"]
    assert not store.changes()


def test_day_match_is_stored_and_an_update_of_it_alone_is_a_change(store: DjangoEntryStore) -> None:
    add("unlucky", task="t.unlucky", cron="0 9 13 * 5", day_match="both")
    assert Entry.objects.get(name="unlucky").day_match == "both"
    assert [entry.schedule.day_match for entry in store.load()] == ["both"]

    Entry.objects.filter(name="unlucky").update(day_match=None)
    changes = store.changes()
    assert [(entry.name, entry.schedule.day_match) for entry in changes.upserted] == [("unlucky", "either")]
    assert not store.changes()


def test_raw_sql_writes_are_seen_too(store: DjangoEntryStore) -> None:
    store.load()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO beatd_entries (name, task, kind, every_s, enabled, created_at, updated_at) "
                       "VALUES ('raw', 'raw.task', 'every', 5, TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
    assert [entry.name for entry in store.changes().upserted] == ["raw"]


def test_an_invalid_row_is_skipped_with_the_message_a_yaml_file_gets(store: DjangoEntryStore, tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    add("fine", task="t", every=10)
    Entry.objects.filter(name="fine").update(cron="61 * * * *", every_s=None, kind="cron")
    row_id = Entry.objects.get(name="fine").id
    path = tmp_path / "beatd.yaml"
    path.write_text(yaml.safe_dump({"entries": {"fine": {"task": "t", "cron": "61 * * * *"}}}))
    with pytest.raises(ConfigError) as from_yaml:
        load_config(path)
    yaml_message = str(from_yaml.value).split(": entry 'fine': ", 1)[1]
    with caplog.at_level(logging.ERROR, logger="beatd.contrib.django.store"):
        assert store.load() == []
    assert f"beatd_entries id {row_id}: entry 'fine': {yaml_message}; the row is skipped" in caplog.text
    assert store.invalid == {"fine": f"beatd_entries id {row_id}: entry 'fine': {yaml_message}"}


def test_set_mapping_refuses_what_a_yaml_file_refuses_with_the_same_message(tmp_path: Path) -> None:
    bad = {"task": "t", "every": "30x", "args": [1]}
    path = tmp_path / "beatd.yaml"
    path.write_text(yaml.safe_dump({"entries": {"e": bad}}))
    with pytest.raises(ConfigError) as from_yaml:
        load_config(path)
    with pytest.raises(ConfigError) as from_model:
        Entry(name="e").set_mapping(bad)
    assert str(from_model.value) == "entry 'e': " + str(from_yaml.value).split(": entry 'e': ", 1)[1]


def test_a_database_without_the_tables_is_refused_with_the_command_that_creates_them(
        store: DjangoEntryStore) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE beatd_alembic_version RENAME TO beatd_alembic_version_away")
    try:
        with pytest.raises(ConfigError, match="the entry tables do not exist; run: python manage.py migrate beatd"):
            store.load()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE beatd_alembic_version_away RENAME TO beatd_alembic_version")


def test_a_database_error_while_running_is_backend_unavailable_and_nothing_is_missed(store: DjangoEntryStore) -> None:
    add("a", task="t.a", every=10)
    store.load()
    # Given the counter table gone for a while (as a database that fails every query)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE beatd_entries_revision RENAME TO beatd_entries_revision_away")
    try:
        with pytest.raises(BackendUnavailable, match=rf"^entry store django {SETTINGS} database 'default'"):
            store.changes()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE beatd_entries_revision_away RENAME TO beatd_entries_revision")
    # When it is back, what was written meanwhile is reported
    add("b", task="t.b", every=20)
    assert [entry.name for entry in store.changes().upserted] == ["b"]
