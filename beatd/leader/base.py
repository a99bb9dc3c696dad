"""The leader lease contract: who may publish now, fenced by a token that only grows."""

from __future__ import annotations

import os
import secrets
import socket
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from types import TracebackType
from typing import Self

from beatd.errors import LeaseLost

# The expiry of a lease that only ends when its holder lets go (backend `none`).
NEVER_EXPIRES = datetime.max.replace(tzinfo=UTC)
# Holder ids are stored in columns and JSON values; this bounds them everywhere.
MAX_HOLDER_CHARS = 512

# The default publish deadline and renew point, as fractions of the ttl (issue 4): renewing
# at a third leaves a second third for one retry before publishing must stop, and the last
# third is the margin for clock rate differences and in-flight publishes.
DEFAULT_PUBLISH_FRACTION = Fraction(2, 3)
DEFAULT_RENEW_FRACTION = Fraction(1, 3)

_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """A lease this process holds, as `LeaseBackend.acquire` returned it.

    token is the fencing token every state write of this term carries. expires_at is an
    aware UTC instant on the store's clock, for display only: this process decides on its
    own monotonic clock, from acquired_monotonic, the `monotonic_clock()` reading taken
    before the acquire or renew request was sent. The store started the ttl no earlier
    than that, so counting from it can only err towards stopping early.
    """

    holder: str
    token: int
    expires_at: datetime
    acquired_monotonic: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseInfo:
    """Who holds a live lease, as any host can read it from the store (`beatd status`)."""

    holder: str
    token: int
    expires_at: datetime


class LeaseBackend(ABC):
    """A store that grants one holder at a time a lease that ends on its own unless renewed.

    Fencing: every new acquisition gets a token larger than any token the store handed out
    before; a renewal keeps the token. A lease that has expired, even the caller's own, is
    acquired anew with a new token, so the daemon sees a new term, reloads state and
    applies catch-up. Tokens grow by one per acquisition from a first value read off the
    store's clock in milliseconds, so they keep growing even after the store loses the
    lease (the state store refuses writes with a smaller token than it has seen). Expiry
    is decided by the store's clock alone, so hosts' clocks never have to agree. Backend
    `none` (LocalLeaseBackend) is the exception: one instance only, token 0, no expiry.

    Every method may raise BackendUnavailable (the store cannot be reached; retry with
    backoff); its message names the store with any password replaced by ***. A backend
    implements `_acquire`, which `acquire` calls with holder and ttl checked.
    """

    def acquire(self, holder: str, ttl: timedelta) -> Lease | None:
        """Take the lease if it is free or expired, or renew it if holder holds it.

        The lease then ends ttl after the store received the request, unless renewed.

        Returns:
            The held lease, or None while another holder's lease is live.

        Raises:
            BackendUnavailable: the store cannot be reached; nothing is known.
            ValueError: ttl is not positive, or holder is empty, too long or space-padded.
        """
        check_holder(holder)
        check_ttl(ttl)
        return self._acquire(holder, ttl)

    @abstractmethod
    def release(self, lease: Lease) -> None:
        """Give the lease up at once, so a standby can take it without waiting for expiry.

        Does nothing when the lease has since passed to another holder or term.
        """

    @abstractmethod
    def current(self) -> LeaseInfo | None:
        """The live lease as the store sees it now; None when nobody holds one."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; a held lease is not released (call `release` first)."""

    @abstractmethod
    def _acquire(self, holder: str, ttl: timedelta) -> Lease | None:
        """`acquire`, with holder and ttl checked."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class LeaseKeeper:
    """The leader's own rule for when it may publish, on its monotonic clock alone.

    The leader may publish only while `monotonic_now < acquired_monotonic + ttl *
    publish_fraction` (default 2/3): the publish deadline. The store cannot expire the
    lease before `acquired_monotonic + ttl` (ttl being the one passed to acquire, which
    must be this ttl), so the last third is a margin that covers a
    slow publish in flight and any difference in clock rates; no other instance can have
    taken over while this one still publishes. Renewal is due from `ttl * renew_fraction`
    (default 1/3), which leaves time for one more attempt before the deadline.

    A process paused past its deadline (a GC pause, SIGSTOP, a frozen VM) notices on resume,
    because the caller reads the clock at the moment of publishing, never earlier. What no
    check can stop: a pause that starts after `may_publish` returned True and lasts past
    the margin lets the one message in hand go out late; its task id is deterministic,
    so consumers can drop the duplicate, and the state store's fence refuses the record.

    The clock is passed in: nothing here reads time, so tests step through exact instants.
    """

    __slots__ = ("_lease", "_publish_after_s", "_renew_after_s", "_ttl_s")

    def __init__(
        self,
        ttl: timedelta,
        *,
        publish_fraction: Fraction | float = DEFAULT_PUBLISH_FRACTION,
        renew_fraction: Fraction | float = DEFAULT_RENEW_FRACTION,
    ) -> None:
        """Raises ValueError unless ttl > 0 and 0 < renew_fraction < publish_fraction < 1."""
        check_ttl(ttl)
        publish = Fraction(publish_fraction)
        renew = Fraction(renew_fraction)
        if not 0 < renew < publish < 1:
            raise ValueError(
                f"lease fractions renew={float(renew):g}, publish={float(publish):g} must satisfy "
                "0 < renew < publish < 1 (defaults 1/3 and 2/3 of the ttl)"
            )
        ttl_us = ttl // _ONE_MICROSECOND
        self._ttl_s = ttl.total_seconds()
        # Exact rational arithmetic, rounded once: ttl 9 s * 2/3 is exactly 6.0 seconds.
        self._publish_after_s = float(ttl_us * publish / 1_000_000)
        self._renew_after_s = float(ttl_us * renew / 1_000_000)
        self._lease: Lease | None = None

    @property
    def lease(self) -> Lease | None:
        """The lease last handed to `hold`, whether or not it still allows publishing."""
        return self._lease

    def hold(self, lease: Lease | None) -> bool:
        """Keep the result of the latest `acquire` (None: lost or never won).

        Returns:
            True when lease starts a new term (nothing held before, or another token): the
            daemon then reloads state and applies catch-up before publishing.
        """
        previous, self._lease = self._lease, lease
        return lease is not None and (previous is None or previous.token != lease.token)

    def publish_deadline(self) -> float | None:
        """The monotonic instant from which publishing is forbidden; None with no lease."""
        if self._lease is None:
            return None
        return self._lease.acquired_monotonic + self._publish_after_s

    def renew_at(self) -> float | None:
        """The monotonic instant from which renewal is due; None with no lease."""
        if self._lease is None:
            return None
        return self._lease.acquired_monotonic + self._renew_after_s

    def may_publish(self, monotonic_now: float) -> bool:
        """Whether a message may be published now; False exactly at the deadline and after."""
        deadline = self.publish_deadline()
        return deadline is not None and monotonic_now < deadline

    def renew_due(self, monotonic_now: float) -> bool:
        """Whether to call acquire now: from the renew point on, and always with no lease.

        With no lease the caller paces its attempts (a standby polls at its own rate).
        """
        renew_at = self.renew_at()
        return renew_at is None or monotonic_now >= renew_at

    def check(self, monotonic_now: float) -> Lease:
        """The held lease, if it still allows publishing at monotonic_now.

        Raises:
            LeaseLost: no lease is held, or its publish deadline has passed.
        """
        lease, deadline = self._lease, self.publish_deadline()
        if lease is None or deadline is None:
            raise LeaseLost("no leader lease is held; publishing is not allowed")
        if monotonic_now >= deadline:
            raise LeaseLost(
                f"lease token {lease.token} of {lease.holder} passed its publish deadline "
                f"{monotonic_now - deadline:.3f} s ago (last renewed "
                f"{monotonic_now - lease.acquired_monotonic:.3f} s ago, ttl {self._ttl_s:g} s); "
                "publishing stops until the lease is renewed"
            )
        return lease


def monotonic_clock() -> float:
    """Seconds on a clock that never steps back and keeps counting while the machine sleeps.

    Linux's CLOCK_MONOTONIC (Python's time.monotonic) stops while the machine is
    suspended, so a suspended leader would wake up believing its lease still fresh;
    CLOCK_BOOTTIME counts the suspension. Elsewhere time.monotonic is the best there is.
    """
    return time.clock_gettime(time.CLOCK_BOOTTIME) if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic()


def holder_id() -> str:
    """A new holder id, `<host>:<pid>:<random hex>`, unique to this process and this start.

    The random part keeps ids apart when a restarted process gets its old pid back, or
    when two containers share a host name and a pid.
    """
    host = socket.gethostname()[:200] or "localhost"
    return f"{host}:{os.getpid()}:{secrets.token_hex(8)}"


def check_ttl(ttl: timedelta) -> None:
    """Raise ValueError unless ttl is a positive timedelta."""
    if not isinstance(ttl, timedelta) or ttl <= timedelta(0):
        raise ValueError(f"lease ttl {ttl!r} must be a positive timedelta")


def check_holder(holder: str) -> None:
    """Raise ValueError unless holder is a non-empty string that every store keeps exactly.

    Surrounding spaces are refused because MariaDB/MySQL compare strings ignoring trailing
    spaces, even in binary collations: "a " would renew the lease of "a".
    """
    if not isinstance(holder, str) or not holder or len(holder) > MAX_HOLDER_CHARS or holder != holder.strip():
        raise ValueError(
            f"lease holder {holder!r} must be a non-empty string of at most {MAX_HOLDER_CHARS} "
            "characters without surrounding spaces"
        )
