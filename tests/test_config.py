"""Configuration files: every bad file gives one `file:line: entry 'name': message` and exit 1; good files load exactly.

Bad files go through the real CLI (`beatd check`), the way a user meets them; good files
are read with load_config and checked value by value.
"""

from __future__ import annotations

import json
import os
import random
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import jsonschema
import pytest
import yaml
from amqp.serialization import dumps as amqp_dumps
from click.testing import CliRunner, Result

import beatd
from beatd.cli import main
from beatd.config import load_config
from beatd.entry import CatchUp, Fire, Options
from beatd.errors import ConfigError
from beatd.publish.message import RESERVED_HEADERS, MessageBuilder
from beatd.publish.redis_transport import EnvelopeForms
from beatd.schedules.cron import CronSchedule
from beatd.schedules.interval import IntervalSchedule
from beatd.schedules.once import OnceSchedule
from beatd.schedules.solar import SolarSchedule
from beatd.schedules.window import WindowedSchedule
from beatd.state.base import RunRecord, newest_per_entry

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "schedules" / "demo.yaml"
SCHEMA_FILE = Path(beatd.__file__).parent / "config" / "config.schema.json"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def yaml_text(text: str) -> str:
    """Dedent a YAML snippet; line 1 is the first line after the opening quotes."""
    return textwrap.dedent(text).lstrip("\n")


def check(config: Path | str) -> Result:
    return CliRunner().invoke(main, ["check", "--config", str(config)])


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(yaml_text(text), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------
# Bad files: one table, run through `beatd check`


@dataclass(frozen=True)
class Bad:
    """A bad configuration and the one line `beatd check` must print for it.

    `message` follows `FILE:LINE: `; with `prefix` set only the start of the message is
    fixed (for messages that quote a library's wording, such as PyYAML's). `line` None
    means a file-level message without a line. `at` is the file, relative to the main
    file's folder, that the message names; `files` are more files to write.
    """

    text: str | bytes | None
    line: int | None
    message: str
    at: str = "beatd.yaml"
    files: dict[str, str] = field(default_factory=dict)
    prefix: bool = False


ENTRY_KEYS = (
    "args, at, catchup, cron, day_match, description, elevation, enabled, end, every, jitter, kwargs, lat, lon, "
    "options, solar, start, task, timezone"
)
TOP_KEYS = ("app, broker, broker_transport_options, catchup_limit, entries, http, include, leader, metrics_per_entry, "
            "routes, state, stores, timezone")
OPTION_KEYS = "exchange, expires, headers, priority, queue, routing_key, soft_time_limit, time_limit"
# One character or byte over what state stores and AMQP keep (issue 11).
LONG_NAME, LONG_HEADER, LONG_QUEUE = "n" * 256, "h" * 256, "q" * 256
NOT_A_DURATION = "is not a duration; write seconds (30, 2.5) or 30s, 5m, 1h30m, 2d"
NOT_PLAIN_DATA = "is not allowed: beatd reads plain data (mappings, lists, text, numbers, true/false), never objects"

BAD = {
    # -- structure: unknown and missing keys ------------------------------------------
    "unknown-top-level-key": Bad(
        """
        timezone: UTC
        brokr: redis://localhost
        entries: {}
        """,
        2,
        f"unknown key 'brokr'; allowed keys: {TOP_KEYS}",
    ),
    "unknown-entry-key": Bad(
        """
        entries:
          report:
            task: reports.send
            every: 30s
            colour: red
        """,
        5,
        f"entry 'report': unknown key 'colour'; allowed keys: {ENTRY_KEYS}",
    ),
    "unknown-options-key": Bad(
        """
        entries:
          report:
            task: reports.send
            every: 30s
            options:
              queue: reports
              retry: 3
        """,
        7,
        f"entry 'report': unknown key 'retry'; allowed keys: {OPTION_KEYS}",
    ),
    "missing-task": Bad(
        """
        entries:
          report:
            every: 30s
        """,
        2,
        "entry 'report': missing required key 'task'",
    ),
    "empty-task": Bad(
        """
        entries:
          report:
            task: ''
            every: 30s
        """,
        3,
        "entry 'report': task must not be empty",
    ),
    "no-schedule-key": Bad(
        """
        entries:
          report:
            task: reports.send
        """,
        2,
        "entry 'report': needs exactly one of every, cron, solar, at (found: none)",
    ),
    "two-schedule-keys": Bad(
        """
        entries:
          report:
            task: reports.send
            every: 30s
            cron: "* * * * *"
        """,
        2,
        "entry 'report': needs exactly one of every, cron, solar, at (found: every, cron)",
    ),
    "entry-not-a-mapping": Bad(
        """
        entries:
          report: reports.send
        """,
        2,
        "entry 'report': the entry must be a mapping of keys such as task and every, not 'reports.send'",
    ),
    # -- cron --------------------------------------------------------------------------
    "cron-minute-61": Bad(
        """
        entries:
          report:
            task: reports.send
            cron: "61 7 * * *"
        """,
        4,
        "entry 'report': cron minute field '61' is out of range 0-59",
    ),
    "cron-four-fields": Bad(
        """
        entries:
          report:
            task: reports.send
            cron: "30 7 * *"
        """,
        4,
        "entry 'report': cron expression '30 7 * *' has 4 fields; expected 5 "
        "(minute hour day-of-month month day-of-week) or an alias such as @daily",
    ),
    "cron-unknown-alias": Bad(
        """
        entries:
          report:
            task: reports.send
            cron: "@fortnightly"
        """,
        4,
        "entry 'report': cron alias '@fortnightly' is not one of "
        "@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly",
    ),
    "cron-feb-31-never-matches": Bad(
        """
        entries:
          report:
            task: reports.send
            cron: "0 0 31 2 *"
        """,
        4,
        "entry 'report': cron expression '0 0 31 2 *' never matches a date",
    ),
    "cron-not-text": Bad(
        """
        entries:
          report:
            task: reports.send
            cron: 5
        """,
        4,
        "entry 'report': cron must be a string, not 5",
    ),
    # -- durations -----------------------------------------------------------------------
    "every-zero": Bad(
        """
        entries:
          tick:
            task: t.tick
            every: 0
        """,
        4,
        "entry 'tick': every 0 must be greater than zero",
    ),
    "every-5x": Bad(
        """
        entries:
          tick:
            task: t.tick
            every: 5x
        """,
        4,
        f"entry 'tick': every '5x' {NOT_A_DURATION}",
    ),
    "every-negative": Bad(
        """
        entries:
          tick:
            task: t.tick
            every: -3
        """,
        4,
        "entry 'tick': every -3 must be greater than zero",
    ),
    "every-infinite": Bad(
        """
        entries:
          tick:
            task: t.tick
            every: .inf
        """,
        4,
        "entry 'tick': duration inf is not a finite number of seconds",
    ),
    "every-beyond-timedelta": Bad(
        """
        entries:
          tick:
            task: t.tick
            every: 99999999999999999999
        """,
        4,
        "entry 'tick': duration 99999999999999999999 is longer than the largest allowed, 100 years",
    ),
    "jitter-zero": Bad(
        """
        entries:
          tick:
            task: t.tick
            every: 10s
            jitter: 0
        """,
        5,
        "entry 'tick': jitter 0 must be greater than zero",
    ),
    "options-expires-not-a-duration": Bad(
        """
        entries:
          tick:
            task: t.tick
            every: 10s
            options:
              expires: soon
        """,
        6,
        f"entry 'tick': expires 'soon' {NOT_A_DURATION}",
    ),
    # -- zones -----------------------------------------------------------------------------
    "zone-unknown-in-entry": Bad(
        """
        timezone: Europe/Berlin
        entries:
          report:
            task: reports.send
            cron: "30 7 * * *"
            timezone: Europe/Atlantis
        """,
        6,
        "entry 'report': unknown time zone 'Europe/Atlantis' (use an IANA name such as Europe/Berlin)",
    ),
    "zone-is-a-tzdata-folder": Bad(
        """
        entries:
          report:
            task: reports.send
            cron: "30 7 * * *"
            timezone: America
        """,
        5,
        "entry 'report': unknown time zone 'America' (use an IANA name such as Europe/Berlin)",
    ),
    "zone-unknown-top-level": Bad(
        """
        # the default zone for every entry
        timezone: Mars/Olympus
        entries: {}
        """,
        2,
        "timezone: unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Berlin)",
    ),
    # -- solar -----------------------------------------------------------------------------
    "solar-unknown-event": Bad(
        """
        entries:
          wake:
            task: home.wake
            solar: moonrise
            lat: 52.5
            lon: 13.4
        """,
        4,
        "entry 'wake': solar 'moonrise' is not one of dawn_astronomical, dawn_nautical, dawn_civil, "
        "sunrise, solar_noon, sunset, dusk_civil, dusk_nautical, dusk_astronomical",
    ),
    "solar-lat-91": Bad(
        """
        entries:
          wake:
            task: home.wake
            solar: sunrise
            lat: 91
            lon: 13.4
        """,
        5,
        "entry 'wake': lat 91 is outside -90..90",
    ),
    "solar-lon-200": Bad(
        """
        entries:
          wake:
            task: home.wake
            solar: sunrise
            lat: 52.5
            lon: 200
        """,
        6,
        "entry 'wake': lon 200 is outside -180..180",
    ),
    "solar-lat-nan": Bad(
        """
        entries:
          wake:
            task: home.wake
            solar: sunrise
            lat: .nan
            lon: 13.4
        """,
        5,
        "entry 'wake': lat nan is not a finite number",
    ),
    "solar-without-lat": Bad(
        """
        entries:
          wake:
            task: home.wake
            solar: sunrise
            lon: 13.4
        """,
        2,
        "entry 'wake': solar entries need lat and lon",
    ),
    "lat-on-cron-entry": Bad(
        """
        entries:
          report:
            task: reports.send
            cron: "30 7 * * *"
            lat: 52.5
        """,
        5,
        "entry 'report': 'lat' applies only to solar entries",
    ),
    "elevation-on-interval-entry": Bad(
        """
        entries:
          tick:
            task: t.tick
            every: 10s
            elevation: 300
        """,
        5,
        "entry 'tick': 'elevation' applies only to solar entries",
    ),
    "day-match-on-interval-entry": Bad(
        """
        entries:
          tick:
            task: t.tick
            every: 10s
            day_match: both
        """,
        5,
        "entry 'tick': 'day_match' applies only to cron entries",
    ),
    "day-match-unknown": Bad(
        """
        entries:
          report:
            task: reports.send
            cron: "0 9 13 * 5"
            day_match: all
        """,
        5,
        "entry 'report': day_match 'all' is not one of either, both",
    ),
    # -- instants and windows --------------------------------------------------------------
    "at-not-iso": Bad(
        """
        entries:
          launch:
            task: rockets.launch
            at: next tuesday
        """,
        4,
        "entry 'launch': at 'next tuesday' is not an ISO 8601 date-time such as 2026-12-01T10:00:00+01:00",
    ),
    "start-month-13": Bad(
        """
        entries:
          tick:
            task: t.tick
            every: 10s
            start: 2026-13-01T00:00:00Z
        """,
        5,
        "entry 'tick': start '2026-13-01T00:00:00Z' is not an ISO 8601 date-time such as 2026-12-01T10:00:00+01:00",
    ),
    "end-before-start": Bad(
        """
        entries:
          tick:
            task: t.tick
            every: 10s
            start: 2026-06-02T00:00:00+00:00
            end: 2026-06-01T00:00:00+00:00
        """,
        6,
        "entry 'tick': end '2026-06-01T00:00:00+00:00' is before start '2026-06-02T00:00:00+00:00'",
    ),
    # -- other entry keys ------------------------------------------------------------------
    "catchup-unknown": Bad(
        """
        entries:
          tick:
            task: t.tick
            every: 10s
            catchup: sometimes
        """,
        5,
        "entry 'tick': catchup 'sometimes' is not one of skip, latest, all",
    ),
    "priority-300": Bad(
        """
        entries:
          tick:
            task: t.tick
            every: 10s
            options: {queue: q, priority: 300}
        """,
        5,
        "entry 'tick': priority 300 is outside 0..255",
    ),
    "args-not-a-list": Bad(
        """
        entries:
          add:
            task: tasks.add
            every: 10s
            args: 16
        """,
        5,
        "entry 'add': args must be a list, not 16",
    ),
    "kwargs-not-a-mapping": Bad(
        """
        entries:
          add:
            task: tasks.add
            every: 10s
            kwargs: [16, 16]
        """,
        5,
        "entry 'add': kwargs must be a mapping, not [16, 16]",
    ),
    "enabled-not-a-bool": Bad(
        """
        entries:
          add:
            task: tasks.add
            every: 10s
            enabled: "no"
        """,
        5,
        "entry 'add': enabled must be true or false, not 'no'",
    ),
    # -- environment interpolation -----------------------------------------------------------
    "env-var-unset-in-entry": Bad(
        """
        entries:
          add:
            task: tasks.add
            every: 10s
            options:
              queue: ${BEATD_TEST_UNSET_QUEUE}
        """,
        6,
        "entry 'add': environment variable BEATD_TEST_UNSET_QUEUE is not set "
        "(write ${BEATD_TEST_UNSET_QUEUE:-default} to give a default)",
    ),
    "env-var-unset-top-level": Bad(
        """
        timezone: UTC
        broker: ${BEATD_TEST_UNSET_BROKER}
        """,
        2,
        "environment variable BEATD_TEST_UNSET_BROKER is not set "
        "(write ${BEATD_TEST_UNSET_BROKER:-default} to give a default)",
    ),
    # -- includes --------------------------------------------------------------------------
    "duplicate-name-across-include": Bad(
        """
        include: [conf.d/*.yaml]
        entries:
          report:
            task: reports.send
            every: 1h
        """,
        5,
        "entry 'report': the name is used twice; first at {dir}/beatd.yaml:3",
        at="conf.d/extra.yaml",
        files={
            "conf.d/extra.yaml": """
            entries:
              cleanup:
                task: tasks.cleanup
                every: 1d
              report:
                task: reports.other
                every: 2h
            """
        },
    ),
    "duplicate-name-in-one-file": Bad(
        """
        entries:
          report:
            task: reports.send
            every: 1h
          cleanup:
            task: tasks.cleanup
            every: 1d
          report:
            task: reports.other
            every: 2h
        """,
        8,
        "entry 'report': the name is used twice; first at {dir}/beatd.yaml:2",
    ),
    "include-glob-matches-nothing": Bad(
        """
        include:
          - conf.d/*.yaml
        entries: {}
        """,
        1,
        "include 'conf.d/*.yaml' matches no file",
    ),
    "included-file-with-settings": Bad(
        """
        include: [conf.d/*.yaml]
        """,
        2,
        "included files hold only `entries:`; move 'broker' to the main file",
        at="conf.d/extra.yaml",
        files={
            "conf.d/extra.yaml": """
            entries: {}
            broker: redis://localhost
            """
        },
    ),
    "bad-entry-in-included-file": Bad(
        """
        include: [conf.d/*.yaml]
        """,
        4,
        "entry 'cleanup': cron hour field '24' is out of range 0-23",
        at="conf.d/extra.yaml",
        files={
            "conf.d/extra.yaml": """
            entries:
              cleanup:
                task: tasks.cleanup
                cron: "0 24 * * *"
            """
        },
    ),
    # -- YAML itself -----------------------------------------------------------------------
    "duplicate-key-in-one-mapping": Bad(
        """
        entries:
          report:
            task: reports.send
            every: 1h
            task: reports.other
        """,
        5,
        "entry 'report': key 'task' appears twice in one mapping; the first is at line 3",
    ),
    "entry-name-read-as-bool": Bad(
        """
        entries:
          on:
            task: lights.on
            every: 1h
        """,
        2,
        "key 'on' is read as bool True, not text; quote it: 'on'",
    ),
    "entry-name-null": Bad(
        """
        entries:
          ~:
            task: t.tick
            every: 1h
        """,
        2,
        "key '~' is read as null, not text; quote it: '~'",
    ),
    "list-as-key": Bad(
        """
        entries:
          ? [a, b]
          : {task: t.tick, every: 1h}
        """,
        2,
        "a key must be text, not a list",
    ),
    "invalid-yaml-syntax": Bad(
        """
        entries:
          add:
            task: tasks.add
            args: [16, 16
            every: 10s
        """,
        5,
        "invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence at line 4)",
    ),
    "bad-indentation": Bad(
        """
        entries:
          add:
            task: tasks.add
           every: 10s
        """,
        4,
        "invalid YAML: expected <block end>, but found ",
        prefix=True,
    ),
    "tab-indentation": Bad(
        "entries:\n  add:\n\ttask: tasks.add\n", 3, "invalid YAML: found character '\\t'", prefix=True
    ),
    "control-character": Bad(
        "entries:\n  add:\n    task: tasks.add\x07\n", 3, "invalid YAML: character 0x7 is not allowed in YAML text"
    ),
    "explicit-int-tag-on-text": Bad(
        """
        entries:
          add:
            task: tasks.add
            every: !!int ten
        """,
        4,
        "entry 'add': 'ten' is not a valid !!int",
    ),
    "set-tag": Bad(
        """
        entries:
          add:
            task: tasks.add
            every: 10s
            kwargs: {ids: !!set {1, 2}}
        """,
        5,
        f"entry 'add': the YAML tag '!!set' {NOT_PLAIN_DATA}",
    ),
    "top-level-list": Bad(
        """
        - task: tasks.add
          every: 10s
        """,
        1,
        "the file must be a mapping of settings and `entries:`, not a list",
    ),
    "top-level-text": Bad(
        """
        just some words
        """,
        1,
        "the file must be a mapping of settings and `entries:`, not a str",
    ),
    "not-utf8": Bad(
        b"entries:\n  add:\n    task: caf\xe9\n    every: 10s\n",
        None,
        "the file is not UTF-8 text (byte 0xe9 at offset 29)",
    ),
    "missing-file": Bad(None, None, "cannot read the file: No such file or directory"),
    # -- settings ----------------------------------------------------------------------------
    "entries-a-list": Bad(
        """
        entries:
          - add
        """,
        1,
        "entries must be a mapping, not ['add']",
    ),
    "include-not-a-list": Bad(
        """
        include: conf.d/*.yaml
        """,
        1,
        "include must be a list, not 'conf.d/*.yaml'",
    ),
    "catchup-limit-zero": Bad(
        """
        catchup_limit: 0
        """,
        1,
        "catchup_limit 0 must be at least 1",
    ),
    "leader-sql-without-url": Bad(
        """
        timezone: UTC
        leader: {backend: sql}
        """,
        2,
        "leader: backend 'sql' needs a url",
    ),
    "leader-unknown-backend": Bad(
        """
        leader:
          backend: zookeeper
        """,
        2,
        "backend 'zookeeper' is not one of none, sql, redis",
    ),
    # -- what would fail when a run is published or recorded (issue 11) ----------------------
    # The entry as issue 11 gives it: `beatd check` said "ok", then `beatd run` exited at its first fire.
    "issue-11-reserved-header-task": Bad(
        """
        entries:
          good:
            task: tasks.add
            every: 1s
          add:
            task: tasks.add
            every: 1s
            options: {headers: {task: x}}
        """,
        8,
        "entry 'add': options.headers may not set 'task': beatd writes these Celery protocol headers itself; "
        "rename the header",
    ),
    "reserved-headers-named-at-the-first": Bad(
        """
        entries:
          add:
            task: tasks.add
            every: 1s
            options:
              headers:
                tenant: acme
                origin: cron-host
                id: fixed
        """,
        8,
        "entry 'add': options.headers may not set 'origin', 'id': beatd writes these Celery protocol headers "
        "itself; rename the header",
    ),
    "name-longer-than-state-stores-keep": Bad(
        f"""
        entries:
          {LONG_NAME}:
            task: tasks.add
            every: 1s
        """,
        2,
        f"entry '{LONG_NAME}': the name is 256 characters long; state stores keep names of up to 255",
    ),
    "name-empty": Bad(
        """
        entries:
          "":
            task: tasks.add
            every: 1s
        """,
        2,
        "entry '': the name is empty; name the entry",
    ),
    "name-with-nul": Bad(
        """
        entries:
          "add\\0":
            task: tasks.add
            every: 1s
        """,
        2,
        "entry 'add\\x00': the name holds a NUL character (\\x00), which PostgreSQL cannot store",
    ),
    "name-with-lone-surrogate": Bad(
        """
        entries:
          "add\\ud800":
            task: tasks.add
            every: 1s
        """,
        2,
        "entry 'add\\ud800': the name holds '\\ud800', a lone surrogate, which UTF-8 cannot encode",
    ),
    "args-nan": Bad(
        """
        entries:
          add:
            task: tasks.add
            every: 1s
            args: [1, .nan]
        """,
        5,
        "entry 'add': args[1] is NaN: JSON has no NaN or Infinity; send a number or null",
    ),
    "kwargs-infinity-nested": Bad(
        """
        entries:
          add:
            task: tasks.add
            every: 1s
            kwargs:
              limits:
                - low: 0
                  high: .inf
        """,
        8,
        "entry 'add': kwargs.limits[0].high is Infinity: JSON has no NaN or Infinity; send a number or null",
    ),
    "kwargs-minus-infinity": Bad(
        """
        entries:
          add:
            task: tasks.add
            every: 1s
            kwargs: {floor: -.inf}
        """,
        5,
        "entry 'add': kwargs.floor is -Infinity: JSON has no NaN or Infinity; send a number or null",
    ),
    "header-nan": Bad(
        """
        entries:
          add:
            task: tasks.add
            every: 1s
            options:
              headers:
                weight: .nan
        """,
        7,
        "entry 'add': options.headers.weight is NaN: JSON has no NaN or Infinity; send a number or null",
    ),
    "header-integer-beyond-64-bits": Bad(
        """
        entries:
          add:
            task: tasks.add
            every: 1s
            options:
              headers:
                big: 9223372036854775808
        """,
        7,
        "entry 'add': options.headers.big is 9223372036854775808, outside the 64-bit integers AMQP headers hold",
    ),
    "header-name-beyond-255-bytes": Bad(
        f"""
        entries:
          add:
            task: tasks.add
            every: 1s
            options:
              headers:
                {LONG_HEADER}: x
        """,
        6,
        f"entry 'add': options.headers has the key '{LONG_HEADER[:40]}'... (256 characters), longer than AMQP's limit of "
        "255 bytes for header names",
    ),
    "queue-beyond-255-bytes": Bad(
        f"""
        entries:
          add:
            task: tasks.add
            every: 1s
            options:
              queue: {LONG_QUEUE}
        """,
        6,
        f"entry 'add': options.queue '{LONG_QUEUE[:40]}'... (256 characters) is longer than AMQP's limit of 255 bytes "
        "for names",
    ),
    "at-too-far-ahead": Bad(
        """
        entries:
          launch:
            task: rockets.launch
            at: 9999-12-31T23:59:00+00:00
            jitter: 1m
        """,
        4,
        "entry 'launch': at '9999-12-31T23:59:00+00:00' is too far ahead: beatd schedules runs before the year 9000",
    ),
    # -- a likely typo gets a hint (issue 15) --------------------------------------------------
    "entry-key-typo": Bad(
        """
        entries:
          add:
            task: tasks.add
            evry: 10s
        """,
        4,
        f"entry 'add': unknown key 'evry'; did you mean 'every'? allowed keys: {ENTRY_KEYS}",
    ),
    "option-typo": Bad(
        """
        entries:
          add:
            task: tasks.add
            every: 10s
            options: {queu: reports}
        """,
        5,
        f"entry 'add': unknown key 'options.queu'; did you mean 'queue'? allowed keys: {OPTION_KEYS}",
    ),
}


@pytest.mark.parametrize("case", list(BAD.values()), ids=list(BAD))
def test_bad_config_is_one_line_with_file_and_line_and_exit_1(
    tmp_path: Path, case: Bad, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BEATD_TEST_UNSET_QUEUE", raising=False)
    monkeypatch.delenv("BEATD_TEST_UNSET_BROKER", raising=False)
    config = tmp_path / "beatd.yaml"
    if case.text is not None:
        write(config, case.text)
    for relative, text in case.files.items():
        write(tmp_path / relative, text)

    result = check(config)

    where = f"{tmp_path / case.at}" + (f":{case.line}" if case.line is not None else "")
    expected = f"{where}: {case.message.replace('{dir}', str(tmp_path))}"
    assert result.exit_code == 1, result.output
    # A ClickException ends in SystemExit(1); a crash would leave its own exception here.
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    if case.prefix:
        assert lines[0].startswith(expected)
    else:
        assert lines[0] == expected


def test_check_reports_every_error_in_file_order_then_how_many(tmp_path: Path) -> None:
    # Given a file with errors of five kinds (two in one entry), a setting that fails to
    # convert, and an included file with an error and a name the main file uses already
    config = write(tmp_path / "beatd.yaml", """
        timezone: Europe/Berlin
        leader: {backend: redis}
        include: [more.yaml]
        entries:
          zeta:
            task: t.zeta
            evry: 10s
            colour: red
          report:
            task: reports.send
            cron: "61 7 * * *"
          alpha:
            task: t.alpha
            every: 10s
            options: {queu: reports}
          local:
            task: t.local
            every: 10s
            timezone: Mars/Olympus
          good:
            task: t.good
            every: 10s
        """)
    included = write(tmp_path / "more.yaml", """
        entries:
          good:
            task: t.other
            every: 20s
          nightly:
            task: t.nightly
            cron: "@nightly"
        """)

    result = check(config)

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{config}:2: leader: backend 'redis' needs a url",
        f"{config}:7: entry 'zeta': unknown key 'evry'; did you mean 'every'? allowed keys: {ENTRY_KEYS}",
        f"{config}:8: entry 'zeta': unknown key 'colour'; allowed keys: {ENTRY_KEYS}",
        f"{config}:11: entry 'report': cron minute field '61' is out of range 0-59",
        f"{config}:15: entry 'alpha': unknown key 'options.queu'; did you mean 'queue'? allowed keys: {OPTION_KEYS}",
        f"{config}:19: entry 'local': unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Berlin)",
        f"{included}:2: entry 'good': the name is used twice; first at {config}:20",
        f"{included}:7: entry 'nightly': cron alias '@nightly' is not one of @yearly, @annually, @monthly, @weekly, "
        "@daily, @midnight, @hourly",
        "8 errors",
    ]
    # load_config still stops at one of them, as every command but check does.
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert str(caught.value) in result.stderr.splitlines()


def test_check_reports_a_yaml_syntax_error_once_and_still_checks_the_other_files(tmp_path: Path) -> None:
    config = write(tmp_path / "beatd.yaml", """
        include: [more.yaml]
        entries:
          report:
            task: reports.send
            cron: "61 7 * * *"
        """)
    included = write(tmp_path / "more.yaml", "entries:\n  a: [\n")

    lines = check(config).stderr.splitlines()

    assert lines[0] == f"{config}:5: entry 'report': cron minute field '61' is out of range 0-59"
    assert lines[1].startswith(f"{included}:3: invalid YAML: ")
    assert lines[2:] == ["2 errors"]


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "timezone: UTC\nentries:\n"], ids=["empty", "comment", "no-entries"])
def test_check_warns_about_a_file_without_entries_instead_of_ok(tmp_path: Path, text: str) -> None:
    config = tmp_path / "beatd.yaml"
    config.write_text(text, encoding="utf-8")
    result = check(config)
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == (f"warning: {config}: no entries: the file and its includes define none and name no "
                             "store\n")


def test_check_is_ok_with_no_file_entries_when_a_store_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/entries.sqlite3"
    config = write(tmp_path / "beatd.yaml", f"""
        stores: [{{sql: "{url}"}}]
        """)
    # Before the store's tables exist, check says so (the daemon could not read it either)
    missing = check(config)
    assert missing.exit_code == 1 and "the entry tables do not exist; run: beatd db upgrade" in missing.stderr
    assert CliRunner().invoke(main, ["db", "upgrade", "--url", url]).exit_code == 0
    result = check(config)
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"store sql {url}: 0 entries\nok: {config}: 0 entries\n", "")


def test_bad_table_covers_enough_cases() -> None:
    assert len(BAD) >= 25


@pytest.mark.parametrize("header", sorted(RESERVED_HEADERS))
def test_every_reserved_header_is_refused_at_its_line(tmp_path: Path, header: str) -> None:
    config = write(tmp_path / "beatd.yaml", f"""
        entries:
          add:
            task: tasks.add
            every: 1s
            options: {{headers: {{tenant: acme, {header}: x}}}}
        """)
    with pytest.raises(ConfigError, match=rf"^{config}:5: entry 'add': options.headers may not set '{header}':"):
        load_config(config)


def test_entries_at_the_limits_check_ok_and_every_run_builds_and_encodes(tmp_path: Path) -> None:
    # One below each limit check enforces: what check accepts must publish and record.
    config = write(tmp_path / "beatd.yaml", f"""
        entries:
          {LONG_NAME[:255]}:
            task: tasks.add
            every: 1s
            args: [1.5, -0.0, 1e308, null, true, "\\ud800", [[[]]]]
            kwargs: {{big: 99999999999999999999999, nested: {{a: [{{b: 1}}]}}}}
            options:
              queue: {LONG_QUEUE[:255]}
              exchange: {"é" * 127}
              routing_key: key
              headers:
                {LONG_HEADER[:255]}: 9223372036854775807
                low: -9223372036854775808
                list: [1, 2.5, "x", null, {{deep: true}}]
          launch:
            task: rockets.launch
            at: 8999-12-31T23:59:59+00:00
            jitter: 100d
            options: {{expires: 36500d}}
        """)
    assert check(config).exit_code == 0
    now = datetime(2026, 6, 1, tzinfo=UTC)
    for entry in load_config(config).entries:
        scheduled_at = entry.schedule.next_after(now)
        assert scheduled_at is not None
        fire = Fire(entry=entry, scheduled_at=scheduled_at, publish_at=scheduled_at + entry.jitter_offset())
        message = MessageBuilder("host").build(fire, now)
        # What kombu's AMQP transport and the Redis fast path write on publish.
        amqp_dumps("FsssS", [message.headers, message.queue, message.exchange, message.routing_key, message.body])
        assert json.loads(EnvelopeForms().json(message))["headers"]["beatd_entry"] == entry.name
        assert newest_per_entry([RunRecord(entry=entry.name, scheduled_at=scheduled_at, sent_at=now, run_count=1)])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("    args: [16, 9998]", "    args: [16, .nan]"), "entry 'job-09998': args[1] is NaN: JSON has no NaN or "
                                                            "Infinity; send a number or null"),
        (("  job-09998:", f"  {LONG_NAME}:"), f"entry '{LONG_NAME}': the name is 256 characters long; state stores "
                                               "keep names of up to 255"),
    ],
    ids=["args-nan", "long-name"],
)
def test_an_entry_shaped_like_its_neighbours_is_checked_too(tmp_path: Path, big_file_text: str,
                                                            edit: tuple[str, str], message: str) -> None:
    # The loader builds an entry shaped like an earlier one from that one; its name and args still count.
    lines = big_file_text.splitlines()
    at = lines.index(edit[0])
    lines[at] = edit[1]
    config = tmp_path / "beatd.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert str(caught.value) == f"{config}:{at + 1}: {message}"


def test_load_config_raises_config_error_chained_from_the_cause(tmp_path: Path) -> None:
    config = write(
        tmp_path / "beatd.yaml",
        """
        entries:
          report:
            task: reports.send
            cron: "61 7 * * *"
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert str(caught.value) == f"{config}:4: entry 'report': cron minute field '61' is out of range 0-59"
    assert isinstance(caught.value.__cause__, ValueError)


_FUZZ_TOKENS = (
    "{",
    "}",
    "[",
    "]",
    ":",
    "- ",
    "  ",
    "\n",
    "&a ",
    "*a",
    "<<: ",
    "!!int ",
    "!!float ",
    "!!binary ",
    "~",
    "'",
    '"',
    "#",
    "?",
    "|",
    ">",
    "---\n",
    "\t",
    ".nan",
    ".inf",
    "-1",
    "0",
    "99999999999999999999",
    "${BEATD_TEST_UNSET}",
    "${BEATD_TEST_UNSET:-1}",
    "Europe",
    "lat: 5",
    "at: 2026-01-01",
    "every: 0",
    "\ufeff",
    "\x85",
    "\x07",
)
# Whole lines, put at the start of a line with an entry's indentation.
_FUZZ_LINES = (
    "every: .inf",
    "every: .nan",
    "every: 1.0e+300",
    "every: !!int x",
    "jitter: 99999999999999999999",
    "at: !!timestamp x",
    "lat: .nan",
    "timezone: Europe",
    "timezone: ''",
    "? [a, b]\n    : 1",
    "~: 1",
    "on: 1",
    "kwargs: !!set {a}",
    "start: 2026-01-01",
    "end: 2020-01-01",
    "options: {priority: 300}",
    "solar: sunrise",
    "lat: 5",
    "lon: 5",
    "<<: {}",
    "args: !!binary x",
    "task: ${BEATD_TEST_UNSET}",
)


def mangled(text: str, rng: random.Random, edits: int, tokens: tuple[str, ...], lines: tuple[str, ...]) -> str:
    """The text after `edits` random edits: a token put in, a line put in with an entry's indentation, or a cut."""
    for _ in range(edits):
        at = rng.randrange(len(text) + 1)
        roll = rng.random()
        if roll < 0.35:
            text = text[:at] + rng.choice(tokens) + text[at:]
        elif roll < 0.7:
            line_start = text.rfind("\n", 0, at) + 1
            text = text[:line_start] + "    " + rng.choice(lines) + "\n" + text[line_start:]
        else:
            text = text[:at] + text[at + rng.randint(1, 12) :]
    return text


def test_mangled_demo_files_give_a_config_error_never_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever a user's editor leaves behind, load_config answers with one ConfigError line.
    monkeypatch.delenv("BEATD_TEST_UNSET", raising=False)
    demo = DEMO.read_text(encoding="utf-8")
    config = tmp_path / "beatd.yaml"
    rng = random.Random(20260329)
    outcomes = {"loaded": 0, "rejected": 0}
    for _ in range(250):
        text = mangled(demo, rng, rng.randint(1, 4), _FUZZ_TOKENS, _FUZZ_LINES)
        config.write_text(text, encoding="utf-8")
        try:
            load_config(config)
        except ConfigError as exc:
            message = str(exc)
            assert message.startswith(f"{config}"), message
            assert "\n" not in message, message
            outcomes["rejected"] += 1
        else:
            outcomes["loaded"] += 1
    assert outcomes["rejected"] > 100 and outcomes["loaded"] > 5, outcomes


# ---------------------------------------------------------------------------------------
# YAML safety


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system",
        "!!python/object/new:os.system",
        "!!python/name:os.system",
        "!ruby/object",
    ],
)
def test_python_object_tags_are_refused_and_never_run(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "pwned"
    config = write(
        tmp_path / "beatd.yaml",
        f"""
        entries:
          evil:
            task: tasks.add
            every: 10s
            args: {tag} ["touch {marker}"]
        """,
    )

    result = check(config)

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stderr == f"{config}:5: entry 'evil': the YAML tag {tag!r} {NOT_PLAIN_DATA}\n"
    assert not marker.exists()


def test_python_object_document_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path / "beatd.yaml", "!!python/object:beatd.config.Config {path: x}\n")

    with pytest.raises(ConfigError) as caught:
        load_config(config)

    assert str(caught.value) == f"{config}:1: the YAML tag '!!python/object:beatd.config.Config' {NOT_PLAIN_DATA}"


def test_loading_a_config_leaves_yaml_safe_loader_unchanged(tmp_path: Path) -> None:
    load_config(write(tmp_path / "beatd.yaml", "entries: {a: {task: t, at: '2026-01-01T00:00:00Z'}}\n"))
    assert yaml.safe_load("when: 2026-01-01") == {"when": datetime(2026, 1, 1).date()}
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.safe_load("!!python/name:os.system ''")


# ---------------------------------------------------------------------------------------
# Good files: each kind of schedule


def load(tmp_path: Path, text: str):
    return load_config(write(tmp_path / "beatd.yaml", text))


def entries_by_name(config):
    return {entry.name: entry for entry in config.entries}


def test_every_kind_loads_into_its_schedule_type(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        timezone: Europe/Berlin
        entries:
          add-every-30s:
            task: tasks.add
            every: 30s
          every-90m:
            task: tasks.x
            every: 1h30m
          every-2.5:
            task: tasks.x
            every: 2.5
          every-2d:
            task: tasks.x
            every: 2d
          weekday-report:
            task: reports.send
            cron: "30 7 * * 1-5"
            timezone: America/New_York
          daily:
            task: tasks.daily
            cron: "@daily"
          wake-up:
            task: home.morning
            solar: sunrise
            lat: -37.81
            lon: 144.96
            elevation: 40
          launch:
            task: rockets.launch
            at: 2026-12-01T10:00:00+01:00
        """,
    )
    entries = entries_by_name(config)
    assert list(entries) == [
        "add-every-30s",
        "every-90m",
        "every-2.5",
        "every-2d",
        "weekday-report",
        "daily",
        "wake-up",
        "launch",
    ]

    interval = entries["add-every-30s"].schedule
    assert isinstance(interval, IntervalSchedule)
    assert (interval.every, interval.anchor, interval.kind) == (timedelta(seconds=30), EPOCH, "interval")
    assert entries["every-90m"].schedule.every == timedelta(minutes=90)
    assert entries["every-2.5"].schedule.every == timedelta(seconds=2.5)
    assert entries["every-2d"].schedule.every == timedelta(days=2)

    cron = entries["weekday-report"].schedule
    assert isinstance(cron, CronSchedule)
    assert (cron.expression, cron.zone, cron.kind) == ("30 7 * * 1-5", ZoneInfo("America/New_York"), "cron")
    assert (cron.minutes, cron.hours, cron.fixed_time) == ((30,), (7,), True)
    assert entries["daily"].schedule.expression == "@daily"
    assert entries["daily"].schedule.zone == ZoneInfo("Europe/Berlin")

    solar = entries["wake-up"].schedule
    assert isinstance(solar, SolarSchedule)
    assert (solar.event, solar.latitude, solar.longitude, solar.elevation) == ("sunrise", -37.81, 144.96, 40.0)
    assert solar.zone == ZoneInfo("Europe/Berlin")
    assert solar.kind == "solar"

    once = entries["launch"].schedule
    assert isinstance(once, OnceSchedule)
    assert once.at.isoformat() == "2026-12-01T10:00:00+01:00"
    assert entries["launch"].task == "rockets.launch"


def test_day_match_both_gives_celerys_and_rule_and_either_is_the_default(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        entries:
          friday-13th:
            task: t.unlucky
            cron: "0 9 13 * 5"
            day_match: both
          friday-or-13th:
            task: t.unlucky
            cron: "0 9 13 * 5"
          said-either:
            task: t.unlucky
            cron: "0 9 13 * 5"
            day_match: either
        """,
    )
    entries = entries_by_name(config)
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert entries["friday-13th"].schedule.day_match == "both"
    assert entries["friday-13th"].schedule.next_after(after) == datetime(2026, 2, 13, 9, tzinfo=UTC)
    assert entries["friday-or-13th"].schedule.next_after(after) == datetime(2026, 1, 2, 9, tzinfo=UTC)
    assert entries["said-either"].schedule == entries["friday-or-13th"].schedule


def test_solar_entry_in_a_config_without_timezone_loads_in_utc(tmp_path: Path) -> None:
    # Regression: the default zone is datetime.timezone.utc, which SolarSchedule refused (TypeError).
    entry = load(
        tmp_path,
        """
        entries:
          noon:
            task: t.noon
            solar: solar_noon
            lat: 0
            lon: 0
        """,
    ).entries[0]
    assert entry.schedule.zone == ZoneInfo("UTC")
    fire = entry.schedule.next_after(datetime(2026, 3, 20, tzinfo=UTC))
    assert fire.utcoffset() == timedelta(0)
    # Solar noon on the Greenwich meridian is within 20 minutes of 12:00 UTC all year.
    assert abs(fire.astimezone(UTC) - datetime(2026, 3, 20, 12, tzinfo=UTC)) < timedelta(minutes=20)


def test_start_and_end_wrap_the_schedule_in_a_window(tmp_path: Path) -> None:
    entry = load(
        tmp_path,
        """
        timezone: Europe/Berlin
        entries:
          tick:
            task: t.tick
            every: 1h
            start: 2026-06-01T00:30:00
            end: 2026-06-01T03:30:00+00:00
        """,
    ).entries[0]
    schedule = entry.schedule
    assert isinstance(schedule, WindowedSchedule)
    assert isinstance(schedule.inner, IntervalSchedule)
    # A naive start is read in the zone; an interval with a start counts from it.
    assert schedule.start.isoformat() == "2026-06-01T00:30:00+02:00"
    assert schedule.end.isoformat() == "2026-06-01T03:30:00+00:00"
    assert schedule.inner.anchor == schedule.start
    fires, t = [], datetime(2026, 5, 31, tzinfo=UTC)
    while (t := schedule.next_after(t)) is not None:
        fires.append(t.astimezone(UTC).isoformat())
    assert fires == [
        "2026-05-31T22:30:00+00:00",
        "2026-05-31T23:30:00+00:00",
        "2026-06-01T00:30:00+00:00",
        "2026-06-01T01:30:00+00:00",
        "2026-06-01T02:30:00+00:00",
        "2026-06-01T03:30:00+00:00",
    ]


def test_other_entry_keys_are_mapped(tmp_path: Path) -> None:
    entry = load(
        tmp_path,
        """
        entries:
          add:
            task: tasks.add
            every: 10s
            args: [16, [1, 2]]
            kwargs: {format: pdf, pages: 3}
            enabled: false
            catchup: all
            jitter: 1m30s
            description: adds numbers
        """,
    ).entries[0]
    assert entry.args == (16, [1, 2])
    assert entry.kwargs == {"format": "pdf", "pages": 3}
    assert entry.enabled is False
    assert entry.catchup is CatchUp.ALL
    assert entry.jitter == timedelta(seconds=90)
    assert entry.description == "adds numbers"
    assert str(entry.source) == f"{tmp_path / 'beatd.yaml'}:2"


def test_yaml_merge_keys_work_and_written_keys_override_merged_ones(tmp_path: Path) -> None:
    entries = entries_by_name(
        load(
            tmp_path,
            """
        entries:
          base: &base
            task: tasks.base
            every: 10s
            options: {queue: slow}
          fast:
            <<: *base
            every: 1s
        """,
        )
    )
    assert entries["fast"].task == "tasks.base"
    assert entries["fast"].schedule.every == timedelta(seconds=1)
    assert entries["fast"].options.queue == "slow"
    assert entries["base"].schedule.every == timedelta(seconds=10)


# ---------------------------------------------------------------------------------------
# ${VAR} interpolation


def test_env_var_is_substituted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEATD_TEST_BROKER", "redis://cache:6379/3")
    monkeypatch.setenv("BEATD_TEST_QUEUE", "reports")
    config = load(
        tmp_path,
        """
        broker: ${BEATD_TEST_BROKER}
        entries:
          report:
            task: reports.send
            every: 1h
            options: {queue: "${BEATD_TEST_QUEUE}-high"}
            args: ["${BEATD_TEST_QUEUE}/${BEATD_TEST_QUEUE}"]
        """,
    )
    assert config.broker == "redis://cache:6379/3"
    assert config.entries[0].options.queue == "reports-high"
    assert config.entries[0].args == ("reports/reports",)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "redis://localhost:6379/0"),
        ({"BEATD_TEST_BROKER": "amqp://rabbit//"}, "amqp://rabbit//"),
        ({"BEATD_TEST_BROKER": ""}, ""),
    ],
    ids=["unset-uses-default", "set-wins-over-default", "set-to-empty-wins"],
)
def test_env_var_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str) -> None:
    monkeypatch.delenv("BEATD_TEST_BROKER", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = load(
        tmp_path,
        """
        broker: ${BEATD_TEST_BROKER:-redis://localhost:6379/0}
        """,
    )
    assert config.broker == expected


def test_unquoted_env_var_is_typed_like_yaml_and_quoted_stays_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BEATD_TEST_FLAG", raising=False)
    monkeypatch.setenv("BEATD_TEST_PRIORITY", "7")
    entry = load(
        tmp_path,
        """
        entries:
          report:
            task: reports.send
            every: ${BEATD_TEST_EVERY:-90}
            enabled: ${BEATD_TEST_FLAG:-false}
            options:
              priority: ${BEATD_TEST_PRIORITY}
            kwargs:
              code: "${BEATD_TEST_PRIORITY}"
              when: ${BEATD_TEST_WHEN:-2026-01-01}
              ratio: ${BEATD_TEST_RATIO:-0.5}
              empty: ${BEATD_TEST_EMPTY:-}
        """,
    ).entries[0]
    assert entry.enabled is False
    assert entry.options.priority == 7
    assert entry.schedule.every == timedelta(seconds=90)
    assert entry.kwargs == {"code": "7", "when": "2026-01-01", "ratio": 0.5, "empty": ""}


def test_env_var_in_included_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEATD_TEST_TASK", "tasks.from_env")
    write(
        tmp_path / "conf.d" / "a.yaml",
        """
        entries:
          included:
            task: ${BEATD_TEST_TASK}
            every: 1m
        """,
    )
    config = load(tmp_path, "include: [conf.d/*.yaml]\n")
    assert [entry.task for entry in config.entries] == ["tasks.from_env"]


# ---------------------------------------------------------------------------------------
# Instants and zones


def test_naive_at_is_read_in_the_entry_zone(tmp_path: Path) -> None:
    entries = entries_by_name(
        load(
            tmp_path,
            """
        timezone: Europe/Berlin
        entries:
          in-new-york:
            task: t.x
            at: 2026-12-01T10:00:00
            timezone: America/New_York
          in-config-zone:
            task: t.x
            at: 2026-07-01T10:00:00
          aware:
            task: t.x
            at: 2026-12-01T10:00:00+01:00
            timezone: America/New_York
          utc-z:
            task: t.x
            at: 2026-12-01T10:00:00Z
          space-separated:
            task: t.x
            at: 2026-12-01 10:00:00.250+05:30
        """,
        )
    )
    assert entries["in-new-york"].schedule.at.isoformat() == "2026-12-01T10:00:00-05:00"
    assert entries["in-new-york"].schedule.at.astimezone(UTC).isoformat() == "2026-12-01T15:00:00+00:00"
    assert entries["in-config-zone"].schedule.at.isoformat() == "2026-07-01T10:00:00+02:00"
    # An offset in the file wins over the entry's zone: the instant is 09:00 UTC.
    assert entries["aware"].schedule.at.isoformat() == "2026-12-01T10:00:00+01:00"
    assert entries["aware"].schedule.at.astimezone(UTC).isoformat() == "2026-12-01T09:00:00+00:00"
    assert entries["utc-z"].schedule.at.astimezone(UTC).isoformat() == "2026-12-01T10:00:00+00:00"
    assert entries["space-separated"].schedule.at.isoformat() == "2026-12-01T10:00:00.250000+05:30"


def test_naive_at_on_a_fall_back_day_is_the_first_occurrence(tmp_path: Path) -> None:
    # Europe/Berlin 2026-10-25: 03:00 CEST -> 02:00 CET, so 02:30 happens twice.
    entry = load(
        tmp_path,
        """
        timezone: Europe/Berlin
        entries:
          twice:
            task: t.x
            at: 2026-10-25T02:30:00
        """,
    ).entries[0]
    assert entry.schedule.at.astimezone(UTC).isoformat() == "2026-10-25T00:30:00+00:00"


def test_entry_zone_overrides_config_zone(tmp_path: Path) -> None:
    entries = entries_by_name(
        load(
            tmp_path,
            """
        timezone: Europe/Berlin
        entries:
          berlin:
            task: t.x
            cron: "0 9 * * *"
          new-york:
            task: t.x
            cron: "0 9 * * *"
            timezone: America/New_York
          interval:
            task: t.x
            every: 1h
        """,
        )
    )
    assert entries["berlin"].timezone == ZoneInfo("Europe/Berlin")
    assert entries["new-york"].timezone == ZoneInfo("America/New_York")
    assert entries["interval"].timezone == ZoneInfo("Europe/Berlin")
    t = datetime(2026, 1, 15, tzinfo=UTC)
    assert entries["berlin"].schedule.next_after(t).isoformat() == "2026-01-15T09:00:00+01:00"
    assert entries["berlin"].schedule.next_after(t).astimezone(UTC).hour == 8
    assert entries["new-york"].schedule.next_after(t).isoformat() == "2026-01-15T09:00:00-05:00"
    assert entries["new-york"].schedule.next_after(t).astimezone(UTC).hour == 14


def test_yaml_timestamps_stay_text_and_are_parsed_once(tmp_path: Path) -> None:
    # PyYAML alone would turn these into date/datetime objects (naive ones lose the entry
    # zone, and dates are not JSON); beatd keeps them as the text written.
    entry = load(
        tmp_path,
        """
        entries:
          report:
            task: reports.send
            at: 2026-12-01T10:00:00.5+01:00
            description: 2026-01-01
            kwargs:
              since: 2026-01-01
              until: 2026-01-31T23:59:59Z
              explicit: !!timestamp 2026-02-01
            args: [2026-03-01]
        """,
    ).entries[0]
    assert entry.kwargs == {"since": "2026-01-01", "until": "2026-01-31T23:59:59Z", "explicit": "2026-02-01"}
    assert entry.args == ("2026-03-01",)
    assert entry.description == "2026-01-01"
    assert entry.schedule.at == datetime(2026, 12, 1, 10, 0, 0, 500000, tzinfo=timezone(timedelta(hours=1)))
    json.dumps(entry.kwargs)  # plain data all the way down


# ---------------------------------------------------------------------------------------
# Includes


def test_include_globs_are_relative_to_the_config_file_and_sorted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "etc" / "beatd"
    for name in ("20-b.yaml", "10-a.yaml", "30-c.yaml"):
        write(
            home / "conf.d" / name,
            f"""
            entries:
              from-{name[:-5]}:
                task: t.x
                every: 1m
            """,
        )
    write(home / "conf.d" / "40-d.yml", "entries: {not-matched: {task: t.x, every: 1m}}\n")
    write(home / "extra" / "z.yaml", "entries: {extra-z: {task: t.x, every: 1m}}\n")
    write(
        home / "beatd.yaml",
        """
        include: [conf.d/*.yaml, extra/*.yaml]
        entries:
          main:
            task: t.x
            every: 1m
        """,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    config = load_config(os.path.relpath(home / "beatd.yaml"))

    assert [entry.name for entry in config.entries] == ["main", "from-10-a", "from-20-b", "from-30-c", "extra-z"]
    sources = {entry.name: entry.source for entry in config.entries}
    assert Path(sources["from-20-b"].path).resolve() == (home / "conf.d" / "20-b.yaml").resolve()
    assert sources["from-20-b"].line == 2


def test_included_file_entries_use_the_main_file_zone(tmp_path: Path) -> None:
    write(tmp_path / "conf.d" / "a.yaml", "entries: {nightly: {task: t.x, cron: '30 2 * * *'}}\n")
    config = load(
        tmp_path,
        """
        timezone: Asia/Tokyo
        include: [conf.d/*.yaml]
        """,
    )
    assert config.entries[0].schedule.zone == ZoneInfo("Asia/Tokyo")


def test_empty_included_file_adds_nothing(tmp_path: Path) -> None:
    write(tmp_path / "conf.d" / "empty.yaml", "# nothing yet\n")
    assert load(tmp_path, "include: [conf.d/*.yaml]\n").entries == ()


# ---------------------------------------------------------------------------------------
# Options and defaults


def test_options_are_mapped(tmp_path: Path) -> None:
    entries = entries_by_name(
        load(
            tmp_path,
            """
        entries:
          full:
            task: t.x
            every: 1m
            options:
              queue: reports
              exchange: ex
              routing_key: rk.reports
              priority: 5
              expires: 1h
              headers: {tenant: acme}
              time_limit: 5m
              soft_time_limit: 30
          numeric-expires:
            task: t.x
            every: 1m
            options: {expires: 3600, priority: 9.0}
        """,
        )
    )
    assert entries["full"].options == Options(
        queue="reports",
        exchange="ex",
        routing_key="rk.reports",
        priority=5,
        expires=timedelta(hours=1),
        headers={"tenant": "acme"},
        time_limit=300.0,
        soft_time_limit=30.0,
    )
    assert entries["numeric-expires"].options.expires == timedelta(seconds=3600)
    # JSON Schema counts 9.0 as an integer; the message needs an int priority.
    priority = entries["numeric-expires"].options.priority
    assert (priority, type(priority)) == (9, int)


def test_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        entries:
          tick:
            task: t.tick
            cron: "*/5 * * * *"
        """,
    )
    assert config.broker == "sqla+sqlite:///beatd-broker.sqlite3"
    assert config.state == "sqlite:///beatd-state.sqlite3"
    assert config.timezone.utcoffset(datetime(2026, 7, 1)) == timedelta(0)
    assert config.leader.backend == "none"
    assert config.catchup_limit == 100
    entry = config.entries[0]
    assert entry.catchup is CatchUp.LATEST
    assert entry.enabled is True
    assert (entry.args, entry.kwargs, entry.options, entry.jitter) == ((), {}, Options(), None)
    assert entry.schedule.next_after(datetime(2026, 7, 1, 12, 2, tzinfo=UTC)).isoformat() == "2026-07-01T12:05:00+00:00"


def test_empty_file_is_a_config_with_no_entries(tmp_path: Path) -> None:
    config = load(tmp_path, "# nothing here\n")
    assert config.entries == ()
    assert config.broker == "sqla+sqlite:///beatd-broker.sqlite3"


def test_settings_are_read(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        timezone: Europe/Berlin
        broker: redis://localhost:6379/0
        state: postgresql://db/beatd
        leader: {backend: redis, url: "redis://localhost:6379/1", ttl: 30s}
        catchup_limit: 7
        """,
    )
    assert config.timezone == ZoneInfo("Europe/Berlin")
    assert (config.broker, config.state, config.catchup_limit) == (
        "redis://localhost:6379/0",
        "postgresql://db/beatd",
        7,
    )
    assert (config.leader.backend, config.leader.url, config.leader.ttl) == (
        "redis",
        "redis://localhost:6379/1",
        timedelta(seconds=30),
    )


# ---------------------------------------------------------------------------------------
# The demo file and the shipped JSON Schema


def test_demo_file_checks_ok() -> None:
    result = check(DEMO)
    assert result.exit_code == 0, result.output
    assert result.output == f"ok: {DEMO}: 6 entries\n"


class _Yaml12Loader(yaml.SafeLoader):
    """What an editor's YAML 1.2 reader sees: timestamps are plain strings."""

    yaml_implicit_resolvers: ClassVar[dict] = {
        first: [(tag, regexp) for tag, regexp in resolvers if not tag.endswith(":timestamp")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)  # against the 2020-12 meta-schema
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_shipped_schema_is_valid_and_accepts_the_demo_file(schema_validator) -> None:
    demo = yaml.load(DEMO.read_text(encoding="utf-8"), Loader=_Yaml12Loader)  # a SafeLoader subclass
    assert [error.message for error in schema_validator.iter_errors(demo)] == []


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"entries": {"a": {"task": "t"}}}, "oneOf"),
        ({"entries": {"a": {"task": "t", "every": 5, "cron": "* * * * *"}}}, "oneOf"),
        ({"entries": {"a": {"task": "t", "solar": "sunrise", "lat": 1}}}, "dependentRequired"),
        ({"entries": {"a": {"task": "t", "cron": "* * * * *", "lat": 1}}}, "dependentRequired"),
        ({"entries": {"a": {"task": "t", "every": "5x"}}}, "oneOf"),
        ({"entries": {"a": {"task": "t", "every": 5, "colour": "red"}}}, "additionalProperties"),
        ({"brokr": "x"}, "additionalProperties"),
        ({"entries": {"a": {"task": "t", "every": 5, "options": {"priority": 300}}}}, "maximum"),
    ],
    ids=[
        "no-schedule",
        "two-schedules",
        "solar-without-lon",
        "lat-without-solar",
        "bad-duration",
        "unknown-entry-key",
        "unknown-top-level-key",
        "priority-300",
    ],
)
def test_shipped_schema_rejects_what_check_rejects(schema_validator, document, expected: str) -> None:
    assert [error.validator for error in schema_validator.iter_errors(document)] == [expected]


def test_schema_file_is_packaged_with_the_module() -> None:
    from importlib import resources

    text = resources.files("beatd.config").joinpath("config.schema.json").read_text(encoding="utf-8")
    assert json.loads(text) == json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------
# The YAML reader (libyaml's events) reads exactly what safe_load reads


class _SafeLoadAsBeatd(yaml.SafeLoader):
    """safe_load with beatd's two differences: timestamps and a lone `=` stay text."""

    yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers
                if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def read_both_ways(path: Path) -> tuple[str, str]:
    """The document (as repr, so True, 1 and 1.0 differ) or error from beatd's reader, and from safe_load."""
    from beatd.config.document import read_yaml

    text = path.read_text(encoding="utf-8")
    try:
        ours = repr(read_yaml(path))
    except ConfigError as exc:
        ours = f"ConfigError: {exc}"
    if "${" in text:  # safe_load leaves ${VAR} as it is
        return ours, "not compared"
    try:
        reference = repr(yaml.load(text, Loader=_SafeLoadAsBeatd) or {})
    except (yaml.YAMLError, ValueError) as exc:  # safe_load lets `!!int x` raise a bare ValueError
        reference = f"refused: {exc}"
    return ours, reference


def assert_readers_agree(path: Path) -> bool:
    """beatd's reader says what is wrong, or reads what safe_load reads; True if it read the file."""
    ours, reference = read_both_ways(path)
    read = not ours.startswith("ConfigError: ")
    if read and reference != "not compared":
        assert ours == reference, path.read_text(encoding="utf-8")
    return read


def assert_read_as_safe_load_reads(path: Path) -> None:
    """The file loads, and its YAML reads as safe_load reads it."""
    load_config(path)
    assert assert_readers_agree(path)


# Common files: each loads, and reads as safe_load reads it.
PLAIN_FILES = {
    "scalars-of-every-type": """
        timezone: UTC
        entries:
          a:
            task: t
            every: 30s
            args: [1, -2, 0, 16, "two", 'three', 4.5, -0.5, 1.5e3, true, null, ~, on, Off, 0x1f, 010, 1_000, 2026-01-01, =]
            kwargs: {a: 1, b: "x y", c: 'z', d: yes, e: ~, f: 1e3, g: -.5, i: a b  c}
        """,
    "nested-blocks-and-comments": """
        # a comment before everything
        broker: ${BEATD_TEST_UNSET_BROKER:-redis://localhost:6379/0}   # default broker
        entries:  # the jobs
          a:
            task: t   # trailing comment
            every: 1h30m

            # a comment inside an entry, at another indentation
        # and one in column 0
            kwargs:
              nested:
                deeper: 1
                list: [1, 2]
              after: x
            options:
              queue: q
              priority: 5
              expires: 60
              headers: {x-trace: abc, n: 1}
          b:
              task: t2
              cron: 30 7 * * 1-5
              timezone: America/New_York
              description: Grüße from zürich, with colons:inside, a#hash   # and a comment
        """,
    "every-entry-key": """
        timezone: Europe/Berlin
        entries:
          "quoted name":
            task: t
            solar: sunrise
            lat: -37.81
            lon: 144.96
            elevation: 10
            timezone: Australia/Melbourne
          'single quoted':
            task: t
            at: 2030-12-01T10:00:00+01:00
          name with spaces:
            task: t
            every: ${BEATD_TEST_UNSET_EVERY:-90}
            enabled: ${BEATD_TEST_UNSET_FLAG:-false}
            catchup: all
            jitter: 5s
            start: 2026-01-01T00:00:00Z
            end: "2030-01-01"
            description: "${BEATD_TEST_UNSET_TEXT:-42}"
        """,
    "flow-settings-and-flow-entries": """
        leader: {backend: none}
        stores: []
        entries:
            a: {task: t, every: 5}
            b: {task: "t", cron: "@daily"}
        """,
    "flow-entries-at-the-top": "entries: {a: {task: t, every: 5}}\n",
    "empty-entries": "timezone: UTC\nentries:\n# nothing yet\n",
    "no-final-newline": "entries:\n  a:\n    task: t\n    every: 5",
    "one-odd-entry": """
        entries:
          a:
            task: t
            every: 5
          odd:
            task: t
            every: 5
            args:
              - 1
              - [2, 3]
            description: >
              folded
              text
          "c":
            task: t
            every: 5
            kwargs: {k: "v"}
        """,
    "odd-entries-first-and-last": """
        entries:
          first:
            task: t
            every: !!int "5"
          b:
            task: t
            every: 5
          last:
            task: t
            every: 5
            args: [1,
                   2]""",
    "alike-entries": """
        entries:
          a:
            task: t
            every: 5
            args: [1]
          b: {task: t, every: 5}
          c:
            task: t
            every: 5
            args: []
          d: {task: t, every: '5'}
          e:
            task: t
            every: 5
            args: [2, x]
          f:
            task: t
            every: 5
            args: [3]
            kwargs: {k: 1}
          g:
            task: t
            every: 5
            args: [4]
            kwargs: {k: 1}
        """,
}


@pytest.mark.parametrize("text", list(PLAIN_FILES.values()), ids=list(PLAIN_FILES))
def test_yaml_reader_takes_common_files_and_agrees(tmp_path: Path, text: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BEATD_TEST_UNSET_BROKER", "BEATD_TEST_UNSET_EVERY", "BEATD_TEST_UNSET_FLAG", "BEATD_TEST_UNSET_TEXT"):
        monkeypatch.delenv(name, raising=False)
    assert_read_as_safe_load_reads(write(tmp_path / "beatd.yaml", text))


def test_yaml_reader_takes_the_demo_file_and_included_files(tmp_path: Path) -> None:
    assert_read_as_safe_load_reads(DEMO)
    write(tmp_path / "conf.d" / "a.yaml", "entries:\n  included:\n    task: t\n    every: 5\n")
    assert_read_as_safe_load_reads(write(tmp_path / "beatd.yaml", "include:\n  - conf.d/*.yaml\nentries:\n  a:\n"
                                                                "    task: t\n    every: 5\n"))


# Lines put into an entry of a small file: inside the subset, at its edges, and beyond.
_EDGE_LINES = (
    "args: [1, 2,]", "args: [1, , 2]", "args: [[1]]", "args: [a: 1]", "args: {a: [1]}", "args: [-, 1]", "args: [- 1]",
    "args: ['it''s']", 'args: ["a\\tb"]', "args: [\"a]\"]", "args: [a #b]", "args: [a, b] # c", "args: [a]b",
    "args: [ ]", "kwargs: {}", "kwargs: {a: }", "kwargs: {a:1}", "kwargs: {a: 1, a: 2}", "kwargs: {1: a}",
    "kwargs: {on: a}", "kwargs: {'1': a}", "kwargs: {\"${BEATD_TEST_UNSET}\": 1}", "kwargs: {a: b: c}",
    "description: a: b", "description: a:", "description: a#b", "description: a #b", "description: 'a'b",
    "description: \"a\" # c", "description: -a", "description: - a", "description: ?a", "description: @a",
    "description: `a", "description: %a", "description: !a", "description: &a b", "description: *a",
    "description: |", "description: >", "description: \"a\\\"b\"", "description: 'a''b'", "description: a  b  ",
    "description: a\xa0b", "description: a\u2028b", "description: \ufeffa", "description: ${BEATD_TEST_UNSET}",
    "description: '${BEATD_TEST_UNSET:-x}'", "description: =", "description: <<", "description: ~",
    "description: 0o17", "description: 0b101", "description: 1:30", "description: 190:20:30", "description: .nan",
    "description: 1e400", "kwargs: {h: 2026-01-01 10:00}", "description: 99999999999999999999",
    "description: !!str 5", "description: !!int x",
    "1: x", "on: x", "~: x", "null: x", "<<: {task: t2}", "? x\n    : y", "- x", "description:x", "description :x",
    "task: t2", "every: 0", "every: -5", "every: 5x", "every: 1.5", "colour: red", "timezone: Europe",
    "options: {priority: 300}", "options: {priority: 5.0}", "options: {priority: true}", "enabled: 1",
    "kwargs:\n      - a", "kwargs:\n      a: 1\n     b: 2", "kwargs:\n      a: 1\n        b: 2", "kwargs:\n    a: 1",
    "description: first\n      continued", "description: first\n\n      continued: x", "kwargs: {a: 1,\n      b: 2}",
    "\tdescription: tab", "description: x\r", "lat: 5", "solar: sunrise",
    "a:b: x", "a#b: x", "a b:c: x", "zürich job: x", "http://x: y", "-x: y", "a,b: x", "a[b]: x", "a: b\u3000c",
    "description: ü\xa0", "kwargs: {ü: \xa0}", "kwargs:\n      a:b: 1\n      'c': 2\n      \"d\": 3",
)


@pytest.mark.parametrize(
    "text",
    [
        "entries:\n  a:\n    task: t\n    every: 5\n'entries': {}\n",
        "'entries': {}\nentries:\n  a:\n    task: t\n    every: 5\n",
        "entries:\n  a:\n    task: t\n    every: 5\nentries:\n",
        "timezone: UTC\nentries:\n  a:\n    task: t\n    every: 5\ntimezone: UTC\n",
        "entries:\n  a:\n    task: t\n    every: 5\n  a:\n    task: t\n    every: 6\n",
        "  entries:\n    a: {task: t, every: 5}\n",
        "entries:\n a:\n    task: t\n    every: 5\n  b:\n    task: t\n    every: 5\n",
        "---\nentries:\n  a: {task: t, every: 5}\n",
        "entries:\n  a: {task: t, every: 5}\n...\n",
        "- entries\n",
        # Entries alike but for name and args are made from the first; these differ in more.
        "entries:\n  a: {task: t, every: 5, enabled: true}\n  b: {task: t, every: 5, enabled: 1}\n",
        "entries:\n  a: {task: t, every: 5, enabled: true, args: [1]}\n  b: {task: t, every: 5, enabled: true, args: 1}\n",
        "entries:\n  a: {task: t, every: 5, args: [1]}\n  b: {task: t, every: 5, args: {x: 1}}\n",
        "entries:\n  a: {task: t, solar: sunrise, lat: 0.0, lon: 1}\n  b: {task: t, solar: sunrise, lat: -0.0, lon: 1}\n",
        # Entries handed to the line-aware parser one by one: what only the whole file can tell.
        "entries:\n  a:\n    task: t\n    every: 5\n    args: [&x 1]\n  b:\n    task: t\n    every: 5\n    args: [&x 2]\n",
        "entries:\n  a:\n    task: t\n    every: &x 5\n  b:\n    task: t\n    every: *x\n",
        "entries:\n  a:\n    task: t\n    every: 5\n    args:\n    - 1\n  a:\n    task: t\n    every: 5\n",
        "entries:\n    a:\n      task: t\n      every: 5\n      args:\n      - 1\n  b:\n    task: t\n    every: 5\n",
        "entries:\n  a:\n    task: t\n    every: 5\n    description: one\n  two\n  b:\n    task: t\n    every: 5\n",
        "entries:\n  a:\n    task: t\n    every: 5\n    description: 'one\n  two'\n  b:\n    task: t\n    every: 5\n",
        "entries:\n  - a\n  b:\n    task: t\n    every: 5\n",
        "entries:\n  ? a\n  : {task: t, every: 5}\n  b:\n    task: t\n    every: 5\n",
    ],
    ids=["entries-twice-flow-last", "entries-twice-flow-first", "entries-twice-empty", "setting-twice", "name-twice",
         "indented-document", "uneven-entry-indentation", "document-start", "document-end", "top-level-list",
         "alike-but-1-for-true", "alike-but-args-not-a-list", "alike-but-args-a-mapping", "alike-but-minus-zero",
         "one-anchor-in-two-entries", "alias-to-another-entry", "name-twice-one-odd", "odd-entry-then-less-indented",
         "text-going-on-at-entry-indentation", "quoted-text-going-on-at-entry-indentation", "block-list-entry",
         "complex-key"],
)
def test_yaml_reader_agrees_on_top_level_oddities(tmp_path: Path, text: str) -> None:
    assert_readers_agree(write(tmp_path / "beatd.yaml", text))


def test_yaml_reader_agrees_at_the_edges_of_its_subset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEATD_TEST_UNSET", raising=False)
    config = tmp_path / "beatd.yaml"
    read = 0
    for line in _EDGE_LINES:
        for where in ("first", "last"):
            body = f"    task: t\n    every: 30\n    {line}\n" if where == "last" else f"    {line}\n    task: t\n    every: 30\n"
            config.write_text(f"entries:\n  a:\n{body}  b:\n    task: t\n    every: 60\n", encoding="utf-8")
            read += assert_readers_agree(config)
    assert read > 20  # and the rest were refused with a message, never read differently


def test_yaml_reader_agrees_on_mangled_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEATD_TEST_UNSET", raising=False)
    demo = DEMO.read_text(encoding="utf-8")
    config = tmp_path / "beatd.yaml"
    rng = random.Random(20261122)
    tokens = (*_FUZZ_TOKENS, ",", "'a'", '"b"', "x: ", " #", "  - ", "\r\n", "@", "=", "<<", "${BEATD_TEST_UNSET:-7}")
    outcomes = {"same": 0, "refused": 0}
    for _ in range(400):
        config.write_text(mangled(demo, rng, rng.randint(1, 3), tokens, _FUZZ_LINES + _EDGE_LINES), encoding="utf-8")
        outcomes["same" if assert_readers_agree(config) else "refused"] += 1
    assert outcomes["same"] > 50 and outcomes["refused"] > 50, outcomes


@pytest.fixture(scope="module")
def big_file_text() -> str:
    lines = ["timezone: Europe/Berlin", "entries:"]
    for index in range(10_000):
        lines += [f"  job-{index:05d}:", "    task: tasks.add", f"    every: {60 + index % 600}",
                  f"    args: [16, {index}]"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("bad_line", "message", "at_entry_line"),
    [
        ("    colour: red", f"entry 'job-09998': unknown key 'colour'; allowed keys: {ENTRY_KEYS}", False),
        ("    cron: 61 7 * * *", "entry 'job-09998': needs exactly one of every, cron, solar, at (found: every, cron)",
         True),
        ("    timezone: Mars/Olympus",
         "entry 'job-09998': unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Berlin)", False),
        ("    jitter: soon", f"entry 'job-09998': jitter 'soon' {NOT_A_DURATION}", False),
        ("  job-00003:", "entry 'job-00003': the name is used twice; first at {path}:15", False),
        ("      kwargs: {a: 1}", "invalid YAML: mapping values are not allowed here", False),
    ],
    ids=["schema", "two-schedules", "zone", "duration", "repeated-name", "yaml-syntax"],
)
def test_a_bad_entry_late_in_a_big_file_is_reported_at_its_line(tmp_path: Path, big_file_text: str, bad_line: str,
                                                               message: str, at_entry_line: bool) -> None:
    lines = big_file_text.splitlines()
    entry_at = lines.index("  job-09998:")  # line 39,995 (1-based)
    bad_at = entry_at + 3  # after its task and every
    lines.insert(bad_at, bad_line)
    config = tmp_path / "beatd.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    line = entry_at + 1 if at_entry_line else bad_at + 1
    assert str(caught.value) == f"{config}:{line}: {message.replace('{path}', str(config))}"


def test_a_big_file_loads_as_safe_load_reads_it(tmp_path: Path, big_file_text: str) -> None:
    config = tmp_path / "beatd.yaml"
    config.write_text(big_file_text, encoding="utf-8")
    assert_read_as_safe_load_reads(config)
    loaded = load_config(config)
    assert [entry.source.line for entry in loaded.entries[:2]] == [3, 7]
    assert loaded.entries[-1].source.line == 3 + 4 * 9_999
    # Entries share what they can: one schedule per distinct interval, one options value, one text per task.
    assert loaded.entries[0].schedule is loaded.entries[600].schedule
    assert loaded.entries[0].options is loaded.entries[1].options
    assert loaded.entries[0].task is loaded.entries[1].task


def test_entry_of_is_entry_with_every_field_given() -> None:
    import dataclasses
    import inspect

    from beatd.entry import Entry, Source, entry_of

    names = [field.name for field in dataclasses.fields(Entry)]
    assert list(inspect.signature(entry_of).parameters) == names
    values = {
        "name": "n", "task": "t", "schedule": IntervalSchedule(every=timedelta(seconds=5)), "args": (1,),
        "kwargs": {"k": 2}, "options": Options(queue="q"), "enabled": False, "catchup": CatchUp.ALL,
        "jitter": timedelta(seconds=3), "timezone": ZoneInfo("Europe/Berlin"), "description": "d",
        "source": Source(path="p", line=7),
    }
    made = entry_of(**values)
    assert made == Entry(**values)
    assert [getattr(made, name) for name in names] == list(values.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "other"  # type: ignore[misc]


def test_metrics_per_entry_is_a_boolean_setting(tmp_path: Path) -> None:
    on = write(tmp_path / "on.yaml", "entries:\n  a: {task: t, every: 5s}\n")
    off = write(tmp_path / "off.yaml", "metrics_per_entry: false\nentries:\n  a: {task: t, every: 5s}\n")
    bad = write(tmp_path / "bad.yaml", "metrics_per_entry: 3\nentries:\n  a: {task: t, every: 5s}\n")
    assert (load_config(on).metrics_per_entry, load_config(off).metrics_per_entry) == (True, False)
    assert check(bad).stderr == f"{bad}:1: metrics_per_entry must be true or false, not 3\n"
