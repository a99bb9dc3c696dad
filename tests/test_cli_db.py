"""`beatd db upgrade / downgrade / drop` on SQLite, PostgreSQL and MariaDB: what is removed, and the confirmation."""

from __future__ import annotations

import pytest
import sqlalchemy
from click.testing import CliRunner, Result
from sqlalchemy.pool import NullPool

from beatd.cli import main
from beatd.stores.sql import SqlEntryStore

BEATD_TABLES = {"beatd_entries", "beatd_entry_tombstones", "beatd_entries_revision"}
VERSION_TABLE = "beatd_alembic_version"


def invoke(*args: str, answer: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="beatd", input=answer)


def tables_and_triggers(url: str) -> tuple[set[str], set[str]]:
    """beatd's tables (the version table included) and the triggers on them."""
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            tables = {name for name in sqlalchemy.inspect(connection).get_table_names() if name.startswith("beatd_")}
            query = {
                "sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger'",
                "postgresql": "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal",
                "mysql": "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()",
            }[engine.dialect.name]
            triggers = {row[0] for row in connection.exec_driver_sql(query)}
    finally:
        engine.dispose()
    return tables, triggers


@pytest.fixture
def upgraded(sql_url: str) -> str:
    """A database with the entry tables (made by `beatd db upgrade`) and one entry in them."""
    created = invoke("db", "upgrade", "--url", sql_url)
    assert created.exit_code == 0, created.output
    store = SqlEntryStore(sql_url)
    store.add("report", {"task": "reports.send", "cron": "30 7 * * 1-5"})
    store.close()
    tables, triggers = tables_and_triggers(sql_url)
    assert tables == BEATD_TABLES | {VERSION_TABLE} and triggers, (tables, triggers)
    return sql_url


def test_drop_asks_first_and_keeps_everything_unless_told_yes(upgraded: str) -> None:
    before = tables_and_triggers(upgraded)
    refused = invoke("db", "drop", "--url", upgraded, answer="n\n")
    assert refused.exit_code == 1
    assert "Remove beatd's entry tables and their triggers from " in refused.output
    assert "(1 entry will be lost)? [y/N]" in refused.output
    assert refused.output.rstrip().endswith("Aborted!")
    assert tables_and_triggers(upgraded) == before
    # No answer at all (no terminal, stdin closed) is a no too.
    assert invoke("db", "drop", "--url", upgraded, answer="").exit_code == 1
    assert tables_and_triggers(upgraded) == before


def test_drop_removes_the_tables_their_triggers_and_the_version_table(upgraded: str) -> None:
    dropped = invoke("db", "drop", "--url", upgraded, answer="y\n")
    assert dropped.exit_code == 0, dropped.output
    assert dropped.output.endswith(": entry tables, triggers and revision history removed\n")
    assert tables_and_triggers(upgraded) == (set(), set())
    # And `db upgrade` starts again from nothing.
    again = invoke("db", "upgrade", "--url", upgraded)
    assert again.exit_code == 0, again.output
    assert again.output.endswith("entry tables upgraded from nothing to revision b0002\n")


def test_downgrade_to_base_with_yes_removes_the_tables_and_triggers(upgraded: str) -> None:
    result = invoke("db", "downgrade", "base", "--url", upgraded, "--yes")
    assert result.exit_code == 0, result.output
    assert result.output.endswith(": entry tables downgraded from b0002 to nothing (removed)\n")
    # Alembic's version table stays, empty: an upgrade knows the database is at base.
    assert tables_and_triggers(upgraded) == ({VERSION_TABLE}, set())


def test_downgrade_refuses_an_unknown_revision_before_touching_anything(upgraded: str) -> None:
    before = tables_and_triggers(upgraded)
    result = invoke("db", "downgrade", "b9999", "--url", upgraded, "--yes")
    assert result.exit_code == 2
    assert "'b9999' is not a revision of the entry tables" in result.output
    assert tables_and_triggers(upgraded) == before
