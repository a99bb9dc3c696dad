"""Start-up time of the command line: `beatd --help` beside `celery --help`, and `beatd next` on the demo file.

Run: python bench/bench_startup.py [--repeats 15]

Each command runs as a user runs it, a subprocess whose output is read through a pipe,
the contenders interleaved run by run so that load on the machine hits each alike. Goal:
`beatd --help` no slower than `celery --help` (issue 15). CPU seconds (user + system of
the child) are printed beside wall time: on a shared machine wall time includes waiting
for a core.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import time
from pathlib import Path

from _common import BEATD, CELERY, best_and_median, load_average, print_table, verdict

DEMO = Path(__file__).resolve().parent.parent / "schedules" / "demo.yaml"
COMMANDS = {
    "beatd --help": [BEATD, "--help"],
    "celery --help": [CELERY, "--help"],
    "beatd next (demo)": [BEATD, "next", "--config", str(DEMO), "--from", "2026-03-28", "--count", "5"],
}


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and child CPU seconds of one run of command, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    wall_s = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall_s, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="runs of each command (default 15)")
    repeats = parser.parse_args().repeats
    for command in COMMANDS.values():  # warm the file cache and the bytecode
        timed(command)
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(repeats):
        for name, command in COMMANDS.items():
            wall_s, cpu_s = timed(command)
            walls[name].append(wall_s)
            cpus[name].append(cpu_s)
    rows = []
    for name in COMMANDS:
        wall_best, wall_median = best_and_median(walls[name])
        cpu_best, cpu_median = best_and_median(cpus[name])
        rows.append((name, f"{wall_best:.3f}", f"{wall_median:.3f}", f"{cpu_best:.3f}", f"{cpu_median:.3f}"))
    print_table(("command", "wall best s", "wall median s", "cpu best s", "cpu median s"), rows,
                f"Start-up, {repeats} runs each, interleaved (load average {load_average()})")
    met = best_and_median(walls["beatd --help"])[1] <= best_and_median(walls["celery --help"])[1]
    print(f"\nbeatd --help no slower than celery --help (median wall): {verdict(met)}")


if __name__ == "__main__":
    main()
