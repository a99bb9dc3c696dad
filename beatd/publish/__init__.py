"""Turn fires into Celery task messages and hand them to a broker."""

from __future__ import annotations

from urllib.parse import urlsplit

from beatd.publish.base import PublishFailed, PublishResult, Transport
from beatd.publish.kombu_transport import DEFAULT_BROKER_URL, KombuTransport
from beatd.publish.message import Message, build_message
from beatd.publish.redis_transport import RedisTransport

# Schemes the Redis fast path reads the same way kombu's Redis transport does.
# Sentinel, cluster and socket URLs go through kombu.
FAST_PATH_SCHEMES = frozenset({"redis", "rediss"})


def open_transport(url: str = DEFAULT_BROKER_URL, *, fast_path: bool = True) -> Transport:
    """A transport for a kombu broker URL; no connection is made until the first publish.

    redis:// and rediss:// URLs get the Redis fast path unless fast_path is False
    (use that when workers set non-default Redis transport options such as
    priority_steps or global_keyprefix); every other URL goes through kombu.
    """
    if fast_path and urlsplit(url).scheme in FAST_PATH_SCHEMES:
        return RedisTransport(url)
    return KombuTransport(url)


__all__ = [
    "DEFAULT_BROKER_URL",
    "KombuTransport",
    "Message",
    "PublishFailed",
    "PublishResult",
    "RedisTransport",
    "Transport",
    "build_message",
    "open_transport",
]
