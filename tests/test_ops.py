"""Operations: sd_notify, the watchdog, /metrics, /healthz, /readyz, redacted secrets, the systemd unit.

Unit tests drive the observers directly, with a real AF_UNIX datagram socket standing in
for systemd and a real HTTP server on a free port. A daemon on a simulated clock shows
that a hung loop stops the watchdog pings and fails /healthz. End-to-end tests start
`python -m beatd run` with the embedded SQLite broker and state in tmp_path, and read its
notify messages, its /metrics and its log.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from processes import BEATD_START_S, beatd_command, free_port, launch_beatd, log_tail, wait_until
from prometheus_client.parser import text_string_to_metric_families

from beatd.cli import main
from beatd.config import Config, load_config, parse_listen_address
from beatd.daemon.loop import Daemon
from beatd.entry import Fire
from beatd.errors import BackendUnavailable, ConfigError
from beatd.leader import LocalLeaseBackend
from beatd.observer import Observers
from beatd.ops import PacedClock
from beatd.ops.http import Health, OpsEndpoint, OpsHttpServer
from beatd.ops.metrics import MetricsObserver
from beatd.ops.notify import SystemdNotifier, monotonic_usec, notify_address
from beatd.publish import PublishResult, Transport
from beatd.publish.message import Message
from beatd.state import open_state_store

REPO = Path(__file__).resolve().parent.parent
UNIT_FILE = REPO / "beatd.service"
T0 = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# a datagram socket standing in for systemd


class NotifyListener:
    """An AF_UNIX datagram socket bound where $NOTIFY_SOCKET points; each datagram read as its lines."""

    def __init__(self, directory: Path, abstract: bool) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"beatd-test-{uuid.uuid4().hex}"
            self.socket.bind(b"\0" + name.encode())
            self.environ_value = f"@{name}"
        else:
            path = directory / "notify.sock"
            self.socket.bind(str(path))
            self.environ_value = str(path)
        self.received: list[list[str]] = []

    def drain(self, timeout_s: float = 0.0) -> list[list[str]]:
        """Everything received so far; with none waiting, waits up to timeout_s for the next datagram."""
        self.socket.settimeout(timeout_s)  # 0.0: do not wait at all
        with contextlib.suppress(BlockingIOError, TimeoutError):
            while True:
                self.received.append(self.socket.recv(4096).decode().split("\n"))
                self.socket.settimeout(0.0)
        return self.received

    def wait_for(self, predicate: Callable[[list[list[str]]], bool], what: str,
                 timeout_s: float = 10.0) -> list[list[str]]:
        """Receive until predicate(everything received) holds, and return everything received."""
        wait_until(lambda: predicate(self.drain(0.05)), timeout_s, f"notify socket: {what}",
                   lambda: f"received: {self.received}")
        return self.received

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: a socket path must fit in 107 bytes."""
    with tempfile.TemporaryDirectory(prefix="beatd-") as directory:
        yield Path(directory)


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest, short_dir: Path) -> Iterator[NotifyListener]:
    bound = NotifyListener(short_dir, abstract=request.param == "abstract")
    yield bound
    bound.close()


class FakeMonotonic:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s


# ---------------------------------------------------------------------------------------------
# sd_notify


@pytest.mark.parametrize(("value", "expected"), [
    ("/run/systemd/notify", "/run/systemd/notify"),
    ("@/org/freedesktop/systemd1/notify/42", b"\0/org/freedesktop/systemd1/notify/42"),
], ids=["path", "abstract"])
def test_notify_address_reads_paths_and_abstract_names(value: str, expected: str | bytes) -> None:
    assert notify_address(value) == expected


@pytest.mark.parametrize("value", ["relative/notify", "@", "vsock:2:1234"], ids=["relative", "empty-abstract", "vsock"])
def test_notify_address_refuses_what_is_not_af_unix(value: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(value))):
        notify_address(value)


def test_no_notifier_without_notify_socket() -> None:
    assert SystemdNotifier.from_environment({}) is None
    assert SystemdNotifier.from_environment({"NOTIFY_SOCKET": ""}) is None


def test_notifier_sends_the_lifecycle_in_order(listener: NotifyListener) -> None:
    clock = FakeMonotonic()
    notifier = SystemdNotifier.from_environment(
        {"NOTIFY_SOCKET": listener.environ_value, "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "4242"},
        pid=4242, monotonic=clock)
    assert notifier is not None and notifier.watchdog_interval_s == 10.0

    notifier.on_ready(3)
    notifier.on_loop()
    notifier.on_leader(7, 3)
    before_usec = monotonic_usec()
    notifier.on_reloading()
    after_usec = monotonic_usec()
    notifier.on_reload(True, 4)
    notifier.on_reloading()
    notifier.on_reload(False, 4)
    notifier.on_standby("another instance holds the lease")
    notifier.on_stopping()
    notifier.close()

    received = listener.drain(1.0)
    reloading = received[3]
    assert reloading[0] == "RELOADING=1" and reloading[2] == "STATUS=reloading the config"
    assert reloading[1].startswith("MONOTONIC_USEC=")
    assert before_usec <= int(reloading[1].removeprefix("MONOTONIC_USEC=")) <= after_usec
    assert [lines for lines in received if lines[0] != "RELOADING=1"] == [
        ["READY=1", "STATUS=started, not leading yet; 3 entries"],
        ["WATCHDOG=1"],
        ["STATUS=leading (lease token 7); 3 entries"],
        ["READY=1", "STATUS=leading (lease token 7); 4 entries"],
        ["READY=1", "STATUS=leading (lease token 7); 4 entries; reload refused, see the log"],
        ["STATUS=standby (another instance holds the lease); 4 entries"],
        ["STOPPING=1", "STATUS=stopping"],
    ]
    assert len(received) == 9


def test_status_reason_cannot_add_lines_of_its_own(listener: NotifyListener) -> None:
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": listener.environ_value})
    assert notifier is not None
    notifier.on_standby("lease lost\nWATCHDOG=1\n")
    assert listener.drain(1.0) == [["STATUS=standby (lease lost WATCHDOG=1); 0 entries"]]


class RecordingSender:
    """Notifications as (monotonic time, lines), instead of a socket."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.sent: list[tuple[float, tuple[str, ...]]] = []

    def send(self, *lines: str) -> bool:
        self.sent.append((self.clock(), lines))
        return True

    def pings(self) -> list[float]:
        return [at for at, lines in self.sent if lines == ("WATCHDOG=1",)]


def test_watchdog_pings_from_the_loop_at_most_every_half_interval() -> None:
    clock = FakeMonotonic(0.0)
    sender = RecordingSender(clock)
    notifier = SystemdNotifier(sender, watchdog_interval_s=10.0, monotonic=clock)
    for loop_at_s in (0.0, 1.0, 4.999, 5.0, 9.0, 10.0, 10.5, 30.0):
        clock.now_s = loop_at_s
        notifier.on_loop()
    assert sender.pings() == [0.0, 5.0, 10.0, 30.0]
    assert notifier.max_loop_wait_s == 2.5


@pytest.mark.parametrize(("environ", "interval_s"), [
    ({}, None),
    ({"WATCHDOG_USEC": "30000000"}, 30.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 30.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
], ids=["unset", "usec", "our-pid", "other-pid", "zero", "not-a-number"])
def test_watchdog_is_on_only_when_systemd_set_it_for_this_process(environ: dict[str, str],
                                                                    interval_s: float | None) -> None:
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": "/run/nobody-listens", **environ}, pid=4242)
    assert notifier is not None and notifier.watchdog_interval_s == interval_s
    notifier.close()


def test_unsent_notifications_are_logged_once_and_never_raise(short_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": str(short_dir / "nobody.sock")})
    assert notifier is not None
    notifier.on_ready(1)
    notifier.on_leader(1, 1)
    notifier.on_stopping()
    notifier.close()
    warnings = [record.getMessage() for record in caplog.records if record.name == "beatd.ops.notify"]
    assert len(warnings) == 1 and "READY=1 not sent" in warnings[0]


def test_paced_clock_caps_waits_and_passes_the_rest_through() -> None:
    class Inner:
        def __init__(self) -> None:
            self.waits: list[float] = []

        def now(self) -> datetime:
            return T0

        def monotonic(self) -> float:
            return 5.0

        def wait(self, seconds: float, wake: threading.Event) -> None:
            self.waits.append(seconds)

    inner = Inner()
    paced = PacedClock(inner, 2.5)
    paced.wait(30.0, threading.Event())
    paced.wait(1.0, threading.Event())
    assert inner.waits == [2.5, 1.0] and paced.now() == T0 and paced.monotonic() == 5.0
    with pytest.raises(ValueError, match="0"):
        PacedClock(inner, 0)


# ---------------------------------------------------------------------------------------------
# a hung loop: a daemon on a simulated clock whose broker call never returns


class SimulatedClock:
    """Wall and monotonic time that advance only when the daemon waits or the test says so."""

    def __init__(self) -> None:
        self.current = T0

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return (self.current - T0).total_seconds() + 1000.0

    def wait(self, seconds: float, wake: threading.Event) -> None:
        self.current += timedelta(microseconds=max(math.ceil(seconds * 1e6), 1))


class HangingTransport(Transport):
    """Takes `calls_before_hang` publishes, then blocks in the next until `release` is set."""

    def __init__(self, calls_before_hang: int) -> None:
        super().__init__("memory://")
        self.calls_before_hang = calls_before_hang
        self.calls = 0
        self.hung = threading.Event()
        self.release = threading.Event()

    def publish(self, messages: Sequence[Message]) -> PublishResult:
        self.calls += 1
        if self.calls > self.calls_before_hang and not self.release.is_set():
            self.hung.set()
            self.release.wait(30)
        return PublishResult()

    def close(self) -> None:
        self.release.set()


def write_config(directory: Path, entries: str, *, extra: str = "") -> Path:
    path = directory / "beatd.yaml"
    path.write_text(
        f"broker: sqla+sqlite:///{directory / 'broker.sqlite3'}\n"
        f"state: sqlite:///{directory / 'state.sqlite3'}\n"
        f"leader: {{backend: none, lock_file: {directory / 'beatd.lock'}}}\n"
        f"{extra}"
        f"entries:\n{entries}"
    )
    return path


def test_hung_loop_stops_watchdog_pings_and_fails_healthz(tmp_path: Path) -> None:
    # Given a daemon on a simulated clock, watched by a 10 s watchdog and /healthz's check,
    # whose broker call hangs after 30 publishes (30 simulated seconds of `every: 1`)
    config = load_config(write_config(tmp_path, "  tick: {task: tests.tick, every: 1}\n"))
    clock = SimulatedClock()
    sender = RecordingSender(clock.monotonic)
    notifier = SystemdNotifier(sender, watchdog_interval_s=10.0, monotonic=clock.monotonic)
    health = Health(monotonic=clock.monotonic)
    transport = HangingTransport(calls_before_hang=30)
    daemon = Daemon(config, clock=PacedClock(clock, min(notifier.max_loop_wait_s or 60, health.max_loop_wait_s)),
                    transport=transport, state=open_state_store(f"sqlite:///{tmp_path / 'state.sqlite3'}"),
                    lease_backend=LocalLeaseBackend(tmp_path / "beatd.lock", monotonic=clock.monotonic),
                    holder="test", origin="test",
                    observer=Observers(notifier, health))
    loop = threading.Thread(target=daemon.run)
    loop.start()
    try:
        assert transport.hung.wait(10), "the daemon never reached its 31st publish"
        # While the loop turned, WATCHDOG=1 came from it at least every half interval plus one paced wait
        pings = sender.pings()
        assert len(pings) >= 4
        assert all(5.0 <= later - earlier <= 7.5 for earlier, later in zip(pings, pings[1:])), pings
        assert health.liveness()[0]

        # When the broker call hangs for a minute and more of (simulated) time
        clock.current += timedelta(seconds=61)

        # Then no WATCHDOG=1 goes out (systemd would kill and restart beatd), and /healthz fails
        assert sender.pings() == pings
        alive, detail = health.liveness()
        assert not alive and detail["loop_age_s"] > 61 and "has not turned for" in detail["problem"]
        assert health.readiness()[0], "a hung daemon is still ready: restarting it is liveness's job"

        # And once the call returns, the loop pings again at its next turn
        transport.release.set()
        wait_until(lambda: len(sender.pings()) > len(pings), 10, "a ping after the hang", lambda: str(sender.sent))
        assert health.liveness()[0]
    finally:
        transport.release.set()
        daemon.stop()
        loop.join(10)
    assert not loop.is_alive()


# ---------------------------------------------------------------------------------------------
# /metrics, /healthz, /readyz with the observers driven directly


def scrape(base_url: str, path: str = "/metrics", accept: str | None = None) -> tuple[int, str, str]:
    """GET a page: status, content type and body text (error statuses too)."""
    request = urllib.request.Request(base_url + path, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read().decode()


def samples_of(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text page, by (sample name, labels)."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


@dataclass
class OpsRig:
    """Metrics and health of three entries, served by a real server on a free port."""

    config: Config
    metrics: MetricsObserver
    health: Health
    clock: FakeMonotonic
    base_url: str
    lease_valid: bool = True

    def fire(self, name: str) -> Fire:
        entry = next(entry for entry in self.config.entries if entry.name == name)
        return Fire(entry=entry, scheduled_at=T0, publish_at=T0)

    def get(self, path: str, accept: str | None = None) -> tuple[int, str, str]:
        return scrape(self.base_url, path, accept)


@pytest.fixture
def rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[OpsRig]:
    """Parametrize indirectly with False for metrics without the `entry` label."""
    config = load_config(write_config(tmp_path, (
        "  tick: {task: tests.tick, every: 1}\n"
        "  report: {task: tests.report, cron: '0 7 * * *'}\n"
        "  paused: {task: tests.paused, every: 5m, enabled: false}\n")))
    clock = FakeMonotonic()
    metrics = MetricsObserver(entries=lambda: config.entries, per_entry_labels=getattr(request, "param", True))
    health = Health(stale_after_s=60, lease_valid=lambda: built.lease_valid, monotonic=clock)
    server = OpsHttpServer("127.0.0.1", 0, registry=metrics.registry, health=health, poll_interval_s=0.01).start()
    host, port = server.address
    built = OpsRig(config=config, metrics=metrics, health=health, clock=clock, base_url=f"http://{host}:{port}")
    try:
        yield built
    finally:
        server.close()


def test_metrics_scraped_over_http_show_what_was_published(rig: OpsRig) -> None:
    metrics = rig.metrics
    metrics.on_ready(3)
    metrics.on_leader(42, 3)
    for name, lateness_s in (("tick", 0.01), ("tick", 0.2), ("tick", 3.0), ("report", 0.5)):
        metrics.on_published(rig.fire(name), "task-id", lateness_s)
    metrics.on_publish_batch(3, 0.004)
    metrics.on_publish_batch(1, 0.02)
    metrics.on_broker_error(BackendUnavailable("broker down"))
    metrics.on_broker_error(BackendUnavailable("broker down"))
    metrics.on_state_write_error(BackendUnavailable("state store down"))
    metrics.on_reload(False, 3)
    metrics.on_reload(True, 3)
    metrics.on_standby("another instance holds the lease")

    status, content_type, text = rig.get("/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    samples = samples_of(text)
    assert value(samples, "beatd_runs_published_total", entry="tick", outcome="on_time") == 2
    assert value(samples, "beatd_runs_published_total", entry="tick", outcome="late") == 1
    assert value(samples, "beatd_runs_published_total", entry="report", outcome="on_time") == 1
    assert ("beatd_runs_published_total", frozenset({"entry": "paused", "outcome": "on_time"}.items())) not in samples
    assert value(samples, "beatd_run_lateness_seconds_count") == 4
    assert value(samples, "beatd_run_lateness_seconds_sum") == pytest.approx(3.71)
    assert value(samples, "beatd_run_lateness_seconds_bucket", le="1.0") == 3
    assert value(samples, "beatd_publish_batch_duration_seconds_count") == 2
    assert value(samples, "beatd_publish_batch_duration_seconds_sum") == pytest.approx(0.024)
    assert value(samples, "beatd_leader") == 0
    assert value(samples, "beatd_lease_token") == 42
    assert value(samples, "beatd_entries", kind="interval", enabled="true") == 1
    assert value(samples, "beatd_entries", kind="interval", enabled="false") == 1
    assert value(samples, "beatd_entries", kind="cron", enabled="true") == 1
    assert value(samples, "beatd_entries", kind="solar", enabled="true") == 0
    assert value(samples, "beatd_broker_errors_total") == 2
    assert value(samples, "beatd_state_write_failures_total") == 1
    assert value(samples, "beatd_config_reloads_total", outcome="ok") == 1
    assert value(samples, "beatd_config_reloads_total", outcome="refused") == 1
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)


def entry_labels_of(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> set[str]:
    """Every value the `entry` label takes on the page."""
    return {label_value for _, labels in samples for label, label_value in labels if label == "entry"}


def test_removed_entries_lose_their_series_and_a_re_added_name_starts_at_zero(rig: OpsRig) -> None:
    # Given runs of two entries, heard through an Observers fan-out as the daemon calls it
    observer = Observers(rig.metrics)
    observer.on_published(rig.fire("tick"), "id-1", 0.01)
    observer.on_published(rig.fire("tick"), "id-2", 5.0)
    observer.on_published(rig.fire("report"), "id-3", 0.01)
    assert entry_labels_of(samples_of(rig.get("/metrics")[2])) == {"tick", "report"}

    # When tick is removed (with a name that never published, which is no error)
    observer.on_entries_removed(["tick", "never-published"])

    # Then tick has no series left, in either outcome, and report keeps its count
    samples = samples_of(rig.get("/metrics")[2])
    assert entry_labels_of(samples) == {"report"}
    assert value(samples, "beatd_runs_published_total", entry="report", outcome="on_time") == 1

    # And a name added again later counts from zero
    observer.on_published(rig.fire("tick"), "id-4", 0.01)
    samples = samples_of(rig.get("/metrics")[2])
    assert value(samples, "beatd_runs_published_total", entry="tick", outcome="on_time") == 1
    assert ("beatd_runs_published_total", frozenset({"entry": "tick", "outcome": "late"}.items())) not in samples


@pytest.mark.parametrize("rig", [False], indirect=True, ids=["per_entry_labels_off"])
def test_per_entry_labels_off_counts_runs_by_outcome_only(rig: OpsRig) -> None:
    samples = samples_of(rig.get("/metrics")[2])
    assert value(samples, "beatd_runs_published_total", outcome="on_time") == 0, "present at 0 before the first run"
    for name, lateness_s in (("tick", 0.01), ("tick", 3.0), ("report", 0.5)):
        rig.metrics.on_published(rig.fire(name), "task-id", lateness_s)
    rig.metrics.on_entry_fault("tick", "message", "reserved header 'task'")
    rig.metrics.on_entries_removed(["tick"])

    samples = samples_of(rig.get("/metrics")[2])
    assert value(samples, "beatd_runs_published_total", outcome="on_time") == 2
    assert value(samples, "beatd_runs_published_total", outcome="late") == 1, "removal keeps the totals"
    assert entry_labels_of(samples) == set()
    assert value(samples, "beatd_entries_failing") == 0


def test_entry_faults_are_counted_by_reason_and_failing_entries_gauged(rig: OpsRig) -> None:
    observer = Observers(rig.metrics)
    samples = samples_of(rig.get("/metrics")[2])
    assert value(samples, "beatd_entries_failing") == 0

    # Given two failed attempts of tick and one of report
    observer.on_entry_fault("tick", "message", "reserved header 'task' in options.headers")
    observer.on_entry_fault("tick", "message", "reserved header 'task' in options.headers")
    observer.on_entry_fault("report", "broker", "WRONGTYPE Operation against a key holding the wrong kind of value")
    samples = samples_of(rig.get("/metrics")[2])
    assert value(samples, "beatd_entry_errors_total", reason="message") == 2
    assert value(samples, "beatd_entry_errors_total", reason="broker") == 1
    assert value(samples, "beatd_entries_failing") == 2, "an entry failing twice counts once"
    assert entry_labels_of(samples) == set(), "faults carry no entry label: a name is no metric label"

    # When tick recovers, then report is removed while failing, then an entry that never failed recovers
    observer.on_entry_recovered("tick")
    assert value(samples_of(rig.get("/metrics")[2]), "beatd_entries_failing") == 1
    observer.on_entries_removed(["report"])
    observer.on_entry_recovered("paused")

    # Then nothing fails any more, and the counts of faults stay
    samples = samples_of(rig.get("/metrics")[2])
    assert value(samples, "beatd_entries_failing") == 0
    assert value(samples, "beatd_entry_errors_total", reason="message") == 2


def test_metrics_speak_openmetrics_when_asked(rig: OpsRig) -> None:
    status, content_type, text = rig.get("/metrics", accept="application/openmetrics-text; version=1.0.0")
    assert status == 200 and content_type.startswith("application/openmetrics-text")
    assert text.endswith("# EOF\n")


def test_healthz_follows_the_loop_and_the_lease(rig: OpsRig) -> None:
    health, clock = rig.health, rig.clock

    def healthz() -> tuple[int, dict[str, Any]]:
        status, content_type, text = rig.get("/healthz")
        assert content_type == "application/json"
        return status, json.loads(text)

    assert healthz() == (503, {"status": "unhealthy", "problem": "the scheduling loop has not turned yet"})
    health.on_loop()
    clock.now_s += 60
    assert healthz()[0] == 200, "exactly at the limit the loop still counts as alive"
    clock.now_s += 0.5
    status, body = healthz()
    assert status == 503 and body["problem"] == "the scheduling loop has not turned for 60.5 s (limit 60 s)"
    health.on_loop()
    assert healthz() == (200, {"status": "ok", "loop_age_s": 0.0, "stale_after_s": 60, "leader": False})

    health.on_leader(5, 3)
    assert healthz()[0] == 200
    rig.lease_valid = False
    assert healthz()[1]["problem"] == "leading, but the lease is past its publish deadline"
    health.on_standby("lease lost")
    assert healthz()[0] == 200, "a standby needs no lease to be healthy"


def test_readyz_from_ready_until_stopping(rig: OpsRig) -> None:
    def readyz() -> tuple[int, dict[str, Any]]:
        status, _, text = rig.get("/readyz")
        return status, json.loads(text)

    assert readyz() == (503, {"status": "starting"})
    rig.health.on_ready(3)
    assert readyz() == (200, {"status": "ready", "leader": False})
    rig.health.on_stopping()
    assert readyz() == (503, {"status": "stopping"})


def test_unknown_paths_are_404(rig: OpsRig) -> None:
    status, _, text = rig.get("/metricz")
    assert status == 404 and "/metrics" in text


def test_ops_endpoint_on_a_busy_port_raises_oserror() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            OpsEndpoint.start("127.0.0.1", taken.getsockname()[1], entries=tuple)


# ---------------------------------------------------------------------------------------------
# the `http:` setting


@pytest.mark.parametrize(("written", "loaded", "address"), [
    ("127.0.0.1:9808", "127.0.0.1:9808", ("127.0.0.1", 9808)),
    ("':9808'", "127.0.0.1:9808", ("127.0.0.1", 9808)),
    ("0.0.0.0:9808", "0.0.0.0:9808", ("0.0.0.0", 9808)),
    ("'[::1]:9808'", "[::1]:9808", ("::1", 9808)),
    ("metrics.internal:65535", "metrics.internal:65535", ("metrics.internal", 65535)),
], ids=["ipv4", "port-only", "any", "ipv6", "host-name"])
def test_http_setting_is_host_and_port(tmp_path: Path, written: str, loaded: str, address: tuple[str, int]) -> None:
    config = load_config(write_config(tmp_path, "  tick: {task: t, every: 1}\n", extra=f"http: {written}\n"))
    assert config.http == loaded
    assert parse_listen_address(loaded) == address


def test_http_is_off_unless_configured(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path, "  tick: {task: t, every: 1}\n")).http is None


@pytest.mark.parametrize(("written", "message"), [
    ("9808", "http must be a string, not 9808"),
    ("localhost", "http: 'localhost' is not host:port; write for example 127.0.0.1:9808"),
    ("'::1:9808'", "http: '::1:9808' is not host:port"),
    ("localhost:0", "http: port 0 in 'localhost:0' is outside 1-65535"),
    ("localhost:70000", "http: port 70000 in 'localhost:70000' is outside 1-65535"),
], ids=["number", "no-port", "ipv6-without-brackets", "port-0", "port-too-big"])
def test_bad_http_setting_names_file_line_and_value(tmp_path: Path, written: str, message: str) -> None:
    path = write_config(tmp_path, "  tick: {task: t, every: 1}\n", extra=f"http: {written}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:4: {message}")


# ---------------------------------------------------------------------------------------------
# end to end: `beatd run`


@pytest.fixture
def stop_beatds() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes the test starts; any still running at teardown is killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def runs_of(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], entry: str) -> float:
    """beatd_runs_published_total of one entry, on time and late together."""
    return sum(count for (name, labels), count in samples.items()
               if name == "beatd_runs_published_total" and ("entry", entry) in labels)


def published_lines(log: Path) -> list[str]:
    return re.findall(r"published entry (\S+) task", log.read_text())


@pytest.mark.slow
def test_beatd_run_serves_metrics_that_match_its_published_log_lines(tmp_path: Path, stop_beatds) -> None:
    # Given beatd with `http:` on a free port and an entry due every second
    port = free_port()
    config = write_config(tmp_path, ("  tick: {task: tests.tick, every: 1}\n"
                                     "  nightly: {task: tests.nightly, cron: '0 3 * * *', enabled: false}\n"),
                          extra=f"http: 127.0.0.1:{port}\n")
    beatd = launch_beatd(config, tmp_path / "beatd.log")
    stop_beatds.append(beatd.process)
    base_url = f"http://127.0.0.1:{port}"

    # When it has published at least three runs, read a scrape, the log and another scrape
    # until they agree (runs come each second, so a quiet moment comes soon)
    def snapshot() -> tuple[dict[Any, float], int] | None:
        if not beatd.alive():
            pytest.fail(f"beatd exited with {beatd.process.returncode}\n{log_tail(beatd.log)}")
        try:
            first = samples_of(scrape(base_url)[2])
            logged = len(published_lines(beatd.log))
            second = samples_of(scrape(base_url)[2])
        except OSError:
            return None  # not listening yet
        runs = [runs_of(samples, "tick") for samples in (first, second)]
        return (second, logged) if runs[0] == runs[1] == logged >= 3 else None

    samples, logged = wait_until(snapshot, BEATD_START_S, "3 runs in /metrics, as many as in the log",
                                 lambda: log_tail(beatd.log))

    # Then the counters, the histograms and the gauges say what the log says
    assert logged >= 3
    assert value(samples, "beatd_run_lateness_seconds_count") == logged
    assert 1 <= value(samples, "beatd_publish_batch_duration_seconds_count") <= logged
    assert value(samples, "beatd_leader") == 1
    assert value(samples, "beatd_lease_token") == 0
    assert value(samples, "beatd_entries", kind="interval", enabled="true") == 1
    assert value(samples, "beatd_entries", kind="cron", enabled="false") == 1
    assert value(samples, "beatd_broker_errors_total") == 0
    assert set(published_lines(beatd.log)) == {"tick"}
    status, _, body = scrape(base_url, "/healthz")
    assert status == 200 and json.loads(body)["leader"] is True
    assert scrape(base_url, "/readyz")[0] == 200

    # And SIGTERM stops it cleanly and frees the port
    assert beatd.stop() == 0
    with pytest.raises(OSError):
        scrape(base_url, "/readyz")


@pytest.mark.slow
def test_beatd_run_notifies_systemd(tmp_path: Path, short_dir: Path, monkeypatch: pytest.MonkeyPatch, stop_beatds) -> None:
    # Given a socket standing in for systemd, and a 2 s watchdog, in beatd's environment
    listener = NotifyListener(short_dir, abstract=True)
    monkeypatch.setenv("NOTIFY_SOCKET", listener.environ_value)
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    config = write_config(tmp_path, "  hourly: {task: tests.hourly, every: 1h}\n")
    beatd = launch_beatd(config, tmp_path / "beatd.log")
    stop_beatds.append(beatd.process)
    try:
        # When it starts: READY=1 once the config is loaded, then STATUS=leading, then watchdog pings
        listener.wait_for(lambda received: sum(lines == ["WATCHDOG=1"] for lines in received) >= 2,
                          "two watchdog pings", BEATD_START_S)
        statuses = [lines for lines in listener.received if lines != ["WATCHDOG=1"]]
        assert statuses == [["READY=1", "STATUS=started, not leading yet; 1 entry"],
                            ["STATUS=leading (lease token 0); 1 entry"]]

        # When it gets SIGHUP: RELOADING=1 with the monotonic time, then READY=1
        listener.received.clear()
        before_usec = monotonic_usec()
        beatd.process.send_signal(signal.SIGHUP)
        received = listener.wait_for(lambda received: any(lines[0] == "READY=1" for lines in received), "READY=1 after a reload")
        reloads = [lines for lines in received if lines != ["WATCHDOG=1"]]
        assert reloads[0][0] == "RELOADING=1" and before_usec <= int(reloads[0][1].removeprefix("MONOTONIC_USEC="))
        assert reloads[1] == ["READY=1", "STATUS=leading (lease token 0); 1 entry"]

        # When it gets SIGTERM: STOPPING=1, and a clean exit
        listener.received.clear()
        assert beatd.stop() == 0
        assert ["STOPPING=1", "STATUS=stopping"] in listener.drain(1.0)
    finally:
        listener.close()


PASSWORD = "pw-Xy7-never-print-me"


@pytest.mark.slow
def test_passwords_never_appear_in_logs_status_or_help(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop_beatds) -> None:
    # Given a config whose broker URL carries a password (from the environment, as the README advises),
    # and a broker that is down, so beatd has a reason to print the URL in errors too
    monkeypatch.setenv("BEATD_TEST_PASSWORD", PASSWORD)
    down = free_port()
    config = tmp_path / "beatd.yaml"
    config.write_text(
        f"broker: redis://beatd:${{BEATD_TEST_PASSWORD}}@127.0.0.1:{down}/0\n"
        f"state: sqlite:///{tmp_path / 'state.sqlite3'}\n"
        f"leader: {{backend: none, lock_file: {tmp_path / 'beatd.lock'}}}\n"
        "entries:\n  tick: {task: tests.tick, every: 1}\n")

    # When beatd runs for a couple of seconds, with JSON logs
    beatd = launch_beatd(config, tmp_path / "beatd.log", "--log-format", "json")
    stop_beatds.append(beatd.process)
    beatd.wait_for_log(r"broker unavailable", "the broker error", BEATD_START_S)
    time.sleep(1.0)  # the point: let it retry and log for a while
    assert beatd.stop() == 0
    log = beatd.text()
    # Then every line is JSON, the broker URL was printed, and never with its password
    lines = [json.loads(line) for line in log.splitlines()]
    assert any(f"redis://beatd:***@127.0.0.1:{down}/0" in line["message"] for line in lines)
    assert PASSWORD not in log

    # And `beatd status`, its failure on a state store that is down, and every --help keep it out too
    status = beatd_command("status", "--config", str(config), cwd=tmp_path)
    assert status.returncode == 0 and "tick" in status.stdout
    assert PASSWORD not in status.stdout + status.stderr
    down_state = tmp_path / "down-state.yaml"
    down_state.write_text(config.read_text().replace(f"sqlite:///{tmp_path / 'state.sqlite3'}",
                                                     f"redis://:${{BEATD_TEST_PASSWORD}}@127.0.0.1:{down}/1"))
    failed = beatd_command("status", "--config", str(down_state), cwd=tmp_path)
    assert failed.returncode == 1 and f"127.0.0.1:{down}" in failed.stderr
    assert PASSWORD not in failed.stdout + failed.stderr
    runner = CliRunner()
    for command in ([], ["run"], ["status"], ["check"], ["next"], ["trigger"]):
        result = runner.invoke(main, [*command, "--help"], env={"BEATD_CONFIG": str(config)})
        assert result.exit_code == 0 and "Usage:" in result.output
        assert PASSWORD not in result.output


@pytest.mark.slow
def test_beatd_run_with_http_on_a_busy_port_says_so_and_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, "  tick: {task: t, every: 1}\n", extra=f"http: 127.0.0.1:{port}\n")
        result = beatd_command("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == f"{config}: http: cannot listen on 127.0.0.1:{port}: Address already in use"


# ---------------------------------------------------------------------------------------------
# the systemd unit


def test_unit_file_keeps_what_deploying_md_relies_on() -> None:
    lines = set(UNIT_FILE.read_text().splitlines())
    for line in ("Type=notify", "ExecStart=beatd run --config /etc/beatd/schedules.yaml",
                 "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "WatchdogSec=30", "User=beatd",
                 "StateDirectory=beatd", "WorkingDirectory=/var/lib/beatd", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes"):
        assert line in lines, f"{line!r} is missing from beatd.service"


def test_unit_file_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    # verify insists that ExecStart's program exists on this machine; beatd is not installed
    # under /usr/local/bin here, so the copy points at a stand-in with an absolute path.
    # Every other line is checked as shipped.
    stand_in = tmp_path / "bin" / "beatd"
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    unit = tmp_path / "beatd.service"
    unit.write_text(UNIT_FILE.read_text().replace("\nExecStart=beatd ", f"\nExecStart={stand_in} "))
    assert f"ExecStart={stand_in} run" in unit.read_text()
    result = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60,
                            check=False)
    # verify exits 0 even for unknown keys and bad values ("..., ignoring"), so any line about
    # the unit fails the test; lines about this machine's other units are not ours to judge.
    about_unit = [line for line in (result.stdout + result.stderr).splitlines() if "beatd.service" in line]
    assert result.returncode == 0 and not about_unit, result.stdout + result.stderr


def test_systemd_analyze_catches_a_typo_in_the_unit(tmp_path: Path) -> None:
    """The test above can fail: a misspelt key in the unit shows up in verify's output."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    unit = tmp_path / "beatd.service"
    unit.write_text(UNIT_FILE.read_text().replace("\nExecStart=beatd ", "\nExecStart=/bin/true ")
                    .replace("ProtectHome=yes", "ProtectHomee=yes"))
    result = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert "Unknown key 'ProtectHomee'" in result.stderr

