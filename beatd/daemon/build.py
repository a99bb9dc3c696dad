"""The daemon a config describes: its transport, state, lease and entry stores opened, its edge started, its start-up logged.

`beatd run` and `manage.py beatd run` both build their daemon here. Imported only when a
daemon is built (or a message's origin named): it brings in kombu and the stores.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from kombu import Connection

from beatd.config import Config, parse_listen_address
from beatd.daemon.catalog import open_entry_stores, store_label
from beatd.daemon.loop import SINGLE_INSTANCE_TTL, Clock, Daemon
from beatd.entry import Entry
from beatd.errors import BackendUnavailable, ConfigError
from beatd.leader import NEVER_EXPIRES, LeaseBackend, default_lock_path, holder_id, open_lease_backend
from beatd.observer import Observer, Observers
from beatd.ops import PacedClock
from beatd.ops.notify import SystemdNotifier
from beatd.publish import open_transport
from beatd.state import RunRecord, open_state_store
from beatd.stores import EntryChanges, EntryStore
from beatd.text import local_text, plural
from beatd.urls import redact_url

if TYPE_CHECKING:
    from beatd.ops.http import OpsEndpoint

log = logging.getLogger("beatd")

# How long the start-up check waits for the broker; the daemon itself retries forever.
BROKER_PROBE_TIMEOUT_S = 3.0


def origin_name() -> str:
    """`beatd-<pid>@<host>`, the `origin` header of every message this process sends."""
    return f"beatd-{os.getpid()}@{socket.gethostname()}"


@contextlib.contextmanager
def build_daemon(config: Config, *, clock: Clock, observers: Sequence[Observer]) -> Iterator[Daemon]:
    """The daemon config describes, wired to what it names; the edge it started is closed on exit.

    Opens the lease backend (a single instance takes its lock first), the broker transport
    with its transport options, the state store and the entry stores, then logs one line
    per dependency. `observers` hear the daemon beside systemd notify (when started by
    systemd) and the metrics and health endpoint (when `http:` is set), whose checks pace
    `clock`. Start-up failures leave closing to the process's exit, which also drops the lock.

    Raises:
        BeatdError: something config names cannot be opened (the lock is held, a store's
            kind is unknown, the `http:` port is busy...).
    """
    holder = holder_id()
    lock_path = config.leader.lock_file or default_lock_path(config.state)
    lease_backend = open_lease_backend(config.leader.backend, config.leader.url, lock_path=lock_path)
    if config.leader.backend == "none":
        # A second instance on this host is refused before it says anything else.
        lease_backend.acquire(holder, SINGLE_INSTANCE_TTL)
    transport = open_transport(config.broker, transport_options=config.broker_transport_options)
    state = open_state_store(config.state)
    entry_stores = [AnnouncedStore(store) for store in open_entry_stores(config)]
    log_startup(config, lease_backend, lock_path)
    with contextlib.ExitStack() as cleanup:
        heard: list[Observer] = list(observers)
        # The watchdog and /healthz judge the loop by its turns: it must turn often enough.
        loop_waits_s: list[float] = []
        notifier = SystemdNotifier.from_environment()
        if notifier is not None:
            cleanup.callback(notifier.close)
            heard.append(notifier)
            if notifier.max_loop_wait_s is not None:
                loop_waits_s.append(notifier.max_loop_wait_s)
        if config.http:
            # The lambdas read the daemon when called, once it exists: the entries it runs now
            # (they change on reload), and whether its lease still allows publishing.
            endpoint = _start_http(config, config.http, entries=lambda: daemon.catalog.entries.values(),
                                   lease_valid=lambda: daemon.keeper.may_publish(daemon.clock.monotonic()))
            cleanup.callback(endpoint.close)
            heard += [endpoint.metrics, endpoint.health]
            loop_waits_s.append(endpoint.health.max_loop_wait_s)
        paced: Clock = PacedClock(clock, min(loop_waits_s)) if loop_waits_s else clock
        daemon = Daemon(config, clock=paced, transport=transport, state=state, lease_backend=lease_backend,
                        holder=holder, origin=origin_name(), observer=Observers(*heard),
                        entry_stores=entry_stores)
        yield daemon


def log_startup(config: Config, lease_backend: LeaseBackend, lock_path: str | os.PathLike[str]) -> None:
    """One line per dependency: the broker reached or not, the state store, the lease store.

    The state store was reached when it was opened (it refuses to open otherwise). Each
    entry store says what it read when the daemon first reads it (AnnouncedStore).
    """
    broker = redact_url(config.broker)
    problem = broker_problem(config.broker)
    if problem is None:
        log.info("broker %s: reachable", broker)
    else:
        log.warning("broker %s: not reachable now (%s); runs wait and are published once it is", broker, problem)
    log.info("state store %s: reachable", redact_url(config.state))
    if config.leader.backend == "none":
        log.info("lease: single instance on this host, lock file %s held", lock_path)
        return
    where = f"lease store {config.leader.backend} {redact_url(config.leader.url or '')}"
    try:
        holder = lease_backend.current()
    except BackendUnavailable as exc:
        log.warning("%s: not reachable now (%s); standing by until it is", where, exc)
        return
    if holder is None:
        log.info("%s: reachable, no leader now", where)
    else:
        expires = "" if holder.expires_at == NEVER_EXPIRES else f" until {local_text(holder.expires_at, config.timezone)}"
        log.info("%s: reachable, leader now %s%s", where, holder.holder, expires)


def broker_problem(url: str) -> str | None:
    """Why the broker cannot be reached now, in the driver's words; None when it can."""
    try:
        with Connection(url, connect_timeout=BROKER_PROBE_TIMEOUT_S) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_PROBE_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001  (any failure means "not reachable"; the reason is shown)
        return f"{type(exc).__name__}: {exc}"
    return None


class AnnouncedStore(EntryStore):
    """An entry store that logs what its first successful read found: `store sql URL: 6 entries`.

    The daemon reads its stores in its loop, and logs when one cannot be read; this adds
    the line an operator looks for at start-up without a second read.
    """

    def __init__(self, store: EntryStore) -> None:
        self.store = store
        self._announced = False

    def __str__(self) -> str:
        return str(self.store)

    def load(self) -> list[Entry]:
        entries = self.store.load()
        self._announce(len(entries))
        return entries

    def changes(self) -> EntryChanges:
        announced = self._announced
        changes = self.store.changes()
        if not announced:
            self._announce(len(changes.upserted))
        return changes

    @property
    def invalid(self) -> dict[str, str]:
        return self.store.invalid

    def last_runs(self) -> dict[str, datetime]:
        return self.store.last_runs()

    def runs_published(self, records: Sequence[RunRecord]) -> None:
        self.store.runs_published(records)

    def close(self) -> None:
        self.store.close()

    def _announce(self, count: int) -> None:
        if self._announced:
            return
        self._announced = True
        skipped = len(self.store.invalid)
        log.info("%s: %s%s", store_label(self.store), plural(count, "entry"),
                 f", {plural(skipped, 'invalid row')} skipped" if skipped else "")


def _start_http(config: Config, address: str, *, entries: Callable[[], Iterable[Entry]],
                lease_valid: Callable[[], bool]) -> OpsEndpoint:
    """Metrics, health and their HTTP server on `http:`; a missing extra or a busy port is a ConfigError."""
    try:
        # prometheus-client is an optional dependency: only who configures `http:` needs it.
        from beatd.ops.http import OpsEndpoint
    except ImportError as exc:
        raise ConfigError(f"{config.place}: http: needs prometheus-client: pip install 'beatd[metrics]' ({exc})") from exc
    host, port = parse_listen_address(address)
    try:
        return OpsEndpoint.start(host, port, entries=entries, lease_valid=lease_valid,
                                 per_entry_labels=config.metrics_per_entry)
    except OSError as exc:
        raise ConfigError(f"{config.place}: http: cannot listen on {address}: {exc.strerror or exc}") from exc
