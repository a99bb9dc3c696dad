"""Running beatd as a service: systemd notify, Prometheus metrics and health over HTTP.

Each piece is an Observer (`beatd.observer`) that the daemon calls as it works; `beatd run`
combines the ones the environment and the config ask for:

    notify.SystemdNotifier   when $NOTIFY_SOCKET is set (started by systemd, Type=notify)
    metrics.MetricsObserver  when `http:` is set (needs prometheus-client: beatd[metrics])
    http.Health              when `http:` is set; served with the metrics by http.OpsHttpServer

This package imports prometheus-client only in `metrics` and `http`, so `notify` works
without the extra.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Protocol


class _Clock(Protocol):
    """The daemon's Clock protocol (beatd.daemon.loop.Clock), restated to keep this package free of the daemon."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def wait(self, seconds: float, wake: threading.Event) -> None: ...


class PacedClock:
    """A daemon clock whose waits last at most `max_wait_s`, so the loop turns at least that often.

    An idle daemon sleeps until its next run, its next lease renewal or 30 s, whichever
    comes first. The systemd watchdog and /healthz judge the loop by its turns (on_loop),
    so they need it to turn more often than they would call it hung. Waking early is
    harmless: a turn with nothing due only checks the lease deadline and the engine's heap.
    """

    def __init__(self, inner: _Clock, max_wait_s: float) -> None:
        if not max_wait_s > 0:
            raise ValueError(f"max_wait_s {max_wait_s!r} must be a positive number of seconds")
        self.inner = inner
        self.max_wait_s = max_wait_s

    def now(self) -> datetime:
        return self.inner.now()

    def monotonic(self) -> float:
        return self.inner.monotonic()

    def wait(self, seconds: float, wake: threading.Event) -> None:
        self.inner.wait(min(seconds, self.max_wait_s), wake)


__all__ = ["PacedClock"]
