"""One million interval entries in one YAML file: beatd's time to first publish and its peak memory.

Run: /tmp/venv/bin/python bench/bench_million.py [--entries 1000000] [--repeats 3] [--hold 20] [--no-breakdown]

The file holds N entries `every: 60 .. 3600` seconds (60 + i * 7919 mod 3541, so slots
spread over the hour: about 1,200 runs fall due each second, none of them all at once),
each with a task and two args. Generating it is timed but not counted.

Each run starts `beatd run --log-level warning` (broker: a Redis database this bench
flushes, default redis://127.0.0.1:6379/12; state: a fresh SQLite file), counts messages
on the Redis side ten times a second (and drops them) to see the first publish, keeps
the daemon publishing for --hold seconds, then stops it with SIGTERM. Peak resident
memory is the process's VmHWM from /proc, read until it exits (so the final state flush
counts too); RSS is also shown at the first publish. CPU seconds beside wall seconds
tell how much of the wall time was spent waiting for a core on a busy machine.

Goals (issue 3): first publish under 60 s from start; peak resident memory under 1 GB.

The breakdown (one run, in a child process so its memory is its own) repeats the
daemon's start-up steps in-process: imports, load_config (which reads, checks and builds
each entry in one pass; --attribute-load also times the YAML reader alone
in a separate pass), loading the engine, the first `due`, with the RSS after each step.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from _common import (
    BEATD,
    COUNT_AND_DROP,
    DEFAULT_REDIS_URL,
    best_and_median,
    load_average,
    machine_speed,
    print_table,
    proc_cpu_s,
    proc_status_kib,
    verdict,
    write_interval_yaml,
)

FIRST_PUBLISH_GOAL_S = 60.0
MEMORY_GOAL_MIB = 1000.0  # "1 GB", read as 10^9 bytes would be 954 MiB; both are shown


def every_for(index: int) -> str:
    return str(60 + (index * 7919) % 3541)


def generate(path: Path, entries: int, redis_url: str, state_path: Path) -> float:
    started = time.perf_counter()
    write_interval_yaml(path, entries, every=every_for,
                        header=f"broker: {redis_url}\nstate: sqlite:///{state_path}\n"
                               f"leader: {{backend: none, lock_file: {state_path}.lock}}")
    return time.perf_counter() - started


@dataclass
class Run:
    first_publish_s: float | None = None
    cpu_to_first_publish_s: float | None = None
    rss_at_first_publish_mib: float | None = None
    peak_rss_mib: float | None = None
    published: int = 0
    stop_s: float | None = None
    note: str = ""


def run_once(config: Path, redis_url: str, *, hold_s: float, start_timeout_s: float) -> Run:
    import redis

    run = Run()
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    count_and_drop = client.register_script(COUNT_AND_DROP)
    log_path = config.with_suffix(".log")
    with open(log_path, "wb") as log:
        started = time.time()
        process = subprocess.Popen([BEATD, "run", "--config", str(config), "--log-level", "warning"],
                                   stdout=subprocess.DEVNULL, stderr=log)
        peak_kib = 0
        first_at: float | None = None
        try:
            while process.poll() is None:
                time.sleep(0.1)
                peak_kib = max(peak_kib, proc_status_kib(process.pid, "VmHWM") or 0)
                found = int(count_and_drop(keys=["celery"]))
                run.published += found
                now = time.time()
                if found and first_at is None:
                    first_at = now
                    run.first_publish_s = now - started
                    run.cpu_to_first_publish_s = proc_cpu_s(process.pid)
                    run.rss_at_first_publish_mib = (proc_status_kib(process.pid, "VmRSS") or 0) / 1024
                if first_at is None and now - started > start_timeout_s:
                    run.note += f" no publish within {start_timeout_s:.0f} s;"
                    break
                if first_at is not None and now - first_at >= hold_s:
                    break
        finally:
            if process.poll() is None:
                stopping = time.perf_counter()
                process.send_signal(signal.SIGTERM)
                while process.poll() is None and time.perf_counter() - stopping < 300:
                    peak_kib = max(peak_kib, proc_status_kib(process.pid, "VmHWM") or 0)
                    time.sleep(0.1)
                if process.poll() is None:
                    process.kill()
                    run.note += " did not stop within 300 s of SIGTERM, killed;"
                else:
                    run.stop_s = time.perf_counter() - stopping
                process.wait()
    run.peak_rss_mib = peak_kib / 1024
    errors = [line for line in log_path.read_text(errors="replace").splitlines() if " ERROR " in line or "Traceback" in line]
    if errors:
        run.note += f" {len(errors)} error lines, first: {errors[0][:160]};"
    client.flushdb()
    client.close()
    return run


def print_runs(workload: str, runs: list[Run], *, title: str) -> None:
    """The table of runs against the goals (best and median), then each run's notes."""
    rows = []
    for label, attribute, pattern, goal, goal_text in (
        ("start to first publish, wall s", "first_publish_s", "{:.1f}", FIRST_PUBLISH_GOAL_S, "< 60 s"),
        ("CPU s used by then", "cpu_to_first_publish_s", "{:.1f}", None, ""),
        ("RSS at first publish, MiB", "rss_at_first_publish_mib", "{:,.0f}", None, ""),
        ("peak RSS (VmHWM), MiB", "peak_rss_mib", "{:,.0f}", MEMORY_GOAL_MIB, "< 1 GB (~954-1000 MiB)"),
        ("SIGTERM to exit, s", "stop_s", "{:.1f}", None, ""),
    ):
        values = [getattr(run, attribute) for run in runs if getattr(run, attribute) is not None]
        if not values:
            rows.append((label, "-", "-", goal_text, verdict(False) if goal else ""))
            continue
        best, median = best_and_median(values)
        met = verdict(median < goal) if goal else ""
        rows.append((label, pattern.format(best), pattern.format(median), goal_text, met))
    published = statistics.median([run.published for run in runs] or [0])
    print_table((workload, "best", "median", "goal", "met"), rows,
                title=f"{title} (median {published:,.0f} messages; load avg {load_average()})")
    for number, run in enumerate(runs, start=1):
        if run.note.strip():
            print(f"  run {number}: {run.note.strip()}")


# -- in-process breakdown (runs in a child process) ---------------------------------------------


def rss_mib() -> float:
    return (proc_status_kib(os.getpid(), "VmRSS") or 0) / 1024


def breakdown_child(config_path: Path, attribute: bool) -> None:
    """Print one JSON line per start-up step: seconds, CPU seconds and RSS after it."""
    steps: list[dict[str, float | str]] = []
    clock = [time.perf_counter(), time.process_time()]

    def step(name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        steps.append({"step": name, "seconds": now - clock[0], "cpu_s": cpu - clock[1], "rss_mib": rss_mib()})
        clock[0], clock[1] = time.perf_counter(), time.process_time()

    import beatd.config as config_module
    import beatd.daemon.build  # noqa: F401  (what `beatd run` imports)
    from beatd.engine import Engine

    step("imports (beatd.daemon.build)")
    # What `beatd run` does: load_config reads (one walk over libyaml's events), checks
    # and builds each entry.
    entries = list(config_module.load_config(config_path).entries)
    step("load_config (read, check, build)")
    if attribute:
        # The same file once more, only through the reader: how much of load_config is
        # reading rather than checking and building.
        from beatd.config.document import read_yaml

        clock[0], clock[1] = time.perf_counter(), time.process_time()
        read_yaml(config_path)
        step("  of which the YAML reader alone (a separate pass)")
    now = datetime.now(UTC)
    engine = Engine()
    engine.load(entries, now=now, last_scheduled={})
    step("Engine.load (next slot of each entry, heap)")
    wakeup = engine.next_wakeup()
    fires = engine.due(wakeup) if wakeup is not None else []
    step(f"first Engine.due ({len(fires)} fires)")
    peak = (proc_status_kib(os.getpid(), "VmHWM") or 0) / 1024
    print(json.dumps({"steps": steps, "peak_rss_mib": peak, "entries": len(entries)}))


def breakdown(config: Path, attribute: bool) -> None:
    completed = subprocess.run([sys.executable, __file__, "--breakdown-child", str(config)]
                               + (["--attribute-load"] if attribute else []),
                               capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        print(f"breakdown failed: {completed.stderr[-2000:]}")
        return
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    rows = [(step["step"], f"{step['seconds']:.1f}", f"{step['cpu_s']:.1f}", f"{step['rss_mib']:,.0f}")
            for step in result["steps"]]
    counted = [step for step in result["steps"] if not step["step"].startswith(" ")]  # not the attributions
    rows.append(("total", f"{sum(step['seconds'] for step in counted):.1f}",
                 f"{sum(step['cpu_s'] for step in counted):.1f}", f"peak {result['peak_rss_mib']:,.0f}"))
    print_table(("start-up step (in-process, one run)", "wall s", "cpu s", "RSS after MiB"), rows,
                title=f"breakdown of start-up, {result['entries']:,} entries (load avg {load_average()})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hold", type=float, default=20.0, help="seconds to keep publishing after the first publish")
    parser.add_argument("--start-timeout", type=float, default=1800.0, help="give up on a first publish after this")
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--breakdown-entries", type=int, help="run the breakdown on a file of this many entries "
                        "(default: the same file)")
    parser.add_argument("--skip-runs", action="store_true", help="only the breakdown")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a database this bench may flush")
    parser.add_argument("--attribute-load", action="store_true",
                        help="in the breakdown, also time the YAML reader alone in a separate pass")
    parser.add_argument("--breakdown-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.breakdown_child:
        breakdown_child(args.breakdown_child, args.attribute_load)
        return 0
    print(machine_speed())

    with tempfile.TemporaryDirectory(prefix="beatd-bench-million-") as tmp:
        workdir = Path(tmp)
        config = workdir / "million.yaml"
        generate_s = generate(config, args.entries, args.redis_url, workdir / "state.sqlite3")
        print(f"generated {config.stat().st_size / 2**20:,.0f} MiB, {args.entries:,} entries, in {generate_s:.1f} s "
              "(not counted)", flush=True)
        runs = []
        for repeat in range(1, 0 if args.skip_runs else args.repeats + 1):
            print(f"[{time.strftime('%H:%M:%S')}] run {repeat} (load avg {load_average()})", file=sys.stderr, flush=True)
            for stale in workdir.glob("state.sqlite3*"):
                stale.unlink()
            runs.append(run_once(config, args.redis_url, hold_s=args.hold, start_timeout_s=args.start_timeout))

        print_runs(f"{args.entries:,} interval entries", runs, title=f"beatd run, {len(runs)} runs, {args.hold:.0f} s of "
                   "publishing each")
        if not args.no_breakdown:
            if args.breakdown_entries and args.breakdown_entries != args.entries:
                config = workdir / "breakdown.yaml"
                generate(config, args.breakdown_entries, args.redis_url, workdir / "breakdown-state.sqlite3")
            breakdown(config, args.attribute_load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
