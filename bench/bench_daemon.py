"""Sustained fires a second into local Redis, beatd (Lua path, with and without metrics; old MULTI path) against celery beat 5.x.

Run: python bench/bench_daemon.py [--sizes 1000,20000,100000] [--repeats 3] [--duration 20] [--dense]

For each N, N interval entries all due every second (`every: 1` for beatd, `schedule: 1.0`
for celery beat) go to the `celery` queue of one Redis database, which this bench flushes
(default redis://127.0.0.1:6379/12). Each scheduler runs as a subprocess:

    beatd run --config <tmp>/beatd.yaml --log-level warning     (state in a fresh SQLite file)
    the same with the Redis path before issue 16 (one MULTI/EXEC per batch, no high-water
        mark: bench_publish.MultiTransport patched in), labelled "beatd MULTI (old)"
    the Lua path with `http: 127.0.0.1:<port>` and a scraper GETting /metrics every
        --scrape-every seconds (every entry labelled: metrics_per_entry's default),
        labelled "beatd, http metrics"
    celery -A benchapp beat -s <tmp>/celerybeat-schedule -l WARNING

The rate is read on the Redis side: ten times a second, aligned to the wall clock at
x.05, x.15, ..., a Lua script counts the queue's messages and deletes them (draining
Redis cheaply, one round trip, no payload transfer). The rate is the count over
`--duration` seconds from a sample at x.55 (bursts start on whole seconds), after
`--warmup` seconds of publishing. "start s" is from process start to the first message
in Redis; "cpu" is the scheduler's CPU use over the window (100% = one core).

celery beat is skipped at N >= --celery-max (default 100,000) unless that is raised,
and gives up after --start-timeout seconds without a first message (both are reported).

Lateness: beatd at N = 1,000 with --log-level info logs one line per published run,
"published entry ... lateness X s" (time the batch's publish returned minus the run's
publish time); p50/p99 come from those lines over the window. Beside it, the same runs
as a consumer sees them: a tight RPOP loop reads each message's beatd_scheduled_at
header and subtracts it from the time it was popped.

Goals (issue 3): at N = 1,000 at least 40x celery beat's rate; at N = 20,000 and
100,000 at least 20,000 fires a second; lateness p99 under 50 ms at ~1,000 fires a second.
Note that with every entry due once a second the rate cannot exceed N a second, so at
N = 1,000 the ceiling is 1,000/s whatever the scheduler (and at N = 20,000, 20,000/s
means every run sent; the verdict allows 1% for the measurement). The 40x goal is
therefore judged on the "dense" rows (--dense): the same 1,000 entries every 0.01 s,
100,000 due a second, more than any of them sends, for beatd (both paths) and for
celery beat, so each row is that scheduler's capacity with 1,000 entries.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from _common import (
    BEATD,
    CELERY,
    COUNT_AND_DROP,
    DEFAULT_REDIS_URL,
    best_and_median,
    load_average,
    machine_speed,
    percentile,
    print_table,
    proc_cpu_s,
    proc_status_kib,
    verdict,
    write_interval_yaml,
)

QUEUE = "celery"
SAMPLE_HZ = 10
# The dense rows: 1,000 entries due 100 times a second, more than any scheduler here can
# send, so each shows what it can do with 1,000 entries (its capacity).
DENSE_EVERY_S = 0.01
BEATD_LUA, BEATD_MULTI, BEATD_METRICS = "beatd", "beatd MULTI (old)", "beatd, http metrics"
BEATD_ROWS = (BEATD_LUA, BEATD_MULTI, BEATD_METRICS)
# `beatd` with the Redis path before issue 16 in place of the Lua script, for the side-by-side rows.
MULTI_LAUNCHER = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
                  "import beatd.publish, bench_publish; beatd.publish.RedisTransport = bench_publish.MultiTransport; "
                  "from beatd.cli import main; sys.exit(main())")


@dataclass
class Run:
    """One scheduler process, measured."""

    scheduler: str
    entries: int
    every_s: float
    start_s: float | None = None  # process start to first message in Redis; None: never published
    rate: float | None = None  # messages a second over the window
    cpu_percent: float | None = None
    fires_per_cpu_s: float | None = None  # messages per CPU second of the scheduler: its rate on a core of its own
    stop_s: float | None = None  # SIGTERM to exit
    peak_rss_mib: float | None = None
    note: str = ""
    scrape_s: list[float] = field(default_factory=list)  # GET /metrics, once a second (metrics rows)
    scrape_bytes: int = 0
    lateness_log_s: list[float] = field(default_factory=list)
    lateness_seen_s: list[float] = field(default_factory=list)


# -- draining and counting ---------------------------------------------------------------------


class Counter:
    """Drains the queue and keeps (wall time, messages so far) samples."""

    def __init__(self, redis_url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(redis_url)
        self.count_and_drop = self.client.register_script(COUNT_AND_DROP)
        self.samples: list[tuple[float, int]] = []
        self.total = 0
        self.first_message_at: float | None = None

    def sample(self) -> None:
        found = int(self.count_and_drop(keys=[QUEUE]))
        now = time.time()
        if found and self.first_message_at is None:
            self.first_message_at = now
        self.total += found
        self.samples.append((now, self.total))

    def run_until(self, deadline_wall: float, done: Callable[[], bool]) -> None:
        """Sample at x.05, x.15, ... (wall clock) until deadline_wall or done() is true."""
        while time.time() < deadline_wall and not done():
            now = time.time()
            next_at = (math.floor((now - 0.05) * SAMPLE_HZ) + 1) / SAMPLE_HZ + 0.05
            time.sleep(max(0.0, next_at - now))
            self.sample()

    def crossing_time(self, target: int, from_index: int) -> float | None:
        """When the running total reached target (interpolated between samples), looking from from_index on."""
        for index in range(max(from_index, 1), len(self.samples)):
            (before_at, before), (at, total) = self.samples[index - 1], self.samples[index]
            if total >= target:
                if total == before:
                    return at
                return before_at + (at - before_at) * (target - before) / (total - before)
        return None

    def rate_since(self, from_index: int, entries: int) -> tuple[float, str] | None:
        """Messages a second from sample from_index to the last sample, and how it was measured.

        A scheduler that publishes every entry once per turn (beatd: one burst of N a
        second while it keeps up, one run per entry per longer turn when it does not)
        is measured between the first and the last time the total crossed a multiple
        of N, so partial turns at the edges do not skew it. A scheduler that never
        completes two turns in the window (celery beat at large N) is measured as
        messages over the window.
        """
        if len(self.samples) - from_index < 2:
            return None
        start_at, start_total = self.samples[from_index]
        end_at, end_total = self.samples[-1]
        first_turn = start_total // entries + 1
        last_turn = end_total // entries
        if last_turn - first_turn >= 2:
            first_at = self.crossing_time(first_turn * entries, from_index)
            last_at = self.crossing_time(last_turn * entries, from_index)
            if first_at is not None and last_at is not None and last_at > first_at:
                turns = last_turn - first_turn
                return turns * entries / (last_at - first_at), f"{turns} whole turns"
        if end_at <= start_at:
            return None
        return (end_total - start_total) / (end_at - start_at), "window"


class Popper(threading.Thread):
    """A consumer as a worker would be: RPOP in a tight loop, noting when each run became visible."""

    SCHEDULED = re.compile(rb'"beatd_scheduled_at": ?"([^"]+)"')

    def __init__(self, redis_url: str) -> None:
        super().__init__(daemon=True)
        import redis

        self.client = redis.Redis.from_url(redis_url)
        self.stop = threading.Event()
        self.seen: list[tuple[float, float]] = []  # (popped at, scheduled at), wall seconds

    def run(self) -> None:
        while not self.stop.is_set():
            popped = self.client.rpop(QUEUE, 1000)
            now = time.time()
            if not popped:
                time.sleep(0.001)
                continue
            for payload in popped:
                match = self.SCHEDULED.search(payload)
                if match:
                    self.seen.append((now, datetime.fromisoformat(match.group(1).decode()).timestamp()))


class Scraper(threading.Thread):
    """A Prometheus server: GET /metrics every interval_s seconds, timed."""

    def __init__(self, url: str, run: Run, interval_s: float) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.measured = run
        self.interval_s = interval_s
        self.stop = threading.Event()

    def run(self) -> None:
        import urllib.request

        while not self.stop.wait(self.interval_s):
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=10) as response:
                    body = response.read()
            except OSError:
                continue  # not listening yet, or stopping
            self.measured.scrape_s.append(time.perf_counter() - started)
            self.measured.scrape_bytes = len(body)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- one scheduler run --------------------------------------------------------------------------


def window_start_after(wall: float) -> float:
    """The first x.55 wall instant at or after wall: bursts begin on whole seconds, so edges fall between them."""
    return math.floor(wall) + 0.55 + (1.0 if wall - math.floor(wall) > 0.55 else 0.0)


def stop_process(process: subprocess.Popen[bytes], run: Run, timeout_s: float = 120.0) -> None:
    """SIGTERM, then wait; notes peak RSS before and the time the process took to exit."""
    run.peak_rss_mib = (proc_status_kib(process.pid, "VmHWM") or 0) / 1024 or None
    if process.poll() is not None:
        run.note += f" exited early with code {process.returncode};"
        return
    started = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
        run.stop_s = time.perf_counter() - started
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        run.note += f" did not stop within {timeout_s:.0f} s of SIGTERM, killed;"


def measure(process: subprocess.Popen[bytes], run: Run, counter: Counter, started_wall: float, *,
            warmup_s: float, duration_s: float, start_timeout_s: float, max_window_s: float) -> None:
    """Wait for the first message, warm up, then count; fills run.start_s, rate, cpu_percent, fires_per_cpu_s.

    The window lasts at least duration_s and, for a scheduler that completes turns of
    N messages, until two whole turns are in it (a turn of beatd at N = 100,000 can take
    longer than the window on a slow machine), but never longer than max_window_s.
    """
    exited = lambda: process.poll() is not None  # noqa: E731
    counter.run_until(started_wall + start_timeout_s, lambda: counter.first_message_at is not None or exited())
    if counter.first_message_at is None:
        run.note += f" no message within {start_timeout_s:.0f} s of start;" if not exited() else ""
        return
    run.start_s = counter.first_message_at - started_wall
    counter.run_until(counter.first_message_at + warmup_s, exited)
    from_index = len(counter.samples) - 1
    window_from, base_total = counter.samples[from_index]
    cpu_before = proc_cpu_s(process.pid)
    entries = run.entries

    def window_done() -> bool:
        elapsed = time.time() - window_from
        if exited() or elapsed >= max_window_s:
            return True
        if elapsed < duration_s:
            return False
        published = counter.total - base_total
        whole_turns = counter.total // entries - (base_total // entries + 1)
        return whole_turns >= 2 or published < entries / 2

    counter.run_until(math.inf, window_done)
    cpu_after = proc_cpu_s(process.pid)
    window_s = counter.samples[-1][0] - window_from
    measured = counter.rate_since(from_index, entries)
    if measured is not None:
        run.rate, method = measured
        run.note += f" rate over {window_s:.0f} s ({method});"
    if cpu_before is not None and cpu_after is not None and window_s > 0:
        run.cpu_percent = 100 * (cpu_after - cpu_before) / window_s
        if cpu_after > cpu_before:
            run.fires_per_cpu_s = (counter.total - base_total) / (cpu_after - cpu_before)


def flush(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()


def run_beatd(entries: int, every_s: float, workdir: Path, redis_url: str, *, warmup_s: float, duration_s: float,
              start_timeout_s: float, max_window_s: float, lateness: bool = False, scheduler: str = BEATD_LUA,
              scrape_every_s: float = 15.0) -> Run:
    """beatd as `scheduler` says: the Lua path, the old MULTI path, or the Lua path serving /metrics, scraped."""
    run = Run(scheduler, entries, every_s)
    multi = scheduler == BEATD_MULTI
    flush(redis_url)
    config = workdir / f"beatd-{entries}.yaml"
    state = workdir / f"state-{entries}-{time.monotonic_ns()}.sqlite3"
    every_text = f"{every_s:g}"
    header = f"broker: {redis_url}\nstate: sqlite:///{state}\nleader: {{backend: none, lock_file: {state}.lock}}"
    scraper = None
    if scheduler == BEATD_METRICS:
        port = free_port()
        header += f"\nhttp: 127.0.0.1:{port}"
        scraper = Scraper(f"http://127.0.0.1:{port}/metrics", run, scrape_every_s)
    write_interval_yaml(config, entries, every=lambda index: every_text, header=header)
    log_path = workdir / f"beatd-{entries}.log"
    counter = Counter(redis_url)
    popper = Popper(redis_url) if lateness else None
    if scraper is not None:
        scraper.start()
    with open(log_path, "wb") as log:
        started_wall = time.time()
        program = [sys.executable, "-c", MULTI_LAUNCHER] if multi else [BEATD]
        process = subprocess.Popen([*program, "run", "--config", str(config), "--log-level", "info" if lateness else "warning"],
                                   stdout=subprocess.DEVNULL, stderr=log)
        try:
            if popper is None:
                measure(process, run, counter, started_wall, warmup_s=warmup_s, duration_s=duration_s,
                        start_timeout_s=start_timeout_s, max_window_s=max_window_s)
            else:
                measure_lateness(process, run, popper, started_wall, warmup_s=warmup_s, duration_s=duration_s,
                                 start_timeout_s=start_timeout_s, log_path=log_path)
        finally:
            stop_process(process, run)
            for thread in (popper, scraper):
                if thread is not None:
                    thread.stop.set()
                    thread.join()
    errors = [line for line in log_path.read_text(errors="replace").splitlines()
              if " ERROR " in line or "Traceback" in line]
    if errors:
        run.note += f" {len(errors)} error lines, first: {errors[0][:160]};"
    counter.client.close()
    flush(redis_url)
    return run


LATENESS_LINE = re.compile(r"published entry \S+ task \S+ id \S+ scheduled (\S+) lateness (-?[\d.]+)s")


def measure_lateness(process: subprocess.Popen[bytes], run: Run, popper: Popper, started_wall: float, *,
                     warmup_s: float, duration_s: float, start_timeout_s: float, log_path: Path) -> None:
    popper.start()
    deadline = started_wall + start_timeout_s
    while not popper.seen and time.time() < deadline and process.poll() is None:
        time.sleep(0.01)
    if not popper.seen:
        run.note += " no message in time;"
        return
    first_seen = popper.seen[0][0]
    run.start_s = first_seen - started_wall
    window_start = window_start_after(first_seen + warmup_s)
    cpu_before, wall_before = None, 0.0
    while time.time() < window_start + duration_s + 0.5 and process.poll() is None:
        if cpu_before is None and time.time() >= window_start:
            cpu_before, wall_before = proc_cpu_s(process.pid), time.time()
        time.sleep(0.05)
    cpu_after = proc_cpu_s(process.pid)
    if cpu_before is not None and cpu_after is not None:
        run.cpu_percent = 100 * (cpu_after - cpu_before) / (time.time() - wall_before)
    window_end = window_start + duration_s
    in_window = [(popped, scheduled) for popped, scheduled in list(popper.seen)
                 if window_start - 0.55 <= scheduled < window_end - 0.55]
    run.lateness_seen_s = sorted(popped - scheduled for popped, scheduled in in_window)
    run.rate = len(in_window) / duration_s
    for line in log_path.read_text(errors="replace").splitlines():
        match = LATENESS_LINE.search(line)
        if match:
            scheduled = datetime.fromisoformat(match.group(1)).timestamp()
            if window_start - 0.55 <= scheduled < window_end - 0.55:
                run.lateness_log_s.append(float(match.group(2)))
    run.lateness_log_s.sort()


CELERY_APP = textwrap.dedent("""\
    \"\"\"A Celery app whose beat_schedule holds BENCH_ENTRIES entries due every BENCH_EVERY seconds.\"\"\"
    import os

    from celery import Celery

    app = Celery("benchapp", broker=os.environ["BENCH_BROKER"])
    app.conf.broker_connection_retry_on_startup = True
    app.conf.beat_schedule = {
        f"job-{index:07d}": {"task": "tasks.add", "schedule": float(os.environ["BENCH_EVERY"]), "args": (16, index)}
        for index in range(int(os.environ["BENCH_ENTRIES"]))
    }
""")


def run_celery_beat(entries: int, every_s: float, workdir: Path, redis_url: str, *, warmup_s: float, duration_s: float,
                    start_timeout_s: float, max_window_s: float) -> Run:
    run = Run("celery beat", entries, every_s)
    flush(redis_url)
    app_dir = workdir / f"celery-{entries}-{time.monotonic_ns()}"
    app_dir.mkdir()
    (app_dir / "benchapp.py").write_text(CELERY_APP, encoding="utf-8")
    env = dict(os.environ, BENCH_BROKER=redis_url, BENCH_ENTRIES=str(entries), BENCH_EVERY=str(every_s), PYTHONPATH=str(app_dir))
    log_path = app_dir / "beat.log"
    counter = Counter(redis_url)
    with open(log_path, "wb") as log:
        started_wall = time.time()
        process = subprocess.Popen([CELERY, "-A", "benchapp", "beat", "-s", str(app_dir / "celerybeat-schedule"),
                                    "--loglevel", "WARNING"], cwd=app_dir, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            measure(process, run, counter, started_wall, warmup_s=warmup_s, duration_s=duration_s,
                    start_timeout_s=start_timeout_s, max_window_s=max_window_s)
        finally:
            log.flush()
            logged_before_stop = log_path.stat().st_size
            stop_process(process, run)
    # celery beat logs "Couldn't apply scheduled task ...: I/O operation on closed file" for
    # the entries due while it shuts down; only errors from before SIGTERM are news.
    text = log_path.read_bytes()
    for when, part in (("", text[:logged_before_stop]), (" after SIGTERM", text[logged_before_stop:])):
        errors = [line for line in part.decode(errors="replace").splitlines() if "ERROR" in line or "Traceback" in line]
        if errors:
            run.note += f" {len(errors)} error lines{when}, first: {errors[0][:140]};"
    counter.client.close()
    flush(redis_url)
    return run


# -- report -------------------------------------------------------------------------------------


def fmt(value: float | None, pattern: str = "{:,.0f}") -> str:
    return "-" if value is None else pattern.format(value)


def summarize(runs: list[Run], attribute: str) -> tuple[float | None, float | None]:
    """(best, median) of a measured attribute over runs that produced it; best is the max for rates."""
    values = [getattr(run, attribute) for run in runs if getattr(run, attribute) is not None]
    if not values:
        return None, None
    if attribute == "rate":
        return max(values), statistics.median(values)
    return best_and_median(values)


def report(results: dict[tuple[str, int, float], list[Run]]) -> None:
    rows = []
    notes = []
    celery_median = {(entries, every_s): summarize(runs, "rate")[1]
                     for (scheduler, entries, every_s), runs in results.items() if scheduler == "celery beat"}
    for (scheduler, entries, every_s), runs in results.items():
        rate_best, rate_median = summarize(runs, "rate")
        start_best, start_median = summarize(runs, "start_s")
        cpu = [run.cpu_percent for run in runs if run.cpu_percent is not None]
        per_cpu = [run.fires_per_cpu_s for run in runs if run.fires_per_cpu_s is not None]
        stop = [run.stop_s for run in runs if run.stop_s is not None]
        rss = [run.peak_rss_mib for run in runs if run.peak_rss_mib is not None]
        reference = celery_median.get((entries, every_s))
        goal, met, ratio = "", "", ""
        if scheduler in BEATD_ROWS:
            if reference and rate_median:
                ratio = f"{rate_median / reference:.1f}x"
            if entries == 1000 and every_s == DENSE_EVERY_S:
                goal = f"40x celery = {40 * reference:,.0f}/s" if reference else "40x celery"
                met = verdict(None if not reference or rate_median is None else rate_median >= 40 * reference)
            elif entries == 1000:
                goal = "all due (1,000/s)"
                met = verdict(None if rate_median is None else rate_median >= 0.99 * entries / every_s)
            elif entries >= 20_000:
                # With N entries due every second nobody can send more than N a second:
                # at N = 20,000, 20,000/s means every run, on time (1% for the measurement).
                goal = ">= 20,000/s"
                met = verdict(None if rate_median is None else rate_median >= 0.99 * min(20_000, entries / every_s))
        label = f"{scheduler}" + (f" (every {every_s:g} s)" if every_s != 1.0 else "")
        rows.append((f"{entries:,}", label, f"{entries / every_s:,.0f}", fmt(start_best, "{:.1f}"),
                     fmt(start_median, "{:.1f}"), fmt(rate_best), fmt(rate_median), ratio,
                     fmt(statistics.median(cpu) if cpu else None, "{:.0f}%"),
                     fmt(statistics.median(per_cpu) if per_cpu else None),
                     fmt(statistics.median(stop) if stop else None, "{:.1f}"),
                     fmt(max(rss) if rss else None), goal, met))
        scrapes = sorted(seconds for run in runs for seconds in run.scrape_s)
        if scrapes:
            notes.append(f"  N={entries:,} {label}: GET /metrics, {len(scrapes)} scrapes, "
                         f"median {percentile(scrapes, 0.5) * 1000:.1f} ms, p99 {percentile(scrapes, 0.99) * 1000:.1f} ms, "
                         f"{max(run.scrape_bytes for run in runs):,} bytes")
        for number, run in enumerate(runs, start=1):
            if run.note.strip():
                notes.append(f"  N={entries:,} {label} run {number}: {run.note.strip()}")
    print_table(("N", "scheduler", "due/s", "start best s", "start med s", "rate best/s", "rate med/s",
                 "vs celery", "cpu", "fires/cpu-s", "stop s", "peak RSS MiB", "goal", "met"), rows,
                title=f"sustained fires into Redis, every entry due every second (load avg {load_average()})")
    if notes:
        print("notes:\n" + "\n".join(notes))


def report_lateness(runs: list[Run]) -> None:
    rows = []
    for label, attribute in (("beatd log: sent minus publish time", "lateness_log_s"),
                             ("consumer: popped minus scheduled", "lateness_seen_s")):
        p50s = [percentile(getattr(run, attribute), 0.50) * 1000 for run in runs if getattr(run, attribute)]
        p99s = [percentile(getattr(run, attribute), 0.99) * 1000 for run in runs if getattr(run, attribute)]
        maxes = [getattr(run, attribute)[-1] * 1000 for run in runs if getattr(run, attribute)]
        counts = [len(getattr(run, attribute)) for run in runs]
        if not p99s:
            rows.append((label, "-", "-", "-", "-", "-", "-", "no data"))
            continue
        goal = verdict(statistics.median(p99s) < 50) if attribute == "lateness_log_s" else ""
        rows.append((label, f"{min(p50s):.1f}", f"{statistics.median(p50s):.1f}", f"{min(p99s):.1f}",
                     f"{statistics.median(p99s):.1f}", f"{statistics.median(maxes):.1f}",
                     f"{statistics.median(counts):,.0f}", goal))
    rates = [run.rate for run in runs if run.rate]
    print_table(("lateness, N=1,000 every 1 s", "p50 best ms", "p50 med ms", "p99 best ms", "p99 med ms",
                 "max med ms", "runs/run", "p99 < 50 ms"), rows,
                title=f"publish lateness at ~1,000 fires/s ({len(runs)} runs, rate median "
                      f"{statistics.median(rates) if rates else 0:,.0f}/s, load avg {load_average()})")


# -- in-process cost of each step of a turn ------------------------------------------------------


def step_costs(entries: int, turns: int, workdir: Path, redis_url: str) -> list[tuple[str, float]]:
    """Median seconds per turn of each step Daemon._publish_due and _flush_records take, on time.

    The engine is driven with a simulated clock that lands exactly on each second, so
    every turn is one on-time slot per entry (no catch-up); publishing goes to the real
    Redis and recording to a real SQLite state file, as in the daemon.
    """
    from datetime import timedelta

    from beatd.engine import Engine
    from beatd.entry import Entry
    from beatd.publish import MessageBuilder, open_transport
    from beatd.schedules.interval import IntervalSchedule
    from beatd.state import RunRecord, open_state_store

    every = IntervalSchedule(every=timedelta(seconds=1))
    batch = [Entry(name=f"job-{index:07d}", task="tasks.add", schedule=every, args=(16, index))
             for index in range(entries)]
    engine = Engine()
    start = datetime.now(UTC).replace(microsecond=0)
    engine.load(batch, now=start, last_scheduled={})
    builder = MessageBuilder("beatd-bench@host")
    transport = open_transport(redis_url)
    state = open_state_store(f"sqlite:///{workdir / f'steps-{entries}-{time.monotonic_ns()}.sqlite3'}")
    counter = Counter(redis_url)
    spent: dict[str, list[float]] = {}

    def timed(name: str, started: float) -> float:
        now = time.perf_counter()
        spent.setdefault(name, []).append(now - started)
        return now

    try:
        for _ in range(turns):
            now = engine.next_wakeup()
            if now is None:
                raise RuntimeError("interval entries always have a next slot")
            mark = time.perf_counter()
            fires = engine.due(now)
            mark = timed("Engine.due", mark)
            messages = [builder.build(fire, now) for fire in fires]
            mark = timed("MessageBuilder.build (task id, headers)", mark)
            transport.publish(messages)
            mark = timed("transport.publish (envelope JSON + Redis)", mark)
            records = {fire.entry.name: RunRecord(entry=fire.entry.name, scheduled_at=fire.scheduled_at,
                                                  sent_at=now, run_count=1) for fire in fires}
            mark = timed("RunRecord per fire (daemon _note_sent)", mark)
            state.record(records.values(), 0)
            timed("state.record (SQLite upsert)", mark)
            counter.sample()
    finally:
        transport.close()
        state.close()
        counter.client.close()
        flush(redis_url)
    return [(name, statistics.median(values)) for name, values in spent.items()]


def report_steps(sizes: list[int], workdir: Path, redis_url: str, turns: int) -> None:
    by_size = {entries: dict(step_costs(entries, turns, workdir, redis_url)) for entries in sizes}
    names = list(next(iter(by_size.values())))
    rows = []
    for name in names:
        row: list[str] = [name]
        for entries in sizes:
            seconds = by_size[entries][name]
            row += [f"{seconds * 1000:,.1f}", f"{seconds / entries * 1e6:.1f}"]
        rows.append(tuple(row))
    totals: list[str] = ["total"]
    for entries in sizes:
        seconds = sum(by_size[entries].values())
        totals += [f"{seconds * 1000:,.1f}", f"{seconds / entries * 1e6:.1f}"]
    rows.append(tuple(totals))
    headers: list[str] = ["step of one turn (in-process, on time)"]
    for entries in sizes:
        headers += [f"N={entries:,} ms/turn", "us/fire"]
    print_table(headers, rows, title=f"where a turn's time goes, median of {turns} turns (load avg {load_average()}); "
                                     "lateness at N=1,000 is about due + build + publish")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,20000,100000", help="comma-separated N (default 1000,20000,100000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds in the measured window (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after the first publish before the window")
    parser.add_argument("--start-timeout", type=float, default=300.0,
                        help="give a scheduler this long to publish its first message (default 300)")
    parser.add_argument("--celery-max", type=int, default=10_000_000,
                        help="skip celery beat at N >= this (default: run it at every N)")
    parser.add_argument("--max-window", type=float, default=240.0,
                        help="longest measured window, waiting for two whole turns (default 240 s)")
    parser.add_argument("--dense", action="store_true", help=f"add the schedulers with 1,000 entries every {DENSE_EVERY_S} s")
    parser.add_argument("--no-celery", action="store_true")
    parser.add_argument("--no-multi", action="store_true", help="skip beatd with the old MULTI path")
    parser.add_argument("--no-metrics", action="store_true", help="skip beatd serving http metrics")
    parser.add_argument("--scrape-every", type=float, default=15.0,
                        help="seconds between GETs of /metrics in the metrics rows (default 15, a common "
                             "Prometheus scrape_interval)")
    parser.add_argument("--no-lateness", action="store_true")
    parser.add_argument("--no-steps", action="store_true", help="skip the in-process cost of each step")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a database this bench may flush")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    print(machine_speed())
    timing = {"warmup_s": args.warmup, "duration_s": args.duration, "start_timeout_s": args.start_timeout,
              "max_window_s": args.max_window}

    beatd_rows = [scheduler for scheduler, skipped in ((BEATD_LUA, False), (BEATD_MULTI, args.no_multi),
                                                       (BEATD_METRICS, args.no_metrics)) if not skipped]
    results: dict[tuple[str, int, float], list[Run]] = {}
    lateness_runs: list[Run] = []
    celery_gave_up: set[int] = set()

    def progress(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text} (load avg {load_average()})", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="beatd-bench-daemon-") as tmp:
        workdir = Path(tmp)
        if not args.no_steps:
            progress("in-process step costs")
            report_steps([1000, 20_000], workdir, args.redis_url, turns=max(5, 3 * args.repeats))
        for repeat in range(1, args.repeats + 1):
            for entries in sizes:
                for scheduler in beatd_rows:
                    progress(f"repeat {repeat}: N={entries:,} {scheduler}")
                    results.setdefault((scheduler, entries, 1.0), []).append(
                        run_beatd(entries, 1.0, workdir, args.redis_url, scheduler=scheduler,
                                  scrape_every_s=args.scrape_every, **timing))
                if args.no_celery or entries >= args.celery_max or entries in celery_gave_up:
                    continue
                progress(f"repeat {repeat}: N={entries:,} celery beat")
                run = run_celery_beat(entries, 1.0, workdir, args.redis_url, **timing)
                results.setdefault(("celery beat", entries, 1.0), []).append(run)
                if run.start_s is None:
                    celery_gave_up.add(entries)
            if args.dense:
                for scheduler in beatd_rows:
                    progress(f"repeat {repeat}: N=1,000 every {DENSE_EVERY_S} s {scheduler}")
                    results.setdefault((scheduler, 1000, DENSE_EVERY_S), []).append(
                        run_beatd(1000, DENSE_EVERY_S, workdir, args.redis_url, scheduler=scheduler,
                                  scrape_every_s=args.scrape_every, **timing))
                if not args.no_celery:
                    progress(f"repeat {repeat}: N=1,000 every {DENSE_EVERY_S} s celery beat")
                    results.setdefault(("celery beat", 1000, DENSE_EVERY_S), []).append(
                        run_celery_beat(1000, DENSE_EVERY_S, workdir, args.redis_url, **timing))
            if not args.no_lateness:
                progress(f"repeat {repeat}: lateness")
                lateness_runs.append(run_beatd(1000, 1.0, workdir, args.redis_url, lateness=True, **timing))
    report(dict(sorted(results.items(), key=lambda item: (item[0][1], item[0][2], item[0][0]))))
    skipped = [entries for entries in sizes if args.no_celery or entries >= args.celery_max]
    if skipped:
        print(f"celery beat not run at N = {', '.join(f'{entries:,}' for entries in skipped)} "
              + ("(--no-celery)" if args.no_celery else f"(--celery-max {args.celery_max:,})"))
    for entries in sorted(celery_gave_up):
        print(f"celery beat at N = {entries:,} published nothing within {args.start_timeout:.0f} s of starting; "
              "later repeats skipped it")
    if lateness_runs:
        report_lateness(lateness_runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
