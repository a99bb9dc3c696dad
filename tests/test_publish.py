"""Message building against Celery's own as_task_v2, and the transports against real brokers."""

from __future__ import annotations

import gc
import json
import os
import time
import uuid
import weakref
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_examples import examples_at_least

from beatd.entry import Entry, Fire, Options, Source
from beatd.errors import BackendUnavailable, ConfigError
from beatd.publish import KombuTransport, MessageBuilder, PublishResult, RedisKeys, RedisTransport, open_transport
from beatd.publish.base import PublishFailed
from beatd.publish.kombu_transport import NACK_REASON, celery_queue
from beatd.publish.message import BEATD_HEADERS, PROTOCOL_HEADERS, Message, expiration_ms
from beatd.publish.redis_transport import MARKS_KEY, EnvelopeForms, reference_envelope_json
from beatd.publish.saferepr import saferepr
from beatd.schedules.interval import IntervalSchedule

BERLIN = ZoneInfo("Europe/Berlin")
EVERY_30S = IntervalSchedule(every=timedelta(seconds=30))
SCHEDULED = datetime(2026, 3, 30, 11, 30, tzinfo=UTC)
ORIGIN = "beatd@test-host"
BUILDER = MessageBuilder(ORIGIN)

# The conftest's Redis database (9) is flushed by every test that uses it, including
# other test runs sharing the server; these tests use a database of their own and
# unique queue names, and delete their keys afterwards.
PUBLISH_TEST_DB = 14


def make_entry(name: str = "add-every-30s", **fields: Any) -> Entry:
    defaults: dict[str, Any] = {"task": "tasks.add", "schedule": EVERY_30S, "args": (16, 16)}
    return Entry(name=name, **{**defaults, **fields})


def make_fire(entry: Entry, scheduled_at: datetime = SCHEDULED) -> Fire:
    return Fire(entry=entry, scheduled_at=scheduled_at, publish_at=scheduled_at)


def build(entry: Entry, scheduled_at: datetime = SCHEDULED, now: datetime | None = None) -> Message:
    return BUILDER.build(make_fire(entry, scheduled_at), now or scheduled_at)


# --- message building ---------------------------------------------------------------


def test_headers_are_protocol_v2_plus_beatd_headers() -> None:
    entry = make_entry(kwargs={"format": "pdf"}, options=Options(headers={"tenant": "acme"}))
    task_id = str(
        uuid.uuid5(uuid.UUID("6f1c9a52-43f4-5c8e-9d0b-6265617464e1"), "add-every-30s\x002026-03-30T11:30:00+00:00")
    )

    message = build(entry)

    assert message.headers == {
        "lang": "py",
        "task": "tasks.add",
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": "(16, 16)",
        "kwargsrepr": "{'format': 'pdf'}",
        "origin": ORIGIN,
        "ignore_result": False,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
        "beatd_entry": "add-every-30s",
        "beatd_scheduled_at": "2026-03-30T11:30:00+00:00",
        "periodic_task_name": "add-every-30s",
        "tenant": "acme",
    }
    assert message.properties == {"correlation_id": task_id, "reply_to": "", "delivery_mode": 2, "priority": 0}
    assert (message.content_type, message.content_encoding) == ("application/json", "utf-8")


def test_message_equals_what_celery_as_task_v2_builds() -> None:
    """Celery itself is the oracle: same headers (ours add BEATD_HEADERS), properties and body."""
    from celery import Celery

    celery_app = Celery("oracle", set_as_current=False)
    entry = make_entry(
        args=(16, [1, 2], {"deep": {"er": {"est": 1}}}),
        kwargs={"format": "pdf", "when": "x" * 2000},
        options=Options(expires=timedelta(hours=1), time_limit=30, soft_time_limit=20),
    )
    message = build(entry)

    oracle = celery_app.amqp.as_task_v2(
        message.task_id,
        "tasks.add",
        entry.args,
        entry.kwargs,
        expires=message.headers["expires"],
        time_limit=30,
        soft_time_limit=20,
        origin=ORIGIN,
        ignore_result=False,
    )

    ours = {name: value for name, value in message.headers.items() if name not in BEATD_HEADERS}
    assert ours == oracle.headers
    assert list(ours) == list(oracle.headers) == list(PROTOCOL_HEADERS)
    assert message.properties["correlation_id"] == oracle.properties["correlation_id"]
    assert message.properties["reply_to"] == oracle.properties["reply_to"]
    assert json.loads(message.body) == json.loads(json.dumps(oracle.body))


@pytest.mark.parametrize(
    ("other_name", "other_instant", "same"),
    [
        ("add-every-30s", SCHEDULED, True),
        ("add-every-30s", SCHEDULED.astimezone(BERLIN), True),
        ("add-every-30s", SCHEDULED + timedelta(seconds=30), False),
        ("add-every-30s", SCHEDULED + timedelta(microseconds=1), False),
        ("add-every-31s", SCHEDULED, False),
    ],
    ids=["same-run", "same-instant-other-zone", "next-slot", "one-microsecond-later", "other-entry"],
)
def test_task_id_is_stable_per_entry_and_instant(other_name: str, other_instant: datetime, same: bool) -> None:
    first = build(make_entry("add-every-30s"))
    second = build(make_entry(other_name), other_instant)

    assert (first.task_id == second.task_id) is same
    assert first.headers["root_id"] == first.properties["correlation_id"] == first.task_id
    uuid.UUID(first.task_id)


@pytest.mark.parametrize(
    ("published_after", "expiration_s"),
    [(timedelta(0), 3600.0), (timedelta(minutes=10), 3000.0), (timedelta(hours=1), 0.0), (timedelta(hours=5), 0.0)],
    ids=["on-time", "ten-minutes-late", "exactly-expired", "long-expired"],
)
def test_expires_counts_from_the_scheduled_instant(published_after: timedelta, expiration_s: float) -> None:
    entry = make_entry(options=Options(expires=timedelta(hours=1)))

    message = build(entry, now=SCHEDULED + published_after)

    assert message.headers["expires"] == "2026-03-30T12:30:00+00:00"
    assert message.properties["expiration"] == expiration_s


def test_expires_across_a_dst_change_is_real_elapsed_time() -> None:
    # Europe/Berlin falls back at 2026-10-25 03:00 CEST (01:00 UTC) to 02:00 CET.
    scheduled = datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN)  # 23:30 UTC the day before
    entry = make_entry(options=Options(expires=timedelta(hours=2)))

    message = build(entry, scheduled_at=scheduled)

    assert message.headers["expires"] == "2026-10-25T01:30:00+00:00"
    assert message.headers["beatd_scheduled_at"] == "2026-10-24T23:30:00+00:00"
    assert message.properties["expiration"] == 7200.0


@pytest.mark.parametrize(
    ("options", "timelimit"),
    [
        (Options(), [None, None]),
        (Options(time_limit=30, soft_time_limit=20.5), [30, 20.5]),
        (Options(soft_time_limit=5), [None, 5]),
    ],
    ids=["none", "both", "soft-only"],
)
def test_timelimit_header_is_hard_then_soft(options: Options, timelimit: list[float | None]) -> None:
    assert build(make_entry(options=options)).headers["timelimit"] == timelimit


@pytest.mark.parametrize(
    ("options", "queue", "exchange", "routing_key"),
    [
        (Options(), "celery", "", "celery"),
        (Options(queue="reports"), "reports", "", "reports"),
        (Options(queue="reports", routing_key="ignored"), "reports", "", "reports"),
        (Options(queue="reports", exchange="ignored"), "reports", "", "reports"),
        (
            Options(queue="reports", exchange="topics", routing_key="reports.daily"),
            "reports",
            "topics",
            "reports.daily",
        ),
        (Options(exchange="topics", routing_key="any.key"), "celery", "topics", "any.key"),
    ],
    ids=["default", "queue", "key-without-exchange", "exchange-without-key", "exchange-and-key", "exchange-no-queue"],
)
def test_routing_follows_celery_send_task_message(
    options: Options, queue: str, exchange: str, routing_key: str
) -> None:
    message = build(make_entry(options=options))

    assert (message.queue, message.exchange, message.routing_key) == (queue, exchange, routing_key)


def test_routing_matches_celery_for_the_same_options() -> None:
    """Celery's router and send_task_message are the oracle for queue/exchange/key."""
    from celery import Celery

    celery_app = Celery("oracle", set_as_current=False)
    seen: list[dict[str, Any]] = []

    class RecordingProducer:
        def publish(self, body: Any, **kwargs: Any) -> None:
            seen.append(kwargs)

    for options in (
        Options(),
        Options(queue="reports"),
        Options(queue="reports", exchange="ex", routing_key="rk"),
        Options(queue="reports", exchange="ex"),
    ):
        given_options = {
            name: value for name in ("queue", "exchange", "routing_key") if (value := getattr(options, name))
        }
        routed = celery_app.amqp.router.route(dict(given_options), "tasks.add")
        celery_message = celery_app.amqp.as_task_v2("id", "tasks.add", (), {})
        celery_app.amqp.send_task_message(RecordingProducer(), "tasks.add", celery_message, **routed)
        ours = build(make_entry(options=options))
        assert (ours.exchange, ours.routing_key) == (seen[-1]["exchange"], seen[-1]["routing_key"]), options


def test_entries_of_the_same_name_keep_their_own_arguments() -> None:
    # Message parts are kept per entry object; a reloaded entry must not see the old ones.
    before = build(make_entry(args=(1,), options=Options(queue="old")))
    after = build(make_entry(args=(2,), options=Options(queue="new")))

    assert (json.loads(before.body)[0], before.headers["argsrepr"], before.queue) == ([1], "(1,)", "old")
    assert (json.loads(after.body)[0], after.headers["argsrepr"], after.queue) == ([2], "(2,)", "new")


def test_priority_defaults_to_zero_and_is_carried() -> None:
    assert build(make_entry()).priority == 0
    assert build(make_entry(options=Options(priority=5))).properties["priority"] == 5


def test_body_is_json_and_dates_use_kombus_tagged_form() -> None:
    from kombu.utils.json import loads as kombu_json_loads

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    entry = make_entry(args=(1, "two"), kwargs={"day": date(2026, 1, 2), "when": when, "amount": Decimal("1.50")})

    message = build(entry)

    assert message.content_type == "application/json"
    assert not message.body.startswith(b"\x80")  # a pickle stream starts with PROTO
    assert json.loads(message.body)[0] == [1, "two"]
    assert json.loads(message.body)[2] == {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    assert kombu_json_loads(message.body)[1] == {"day": date(2026, 1, 2), "when": when, "amount": Decimal("1.50")}


def test_arguments_json_cannot_carry_are_a_config_error() -> None:
    entry = make_entry(kwargs={"callback": object()}, source=Source(path="schedules/a.yaml", line=7))

    with pytest.raises(
        ConfigError, match=r"^schedules/a.yaml:7: entry 'add-every-30s': args and kwargs must be JSON-serializable"
    ):
        build(entry)


def test_custom_header_may_not_replace_a_protocol_header() -> None:
    entry = make_entry(options=Options(headers={"id": "mine", "beatd_entry": "x", "tenant": "ok"}))

    with pytest.raises(ConfigError, match=r"entry 'add-every-30s': options.headers may not set 'beatd_entry', 'id'"):
        build(entry)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="must be timezone-aware"):
        BUILDER.build(make_fire(make_entry()), datetime(2026, 3, 30, 12, 0))


def test_argsrepr_is_truncated_like_celery() -> None:
    from celery.utils.saferepr import saferepr as celery_saferepr

    entry = make_entry(args=tuple(range(2000)), kwargs={"text": "word " * 400, "nested": [[[[["deep"]]]]]})

    message = build(entry)

    assert message.headers["argsrepr"] == celery_saferepr(entry.args, 1024, maxlevels=3)
    assert message.headers["kwargsrepr"] == celery_saferepr(entry.kwargs, 1024, maxlevels=3)
    assert message.headers["argsrepr"].endswith(", ...)")


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.sampled_from("ab '\"\\\né"), max_size=30),
    st.binary(max_size=12),
)
NESTED = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.lists(children, max_size=6).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), children, max_size=5),
        st.sets(st.integers(), max_size=4),
        st.frozensets(st.text(max_size=3), max_size=3),
    ),
    max_leaves=30,
)


@examples_at_least(350)
@settings(max_examples=400, deadline=None)
@given(
    value=NESTED,
    maxlen=st.one_of(st.none(), st.integers(min_value=1, max_value=120)),
    maxlevels=st.integers(min_value=0, max_value=4),
)
def test_saferepr_matches_celery(value: Any, maxlen: int | None, maxlevels: int) -> None:
    from celery.utils.saferepr import saferepr as celery_saferepr

    assert saferepr(value, maxlen, maxlevels) == celery_saferepr(value, maxlen, maxlevels)


# --- the Redis fast path --------------------------------------------------------------


@pytest.fixture
def publish_redis_url(redis_url: str) -> Iterator[str]:
    """A Redis URL on PUBLISH_TEST_DB; every key of the test's unique queues is deleted after."""
    import redis

    url = redis_url.rsplit("/", 1)[0] + f"/{PUBLISH_TEST_DB}"
    yield url
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"*{TOKEN_PREFIX}*"):
        client.delete(key)
    # The mark hash is shared with other test runs: only this run's (unique) entry names go.
    ours = [name for name, _ in client.hscan_iter(MARKS_KEY, match=f"*{TOKEN_PREFIX}*")]
    if ours:
        client.hdel(MARKS_KEY, *ours)
    client.close()


TOKEN_PREFIX = "beatd-test-"


def unique(name: str) -> str:
    return f"{name}.{TOKEN_PREFIX}{uuid.uuid4().hex[:10]}"


def redis_snapshot(url: str, token: str) -> dict[str, Any]:
    """Every key naming token, decoded, with the run-specific delivery tags blanked."""
    import redis

    client = redis.Redis.from_url(url)
    snapshot: dict[str, Any] = {}
    for key in sorted(client.scan_iter(match=f"*{token}*")):
        kind = client.type(key).decode()
        if kind == "list":
            envelopes = [json.loads(raw) for raw in client.lrange(key, 0, -1)]
            for envelope in envelopes:
                envelope["properties"]["delivery_tag"] = "<tag>"
            snapshot[key.decode()] = envelopes
        elif kind == "hash":
            snapshot[key.decode()] = {field.decode(): value.decode() for field, value in client.hgetall(key).items()}
        else:
            snapshot[key.decode()] = sorted(member.decode() for member in client.smembers(key))
        client.delete(key)
    client.close()
    return snapshot


def sample_messages(queue: str, reports: str) -> list[Message]:
    when = datetime.now(UTC).replace(microsecond=0)
    entries = [
        make_entry(unique("plain"), options=Options(queue=queue), kwargs={"x": [1, 2]}),
        make_entry(unique("routed"), options=Options(queue=reports, priority=5, expires=timedelta(hours=1), time_limit=30)),
        make_entry(unique("urgent"), options=Options(queue=reports, priority=9, headers={"tenant": "acme"})),
        make_entry(unique("low"), options=Options(queue=reports, priority=1)),
    ]
    return [build(entry, when + timedelta(seconds=offset), now=when) for offset in range(2) for entry in entries]


JSON_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | JSON_TEXT,
                           lambda children: st.lists(children, max_size=3) | st.dictionaries(JSON_TEXT, children, max_size=3),
                           max_leaves=6)


@examples_at_least(180)
@settings(max_examples=200, deadline=None)
@given(name=st.text(min_size=1, max_size=20), origin=JSON_TEXT,
       args=st.lists(JSON_VALUES, max_size=3), kwargs=st.dictionaries(JSON_TEXT, JSON_VALUES, max_size=3),
       headers=st.dictionaries(JSON_TEXT.map(lambda text: f"x-{text}"), JSON_VALUES, max_size=2),
       expires_s=st.none() | st.integers(min_value=1, max_value=10**6), late_s=st.integers(min_value=0, max_value=10**6))
def test_fast_envelope_is_the_reference_envelope(name: str, origin: str, args: list[Any], kwargs: dict[str, Any],
                                                 headers: dict[str, Any], expires_s: int | None, late_s: int) -> None:
    # The fast path fills per-run values into pre-rendered text; whatever an entry holds
    # (braces, quotes, markers-like text, any Unicode), the text must be what encoding
    # the whole envelope gives.
    expires = timedelta(seconds=expires_s) if expires_s is not None else None
    entry = make_entry(name, args=tuple(args), kwargs=kwargs, options=Options(headers=headers, expires=expires))
    message = MessageBuilder(origin).build(make_fire(entry), SCHEDULED + timedelta(seconds=late_s))
    envelopes = EnvelopeForms()
    fast, reference = json.loads(envelopes.json(message)), json.loads(reference_envelope_json(message))
    assert fast["properties"].pop("delivery_tag") != reference["properties"].pop("delivery_tag")
    assert fast == reference
    assert envelopes.json(message).split('"delivery_tag"')[0] == reference_envelope_json(message).split('"delivery_tag"')[0]


def test_fast_path_writes_exactly_what_kombus_producer_writes(publish_redis_url: str) -> None:
    queue, reports = unique("plain"), unique("reports")
    token = queue.rsplit(".", 1)[1]
    reports_token = reports.rsplit(".", 1)[1]
    messages = sample_messages(queue, reports)

    with RedisTransport(publish_redis_url) as fast:
        fast.publish(messages)
    written_fast = {**redis_snapshot(publish_redis_url, token), **redis_snapshot(publish_redis_url, reports_token)}
    with KombuTransport(publish_redis_url) as through_kombu:
        through_kombu.publish(messages)
    written_by_kombu = {**redis_snapshot(publish_redis_url, token), **redis_snapshot(publish_redis_url, reports_token)}

    assert written_fast == written_by_kombu
    # The keys kombu uses: the bare queue for priority 0-2, "queue\x06\x16<step>" above,
    # and the binding sets of each queue's direct exchange.
    assert sorted(written_fast) == sorted(
        [
            queue,
            reports,
            f"{reports}\x06\x163",
            f"{reports}\x06\x169",
            f"_kombu.binding.{queue}",
            f"_kombu.binding.{reports}",
            f"_kombu.binding_permanent.{queue}",
            f"_kombu.binding_permanent.{reports}",
        ]
    )


def test_fast_path_messages_are_consumed_by_kombus_redis_consumer(publish_redis_url: str) -> None:
    from kombu import Connection

    queue, reports = unique("plain"), unique("reports")
    messages = sample_messages(queue, reports)

    with RedisTransport(publish_redis_url) as transport:
        transport.publish(messages)

    received: dict[str, Any] = {}
    with Connection(publish_redis_url) as connection:
        for name in (queue, reports):
            simple = connection.SimpleQueue(name)
            for _ in range(sum(message.queue == name for message in messages)):
                consumed = simple.get(timeout=5)
                received[consumed.headers["id"]] = consumed
                consumed.ack()
            simple.close()

    assert len(received) == len(messages)
    for message in messages:
        consumed = received[message.task_id]
        assert consumed.payload == json.loads(message.body)
        assert consumed.headers == message.headers
        assert consumed.delivery_info == {"exchange": "", "routing_key": message.queue}
        assert consumed.properties["priority"] == message.priority
        assert consumed.properties["correlation_id"] == message.task_id
        assert consumed.properties["delivery_mode"] == 2
        if "expiration" in message.properties:
            assert consumed.properties["expiration"] == expiration_ms(message.properties["expiration"])


def _scripts_run(client: Any) -> int:
    """How many EVALSHA and EVAL calls the server has run (INFO commandstats)."""
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval"))


def test_fast_path_keeps_order_and_sends_one_script_per_batch(publish_redis_url: str) -> None:
    import redis

    queue = unique("bulk")
    entry = make_entry(unique("bulk"), options=Options(queue=queue))
    messages = [build(entry, SCHEDULED + timedelta(seconds=30 * index)) for index in range(2501)]
    client = redis.Redis.from_url(publish_redis_url)

    with RedisTransport(publish_redis_url, batch_size=1000) as transport:
        transport.publish(messages[:1])  # binds the queue
        before = _scripts_run(client)
        result = transport.publish(messages[1:])
        scripts = _scripts_run(client) - before

    assert scripts == 3
    assert result == PublishResult()
    # Workers BRPOP from the right: the oldest message must sit at the tail.
    consumed_order = [json.loads(raw)["headers"]["id"] for raw in reversed(client.lrange(queue, 0, -1))]
    assert consumed_order == [message.task_id for message in messages]
    client.close()


def test_fast_path_loads_its_script_again_after_a_script_flush(publish_redis_url: str) -> None:
    import redis

    queue = unique("flushed")
    entry = make_entry(unique("flushed"), options=Options(queue=queue))
    messages = [build(entry, SCHEDULED + timedelta(seconds=30 * index)) for index in range(30)]
    client = redis.Redis.from_url(publish_redis_url)

    with RedisTransport(publish_redis_url, batch_size=10) as transport:
        transport.publish(messages[:10])
        client.script_flush()
        result = transport.publish(messages[10:])

    assert result == PublishResult()
    assert [json.loads(raw)["headers"]["id"] for raw in reversed(client.lrange(queue, 0, -1))] == [
        message.task_id for message in messages]
    client.close()


def test_fast_path_routes_a_named_exchange_through_its_bindings(
    publish_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    queue, exchange = unique("bound"), unique("ex")
    client = redis.Redis.from_url(publish_redis_url)
    client.sadd(f"_kombu.binding.{exchange}", f"daily\x06\x16\x06\x16{queue}")
    lost_name = unique("lost")
    routed = build(make_entry(unique("routed"), options=Options(queue=queue, exchange=exchange, routing_key="daily")))
    unroutable = build(make_entry(lost_name, options=Options(queue=queue, exchange=exchange, routing_key="weekly")))

    with RedisTransport(publish_redis_url) as transport:
        transport.publish([routed, unroutable])

    envelopes = [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
    assert [envelope["headers"]["id"] for envelope in envelopes] == [routed.task_id]
    assert envelopes[0]["properties"]["delivery_info"] == {"exchange": exchange, "routing_key": "daily"}
    assert "dropped unroutable message" in caplog.text and f"entry {lost_name}" in caplog.text
    client.close()


@pytest.mark.parametrize(
    ("priority", "suffix"),
    [
        (0, ""),
        (2, ""),
        (3, "\x06\x163"),
        (5, "\x06\x163"),
        (8, "\x06\x166"),
        (9, "\x06\x169"),
        (42, "\x06\x169"),
        (-1, ""),
    ],
)
def test_priority_picks_kombus_list_for_its_step(priority: int, suffix: str) -> None:
    assert RedisKeys().queue("q", priority) == f"q{suffix}"


@pytest.mark.parametrize(
    ("options", "priority", "key"),
    [
        ({"global_keyprefix": "app1:"}, 0, "app1:q"),
        ({"global_keyprefix": "app1:"}, 9, "app1:q\x06\x169"),
        ({"sep": ":"}, 4, "q:3"),
        ({"priority_steps": list(range(10))}, 4, "q\x06\x164"),
        ({"global_keyprefix": "p.", "sep": "|", "priority_steps": [0, 5]}, 7, "p.q|5"),
        ({"queue_order_strategy": "priority", "visibility_timeout": 60}, 5, "q\x06\x163"),
    ],
    ids=["prefix", "prefix-priority", "sep", "ten-steps", "all-three", "options-that-do-not-move-messages"],
)
def test_transport_options_move_queue_keys_as_kombu_does(options: dict[str, Any], priority: int, key: str) -> None:
    assert RedisKeys.of(options).queue("q", priority) == key


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"global_keyprefix": 7}, "global_keyprefix 7 must be a string"),
        ({"sep": None}, "sep None must be a string"),
        ({"priority_steps": [9, 0]}, r"priority_steps \[9, 0\] must be a non-empty ascending list of integers"),
        ({"priority_steps": "0369"}, "priority_steps '0369' must be"),
        ({"priority_steps": []}, r"priority_steps \[\] must be"),
    ],
    ids=["prefix-not-text", "sep-none", "steps-descending", "steps-text", "steps-empty"],
)
def test_transport_options_kombu_could_not_use_are_a_config_error(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^broker transport option {message}"):
        RedisKeys.of(options)


def test_transport_options_put_messages_where_kombu_with_them_reads_them(publish_redis_url: str) -> None:
    from kombu import Connection

    # Given a worker's options that move every key: a prefix, another separator, more steps
    prefix = unique("app") + ":"
    options = {"global_keyprefix": prefix, "sep": ":", "priority_steps": [0, 2, 4, 6, 8, 9],
               "queue_order_strategy": "priority"}
    queue = unique("prefixed")
    when = SCHEDULED.replace(year=datetime.now(UTC).year + 1)
    messages = [build(make_entry(unique(f"p{priority}"), options=Options(queue=queue, priority=priority)), when)
                for priority in (9, 5, 3, 0)]
    token = prefix.split(".")[-1].rstrip(":")

    # When beatd publishes them, and kombu's own Redis transport publishes them with the same options
    with RedisTransport(publish_redis_url, transport_options=options) as fast:
        fast.publish(messages)
    written_fast = redis_snapshot(publish_redis_url, token)
    with KombuTransport(publish_redis_url, transport_options=options) as through_kombu:
        through_kombu.publish(messages)
    written_by_kombu = redis_snapshot(publish_redis_url, token)

    # Then both wrote the same keys and values, and the marks sit under the prefix too
    marks = written_fast.pop(f"{prefix}{MARKS_KEY}")
    assert marks == {message.template.entry.name: str(message.scheduled_us) for message in messages}
    assert written_fast == written_by_kombu
    assert sorted(written_fast) == sorted([f"{prefix}{queue}", f"{prefix}{queue}:2", f"{prefix}{queue}:4",
                                           f"{prefix}{queue}:9", f"{prefix}_kombu.binding.{queue}",
                                           f"{prefix}_kombu.binding_permanent.{queue}"])
    # And a kombu consumer with those options gets every one, lowest number first
    with RedisTransport(publish_redis_url, transport_options=options) as fast:
        fast.publish([build(message.template.entry, when + timedelta(seconds=30)) for message in messages])
    with Connection(publish_redis_url, transport_options=options) as connection:
        simple = connection.SimpleQueue(queue)
        consumed = []
        for _ in messages:
            received = simple.get(timeout=5)
            consumed.append(received.properties["priority"])
            received.ack()
        simple.close()
    assert consumed == [0, 3, 5, 9]


@pytest.mark.services
@pytest.mark.slow
def test_a_celery_worker_with_transport_options_runs_what_the_redis_path_publishes(
    publish_redis_url: str, processes: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a real worker whose app sets a key prefix, another separator and more steps
    options = {"global_keyprefix": unique("worker") + ":", "sep": ":", "priority_steps": [0, 2, 4, 6, 8, 9]}
    monkeypatch.setenv("BEATD_TEST_TRANSPORT_OPTIONS", json.dumps(options))
    queue = unique("worker-queue")
    worker = processes.worker(publish_redis_url, [queue], tmp_path / "worker", "options")
    messages = [build(make_entry(unique(f"p{priority}"), task="tests.record", options=Options(queue=queue, priority=priority)))
                for priority in (0, 5, 9)]

    # When beatd publishes with the same options
    with open_transport(publish_redis_url, transport_options=options) as transport:
        transport.publish(messages)

    # Then the worker runs every one
    worker.wait_ran_ids([message.task_id for message in messages], "run the runs published under the options")


def test_the_same_batch_published_twice_is_queued_once(publish_redis_url: str) -> None:
    import redis

    # Given a catch-up batch: three slots of one entry, one of another
    queue = unique("twice")
    # (a name JSON has to escape, to show the script's mark field is the name itself)
    first, second = (make_entry(unique(name), options=Options(queue=queue)) for name in ("first", 'é "\\\n☃\x01'))
    slots = [SCHEDULED + timedelta(seconds=30 * index) for index in range(3)]
    messages = [build(first, slot) for slot in slots] + [build(second, slots[0])]

    # When it is published, then again (a retry after a lost reply), then by another
    # transport (a new leader re-sending what the old one never recorded)
    with RedisTransport(publish_redis_url) as transport:
        results = [transport.publish(messages), transport.publish(messages)]
    with RedisTransport(publish_redis_url) as successor:
        results.append(successor.publish(messages))
        # An older run than the newest one sent is not pushed either
        results.append(successor.publish([build(first, SCHEDULED - timedelta(seconds=30))]))

    # Then each run is in the queue once, and the repeats say they were already sent
    assert results == [PublishResult(), PublishResult(already_sent=4), PublishResult(already_sent=4),
                       PublishResult(already_sent=1)]
    client = redis.Redis.from_url(publish_redis_url)
    queued = [json.loads(raw)["headers"]["id"] for raw in reversed(client.lrange(queue, 0, -1))]
    assert queued == [message.task_id for message in messages]
    assert client.hget(MARKS_KEY, first.name) == str(messages[2].scheduled_us).encode()
    assert client.hget(MARKS_KEY, second.name) == str(messages[3].scheduled_us).encode()
    client.close()


def test_a_retry_after_a_lost_reply_pushes_nothing_twice(processes: Any, tmp_path: Any) -> None:
    import signal

    import redis

    # Given a private Redis that stops answering (SIGSTOP) once the script is loaded
    server = processes.redis_server(tmp_path / "redis")
    entry = make_entry(unique("hung"), options=Options(queue="celery"))
    messages = [build(entry, SCHEDULED + timedelta(seconds=30 * index)) for index in range(5)]
    client = redis.Redis.from_url(server.url)
    with RedisTransport(server.url, socket_timeout_s=0.5) as transport:
        transport.publish(messages[:1])
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            # When the publish times out: the script sits in the hung server's socket buffer
            with pytest.raises(PublishFailed) as failure:
                transport.publish(messages)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        assert failure.value.published == 0
        # and the server, resumed, runs it after all
        deadline = time.monotonic() + 10
        while client.llen("celery") < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        # Then the retry pushes nothing: every run is reported already sent
        assert transport.publish(messages) == PublishResult(already_sent=5)
    queued = [json.loads(raw)["headers"]["id"] for raw in reversed(client.lrange("celery", 0, -1))]
    assert queued == [message.task_id for message in messages]
    client.close()


def test_a_list_of_another_type_refuses_only_its_messages(publish_redis_url: str) -> None:
    import redis

    # Given a good queue and one whose key holds a string (LPUSH answers WRONGTYPE)
    good, broken = unique("good"), unique("broken")
    client = redis.Redis.from_url(publish_redis_url)
    client.set(broken, "not a list")
    one, bad, other = (make_entry(unique(name), options=Options(queue=queue))
                       for name, queue in (("one", good), ("bad", broken), ("other", good)))
    slots = [SCHEDULED, SCHEDULED + timedelta(seconds=30)]
    messages = [build(entry, slot) for slot in slots for entry in (one, bad, other)]

    # When the batch is published, and again
    with RedisTransport(publish_redis_url) as transport:
        result = transport.publish(messages)
        retried = transport.publish(messages)

    # Then the bad entry's messages are refused with Redis's reason, the others are queued once
    assert sorted(result.refused) == [1, 4] and result.already_sent == 0
    assert all(reason.startswith(f"WRONGTYPE {broken} holds a string") for reason in result.refused.values())
    assert retried.refused == result.refused and retried.already_sent == 4
    queued = [json.loads(raw)["headers"]["id"] for raw in reversed(client.lrange(good, 0, -1))]
    assert queued == [message.task_id for index, message in enumerate(messages) if index not in (1, 4)]
    assert client.get(broken) == b"not a list"
    assert client.hget(MARKS_KEY, bad.name) is None  # a refused run does not move its mark
    client.close()


def test_a_redis_out_of_memory_refuses_the_batch_and_moves_no_mark(processes: Any, tmp_path: Any) -> None:
    import redis

    # Given a private Redis already past its maxmemory (noeviction: writes answer OOM)
    server = processes.redis_server(tmp_path / "redis")
    client = redis.Redis.from_url(server.url)
    client.set("ballast", "x" * 2_000_000)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1mb")
    entry = make_entry(unique("oom"), options=Options(queue="celery"))
    messages = [build(entry, SCHEDULED + timedelta(seconds=30 * index)) for index in range(3)]

    with RedisTransport(server.url) as transport:
        # When a batch is published
        refused = transport.publish(messages)
        # Then every message is refused with Redis's OOM error, and nothing is marked sent
        assert sorted(refused.refused) == [0, 1, 2]
        assert all(reason.startswith("OOM command not allowed") for reason in refused.refused.values())
        assert (client.llen("celery"), client.hget(MARKS_KEY, entry.name)) == (0, None)
        # And once Redis has room again, the same batch goes out, once
        client.config_set("maxmemory", "0")
        assert transport.publish(messages) == PublishResult()
        assert transport.publish(messages) == PublishResult(already_sent=3)
    assert client.llen("celery") == 3
    client.close()


def test_kombus_redis_transport_refuses_a_list_of_another_type_alone(publish_redis_url: str) -> None:
    import redis

    good, broken = unique("good"), unique("broken")
    client = redis.Redis.from_url(publish_redis_url)
    client.set(broken, "not a list")
    messages = [build(make_entry(unique("entry"), options=Options(queue=queue))) for queue in (good, broken, good)]

    with KombuTransport(publish_redis_url) as transport:
        result = transport.publish(messages)

    assert list(result.refused) == [1] and "WRONGTYPE" in result.refused[1]
    assert client.llen(good) == 2
    client.close()


def test_manual_runs_are_outside_the_mark(publish_redis_url: str) -> None:
    import redis

    queue = unique("manual")
    entry = make_entry(unique("manual"), options=Options(queue=queue))
    scheduled = build(entry)
    earlier = BUILDER.build(make_fire(entry, SCHEDULED - timedelta(hours=1)), SCHEDULED, manual=True)

    with RedisTransport(publish_redis_url) as transport:
        results = [transport.publish([scheduled]), transport.publish([earlier]), transport.publish([earlier]),
                   transport.publish([scheduled])]

    # A manual run older than the mark goes out, every time it is asked for, and moves nothing
    assert results == [PublishResult(), PublishResult(), PublishResult(), PublishResult(already_sent=1)]
    client = redis.Redis.from_url(publish_redis_url)
    assert client.llen(queue) == 3
    assert client.hget(MARKS_KEY, entry.name) == str(scheduled.scheduled_us).encode()
    client.close()


def test_forgotten_marks_let_a_re_added_entry_start_fresh(publish_redis_url: str) -> None:
    import redis

    queue = unique("forget")
    entry, kept = (make_entry(unique(name), options=Options(queue=queue)) for name in ("removed", "kept"))
    messages = [build(entry), build(kept)]

    with RedisTransport(publish_redis_url) as transport:
        transport.publish(messages)
        transport.forget_marks([entry.name, unique("never-sent")])
        again = transport.publish(messages)

    assert again == PublishResult(already_sent=1)
    client = redis.Redis.from_url(publish_redis_url)
    assert client.llen(queue) == 3
    assert client.hget(MARKS_KEY, kept.name) is not None
    client.close()


def test_a_mark_key_of_another_type_fails_the_whole_batch(publish_redis_url: str) -> None:
    import redis

    prefix = unique("broken-marks") + ":"
    client = redis.Redis.from_url(publish_redis_url)
    client.set(prefix + MARKS_KEY, "not a hash")
    queue = unique("unmarked")
    messages = [build(make_entry(unique("any"), options=Options(queue=queue)))]

    with RedisTransport(publish_redis_url, transport_options={"global_keyprefix": prefix}) as transport, \
            pytest.raises(PublishFailed) as failure:
        transport.publish(messages)

    assert (failure.value.published, failure.value.refused) == (0, {})
    assert f"the high-water mark key {prefix}{MARKS_KEY} holds a string, not a hash" in str(failure.value)
    assert client.llen(prefix + queue) == 0
    client.close()


@pytest.mark.parametrize(
    "url", ["redis://:secret@127.0.0.1:1/0", "amqp://guest:secret@127.0.0.1:1//"], ids=["redis", "amqp"]
)
def test_unreachable_broker_is_backend_unavailable_without_the_password(url: str) -> None:
    with open_transport(url) as transport, pytest.raises(BackendUnavailable) as failure:
        transport.publish([build(make_entry())])

    assert "after 0 of 1 messages were published" in str(failure.value)
    assert "secret" not in str(failure.value)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis://localhost:6379/0", RedisTransport),
        ("rediss://localhost:6380/1", RedisTransport),
        ("sentinel://localhost:26379", KombuTransport),
        ("amqp://guest:guest@localhost//", KombuTransport),
        ("sqla+sqlite:///beatd-broker.sqlite3", KombuTransport),
    ],
    ids=["redis", "rediss", "sentinel", "amqp", "sqla"],
)
def test_open_transport_chooses_by_scheme(url: str, kind: type) -> None:
    transport = open_transport(url, transport_options={"global_keyprefix": "app1:"})
    assert type(transport) is kind
    if isinstance(transport, RedisTransport):
        assert transport.keys.marks == f"app1:{MARKS_KEY}"
    transport.close()


@pytest.mark.services
@pytest.mark.slow
def test_the_idempotent_task_example_runs_a_repeated_id_once(publish_redis_url: str, tmp_path: Any) -> None:
    import subprocess
    import sys
    from pathlib import Path

    import redis

    # Given a worker of examples/idempotent_task, claiming ids in Redis
    example = Path(__file__).resolve().parent.parent / "examples" / "idempotent_task"
    queue = unique("idempotent")
    log_path = tmp_path / "worker.log"
    environment = {**os.environ, "BEATD_BROKER": publish_redis_url, "DEDUP_REDIS": publish_redis_url}
    command = [sys.executable, "-m", "celery", "-A", "tasks", "worker", "--pool", "solo", "--loglevel", "info",
               "--queues", queue, "--hostname", f"{queue}@%h", "--without-heartbeat", "--without-gossip",
               "--without-mingle"]
    message = build(make_entry(unique("weekly-report"), task="reports.send", args=(), kwargs={"recipient": "ops@example.com"},
                               options=Options(queue=queue)))
    with log_path.open("w") as log:
        worker = subprocess.Popen(command, cwd=example, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        # When the same run reaches the queue twice (kombu's transport keeps no mark)
        with KombuTransport(publish_redis_url) as transport:
            transport.publish([message])
            transport.publish([message])
        skipped = f"skipped task reports.send id {message.task_id}"
        deadline = time.monotonic() + 30
        while skipped not in log_path.read_text() and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.1)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        client = redis.Redis.from_url(publish_redis_url)
        client.delete(f"ran:reports.send:{message.task_id}")
        client.close()

    # Then the report was sent once and the copy skipped
    text = log_path.read_text()
    assert skipped in text, text[-3000:]
    assert text.count("sent the report to ops@example.com") == 1
    assert f"(periodic task {message.template.entry.name})" in text


# --- kombu on RabbitMQ and SQL ---------------------------------------------------------


@pytest.fixture
def amqp_queues(amqp_url: str) -> Iterator[list[str]]:
    """Names for test queues on RabbitMQ; the queues and their exchanges are deleted after."""
    from kombu import Connection

    names: list[str] = []
    yield names
    with Connection(amqp_url) as connection:
        channel = connection.channel()
        for name in names:
            channel.queue_delete(name)
            channel.exchange_delete(name)
        channel.close()


def drain(url: str, queue: str, count: int) -> list[Any]:
    from kombu import Connection

    with Connection(url) as connection:
        simple = connection.SimpleQueue(celery_queue(queue))
        received = []
        for _ in range(count):
            message = simple.get(timeout=5)
            message.ack()
            received.append(message)
        simple.close()
    return received


def test_amqp_publish_is_confirmed_and_declares_the_queue_like_a_worker(amqp_url: str, amqp_queues: list[str]) -> None:
    queue = unique("amqp")
    amqp_queues.append(queue)
    messages = [build(make_entry(options=Options(queue=queue, priority=5, expires=timedelta(hours=1))))]

    with KombuTransport(amqp_url) as transport:
        transport.publish(messages)

    # A worker's `-Q queue` declaration must agree with ours (else PRECONDITION_FAILED).
    (received,) = drain(amqp_url, queue, 1)
    assert received.headers["id"] == messages[0].task_id
    assert received.properties["priority"] == 5
    assert received.properties["expiration"] == "3600000"
    assert received.delivery_info["routing_key"] == queue


def declare_full_queue(amqp_url: str, queue: str) -> None:
    """A queue that holds nothing and makes RabbitMQ nack every publish to it."""
    from kombu import Connection, Exchange, Queue

    arguments = {"x-max-length": 0, "x-overflow": "reject-publish"}
    with Connection(amqp_url) as connection:
        Queue(queue, Exchange(queue), routing_key=queue, queue_arguments=arguments).bind(
            connection.default_channel
        ).declare()


def queue_depth(amqp_url: str, queue: str) -> int:
    from kombu import Connection

    with Connection(amqp_url) as connection:
        return int(celery_queue(queue).bind(connection.default_channel).queue_declare(passive=True).message_count)


def test_amqp_nack_refuses_only_that_message(amqp_url: str, amqp_queues: list[str]) -> None:
    # Given a good queue and a full one (RabbitMQ nacks whatever is published to it)
    good, full = unique("good"), unique("full")
    amqp_queues += [good, full]
    declare_full_queue(amqp_url, full)
    entries = [make_entry(unique(name), options=Options(queue=queue)) for name, queue in
               (("one", good), ("refused", full), ("other", good))]
    messages = [build(entry, SCHEDULED + timedelta(seconds=30 * slot)) for slot in range(2) for entry in entries]

    # When both slots of the three entries are published
    with KombuTransport(amqp_url) as transport:
        result = transport.publish(messages)

    # Then only the full queue's messages are refused, with the nack named; the rest are queued
    assert result.refused == {1: NACK_REASON, 4: NACK_REASON}
    assert [message.headers["id"] for message in drain(amqp_url, good, 4)] == [
        message.task_id for index, message in enumerate(messages) if index not in (1, 4)]


def test_amqp_channel_errors_refuse_only_the_message_that_caused_them(amqp_url: str, amqp_queues: list[str]) -> None:
    from kombu import Connection, Exchange

    good, routed, exchange = unique("good"), unique("routed"), unique("exchange")
    amqp_queues += [good, routed, exchange]
    with Connection(amqp_url) as connection:
        Exchange(exchange, type="direct", durable=True).bind(connection.default_channel).declare()
        celery_queue(routed).bind(connection.default_channel).declare()
        connection.default_channel.queue_bind(routed, exchange, routing_key="daily")
    plain = make_entry(unique("plain"), options=Options(queue=good))
    via_exchange = make_entry(unique("via"), options=Options(queue=routed, exchange=exchange, routing_key="daily"))
    missing = make_entry(unique("missing"), options=Options(queue=good, exchange=unique("no-such"), routing_key="x"))
    reserved = make_entry(unique("reserved"), options=Options(queue="amq.beatd-test-reserved"))

    with KombuTransport(amqp_url) as transport:
        # Given a transport that has published to the exchange once (so it knows it exists)
        first = transport.publish([build(via_exchange)])
        # When the exchange is deleted behind its back, and a batch mixes good messages with
        # one for that exchange, one for a missing exchange and one for a queue the broker
        # will not declare (amq.* names are reserved)
        with Connection(amqp_url) as connection:
            connection.default_channel.exchange_delete(exchange)
        slots = [SCHEDULED + timedelta(seconds=30 * slot) for slot in range(1, 4)]
        batch = [build(plain, slots[0]), build(via_exchange, slots[1]), build(plain, slots[1]),
                 build(missing, slots[0]), build(reserved, slots[0]), build(plain, slots[2])]
        result = transport.publish(batch)
        # and the transport keeps working afterwards
        after = transport.publish([build(plain, SCHEDULED + timedelta(minutes=5))])

    # Then each broken message is refused with the broker's reason, and every good one is
    # queued; those still unconfirmed when the channel closed went again (same task id)
    assert first == after == PublishResult()
    assert sorted(result.refused) == [1, 3, 4]
    assert "NOT_FOUND - no exchange" in result.refused[1] and exchange in result.refused[1]
    assert result.refused[3].startswith(f"exchange {missing.options.exchange!r} cannot be published to: ")
    assert "NOT_FOUND" in result.refused[3]
    assert result.refused[4].startswith("queue 'amq.beatd-test-reserved' could not be declared: ")
    assert "ACCESS_REFUSED" in result.refused[4]
    queued = [message.headers["id"] for message in drain(amqp_url, good, queue_depth(amqp_url, good))]
    good_ids = [batch[0].task_id, batch[2].task_id, batch[5].task_id, build(plain, SCHEDULED + timedelta(minutes=5)).task_id]
    assert list(dict.fromkeys(queued)) == good_ids
    # RabbitMQ drops what follows the culprit on its channel: only the first can be routed twice
    assert len(queued) <= len(good_ids) + 1


def test_amqp_leaves_an_existing_queue_with_other_arguments_alone(amqp_url: str, amqp_queues: list[str]) -> None:
    from kombu import Connection, Exchange, Queue

    queue = unique("priority-queue")
    amqp_queues.append(queue)
    operators_queue = Queue(queue, Exchange(queue), routing_key=queue, queue_arguments={"x-max-priority": 10})
    with Connection(amqp_url) as connection:
        operators_queue.bind(connection.default_channel).declare()

    with KombuTransport(amqp_url) as transport:
        transport.publish([build(make_entry(options=Options(queue=queue, priority=7)))])

    with Connection(amqp_url) as connection:
        simple = connection.SimpleQueue(operators_queue)
        received = simple.get(timeout=5)
        received.ack()
        simple.close()
    assert received.properties["priority"] == 7


def test_sqla_broker_round_trip(tmp_path: Any) -> None:
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    queue = unique("sqla")
    messages = [
        build(make_entry(options=Options(queue=queue)), SCHEDULED + timedelta(seconds=30 * index)) for index in range(3)
    ]

    with open_transport(url) as transport:
        transport.publish(messages)

    received = drain(url, queue, 3)
    assert [message.headers["id"] for message in received] == [message.task_id for message in messages]
    assert received[0].payload == json.loads(messages[0].body)


@pytest.mark.parametrize(("every", "kept"), [(timedelta(seconds=30), True), (timedelta(minutes=1), True),
                                             (timedelta(hours=1), False)])
def test_message_template_is_kept_only_for_entries_that_fire_again_soon(every: timedelta, kept: bool) -> None:
    # Kept templates make the next run cheap; a rare entry's would only hold memory.
    entry = make_entry(schedule=IntervalSchedule(every=every))
    first, second = build(entry), build(entry, SCHEDULED + every)
    assert (first.template is second.template) is kept
    assert first.body == second.body and first.headers["argsrepr"] == second.headers["argsrepr"]


def test_a_reloaded_entry_replaces_its_template_and_lets_the_old_one_go() -> None:
    builder = MessageBuilder(ORIGIN)
    old = weakref.ref(builder.build(make_fire(make_entry(args=(1,))), SCHEDULED).template)
    assert old() is not None  # kept: the entry fires every 30 s

    # A reload brings an entry of the same name with other arguments
    replacement = make_entry(args=(2,))
    message = builder.build(make_fire(replacement), SCHEDULED)

    assert message.template.entry is replacement and json.loads(message.body)[0] == [2]
    gc.collect()
    assert old() is None
    assert builder.build(make_fire(replacement), SCHEDULED + EVERY_30S.every).template is message.template


def test_the_template_cache_is_emptied_when_full() -> None:
    builder = MessageBuilder(ORIGIN, cache_size=2)
    entries = [make_entry(f"bounded-{index}") for index in range(3)]
    first = [builder.build(make_fire(entry), SCHEDULED).template for entry in entries]

    # The third entry found the cache full: it was emptied, then the third's template kept
    assert builder.build(make_fire(entries[2]), SCHEDULED).template is first[2]
    assert builder.build(make_fire(entries[0]), SCHEDULED).template is not first[0]


def test_an_envelope_form_lives_as_long_as_its_template() -> None:
    envelopes = EnvelopeForms()
    builder = MessageBuilder(ORIGIN)
    frequent, rare = make_entry("frequent"), make_entry("rare", schedule=IntervalSchedule(every=timedelta(hours=1)))
    kept, not_kept = builder.build(make_fire(frequent), SCHEDULED), builder.build(make_fire(rare), SCHEDULED)
    first = envelopes.json(kept)
    envelopes.json(not_kept)
    assert sorted(envelopes._forms) == ["frequent", "rare"]

    # The rare entry's template (the builder does not keep it) goes with its message, and its form with it
    rare_template = weakref.ref(not_kept.template)
    del not_kept
    gc.collect()
    assert rare_template() is None and sorted(envelopes._forms) == ["frequent"]

    # The frequent entry's form serves its next run: same text but for the run's own values
    again = envelopes.json(builder.build(make_fire(frequent), SCHEDULED))
    assert again.split('"delivery_tag"')[0] == first.split('"delivery_tag"')[0]
    assert sorted(envelopes._forms) == ["frequent"]


def test_a_builder_forgets_the_templates_of_removed_entries() -> None:
    builder = MessageBuilder(ORIGIN)
    entry = make_entry("gone")
    first = weakref.ref(builder.build(make_fire(entry), SCHEDULED).template)
    builder.forget(["gone", "never-seen"])
    gc.collect()
    assert first() is None
