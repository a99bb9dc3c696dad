"""A small HTTP endpoint for operators: /metrics, /healthz and /readyz, on a thread of its own.

    GET /metrics   Prometheus text (or OpenMetrics, if the scraper asks for it) from the registry
    GET /healthz   200 while the scheduling loop turns (and, while leading, the lease is valid); else 503
    GET /readyz    200 from when the config is loaded until a graceful stop starts; else 503

Health answers are JSON objects that say why, e.g. {"status": "unhealthy", "problem": ...}.
The daemon runs on the main thread; this server reads only what the Health observer and
the metrics keep, never the daemon's internals, except through the `lease_valid`
callable it is given.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from beatd.entry import Entry
from beatd.observer import Observer
from beatd.ops.metrics import MetricsObserver

log = logging.getLogger("beatd.ops.http")

# /healthz fails when the loop has not turned for this long. The loop is paced to turn at
# least every LOOP_STALE_AFTER_S / 6 (10 s); the rest leaves room for one turn that waits
# on a slow broker or store (their connect and socket timeouts are 5 to 30 s).
LOOP_STALE_AFTER_S = 60.0


@dataclass(kw_only=True, eq=False)
class Health(Observer):
    """What /healthz and /readyz report, kept from the daemon's hooks.

    Alive: `on_loop` was called within `stale_after_s` (on the `monotonic` clock) and, while
    this instance leads, `lease_valid()` is true (the daemon passes its lease keeper's
    publish deadline check; without it, leading counts as valid). Ready: `on_ready` was
    called and `on_stopping` was not.

    Plain attributes written by the daemon's thread and read by the server's: no locks,
    because `on_stopping` runs inside a signal handler.
    """

    stale_after_s: float = LOOP_STALE_AFTER_S
    lease_valid: Callable[[], bool] | None = None
    monotonic: Callable[[], float] = time.monotonic
    # Written by the daemon's hooks.
    ready: bool = field(default=False, init=False)
    stopping: bool = field(default=False, init=False)
    leading: bool = field(default=False, init=False)
    last_loop: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not self.stale_after_s > 0:
            raise ValueError(f"stale_after_s {self.stale_after_s!r} must be a positive number of seconds")

    @property
    def max_loop_wait_s(self) -> float:
        """How long the loop may sleep between turns so that a healthy idle loop never looks stale."""
        return self.stale_after_s / 6

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        """Whether the daemon is alive, and a JSON-ready explanation."""
        if self.last_loop is None:
            return False, {"status": "unhealthy", "problem": "the scheduling loop has not turned yet"}
        age_s = self.monotonic() - self.last_loop
        detail: dict[str, Any] = {"loop_age_s": round(age_s, 3), "stale_after_s": self.stale_after_s,
                                  "leader": self.leading}
        problem = None
        if age_s > self.stale_after_s:
            problem = f"the scheduling loop has not turned for {age_s:.1f} s (limit {self.stale_after_s:g} s)"
        elif self.leading and self.lease_valid is not None and not self.lease_valid():
            problem = "leading, but the lease is past its publish deadline"
        if problem is None:
            return True, {"status": "ok", **detail}
        return False, {"status": "unhealthy", "problem": problem, **detail}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether the daemon is ready (config loaded, not stopping), and a JSON-ready explanation."""
        if self.stopping:
            return False, {"status": "stopping"}
        if not self.ready:
            return False, {"status": "starting"}
        return True, {"status": "ready", "leader": self.leading}

    def on_ready(self, entry_count: int) -> None:
        self.ready = True

    def on_loop(self) -> None:
        self.last_loop = self.monotonic()

    def on_leader(self, token: int, entry_count: int) -> None:
        self.leading = True

    def on_standby(self, reason: str) -> None:
        self.leading = False

    def on_stopping(self) -> None:
        self.stopping = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[Any, ...], family: socket.AddressFamily, registry: CollectorRegistry,
                 health: Health) -> None:
        self.address_family = family
        self.registry = registry
        self.health = health
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("HTTP request from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "beatd"

    def do_GET(self) -> None:
        self._respond(with_body=True)

    def do_HEAD(self) -> None:
        self._respond(with_body=False)

    def _respond(self, *, with_body: bool) -> None:
        path = urlsplit(self.path).path
        if path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            status, body = 200, encoder(self.server.registry)
        elif path in ("/healthz", "/readyz"):
            health = self.server.health
            ok, detail = health.liveness() if path == "/healthz" else health.readiness()
            status, body, content_type = (200 if ok else 503), (json.dumps(detail) + "\n").encode(), "application/json"
        else:
            status, content_type = 404, "text/plain; charset=utf-8"
            body = f"no page {path!r} here; try /metrics, /healthz or /readyz\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # One line per scrape at INFO would drown the one line per published run.
        log.debug("HTTP %s " + format, self.address_string(), *args)


class OpsHttpServer:
    """Serves /metrics, /healthz and /readyz on host:port from a daemon thread; `close` stops it.

    `close` takes up to `poll_interval_s`: how often the serving thread looks for it.

    Raises OSError (from the constructor) when the address cannot be bound: in use,
    not an address of this host, or a privileged port.
    """

    def __init__(self, host: str, port: int, *, registry: CollectorRegistry, health: Health,
                 poll_interval_s: float = 0.5) -> None:
        # getaddrinfo picks the family, so 127.0.0.1, ::1 and host names all work.
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        self._server = _Server(address, family, registry, health)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": poll_interval_s},
                                        name="beatd-http", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        """The host and port listened on (the real port when 0 was asked for)."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> OpsHttpServer:
        self._thread.start()
        host, port = self.address
        log.info("serving /metrics, /healthz and /readyz on http://%s/", f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        return self

    def close(self) -> None:
        """Stop serving and release the port; requests in flight finish on their own threads."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


@dataclass(frozen=True, slots=True)
class OpsEndpoint:
    """What `http:` in the config starts: the metrics and health observers and their server."""

    metrics: MetricsObserver
    health: Health
    server: OpsHttpServer

    @classmethod
    def start(cls, host: str, port: int, *, entries: Callable[[], Iterable[Entry]],
              lease_valid: Callable[[], bool] | None = None, per_entry_labels: bool = True) -> OpsEndpoint:
        """Create both observers and serve them on host:port.

        `entries` and `lease_valid` are read from the daemon when called (see MetricsObserver
        and Health); `per_entry_labels` False keeps the `entry` label off the metrics.
        Raises OSError when host:port cannot be bound.
        """
        metrics = MetricsObserver(entries=entries, per_entry_labels=per_entry_labels)
        health = Health(lease_valid=lease_valid)
        server = OpsHttpServer(host, port, registry=metrics.registry, health=health)
        return cls(metrics=metrics, health=health, server=server.start())

    def close(self) -> None:
        self.server.close()
