"""Backend `none`: a single instance, kept alone on its host by an exclusive lock on a file."""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy
from sqlalchemy.exc import ArgumentError

from beatd.errors import ConfigError
from beatd.leader.base import (
    NEVER_EXPIRES,
    Lease,
    LeaseBackend,
    LeaseInfo,
    monotonic_clock,
)

DEFAULT_LOCK_FILE = "beatd.lock"
# What the state store knows as "a single instance without leader election": it never
# has to fence anybody off, because the lock file keeps a second instance from starting.
SINGLE_INSTANCE_TOKEN = 0
# `current()` probes the lock with a shared lock for a few microseconds; an instance that
# starts in that moment tries once more after this pause instead of refusing to start.
_PROBE_GRACE_S = 0.05


class LocalLeaseBackend(LeaseBackend):
    """A lease that is an flock(2) on lock_path, held until released or the process exits.

    The kernel drops the lock when the process dies, even by SIGKILL, so a stale lock file
    never blocks a restart. The file is never deleted: a process that unlinked it could let
    a newcomer lock a fresh file while a third still holds the old one. It holds the
    holder's pid and holder id, for the message a second instance prints.

    There is no standby here: `acquire` raises instead of returning None when another
    process holds the lock, and the lease never expires (token 0, expires_at NEVER_EXPIRES),
    so ttl only has to be valid. Renewing returns the same lease with a fresh
    acquired_monotonic, so a LeaseKeeper works for it unchanged.

    The lock protects one host only (on NFS, flock is emulated and not to be trusted), and
    a child made by a bare os.fork() inherits it; use the sql or redis backend across hosts.
    """

    def __init__(
        self,
        lock_path: str | os.PathLike[str] = DEFAULT_LOCK_FILE,
        *,
        monotonic: Callable[[], float] = monotonic_clock,
    ) -> None:
        self.lock_path = Path(lock_path).absolute()
        self._monotonic = monotonic
        self._mutex = threading.Lock()
        self._fd: int | None = None
        self._holder: str | None = None

    def __repr__(self) -> str:
        return f"LocalLeaseBackend({str(self.lock_path)!r})"

    def _acquire(self, holder: str, ttl: timedelta) -> Lease:
        """Lock the file for holder, or confirm this process still holds it.

        Raises:
            ConfigError: another process (or another holder in this one) holds the lock; the
                message names its pid and the file. Also when the file cannot be opened.
        """
        with self._mutex:
            if self._fd is None:
                self._fd = self._lock(holder)
                self._holder = holder
            elif holder != self._holder:
                raise self._refusal(os.getpid())
        return Lease(
            holder=holder,
            token=SINGLE_INSTANCE_TOKEN,
            expires_at=NEVER_EXPIRES,
            acquired_monotonic=self._monotonic(),
        )

    def release(self, lease: Lease) -> None:
        with self._mutex:
            if lease.holder == self._holder:
                self._unlock()

    def current(self) -> LeaseInfo | None:
        with self._mutex:
            if self._fd is not None and self._holder is not None:
                return LeaseInfo(holder=self._holder, token=SINGLE_INSTANCE_TOKEN, expires_at=NEVER_EXPIRES)
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._unusable(exc) from exc
        try:
            if _try_flock(fd, fcntl.LOCK_SH):
                return None  # nobody holds it; closing fd drops our shared lock at once
            pid, holder = _read_owner(fd)
        finally:
            os.close(fd)
        return LeaseInfo(
            holder=holder or f"pid {pid or 'unknown'}", token=SINGLE_INSTANCE_TOKEN, expires_at=NEVER_EXPIRES
        )

    def close(self) -> None:
        with self._mutex:
            self._unlock()

    def _lock(self, holder: str) -> int:
        """Open and exclusively lock the file, then write our pid and holder id into it."""
        try:
            # os.open makes the descriptor non-inheritable, so programs we exec never hold it.
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self._unusable(exc) from exc
        try:
            if not _try_flock(fd, fcntl.LOCK_EX):
                time.sleep(_PROBE_GRACE_S)
                if not _try_flock(fd, fcntl.LOCK_EX):
                    raise self._refusal(_read_owner(fd)[0])
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n{holder}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _unlock(self) -> None:
        """Empty, unlock and close the file if held; the caller holds the mutex."""
        if self._fd is None:
            return
        fd, self._fd, self._holder = self._fd, None, None
        try:
            os.ftruncate(fd, 0)  # so a leftover file names no process
            # LOCK_UN, not just close: a forked child sharing the descriptor would keep it.
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _refusal(self, pid: int | None) -> ConfigError:
        return ConfigError(
            f"another beatd (pid {pid if pid is not None else 'unknown'}) holds {self.lock_path}; "
            "stop it first, or run several instances with `leader: {backend: sql}` or "
            "`leader: {backend: redis}` so that one leads and the others stand by"
        )

    def _unusable(self, exc: OSError) -> ConfigError:
        if exc.errno == errno.ENOENT:
            return ConfigError(
                f"lock file {self.lock_path}: directory {str(self.lock_path.parent)!r} does not exist; "
                "create it or set `leader: {lock_file: ...}`"
            )
        return ConfigError(f"lock file {self.lock_path} cannot be opened: {exc.strerror or exc}")


def default_lock_path(state_url: str) -> Path:
    """Where backend `none` locks by default: `<file>.lock` beside a SQLite state file, so
    instances with different state files do not exclude each other; else `beatd.lock` in
    the working directory."""
    try:
        url = sqlalchemy.make_url(state_url)
    except ArgumentError:
        return Path(DEFAULT_LOCK_FILE)
    database = url.database
    if url.get_backend_name() == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
        return Path(f"{database}.lock")
    return Path(DEFAULT_LOCK_FILE)


def _try_flock(fd: int, operation: int) -> bool:
    """Take the flock without waiting; False when another open file holds a conflicting one."""
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_owner(fd: int) -> tuple[int | None, str | None]:
    """The pid and holder id the lock holder wrote; (None, None) before it has written."""
    lines = os.pread(fd, 4096, 0).decode("utf-8", "replace").splitlines()
    pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
    holder = lines[1].strip() if len(lines) > 1 and lines[1].strip() else None
    return pid, holder
