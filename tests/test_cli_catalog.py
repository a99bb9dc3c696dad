"""`next`, `check`, `status` and `trigger` see the entries `run` schedules: the file's and a SQL store's (real PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy
from click.testing import CliRunner, Result
from sqlalchemy.pool import NullPool

from beatd.cli import main
from beatd.stores.migrations import upgrade
from beatd.stores.sql import SqlEntryStore

FILE_ENTRY = "file-tick"
STORE_ENTRIES = {
    "db-hourly": {"task": "tasks.hourly", "cron": "0 * * * *"},
    "db-every-5m": {"task": "tasks.five", "every": "5m", "args": [1, 2]},
    "db-paused": {"task": "tasks.paused", "every": "1m", "enabled": False},
}


@dataclass(frozen=True)
class Setup:
    config: Path
    store_url: str
    row_ids: dict[str, int]


def write_config(tmp_path: Path, store_url: str, *, broker: str = "sqla+sqlite:///broker.sqlite3",
                 file_entries: str = f"  {FILE_ENTRY}:\n    task: tasks.tick\n    every: 30s\n") -> Path:
    config = tmp_path / "beatd.yaml"
    config.write_text(
        "timezone: Europe/Berlin\n"
        f"broker: {broker}\n"
        f"state: sqlite:///{tmp_path / 'state.sqlite3'}\n"
        f"stores:\n  - sql: {store_url}\n"
        f"entries:\n{file_entries}", encoding="utf-8")
    return config


@pytest.fixture
def setup(postgres_url: str, tmp_path: Path) -> Iterator[Setup]:
    """A PostgreSQL entry store with three entries, and a config with one entry of its own that names the store."""
    engine = sqlalchemy.create_engine(postgres_url, poolclass=NullPool)
    upgrade(engine)
    engine.dispose()
    store = SqlEntryStore(postgres_url)
    try:
        for name, mapping in STORE_ENTRIES.items():
            store.add(name, mapping)
        row_ids = {name: store.get(name).row_id for name in STORE_ENTRIES}  # type: ignore[union-attr]
    finally:
        store.close()
    yield Setup(write_config(tmp_path, postgres_url), postgres_url, row_ids)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="beatd")


def test_check_says_what_each_store_holds_and_counts_every_entry(setup: Setup) -> None:
    result = invoke("check", "--config", str(setup.config))
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"store sql {setup.store_url}: 3 entries\n"
                             f"ok: {setup.config}: 4 entries\n")


def test_check_fails_on_an_unreachable_store_without_showing_its_password(tmp_path: Path) -> None:
    # Port 9 (discard) on this host: nothing listens, the connection is refused.
    url = "postgresql+psycopg2://beatd:s3cr3t-Pw@127.0.0.1:9/nowhere"
    result = invoke("check", "--config", str(write_config(tmp_path, url)))
    assert result.exit_code == 1
    assert "s3cr3t-Pw" not in result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("entry store postgresql+psycopg2://beatd:***@127.0.0.1:9/nowhere is unavailable: ")
    assert "refused" in lines[0]
    assert lines[-1] == f"{tmp_path / 'beatd.yaml'}: 1 problem"
    assert "ok:" not in result.stdout


def test_check_reports_a_row_the_daemon_would_skip_and_a_name_defined_twice(setup: Setup, tmp_path: Path) -> None:
    # Given a row written with plain SQL that does not validate, and a store entry the file defines too
    engine = sqlalchemy.create_engine(setup.store_url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "INSERT INTO beatd_entries (name, task, kind, cron) VALUES ('broken', 'tasks.x', 'cron', '61 * * * *')"))
        broken_id = connection.execute(sqlalchemy.text("SELECT id FROM beatd_entries WHERE name = 'broken'")).scalar()
    engine.dispose()
    config = write_config(tmp_path, setup.store_url, file_entries="  db-hourly:\n    task: tasks.other\n    every: 1m\n")

    result = invoke("check", "--config", str(config))

    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"store sql {setup.store_url}: beatd_entries id {broken_id}: entry 'broken': ")
    assert errors[0].endswith("; the daemon skips it")
    assert errors[1] == (f"entry 'db-hourly' from store sql {setup.store_url} beatd_entries id {setup.row_ids['db-hourly']} "
                         f"is also defined in {config}:7; the daemon keeps that one")
    assert errors[2] == f"{config}: 2 problems"


def test_next_lists_the_store_entries_with_the_file_ones(setup: Setup) -> None:
    result = invoke("next", "--config", str(setup.config), "--from", "2026-01-10 12:00", "--count", "1", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["entry"]: row for row in map(json.loads, result.stdout.splitlines())}
    # The disabled store entry is left out, as the file's disabled entries are.
    assert sorted(rows) == ["db-every-5m", "db-hourly", FILE_ENTRY]
    assert rows["db-hourly"]["at"] == "2026-01-10T13:00:00+01:00"
    assert rows["db-every-5m"]["at"] == "2026-01-10T12:05:00+01:00"


def test_next_refuses_to_list_without_a_store_it_cannot_read(tmp_path: Path) -> None:
    config = write_config(tmp_path, "postgresql+psycopg2://postgres@127.0.0.1:9/nowhere")
    result = invoke("next", "--config", str(config))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.endswith("; its entries cannot be shown\n")


def test_status_lists_store_entries_and_where_each_is_defined(setup: Setup) -> None:
    result = invoke("status", "--config", str(setup.config), "--json")
    assert result.exit_code == 0, result.output
    sources = {row["entry"]: row["source"] for row in json.loads(result.stdout)["entries"]}
    assert sources == {
        FILE_ENTRY: f"{setup.config}:7",
        **{name: f"store sql {setup.store_url} beatd_entries id {row_id}" for name, row_id in setup.row_ids.items()},
    }
    table = invoke("status", "--config", str(setup.config))
    header, *rows = table.stdout.splitlines()[1:]
    assert header.split() == ["ENTRY", "TASK", "KIND", "LAST", "RUN", "NEXT", "RUN", "RUNS", "SOURCE"]
    paused = next(row for row in rows if row.startswith("db-paused "))
    assert paused.split()[2:5] == ["disabled", "-", "-"]
    assert paused.endswith(f"store sql {setup.store_url} beatd_entries id {setup.row_ids['db-paused']}")


def test_trigger_publishes_an_entry_of_the_store(setup: Setup, redis_url: str, tmp_path: Path) -> None:
    import redis

    # Given the store's entry routed to a queue of this test's own on a Redis broker
    queue = f"beatd-test-{uuid.uuid4().hex[:8]}"
    store = SqlEntryStore(setup.store_url)
    try:
        store.update("db-every-5m", {**STORE_ENTRIES["db-every-5m"], "options": {"queue": queue}})
    finally:
        store.close()
    config = write_config(tmp_path, setup.store_url, broker=redis_url)

    result = invoke("trigger", "db-every-5m", "--config", str(config))

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("published db-every-5m (tasks.five) task id ")
    client = redis.Redis.from_url(redis_url)
    try:
        [raw] = client.lrange(queue, 0, -1)
        message = json.loads(raw)
        assert message["headers"]["task"] == "tasks.five"
        assert message["headers"]["beatd_entry"] == "db-every-5m"
    finally:
        client.delete(queue)
        client.close()


def test_trigger_of_an_unknown_name_says_which_store_could_not_be_read(tmp_path: Path) -> None:
    config = write_config(tmp_path, "postgresql+psycopg2://postgres@127.0.0.1:9/nowhere")
    result = invoke("trigger", "db-hourly", "--config", str(config))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{config}: no entry named 'db-hourly'; entry store postgresql+psycopg2://")


def test_status_shows_a_jittered_entry_at_the_instant_its_run_is_published(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from beatd.config import load_config
    from beatd.text import local_text

    config = tmp_path / "beatd.yaml"
    config.write_text(
        f"timezone: Europe/Berlin\nstate: sqlite:///{tmp_path / 'state.sqlite3'}\n"
        "entries:\n  spread:\n    task: tasks.spread\n    cron: \"0 8 * * *\"\n    jitter: 10m\n", encoding="utf-8")
    entry = load_config(config).entries[0]
    offset = entry.jitter_offset()

    def expected() -> datetime:
        slot = entry.schedule.next_after(datetime.now(UTC) - offset)
        assert slot is not None
        return slot.astimezone(UTC) + offset

    before = expected()
    shown = invoke("status", "--config", str(config), "--json")
    table = invoke("status", "--config", str(config))
    after = expected()

    assert shown.exit_code == 0, shown.output
    [row] = json.loads(shown.stdout)["entries"]
    assert datetime.fromisoformat(row["next_run"]) in {before, after}
    assert row["next_run"].endswith(("+01:00", "+02:00"))  # the entry's zone, with its offset
    cells = table.stdout.splitlines()[2]
    assert local_text(datetime.fromisoformat(row["next_run"]), entry.timezone) in cells
