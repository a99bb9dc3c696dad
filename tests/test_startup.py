"""What starting beatd costs and says: imports of `--help` and `next`, start-up lines, the refusal of a second instance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy
from processes import Processes, beatd_command
from sqlalchemy.pool import NullPool

from beatd.stores.migrations import upgrade
from beatd.stores.sql import SqlEntryStore

DEMO = Path(__file__).resolve().parent.parent / "schedules" / "demo.yaml"
HEAVY = ("sqlalchemy", "kombu", "django", "celery", "redis", "alembic")


def imported_after(*args: str) -> set[str]:
    """The top-level packages a fresh interpreter has imported after running `beatd ARGS`."""
    script = (
        "import json, sys\n"
        "from beatd.cli import main\n"
        f"try:\n    main({list(args)!r}, prog_name='beatd')\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "sys.stdout.flush()\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stderr.splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [("--help",), ("next", "--help"), ("next", "--config", str(DEMO), "--from", "2026-03-28", "--count", "2"),
     ("check", "--config", str(DEMO))],
    ids=["help", "next-help", "next-demo", "check-demo"],
)
def test_commands_that_need_no_broker_or_database_import_none(args: tuple[str, ...]) -> None:
    assert imported_after(*args) & set(HEAVY) == set()


def test_the_import_check_sees_what_a_command_imports(tmp_path: Path) -> None:
    # The check above could not fail if it missed imports: a store config brings SQLAlchemy in.
    url = f"sqlite:///{tmp_path / 'entries.sqlite3'}"
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    upgrade(engine)
    engine.dispose()
    config = tmp_path / "beatd.yaml"
    config.write_text(f"stores:\n  - sql: {url}\n", encoding="utf-8")
    assert "sqlalchemy" in imported_after("next", "--config", str(config))


def test_start_up_says_what_was_reached_and_what_was_not(processes: Processes, tmp_path: Path) -> None:
    # Given a broker nobody listens on, SQLite state, and a SQL store holding one entry
    store_url = f"sqlite:///{tmp_path / 'entries.sqlite3'}"
    engine = sqlalchemy.create_engine(store_url, poolclass=NullPool)
    upgrade(engine)
    engine.dispose()
    store = SqlEntryStore(store_url)
    store.add("from-store", {"task": "tasks.stored", "every": "1h"})
    store.close()
    config = tmp_path / "beatd.yaml"
    config.write_text(
        "broker: redis://127.0.0.1:9/0\n"
        f"state: sqlite:///{tmp_path / 'state.sqlite3'}\n"
        f"stores:\n  - sql: {store_url}\n"
        "entries:\n  tick:\n    task: tasks.tick\n    every: 1h\n", encoding="utf-8")

    # When beatd starts
    beatd = processes.beatd(config, tmp_path / "beatd.log")
    beatd.wait_for_log(r"store sql \S+: 1 entry\n", "read its store")

    # Then it says, one line each, in this order, what it reached
    lines = [line.split(": ", 1)[1] for line in beatd.text().splitlines()]
    assert lines[0].startswith("broker redis://127.0.0.1:9/0: not reachable now (")
    assert lines[0].endswith("); runs wait and are published once it is")
    assert "refused" in lines[0]
    assert lines[1] == f"state store sqlite:///{tmp_path / 'state.sqlite3'}: reachable"
    assert lines[2] == f"lease: single instance on this host, lock file {tmp_path / 'state.sqlite3.lock'} held"
    assert lines[3].startswith("beatd started: 1 entry, holder ")
    assert f"store sql {store_url}: 1 entry" in lines
    assert not [line for line in lines if "retry the publish" in line]
    assert beatd.stop() == 0


def test_a_second_instance_prints_only_the_refusal(processes: Processes, tmp_path: Path) -> None:
    config = tmp_path / "beatd.yaml"
    config.write_text(
        "broker: sqla+sqlite:///broker.sqlite3\n"
        f"state: sqlite:///{tmp_path / 'state.sqlite3'}\n"
        "entries:\n  tick:\n    task: tasks.tick\n    every: 1h\n", encoding="utf-8")
    first = processes.beatd(config, tmp_path / "first.log")

    second = beatd_command("run", "--config", str(config), cwd=tmp_path)

    assert second.returncode == 1
    assert second.stdout == ""
    [line] = second.stderr.splitlines()
    assert line.startswith(f"another beatd (pid {first.process.pid}) holds {tmp_path / 'state.sqlite3.lock'}; stop it first")
    assert first.stop() == 0
