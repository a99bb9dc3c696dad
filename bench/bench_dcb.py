"""100,000 django-celery-beat rows in PostgreSQL: beatd's django_celery_beat store beside DCB's own scheduler.

Run: python bench/bench_dcb.py [--count 100000] [--repeats 3]

Creates a database of its own on the local PostgreSQL (postgres@127.0.0.1:5432, trust),
migrates it with Django and django_celery_beat's migrations, fills it with --count rows
through DCB's models (PeriodicTask.objects.bulk_create; half intervals, one in a hundred
every second, half crontabs in four zones; all with last_run_at = now), and measures:

    beatd load          DjangoCeleryBeatStore.load(): every row read, converted, validated
                        (what `beatd run` does at start; wall and CPU of this process;
                        memory allocated by a second load, from tracemalloc)
    idle poll           changes() when nothing changed and the stamp did not move (one tiny query)
    checksum poll       changes() when the checksum runs and finds nothing (once a second)
    edit to effect      one row changed by QuerySet.update()-style SQL (no stamp), then
                        changes() polled every 0.5 s as the daemon polls: seconds from the
                        commit until the changed entry is returned
    first publish       `beatd run` on the database (Redis broker): seconds from start until
                        it logs its first published run, its CPU seconds by then, its peak RSS.
                        The rows' last runs are minutes old by then, so every overdue interval
                        row is sent at once (as DCB would send it): the first batch is large
    DCB all_as_schedule DatabaseScheduler.all_as_schedule() in a Django process: the full
                        read DCB does at start and after every change it notices (it never
                        notices update() or raw SQL until its 5-minute full sync), and the
                        memory a second call allocates (tracemalloc). DCB loads only the
                        crontabs whose hour is within 2 h of now (DCB#894), hence fewer entries

The database is dropped afterwards. The Redis database 12 is flushed (bench/_common's default).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import sqlalchemy

BENCH_DIR = Path(__file__).resolve().parent
TESTS_DIR = BENCH_DIR.parent / "tests"
sys.path[:0] = [str(BENCH_DIR), str(TESTS_DIR), str(BENCH_DIR.parent)]

from _common import BEATD, DEFAULT_REDIS_URL, print_table, temporary_postgres_database  # noqa: E402
from dcb_project import dcb  # noqa: E402

from beatd.stores.django_celery_beat import CHECKSUM_INTERVAL_S, DjangoCeleryBeatStore  # noqa: E402

POLL_S = 0.5

DCB_SCRIPT = """
import time, os, tracemalloc
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dcb_project.settings")
from dcb_project.celery_app import app
from django_celery_beat.schedulers import DatabaseScheduler
scheduler = DatabaseScheduler(app=app, lazy=True)
started, cpu = time.perf_counter(), time.process_time()
schedule = scheduler.all_as_schedule()
wall, cpu = time.perf_counter() - started, time.process_time() - cpu
del schedule
tracemalloc.start()
schedule = scheduler.all_as_schedule()
print(len(schedule), wall, cpu, tracemalloc.get_traced_memory()[1] / 2**20)
"""


def timed(work, repeats: int) -> tuple[float, float, float]:
    """Best wall, median wall, median CPU seconds over repeats."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), statistics.median(walls), statistics.median(cpus)


def measure_store(url: str, repeats: int) -> list[list[str]]:
    rows = []
    store = DjangoCeleryBeatStore(url)
    wall, cpu = time.perf_counter(), time.process_time()
    entries = store.load()
    load_wall, load_cpu = time.perf_counter() - wall, time.process_time() - cpu
    del entries
    tracemalloc.start()  # a second load, for its memory: tracemalloc slows what it watches
    entries = store.load()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows.append(["beatd load", f"{len(entries)} entries", f"{load_wall:.2f} s", f"{load_cpu:.2f} s",
                 f"peak {peak / 2**20:.0f} MiB allocated"])
    store.changes()
    best, median, cpu_median = timed(store.changes, repeats * 10)
    rows.append(["idle poll", "stamp only", f"{median * 1000:.1f} ms", f"{cpu_median * 1000:.1f} ms", ""])

    def checksum() -> None:
        store._next_check = 0.0  # noqa: SLF001  (force the checksum, as its interval does)
        store.changes()

    best, median, cpu_median = timed(checksum, repeats)
    rows.append(["checksum poll", "nothing changed", f"{median * 1000:.0f} ms", f"{cpu_median * 1000:.0f} ms",
                 f"runs every {CHECKSUM_INTERVAL_S:.0f} s"])
    engine = sqlalchemy.create_engine(url)
    delays = []
    for attempt in range(repeats):
        with engine.begin() as connection:
            connection.exec_driver_sql(
                f"UPDATE django_celery_beat_periodictask SET args = '[{attempt}, \"edited\"]' WHERE name = 'bench-777'")
        committed = time.perf_counter()
        while True:
            changes = store.changes()
            if any(entry.name == "bench-777" for entry in changes.upserted):
                delays.append(time.perf_counter() - committed)
                break
            time.sleep(POLL_S)
    engine.dispose()
    rows.append(["edit to effect", "update(), no stamp", f"{max(delays):.2f} s (max)", "",
                 f"median {statistics.median(delays):.2f} s"])
    store.close()
    return rows


def measure_first_publish(url: str, directory: Path) -> list[str]:
    import redis

    redis.Redis.from_url(DEFAULT_REDIS_URL).flushdb()
    config = directory / "beatd.yaml"
    config.write_text(f"broker: {DEFAULT_REDIS_URL}\nstate: sqlite:///{directory / 'state.sqlite3'}\n"
                      f"leader: {{backend: none, lock_file: {directory / 'beatd.lock'}}}\n"
                      f"stores: [{{django_celery_beat: '{url}'}}]\n")
    log = directory / "beatd.log"
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen([BEATD, "run", "--config", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        while "published entry" not in log.read_text():
            if process.poll() is not None or time.perf_counter() - started > 300:
                raise SystemExit(f"beatd did not publish:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        first = time.perf_counter() - started
        # utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks
        ticks = sum(int(field) for field in Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13])
        cpu = ticks / os.sysconf("SC_CLK_TCK")
        status = Path(f"/proc/{process.pid}/status").read_text()
        peak = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]
    finally:
        process.terminate()
        process.wait(timeout=30)
    redis.Redis.from_url(DEFAULT_REDIS_URL).flushdb()
    return ["first publish", "beatd run", f"{first:.1f} s", f"{cpu:.1f} s", f"peak RSS {peak:.0f} MiB"]


def measure_dcb(url: str) -> list[str]:
    environment = {**os.environ, "BEATD_DCB_DATABASE": url, "PYTHONPATH": str(TESTS_DIR), "BEATD_TEST_BROKER": "memory://"}
    result = subprocess.run([sys.executable, "-c", DCB_SCRIPT], env=environment, capture_output=True, text=True, check=True)
    count, wall, cpu, grown = result.stdout.split()
    return ["DCB all_as_schedule", f"{count} entries", f"{float(wall):.2f} s", f"{float(cpu):.2f} s",
            f"peak {float(grown):.0f} MiB allocated; redone on each change it notices"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    with temporary_postgres_database(prefix="beatd_bench_dcb") as url:
        dcb(url, "migrate")
        started = time.perf_counter()
        dcb(url, "bulk", {"count": arguments.count})
        print(f"{arguments.count} rows created through DCB's models in {time.perf_counter() - started:.0f} s")
        table = measure_store(url, arguments.repeats)
        with tempfile.TemporaryDirectory() as directory:
            table.append(measure_first_publish(url, Path(directory)))
        table.append(measure_dcb(url))
        print_table(["what", "", "wall", "CPU", "notes"], table,
                    title=f"{arguments.count} django-celery-beat rows in PostgreSQL (load average {os.getloadavg()[0]:.1f})")

if __name__ == "__main__":
    main()
