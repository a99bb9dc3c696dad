"""The SQL entry store with 100,000 entries in PostgreSQL: full load, one change, an idle poll, side by side.

Run: /tmp/venv/bin/python bench/bench_sql_store.py [--count 100000] [--url URL] [--repeats 3]

Without --url the bench creates a database of its own on the local PostgreSQL
(postgres@127.0.0.1:5432, trust) and drops it afterwards. It fills beatd_entries with
--count entries (two in three cron, cycling through bench/_common's expressions and
zones, the others intervals; a third with args, some with kwargs and options) through
SqlEntryStore.upsert_many, as `beatd import` does, and then measures:

    full load          SqlEntryStore.load(): every row read and turned into a validated
                       Entry, what a daemon does at start-up and what a full reload costs
    one change         one row updated and committed by another connection, then one
                       changes() call: the work the daemon does to apply that edit
    idle poll          changes() with nothing changed: what the daemon pays each second
                       (one small query); also as CPU seconds per idle minute

Wall time (perf_counter) and CPU time of this process (process_time) are reported; the
database server's own CPU is not included. The daemon polls once a second, so an edit
is applied at most one poll interval plus the "one change" time after its commit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import CRON_EXPRESSIONS, ZONES, print_table, temporary_postgres_database  # noqa: E402

from beatd.stores.migrations import upgrade  # noqa: E402
from beatd.stores.sql import SqlEntryStore  # noqa: E402

ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def entry_mappings(count: int) -> dict[str, dict[str, object]]:
    """`count` entries: two in three cron (expressions and zones cycling), the rest intervals."""
    mappings: dict[str, dict[str, object]] = {}
    for index in range(count):
        mapping: dict[str, object] = {"task": f"reports.job{index % 50}"}
        if index % 3 == 2:
            mapping["every"] = 30 + index % 600
        else:
            mapping["cron"] = CRON_EXPRESSIONS[index % len(CRON_EXPRESSIONS)]
            zone = ZONES[index % len(ZONES)]
            if zone is not None:
                mapping["timezone"] = zone
        if index % 3 == 0:
            mapping["args"] = [index, "daily"]
        if index % 7 == 0:
            mapping["kwargs"] = {"format": "pdf", "notify": True}
        if index % 11 == 0:
            mapping["options"] = {"queue": "reports", "expires": 3600}
        mappings[f"entry-{index:06d}"] = mapping
    return mappings


def timed(work: Callable[[], object]) -> tuple[float, float, object]:
    """(wall s, CPU s, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def run(url: str, count: int, repeats: int, polls: int) -> None:
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    upgrade(engine)
    writer = SqlEntryStore(url)
    mappings = entry_mappings(count)
    seed_wall, seed_cpu, _ = timed(lambda: writer.upsert_many(mappings))
    print(f"seeded {count} entries with upsert_many (as `beatd import`): {ms(seed_wall)} wall, {ms(seed_cpu)} CPU")

    # Full load: what start-up and a full reload cost.
    loads = []
    store = SqlEntryStore(url)
    for _ in range(repeats):
        store.close()
        store = SqlEntryStore(url)
        wall, cpu, loaded = timed(store.load)
        assert isinstance(loaded, list) and len(loaded) == count, "not every entry loaded"
        loads.append((wall, cpu))
    with engine.connect() as connection:
        fetch_wall, _, _ = timed(lambda: connection.exec_driver_sql("SELECT * FROM beatd_entries").all())

    # One change, committed by another connection, then one changes() call.
    names = list(mappings)
    changes = []
    for attempt in range(repeats * 5):
        name = names[(attempt * 7919) % count]
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE beatd_entries SET kind = 'every', every_s = %(every)s, cron = NULL, timezone = NULL "
                "WHERE name = %(name)s", {"every": 45 + attempt, "name": name})
        wall, cpu, found = timed(store.changes)
        upserted = getattr(found, "upserted", [])
        assert [entry.name for entry in upserted] == [name], f"expected exactly {name}, got {len(upserted)} entries"
        changes.append((wall, cpu))

    # Idle polls.
    idle_wall, idle_cpu, _ = timed(lambda: [store.changes() for _ in range(polls)])
    idle_wall, idle_cpu = idle_wall / polls, idle_cpu / polls

    load_wall = statistics.median(wall for wall, _ in loads)
    load_cpu = statistics.median(cpu for _, cpu in loads)
    change_wall = statistics.median(wall for wall, _ in changes)
    change_cpu = statistics.median(cpu for _, cpu in changes)
    print_table(
        ["measure", "wall (median)", "wall (best)", "CPU (median)", "vs full load"],
        [
            ["full load (start-up, full reload)", ms(load_wall), ms(min(w for w, _ in loads)), ms(load_cpu), "1x"],
            ["  of which fetching the rows", ms(fetch_wall), "", "", ""],
            ["one change: changes() after 1 edit", ms(change_wall), ms(min(w for w, _ in changes)), ms(change_cpu),
             f"1/{load_wall / change_wall:,.0f}"],
            ["idle poll: changes(), nothing new", ms(idle_wall), "", ms(idle_cpu), f"1/{load_wall / idle_wall:,.0f}"],
        ],
        title=f"SQL entry store, {count:,} entries, PostgreSQL, {repeats} loads, {len(changes)} edits, {polls} idle polls",
    )
    print(f"\nidle CPU at one poll a second: {idle_cpu * 60 * 1000:.1f} ms per minute "
          f"(a full reload each second would cost {load_cpu * 60:.0f} s of CPU per minute)")
    print(f"edit to applied, with one poll a second: at most 1 s + {ms(change_wall)}")
    writer.close()
    store.close()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--url", help="a PostgreSQL database to use (its beatd tables are filled); default: a fresh one")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--polls", type=int, default=1000)
    args = parser.parse_args()
    if args.url:
        run(args.url, args.count, args.repeats, args.polls)
        return
    with temporary_postgres_database(ADMIN_URL) as url:
        run(url, args.count, args.repeats, args.polls)


if __name__ == "__main__":
    main()
