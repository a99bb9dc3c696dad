"""Shared helpers for the benchmarks: schedule file generators, statistics, tables, process probes."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# The console scripts of the interpreter running the bench (the virtualenv's).
BIN_DIR = Path(sys.executable).parent
BEATD = str(BIN_DIR / "beatd")
CELERY = str(BIN_DIR / "celery")

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"

# Cron expressions people write: office hours, quarter-hourly polls, nightly jobs, month
# ends, the Vixie day-of-month OR day-of-week rule, the L/W/# extensions, and fixed times
# inside a DST gap (30 2 * * *), so the generated file walks every path of next_after.
CRON_EXPRESSIONS = (
    "30 7 * * 1-5",
    "*/15 * * * *",
    "0 * * * *",
    "0 0 * * *",
    "5 4 * * sun",
    "0 9-17 * * mon-fri",
    "*/5 9-18 * * 1-5",
    "0 0 1 * *",
    "0 12 15 * *",
    "15 2 1,15 * *",
    "30 2 * * *",
    "0 8 1-7 * 1",
    "45 23 * * 5",
    "0 */2 * * *",
    "*/10 * * * *",
    "0 0 1 1 *",
    "0 22 * * 1-5",
    "15 10 * 1-6 *",
    "0 0 L * *",
    "0 6 * * 1#1",
    "0 18 * * 5L",
    "0 9 15W * *",
    "@hourly",
    "@daily",
    "@weekly",
    "20 */4 * * *",
    "0 3 * * 0",
    "1 0 * * *",
    "*/30 6-22 * * *",
    "0 12 * * 6,0",
)
ZONES = (
    None,  # the config's default zone
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "America/Sao_Paulo",
    "Pacific/Auckland",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "America/Santiago",
)


def write_cron_yaml(path: Path, count: int, *, header: str = "") -> None:
    """`count` cron entries cycling through CRON_EXPRESSIONS and ZONES (coprime lengths mix them)."""
    lines = [header, "timezone: Europe/Berlin", "entries:"]
    for index in range(count):
        expression = CRON_EXPRESSIONS[index % len(CRON_EXPRESSIONS)]
        zone = ZONES[index % len(ZONES)]
        lines.append(f"  cron-{index:06d}:")
        lines.append(f"    task: reports.job{index % 50}")
        lines.append(f'    cron: "{expression}"')
        if zone is not None:
            lines.append(f"    timezone: {zone}")
        if index % 3 == 0:
            lines.append(f"    args: [{index}, \"daily\"]")
        if index % 7 == 0:
            lines.append("    kwargs: {format: pdf, notify: true}")
        if index % 11 == 0:
            lines.append("    options: {queue: reports, expires: 1h}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_interval_yaml(path: Path, count: int, *, every: Callable[[int], str] = lambda index: "1",
                        header: str = "") -> None:
    """`count` interval entries `every: every(i)`, each with two args, as a celery beat schedule would hold."""
    lines = [header, "entries:"]
    for index in range(count):
        lines.append(f"  job-{index:07d}:")
        lines.append("    task: tasks.add")
        lines.append(f"    every: {every(index)}")
        lines.append(f"    args: [16, {index}]")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def best_and_median(values: Sequence[float]) -> tuple[float, float]:
    return min(values), statistics.median(values)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, int(round(fraction * len(sorted_values) + 0.5)) - 1))
    return sorted_values[rank]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
    """A plain side-by-side table; the first column left-aligned, the others right-aligned."""
    cells = [[str(header) for header in headers]] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    if title:
        print(f"\n{title}")
    for number, row in enumerate(cells):
        print("  ".join(cell.ljust(widths[0]) if column == 0 else cell.rjust(widths[column])
                        for column, cell in enumerate(row)).rstrip())
        if number == 0:
            print("  ".join("-" * width for width in widths))
    sys.stdout.flush()


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "MISSED")


# -- process probes (Linux /proc) ------------------------------------------------------------


def proc_status_kib(pid: int, field: str) -> int | None:
    """A `VmRSS`/`VmHWM`-style field of /proc/<pid>/status in KiB, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def proc_cpu_s(pid: int) -> float | None:
    """User plus system CPU seconds the process has used so far."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def machine_speed() -> str:
    """How fast this Python runs here, to scale figures between machines.

    Best of five `sum(range(10**6))`: about 12 ms on a 2023 laptop core, more on a slow
    or busy machine.
    """
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        sum(range(10**6))
        timings.append(time.perf_counter() - started)
    return (f"python {sys.version.split()[0]}, sum(range(10**6)) best of 5: {min(timings) * 1000:.1f} ms; "
            f"{os.cpu_count()} cores; load avg {load_average()}")


# -- Redis ------------------------------------------------------------------------------------

# Count the messages in a queue list and drop them, atomically: the drain costs the bench
# one round trip and no payload transfer, so it takes as little CPU as possible from the
# scheduler being measured on a small machine.
COUNT_AND_DROP = """
local total = 0
for _, key in ipairs(KEYS) do
  total = total + redis.call('LLEN', key)
  redis.call('DEL', key)
end
return total
"""


def sampled(interval_s: float, until: Callable[[], bool]) -> Iterator[float]:
    """Yield perf_counter instants on a fixed grid until `until()` is true (no drift)."""
    next_at = time.perf_counter()
    while not until():
        yield time.perf_counter()
        next_at += interval_s
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            next_at = time.perf_counter()


@contextmanager
def temporary_postgres_database(admin_url: str = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
                                prefix: str = "beatd_bench") -> Iterator[str]:
    """A new database on the local PostgreSQL, dropped afterwards; yields its URL."""
    import uuid

    import sqlalchemy
    from sqlalchemy.pool import NullPool

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
