"""One million entries in the SQL entry store (PostgreSQL): `beatd run`'s first publish and peak memory, first start and restart.

Run: /work/main/.venv/bin/python bench/bench_sql_million.py [--entries 1000000] [--hold 20] [--repeats 1]

The bench creates a PostgreSQL database of its own (postgres@127.0.0.1:5432, trust) and
drops it afterwards. beatd_entries gets N interval entries, the same as bench_million's
YAML file (`every: 60 .. 3600` seconds, a task, two args), written with COPY (the
revision triggers stamp each row, as for any write); seeding is timed but not counted.
The config file names no entries of its own: `stores: [{sql: URL}]`, `state:` the same
database, `leader: {backend: none}`, the broker a Redis database this bench flushes
(default redis://127.0.0.1:6379/13).

Two cases, each measured as bench_million measures a run (first message seen on the
Redis side, peak RSS as VmHWM from /proc until the process has exited after SIGTERM):

    first start     empty beatd_state: every entry is new
    restart         beatd_state holds a record for each of the N entries (written with
                    COPY before the start: each entry's newest slot at or before now,
                    run_count 1), so start-up loads N records and resumes each entry
                    from its record, with no catch-up

Goals (issue 12, item 5): first publish under 60 s; peak resident memory under 1 GB.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import load_average, machine_speed, temporary_postgres_database  # noqa: E402
from bench_million import Run, every_for, print_runs, run_once  # noqa: E402

from beatd.state.sql import SqlStateStore  # noqa: E402
from beatd.stores.migrations import upgrade  # noqa: E402

ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/13"
_COPY_ROWS = 100_000


def _copy(engine: sqlalchemy.Engine, statement: str, lines: list[str]) -> None:
    """COPY tab-separated lines through psycopg2, in one transaction."""
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            for start in range(0, len(lines), _COPY_ROWS):
                cursor.copy_expert(statement, io.StringIO("".join(lines[start:start + _COPY_ROWS])))
        raw.commit()
    finally:
        raw.close()


def seed_entries(engine: sqlalchemy.Engine, count: int) -> None:
    """beatd_entries: `count` interval entries job-0000000.., each with two args."""
    lines = [f"job-{index:07d}\ttasks.add\tevery\t{every_for(index)}\t{json.dumps([16, index])}\n"
             for index in range(count)]
    _copy(engine, "COPY beatd_entries (name, task, kind, every_s, args) FROM STDIN", lines)


def seed_state(url: str, engine: sqlalchemy.Engine, count: int) -> None:
    """beatd_state: one record per entry, its newest slot at or before now (as a beatd running until now leaves it)."""
    SqlStateStore(url).close()  # creates the tables
    now_us = int(datetime.now(UTC).timestamp()) * 1_000_000
    lines = []
    for index in range(count):
        every_us = int(every_for(index)) * 1_000_000
        scheduled_us = now_us - now_us % every_us  # interval slots count from the Unix epoch
        lines.append(f"job-{index:07d}\t{scheduled_us}\t{scheduled_us}\t1\n")
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM beatd_state")
    _copy(engine, "COPY beatd_state (entry, scheduled_at_us, sent_at_us, run_count) FROM STDIN", lines)


def write_config(path: Path, url: str, redis_url: str) -> None:
    path.write_text(f"broker: {redis_url}\nstate: {url}\n"
                    f"leader: {{backend: none, lock_file: {path.with_suffix('.lock')}}}\n"
                    f"stores:\n  - sql: {url}\n", encoding="utf-8")


def run(url: str, args: argparse.Namespace) -> None:
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    upgrade(engine)
    started = time.perf_counter()
    seed_entries(engine, args.entries)
    print(f"seeded {args.entries:,} entries with COPY in {time.perf_counter() - started:.1f} s (not counted)", flush=True)
    with tempfile.TemporaryDirectory(prefix="beatd-bench-sql-million-") as tmp:
        config = Path(tmp) / "beatd.yaml"
        write_config(config, url, args.redis_url)
        first: list[Run] = []
        restart: list[Run] = []
        for repeat in range(1, args.repeats + 1):
            with engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE IF EXISTS beatd_state, beatd_state_meta, beatd_entry_fault")
            print(f"[{time.strftime('%H:%M:%S')}] first start {repeat} (load avg {load_average()})", flush=True)
            first.append(run_once(config, args.redis_url, hold_s=args.hold, start_timeout_s=args.start_timeout))
            started = time.perf_counter()
            seed_state(url, engine, args.entries)
            print(f"seeded {args.entries:,} state records with COPY in {time.perf_counter() - started:.1f} s "
                  "(not counted)", flush=True)
            print(f"[{time.strftime('%H:%M:%S')}] restart {repeat} (load avg {load_average()})", flush=True)
            restart.append(run_once(config, args.redis_url, hold_s=args.hold, start_timeout_s=args.start_timeout))
    engine.dispose()
    title = f"beatd run, SQL store in PostgreSQL, {args.repeats} runs, {args.hold:.0f} s of publishing each"
    print_runs(f"first start, {args.entries:,} entries, empty state", first, title=title)
    print_runs(f"restart, {args.entries:,} entries, {args.entries:,} state records", restart, title=title)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--hold", type=float, default=20.0, help="seconds to keep publishing after the first publish")
    parser.add_argument("--start-timeout", type=float, default=600.0, help="give up on a first publish after this")
    parser.add_argument("--redis-url", default=REDIS_URL, help="a database this bench may flush")
    args = parser.parse_args()
    print(machine_speed())
    with temporary_postgres_database(ADMIN_URL, prefix="beatd_bench_sqlmillion") as url:
        run(url, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
