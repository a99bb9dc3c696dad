"""Last-run state: what was sent for each entry, kept in SQL or Redis and fenced by the lease token."""

from __future__ import annotations

from beatd.errors import ConfigError
from beatd.state.base import STATE_FORMAT_VERSION, EntryFault, RunRecord, StateStore

__all__ = ["STATE_FORMAT_VERSION", "EntryFault", "RunRecord", "StateStore", "open_state_store"]

REDIS_SCHEMES = ("redis", "rediss", "unix")


def open_state_store(url: str) -> StateStore:
    """Open the state store a `state:` URL names.

    redis://, rediss:// and unix:// URLs open a Redis store; anything else is taken as a
    SQLAlchemy URL (sqlite:///path, postgresql+psycopg2://..., mysql+pymysql://...).
    The backends are imported here, so a SQL user needs no redis-py and the reverse.

    Raises:
        ConfigError: the URL is unusable, its driver is not installed, or the store was
            written by a newer beatd.
        BackendUnavailable: the store cannot be reached.
    """
    scheme = url.partition("://")[0].lower()
    if scheme in REDIS_SCHEMES:
        try:
            from beatd.state.redis import RedisStateStore
        except ImportError as exc:
            raise ConfigError(
                f"state URL scheme {scheme!r} needs redis-py ({exc}); install it with: pip install 'beatd[redis]'"
            ) from exc
        return RedisStateStore(url)
    from beatd.state.sql import SqlStateStore

    return SqlStateStore(url)
