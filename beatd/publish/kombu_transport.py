"""Publish through kombu: any broker URL kombu knows (AMQP with publisher confirms, Redis, SQL)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import takewhile
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


# What a refused message's entry is told when RabbitMQ nacks it: RabbitMQ says no more.
NACK_REASON = ("the broker refused the message (basic.nack): a queue it routes to is full with "
               "x-overflow reject-publish, or the broker could not take it")


class KombuTransport(Transport):
    """One kombu connection and producer; queues declared as a stock Celery worker does.

    On AMQP the channel is in publisher-confirm mode (RabbitMQ's confirm.select, what
    kombu's `confirm_publish` turns on), and `publish` returns only once the broker
    has answered for every message: an ack puts it on the broker, a nack refuses that
    message alone. A channel error caused by one message (a missing exchange, a queue
    that cannot be declared, a message over the size limit) refuses that message and
    the rest go on over a new channel. Virtual transports (Redis, SQLAlchemy) have
    nothing to confirm: a returned write is the guarantee, a channel error a refusal.
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
        outcome = _Outcome(settled=bytearray(len(messages)))
        try:
            session.publish(messages, outcome, self._confirm_timeout_s)
        except session.errors as exc:
            self.close()
            published = outcome.published()
            refused = {index: reason for index, reason in outcome.refused.items() if index < published}
            raise self._failure(exc, published=published, total=len(messages), refused=refused) from exc
        return PublishResult(refused=outcome.refused)

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
class _Outcome:
    """What one publish call has settled so far, by index in its messages: on the broker, or refused."""

    settled: bytearray  # 1 at each settled index
    refused: dict[int, str] = field(default_factory=dict)

    def accept(self, index: int) -> None:
        self.settled[index] = 1

    def refuse(self, index: int, reason: str) -> None:
        self.settled[index] = 1
        self.refused[index] = reason

    def published(self) -> int:
        """How many messages, from the first, are settled."""
        unsettled = self.settled.find(0)
        return len(self.settled) if unsettled < 0 else unsettled


@dataclass(slots=True)
class _Confirms:
    """Publisher confirms of one AMQP channel: our delivery tags the broker has not answered yet.

    After confirm.select the broker numbers the channel's publishes 1, 2, 3, ... and
    acks (or nacks) each, possibly many at once ("multiple": every tag up to this one).
    """

    outcome: _Outcome  # of the publish call in progress
    next_tag: int = 1
    pending: dict[int, int] = field(default_factory=dict)  # delivery tag -> message index, oldest first

    def sent(self, index: int) -> None:
        self.pending[self.next_tag] = index
        self.next_tag += 1

    def on_ack(self, delivery_tag: int, multiple: bool) -> None:
        for tag in self._answered(delivery_tag, multiple):
            self.outcome.accept(self.pending.pop(tag))

    def on_nack(self, delivery_tag: int, multiple: bool) -> None:
        for tag in self._answered(delivery_tag, multiple):
            self.outcome.refuse(self.pending.pop(tag), NACK_REASON)

    def _answered(self, delivery_tag: int, multiple: bool) -> list[int]:
        if not multiple:
            return [delivery_tag] if delivery_tag in self.pending else []
        return list(takewhile(lambda tag: tag <= delivery_tag, self.pending))


@dataclass(slots=True)
class _RouteRefusals:
    """The broker's refusals of queues and exchanges, found before publishing a batch."""

    queues: dict[str, str] = field(default_factory=dict)
    exchanges: dict[str, str] = field(default_factory=dict)

    def of(self, message: Message) -> str | None:
        """Why message cannot be published, or None."""
        return self.queues.get(message.queue) or (self.exchanges.get(message.exchange) if message.exchange else None)


def _look_up_queue(queue: Queue, channel: Any) -> None:
    """queue.declare(passive): a channel error if the queue does not exist."""
    queue.bind(channel).queue_declare(passive=True)


def _declare_queue(queue: Queue, channel: Any) -> None:
    queue.bind(channel).declare()


def _look_up_exchange(exchange: str, channel: Any) -> None:
    """exchange.declare(passive): a channel error if the exchange does not exist."""
    channel.exchange_declare(exchange=exchange, type="direct", passive=True)


@dataclass(slots=True, kw_only=True)
class _Session:
    """One connection's worth of state; dropped whole after a broker failure."""

    connection: Connection
    errors: tuple[type[BaseException], ...]
    # Queues declared and exchanges found on this connection; a new connection checks
    # again, since a restarted broker may have lost them.
    declared: set[str] = field(default_factory=set)
    exchanges: set[str] = field(default_factory=set)
    channel: Any = None
    current_producer: Producer | None = None
    confirms: _Confirms = field(default_factory=lambda: _Confirms(_Outcome(bytearray())))  # of `channel`, on AMQP

    def publish(self, messages: Sequence[Message], outcome: _Outcome, confirm_timeout_s: float) -> None:
        # Declarations first, on channels of their own: done while nothing is in flight,
        # a channel error there names its queue or exchange and no message.
        refusals = self.check_routes(messages)
        if not _is_amqp(self.connection):
            self.publish_unconfirmed(messages, refusals, outcome)
            return
        position = 0
        while position < len(messages):
            producer, confirms = self.confirmed_producer(outcome)
            try:
                while position < len(messages):
                    index, position = position, position + 1
                    reason = refusals.of(messages[index])
                    if reason is not None:
                        outcome.refuse(index, reason)
                        continue
                    confirms.sent(index)
                    _publish_one(producer, messages[index])
                    if len(confirms.pending) >= CONFIRM_WINDOW:
                        self.wait_for_confirms(confirms, confirm_timeout_s)
                self.wait_for_confirms(confirms, confirm_timeout_s)
            except self.connection.channel_errors:
                # One of the unanswered messages closed the channel; which one, only
                # sending them again one at a time tells. Those the broker took before
                # the error go twice (same task id): the channel lost their acks.
                self.drop_channel()
                for index in list(confirms.pending.values()):
                    self.publish_alone(messages[index], index, outcome, confirm_timeout_s)

    def publish_unconfirmed(self, messages: Sequence[Message], refusals: _RouteRefusals, outcome: _Outcome) -> None:
        """Virtual transports: each publish is a write that returned, or failed for that message."""
        producer = self.producer()
        for index, message in enumerate(messages):
            reason = refusals.of(message)
            if reason is None:
                try:
                    _publish_one(producer, message)
                except self.connection.channel_errors as exc:
                    reason = _reason(exc)
            if reason is None:
                outcome.accept(index)
            else:
                outcome.refuse(index, reason)

    def publish_alone(self, message: Message, index: int, outcome: _Outcome, confirm_timeout_s: float) -> None:
        """Publish one message and wait for its confirm; a channel error refuses it."""
        try:
            producer, confirms = self.confirmed_producer(outcome)
            confirms.sent(index)
            _publish_one(producer, message)
            self.wait_for_confirms(confirms, confirm_timeout_s)
        except self.connection.channel_errors as exc:
            self.drop_channel()
            outcome.refuse(index, _reason(exc))

    def wait_for_confirms(self, confirms: _Confirms, timeout_s: float) -> None:
        """Read confirms until the broker has answered for every message sent so far.

        Raises:
            TimeoutError: the answers did not arrive within timeout_s.
        """
        deadline = time.monotonic() + timeout_s
        while confirms.pending:
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                raise TimeoutError(f"RabbitMQ left {len(confirms.pending)} messages unconfirmed for {timeout_s}s")
            self.connection.drain_events(timeout=remaining_s)

    def producer(self) -> Producer:
        """The producer on this session's publishing channel (opened, and on AMQP put in confirm mode, if need be)."""
        if self.current_producer is None:
            self.connection.connect()
            self.channel = self.connection.channel()
            # A new channel numbers its publishes from 1 again.
            self.confirms = _Confirms(_Outcome(bytearray()))
            if _is_amqp(self.connection):
                # py-amqp's Channel calls these for every basic.ack / basic.nack it reads.
                self.channel.events["basic_ack"].add(self.confirms.on_ack)
                self.channel.events["basic_nack"].add(self.confirms.on_nack)
                self.channel.confirm_select()
            # auto_declare off: queues are declared by `check_routes`, once each.
            self.current_producer = Producer(self.channel, auto_declare=False)
        return self.current_producer

    def confirmed_producer(self, outcome: _Outcome) -> tuple[Producer, _Confirms]:
        """The AMQP producer and its channel's confirms, which now settle messages of `outcome`."""
        producer = self.producer()
        self.confirms.outcome = outcome
        return producer, self.confirms

    def drop_channel(self) -> None:
        """Forget the publishing channel (a channel error closed it); the next producer opens another."""
        if self.channel is not None:
            _close_quietly(self.channel)
        self.channel, self.current_producer = None, None

    def check_routes(self, messages: Sequence[Message]) -> _RouteRefusals:
        """Declare the messages' queues and, on AMQP, find their named exchanges: the broker's refusals by name.

        A queue is declared like a worker's `-Q name` would declare it. A queue an
        operator declared differently (quorum, priorities, TTL) would make a
        redeclaration fail with PRECONDITION_FAILED, so on AMQP we first ask whether
        the queue exists and leave an existing queue alone. A named exchange must
        exist: publishing to a missing one closes the channel. Virtual transports
        ignore queue arguments and route to any exchange: we just declare.
        """
        refusals = _RouteRefusals()
        amqp = _is_amqp(self.connection)
        for queue_name in sorted({message.queue for message in messages} - self.declared):
            queue = celery_queue(queue_name)
            exists = amqp and self.on_spare_channel(partial(_look_up_queue, queue)) is None
            reason = None if exists else self.on_spare_channel(partial(_declare_queue, queue))
            if reason is not None:
                refusals.queues[queue_name] = f"queue {queue_name!r} could not be declared: {reason}"
                continue
            self.declared.add(queue_name)
        if amqp:
            for exchange in sorted({message.exchange for message in messages if message.exchange} - self.exchanges):
                reason = self.on_spare_channel(partial(_look_up_exchange, exchange))
                if reason is not None:
                    refusals.exchanges[exchange] = f"exchange {exchange!r} cannot be published to: {reason}"
                    continue
                self.exchanges.add(exchange)
        return refusals

    def on_spare_channel(self, action: Callable[[Any], object]) -> str | None:
        """Run action on a throwaway channel: None when it succeeds, else the channel error's reason.

        An AMQP channel error (404 NOT_FOUND, 406 PRECONDITION_FAILED, ...) closes that
        channel only; on a virtual transport it is an error reply (Redis WRONGTYPE).
        """
        self.connection.connect()
        channel = self.connection.channel()
        try:
            action(channel)
            return None
        except self.connection.channel_errors as exc:
            return _reason(exc)
        finally:
            _close_quietly(channel)


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


def _broker_errors(connection: Connection) -> tuple[type[BaseException], ...]:
    """What a publish on this connection raises when the broker, not beatd, is at fault."""
    return (OSError, KombuError, *connection.connection_errors, *connection.channel_errors)


def _reason(exc: BaseException) -> str:
    """A broker's refusal in words, e.g. "NotFound: Basic.publish: (404) NOT_FOUND - no exchange 'x' ..."."""
    return f"{type(exc).__name__}: {exc}"


def _is_amqp(connection: Connection) -> bool:
    return bool(connection.transport.driver_type == "amqp")


def _close_quietly(resource: Any) -> None:
    # Closing after a broker failure may fail the same way; the resource is gone either way.
    with contextlib.suppress(Exception):
        resource.close()
