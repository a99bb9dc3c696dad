"""Build the Celery protocol v2 task message for one fire, as Celery's apply_async would."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kombu.utils.json import dumps as kombu_json_dumps

from beatd.entry import Entry, Fire, Options, task_id_of_instant
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
# periodic_task_name (the entry name) is what django-celery-beat's scheduler adds, so
# tools that read it (flower, DCB's own task result views) see beatd's runs the same way.
BEATD_HEADERS = ("beatd_entry", "beatd_scheduled_at", "periodic_task_name")
RESERVED_HEADERS = frozenset(PROTOCOL_HEADERS + BEATD_HEADERS)


@dataclass(slots=True, kw_only=True)
class Message:
    """One task message, ready for any transport: the entry's template plus this run's values.

    Not frozen, because a frozen dataclass costs four times as much to create, and one is
    created per run; nothing changes a Message after MessageBuilder.build.

    What every run of an entry shares (task, arguments, body, route) lives in its
    EntryTemplate, built once; a Message adds only the run's own values, so building
    one costs little. `headers` and `properties` are assembled when read.

    `properties` holds the AMQP properties as apply_async hands them to kombu's
    Producer.publish: correlation_id, reply_to, delivery_mode, priority and, for
    entries with `expires`, `expiration` in seconds (float, never negative).
    Transports render `expiration` the way kombu does on the wire: whole
    milliseconds as a string (`str(int(seconds * 1000))`).

    `exchange` "" is AMQP's default exchange, which routes on `routing_key` straight to
    the queue of that name; `queue` is the queue to declare before publishing.
    """

    template: EntryTemplate
    task_id: str
    scheduled_at: str  # ISO 8601, UTC: the beatd_scheduled_at header
    scheduled_us: int  # the same instant in microseconds since the Unix epoch (the Redis high-water mark's unit)
    expires: str | None  # ISO 8601, UTC: the expires header
    expiration: float | None  # seconds of `expires` left at publish time
    origin: str
    # A run asked for outside the schedule (`beatd trigger`, the admin's run now): the
    # Redis high-water mark neither holds it back nor moves for it.
    manual: bool = False

    content_type = CONTENT_TYPE
    content_encoding = CONTENT_ENCODING

    @property
    def headers(self) -> dict[str, Any]:
        template = self.template
        return {
            "lang": "py",
            "task": template.entry.task,
            "id": self.task_id,
            "shadow": None,
            "eta": None,
            "expires": self.expires,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": list(template.timelimit),
            "root_id": self.task_id,
            "parent_id": None,
            "argsrepr": template.argsrepr,
            "kwargsrepr": template.kwargsrepr,
            "origin": self.origin,
            "ignore_result": False,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
            "beatd_entry": template.entry.name,
            "beatd_scheduled_at": self.scheduled_at,
            "periodic_task_name": template.entry.name,
            **template.custom_headers,
        }

    @property
    def properties(self) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "correlation_id": self.task_id,
            "reply_to": "",
            "delivery_mode": PERSISTENT,
            "priority": self.template.priority,
        }
        if self.expiration is not None:
            properties["expiration"] = self.expiration
        return properties

    @property
    def body(self) -> bytes:
        return self.template.body

    @property
    def exchange(self) -> str:
        return self.template.route.exchange

    @property
    def routing_key(self) -> str:
        return self.template.route.routing_key

    @property
    def queue(self) -> str:
        return self.template.route.queue

    @property
    def priority(self) -> int:
        """The message priority (0 when the entry sets none, as kombu's default)."""
        return self.template.priority


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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class _InstantForms:
    """(instant.isoformat(), microseconds since the epoch), remembering the last instant's.

    isoformat() costs more than the rest of a message's per-run values, and the runs of a
    batch come in time order, sharing instants (every interval entry of the same step
    fires on the same slot). Comparing with the last instant is cheap where hashing it,
    for a bigger cache, is not: an aware datetime's hash works out its UTC offset.
    """

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: tuple[datetime, tuple[str, int]] | None = None

    def __call__(self, instant: datetime) -> tuple[str, int]:
        last = self.last  # one read: another thread may replace it, never half of it
        if last is not None and last[0] == instant:
            return last[1]
        forms = (instant.isoformat(), (instant - _EPOCH) // _MICROSECOND)
        self.last = (instant, forms)
        return forms


@dataclass(slots=True, kw_only=True, weakref_slot=True)
class EntryTemplate:
    """What every message of one entry shares, worked out once per entry.

    Weakly referable, so a transport can keep its own pre-rendered form of a template
    for exactly as long as the template lives, without keeping it alive.
    """

    entry: Entry  # held, so the builder can tell its entry from a reload's replacement
    argsrepr: str
    kwargsrepr: str
    body: bytes
    custom_headers: dict[str, Any]
    route: Route
    priority: int
    timelimit: tuple[float | None, float | None]


# Rendering argsrepr the way Celery does and encoding the body cost more than the rest
# of a message together (about 55 us of 60 here); entries are immutable, so both are kept
# per entry, for entries that fire again within KEEP_TEMPLATE_WITHIN: a template (about
# a kilobyte with a transport's form of it) kept for an entry that fires once an hour
# would only hold memory.
KEEP_TEMPLATE_WITHIN = timedelta(minutes=1)
TEMPLATE_CACHE_SIZE = 262_144


class MessageBuilder:
    """Builds the protocol v2 messages one process sends (one origin), keeping frequent entries' templates.

    Templates are kept by entry name: the first run of an entry a reload replaced
    (same name, another Entry) replaces its template, so the old entry is let go. The
    cache is bounded: when full it is emptied at once (which also lets go of removed
    entries), since evicting one by one made every lookup miss once the entries
    outnumbered the cache (they are visited in turn). A builder may be shared between
    threads: each dict operation is atomic, and a template lost to a race is rebuilt.
    """

    def __init__(self, origin: str, *, cache_size: int = TEMPLATE_CACHE_SIZE) -> None:
        self.origin = origin
        self._cache_size = cache_size
        self._templates: dict[str, EntryTemplate] = {}
        self._scheduled_forms = _InstantForms()
        self._expires_forms = _InstantForms()

    def build(self, fire: Fire, now: datetime, *, manual: bool = False) -> Message:
        """The message for fire, published at the aware instant now.

        `manual` marks a run outside the schedule (see Message.manual).

        `expires` counts from the scheduled instant, not from now, so a run published
        late (catch-up, failover) expires when it would have; the `expiration` property
        is what remains of it at now, and 0 when nothing does (as Celery clamps it).

        Raises:
            ConfigError: options.headers sets a reserved header, or args/kwargs are not
                JSON-serializable.
            ValueError: now or fire.scheduled_at is naive.
        """
        entry = fire.entry
        if now.tzinfo is None or fire.scheduled_at.tzinfo is None:
            raise ValueError(f"entry {entry.name!r}: now={now!r} and scheduled_at={fire.scheduled_at!r} must be timezone-aware")
        template = self._templates.get(entry.name)
        if template is None or template.entry is not entry:
            template = self._new_template(entry, fire.scheduled_at)
        # Work in UTC: adding a timedelta to a datetime in a DST zone adds wall-clock time,
        # which is off by the DST shift when the window spans a transition.
        scheduled_utc = fire.scheduled_at.astimezone(UTC)
        scheduled_text, scheduled_us = self._scheduled_forms(scheduled_utc)
        expires = entry.options.expires
        if expires is None:
            expires_text, expiration = None, None
        else:
            expires_at = scheduled_utc + expires
            expires_text, expiration = self._expires_forms(expires_at)[0], max(0.0, (expires_at - now).total_seconds())
        return Message(template=template, task_id=task_id_of_instant(entry.name, scheduled_text),
                       scheduled_at=scheduled_text, scheduled_us=scheduled_us, expires=expires_text,
                       expiration=expiration, origin=self.origin, manual=manual)

    def forget(self, entry_names: Iterable[str]) -> None:
        """Let the templates of removed entries go now, not when the cache next fills."""
        for name in entry_names:
            self._templates.pop(name, None)

    def _new_template(self, entry: Entry, scheduled_at: datetime) -> EntryTemplate:
        """entry's template, kept when the entry fires again within KEEP_TEMPLATE_WITHIN of scheduled_at."""
        options = entry.options
        template = EntryTemplate(
            entry=entry,
            argsrepr=saferepr(entry.args),
            kwargsrepr=saferepr(entry.kwargs),
            body=_encode_body(entry),
            custom_headers=_custom_headers(entry),
            route=route_for(options),
            priority=options.priority if options.priority is not None else 0,
            timelimit=(options.time_limit, options.soft_time_limit),
        )
        if _fires_again_soon(entry, scheduled_at):
            if len(self._templates) >= self._cache_size:
                self._templates.clear()
            self._templates[entry.name] = template
        return template


def _fires_again_soon(entry: Entry, scheduled_at: datetime) -> bool:
    following = entry.schedule.next_after(scheduled_at)
    return following is not None and following - scheduled_at <= KEEP_TEMPLATE_WITHIN


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
    "EntryTemplate",
    "Message",
    "MessageBuilder",
    "Route",
    "expiration_ms",
    "route_for",
]
