"""Build the Celery protocol v2 task message for one fire, as Celery's apply_async would."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kombu.utils.json import dumps as kombu_json_dumps

from beatd.entry import Entry, Fire, Options
from beatd.errors import ConfigError
from beatd.publish.saferepr import saferepr

CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "utf-8"

# Celery's defaults: task_default_queue, and task_default_delivery_mode "persistent"
# (AMQP delivery mode 2), so queued runs survive a broker restart.
DEFAULT_QUEUE = "celery"
PERSISTENT = 2

# Every header celery.app.amqp.AMQP.as_task_v2 writes (Celery 5.3+ adds the last three),
# plus our own. options.headers may not replace any of them: a custom `id` would break
# the deterministic task id, a custom `task` would run another task.
PROTOCOL_HEADERS = (
    "lang",
    "task",
    "id",
    "shadow",
    "eta",
    "expires",
    "group",
    "group_index",
    "retries",
    "timelimit",
    "root_id",
    "parent_id",
    "argsrepr",
    "kwargsrepr",
    "origin",
    "ignore_result",
    "replaced_task_nesting",
    "stamped_headers",
    "stamps",
)
BEATD_HEADERS = ("beatd_entry", "beatd_scheduled_at")
RESERVED_HEADERS = frozenset(PROTOCOL_HEADERS + BEATD_HEADERS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One task message, ready for any transport.

    `properties` holds the AMQP properties as apply_async hands them to kombu's
    Producer.publish: correlation_id, reply_to, delivery_mode, priority and, for
    entries with `expires`, `expiration` in seconds (float, never negative).
    Transports render `expiration` the way kombu does on the wire: whole
    milliseconds as a string (`str(int(seconds * 1000))`).

    `exchange` "" is AMQP's default exchange, which routes on `routing_key` straight to
    the queue of that name; `queue` is the queue to declare before publishing.
    """

    headers: dict[str, Any]
    properties: dict[str, Any]
    body: bytes
    content_type: str = CONTENT_TYPE
    content_encoding: str = CONTENT_ENCODING
    exchange: str
    routing_key: str
    queue: str

    @property
    def priority(self) -> int:
        """The message priority (0 when the entry sets none, as kombu's default)."""
        return int(self.properties["priority"])

    @property
    def task_id(self) -> str:
        return str(self.headers["id"])


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """Where a message goes: the queue to declare, then the exchange and key to publish to."""

    queue: str
    exchange: str
    routing_key: str


def route_for(options: Options) -> Route:
    """Map queue/exchange/routing_key as Celery's send_task_message does for direct exchanges.

    Celery sends through the default exchange ("" with the queue name as key) unless
    both an exchange and a routing key are given; an exchange without a routing key
    (or a key without an exchange) is ignored. We copy that quirk on purpose, so an
    entry moved from celery beat lands where it used to.
    """
    queue = options.queue or DEFAULT_QUEUE
    if options.exchange and options.routing_key:
        return Route(queue=queue, exchange=options.exchange, routing_key=options.routing_key)
    return Route(queue=queue, exchange="", routing_key=queue)


def build_message(fire: Fire, origin: str, now: datetime) -> Message:
    """The protocol v2 message for fire, published at the aware instant now.

    `expires` counts from the scheduled instant, not from now, so a run published
    late (catch-up, failover) expires when it would have; the `expiration` property
    is what remains of it at now, and 0 when nothing does (as Celery clamps it).

    Raises:
        ConfigError: options.headers sets a reserved header, or args/kwargs are not
            JSON-serializable.
        ValueError: now or fire.scheduled_at is naive.
    """
    entry = fire.entry
    options = entry.options
    if now.tzinfo is None or fire.scheduled_at.tzinfo is None:
        raise ValueError(f"entry {entry.name!r}: now={now!r} and scheduled_at={fire.scheduled_at!r} must be timezone-aware")
    parts = _entry_parts(entry)
    # Work in UTC: adding a timedelta to a datetime in a DST zone adds wall-clock time,
    # which is off by the DST shift when the window spans a transition.
    scheduled_utc = fire.scheduled_at.astimezone(UTC)
    task_id = fire.task_id
    expires_at = scheduled_utc + options.expires if options.expires is not None else None

    headers: dict[str, Any] = {
        "lang": "py",
        "task": entry.task,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": expires_at.isoformat() if expires_at is not None else None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [options.time_limit, options.soft_time_limit],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": parts.argsrepr,
        "kwargsrepr": parts.kwargsrepr,
        "origin": origin,
        "ignore_result": False,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
        "beatd_entry": entry.name,
        "beatd_scheduled_at": scheduled_utc.isoformat(),
        **parts.custom_headers,
    }
    properties: dict[str, Any] = {
        "correlation_id": task_id,
        "reply_to": "",
        "delivery_mode": PERSISTENT,
        "priority": options.priority if options.priority is not None else 0,
    }
    if expires_at is not None:
        properties["expiration"] = max(0.0, (expires_at - now).total_seconds())

    return Message(
        headers=headers,
        properties=properties,
        body=parts.body,
        exchange=parts.route.exchange,
        routing_key=parts.route.routing_key,
        queue=parts.route.queue,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _EntryParts:
    """What every message of one entry shares, worked out once per entry."""

    entry: Entry  # held, so that its id() cannot be reused while it is cached
    argsrepr: str
    kwargsrepr: str
    body: bytes
    custom_headers: dict[str, Any]
    route: Route


# Rendering argsrepr the way Celery does and encoding the body cost more than the rest
# of a message together (about 70 us of 130 us here); entries are immutable, so both
# are kept per entry. Bounded, so entries replaced by reloads are let go eventually: when
# full it is emptied at once, since evicting one by one made every lookup miss once the
# entries outnumbered the cache (they are visited in turn).
_PARTS_CACHE: dict[int, _EntryParts] = {}
_PARTS_CACHE_SIZE = 2_097_152
_PARTS_CACHE_LOCK = threading.Lock()  # only misses take it; hits read the dict as is


def _entry_parts(entry: Entry) -> _EntryParts:
    parts = _PARTS_CACHE.get(id(entry))
    if parts is not None and parts.entry is entry:
        return parts
    parts = _EntryParts(
        entry=entry,
        argsrepr=saferepr(entry.args),
        kwargsrepr=saferepr(entry.kwargs),
        body=_encode_body(entry),
        custom_headers=_custom_headers(entry),
        route=route_for(entry.options),
    )
    with _PARTS_CACHE_LOCK:
        if len(_PARTS_CACHE) >= _PARTS_CACHE_SIZE:
            _PARTS_CACHE.clear()
        _PARTS_CACHE[id(entry)] = parts
    return parts


def _custom_headers(entry: Entry) -> dict[str, Any]:
    clashes = sorted(RESERVED_HEADERS.intersection(entry.options.headers))
    if clashes:
        raise ConfigError(
            f"{_where(entry)}options.headers may not set {', '.join(map(repr, clashes))}: "
            "beatd writes these Celery protocol headers itself; rename the header"
        )
    return dict(entry.options.headers)


def _encode_body(entry: Entry) -> bytes:
    # The embed of a plain apply_async: no callbacks, no canvas.
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    try:
        # kombu's JSON encoder, as Celery's default "json" serializer uses: it writes
        # dates, datetimes, UUIDs and Decimals in the tagged form workers decode back.
        text = str(kombu_json_dumps((list(entry.args), entry.kwargs, embed)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{_where(entry)}args and kwargs must be JSON-serializable: {exc}") from exc
    return text.encode(CONTENT_ENCODING)


def _where(entry: Entry) -> str:
    prefix = f"{entry.source}: " if entry.source is not None else ""
    return f"{prefix}entry {entry.name!r}: "


def expiration_ms(seconds: float) -> str:
    """The AMQP `expiration` property as kombu's Producer.publish writes it."""
    return str(int(seconds * 1000))


__all__ = [
    "BEATD_HEADERS",
    "DEFAULT_QUEUE",
    "PROTOCOL_HEADERS",
    "RESERVED_HEADERS",
    "Message",
    "Route",
    "build_message",
    "expiration_ms",
    "route_for",
]
