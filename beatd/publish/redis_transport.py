"""A Redis fast path: write exactly what kombu's Redis transport writes, a batch per round trip."""

from __future__ import annotations

import base64
import logging
import os
import random
import re
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from typing import TYPE_CHECKING, Any

from kombu.utils.json import JSONEncoder as KombuJSONEncoder

from beatd.publish.base import PublishResult, Transport
from beatd.publish.message import Message, expiration_ms

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

# kombu.transport.redis.Channel defaults. A worker reads the same keys only while its
# transport options keep these defaults (priority_steps, sep, global_keyprefix);
# configure it differently and use the kombu transport (fast_path=False) instead.
PRIORITY_STEPS = (0, 3, 6, 9)
MIN_PRIORITY, MAX_PRIORITY = 0, 9
SEP = "\x06\x16"
BINDING_KEY = "_kombu.binding.{exchange}"
# Since kombu 5.6 the binding sweep keeps a table while this set has members; workers
# of older versions ignore it.
PERMANENT_BINDING_KEY = "_kombu.binding_permanent.{exchange}"

DEFAULT_BATCH_SIZE = 1000

# kombu.utils.json.dumps builds a new encoder per call; one shared instance writes the
# same text (same class, same defaults) about a third faster.
_ENVELOPE_ENCODER = KombuJSONEncoder()


class RedisTransport(Transport):
    """LPUSHes kombu's JSON envelope straight into the queue lists a Celery worker BRPOPs.

    Each batch of messages is one MULTI/EXEC pipeline, one round trip (plus one to read
    bindings when a batch names an exchange). Redis runs a batch as a whole, so after
    a failure the published count is exact but for the one batch in flight: that one
    may be in Redis (its reply was lost) or partly so (Redis does not undo the other
    commands of a transaction when it refuses one, e.g. with WRONGTYPE or OOM).
    redis-py's own retries are off: a pipeline replayed after a lost reply would push
    every message of it twice.
    """

    def __init__(
        self,
        url: str,
        *,
        client: redis.Redis | None = None,  # shared; its own retry settings then apply
        batch_size: int = DEFAULT_BATCH_SIZE,
        socket_timeout_s: float = 10.0,
    ) -> None:
        super().__init__(url)
        if batch_size < 1:
            raise ValueError(f"batch_size {batch_size!r} must be at least 1")
        self._batch_size = batch_size
        self._owns_client = client is None
        self._client = client if client is not None else _client_for(url, socket_timeout_s)
        # Queues whose binding this transport has written since the last failure. After
        # a failure we write them again: the server may have restarted empty.
        self._bound: set[str] = set()

    def publish(self, messages: Sequence[Message]) -> PublishResult:
        if not messages:
            return PublishResult()
        import redis

        published = 0
        try:
            for batch in _batches(messages, self._batch_size):
                self._publish_batch(batch)
                published += len(batch)
        except (redis.RedisError, OSError) as exc:
            self._bound.clear()
            raise self._failure(exc, published=published, total=len(messages)) from exc
        return PublishResult()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def _publish_batch(self, batch: Sequence[Message]) -> None:
        routes = self._resolve_exchanges(batch)
        # One LPUSH per list keeps each list's order and saves the per-command cost:
        # LPUSH k a b c is LPUSH k a; LPUSH k b; LPUSH k c.
        payloads_by_key: dict[str, list[str]] = {}
        for message in batch:
            queues = routes[message.exchange, message.routing_key] if message.exchange else [message.routing_key]
            if not queues:
                _warn_unroutable(message)
                continue
            payload = envelope_json(message)
            for queue in queues:
                payloads_by_key.setdefault(queue_key(queue, message.priority), []).append(payload)
        new_queues = {message.queue for message in batch} - self._bound
        with self._client.pipeline(transaction=True) as pipe:
            for queue in sorted(new_queues):
                _bind(pipe, queue)
            for key, payloads in payloads_by_key.items():
                pipe.lpush(key, *payloads)
            pipe.execute()
        self._bound |= new_queues

    def _resolve_exchanges(self, batch: Sequence[Message]) -> dict[tuple[str, str], list[str]]:
        """Queues for each named (exchange, routing key), as kombu's direct exchange finds them.

        kombu treats an exchange it has not declared as direct and reads its bindings
        from Redis: the members of `_kombu.binding.<exchange>`, "key<SEP>pattern<SEP>queue".
        Messages for the default exchange ("") need no lookup: the key is the queue.
        """
        wanted = sorted({(message.exchange, message.routing_key) for message in batch if message.exchange})
        if not wanted:
            return {}
        exchanges = sorted({exchange for exchange, _ in wanted})
        with self._client.pipeline(transaction=False) as pipe:
            for exchange in exchanges:
                pipe.smembers(BINDING_KEY.format(exchange=exchange))
            tables = dict(zip(exchanges, pipe.execute()))
        routes: dict[tuple[str, str], list[str]] = {}
        for exchange, routing_key in wanted:
            bindings = (_text(member).split(SEP) for member in tables[exchange])
            routes[exchange, routing_key] = sorted({queue for key, _, queue in bindings if key == routing_key})
        return routes


def envelope_json(message: Message) -> str:
    """The JSON kombu's Redis channel LPUSHes for message (virtual.Channel.prepare_message).

    The body travels base64-encoded (the virtual transports' default body_encoding),
    and each message gets a fresh uuid4 delivery tag, as kombu's channel gives it.
    The text is `reference_envelope_json`'s, filled into the entry's pre-rendered form.
    """
    template = message.template
    form = template.transport_form
    if form is None or form.origin != message.origin:
        form = template.transport_form = _EnvelopeForm.of(message)
    return form.render({
        "id": message.task_id,
        "scheduled_at": message.scheduled_at,
        "expires": message.expires,
        "expiration": expiration_ms(message.expiration) if message.expiration is not None else "",
        "delivery_tag": _uuid4(),
    })


def reference_envelope_json(message: Message, *, delivery_tag: str | None = None) -> str:
    """The envelope built field by field as kombu does; `envelope_json` renders the same text faster."""
    properties: dict[str, Any] = {}
    for name, value in message.properties.items():
        if name == "expiration":
            properties[name] = expiration_ms(value)
        elif name != "priority":
            properties[name] = value
    properties["delivery_info"] = {"exchange": message.exchange, "routing_key": message.routing_key}
    properties["priority"] = message.priority
    properties["body_encoding"] = "base64"
    properties["delivery_tag"] = delivery_tag or _uuid4()
    envelope = {
        "body": base64.b64encode(message.body).decode("ascii"),
        "content-encoding": message.content_encoding,
        "content-type": message.content_type,
        "headers": message.headers,
        "properties": properties,
    }
    return _ENVELOPE_ENCODER.encode(envelope)


# Stands in for the per-run values while an entry's envelope is encoded: random per
# process, so no entry's own text can contain it.
_FIELD_MARKER = f"beatd-{os.urandom(8).hex()}-"
_MARKED_FIELD = re.compile(re.escape(_FIELD_MARKER) + "([a-z_]+)")


@dataclass(frozen=True, slots=True)
class _EnvelopeForm:
    """One entry's envelope text, cut where the per-run values go: fragment, value, fragment, ...

    Joining the pieces costs about a fifth of encoding the envelope anew, and a fifth of
    str.format on the same text (which parses its pattern on every call).
    """

    fragments: tuple[str, ...]  # one more than fields
    fields: tuple[str, ...]
    origin: str  # written into the fragments: one process sends every message with the same origin

    @classmethod
    def of(cls, message: Message) -> _EnvelopeForm:
        """Encode an envelope whose per-run values are markers, then cut at the markers.

        So the entry's own text (arguments, headers) goes through kombu's encoder exactly
        as in `reference_envelope_json`. The values filled in later are uuids, ISO
        instants and digits, which need no escaping in a JSON string.
        """
        marker = _FIELD_MARKER
        sample = replace(message, task_id=marker + "id", scheduled_at=marker + "scheduled_at",
                         expires=marker + "expires" if message.expires is not None else None, expiration=None)
        text = reference_envelope_json(sample, delivery_tag=marker + "delivery_tag")
        if message.expiration is not None:
            # kombu writes the expiration property just before delivery_info.
            text = text.replace('"delivery_info": ', f'"expiration": "{marker}expiration", "delivery_info": ', 1)
        pieces = _MARKED_FIELD.split(text)
        return cls(fragments=tuple(pieces[0::2]), fields=tuple(pieces[1::2]), origin=message.origin)

    def render(self, values: dict[str, str | None]) -> str:
        pieces = [self.fragments[0]]
        for field, fragment in zip(self.fields, self.fragments[1:]):
            pieces.append(values[field])  # type: ignore[arg-type]  # None only for fields the form lacks
            pieces.append(fragment)
        return "".join(pieces)


def queue_key(queue: str, priority: int) -> str:
    """The Redis list holding queue's messages of this priority.

    kombu clamps the priority to 0-9 and rounds it down to a step of PRIORITY_STEPS;
    step 0 is the bare queue name, others are "queue<SEP>step". Workers BRPOP the
    lists in step order, so on Redis a lower number is served first.
    """
    clamped = max(MIN_PRIORITY, min(int(priority), MAX_PRIORITY))
    step = PRIORITY_STEPS[bisect(PRIORITY_STEPS, clamped) - 1]
    return f"{queue}{SEP}{step}" if step else queue


# Delivery tags only need to be unique, as kombu's uuid4() tags are: a generator seeded
# from os.urandom gives the same 122 random bits without a system call per message.
_TAG_RANDOM = random.Random(os.urandom(32))


def _uuid4() -> str:
    """A random RFC 4122 version 4 UUID string, formatted as str(uuid.uuid4()) is."""
    digits = f"{_TAG_RANDOM.getrandbits(128):032x}"
    variant = "89ab"[int(digits[16], 16) & 3]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"


def _bind(pipe: redis.client.Pipeline, queue: str) -> None:
    # What kombu's Queue.declare writes for a Celery queue: bound to the direct exchange
    # of the same name with the queue name as key (no pattern). Celery's own publish
    # declares the queue the same way, so tools that route by exchange find it.
    member = SEP.join([queue, "", queue])
    pipe.sadd(BINDING_KEY.format(exchange=queue), member)
    pipe.sadd(PERMANENT_BINDING_KEY.format(exchange=queue), member)


def _text(value: bytes | str) -> str:
    # A shared client may have been made with decode_responses=True.
    return value.decode() if isinstance(value, bytes) else value


def _warn_unroutable(message: Message) -> None:
    # kombu drops such a message without a word and RabbitMQ drops it unless published
    # `mandatory`; we drop it too, so one misrouted entry cannot stall every other, but
    # we say so.
    log.warning(
        "dropped unroutable message: no queue is bound to exchange %r with routing key %r "
        "(entry %s scheduled at %s, task id %s)",
        message.exchange,
        message.routing_key,
        message.headers.get("beatd_entry"),
        message.headers.get("beatd_scheduled_at"),
        message.task_id,
    )


def _batches(messages: Sequence[Message], size: int) -> Iterator[Sequence[Message]]:
    iterator = iter(messages)
    while batch := list(islice(iterator, size)):
        yield batch


def _client_for(url: str, socket_timeout_s: float) -> redis.Redis:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=socket_timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
