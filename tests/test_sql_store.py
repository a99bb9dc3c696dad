"""The SQL entry store on SQLite, PostgreSQL and MariaDB: migrations, round trips, incremental changes, CLI, outages."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
import yaml
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from processes import TcpProxy
from sqlalchemy.pool import NullPool

from beatd.cli import main as beatd_main
from beatd.cli.entries import db, entries, export_command, import_command
from beatd.config import load_config
from beatd.entry import Entry
from beatd.errors import BackendUnavailable, ConfigError
from beatd.stores import EntryChanges
from beatd.stores.migrations import downgrade, head_revision, upgrade
from beatd.stores.revisioned import SCHEMA_REVISION
from beatd.stores.sql import SqlEntryStore, metadata

PASSWORD = "s3cr3t-Pw"

# One entry of every kind, with every key an entry may have somewhere.
EVERY_KIND_YAML = """\
timezone: Europe/Berlin
entries:
  add-every-30s:
    task: tasks.add
    every: 30s
    args: [16, 16.5, "x", null, true, {"nested": [1, 2]}]
  windowed-interval:
    task: tasks.window
    every: 1h30m
    start: 2026-03-29T01:00:00
    end: 2026-12-31T23:00:00+01:00
    jitter: 2.5
  weekday-report:
    task: reports.send
    cron: "30 7 * * 1-5"
    timezone: America/New_York
    kwargs: {format: pdf, "über": "ünïcode", copies: 2}
    options: {queue: reports, exchange: ex, routing_key: rk, priority: 5, expires: 1h,
              headers: {x-team: ops}, time_limit: 90, soft_time_limit: 1m}
    catchup: all
    description: Weekday report, sent at 07:30 New York time
  nightly:
    task: tasks.cleanup
    cron: "@daily"
    catchup: skip
    enabled: false
  wake-up:
    task: home.morning
    solar: sunrise
    lat: -37.81
    lon: 144
    elevation: 120.5
    timezone: Australia/Melbourne
  noon:
    task: home.noon
    solar: solar_noon
    lat: 52.5
    lon: 13.4
  launch:
    task: rockets.launch
    at: 2026-12-01T10:00:00+01:00
  launch-local:
    task: rockets.launch
    at: 2026-10-25T02:30:00
"""


# ---------------------------------------------------------------------------------------
# Fixtures: a migrated database per backend, stores that are closed, no connection left


def _postgres_connections(url: str) -> Callable[[], int]:
    database = sqlalchemy.make_url(url).database

    def count() -> int:
        admin = sqlalchemy.create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/postgres", poolclass=NullPool)
        with admin.connect() as connection:
            return connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %(name)s", {"name": database}).scalar_one()

    return count


def _mysql_connections(url: str) -> Callable[[], int]:
    database = sqlalchemy.make_url(url).database

    def count() -> int:
        admin = sqlalchemy.create_engine("mysql+pymysql://root@127.0.0.1:3306/test", poolclass=NullPool)
        with admin.connect() as connection:
            return connection.exec_driver_sql(
                "SELECT count(*) FROM information_schema.processlist WHERE db = %(name)s", {"name": database}).scalar_one()

    return count


@dataclass
class Database:
    """A database with the entry tables, stores opened on it, and a connection of another process's kind."""

    name: str
    url: str
    count_connections: Callable[[], int]
    opened: list[SqlEntryStore] = field(default_factory=list)
    _other: sqlalchemy.Engine | None = None

    def open(self, default_zone: Any = UTC) -> SqlEntryStore:
        store = SqlEntryStore(self.url, default_zone=default_zone)
        self.opened.append(store)
        return store

    def sql(self, statement: str, **params: Any) -> int:
        """Run plain SQL on a connection of its own, as another program would; returns the rowcount."""
        if self._other is None:
            self._other = sqlalchemy.create_engine(self.url, poolclass=NullPool)
        with self._other.begin() as connection:
            return connection.execute(sqlalchemy.text(statement), params).rowcount

    def scalar(self, statement: str, **params: Any) -> Any:
        if self._other is None:
            self._other = sqlalchemy.create_engine(self.url, poolclass=NullPool)
        with self._other.connect() as connection:
            return connection.execute(sqlalchemy.text(statement), params).scalar()


def _no_connections() -> int:
    return 0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services),
                        pytest.param("mysql", marks=pytest.mark.services)])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """Each database in turn, upgraded to the newest revision. At teardown every store is
    closed and no connection the test opened may be left (servers notice hang-ups late)."""
    url = request.getfixturevalue(f"{request.param}_url")
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    upgrade(engine)
    engine.dispose()
    counter = {"postgres": _postgres_connections, "mysql": _mysql_connections}.get(request.param)
    count_connections = counter(url) if counter else _no_connections
    baseline = count_connections()
    found = Database(request.param, url, count_connections)
    yield found
    for store in found.opened:
        store.close()
    if found._other is not None:
        found._other.dispose()
    deadline = time.monotonic() + 5
    while (leftover := count_connections()) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftover == baseline, f"{leftover - baseline} connection(s) to {found.name} left open"


def _insert(database: Database, name: str, *, task: str = "tasks.t", every_s: float | None = 30.0,
            cron: str | None = None) -> None:
    kind = "cron" if cron is not None else "every"
    database.sql("INSERT INTO beatd_entries (name, task, kind, every_s, cron) VALUES (:name, :task, :kind, :every_s, :cron)",
                 name=name, task=task, kind=kind, every_s=every_s if cron is None else None, cron=cron)


def _without_source(entries: list[Entry] | tuple[Entry, ...]) -> dict[str, Entry]:
    return {entry.name: replace(entry, source=None) for entry in entries}


def _names(changes: EntryChanges) -> tuple[list[str], list[str]]:
    return sorted(entry.name for entry in changes.upserted), sorted(changes.deleted)


def _count_statements(store: SqlEntryStore) -> list[str]:
    statements: list[str] = []
    sqlalchemy.event.listen(store.engine, "before_cursor_execute",
                            lambda conn, cursor, statement, *rest: statements.append(statement))
    return statements


# ---------------------------------------------------------------------------------------
# Migrations


def test_schema_revision_is_the_migrations_head() -> None:
    assert head_revision() == SCHEMA_REVISION


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.services),
                                     pytest.param("mysql", marks=pytest.mark.services)])
def test_upgrade_from_empty_builds_the_tables_of_the_code_and_runs_again_as_a_no_op(
        backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    try:
        # Given an empty database
        assert not sqlalchemy.inspect(engine).get_table_names()
        # When upgraded twice
        assert upgrade(engine) == (None, SCHEMA_REVISION)
        assert upgrade(engine) == (SCHEMA_REVISION, SCHEMA_REVISION)
        # Then the tables are those beatd.stores.sql describes, and the counter starts at 0
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_name": _only_beatd_tables})
            assert compare_metadata(context, metadata) == []
            assert connection.exec_driver_sql("SELECT id, revision FROM beatd_entries_revision").all() == [(1, 0)]
            assert connection.exec_driver_sql("SELECT version_num FROM beatd_alembic_version").scalar() == "b0002"
        # And a downgrade removes everything, after which an upgrade works again
        downgrade(engine, "base")
        assert set(sqlalchemy.inspect(engine).get_table_names()) <= {"beatd_alembic_version"}
        assert upgrade(engine) == (None, SCHEMA_REVISION)
    finally:
        engine.dispose()


def _only_beatd_tables(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    return type_ != "table" or name in metadata.tables


def test_db_upgrade_command_is_idempotent(sqlite_url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(db, ["upgrade", "--url", sqlite_url])
    second = runner.invoke(db, ["upgrade"], env={"BEATD_DB_URL": sqlite_url})
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert first.output == f"{sqlite_url}: entry tables upgraded from nothing to revision b0002\n"
    assert second.output == f"{sqlite_url}: entry tables already at revision b0002\n"


def test_a_database_without_the_tables_is_refused_with_the_command_that_creates_them(sqlite_url: str) -> None:
    store = SqlEntryStore(sqlite_url)
    try:
        with pytest.raises(ConfigError) as raised:
            store.load()
    finally:
        store.close()
    assert str(raised.value) == (f"entry store {sqlite_url}: the entry tables do not exist; "
                                 f"run: beatd db upgrade --url {sqlite_url}")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.services),
                                     pytest.param("mysql", marks=pytest.mark.services)])
def test_tables_at_b0001_are_refused_until_upgraded_keep_their_rows_and_downgrade_again(
        backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    try:
        # Given tables made by a beatd of revision b0001, with rows
        assert upgrade(engine, "b0001") == (None, "b0001")
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO beatd_entries (name, task, kind, cron) "
                                       "VALUES ('report', 't.report', 'cron', '0 9 13 * 5')")
            connection.exec_driver_sql("INSERT INTO beatd_entries (name, task, kind, every_s) "
                                       "VALUES ('ping', 't.ping', 'every', 30)")
        # Then this beatd refuses them, saying what to run
        with pytest.raises(ConfigError, match=r"at schema revision b0001, this beatd needs b0002; run: beatd db upgrade"):
            _load_once(url)
        # When upgraded
        assert upgrade(engine) == ("b0001", SCHEMA_REVISION)
        # Then the tables are those of the code, the rows are kept, and day_match NULL is cron's `either`
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_name": _only_beatd_tables})
            assert compare_metadata(context, metadata) == []
            assert connection.exec_driver_sql("SELECT day_match FROM beatd_entries").all() == [(None,), (None,)]
        store = SqlEntryStore(url)
        try:
            loaded = {entry.name: entry for entry in store.load()}
            assert set(loaded) == {"ping", "report"} and loaded["report"].schedule.day_match == "either"
            # And an edit of day_match alone reaches the store's change detection
            with engine.begin() as connection:
                connection.exec_driver_sql("UPDATE beatd_entries SET day_match = 'both' WHERE name = 'report'")
            changes = store.changes()
            assert [(entry.name, entry.schedule.day_match) for entry in changes.upserted] == [("report", "both")]
        finally:
            store.close()
        # When downgraded again, the column goes, the rows stay, and writes still bump the revision
        assert downgrade(engine, "b0001") == (SCHEMA_REVISION, "b0001")
        assert "day_match" not in {column["name"] for column in sqlalchemy.inspect(engine).get_columns("beatd_entries")}
        with engine.begin() as connection:
            before = connection.exec_driver_sql("SELECT revision FROM beatd_entries WHERE name = 'report'").scalar()
            connection.exec_driver_sql("UPDATE beatd_entries SET cron = '0 9 * * 5' WHERE name = 'report'")
            after = connection.exec_driver_sql("SELECT revision FROM beatd_entries WHERE name = 'report'").scalar()
            assert connection.exec_driver_sql("SELECT count(*) FROM beatd_entries").scalar() == 2
        assert after > before
    finally:
        engine.dispose()


def _load_once(url: str) -> list[Entry]:
    store = SqlEntryStore(url)
    try:
        return store.load()
    finally:
        store.close()


def test_tables_of_a_newer_beatd_are_refused(sqlite_url: str) -> None:
    engine = sqlalchemy.create_engine(sqlite_url, poolclass=NullPool)
    upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE beatd_alembic_version SET version_num = 'b0099'")
    engine.dispose()
    store = SqlEntryStore(sqlite_url)
    try:
        with pytest.raises(ConfigError, match="schema revision 'b0099', which this beatd does not know"):
            store.load()
    finally:
        store.close()


# ---------------------------------------------------------------------------------------
# Round trips: YAML -> database -> Entry


@pytest.mark.parametrize("top_zone", ["timezone: Europe/Berlin\n", ""], ids=["file-zone", "no-file-zone"])
def test_every_kind_round_trips_from_yaml_through_the_database(database: Database, tmp_path: Path, top_zone: str) -> None:
    # Given a file with every kind of entry, loaded as the daemon loads it
    path = tmp_path / "every-kind.yaml"
    path.write_text(EVERY_KIND_YAML.replace("timezone: Europe/Berlin\n", top_zone, 1))
    config = load_config(path)
    # When it is imported and read back by a store in the daemon's zone
    result = CliRunner().invoke(import_command, [str(path), "--url", database.url])
    assert result.exit_code == 0, result.output
    loaded = database.open(default_zone=config.timezone).load()
    # Then every entry equals the one read from YAML, except where it was defined
    assert _without_source(loaded) == _without_source(config.entries)
    assert {str(entry.source).split(":")[0] for entry in loaded} == {"beatd_entries"}


def test_naive_times_stay_naive_and_instants_with_offsets_keep_them(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "naive.yaml"
    path.write_text(EVERY_KIND_YAML)
    CliRunner().invoke(import_command, [str(path), "--url", database.url])
    store = database.open()
    # 2026-10-25T02:30 happens twice in Berlin: kept naive, it is still read in the entry's zone
    assert store.get("launch-local").mapping["at"] == "2026-10-25T02:30:00"
    assert store.get("launch-local").mapping["timezone"] == "Europe/Berlin"
    assert store.get("launch").mapping["at"] == "2026-12-01T10:00:00+01:00"
    assert (store.get("windowed-interval").mapping["start"], store.get("windowed-interval").mapping["end"]) == (
        "2026-03-29T01:00:00", "2026-12-31T23:00:00+01:00")


def test_day_match_converts_to_its_key_and_column_and_back() -> None:
    from beatd.stores.conversion import describe_mapping, entry_of_mapping, mapping_of_entry, mapping_of_row, row_of_mapping

    mapping = {"task": "t.unlucky", "cron": "0 9 13 * 5", "day_match": "both"}
    entry = entry_of_mapping("friday-13th", mapping, UTC)
    assert mapping_of_entry(entry) == mapping
    assert entry_of_mapping("friday-13th", mapping_of_entry(entry), UTC) == entry
    assert describe_mapping(mapping) == "cron 0 9 13 * 5 (day_match both)"
    row = row_of_mapping("friday-13th", mapping)
    assert (row["cron"], row["day_match"]) == ("0 9 13 * 5", "both")
    assert mapping_of_row(row) == mapping
    # Without the key the column is NULL: cron's rule, as in a file.
    assert row_of_mapping("friday-or-13th", {"task": "t.unlucky", "cron": "0 9 13 * 5"})["day_match"] is None


FRIDAY_13TH_YAML = """\
entries:
  friday-13th:
    task: t.unlucky
    cron: "0 9 13 * 5"
    day_match: both
  friday-or-13th:
    task: t.unlucky
    cron: "0 9 13 * 5"
"""


def _fires(entry: Entry, after: datetime, count: int) -> list[datetime]:
    fires: list[datetime] = []
    while len(fires) < count and (after := entry.schedule.next_after(after)) is not None:
        fires.append(after)
    return fires


def test_day_match_both_round_trips_from_yaml_through_the_database_and_back(database: Database, tmp_path: Path) -> None:
    # Given a file with Celery's day rule on one entry and cron's on the other
    path = tmp_path / "friday-13th.yaml"
    path.write_text(FRIDAY_13TH_YAML)
    config = load_config(path)
    # When it is imported and read back
    assert _invoke(import_command, str(path), "--url", database.url).exit_code == 0
    store = database.open(config.timezone)
    loaded = _without_source(store.load())
    # Then the rows hold the rule, and the entries are the file's, with the same fires
    assert database.scalar("SELECT day_match FROM beatd_entries WHERE name = 'friday-13th'") == "both"
    assert database.scalar("SELECT day_match FROM beatd_entries WHERE name = 'friday-or-13th'") is None
    assert loaded == _without_source(config.entries)
    start = datetime(2026, 1, 1, tzinfo=config.timezone)
    from_yaml = {entry.name: entry for entry in config.entries}
    assert _fires(loaded["friday-13th"], start, 3) == _fires(from_yaml["friday-13th"], start, 3) == [
        datetime(2026, month, 13, 9, tzinfo=config.timezone) for month in (2, 3, 11)]
    assert [fire.day for fire in _fires(loaded["friday-or-13th"], start, 3)] == [2, 9, 13]
    # And export writes it back, and importing the export changes nothing
    exported = _invoke(export_command, "--url", database.url)
    assert yaml.safe_load(exported.output)["entries"]["friday-13th"] == {
        "task": "t.unlucky", "cron": "0 9 13 * 5", "day_match": "both"}
    export_path = tmp_path / "exported.yaml"
    export_path.write_text(exported.output)
    assert _invoke(import_command, str(export_path), "--url", database.url).output.endswith(
        "0 added, 0 changed, 2 unchanged\n")


# ---------------------------------------------------------------------------------------
# Incremental changes


def test_an_idle_changes_call_is_one_query_and_returns_nothing(database: Database) -> None:
    _insert(database, "a")
    store = database.open()
    assert [entry.name for entry in store.load()] == ["a"]
    statements = _count_statements(store)

    for _ in range(3):
        assert store.changes() == EntryChanges()

    assert len(statements) == 3 and all("beatd_entries_revision" in statement for statement in statements)


def test_changes_before_load_returns_every_entry(database: Database) -> None:
    _insert(database, "a")
    _insert(database, "b")
    assert _names(database.open().changes()) == (["a", "b"], [])


def test_add_edit_disable_delete_by_another_connection_are_returned_and_nothing_else(database: Database) -> None:
    # Given a store that has loaded two entries
    _insert(database, "keep")
    _insert(database, "report")
    store = database.open()
    store.load()

    # When another program inserts a row with plain SQL
    _insert(database, "new", every_s=5)
    # Then exactly that entry is upserted
    changes = store.changes()
    assert _names(changes) == (["new"], [])
    assert changes.upserted[0].schedule.describe() == "every 5s"

    # When it changes a schedule
    database.sql("UPDATE beatd_entries SET kind = 'cron', cron = '30 7 * * 1-5', every_s = NULL WHERE name = 'report'")
    changes = store.changes()
    assert _names(changes) == (["report"], [])
    assert changes.upserted[0].schedule.describe() == "cron 30 7 * * 1-5"

    # When it disables an entry
    database.sql("UPDATE beatd_entries SET enabled = :enabled WHERE name = 'report'", enabled=False)
    changes = store.changes()
    assert _names(changes) == (["report"], []) and changes.upserted[0].enabled is False

    # When it deletes one
    assert database.sql("DELETE FROM beatd_entries WHERE name = 'new'") == 1
    assert _names(store.changes()) == ([], ["new"])

    # And afterwards nothing more is reported
    assert store.changes() == EntryChanges()


def test_an_edit_of_day_match_alone_is_returned(database: Database) -> None:
    # Given a store that has loaded a cron entry with cron's day rule
    _insert(database, "report", cron="0 9 13 * 5")
    store = database.open()
    assert store.load()[0].schedule.day_match == "either"
    # When another program sets only day_match, then the store's writer clears it
    database.sql("UPDATE beatd_entries SET day_match = 'both' WHERE name = 'report'")
    set_both = store.changes()
    assert database.open().update("report", {"task": "tasks.t", "cron": "0 9 13 * 5"}) is True
    cleared = store.changes()
    # Then each edit is returned, with the rule it set
    assert [(entry.name, entry.schedule.day_match) for entry in set_both.upserted] == [("report", "both")]
    assert [(entry.name, entry.schedule.day_match) for entry in cleared.upserted] == [("report", "either")]
    assert store.changes() == EntryChanges()


def test_writes_through_another_store_are_returned(database: Database) -> None:
    reader = database.open()
    reader.load()
    writer = database.open()

    writer.add("a", {"task": "t", "every": "1m"})
    writer.add("b", {"task": "t", "cron": "@hourly"})
    assert _names(reader.changes()) == (["a", "b"], [])
    assert writer.update("a", {"task": "t", "every": "2m"}) is True
    assert writer.update("a", {"task": "t", "every": "2m"}) is False
    assert writer.set_enabled("b", False) is True
    assert writer.set_enabled("b", False) is False
    assert _names(reader.changes()) == (["a", "b"], [])
    writer.remove("a")
    assert _names(reader.changes()) == ([], ["a"])
    assert reader.changes() == EntryChanges()


def test_a_rename_deletes_the_old_name(database: Database) -> None:
    _insert(database, "old")
    store = database.open()
    store.load()

    database.sql("UPDATE beatd_entries SET name = 'new' WHERE name = 'old'")

    assert _names(store.changes()) == (["new"], ["old"])


def test_an_entry_added_and_deleted_between_two_calls_is_not_reported(database: Database) -> None:
    store = database.open()
    store.load()
    _insert(database, "brief")
    database.sql("DELETE FROM beatd_entries WHERE name = 'brief'")
    assert store.changes() == EntryChanges()


def test_a_name_deleted_and_added_again_is_upserted_not_deleted(database: Database) -> None:
    _insert(database, "again", every_s=30)
    store = database.open()
    store.load()
    database.sql("DELETE FROM beatd_entries WHERE name = 'again'")
    _insert(database, "again", every_s=60)

    changes = store.changes()

    assert _names(changes) == (["again"], [])
    assert changes.upserted[0].schedule.describe() == "every 1m"


@pytest.mark.slow
def test_one_edit_among_10000_rows_returns_exactly_one_entry(database: Database) -> None:
    # Given 10,000 entries, loaded
    writer = database.open()
    writer.upsert_many({f"entry-{index:05d}": {"task": "tasks.t", "every": 60 + index} for index in range(10_000)})
    store = database.open()
    assert len(store.load()) == 10_000
    statements = _count_statements(store)

    # When one of them is edited by another connection
    database.sql("UPDATE beatd_entries SET every_s = 7 WHERE name = 'entry-04321'")
    changes = store.changes()

    # Then one entry comes back, read with three statements (counter, rows, tombstones)
    assert _names(changes) == (["entry-04321"], [])
    assert changes.upserted[0].schedule.describe() == "every 7s"
    assert len(statements) == 3


def test_revisions_are_not_bumped_by_an_import_that_changes_nothing(database: Database) -> None:
    store = database.open()
    mappings = {"a": {"task": "t", "every": 30}, "b": {"task": "t", "cron": "@daily", "args": [1]}}
    assert store.upsert_many(mappings).added == 2
    before = database.scalar("SELECT revision FROM beatd_entries_revision")
    counts = store.upsert_many({**mappings, "b": {"task": "t", "cron": "@daily", "args": [1.0]}})
    assert (counts.added, counts.changed, counts.unchanged) == (0, 1, 1)
    assert database.scalar("SELECT revision FROM beatd_entries_revision") > before
    after = database.scalar("SELECT revision FROM beatd_entries_revision")
    store.upsert_many({**mappings, "b": {"task": "t", "cron": "@daily", "args": [1.0]}})
    assert database.scalar("SELECT revision FROM beatd_entries_revision") == after


def test_concurrent_writers_neither_deadlock_nor_lose_a_revision(database: Database) -> None:
    # Given two writers rewriting the same 40 entries in opposite orders, at the same time
    names = [f"e{index:02d}" for index in range(40)]
    reader = database.open()
    reader.load()
    writers = [database.open(), database.open()]
    errors: list[BaseException] = []

    def write(store: SqlEntryStore, order: list[str], offset: int) -> None:
        try:
            for round_number in range(10):
                store.upsert_many({name: {"task": "t", "every": 30 + offset + round_number} for name in order})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(writers[0], names, 0)),
               threading.Thread(target=write, args=(writers[1], names[::-1], 100))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then both finished, and the reader sees every entry in its final form
    assert errors == []
    final = {entry.name: entry for entry in reader.changes().upserted}
    assert sorted(final) == names
    assert final == {entry.name: entry for entry in reader.load()}


def test_upsert_many_writes_nothing_when_one_entry_is_invalid(database: Database) -> None:
    store = database.open()
    with pytest.raises(ConfigError, match=r"^entry 'bad': cron minute field '61' is out of range 0-59$"):
        store.upsert_many({"good": {"task": "t", "every": 30}, "bad": {"task": "t", "cron": "61 * * * *"}})
    assert store.rows() == []


def test_names_differing_in_case_or_trailing_space_are_distinct_entries(database: Database) -> None:
    store = database.open()
    for name in ("report", "Report", "report ", "überprüfung"):
        store.add(name, {"task": "t", "every": 30})
    assert sorted(entry.name for entry in store.load()) == sorted(["report", "Report", "report ", "überprüfung"])


def test_a_restored_older_database_is_read_again_in_full(database: Database) -> None:
    # Given a store that has seen revision 3
    for name in ("a", "b", "c"):
        _insert(database, name)
    store = database.open()
    store.load()
    # When the counter goes back (a restored backup without "c", say)
    database.sql("DELETE FROM beatd_entries WHERE name = 'c'")
    database.sql("UPDATE beatd_entries_revision SET revision = 1")
    # Then everything is read again, and what disappeared is deleted
    assert _names(store.changes()) == (["a", "b"], ["c"])


@pytest.mark.services
def test_truncate_is_refused_on_postgres(postgres_url: str) -> None:
    engine = sqlalchemy.create_engine(postgres_url, poolclass=NullPool)
    upgrade(engine)
    try:
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="use DELETE FROM beatd_entries"):
            with engine.begin() as connection:
                connection.exec_driver_sql("TRUNCATE beatd_entries")
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------
# Validation: the same rules and messages as YAML


BAD_ENTRIES = [
    ({"task": "t", "every": 30, "colour": "red"}, "unknown-key"),
    ({"task": "t", "cron": "61 * * * *"}, "cron-minute"),
    ({"task": "t", "every": 0}, "zero-interval"),
    ({"task": "t", "every": "5 minutes"}, "duration-words"),
    ({"task": "t", "every": 30, "cron": "* * * * *"}, "two-schedules"),
    ({"task": "t"}, "no-schedule"),
    ({"every": 30}, "no-task"),
    ({"task": "", "every": 30}, "empty-task"),
    ({"task": "t", "solar": "sunrise", "lon": 1}, "solar-without-lat"),
    ({"task": "t", "solar": "sunrise", "lat": 95, "lon": 1}, "latitude-range"),
    ({"task": "t", "every": 30, "lat": 5}, "lat-without-solar"),
    ({"task": "t", "cron": "0 * * * *", "timezone": "Mars/Olympus"}, "unknown-zone"),
    ({"task": "t", "every": 30, "catchup": "some"}, "catchup-choice"),
    ({"task": "t", "every": 30, "options": {"priority": 300}}, "priority-range"),
    ({"task": "t", "every": 30, "options": {"colour": 1}}, "unknown-option"),
    ({"task": "t", "every": 30, "args": {"a": 1}}, "args-not-a-list"),
    ({"task": "t", "every": 30, "start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end-before-start"),
    ({"task": "t", "at": "tomorrow"}, "at-not-iso"),
    ({"task": "t", "every": 30, "jitter": -1}, "negative-jitter"),
    # What would fail when a run is published (issue 11)
    ({"task": "t", "every": 30, "options": {"headers": {"task": "x"}}}, "reserved-header"),
    ({"task": "t", "every": 30, "args": [1, float("nan")]}, "args-nan"),
    ({"task": "t", "every": 30, "kwargs": {"floor": float("-inf")}}, "kwargs-minus-infinity"),
    ({"task": "t", "every": 30, "options": {"headers": {"big": 2**64}}}, "header-beyond-64-bits"),
]


def _yaml_message(tmp_path: Path, name: str, mapping: dict[str, Any]) -> str:
    """What `beatd check` says about this entry in a file, without the file:line."""
    path = tmp_path / "entry.yaml"
    path.write_text(yaml.safe_dump({"entries": {name: mapping}}, sort_keys=False))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return str(raised.value).split(": ", 1)[1]


@pytest.mark.parametrize(("mapping", "case"), BAD_ENTRIES, ids=[case for _, case in BAD_ENTRIES])
def test_writes_are_refused_with_the_message_a_yaml_file_gets(tmp_path: Path, sqlite_url: str, mapping: dict[str, Any],
                                                              case: str) -> None:
    engine = sqlalchemy.create_engine(sqlite_url, poolclass=NullPool)
    upgrade(engine)
    engine.dispose()
    store = SqlEntryStore(sqlite_url)
    try:
        with pytest.raises(ConfigError) as raised:
            store.add("my-entry", mapping)
        assert store.rows() == []
    finally:
        store.close()
    assert str(raised.value) == _yaml_message(tmp_path, "my-entry", mapping)


@pytest.mark.parametrize("name", ["", "n" * 256, "a\x00b"], ids=["empty", "256-characters", "nul"])
def test_names_no_store_keeps_are_refused_with_the_message_a_yaml_file_gets(tmp_path: Path, sqlite_url: str,
                                                                         name: str) -> None:
    engine = sqlalchemy.create_engine(sqlite_url, poolclass=NullPool)
    upgrade(engine)
    engine.dispose()
    store = SqlEntryStore(sqlite_url)
    mapping = {"task": "t", "every": 30}
    try:
        with pytest.raises(ConfigError) as raised:
            store.add(name, mapping)
        assert store.rows() == []
    finally:
        store.close()
    assert str(raised.value) == _yaml_message(tmp_path, name, mapping)


BAD_ROWS = [
    ("kind = 'cron', every_s = NULL, cron = '61 * * * *'", "cron-minute"),
    ("every_s = -5", "negative-interval"),
    ("catchup = 'some'", "catchup-choice"),
    ("options = '{\"priority\": 300}'", "priority-range"),
    ("args = '{\"a\": 1}'", "args-not-a-list"),
    ("timezone = 'Mars/Olympus', kind = 'cron', every_s = NULL, cron = '0 * * * *'", "unknown-zone"),
    ("task = ''", "empty-task"),
    ("cron = '* * * * *'", "two-schedules"),
    ("""options = '{"headers": {"task": "x"}}'""", "reserved-header"),
]


@pytest.mark.parametrize(("assignment", "case"), BAD_ROWS, ids=[case for _, case in BAD_ROWS])
def test_an_invalid_row_is_skipped_with_an_error_naming_table_row_and_entry(
        database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture, assignment: str, case: str) -> None:
    # Given a good entry and one that another program broke with plain SQL
    _insert(database, "good")
    _insert(database, "broken")
    database.sql(f"UPDATE beatd_entries SET {assignment} WHERE name = 'broken'")
    row_id = database.scalar("SELECT id FROM beatd_entries WHERE name = 'broken'")
    store = database.open()

    # When the daemon loads the store
    with caplog.at_level(logging.ERROR, logger="beatd.stores.sql"):
        loaded = store.load()

    # Then the good one is loaded and the broken one skipped, with one error line that says
    # what a YAML file with that entry would be told, after the table and row id
    assert [entry.name for entry in loaded] == ["good"]
    expected = f"beatd_entries id {row_id}: " + _yaml_message(tmp_path, "broken", store.get("broken").mapping)
    assert store.invalid == {"broken": expected}
    assert [record.getMessage() for record in caplog.records] == [
        f"entry store {store.where}: {expected}; the row is skipped (a version loaded before, if any, is kept)"]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # PostgreSQL and MariaDB refuse these rows
@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("args = '[1, NaN]'", "entry 'broken': args[1] is NaN: JSON has no NaN or Infinity; send a number or null"),
        (f"name = '{'n' * 256}'",
         f"entry '{'n' * 256}': the name is 256 characters long; state stores keep names of up to 255"),
    ],
    ids=["args-nan", "name-256-characters"],
)
def test_a_row_whose_runs_could_not_be_published_or_recorded_is_skipped(database: Database, assignment: str,
                                                                        message: str) -> None:
    _insert(database, "good")
    _insert(database, "broken")
    database.sql(f"UPDATE beatd_entries SET {assignment} WHERE name = 'broken'")
    row_id = database.scalar("SELECT id FROM beatd_entries WHERE name <> 'good'")
    store = database.open()

    assert [entry.name for entry in store.load()] == ["good"]
    assert list(store.invalid.values()) == [f"beatd_entries id {row_id}: {message}"]


def test_a_kind_that_does_not_match_the_schedule_column_is_an_error(database: Database) -> None:
    _insert(database, "mixed")
    database.sql("UPDATE beatd_entries SET kind = 'cron' WHERE name = 'mixed'")
    store = database.open()
    assert store.load() == []
    assert store.invalid["mixed"].endswith(
        "entry 'mixed': kind 'cron' does not match the schedule column that is set (every_s); set kind to 'every'")


def test_an_invalid_edit_keeps_the_version_loaded_before_until_it_is_fixed(database: Database) -> None:
    _insert(database, "report", cron="30 7 * * *")
    store = database.open()
    store.load()

    database.sql("UPDATE beatd_entries SET cron = '30 25 * * *' WHERE name = 'report'")
    assert store.changes() == EntryChanges()
    assert "hour field '25' is out of range 0-23" in store.invalid["report"]

    database.sql("UPDATE beatd_entries SET cron = '30 8 * * *' WHERE name = 'report'")
    assert _names(store.changes()) == (["report"], [])
    assert store.invalid == {}


# ---------------------------------------------------------------------------------------
# Command line


def _invoke(command: Any, *args: str) -> Any:
    return CliRunner().invoke(command, list(args), catch_exceptions=False)


def test_import_then_export_round_trips_into_the_same_entries(database: Database, tmp_path: Path,
                                                             sqlite_url: str) -> None:
    # Given every kind imported from YAML
    source = tmp_path / "every-kind.yaml"
    source.write_text(EVERY_KIND_YAML)
    imported = _invoke(import_command, str(source), "--url", database.url)
    assert imported.exit_code == 0
    assert imported.output == (f"imported 8 entries from {source} into {database.url}: "
                               "8 added, 0 changed, 0 unchanged\n")
    # When exported and imported into another database
    exported = _invoke(export_command, "--url", database.url)
    assert exported.exit_code == 0
    export_path = tmp_path / "exported.yaml"
    export_path.write_text(exported.output)
    _invoke(db, "upgrade", "--url", sqlite_url)
    assert _invoke(import_command, str(export_path), "--url", sqlite_url).exit_code == 0
    # Then both hold the entries of the original file, and export the same text
    config = load_config(source)
    first, second = database.open(config.timezone), SqlEntryStore(sqlite_url, default_zone=config.timezone)
    try:
        assert _without_source(first.load()) == _without_source(config.entries)
        assert _without_source(second.load()) == _without_source(config.entries)
    finally:
        second.close()
    again = _invoke(export_command, "--url", sqlite_url).output
    assert again.splitlines()[1:] == exported.output.splitlines()[1:]
    # And importing the export again changes nothing
    assert _invoke(import_command, str(export_path), "--url", database.url).output.endswith(
        "0 added, 0 changed, 8 unchanged\n")


def test_import_reports_the_same_first_error_as_beatd_check(sqlite_url: str, tmp_path: Path) -> None:
    _invoke(db, "upgrade", "--url", sqlite_url)
    path = tmp_path / "bad.yaml"
    path.write_text("entries:\n  ok:\n    task: t\n    every: 30\n  report:\n    task: t\n    cron: '0 7 * * mon-fry'\n")

    imported = _invoke(import_command, str(path), "--url", sqlite_url)
    checked = _invoke(beatd_main, "check", "--config", str(path))

    assert imported.exit_code == checked.exit_code == 1
    assert imported.output == checked.output
    assert imported.output.startswith(f"{path}:7: entry 'report': ")
    assert SqlEntryStore(sqlite_url).rows() == []


def test_entries_commands(sqlite_url: str, tmp_path: Path) -> None:
    env_url = ["--url", sqlite_url]
    assert _invoke(db, "upgrade", *env_url).exit_code == 0

    added = _invoke(entries, "add", "report", "--task", "reports.send", "--cron", "30 7 * * 1-5",
                    "--timezone", "America/New_York", "--kwargs", '{"format": "pdf"}', *env_url)
    assert (added.exit_code, added.output) == (0, "added report: reports.send cron 30 7 * * 1-5\n")

    twice = _invoke(entries, "add", "report", "--task", "t", "--every", "1m", *env_url)
    assert (twice.exit_code, twice.output) == (
        1, f"entry 'report' already exists in {sqlite_url}; change it with `beatd entries edit`\n")

    invalid = _invoke(entries, "add", "bad", "--task", "t", "--every", "1m", "--catchup", "sometimes", *env_url)
    assert (invalid.exit_code, invalid.output) == (1, "entry 'bad': catchup 'sometimes' is not one of skip, latest, all\n")

    not_json = _invoke(entries, "add", "bad", "--task", "t", "--every", "1m", "--args", "[1,", *env_url)
    assert not_json.exit_code == 2 and "Invalid value for --args: '[1,' is not JSON" in not_json.output

    edited = _invoke(entries, "edit", "report", "--every", "1h30m", "--jitter", "10s", *env_url)
    assert (edited.exit_code, edited.output) == (0, "updated report: reports.send every 1h30m\n")
    unset = _invoke(entries, "edit", "report", "--unset", "jitter", "--unset", "timezone", *env_url)
    assert unset.exit_code == 0
    same = _invoke(entries, "edit", "report", "--task", "reports.send", *env_url)
    assert same.output == "report unchanged\n"

    assert _invoke(entries, "disable", "report", *env_url).output == "disabled report\n"
    assert _invoke(entries, "disable", "report", *env_url).output == "report was already disabled\n"
    listed = _invoke(entries, "list", *env_url)
    assert listed.output.splitlines()[0].split() == ["ENTRY", "TASK", "SCHEDULE", "STATUS", "UPDATED"]
    assert listed.output.splitlines()[1].split()[:5] == ["report", "reports.send", "every", "1h30m", "disabled"]
    assert _invoke(entries, "enable", "report", *env_url).output == "enabled report\n"

    shown = _invoke(entries, "show", "report", *env_url)
    assert shown.output.startswith("# beatd_entries id 1, revision ")
    assert shown.output.splitlines()[1:] == [
        "report:", "  task: reports.send", "  every: 1h30m", "  kwargs: {format: pdf}"]

    schedule_file = tmp_path / "one.yaml"
    schedule_file.write_text("entries:\n  wake-up:\n    task: home.morning\n    solar: sunrise\n    lat: 1\n    lon: 2\n")
    from_file = _invoke(entries, "add", "wake-up", "--from-yaml", str(schedule_file), *env_url)
    assert (from_file.exit_code, from_file.output) == (0, "added wake-up: home.morning solar sunrise at 1.0,2.0\n")

    assert _invoke(entries, "remove", "report", *env_url).output == "removed report\n"
    missing = _invoke(entries, "remove", "report", *env_url)
    assert (missing.exit_code, missing.output) == (1, f"no entry named 'report' in {sqlite_url}\n")
    assert [entry.name for entry in SqlEntryStore(sqlite_url).load()] == ["wake-up"]


def test_entries_add_and_edit_take_day_match_and_a_new_schedule_drops_it(sqlite_url: str) -> None:
    env_url = ["--url", sqlite_url]
    assert _invoke(db, "upgrade", *env_url).exit_code == 0

    added = _invoke(entries, "add", "unlucky", "--task", "t", "--cron", "0 9 13 * 5", "--day-match", "both", *env_url)
    assert (added.exit_code, added.output) == (0, "added unlucky: t cron 0 9 13 * 5 (day_match both)\n")
    assert SqlEntryStore(sqlite_url).get("unlucky").mapping == {"task": "t", "cron": "0 9 13 * 5", "day_match": "both"}
    new_cron = _invoke(entries, "edit", "unlucky", "--cron", "0 10 13 * 5", *env_url)
    assert new_cron.output == "updated unlucky: t cron 0 10 13 * 5 (day_match both)\n"
    either = _invoke(entries, "edit", "unlucky", "--day-match", "either", *env_url)
    assert either.output == "updated unlucky: t cron 0 10 13 * 5 (day_match either)\n"
    bad = _invoke(entries, "edit", "unlucky", "--day-match", "all", *env_url)
    assert bad.exit_code == 2 and "Invalid value for '--day-match': 'all' is not one of 'either', 'both'" in bad.output
    every = _invoke(entries, "edit", "unlucky", "--every", "1h", *env_url)
    assert every.output == "updated unlucky: t every 1h\n"
    assert SqlEntryStore(sqlite_url).get("unlucky").mapping == {"task": "t", "every": 3600.0}
    not_cron = _invoke(entries, "add", "tick", "--task", "t", "--every", "1m", "--day-match", "both", *env_url)
    assert (not_cron.exit_code, not_cron.output) == (1, "entry 'tick': 'day_match' applies only to cron entries\n")


def test_list_and_show_mark_invalid_rows(sqlite_url: str) -> None:
    _invoke(db, "upgrade", "--url", sqlite_url)
    engine = sqlalchemy.create_engine(sqlite_url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO beatd_entries (name, task, kind, cron) VALUES ('broken', 't', 'cron', '61 * * * *')")
    engine.dispose()

    listed = _invoke(entries, "list", "--url", sqlite_url)
    shown = _invoke(entries, "show", "broken", "--url", sqlite_url)

    assert "INVALID" in listed.stdout.splitlines()[1]
    assert listed.stderr == "1 invalid entry is skipped by beatd; see `beatd entries show NAME`\n"
    assert shown.output.splitlines()[1] == (
        "# INVALID, skipped by beatd: beatd_entries id 1: entry 'broken': cron minute field '61' is out of range 0-59")


# ---------------------------------------------------------------------------------------
# The database down


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("url_template", ["postgresql+psycopg2://beatd:{password}@127.0.0.1:{port}/beatd",
                                          "mysql+pymysql://beatd:{password}@127.0.0.1:{port}/beatd"],
                         ids=["postgres", "mysql"])
def test_a_closed_port_raises_backend_unavailable_without_the_password(url_template: str) -> None:
    port = _closed_port()
    store = SqlEntryStore(url_template.format(password=PASSWORD, port=port))
    try:
        for read in (store.load, store.changes):
            with pytest.raises(BackendUnavailable) as raised:
                read()
            message = str(raised.value)
            assert PASSWORD not in message and f":***@127.0.0.1:{port}/beatd is unavailable: " in message
            assert message.startswith("entry store ")
    finally:
        store.close()


@pytest.mark.services
@pytest.mark.parametrize("backend", ["postgres", "mysql"])
def test_an_outage_raises_backend_unavailable_and_the_store_catches_up_afterwards(
        backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    direct = sqlalchemy.create_engine(url, poolclass=NullPool)
    upgrade(direct)
    proxy = TcpProxy(("127.0.0.1", 5432 if backend == "postgres" else 3306))
    store = SqlEntryStore(sqlalchemy.make_url(url).set(port=proxy.port).render_as_string(hide_password=False))
    try:
        # Given a store that has loaded through the proxy
        with direct.begin() as connection:
            connection.exec_driver_sql("INSERT INTO beatd_entries (name, task, kind, every_s) VALUES ('a', 't', 'every', 30)")
        assert [entry.name for entry in store.load()] == ["a"]
        # When the database goes away, reads fail with BackendUnavailable, again and again
        proxy.cut()
        for _ in range(2):
            with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{proxy.port}/.* is unavailable: "):
                store.changes()
        # While entries change
        with direct.begin() as connection:
            connection.exec_driver_sql("INSERT INTO beatd_entries (name, task, kind, every_s) VALUES ('b', 't', 'every', 30)")
            connection.exec_driver_sql("DELETE FROM beatd_entries WHERE name = 'a'")
        # Then, once it is back, the next call returns everything that happened meanwhile
        proxy.restore()
        assert _names(store.changes()) == (["b"], ["a"])
        assert store.changes() == EntryChanges()
    finally:
        store.close()
        proxy.close()
        direct.dispose()


@pytest.mark.services
def test_a_connection_the_server_dropped_is_replaced_without_an_error(postgres_url: str) -> None:
    engine = sqlalchemy.create_engine(postgres_url, poolclass=NullPool)
    upgrade(engine)
    store = SqlEntryStore(postgres_url)
    try:
        store.load()
        # The server ends the store's session (a restart, an idle timeout, an administrator)
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            connection.exec_driver_sql("INSERT INTO beatd_entries (name, task, kind, every_s) VALUES ('a', 't', 'every', 30)")
        assert _names(store.changes()) == (["a"], [])
    finally:
        store.close()
        engine.dispose()


def test_bad_urls_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not usable"):
        SqlEntryStore("nosuchdb://x/y")
    with pytest.raises(ConfigError, match="does not exist"):
        SqlEntryStore(f"sqlite:///{tmp_path}/missing/entries.sqlite3")


# ---------------------------------------------------------------------------------------
# The schema shortcut agrees with the full schema check


_VALUES = [None, True, False, 0, -1, 5, 5.0, 2.5, 1e300, 300, 95, -200, "", "t", "30s", "1h30m", "5 minutes", "sunrise",
           "noon", "latest", "sometimes", "Europe/Berlin", "2026-12-01T10:00:00+01:00", [], [1, "x"], {}, {"queue": "q"},
           {"priority": 300}, {"priority": 5, "expires": "1h"}, {"colour": 1}, {"headers": []}]
_KEYS = ["task", "every", "cron", "solar", "lat", "lon", "elevation", "at", "args", "kwargs", "options", "enabled",
         "timezone", "catchup", "jitter", "start", "end", "description", "colour"]


def test_the_schema_shortcut_says_yes_only_when_the_schema_does() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis_examples import examples_at_least

    from beatd.config.schema import SCHEMA_SHORTCUT as _schema_shortcut
    from beatd.config.schema import VALIDATOR

    assert _schema_shortcut.usable

    bases = [{}, {"task": "t", "every": 30}, {"task": "t", "cron": "@daily"},
             {"task": "t", "solar": "sunrise", "lat": 1, "lon": 2}, {"task": "t", "at": "2026-12-01T10:00:00Z"}]
    outcomes: set[bool] = set()

    @examples_at_least(1200)
    @settings(max_examples=1500, deadline=None)
    @given(st.sampled_from(bases), st.dictionaries(st.sampled_from(_KEYS), st.sampled_from(_VALUES), max_size=4))
    def agrees(base: dict[str, Any], changes: dict[str, Any]) -> None:
        mapping = {**base, **changes}
        full = not any(VALIDATOR.iter_errors({"entries": {"e": mapping}}))
        assert _schema_shortcut.passes(mapping) == full
        outcomes.add(full)

    agrees()
    assert outcomes == {True, False}
