"""The leader lease as a Redis key that expires on the Redis server's clock.

Two keys:

    beatd:lease          {"holder": ..., "token": ...} as JSON, with a PX expiry
    beatd:lease:token    the token counter, INCR'd once per new acquisition

Each operation is one Lua script, which Redis runs atomically: acquire (SET NX PX to
take a free lease, or a compare-and-extend of our own), release (compare-and-delete).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from importlib.resources import files

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from beatd.errors import BackendUnavailable, ConfigError
from beatd.leader.base import (
    NEVER_EXPIRES,
    Lease,
    LeaseBackend,
    LeaseInfo,
    monotonic_clock,
)
from beatd.urls import redact_url, redis_client_url

DEFAULT_LEASE_KEY = "beatd:lease"


def _script(name: str) -> str:
    return files("beatd.leader").joinpath(name).read_text(encoding="utf-8")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MILLISECOND = timedelta(milliseconds=1)
# Fail fast rather than hang past the publish deadline. One immediate retry covers a
# connection that breaks mid-command (the pool itself replaces one found dead at checkout);
# every script is safe to run twice. redis-py's default, three retries with backoff of up
# to seconds, would outlast a short ttl.
_TIMEOUT_S = 5.0
_RETRY = Retry(NoBackoff(), 1)

# Redis reads its clock (TIME) inside the script, so the expiry we report is the one the
# server applies. The token counter, if missing (first use, or Redis lost its data:
# a server without persistence restarted), starts from the server's time in milliseconds
# rather than from 0: tokens must keep growing across such a loss, or the state store,
# which remembers the highest token that wrote, would refuse every new leader. That holds
# while fewer leases are taken than milliseconds pass, which a ttl of a second guarantees.
_ACQUIRE = _script("redis_acquire.lua")

# Compare-and-delete: only the holder of this very term may end it.
_RELEASE = _script("redis_release.lua")

# The value and the instant it expires, read at one moment; expiry -1 means none is set.
_CURRENT = _script("redis_current.lua")



class RedisLeaseBackend(LeaseBackend):
    """A LeaseBackend in one Redis key (plus its token counter), Redis 3.2 or newer.

    Pass a redis:// URL, or an existing client to share its pool; only a client it
    created is closed by `close`. key tells leases apart when clusters share a database;
    on Redis Cluster give it a hash tag ("{beatd}:lease"), so that the counter key
    "<key>:token" lands in the same slot and the scripts may touch both.

    Raises:
        ConfigError: the URL is not a Redis URL.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        key: str = DEFAULT_LEASE_KEY,
        monotonic: Callable[[], float] = monotonic_clock,
    ) -> None:
        if (url is None) == (client is None):
            raise TypeError("RedisLeaseBackend takes exactly one of url or client")
        if not key:
            raise ValueError("lease key must not be empty")
        self._owns_client = client is None
        if client is None:
            self._where = redact_url(str(url))
            client = _create_client(str(url), self._where)
        else:
            self._where = redis_client_url(client)
        self.client = client
        self._keys = [key, f"{key}:token"]
        self._acquire_script = client.register_script(_ACQUIRE)
        self._release_script = client.register_script(_RELEASE)
        self._current_script = client.register_script(_CURRENT)
        self._monotonic = monotonic

    def __repr__(self) -> str:
        return f"RedisLeaseBackend({self._where!r}, key={self._keys[0]!r})"

    def _acquire(self, holder: str, ttl: timedelta) -> Lease | None:
        # Rounded up: Redis must not expire the lease before ttl has passed.
        ttl_ms = -(-ttl // _ONE_MILLISECOND)
        with self._backend_errors():
            # Read before sending: the server's TIME in the script is later, so a local
            # validity counted from here ends before the lease does.
            sent_monotonic = self._monotonic()
            won, value, expires_ms = self._acquire_script(keys=self._keys, args=[holder, ttl_ms])
        if not won:
            return None
        return Lease(
            holder=holder,
            token=_parse(value)[1],
            expires_at=_from_milliseconds(expires_ms),
            acquired_monotonic=sent_monotonic,
        )

    def release(self, lease: Lease) -> None:
        with self._backend_errors():
            self._release_script(keys=self._keys[:1], args=[lease.holder, lease.token])

    def current(self) -> LeaseInfo | None:
        with self._backend_errors():
            reply = self._current_script(keys=self._keys[:1])
        if reply is None:
            return None
        value, expires_ms = reply
        holder, token = _parse(value)
        expires_at = NEVER_EXPIRES if expires_ms < 0 else _from_milliseconds(expires_ms)
        return LeaseInfo(holder=holder, token=token, expires_at=expires_at)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    @contextmanager
    def _backend_errors(self) -> Iterator[None]:
        """Turn every error Redis reports into BackendUnavailable, without the password.

        Down, a read-only replica, an ACL refusal or a foreign value under our key: for the
        daemon each means the same, stop publishing, log the reason and retry.
        """
        try:
            yield
        except redis.exceptions.RedisError as exc:
            raise BackendUnavailable(f"lease store {self._where} is unavailable: {_reason(exc)}") from exc


def _create_client(url: str, where: str) -> redis.Redis:
    try:
        return redis.Redis.from_url(
            url, socket_timeout=_TIMEOUT_S, socket_connect_timeout=_TIMEOUT_S, retry=_RETRY
        )
    except ValueError as exc:
        raise ConfigError(f"lease store URL {where!r} is not usable: {exc}") from exc


def _parse(value: bytes | str) -> tuple[str, int]:
    """The holder and token in a lease value."""
    lease = json.loads(value)
    return str(lease["holder"]), int(lease["token"])


def _from_milliseconds(milliseconds: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=milliseconds)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
