"""Peak memory of a catch-up backlog: many entries with `catchup: all` after beatd was down.

Each case runs in a fresh process: N entries every 60 s, recorded as last sent `down`
minutes ago, so the first turn of the daemon owes N x down runs (bounded per entry by
catchup_limit). The daemon runs on a simulated clock with a real SQLite state store and
a transport that counts and drops what it is given (the broker is not what is measured
here: bench_daemon.py measures publishing). Two ways side by side, in the same run:

- batched: the daemon as it is, taking the backlog from the engine PUBLISH_BATCH runs
  at a time;
- one list: the engine asked for the whole backlog at once (what beatd did before),
  emulated by ignoring the limit.

celery beat has no counterpart: it sends at most one run per entry after downtime.

Peak RSS growth counts the state and the engine's entries too (they grow with the
entries): compare rows of the same entries with different backlogs.

    python bench/bench_catchup.py                      # 100,000 entries, 1 and 30 min down
    python bench/bench_catchup.py --entries 10000 --down 1 60
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def run_case(entries: int, down_minutes: int, mode: str) -> dict[str, float]:
    """One case, in this process: returns runs published, seconds and peak RSS growth in MiB."""
    from beatd.config import Config
    from beatd.daemon.loop import Daemon
    from beatd.engine import Engine
    from beatd.entry import CatchUp, Entry
    from beatd.leader import LocalLeaseBackend
    from beatd.publish.base import PublishResult, Transport
    from beatd.schedules.interval import IntervalSchedule
    from beatd.state import RunRecord, open_state_store

    class CountingTransport(Transport):
        def __init__(self) -> None:
            super().__init__("counting://")
            self.count = 0

        def publish(self, messages):  # type: ignore[no-untyped-def]
            self.count += len(messages)
            return PublishResult()

        def close(self) -> None:
            pass

    if mode == "one-list":
        due = Engine.due
        Engine.due = lambda self, now, limit=None: due(self, now)  # type: ignore[method-assign]

    start = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    last_sent = start - timedelta(minutes=down_minutes)
    directory = Path(tempfile.mkdtemp(prefix="bench-catchup-"))
    every = IntervalSchedule(every=timedelta(minutes=1))
    entry_list = tuple(Entry(name=f"entry-{index}", task="tasks.noop", schedule=every, catchup=CatchUp.ALL)
                       for index in range(entries))
    state = open_state_store(f"sqlite:///{directory / 'state.sqlite3'}")
    state.record([RunRecord(entry=entry.name, scheduled_at=last_sent, sent_at=last_sent, run_count=1)
                  for entry in entry_list], token=0)

    class Clock:
        current = start

        def now(self) -> datetime:
            return self.current

        def monotonic(self) -> float:
            return (self.current - start).total_seconds() + 1000.0

        def wait(self, seconds: float, wake: threading.Event) -> None:
            self.current += timedelta(seconds=max(seconds, 1e-6))
            daemon.stop()  # one turn: the backlog

    clock = Clock()
    transport = CountingTransport()
    config = Config(path=directory / "beatd.yaml", catchup_limit=max(down_minutes, 1), entries=entry_list)
    daemon = Daemon(config, clock=clock, transport=transport, state=state,
                    lease_backend=LocalLeaseBackend(directory / "beatd.lock", monotonic=clock.monotonic),
                    holder="bench:1:a", origin="beatd-bench@host")
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    daemon.run()
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"published": transport.count, "seconds": seconds, "growth_mib": (peak_kib - baseline_kib) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[100_000])
    parser.add_argument("--down", type=int, nargs="+", default=[1, 30], help="minutes beatd was down (runs owed per entry)")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # entries,down,mode: run one case and print JSON
    arguments = parser.parse_args()
    if arguments.case:
        entries, down, mode = arguments.case.split(",")
        print(json.dumps(run_case(int(entries), int(down), mode)))
        return
    print(f"{'entries':>8} {'backlog':>10} {'mode':>9} {'published':>10} {'seconds':>8} {'peak RSS growth':>16}")
    for entries in arguments.entries:
        for down in arguments.down:
            for mode in ("batched", "one-list"):
                done = subprocess.run([sys.executable, __file__, "--case", f"{entries},{down},{mode}"],
                                      capture_output=True, text=True, check=True)
                result = json.loads(done.stdout.splitlines()[-1])
                print(f"{entries:>8,} {entries * down:>10,} {mode:>9} {result['published']:>10,} "
                      f"{result['seconds']:>8.1f} {result['growth_mib']:>12.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
