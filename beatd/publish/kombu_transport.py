"""Publish through kombu: any broker URL kombu knows (AMQP with publisher confirms, Redis, SQL)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kombu import Connection, Exchange, Producer, Queue
from kombu.exceptions import KombuError

from beatd.publish.base import PublishResult, Transport
from beatd.publish.message import Message

# The embedded default broker: a SQLite file next to where beatd runs, so a first
# `beatd run` needs no server. Workers point at the same file.
DEFAULT_BROKER_URL = "sqla+sqlite:///beatd-broker.sqlite3"

# Messages in flight before we stop and wait for RabbitMQ's confirms. kombu's own
# `confirm_publish` waits after every message: one round trip each, a few hundred
# messages a second. A window keeps the same guarantee at a fraction of the cost.
CONFIRM_WINDOW = 1000


class BrokerNacked(KombuError):
    """RabbitMQ refused (basic.nack) a published message; it may not be queued."""


class KombuTransport(Transport):
    """One kombu connection and producer; queues declared as a stock Celery worker does.

    On AMQP the channel is in publisher-confirm mode (RabbitMQ's confirm.select, what
    kombu's `confirm_publish` turns on), and `publish` returns only once the broker
    has acknowledged every message. Virtual transports (Redis, SQLAlchemy) have
    nothing to confirm: a returned write is the guarantee.
    """

    def __init__(
        self,
        url: str = DEFAULT_BROKER_URL,
        *,
        connect_timeout_s: float = 5.0,
        confirm_timeout_s: float = 10.0,
        transport_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(url)
        self._url = url
        self._connect_timeout_s = connect_timeout_s
        self._confirm_timeout_s = confirm_timeout_s
        self._transport_options = dict(transport_options or {})
        self._session: _Session | None = None

    def publish(self, messages: Sequence[Message]) -> PublishResult:
        if not messages:
            return PublishResult()
        session = self._session or self._open_session()
        progress = _Progress()
        try:
            session.publish(messages, progress, self._confirm_timeout_s)
        except session.errors as exc:
            self.close()
            raise self._failure(exc, published=progress.confirmed, total=len(messages)) from exc
        return PublishResult()

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            _close_quietly(session.connection)

    def _open_session(self) -> _Session:
        # Creating the Connection does no I/O; it tells which errors mean "broker trouble".
        connection = Connection(
            self._url,
            connect_timeout=self._connect_timeout_s,
            transport_options=dict(self._transport_options),
        )
        self._session = _Session(connection=connection, errors=_broker_errors(connection))
        return self._session


@dataclass(slots=True)
class _Progress:
    """How far one publish call got: messages the broker is known to hold, in order."""

    confirmed: int = 0


@dataclass(slots=True)
class _Confirms:
    """Publisher confirms of one AMQP channel: which of our delivery tags are not yet acked.

    After confirm.select the broker numbers the channel's publishes 1, 2, 3, ... and
    acks (or nacks) each, possibly many at once ("multiple": every tag up to this one).
    """

    next_tag: int = 1
    unconfirmed: set[int] = field(default_factory=set)
    nacked_tag: int | None = None

    def sent(self) -> int:
        tag = self.next_tag
        self.next_tag += 1
        self.unconfirmed.add(tag)
        return tag

    def on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self.unconfirmed = {tag for tag in self.unconfirmed if tag > delivery_tag}
        else:
            self.unconfirmed.discard(delivery_tag)

    def on_nack(self, delivery_tag: int, multiple: bool) -> None:
        first = min((tag for tag in self.unconfirmed if tag <= delivery_tag), default=delivery_tag) if multiple else delivery_tag
        self.nacked_tag = first if self.nacked_tag is None else min(self.nacked_tag, first)
        self.on_ack(delivery_tag, multiple)

    def first_unconfirmed(self) -> int:
        """The oldest tag the broker has not (positively) confirmed."""
        candidates = [*self.unconfirmed, *([self.nacked_tag] if self.nacked_tag is not None else [])]
        return min(candidates, default=self.next_tag)


@dataclass(slots=True, kw_only=True)
class _Session:
    """One connection's worth of state; dropped whole after a broker failure."""

    connection: Connection
    errors: tuple[type[BaseException], ...]
    # Queues declared on this connection; a new connection declares again, since a
    # restarted broker may have lost them.
    declared: set[str] = field(default_factory=set)
    current_producer: Producer | None = None
    confirms: _Confirms | None = None  # set on AMQP once the channel is in confirm mode

    def publish(self, messages: Sequence[Message], progress: _Progress, confirm_timeout_s: float) -> None:
        producer = self.producer()
        confirms = self.confirms
        if confirms is None:
            for message in messages:
                self.declare(message.queue)
                _publish_one(producer, message)
                progress.confirmed += 1
            return
        first_tag = confirms.next_tag
        for message in messages:
            self.declare(message.queue)
            _publish_one(producer, message)
            confirms.sent()
            if len(confirms.unconfirmed) >= CONFIRM_WINDOW:
                self.wait_for_confirms(confirms, first_tag, progress, confirm_timeout_s)
        self.wait_for_confirms(confirms, first_tag, progress, confirm_timeout_s)

    def wait_for_confirms(self, confirms: _Confirms, first_tag: int, progress: _Progress, timeout_s: float) -> None:
        """Read confirms until the broker has answered for every tag sent so far.

        We wait out the nacks too: RabbitMQ may nack a later message before it acks
        earlier ones, and only the full answer tells how many went through.

        Raises:
            BrokerNacked: the broker refused a message.
            TimeoutError: the acks did not arrive within timeout_s.
        """
        deadline = time.monotonic() + timeout_s
        try:
            while confirms.unconfirmed:
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    raise TimeoutError(f"RabbitMQ left {len(confirms.unconfirmed)} messages unconfirmed for {timeout_s}s")
                self.connection.drain_events(timeout=remaining_s)
        finally:
            progress.confirmed = confirms.first_unconfirmed() - first_tag
        if confirms.nacked_tag is not None:
            raise BrokerNacked(f"RabbitMQ refused message {confirms.nacked_tag - first_tag + 1} of this publish (basic.nack)")

    def producer(self) -> Producer:
        if self.current_producer is None:
            self.connection.connect()
            channel = self.connection.default_channel
            if _is_amqp(self.connection) and hasattr(channel, "confirm_select"):
                confirms = _Confirms()
                # py-amqp's Channel calls these for every basic.ack / basic.nack it reads.
                events = channel.events  # type: ignore[attr-defined]
                events["basic_ack"].add(confirms.on_ack)
                events["basic_nack"].add(confirms.on_nack)
                channel.confirm_select()
                self.confirms = confirms
            # auto_declare off: queues are declared by `declare`, once each.
            self.current_producer = Producer(channel, auto_declare=False)
        return self.current_producer

    def declare(self, queue_name: str) -> None:
        """Make sure queue_name exists, shaped like a worker's `-Q queue_name` would make it.

        A queue an operator declared differently (quorum, priorities, TTL) would make a
        redeclaration fail with PRECONDITION_FAILED and close the channel, so on AMQP we
        first ask, on a throwaway channel, whether the queue exists, and leave an
        existing queue alone. Virtual transports ignore queue arguments: we just declare.
        """
        if queue_name in self.declared:
            return
        queue = celery_queue(queue_name)
        channel = self.producer().channel
        if not (_is_amqp(self.connection) and _queue_exists(self.connection, queue)):
            queue.bind(channel).declare()
        self.declared.add(queue_name)


def celery_queue(name: str) -> Queue:
    """The queue a stock Celery worker declares for `-Q name`.

    As celery.app.amqp.Queues.new_missing builds it: durable, bound to a durable direct
    exchange of the same name with the queue name as binding key, and without
    arguments. In particular no `x-max-priority`: Celery adds it only when
    task_queue_max_priority is set, which is not the default; priorities still travel
    in the message properties, which is what workers read.
    """
    return Queue(name, Exchange(name, type="direct", durable=True), routing_key=name, durable=True)


def _publish_one(producer: Producer, message: Message) -> None:
    properties = dict(message.properties)
    producer.publish(
        message.body,
        exchange=message.exchange,
        routing_key=message.routing_key,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        # kombu may add a compression header to the dict it is given; keep ours intact.
        headers=dict(message.headers),
        delivery_mode=properties.pop("delivery_mode"),
        priority=properties.pop("priority"),
        expiration=properties.pop("expiration", None),
        retry=False,
        **properties,
    )


def _queue_exists(connection: Connection, queue: Queue) -> bool:
    channel = connection.channel()
    try:
        queue.bind(channel).queue_declare(passive=True)
        return True
    except connection.channel_errors:
        # 404 NOT_FOUND closes this throwaway channel, nothing else.
        return False
    finally:
        _close_quietly(channel)


def _broker_errors(connection: Connection) -> tuple[type[BaseException], ...]:
    """What a publish on this connection raises when the broker, not beatd, is at fault."""
    return (OSError, KombuError, *connection.connection_errors, *connection.channel_errors)


def _is_amqp(connection: Connection) -> bool:
    return bool(connection.transport.driver_type == "amqp")


def _close_quietly(resource: Any) -> None:
    # Closing after a broker failure may fail the same way; the resource is gone either way.
    with contextlib.suppress(Exception):
        resource.close()
