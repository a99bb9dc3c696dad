"""The systemd notify protocol (sd_notify), spoken straight to $NOTIFY_SOCKET, as an Observer.

What systemd hears from beatd, and when (sd_notify(3), systemd.service(5)):

    READY=1, STATUS=...              the config is loaded and the loop starts (Type=notify waits for this)
    STATUS=leading ... / standby ... each change of leadership, with the entry count
    WATCHDOG=1                       from the scheduling loop, at most every WatchdogSec/2
    RELOADING=1, MONOTONIC_USEC=...  a SIGHUP reload starts; READY=1 when it is done, kept or refused
    STOPPING=1                       a graceful stop starts

No libsystemd: a notification is one datagram of newline-separated KEY=VALUE lines sent
to the AF_UNIX socket named by $NOTIFY_SOCKET ('@' first means Linux's abstract
namespace). A notification that cannot be sent is logged and otherwise ignored: a lost
STATUS line must never stop the scheduler, and a lost WATCHDOG=1 is retried next turn.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from beatd.observer import Observer

log = logging.getLogger("beatd.ops.notify")

# systemd reads its notify socket continuously; if it stalls this long, drop that one
# notification rather than stall the scheduling loop (a stalled watchdog ping then shows).
SEND_TIMEOUT_S = 1.0


def notify_address(value: str) -> str | bytes:
    """The socket address that $NOTIFY_SOCKET names: a file path, or `@name` in the abstract namespace.

    Raises:
        ValueError: any other form, such as systemd 254's `vsock:` addresses for virtual
            machines, which beatd does not speak.
    """
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        # An abstract socket's address is a NUL byte and then the name, without a terminator.
        return b"\0" + value[1:].encode()
    raise ValueError(
        f"NOTIFY_SOCKET {value!r} is neither a socket path (/run/...) nor an abstract socket name (@...); "
        "beatd speaks sd_notify over AF_UNIX only"
    )


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds: the clock systemd compares MONOTONIC_USEC with.

    Not the daemon's lease clock: that one is CLOCK_BOOTTIME, which runs ahead after a suspend.
    """
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class Sender(Protocol):
    """Where notifications go: the socket, or a list in tests."""

    def send(self, *lines: str) -> bool:
        """Send one notification made of `KEY=VALUE` lines; False when it could not be sent."""
        ...


class NotifySocket:
    """Sends notification datagrams to one address. Never raises; logs when sending starts and stops failing."""

    def __init__(self, address: str | bytes) -> None:
        self.address = address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.settimeout(SEND_TIMEOUT_S)
        self._failing = False

    def send(self, *lines: str) -> bool:
        try:
            self._socket.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            if not self._failing:
                log.warning("systemd notification %s not sent to %r: %s (retried on the next one)",
                            lines[0], self.address, exc)
            self._failing = True
            return False
        if self._failing:
            log.warning("systemd notifications are sent again")
            self._failing = False
        return True

    def close(self) -> None:
        self._socket.close()


def _one_line(text: str) -> str:
    """A value that cannot start a line of its own: a newline in STATUS= would be read as another KEY=VALUE."""
    return " ".join(text.split())


class SystemdNotifier(Observer):
    """Tells systemd what the daemon is doing; see the module docstring for what is sent when.

    `watchdog_interval_s` is systemd's WatchdogSec (None: no watchdog). WATCHDOG=1 goes out
    from `on_loop` only, at most once per half interval, as sd_watchdog_enabled(3) advises,
    so a loop that stops turning stops the pings and systemd restarts beatd. `monotonic` is
    the clock the pings are paced on; tests pass a simulated one.

    Hooks touch no lock: `on_stopping` runs inside the SIGTERM handler, on the thread the
    handler interrupted.
    """

    def __init__(self, sender: Sender, *, watchdog_interval_s: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 reload_clock_usec: Callable[[], int] = monotonic_usec) -> None:
        if watchdog_interval_s is not None and not watchdog_interval_s > 0:
            raise ValueError(f"watchdog interval {watchdog_interval_s!r} must be a positive number of seconds")
        self.sender = sender
        self.watchdog_interval_s = watchdog_interval_s
        self._monotonic = monotonic
        self._reload_clock_usec = reload_clock_usec
        self._last_ping: float | None = None
        self._entry_count = 0
        self._role = "started, not leading yet"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ, *, pid: int | None = None,
                         monotonic: Callable[[], float] = time.monotonic) -> SystemdNotifier | None:
        """The notifier systemd asked for through the environment; None without $NOTIFY_SOCKET.

        The watchdog is on when $WATCHDOG_USEC holds a positive number and $WATCHDOG_PID, if
        set, is this process (`pid`, default os.getpid()): systemd sets both for the main
        process; a child that inherited them must not ping for it. Values systemd would
        never set are logged and leave the notifier (or its watchdog) off.
        """
        value = environ.get("NOTIFY_SOCKET")
        if not value:
            return None
        try:
            address = notify_address(value)
        except ValueError as exc:
            log.error("not notifying systemd: %s", exc)
            return None
        return cls(NotifySocket(address), watchdog_interval_s=_watchdog_interval_s(environ, pid or os.getpid()),
                   monotonic=monotonic)

    @property
    def max_loop_wait_s(self) -> float | None:
        """How long the loop may sleep between turns for the pings to keep pace; None without a watchdog.

        A quarter of the interval: a turn just too early for a ping (under half an interval
        after the last) is followed by one at most a quarter later, so pings are at most
        three quarters of an interval apart, plus the time one turn takes.
        """
        return None if self.watchdog_interval_s is None else self.watchdog_interval_s / 4

    def close(self) -> None:
        close = getattr(self.sender, "close", None)
        if close is not None:
            close()

    # -- hooks ---------------------------------------------------------------------------

    def on_ready(self, entry_count: int) -> None:
        self._entry_count = entry_count
        self.sender.send("READY=1", self._status())

    def on_loop(self) -> None:
        if self.watchdog_interval_s is None:
            return
        now = self._monotonic()
        if self._last_ping is not None and now - self._last_ping < self.watchdog_interval_s / 2:
            return
        if self.sender.send("WATCHDOG=1"):
            self._last_ping = now

    def on_leader(self, token: int, entry_count: int) -> None:
        self._entry_count = entry_count
        self._role = f"leading (lease token {token})"
        self.sender.send(self._status())

    def on_standby(self, reason: str) -> None:
        self._role = f"standby ({_one_line(reason)})"
        self.sender.send(self._status())

    def on_reloading(self) -> None:
        # systemd 253+ accepts RELOADING=1 only with the time it was sent, so that a
        # notification written before a reload request cannot end the request.
        self.sender.send("RELOADING=1", f"MONOTONIC_USEC={self._reload_clock_usec()}", "STATUS=reloading the config")

    def on_reload(self, ok: bool, entry_count: int) -> None:
        self._entry_count = entry_count
        refused = "" if ok else "; reload refused, see the log"
        self.sender.send("READY=1", self._status() + refused)

    def on_stopping(self) -> None:
        self.sender.send("STOPPING=1", "STATUS=stopping")

    def _status(self) -> str:
        return f"STATUS={self._role}; {self._entry_count} {'entry' if self._entry_count == 1 else 'entries'}"


def _watchdog_interval_s(environ: Mapping[str, str], pid: int) -> float | None:
    """WatchdogSec in seconds from $WATCHDOG_USEC, if the watchdog is on and meant for pid."""
    usec_text, pid_text = environ.get("WATCHDOG_USEC"), environ.get("WATCHDOG_PID")
    if not usec_text:
        return None
    if pid_text and pid_text != str(pid):
        log.info("systemd watchdog is for pid %s, not this process (%d): not pinging it", pid_text, pid)
        return None
    try:
        usec = int(usec_text)
    except ValueError:
        usec = 0
    if usec <= 0:
        log.error("WATCHDOG_USEC %r is not a positive number of microseconds: not pinging the watchdog", usec_text)
        return None
    return usec / 1_000_000
