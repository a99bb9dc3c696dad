"""The Redis path: kombu's JSON envelopes pushed by one Lua script per batch, each run at most once."""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import re
import weakref
from bisect import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib.resources import files
from itertools import islice
from typing import TYPE_CHECKING, Any

from kombu.utils.json import JSONEncoder as KombuJSONEncoder

from beatd.errors import BackendUnavailable, ConfigError
from beatd.publish.base import PublishResult, Transport
from beatd.publish.message import TEMPLATE_CACHE_SIZE, EntryTemplate, Message, expiration_ms

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

# kombu.transport.redis.Channel's defaults for the transport options that decide where a
# message lands; RedisKeys.of reads a worker's own values (broker_transport_options).
PRIORITY_STEPS = (0, 3, 6, 9)
MIN_PRIORITY, MAX_PRIORITY = 0, 9
SEP = "\x06\x16"
BINDING_KEY = "_kombu.binding.{exchange}"
# Since kombu 5.6 the binding sweep keeps a table while this set has members; workers
# of older versions ignore it.
PERMANENT_BINDING_KEY = "_kombu.binding_permanent.{exchange}"
# The high-water mark hash: one field per entry name, holding the scheduled instant
# (microseconds since the epoch) of that entry's newest pushed run. Under
# `global_keyprefix` like every kombu key.
MARKS_KEY = "beatd.sent"

DEFAULT_BATCH_SIZE = 1000

# kombu.utils.json.dumps builds a new encoder per call; one shared instance writes the
# same text (same class, same defaults) about a third faster.
_ENVELOPE_ENCODER = KombuJSONEncoder()

_PUBLISH_SCRIPT = files("beatd.publish").joinpath("redis_publish.lua").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisKeys:
    """Where kombu's Redis transport, with a worker's transport options, keeps queues and bindings.

    Only the options that decide where a message lands count: `global_keyprefix` (before
    every key, the mark hash included), `sep` (between a queue and its priority step,
    and in binding members) and `priority_steps`. `queue_order_strategy` only orders a
    worker's reads; the connection options (timeouts, ...) are the client's business.
    """

    prefix: str = ""
    sep: str = SEP
    priority_steps: tuple[int, ...] = PRIORITY_STEPS

    @classmethod
    def of(cls, transport_options: Mapping[str, Any] | None) -> RedisKeys:
        """The layout for kombu transport options (a Celery app's broker_transport_options).

        Raises:
            ConfigError: an option that decides where messages land has a value kombu
                could not use.
        """
        options = dict(transport_options or {})
        prefix, sep = options.get("global_keyprefix", ""), options.get("sep", SEP)
        for name, value in (("global_keyprefix", prefix), ("sep", sep)):
            if not isinstance(value, str):
                raise ConfigError(f"broker transport option {name} {value!r} must be a string")
        steps = options.get("priority_steps", PRIORITY_STEPS)
        if (isinstance(steps, str | bytes) or not isinstance(steps, Iterable)
                or not all(isinstance(step, int) and not isinstance(step, bool) for step in steps)
                or not steps or list(steps) != sorted(steps)):
            raise ConfigError(f"broker transport option priority_steps {steps!r} must be a non-empty "
                              "ascending list of integers, e.g. [0, 3, 6, 9]")
        return cls(prefix=prefix, sep=sep, priority_steps=tuple(steps))

    @property
    def marks(self) -> str:
        return self.prefix + MARKS_KEY

    def queue(self, queue: str, priority: int) -> str:
        """The Redis list holding queue's messages of this priority.

        kombu clamps the priority to 0-9 and rounds it down to a step of priority_steps;
        step 0 is the bare queue name, others are "queue<sep>step". Workers BRPOP the
        lists in step order, so on Redis a lower number is served first.
        """
        clamped = max(MIN_PRIORITY, min(int(priority), MAX_PRIORITY))
        step = self.priority_steps[bisect(self.priority_steps, clamped) - 1]
        return f"{self.prefix}{queue}{self.sep}{step}" if step else self.prefix + queue

    def bindings(self, exchange: str) -> str:
        return self.prefix + BINDING_KEY.format(exchange=exchange)

    def permanent_bindings(self, exchange: str) -> str:
        return self.prefix + PERMANENT_BINDING_KEY.format(exchange=exchange)

    def queue_binding(self, queue: str) -> str:
        """What kombu's Queue.declare writes for a Celery queue: bound to the direct exchange
        of the same name with the queue name as key (no pattern)."""
        return self.sep.join([queue, "", queue])


class RedisTransport(Transport):
    """LPUSHes kombu's JSON envelope straight into the queue lists a Celery worker BRPOPs.

    Each batch of messages is one Lua script (redis_publish.lua), one round trip (plus
    one to read bindings when a batch names an exchange); the next batch is planned
    while Redis runs the script of the one before. Per message the script
    compares the run's scheduled instant with its entry's high-water mark (the
    MARKS_KEY hash) and pushes only a newer run, moving the mark in the same step, so
    a batch retried after a lost reply pushes nothing twice: the script reports those
    runs as already sent. Manual runs (Message.manual) go around the mark. A message
    whose list is a key of another type (WRONGTYPE) or that Redis has no memory for
    (OOM) is refused alone. redis-py's own retries stay off all the same: a retry is
    the caller's decision, with its backoff.
    """

    def __init__(
        self,
        url: str,
        *,
        client: redis.Redis | None = None,  # shared; its own retry settings then apply
        batch_size: int = DEFAULT_BATCH_SIZE,
        socket_timeout_s: float = 10.0,
        transport_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(url)
        if batch_size < 1:
            raise ValueError(f"batch_size {batch_size!r} must be at least 1")
        self._batch_size = batch_size
        self.keys = RedisKeys.of(transport_options)
        self._owns_client = client is None
        self._client = client if client is not None else _client_for(url, socket_timeout_s)
        self._script = self._client.register_script(_PUBLISH_SCRIPT)
        # Queues whose binding this transport has written since the last failure. After
        # a failure we write them again: the server may have restarted empty.
        self._bound: set[str] = set()
        self.envelopes = EnvelopeForms()

    def publish(self, messages: Sequence[Message]) -> PublishResult:
        if not messages:
            return PublishResult()
        import redis

        result = PublishResult()
        settled = 0
        try:
            with self._connection() as connection:
                # Batch k+1's script is planned while Redis runs batch k's: the two cost about
                # the same, and waiting for each reply before planning the next left a fifth
                # of the time idle. Only one script is in flight, so a failure leaves exactly
                # the batches after the last settled one unsettled.
                in_flight: _ScriptCall | None = None
                for offset, batch in _batches(messages, self._batch_size):
                    call = self._plan(batch, offset)
                    if in_flight is not None:
                        self._settle(connection, in_flight, result)
                        settled, in_flight = in_flight.end, None
                    if call.empty:
                        settled = call.end
                        continue
                    self._send(connection, call)
                    in_flight = call
                if in_flight is not None:
                    self._settle(connection, in_flight, result)
        except (redis.RedisError, OSError) as exc:
            self._bound.clear()
            raise self._failure(exc, published=settled, total=len(messages), refused=result.refused) from exc
        return result

    def forget_marks(self, entry_names: Iterable[str]) -> None:
        """HDEL the removed entries' fields from the mark hash.

        Raises:
            BackendUnavailable: Redis could not be reached; the marks stay (call again).
        """
        import redis

        names = iter(entry_names)
        try:
            while chunk := list(islice(names, self._batch_size)):
                self._client.hdel(self.keys.marks, *chunk)
        except (redis.RedisError, OSError) as exc:
            raise BackendUnavailable(f"broker {self.safe_url}: could not drop the high-water marks of removed "
                                     f"entries: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    @contextmanager
    def _connection(self) -> Iterator[redis.connection.AbstractConnection]:
        """One connection of the client's pool for a publish; dropped after a failure, as a reply may be on its way."""
        pool = self._client.connection_pool
        connection = pool.get_connection()
        try:
            yield connection
        except BaseException:
            connection.disconnect()
            raise
        finally:
            pool.release(connection)

    def _plan(self, batch: Sequence[Message], offset: int) -> _ScriptCall:
        """The script call for batch, messages offset.. of the publish call."""
        routes = self._resolve_exchanges(batch)
        call = _ScriptCall(marks=self.keys.marks, end=offset + len(batch))
        for queue in sorted({message.queue for message in batch} - self._bound):
            call.bind(queue, self.keys.bindings(queue), self.keys.permanent_bindings(queue),
                      self.keys.queue_binding(queue))
        for index, message in enumerate(batch):
            queues = routes[message.exchange, message.routing_key] if message.exchange else [message.routing_key]
            if not queues:
                _warn_unroutable(message)
                continue
            call.push(offset + index, message, [self.keys.queue(queue, message.priority) for queue in queues],
                      self.envelopes.json(message))
        return call

    def _send(self, connection: redis.connection.AbstractConnection, call: _ScriptCall, *, by_body: bool = False) -> None:
        """Send call's script by its SHA1 (or whole, when Redis does not know it yet) without waiting for the reply."""
        script = ("EVAL", self._script.script) if by_body else ("EVALSHA", self._script.sha)
        connection.send_command(*script, len(call.keys), *call.keys, *call.arguments())

    def _settle(self, connection: redis.connection.AbstractConnection, call: _ScriptCall, result: PublishResult) -> None:
        """Read call's reply and add its outcome to result."""
        import redis

        try:
            codes, refusals, binding_errors = connection.read_response()
        except redis.exceptions.NoScriptError:
            # The server restarted or its script cache was flushed since the script was loaded.
            self._send(connection, call, by_body=True)
            codes, refusals, binding_errors = connection.read_response()
        statuses = _text(codes)
        result.already_sent += statuses.count("0")
        if refusals:
            refused = (index for index, status in zip(call.pushed, statuses) if status == "r")
            result.refused.update((index, _text(reason)) for index, reason in zip(refused, refusals))
        for queue, error in zip(call.new_queues, binding_errors):
            if error == 0:
                self._bound.add(queue)
            else:
                log.warning("could not bind queue %r to its exchange (routing by exchange will miss it): %s",
                            queue, _text(error))

    def _resolve_exchanges(self, batch: Sequence[Message]) -> dict[tuple[str, str], list[str]]:
        """Queues for each named (exchange, routing key), as kombu's direct exchange finds them.

        kombu treats an exchange it has not declared as direct and reads its bindings
        from Redis: the members of `_kombu.binding.<exchange>`, "key<sep>pattern<sep>queue".
        Messages for the default exchange ("") need no lookup: the key is the queue.
        """
        wanted = sorted({(message.exchange, message.routing_key) for message in batch if message.exchange})
        if not wanted:
            return {}
        exchanges = sorted({exchange for exchange, _ in wanted})
        with self._client.pipeline(transaction=False) as pipe:
            for exchange in exchanges:
                pipe.smembers(self.keys.bindings(exchange))
            tables = dict(zip(exchanges, pipe.execute()))
        routes: dict[tuple[str, str], list[str]] = {}
        for exchange, routing_key in wanted:
            bindings = (_text(member).split(self.keys.sep) for member in tables[exchange])
            routes[exchange, routing_key] = sorted({queue for key, _, queue in bindings if key == routing_key})
        return routes


@dataclass(slots=True, kw_only=True)
class _ScriptCall:
    """The KEYS and ARGV of one run of redis_publish.lua (its header says what they hold), for one batch.

    Per-message facts travel as one JSON plan rather than as arguments of their own:
    redis-py encodes each argument separately, which cost more than the script itself.
    """

    marks: str
    end: int  # the batch ends before message `end` of the publish call
    keys: list[str] = field(default_factory=list)
    key_index: dict[str, int] = field(default_factory=dict)  # key -> its 1-based index in KEYS
    new_queues: list[str] = field(default_factory=list)  # whose binding the script writes
    bindings: list[tuple[int, int, str]] = field(default_factory=list)
    pushed: list[int] = field(default_factory=list)  # index in the publish call of each message in the plan
    plan: list[tuple[str, str, int, list[int]]] = field(default_factory=list)
    payloads: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.keys.append(self.marks)

    @property
    def empty(self) -> bool:
        """Nothing for Redis to do: no message routable, no binding to write."""
        return not self.pushed and not self.new_queues

    def index(self, key: str) -> int:
        known = self.key_index.get(key)
        if known is None:
            self.keys.append(key)
            known = self.key_index[key] = len(self.keys)
        return known

    def bind(self, queue: str, bindings_key: str, permanent_key: str, member: str) -> None:
        self.new_queues.append(queue)
        self.bindings.append((self.index(bindings_key), self.index(permanent_key), member))

    def push(self, index: int, message: Message, lists: list[str], envelope: str) -> None:
        self.pushed.append(index)
        # The instant as a string: the script writes its digits back as the mark.
        self.plan.append((message.template.entry.name, str(message.scheduled_us), 0 if message.manual else 1,
                          [self.index(key) for key in lists]))
        self.payloads.append(envelope)

    def arguments(self) -> list[str]:
        plan = json.dumps({"bindings": self.bindings, "messages": self.plan}, ensure_ascii=False)
        return [plan, *self.payloads]


class EnvelopeForms:
    """The JSON kombu's Redis channel LPUSHes for a message, from its template's pre-rendered form.

    One per transport, keyed by entry name. A form lives as long as its template: it
    holds the template weakly and goes when the template does, so it is kept exactly
    while the message builder keeps the template (a rare entry's template, which the
    builder does not keep, takes its form along). Bounded besides, as the builder's
    cache is: when full it is emptied at once.
    """

    __slots__ = ("_forms", "_size")

    def __init__(self, *, size: int = TEMPLATE_CACHE_SIZE) -> None:
        self._forms: dict[str, _EnvelopeForm] = {}
        self._size = size

    def json(self, message: Message) -> str:
        """message's envelope (virtual.Channel.prepare_message), as `reference_envelope_json` writes it.

        The body travels base64-encoded (the virtual transports' default body_encoding),
        and each message gets a fresh uuid4 delivery tag, as kombu's channel gives it.
        """
        template = message.template
        form = self._forms.get(template.entry.name)
        if form is None or form.template() is not template or form.origin != message.origin:
            form = self._new_form(message)
        return form.render({
            "id": message.task_id,
            "scheduled_at": message.scheduled_at,
            "expires": message.expires,
            "expiration": expiration_ms(message.expiration) if message.expiration is not None else "",
            "delivery_tag": _uuid4(),
        })

    def _new_form(self, message: Message) -> _EnvelopeForm:
        forms, name = self._forms, message.template.entry.name

        def drop(dead: weakref.ref[EntryTemplate]) -> None:
            # The template is gone; its form goes too, unless a newer one took its place.
            form = forms.get(name)
            if form is not None and form.template is dead:
                forms.pop(name, None)

        form = _EnvelopeForm.of(message, weakref.ref(message.template, drop))
        if len(forms) >= self._size:
            forms.clear()
        forms[name] = form
        return form


def reference_envelope_json(message: Message, *, delivery_tag: str | None = None) -> str:
    """The envelope built field by field as kombu does; `EnvelopeForms.json` renders the same text faster."""
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
    template: weakref.ref[EntryTemplate]  # whose envelope this is; weak, so the form never keeps it alive

    @classmethod
    def of(cls, message: Message, template: weakref.ref[EntryTemplate]) -> _EnvelopeForm:
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
        return cls(fragments=tuple(pieces[0::2]), fields=tuple(pieces[1::2]), origin=message.origin,
                   template=template)

    def render(self, values: dict[str, str | None]) -> str:
        pieces = [self.fragments[0]]
        for name, fragment in zip(self.fields, self.fragments[1:]):
            pieces.append(values[name])  # type: ignore[arg-type]  # None only for fields the form lacks
            pieces.append(fragment)
        return "".join(pieces)


# Delivery tags only need to be unique, as kombu's uuid4() tags are: a generator seeded
# from os.urandom gives the same 122 random bits without a system call per message.
_TAG_RANDOM = random.Random(os.urandom(32))


def _uuid4() -> str:
    """A random RFC 4122 version 4 UUID string, formatted as str(uuid.uuid4()) is."""
    digits = f"{_TAG_RANDOM.getrandbits(128):032x}"
    variant = "89ab"[int(digits[16], 16) & 3]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"


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


def _batches(messages: Sequence[Message], size: int) -> Iterator[tuple[int, Sequence[Message]]]:
    """(offset, batch) for each batch of size messages."""
    for offset in range(0, len(messages), size):
        yield offset, messages[offset:offset + size]


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
