"""`beatd next` over big schedule files, and the cost of one next-fire computation, beside croniter and celery.

Run: /tmp/venv/bin/python bench/bench_next.py [--repeats 3] [--rounds 40] [--skip-cli] [--skip-calls]

Part (a) runs `beatd next --count 5` as a subprocess (Python start-up included, output read
through a pipe) over a generated file of 10,000 cron entries (30 expressions, 14 zones,
some with args, kwargs and options) and one of 100,000 interval entries. Goals: < 3 s and
< 5 s wall. On a shared machine wall time includes waiting for a core, so the CPU time
of the process (user + system) is printed beside it. A breakdown repeats the same steps
in-process: start-up and imports, load_config (attributed to the YAML reader, the schema
shortcut and build_entry by separate passes), computing fires, formatting and writing;
plus, for scale, a plain `yaml.load` of the same file with PyYAML's C loader.

Part (b) times one next-fire computation for two typical cron entries, 30 7 * * 1-5 in
America/New_York and */15 * * * * in Europe/Berlin: beatd's CronSchedule.next_after,
croniter's get_next and celery's crontab (app timezone set) remaining_estimate and
is_due, interleaved round by round so load on the machine hits each alike. Goal: beatd
at most 20 us median.
"""

from __future__ import annotations

import argparse
import io
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from _common import (
    BEATD,
    best_and_median,
    load_average,
    machine_speed,
    print_table,
    verdict,
    write_cron_yaml,
    write_interval_yaml,
)

# A fixed --from keeps runs comparable from day to day; five daily fires from here cross
# Europe's spring-forward (2026-03-29), so the DST paths of next_after are exercised too.
FROM = "2026-03-26T12:00:00+00:00"
CLI_GOALS_S = {"cron": 3.0, "interval": 5.0}


# -- (a) beatd next over big files --------------------------------------------------------------


def run_cli_once(path: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and output lines of one `beatd next` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run([BEATD, "next", "--config", str(path), "--count", "5", "--from", FROM],
                               capture_output=True, check=False)
    wall_s = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise SystemExit(f"beatd next failed on {path}: {completed.stderr.decode(errors='replace')}")
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall_s, cpu_s, completed.stdout.count(b"\n")


def startup_seconds() -> tuple[float, float]:
    """Wall and CPU seconds of a Python process that only imports beatd's CLI."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import beatd.cli"], check=True)
    wall_s = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall_s, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def breakdown(path: Path) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds per step of `beatd next --count 5`, in-process, the steps as beatd.cli takes them.

    load_config reads, checks and builds each entry; the three indented rows attribute
    it, from separate passes over the same file (the YAML reader alone, then the schema
    shortcut, then build_entry over its mappings). The last two check and build every
    entry, where load_config makes an entry alike but for name and args from an earlier
    one: they add up to more than load_config spends.
    """
    import gc

    import yaml

    import beatd.config as config
    from beatd.cli.listing import Listing
    from beatd.config.document import read_yaml
    from beatd.entry import Source

    steps: dict[str, tuple[float, float]] = {}

    def timed(step: str, work: Callable[[], object]) -> object:
        started, cpu_started = time.perf_counter(), time.process_time()
        result = work()
        steps[step] = (time.perf_counter() - started, time.process_time() - cpu_started)
        return result

    loaded = timed("load_config (read, check, build)", lambda: config.load_config(path))
    gc.disable()  # as load_config does
    try:
        document = timed("  of which: the YAML reader alone (libyaml's events)", lambda: read_yaml(path))
        mappings = [(name, line, raw) for (name, raw), line
                    in zip(document["entries"].items(), document["entries"].key_lines.values(), strict=True)]
        timed("  of which: schema shortcut", lambda: [config.SCHEMA_SHORTCUT.passes(raw) for _, _, raw in mappings])
        timed("  of which: build_entry", lambda: [config.build_entry(name, raw, loaded.timezone, Source(path="p", line=line))
                                                  for name, line, raw in mappings])
    finally:
        gc.enable()
        document = mappings = None  # freed before the steps below

    start = datetime.fromisoformat(FROM)
    entries = [entry for entry in loaded.entries if entry.enabled]
    listing = timed("computing fires (5 per entry, grouped)", lambda: Listing.build(entries, start, None, 5))
    timed("formatting and writing the table", lambda: listing.write_table(io.StringIO()))

    text = path.read_text(encoding="utf-8")
    timed("ref: yaml.load with CSafeLoader, same file",
          lambda: yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    return steps


def bench_cli(repeats: int, workdir: Path) -> None:
    files = {
        "cron": (workdir / "cron-10k.yaml", 10_000, write_cron_yaml),
        "interval": (workdir / "interval-100k.yaml", 100_000, write_interval_yaml),
    }
    for path, count, write in files.values():
        write(path, count)

    rows = []
    results: dict[str, tuple[list[float], list[float]]] = {}
    for kind, (path, count, _) in files.items():
        walls, cpus = [], []
        for _ in range(repeats):
            wall_s, cpu_s, lines = run_cli_once(path)
            if lines != count * 5 + 1:
                raise SystemExit(f"beatd next printed {lines} lines for {count} entries, expected {count * 5 + 1}")
            walls.append(wall_s)
            cpus.append(cpu_s)
        results[kind] = (walls, cpus)
        best, median = best_and_median(walls)
        cpu_best, cpu_median = best_and_median(cpus)
        goal = CLI_GOALS_S[kind]
        rows.append((f"{count:,} {kind} entries", f"{best:.2f}", f"{median:.2f}", f"{cpu_best:.2f}",
                     f"{cpu_median:.2f}", f"< {goal:.0f}", verdict(median < goal)))
    print_table(("beatd next --count 5", "wall best s", "wall median s", "cpu best s", "cpu median s",
                 "goal s", "goal"), rows,
                title=f"(a) beatd next --count 5, {repeats} runs each (load avg {load_average()})")

    startup = [startup_seconds() for _ in range(repeats)]
    for kind, (path, count, _) in files.items():
        steps = breakdown(path)
        startup_wall = statistics.median(wall for wall, _ in startup)
        startup_cpu = statistics.median(cpu for _, cpu in startup)
        table = [("Python start-up + import beatd.cli (subprocess)", f"{startup_wall:.3f}", f"{startup_cpu:.3f}")]
        table += [(step, f"{wall_s:.3f}", f"{cpu_s:.3f}") for step, (wall_s, cpu_s) in steps.items()]
        print_table(("step", "wall s", "cpu s"), table, title=f"breakdown, {count:,} {kind} entries, in-process, one run")


# -- (b) one next-fire computation ----------------------------------------------------------------

CASES = (
    ("30 7 * * 1-5", "America/New_York", {"minute": "30", "hour": "7", "day_of_week": "1-5"}),
    ("*/15 * * * *", "Europe/Berlin", {"minute": "*/15"}),
)
CALLS_PER_ROUND = 1000
CALL_GOAL_US = 20.0


def make_contenders(expression: str, zone_name: str, celery_fields: dict[str, str],
                    starts: list[datetime]) -> dict[str, Callable[[], object]]:
    """Each contender computes the next fire after each of `starts` (or walks forward from the first)."""
    from celery import Celery
    from celery.schedules import crontab
    from croniter import croniter

    from beatd.schedules.cron import CronSchedule

    zone = ZoneInfo(zone_name)
    schedule = CronSchedule.parse(expression, zone)
    local_starts = [start.astimezone(zone) for start in starts]
    iterator = croniter(expression, local_starts[0])
    app = Celery("bench", set_as_current=False)
    app.conf.timezone = zone_name
    app.conf.enable_utc = True
    # A fixed "now" makes now + remaining_estimate the exact next fire; celery beat reads the clock here.
    fixed_now = starts[0]
    celery_crontab = crontab(**celery_fields, app=app, nowfun=lambda: fixed_now)

    def beatd_from_each() -> None:
        for start in starts:
            schedule.next_after(start)

    def beatd_walk() -> None:
        moment = starts[0]
        for _ in range(CALLS_PER_ROUND):
            moment = schedule.next_after(moment)

    def croniter_walk() -> None:
        walker = croniter(expression, local_starts[0])
        for _ in range(CALLS_PER_ROUND):
            walker.get_next(datetime)

    def croniter_from_each() -> None:
        for start in local_starts:
            iterator.set_current(start, force=True)
            iterator.get_next(datetime)

    def celery_remaining() -> None:
        for start in local_starts:
            celery_crontab.remaining_estimate(start)

    def celery_is_due() -> None:
        for start in local_starts:
            celery_crontab.is_due(start)

    return {
        "beatd CronSchedule.next_after(t), t spread over 2026": beatd_from_each,
        "beatd next_after, walking fire to fire": beatd_walk,
        "croniter set_current(t) + get_next": croniter_from_each,
        "croniter get_next, walking fire to fire": croniter_walk,
        "celery crontab.remaining_estimate(t)": celery_remaining,
        "celery crontab.is_due(t)": celery_is_due,
    }


def agreement(expression: str, zone_name: str, celery_fields: dict[str, str], starts: list[datetime]) -> str:
    """How many of the starts give the same next fire in beatd, croniter and celery."""
    from celery import Celery
    from celery.schedules import crontab
    from croniter import croniter

    from beatd.schedules.cron import CronSchedule

    zone = ZoneInfo(zone_name)
    schedule = CronSchedule.parse(expression, zone)
    app = Celery("bench", set_as_current=False)
    app.conf.timezone = zone_name
    same = 0
    for start in starts:
        local = start.astimezone(zone)
        now = local
        celery_crontab = crontab(**celery_fields, app=app, nowfun=lambda now=now: now)
        ours = schedule.next_after(start)
        theirs = croniter(expression, local).get_next(datetime)
        # remaining_estimate is real elapsed time: add it in UTC, not on the local wall clock.
        celerys = start + celery_crontab.remaining_estimate(local)
        same += ours == theirs == celerys
    return f"{same}/{len(starts)}"


def bench_calls(rounds: int) -> None:
    rng = random.Random(2026)
    year_start = datetime(2026, 1, 1, tzinfo=UTC)
    starts = [year_start + timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(CALLS_PER_ROUND)]
    for expression, zone_name, celery_fields in CASES:
        contenders = make_contenders(expression, zone_name, celery_fields, starts)
        for run in contenders.values():  # warm caches (zone segments, month days), as a running daemon has them
            run()
        per_call_us: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(rounds):
            for name, run in contenders.items():
                started = time.perf_counter()
                run()
                per_call_us[name].append((time.perf_counter() - started) / CALLS_PER_ROUND * 1e6)
        beatd_median = statistics.median(per_call_us["beatd CronSchedule.next_after(t), t spread over 2026"])
        rows = []
        for name, samples in per_call_us.items():
            best, median = best_and_median(samples)
            goal = verdict(median <= CALL_GOAL_US) if name.startswith("beatd CronSchedule") else ""
            rows.append((name, f"{best:.1f}", f"{median:.1f}", f"{median / beatd_median:.2f}x", goal))
        title = (f"(b) next fire of {expression!r} in {zone_name}: us per call, {rounds} rounds of "
                 f"{CALLS_PER_ROUND} calls (agree on {agreement(expression, zone_name, celery_fields, starts[:200])} "
                 f"starts; goal beatd <= {CALL_GOAL_US:.0f} us median; load avg {load_average()})")
        print_table(("implementation", "best us", "median us", "vs beatd", "goal"), rows, title=title)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3, help="subprocess runs per file (default 3)")
    parser.add_argument("--rounds", type=int, default=40, help="rounds of 1,000 calls per contender (default 40)")
    parser.add_argument("--skip-cli", action="store_true", help="skip part (a)")
    parser.add_argument("--skip-calls", action="store_true", help="skip part (b)")
    parser.add_argument("--workdir", type=Path, help="where to write the generated files (default: a temp dir)")
    args = parser.parse_args(argv)

    print(machine_speed())
    if not args.skip_calls:
        bench_calls(args.rounds)
    if not args.skip_cli:
        if args.workdir:
            args.workdir.mkdir(parents=True, exist_ok=True)
            bench_cli(args.repeats, args.workdir)
        else:
            with tempfile.TemporaryDirectory(prefix="beatd-bench-next-") as workdir:
                bench_cli(args.repeats, Path(workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
