"""Leader election: lease backends (none, sql, redis) and the local rule for when to publish."""

from __future__ import annotations

import os

from beatd.errors import ConfigError
from beatd.leader.base import (
    NEVER_EXPIRES,
    Lease,
    LeaseBackend,
    LeaseInfo,
    LeaseKeeper,
    holder_id,
    monotonic_clock,
)
from beatd.leader.local import (
    DEFAULT_LOCK_FILE,
    SINGLE_INSTANCE_TOKEN,
    LocalLeaseBackend,
    default_lock_path,
)

BACKENDS = ("none", "sql", "redis")

__all__ = [
    "BACKENDS",
    "DEFAULT_LOCK_FILE",
    "NEVER_EXPIRES",
    "SINGLE_INSTANCE_TOKEN",
    "Lease",
    "LeaseBackend",
    "LeaseInfo",
    "LeaseKeeper",
    "LocalLeaseBackend",
    "default_lock_path",
    "holder_id",
    "monotonic_clock",
    "open_lease_backend",
]


def open_lease_backend(
    backend: str, url: str | None, *, lock_path: str | os.PathLike[str] | None = None
) -> LeaseBackend:
    """The lease backend that `leader: {backend: ..., url: ...}` names.

    lock_path is used by backend `none` only (default `beatd.lock` in the working
    directory; the daemon passes `default_lock_path(state_url)` or `leader: lock_file`).
    Nothing connects yet: a store that is down shows on the first acquire.

    Raises:
        ConfigError: unknown backend, a url missing for sql or redis, or one that the
            backend cannot use.
    """
    if backend == "none":
        return LocalLeaseBackend(lock_path if lock_path is not None else DEFAULT_LOCK_FILE)
    if backend not in BACKENDS:
        raise ConfigError(f"leader backend {backend!r} is unknown; choose one of {', '.join(BACKENDS)}")
    if not url:
        raise ConfigError(f"leader backend {backend!r} needs a url (`leader: {{backend: {backend}, url: ...}}`)")
    if backend == "redis":
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"leader backend 'redis' needs a redis://, rediss:// or unix:// url, not {_scheme(url)!r}"
            )
        # Imported here: redis is an optional dependency, needed only by those who use it.
        try:
            from beatd.leader.redis import RedisLeaseBackend
        except ImportError as exc:
            raise ConfigError(f"leader backend 'redis' needs redis-py: pip install 'beatd[redis]' ({exc})") from exc

        return RedisLeaseBackend(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"leader backend 'sql' needs a SQLAlchemy url; for {_scheme(url)!r} use backend 'redis'")
    from beatd.leader.sql import SqlLeaseBackend

    return SqlLeaseBackend(url)


def _scheme(url: str) -> str:
    """The part before "://", which carries no password."""
    return url.partition("://")[0] + "://"
