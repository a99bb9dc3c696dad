"""Real processes for end-to-end tests: `beatd run`, a Celery worker, a private redis-server.

Each is started as a subprocess writing to a log file of its own; tests poll that log (or
the worker's results file) against a deadline and read the log tail when a wait fails.
`Processes` remembers everything it started and kills what is still alive at teardown, so
a failing test never leaves a beatd or a worker behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).resolve().parent
BEATD = [sys.executable, "-m", "beatd"]
POLL_S = 0.05
# A beatd imports kombu and SQLAlchemy before it leads; a Celery worker takes a few seconds.
BEATD_START_S = 20.0
WORKER_START_S = 30.0
STOP_S = 15.0

Event = dict[str, Any]


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str, explain: Callable[[], str]) -> Any:
    """Poll condition until it returns something truthy, and return that; fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not within {timeout_s:.0f}s\n{explain()}")
        time.sleep(POLL_S)


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[bytes], sig: int, timeout_s: float) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
        pytest.fail(f"pid {process.pid} did not exit within {timeout_s:.0f}s of signal {sig}; killed it")


# ---------------------------------------------------------------------------------------------
# beatd


@dataclass(frozen=True)
class Published:
    """One `published entry ...` line of beatd's log."""

    entry: str
    task: str
    task_id: str
    scheduled_at: datetime


_PUBLISHED = re.compile(
    r"published entry (?P<entry>\S+) task (?P<task>\S+) id (?P<id>\S+) scheduled (?P<at>\S+) lateness"
)


@dataclass
class BeatdProcess:
    """One `beatd run --config FILE` subprocess and its log (stdout and stderr)."""

    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for_log(self, pattern: str, what: str, timeout_s: float = 10.0) -> re.Match[str]:
        """The first match of the regex in the log; fails if beatd exits or the deadline passes."""
        compiled = re.compile(pattern)

        def found() -> re.Match[str] | None:
            match = compiled.search(self.text())
            if match is None and not self.alive():
                pytest.fail(f"beatd exited with {self.process.returncode} before {what}\n{log_tail(self.log)}")
            return match

        return wait_until(found, timeout_s, f"beatd log: {what}", lambda: log_tail(self.log))

    def wait_leading(self) -> None:
        """Until beatd holds the lease and has loaded its entries (signal handlers are installed by then)."""
        self.wait_for_log(r"leading with lease token", "leading", BEATD_START_S)

    def published(self) -> list[Published]:
        return [
            Published(match["entry"], match["task"], match["id"], datetime.fromisoformat(match["at"]))
            for match in _PUBLISHED.finditer(self.text())
        ]

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.text()))

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_S) -> int:
        """Send sig and return the exit status (negative: killed by that signal)."""
        return _stop(self.process, sig, timeout_s)


def launch_beatd(config: Path, log: Path, *extra: str) -> BeatdProcess:
    """`beatd run` on config, cwd beside it, logging to log; does not wait for it to lead."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [*BEATD, "run", "--config", str(config), *extra], cwd=config.parent, stdout=out, stderr=subprocess.STDOUT
        )
    return BeatdProcess(process, log)


def beatd_command(*args: str, cwd: Path, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
    """A one-shot `beatd ...` command (check, status, next), its output captured as text."""
    return subprocess.run([*BEATD, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False)


# ---------------------------------------------------------------------------------------------
# Celery worker (tests/worker_app.py)


@dataclass
class WorkerProcess:
    """A `celery -A worker_app worker` subprocess and the JSON lines it appended to `results`."""

    process: subprocess.Popen[bytes]
    broker_url: str
    queues: tuple[str, ...]
    results: Path
    log: Path

    def events(self) -> list[Event]:
        if not self.results.exists():
            return []
        # A line being appended right now may be incomplete; it is read on the next poll.
        events = []
        for line in self.results.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    def ran(self, entry: str | None = None) -> list[Event]:
        """The task bodies that ran, of one entry or of all, in the order the worker ran them."""
        return [
            event
            for event in self.events()
            if event["event"] == "ran" and (entry is None or event["beatd_entry"] == entry)
        ]

    def wait_for(self, done: Callable[[list[Event]], Any], what: str, timeout_s: float = 20.0) -> Any:
        """Poll the results until done(events) is truthy and return its value."""
        return wait_until(
            lambda: done(self.events()),
            timeout_s,
            f"worker: {what}",
            lambda: f"events: {self.events()[-20:]}\nworker log:\n{log_tail(self.log)}",
        )

    def wait_ran_ids(self, task_ids: Sequence[str], what: str, timeout_s: float = 20.0) -> None:
        """Until every one of task_ids has run (the worker drained what beatd published)."""
        wanted = set(task_ids)
        self.wait_for(
            lambda events: wanted <= {event["id"] for event in events if event["event"] == "ran"}, what, timeout_s
        )

    def alive(self) -> bool:
        return self.process.poll() is None


def worker_results_path(workdir: Path, name: str) -> Path:
    """Where a worker started with this workdir and name appends its events (BEATD_TEST_RESULTS)."""
    return workdir / f"{name}.results.jsonl"


def launch_worker(broker_url: str, queues: Sequence[str], workdir: Path, name: str,
                  app: str = "worker_app") -> WorkerProcess:
    """A solo-pool worker of app (default tests/worker_app.py) on broker_url consuming queues; does not wait
    for it to be ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    results, log = worker_results_path(workdir, name), workdir / f"{name}.log"
    environment = {
        **os.environ,
        "BEATD_TEST_BROKER": broker_url,
        "BEATD_TEST_RESULTS": str(results),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable, "-m", "celery", "-A", app, "worker",
        "--pool", "solo", "--loglevel", "info",
        "--queues", ",".join(queues),
        "--hostname", f"{name}-{os.getpid()}-{time.monotonic_ns()}@%h",
        "--without-heartbeat", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=workdir, env=environment, stdout=out, stderr=subprocess.STDOUT)
    return WorkerProcess(process, broker_url, tuple(queues), results, log)


# ---------------------------------------------------------------------------------------------
# a private redis-server


@dataclass
class RedisServer:
    """A redis-server of the test's own; persistent: AOF fsynced on every write, so a kill -9 loses no message."""

    port: int
    directory: Path
    persistent: bool = True
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        log = self.directory / f"redis-{self.starts}.log"
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "always",
             "--dir", str(self.directory), "--logfile", str(log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
        wait_until(self._answers, 10.0, f"redis-server on port {self.port}", lambda: log_tail(log))

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: the server vanishes without a goodbye, as in a crash or a host going away."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# bookkeeping


@dataclass
class Processes:
    """What one test (or module) started; `close` ends whatever still runs, beatd first."""

    beatds: list[BeatdProcess] = field(default_factory=list)
    workers: list[WorkerProcess] = field(default_factory=list)
    redis_servers: list[RedisServer] = field(default_factory=list)

    def beatd(self, config: Path, log: Path, *extra: str) -> BeatdProcess:
        """Start `beatd run` and return once it leads; registered first, so one that never leads is ended too."""
        beatd = launch_beatd(config, log, *extra)
        self.beatds.append(beatd)
        beatd.wait_leading()
        return beatd

    def worker(self, broker_url: str, queues: Sequence[str], workdir: Path, name: str,
               app: str = "worker_app") -> WorkerProcess:
        """Start a worker and return once it consumes."""
        worker = launch_worker(broker_url, queues, workdir, name, app)
        self.workers.append(worker)

        def ready(events: list[Event]) -> bool:
            if not worker.alive():
                pytest.fail(
                    f"worker exited with {worker.process.returncode} before it was ready\n{log_tail(worker.log)}"
                )
            return any(event["event"] == "ready" for event in events)

        worker.wait_for(ready, "start", WORKER_START_S)
        return worker

    def redis_server(self, directory: Path) -> RedisServer:
        server = RedisServer(port=free_port(), directory=directory)
        self.redis_servers.append(server)
        server.start()
        return server

    def close(self) -> None:
        for beatd in self.beatds:
            if beatd.alive():
                beatd.process.kill()
                beatd.process.wait(timeout=5)
        # Celery's warm shutdown (SIGTERM), all workers at once: each takes a moment to say goodbye.
        running = [worker.process for worker in self.workers if worker.alive()]
        for process in running:
            process.terminate()
        for process in running:
            try:
                process.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for server in self.redis_servers:
            server.kill()


class TcpProxy:
    """Forwards connections on 127.0.0.1:<port> to target, byte for byte, until cut.

    `cut` drops every open connection and closes each new one at once, as a store that went
    away would; `restore` forwards again. The client sees its connection reset or closed,
    which its driver reports at once (no timeout to wait for).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.refused = 0
        threading.Thread(target=self._accept_loop, name=f"proxy:{self.port}", daemon=True).start()

    def cut(self) -> None:
        self._cut.set()
        self._drop_all()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self._cut.set()
        self._drop_all()
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                self.refused += 1
                _drop(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _drop(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                _drop(sock)
            with self._lock:
                self._open -= {source, sink}

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _drop(sock)


def _drop(sock: socket.socket) -> None:
    """Shut down (which wakes a thread blocked in recv) and close."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
