"""Messages a second into a local broker: beatd's Redis paths (Lua script, the old MULTI) against kombu and Celery.

Run: /tmp/venv/bin/python bench/bench_publish.py [--n 20000] [--redis-url ...] [--amqp-url ...]

Every Redis row starts from a flushed database and stops its clock when LLEN on the
Redis side shows all N messages, so a row cannot look fast by leaving work queued in
the client. "build+publish" rows include building the messages from fires; "publish"
rows time only the transport, on messages built beforehand.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from beatd.entry import Entry, Fire, Options
from beatd.publish import KombuTransport, Message, MessageBuilder, PublishResult, RedisTransport
from beatd.publish.kombu_transport import celery_queue
from beatd.schedules.interval import IntervalSchedule

QUEUE = "beatd-bench"
ORIGIN = "beatd@bench"
ENTRIES = 1000  # N messages are N / ENTRIES slots of each entry, as a busy beat sends them
# One for the whole run, as a daemon has one for its life: every row after the first
# finds the entries' templates made.
BUILDER = MessageBuilder(ORIGIN)


class MultiTransport(RedisTransport):
    """beatd's Redis path before issue 16, kept here only to compare: one MULTI/EXEC per batch.

    No high-water mark: a batch retried after a lost reply is pushed twice, and a
    refused LPUSH fails the whole call. Same envelope text, same keys, same bindings.
    """

    def _publish_batch(self, batch: Sequence[Message], offset: int, result: PublishResult) -> None:
        routes = self._resolve_exchanges(batch)
        # One LPUSH per list keeps each list's order: LPUSH k a b c is LPUSH k a; LPUSH k b; LPUSH k c.
        payloads_by_key: dict[str, list[str]] = {}
        for message in batch:
            queues = routes[message.exchange, message.routing_key] if message.exchange else [message.routing_key]
            payload = self.envelopes.json(message)
            for queue in queues:
                payloads_by_key.setdefault(self.keys.queue(queue, message.priority), []).append(payload)
        new_queues = {message.queue for message in batch} - self._bound
        with self._client.pipeline(transaction=True) as pipe:
            for queue in sorted(new_queues):
                member = self.keys.queue_binding(queue)
                pipe.sadd(self.keys.bindings(queue), member)
                pipe.sadd(self.keys.permanent_bindings(queue), member)
            for key, payloads in payloads_by_key.items():
                pipe.lpush(key, *payloads)
            pipe.execute()
        self._bound |= new_queues


@dataclass(frozen=True, slots=True)
class Row:
    method: str
    messages: int
    seconds: float

    def render(self) -> str:
        rate = self.messages / self.seconds
        return f"{self.method:<48} {self.messages:>8} {self.seconds:>9.3f} {rate:>11,.0f} {1e6 / rate:>9.1f}"


def make_fires(count: int) -> list[Fire]:
    entries = [
        Entry(
            name=f"bench-{index}",
            task="tasks.add",
            schedule=IntervalSchedule(every=timedelta(seconds=1)),
            args=(16, index),
            kwargs={"label": f"entry {index}"},
            options=Options(queue=QUEUE, expires=timedelta(minutes=5)),
        )
        for index in range(ENTRIES)
    ]
    start = datetime.now(UTC).replace(microsecond=0)
    return [
        Fire(entry=entries[index % ENTRIES], scheduled_at=start + timedelta(seconds=index // ENTRIES), publish_at=start)
        for index in range(count)
    ]


def build_all(fires: list[Fire]) -> list[Message]:
    now = datetime.now(UTC)
    return [BUILDER.build(fire, now) for fire in fires]


def timed_redis(url: str, count: int, method: str, run: Callable[[], None]) -> Row:
    """Flush, run, then wait until Redis holds all count messages in QUEUE."""
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    started = time.perf_counter()
    run()
    while client.llen(QUEUE) < count:
        time.sleep(0.001)
    elapsed = time.perf_counter() - started
    client.flushdb()
    client.close()
    return Row(method, count, elapsed)


def bench_redis(url: str, count: int) -> list[Row]:
    from celery import Celery
    from kombu import Connection, Producer

    fires = make_fires(count)
    rows: list[Row] = []

    messages = build_all(fires)
    # Each row starts from a flushed database: the Lua path's marks too, so it pushes every run.
    for label, transport in (("beatd Redis Lua script", RedisTransport(url)),
                             ("beatd Redis MULTI (before #16)", MultiTransport(url))):
        rows.append(timed_redis(url, count, f"{label}: build+publish",
                                lambda transport=transport: transport.publish(build_all(fires))))
        rows.append(timed_redis(url, count, f"{label}: publish", lambda transport=transport: transport.publish(messages)))
        transport.close()

    through_kombu = KombuTransport(url)
    rows.append(timed_redis(url, count, "beatd kombu transport: build+publish", lambda: through_kombu.publish(build_all(fires))))
    through_kombu.close()

    # The floor kombu sets: one Producer.publish per message, message built beforehand.
    with Connection(url) as connection:
        producer = Producer(connection.default_channel, auto_declare=False)
        celery_queue(QUEUE).bind(connection.default_channel).declare()

        def publish_with_kombu() -> None:
            for message in messages:
                properties = dict(message.properties)
                producer.publish(
                    message.body,
                    routing_key=QUEUE,
                    content_type=message.content_type,
                    content_encoding=message.content_encoding,
                    headers=message.headers,
                    delivery_mode=properties.pop("delivery_mode"),
                    priority=properties.pop("priority"),
                    expiration=properties.pop("expiration", None),
                    **properties,
                )

        rows.append(timed_redis(url, count, "kombu Producer.publish: publish", publish_with_kombu))

    app = Celery("bench", broker=url, set_as_current=False)
    app.conf.task_ignore_result = True

    def send_with_celery() -> None:
        with app.producer_or_acquire() as producer:
            for fire in fires:
                entry = fire.entry
                app.send_task(entry.task, args=entry.args, kwargs=entry.kwargs, queue=QUEUE, expires=300, producer=producer)

    rows.append(timed_redis(url, count, "celery app.send_task: build+publish", send_with_celery))
    app.close()
    return rows


def bench_amqp(url: str, count: int) -> list[Row]:
    """KombuTransport with publisher confirms: every publish waits for the broker's ack."""
    from kombu import Connection

    messages = build_all(make_fires(count))
    queue = celery_queue(QUEUE)
    with Connection(url) as connection:
        queue.bind(connection.default_channel).declare()
        queue.bind(connection.default_channel).purge()
    transport = KombuTransport(url)
    started = time.perf_counter()
    transport.publish(messages)
    elapsed = time.perf_counter() - started
    transport.close()
    with Connection(url) as connection:
        declared = queue.bind(connection.default_channel).queue_declare(passive=True)
        if declared.message_count != count:
            raise SystemExit(f"RabbitMQ holds {declared.message_count} messages in {QUEUE!r}, expected {count}")
        queue.bind(connection.default_channel).delete()
    return [Row("beatd kombu transport, AMQP confirms: publish", count, elapsed)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=20_000, help="messages per row (default 20000)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="a database this bench may flush")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--amqp-n", type=int, default=5_000, help="messages for the AMQP row; 0 skips it")
    args = parser.parse_args(argv)

    rows = bench_redis(args.redis_url, args.n)
    if args.amqp_n:
        rows += bench_amqp(args.amqp_url, args.amqp_n)

    print(f"{'method':<48} {'messages':>8} {'seconds':>9} {'msg/s':>11} {'us/msg':>9}")
    print("-" * 89)
    for row in rows:
        print(row.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
