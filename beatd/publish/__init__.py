"""Turn fires into Celery task messages and hand them to a broker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from beatd.publish.base import PublishFailed, PublishResult, Transport
from beatd.publish.kombu_transport import DEFAULT_BROKER_URL, KombuTransport
from beatd.publish.message import Message, MessageBuilder
from beatd.publish.redis_transport import RedisKeys, RedisTransport

# Schemes the Redis path reads the same way kombu's Redis transport does. Sentinel,
# cluster and socket URLs go through kombu.
REDIS_SCHEMES = frozenset({"redis", "rediss"})


def open_transport(url: str = DEFAULT_BROKER_URL, *, transport_options: Mapping[str, Any] | None = None) -> Transport:
    """A transport for a kombu broker URL; no connection is made until the first publish.

    redis:// and rediss:// URLs get the Redis path (one Lua script per batch, each run
    pushed at most once); every other URL goes through kombu. `transport_options` are
    kombu's (a Celery app's broker_transport_options): the Redis path follows the ones
    that decide where messages land (global_keyprefix, sep, priority_steps), kombu all.

    Raises:
        ConfigError: a transport option has a value kombu could not use.
    """
    if urlsplit(url).scheme in REDIS_SCHEMES:
        return RedisTransport(url, transport_options=transport_options)
    return KombuTransport(url, transport_options=dict(transport_options or {}))


__all__ = [
    "DEFAULT_BROKER_URL",
    "KombuTransport",
    "Message",
    "MessageBuilder",
    "PublishFailed",
    "PublishResult",
    "RedisKeys",
    "RedisTransport",
    "Transport",
    "open_transport",
]
