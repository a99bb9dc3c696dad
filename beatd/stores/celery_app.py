"""A Celery app's beat schedule as beatd entries: beat_schedule and add_periodic_task entries, routed by the app.

The only module that imports Celery, and only when an app is named (`--app`, `app:`,
`BEATD_APP`). The app is found as `celery -A` finds it (Celery's own find_app, the
current directory on sys.path), its task modules imported as `celery beat` imports
them (loader.import_default_modules, which runs autodiscovery), and it is finalized,
so `add_periodic_task` calls made in `on_after_configure` / `on_after_finalize` have
landed in `beat_schedule`.

Each entry becomes the YAML keys of a beatd entry (the same mapping `beatd convert`
prints), routed once, here, by the app's own router exactly as `apply_async` routes a
call: the task's own options (`@app.task(queue=...)`, task_default_priority) under the
entry's options, then `app.amqp.router.route(...)` (task_routes, task_queues,
task_default_queue/exchange/routing_key), then the queue/exchange/routing key choice
of Celery's send_task_message. What has no beatd form is refused with the entry's name
and the reason, never dropped.
"""

from __future__ import annotations

import difflib
import functools
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from beatd.config.build import build_entry, parse_zone
from beatd.entry import Entry, Source
from beatd.errors import ConfigError
from beatd.schedules.describe import spans

# What `celery beat` publishes to when the app names no broker (kombu's default transport).
CELERY_DEFAULT_BROKER = "amqp://guest:guest@localhost:5672//"
# The keys a beat_schedule entry may have (celery.beat.ScheduleEntry's arguments).
BEAT_ENTRY_KEYS = frozenset({"task", "schedule", "args", "kwargs", "options", "relative"})
# apply_async options beatd carries, under their beatd names; routing keys come from the router.
_ROUTING_KEYS = ("queue", "exchange", "routing_key", "priority")
_CARRIED_KEYS = ("expires", "headers", "time_limit", "soft_time_limit")
# beatd sends JSON only: a task whose serializer is JSON says nothing beatd does not do.
_SAME_AS_BEATD = {"serializer": "json"}
# The environment variable a converted file reads a broker URL with a password from.
BROKER_VARIABLE = "BROKER_URL"


@dataclass(frozen=True, slots=True, kw_only=True)
class AppSchedule:
    """What beatd takes from a Celery app: its entries as YAML keys, broker, transport options and zone."""

    target: str
    broker: str
    transport_options: dict[str, Any]
    timezone: str
    # Entry name -> the YAML keys of the entry (routing resolved into options).
    mappings: dict[str, dict[str, Any]]
    # Entry name -> why its meaning needed care (written as comments by `beatd convert`).
    cautions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Task names the app registers after autodiscovery (for `beatd check`).
    registered_tasks: frozenset[str] = frozenset()

    @property
    def place(self) -> str:
        """Where the entries come from, for messages."""
        return place_of(self.target)

    def entries(self) -> list[Entry]:
        """The entries, built as a YAML file's are, in the app's zone.

        Raises:
            ConfigError: `app TARGET: entry 'name': message` for the first that does not build.
        """
        zone = parse_zone(self.timezone)
        built = []
        for name, mapping in self.mappings.items():
            try:
                built.append(build_entry(name, mapping, zone, Source(path=f"{self.place} beat_schedule", line=0)))
            except ValueError as exc:
                raise ConfigError(f"{self.place}: entry {name!r}: {exc}") from exc
        return built

    def unregistered_tasks(self) -> list[tuple[str, str, str | None]]:
        """(entry name, task name, closest registered name or None) for tasks the app does not register."""
        found = []
        for name, mapping in self.mappings.items():
            task = mapping["task"]
            if task not in self.registered_tasks:
                # Celery's own tasks (celery.chord, ...) are registered, but never what was meant.
                candidates = sorted(name for name in self.registered_tasks if not name.startswith("celery."))
                close = difflib.get_close_matches(task, candidates, n=1)
                found.append((name, task, close[0] if close else None))
        return found


def place_of(target: str) -> str:
    """How messages name an app: `app proj.celery`."""
    return f"app {target}"


def read_app(target: str) -> AppSchedule:
    """Import, finalize and read the Celery app `MODULE[:ATTRIBUTE]`.

    Raises:
        ConfigError: one line naming the app (and the entry) and what is wrong: a module
            that does not import, an attribute that is not a Celery app, an entry that
            cannot be expressed (custom schedule class, BeatLazyFunc arguments, datetime
            `expires`, an option beatd does not carry).
    """
    app = _load_app(target)
    place = place_of(target)
    zone_name = _zone_name(app, place)
    mappings: dict[str, dict[str, Any]] = {}
    cautions: dict[str, tuple[str, ...]] = {}
    for name, raw in (app.conf.beat_schedule or {}).items():
        try:
            mappings[str(name)], cautions[str(name)] = _mapping_of(app, raw, ZoneInfo(zone_name))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{place}: entry {name!r}: {exc}") from exc
    broker = app.conf.broker_write_url or app.conf.broker_url or CELERY_DEFAULT_BROKER
    return AppSchedule(target=target, broker=str(broker),
                       transport_options=dict(app.conf.broker_transport_options or {}), timezone=zone_name,
                       mappings=mappings, cautions={name: notes for name, notes in cautions.items() if notes},
                       registered_tasks=frozenset(app.tasks))


def _load_app(target: str) -> Any:
    """The app, found as `celery -A` finds it, its task modules imported, finalized."""
    from celery import Celery
    from celery.app.utils import find_app

    place = place_of(target)
    # `celery -A` imports from the current directory, as `python -m` would.
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    try:
        app = find_app(target)
    except Exception as exc:  # noqa: BLE001  (any error an app module raises while importing is the user's to see)
        raise ConfigError(f"{place}: cannot import it: {type(exc).__name__}: {exc}") from exc
    if not isinstance(app, Celery):
        raise ConfigError(f"{place}: {target!r} is {_kind_of(app)}, not a Celery app; "
                          "name the app as celery -A does: MODULE or MODULE:ATTRIBUTE")
    try:
        # As `celery beat` does before its first tick (Beat.run -> loader.init_worker):
        # task modules, `include`, autodiscovery; then the app is finalized, which
        # flushes add_periodic_task calls into beat_schedule.
        app.loader.import_default_modules()
        app.finalize(auto=True)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"{place}: importing its task modules failed: {type(exc).__name__}: {exc}") from exc
    return app


def _kind_of(value: Any) -> str:
    kind = type(value)
    return "a module" if kind.__name__ == "module" else f"a {kind.__module__}.{kind.__qualname__}"


def _zone_name(app: Any, place: str) -> str:
    """The IANA zone Celery reads crontab in: `timezone`, else UTC when enable_utc (the default)."""
    configured = app.conf.timezone
    if configured is None:
        if app.conf.enable_utc:
            return "UTC"
        raise ConfigError(f"{place}: enable_utc is False and timezone is unset, so Celery uses the host's local "
                          "time; set the app's timezone to an IANA name such as Europe/Berlin")
    name = configured if isinstance(configured, str) else getattr(configured, "key", str(configured))
    try:
        parse_zone(name)
    except ValueError as exc:
        raise ConfigError(f"{place}: timezone: {exc}") from exc
    return name


# ---------------------------------------------------------------------------------------
# One entry


def _mapping_of(app: Any, raw: Any, zone: ZoneInfo) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The YAML keys of one beat_schedule entry and the cautions about its meaning.

    Raises:
        ValueError: the entry cannot be expressed; the message says why.
    """
    if not isinstance(raw, Mapping):
        raise ValueError(f"is a {type(raw).__name__}, not a mapping of task, schedule, args, kwargs, options")
    unknown = sorted(set(raw) - BEAT_ENTRY_KEYS)
    if unknown:
        raise ValueError(f"key {unknown[0]!r} is not one of {', '.join(sorted(BEAT_ENTRY_KEYS))}")
    if not raw.get("task"):
        raise ValueError("has no task")
    task = str(raw["task"])
    args = tuple(raw.get("args") or ())
    kwargs = dict(raw.get("kwargs") or {})
    _refuse_lazy_arguments(args, kwargs)
    try:
        # beatd sends JSON (as Celery's default serializer does): tuples become lists, as on the wire.
        args, kwargs = tuple(json.loads(json.dumps(args))), json.loads(json.dumps(kwargs))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"args or kwargs are not JSON: {exc}") from exc
    mapping: dict[str, Any] = {"task": task}
    schedule_keys, cautions = _schedule_keys(raw.get("schedule"), zone)
    mapping.update(schedule_keys)
    if args:
        mapping["args"] = list(args)
    if kwargs:
        mapping["kwargs"] = kwargs
    options = routed_options(app, task, dict(raw.get("options") or {}), args, kwargs)
    if options:
        mapping["options"] = options
    return mapping, cautions


def _refuse_lazy_arguments(args: Iterable[Any], kwargs: Mapping[str, Any]) -> None:
    from celery.beat import BeatLazyFunc

    for value in (*args, *kwargs.values()):
        if isinstance(value, BeatLazyFunc):
            raise ValueError("args or kwargs hold a BeatLazyFunc, evaluated anew at each run by celery beat; "
                             "beatd sends fixed arguments: compute the value in the task instead")


def _schedule_keys(schedule: Any, zone: ZoneInfo) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The beatd schedule keys of a Celery schedule, and what about its meaning needs care."""
    from celery.schedules import crontab, solar
    from celery.schedules import schedule as interval

    if isinstance(schedule, (int, float)) and not isinstance(schedule, bool):
        return _every(timedelta(seconds=schedule))
    if isinstance(schedule, timedelta):
        return _every(schedule)
    # Exact types: a subclass may override is_due or remaining_estimate, which beatd cannot follow.
    kind = type(schedule)
    if kind is interval:
        return _every(schedule.run_every)
    if kind is crontab:
        return cron_keys(schedule, zone)
    if kind is solar:
        return {"solar": schedule.event, "lat": float(schedule.lat), "lon": float(schedule.lon)}, ()
    raise ValueError(f"schedule {kind.__module__}.{kind.__qualname__} is a custom schedule class; beatd maps "
                     "numbers, timedelta, celery.schedules.schedule, crontab and solar only")


def _every(run_every: timedelta) -> tuple[dict[str, Any], tuple[str, ...]]:
    seconds = run_every.total_seconds()
    every = int(seconds) if seconds.is_integer() else seconds
    return {"every": every}, (
        f"every {every}s: celery beat counted it from its own start; beatd fires on fixed slots "
        f"(multiples of {every}s since the Unix epoch), the same across restarts",)


def cron_keys(schedule: Any, zone: ZoneInfo) -> tuple[dict[str, Any], tuple[str, ...]]:
    """`cron` (and `day_match`) from a crontab's own expanded sets, so ranges such as fri-mon and
    names such as monday mean what Celery made of them."""
    originals = (schedule._orig_minute, schedule._orig_hour, schedule._orig_day_of_month,
                 schedule._orig_month_of_year, schedule._orig_day_of_week)
    fields = (
        _field(schedule.minute, 0, 59, originals[0]),
        _field(schedule.hour, 0, 23, originals[1]),
        _field(schedule.day_of_month, 1, 31, originals[2]),
        _field(schedule.month_of_year, 1, 12, originals[3]),
        _field(schedule.day_of_week, 0, 6, originals[4]),
    )
    keys: dict[str, Any] = {"cron": " ".join(fields)}
    cautions = []
    if fields[2] != "*" and fields[4] != "*":
        # Celery ANDs the day fields (crontab.is_due); cron would OR them.
        keys["day_match"] = "both"
        cautions.append("day_match both: Celery's crontab fires only on days matching day_of_month AND day_of_week")
    if set(schedule.hour) & _dst_hours(zone):
        cautions.append(f"DST in {zone.key}: beatd follows cronie at DST changes (a time skipped by spring-forward "
                        "fires once just after the gap; a repeated time fires once, or in both passes for a wildcard "
                        "minute or hour); celery beat's runs in those hours differ")
    return keys, tuple(cautions)


def _field(values: Iterable[int], low: int, high: int, original: Any) -> str:
    """A cron field naming exactly `values`: `*`, `*/n` when the crontab was written with `*`, else a list.

    Keeping the `*` start keeps cronie's DST rule for what the crontab says: a
    wildcard such as hour='*/2' fires in both passes of a repeated hour, a fixed hour
    list once (DESIGN.md, Time rules).
    """
    chosen = sorted(values)
    if chosen == list(range(low, high + 1)):
        return "*"
    if str(original).startswith("*") and len(chosen) > 1:
        step = chosen[1] - chosen[0]
        if chosen[0] == low and chosen == list(range(low, high + 1, step)):
            return f"*/{step}"
    return ",".join(str(span.first) if span.first == span.last else f"{span.first}-{span.last}"
                    for span in spans(chosen, steps=False))


@functools.lru_cache(maxsize=64)
def _dst_hours(zone: ZoneInfo) -> frozenset[int]:
    """The wall-clock hours that a change of UTC offset skips or repeats in the zone (found over 2026)."""
    hours: set[int] = set()
    instant = datetime(2026, 1, 1, tzinfo=UTC)
    while instant.year == 2026:
        old, new = instant.astimezone(zone).utcoffset(), (instant + timedelta(hours=1)).astimezone(zone).utcoffset()
        if old is not None and new is not None and old != new:
            change = instant
            while change.astimezone(zone).utcoffset() == old:
                change += timedelta(minutes=1)
            # The walls from the change read with the old offset to it read with the new:
            # skipped (spring forward) or shown twice (fall back).
            wall, end = sorted(((change + old).replace(tzinfo=None), (change + new).replace(tzinfo=None)))
            while wall < end:
                hours.add(wall.hour)
                wall += timedelta(minutes=1)
        instant += timedelta(hours=1)
    return frozenset(hours)


# ---------------------------------------------------------------------------------------
# Routing


def routed_options(app: Any, task: str, options: dict[str, Any], args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> dict[str, Any]:
    """An entry's `options` YAML keys as `apply_async` would publish its call: routed by the app.

    Raises:
        ValueError: an option beatd cannot carry (datetime expires, another serializer, ...).
    """
    from kombu import Exchange

    task_type = app.tasks.get(task)
    merged = dict(options)
    if task_type is not None:
        # Task.apply_async: the task's own options (queue=, priority=, task_default_priority) under the call's.
        own = {key: value for key, value in task_type._get_exec_options().items() if value is not None}
        merged = dict(own, **merged)
    carried = {key: merged.pop(key) for key in _CARRIED_KEYS if merged.get(key) is not None}
    route = app.amqp.router.route(merged, task, args, kwargs, task_type)
    result: dict[str, Any] = {}
    queue = route.pop("queue", None)
    exchange = route.pop("exchange", None)
    routing_key = route.pop("routing_key", None)
    priority = route.pop("priority", None)
    if queue is None and exchange is None:
        queue = app.amqp.default_queue
    exchange_name = exchange.name if isinstance(exchange, Exchange) else exchange
    # Celery's send_task_message: through the default exchange ("" and the queue's name)
    # unless the queue's exchange is not direct, or both an exchange and a key are given.
    exchange_type = getattr(getattr(queue, "exchange", None), "type", None) or "direct"
    if (not exchange_name or not routing_key) and exchange_type == "direct":
        exchange_name, routing_key = "", queue.name
    elif exchange_name is None:
        exchange_name = queue.exchange.name or app.conf.task_default_exchange
        routing_key = routing_key or queue.routing_key or app.conf.task_default_routing_key
    if queue is not None:
        result["queue"] = queue.name
    if exchange_name:
        result.update(exchange=exchange_name, routing_key=routing_key)
    if priority is not None:
        result["priority"] = int(priority)
    for key, value in route.items():
        if value is not None and _SAME_AS_BEATD.get(key) != value:
            raise ValueError(f"option {key}={value!r} has no beatd equivalent "
                             f"(beatd carries {', '.join(_ROUTING_KEYS + _CARRIED_KEYS)})")
    if "expires" in carried:
        result["expires"] = _expires_seconds(carried.pop("expires"))
    result.update(carried)
    return result


def _expires_seconds(expires: Any) -> int | float:
    if isinstance(expires, datetime):
        raise ValueError(f"options expires={expires.isoformat()} is a datetime: it would expire every run after "
                         "that instant; give seconds after the scheduled time instead")
    if isinstance(expires, timedelta):
        expires = expires.total_seconds()
    if not isinstance(expires, (int, float)) or isinstance(expires, bool):
        raise ValueError(f"options expires={expires!r} is not a number of seconds")
    return int(expires) if float(expires).is_integer() else expires


# ---------------------------------------------------------------------------------------
# beatd convert --celery-app


def converted_yaml(schedule: AppSchedule) -> str:
    """The schedule as a beatd file: settings, then each entry (as `beatd export` writes them) with
    its cautions as comments. A broker URL with a password becomes ${BROKER_URL}."""
    import yaml

    from beatd.urls import redact_url
    from beatd.yaml_dump import dump_entries

    lines = [f"# Converted from the Celery app {schedule.target} by `beatd convert`.",
             "# Routes are resolved into each entry's options; the app is not needed to run this file."]
    settings: dict[str, Any] = {"timezone": schedule.timezone}
    if redact_url(schedule.broker) != schedule.broker:
        lines.append(f"# The app's broker_url holds a password: set {BROKER_VARIABLE} ({redact_url(schedule.broker)}).")
        settings["broker"] = f"${{{BROKER_VARIABLE}}}"
    else:
        settings["broker"] = schedule.broker
    if schedule.transport_options:
        settings["broker_transport_options"] = schedule.transport_options
    lines.append(yaml.safe_dump(settings, sort_keys=False, default_flow_style=False, allow_unicode=True).rstrip("\n"))
    lines.append("entries:")
    for name, mapping in schedule.mappings.items():
        lines += [f"  # {caution}" for caution in schedule.cautions.get(name, ())]
        lines += ["  " + line for line in dump_entries({name: mapping}).splitlines()]
    return "\n".join(lines) + "\n"
