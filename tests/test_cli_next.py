"""`beatd next`, the dry run, against the Command line contract in DESIGN.md; plus help and --version.

Every run passes a fixed --from, so no result depends on the wall clock.

Europe/Berlin transitions used below (DST rules, DESIGN.md):
    2026-03-29 01:00 UTC: 02:00 CET (+01:00) -> 03:00 CEST (+02:00); 02:00-02:59 never happens
    2026-10-25 01:00 UTC: 03:00 CEST (+02:00) -> 02:00 CET (+01:00); 02:00-02:59 happens twice
America/New_York: EDT (-04:00) from 2026-03-08 to 2026-11-01.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import beatd
from beatd.cli import main

# The DESIGN.md example, without its include, plus entries the tests below need.
CONFIG = """\
timezone: Europe/Berlin
entries:
  add-every-30s:
    task: tasks.add
    every: 30s
    args: [16, 16]
  weekday-report:
    task: reports.send
    cron: "30 7 * * 1-5"
    timezone: America/New_York
    kwargs: {format: pdf}
    options: {queue: reports, priority: 5, expires: 3600}
  wake-up:
    task: home.morning
    solar: sunrise
    lat: -37.81
    lon: 144.96
  launch:
    task: rockets.launch
    at: 2026-12-01T10:00:00+01:00
  nightly-cleanup:
    task: tasks.cleanup
    cron: "30 2 * * *"
  hourly:
    task: tasks.hourly
    cron: "0 * * * *"
  b-tick:
    task: tasks.b
    every: 1m
  a-tick:
    task: tasks.a
    every: 1m
  paused:
    task: tasks.paused
    every: 1s
    enabled: false
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "beatd.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="beatd", env=env)


def beatd_next(config: Path, *args: str) -> Result:
    return invoke("next", "--config", str(config), *args)


def json_rows(result: Result) -> list[dict[str, str]]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def ats(result: Result) -> list[str]:
    return [row["at"] for row in json_rows(result)]


# ---------------------------------------------------------------------------------------
# The window: strictly after --from, at or before --until


def test_fires_are_strictly_after_from(config: Path) -> None:
    # 12:00:00 UTC is itself an add-every-30s slot; it must not be listed.
    result = beatd_next(config, "--from", "2026-01-10T12:00:00Z", "--count", "2", "--entry", "add-every-30s", "--json")
    assert [row["utc"] for row in json_rows(result)] == ["2026-01-10T12:00:30Z", "2026-01-10T12:01:00Z"]


def test_fires_at_until_are_included_and_after_it_left_out(config: Path) -> None:
    common = ("--from", "2026-01-10T12:00:00Z", "--entry", "add-every-30s", "--json")
    at_slot = beatd_next(config, *common, "--until", "2026-01-10T12:01:30Z")
    before_slot = beatd_next(config, *common, "--until", "2026-01-10T12:01:29.999999Z")
    assert [row["utc"] for row in json_rows(at_slot)] == [
        "2026-01-10T12:00:30Z",
        "2026-01-10T12:01:00Z",
        "2026-01-10T12:01:30Z",
    ]
    assert [row["utc"] for row in json_rows(before_slot)] == ["2026-01-10T12:00:30Z", "2026-01-10T12:01:00Z"]


def test_until_without_count_lists_every_fire_in_the_window(config: Path) -> None:
    result = beatd_next(
        config,
        "--from",
        "2026-01-10T12:00:00Z",
        "--until",
        "2026-01-10T12:10:00Z",
        "--entry",
        "add-every-30s",
        "--json",
    )
    utcs = [row["utc"] for row in json_rows(result)]
    # 12:00:30 ... 12:10:00 every 30 s: 20 slots, more than the default 5.
    assert len(utcs) == 20
    assert (utcs[0], utcs[-1]) == ("2026-01-10T12:00:30Z", "2026-01-10T12:10:00Z")


def test_until_without_count_covers_all_entries(config: Path) -> None:
    result = beatd_next(config, "--from", "2026-01-10T12:00:00+01:00", "--until", "2026-01-10T14:00:00+01:00", "--json")
    counts: dict[str, int] = {}
    for row in json_rows(result):
        counts[row["entry"]] = counts.get(row["entry"], 0) + 1
    assert counts == {"add-every-30s": 240, "a-tick": 120, "b-tick": 120, "hourly": 2}


def test_count_gives_the_first_n_fires_of_each_entry(config: Path) -> None:
    result = beatd_next(
        config,
        "--from",
        "2026-01-10T12:00:00Z",
        "--count",
        "3",
        "--entry",
        "hourly",
        "--entry",
        "launch",
        "--entry",
        "a-tick",
        "--json",
    )
    by_entry: dict[str, list[str]] = {}
    for row in json_rows(result):
        by_entry.setdefault(row["entry"], []).append(row["at"])
    assert by_entry == {
        "a-tick": ["2026-01-10T13:01:00+01:00", "2026-01-10T13:02:00+01:00", "2026-01-10T13:03:00+01:00"],
        "hourly": ["2026-01-10T14:00:00+01:00", "2026-01-10T15:00:00+01:00", "2026-01-10T16:00:00+01:00"],
        # A one-off has only one fire, whatever N asks for.
        "launch": ["2026-12-01T10:00:00+01:00"],
    }


def test_count_and_until_together_stop_at_whichever_comes_first(config: Path) -> None:
    result = beatd_next(
        config,
        "--from",
        "2026-01-10T12:00:00Z",
        "--until",
        "2026-01-10T12:02:00Z",
        "--count",
        "10",
        "--entry",
        "a-tick",
        "--entry",
        "add-every-30s",
        "--json",
    )
    rows = json_rows(result)
    assert [(row["entry"], row["utc"]) for row in rows] == [
        ("add-every-30s", "2026-01-10T12:00:30Z"),
        ("a-tick", "2026-01-10T12:01:00Z"),
        ("add-every-30s", "2026-01-10T12:01:00Z"),
        ("add-every-30s", "2026-01-10T12:01:30Z"),
        ("a-tick", "2026-01-10T12:02:00Z"),
        ("add-every-30s", "2026-01-10T12:02:00Z"),
    ]


def test_default_is_five_fires_per_entry(config: Path) -> None:
    result = beatd_next(config, "--from", "2026-01-10T12:00:00Z", "--json")
    counts: dict[str, int] = {}
    for row in json_rows(result):
        counts[row["entry"]] = counts.get(row["entry"], 0) + 1
    assert counts == {
        "add-every-30s": 5,
        "weekday-report": 5,
        "wake-up": 5,
        "launch": 1,
        "nightly-cleanup": 5,
        "hourly": 5,
        "b-tick": 5,
        "a-tick": 5,
    }


def test_window_that_ends_before_it_starts_lists_nothing(config: Path) -> None:
    result = beatd_next(config, "--from", "2026-01-10T12:00:00Z", "--until", "2026-01-10T11:00:00Z", "--json")
    assert result.exit_code == 0
    assert result.stdout == ""


def test_one_off_in_the_past_is_not_listed(config: Path) -> None:
    result = beatd_next(config, "--from", "2026-12-01T09:00:00Z", "--entry", "launch", "--json")
    assert result.exit_code == 0
    assert result.stdout == ""


# ---------------------------------------------------------------------------------------
# --entry


def test_entry_filters_and_repeats(config: Path) -> None:
    one = beatd_next(config, "--from", "2026-01-10T12:00:00Z", "--entry", "hourly", "--json")
    two = beatd_next(config, "--from", "2026-01-10T12:00:00Z", "-e", "hourly", "-e", "nightly-cleanup", "--json")
    assert {row["entry"] for row in json_rows(one)} == {"hourly"}
    assert len(json_rows(one)) == 5
    assert {row["entry"] for row in json_rows(two)} == {"hourly", "nightly-cleanup"}
    assert len(json_rows(two)) == 10


def test_unknown_entry_is_an_error_naming_it(config: Path) -> None:
    result = beatd_next(config, "--from", "2026-01-10T12:00:00Z", "--entry", "hourly", "--entry", "hourlly")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert result.stderr == f"{config}: no entry named 'hourlly'\n"


def test_disabled_entries_are_left_out(config: Path) -> None:
    result = beatd_next(config, "--from", "2026-01-10T12:00:00Z", "--until", "2026-01-10T12:05:00Z", "--json")
    entries = {row["entry"] for row in json_rows(result)}
    assert "paused" not in entries
    assert entries == {"add-every-30s", "a-tick", "b-tick"}


def test_bad_config_is_reported_by_next_too(tmp_path: Path) -> None:
    path = tmp_path / "beatd.yaml"
    path.write_text("entries:\n  x:\n    task: t\n    cron: '61 * * * *'\n", encoding="utf-8")
    result = beatd_next(path, "--from", "2026-01-10T12:00:00Z")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stderr == f"{path}:4: entry 'x': cron minute field '61' is out of range 0-59\n"


# ---------------------------------------------------------------------------------------
# --json


def test_json_example_line_from_design(config: Path) -> None:
    result = beatd_next(config, "--from", "2026-03-28T00:00:00Z", "--count", "1", "--entry", "weekday-report", "--json")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        '{"entry": "weekday-report", "task": "reports.send", '
        '"at": "2026-03-30T07:30:00-04:00", "utc": "2026-03-30T11:30:00Z"}\n'
    )


def test_json_lines_have_exactly_four_keys_in_order(config: Path) -> None:
    rows = json_rows(beatd_next(config, "--from", "2026-01-10T12:00:00Z", "--json"))
    assert len(rows) == 36
    for row in rows:
        assert list(row) == ["entry", "task", "at", "utc"]
        assert row["utc"].endswith("Z")
        # `at` and `utc` name the same instant.
        assert datetime.fromisoformat(row["at"]) == datetime.fromisoformat(row["utc"])


def test_json_rows_are_sorted_by_time_then_entry_name(config: Path) -> None:
    rows = json_rows(beatd_next(config, "--from", "2026-01-10T12:00:00Z", "--count", "3", "--json"))
    keys = [(datetime.fromisoformat(row["utc"]), row["entry"]) for row in rows]
    assert keys == sorted(keys)
    # a-tick and b-tick fire at the same instants; a-tick comes first each time, though
    # b-tick is written first in the file.
    ticks = [row["entry"] for row in rows if row["entry"] in ("a-tick", "b-tick")]
    assert ticks == ["a-tick", "b-tick"] * 3


@pytest.mark.parametrize(
    ("entry", "minute", "offset"),
    [
        ("weekday-report", "2026-01-12T07:30", "-05:00"),  # its own zone, winter time
        ("nightly-cleanup", "2026-01-11T02:30", "+01:00"),  # no zone: the config's
        ("add-every-30s", "2026-01-10T13:00", "+01:00"),  # an interval, shown in the config's zone
        # Melbourne's sunrise (about 06:10 AEDT, 19:10 UTC), shown in the config's zone.
        ("wake-up", "2026-01-10T20:10", "+01:00"),
    ],
    ids=["entry-zone", "config-zone-cron", "config-zone-interval", "config-zone-solar"],
)
def test_json_at_is_in_the_entry_zone(config: Path, entry: str, minute: str, offset: str) -> None:
    rows = json_rows(beatd_next(config, "--from", "2026-01-10T12:00:00Z", "--count", "1", "--entry", entry, "--json"))
    assert len(rows) == 1
    assert (rows[0]["at"][:16], rows[0]["at"][-6:]) == (minute, offset)


def test_one_instant_in_several_zones_is_shown_in_each_entry_zone(tmp_path: Path) -> None:
    # The same interval in three zones: one instant, three wall clocks, rows in name order.
    path = tmp_path / "beatd.yaml"
    path.write_text(textwrap.dedent("""\
        entries:
          c-tokyo: {task: t, every: 1h, timezone: Asia/Tokyo}
          a-utc: {task: t, every: 1h}
          b-berlin: {task: t, every: 1h, timezone: Europe/Berlin}
        """), encoding="utf-8")
    result = beatd_next(path, "--from", "2026-07-01T00:30:00Z", "--count", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout == textwrap.dedent("""\
        ENTRY     TASK  KIND      NEXT                       WHEN
        a-utc     t     interval  2026-07-01 01:00:00+00:00  in 30m 0s
        b-berlin  t     interval  2026-07-01 03:00:00+02:00  in 30m 0s
        c-tokyo   t     interval  2026-07-01 10:00:00+09:00  in 30m 0s
        """)


def test_config_without_timezone_shows_utc(tmp_path: Path) -> None:
    path = tmp_path / "beatd.yaml"
    path.write_text("entries:\n  tick:\n    task: t\n    cron: '15 9 * * *'\n", encoding="utf-8")
    rows = json_rows(beatd_next(path, "--from", "2026-07-01T00:00:00+02:00", "--count", "1", "--json"))
    assert rows == [{"entry": "tick", "task": "t", "at": "2026-07-01T09:15:00+00:00", "utc": "2026-07-01T09:15:00Z"}]


# ---------------------------------------------------------------------------------------
# DST, through the CLI (DESIGN.md, Time rules)


def test_berlin_spring_forward_fixed_time_fires_after_the_gap(config: Path) -> None:
    result = beatd_next(
        config, "--from", "2026-03-28T12:00:00+01:00", "--count", "3", "--entry", "nightly-cleanup", "--json"
    )
    assert ats(result) == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"]


def test_berlin_fall_back_fixed_time_fires_once_in_the_first_pass(config: Path) -> None:
    result = beatd_next(
        config,
        "--from",
        "2026-10-24T12:00:00+02:00",
        "--until",
        "2026-10-26T12:00:00+01:00",
        "--entry",
        "nightly-cleanup",
        "--json",
    )
    assert json_rows(result) == [
        {
            "entry": "nightly-cleanup",
            "task": "tasks.cleanup",
            "at": "2026-10-25T02:30:00+02:00",
            "utc": "2026-10-25T00:30:00Z",
        },
        {
            "entry": "nightly-cleanup",
            "task": "tasks.cleanup",
            "at": "2026-10-26T02:30:00+01:00",
            "utc": "2026-10-26T01:30:00Z",
        },
    ]


def test_berlin_fall_back_wildcard_fires_in_both_passes(config: Path) -> None:
    result = beatd_next(
        config,
        "--from",
        "2026-10-25T01:30:00+02:00",
        "--until",
        "2026-10-25T03:30:00+01:00",
        "--entry",
        "hourly",
        "--json",
    )
    assert ats(result) == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"]


def test_berlin_spring_forward_wildcard_skips_the_gap(config: Path) -> None:
    result = beatd_next(config, "--from", "2026-03-29T00:30:00+01:00", "--count", "3", "--entry", "hourly", "--json")
    assert ats(result) == ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"]


def test_interval_is_not_shifted_by_dst(config: Path) -> None:
    result = beatd_next(config, "--from", "2026-10-25T02:58:00+02:00", "--count", "3", "--entry", "a-tick", "--json")
    assert ats(result) == ["2026-10-25T02:59:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:01:00+01:00"]


# ---------------------------------------------------------------------------------------
# The table


def test_table_header_and_row(config: Path) -> None:
    # 23:18 -> 02:30 next day is 3 h 12 min.
    result = beatd_next(config, "--from", "2026-01-10T23:18:00+01:00", "--count", "1", "--entry", "nightly-cleanup")
    assert result.exit_code == 0, result.output
    assert result.stdout == textwrap.dedent("""\
        ENTRY            TASK           KIND  NEXT                       WHEN
        nightly-cleanup  tasks.cleanup  cron  2026-01-11 02:30:00+01:00  in 3h 12m
        """)


def test_table_lists_kinds_and_columns(config: Path) -> None:
    result = beatd_next(config, "--from", "2026-01-10T12:00:00Z", "--count", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ENTRY", "TASK", "KIND", "NEXT", "WHEN"]
    kinds = {line.split()[0]: line.split()[2] for line in lines[1:]}
    assert kinds == {
        "add-every-30s": "interval",
        "a-tick": "interval",
        "b-tick": "interval",
        "hourly": "cron",
        "wake-up": "solar",
        "nightly-cleanup": "cron",
        "weekday-report": "cron",
        "launch": "once",
    }
    # Columns line up: every row starts its NEXT column where the header's does.
    next_column = lines[0].index("NEXT")
    assert all(line[next_column : next_column + 4] == "2026" for line in lines[1:])


@pytest.mark.parametrize(
    ("from_text", "expected"),
    [
        ("2026-12-01T09:59:15+01:00", "in 45s"),
        ("2026-12-01T09:55:00+01:00", "in 5m 0s"),
        ("2026-12-01T06:48:00+01:00", "in 3h 12m"),
        ("2026-11-29T06:00:00+01:00", "in 2d 4h"),
    ],
    ids=["seconds", "minutes", "hours", "days"],
)
def test_table_when_column_in_words(config: Path, from_text: str, expected: str) -> None:
    result = beatd_next(config, "--from", from_text, "--entry", "launch")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].endswith(f"  {expected}")


def test_table_with_no_fires_is_only_the_header(config: Path) -> None:
    result = beatd_next(config, "--from", "2027-01-01T00:00:00Z", "--entry", "launch")
    assert result.exit_code == 0
    assert result.stdout == "ENTRY  TASK  KIND  NEXT  WHEN\n"


# ---------------------------------------------------------------------------------------
# Usage errors: click's, exit 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "yesterday"), "Invalid value for --from: 'yesterday' is not an ISO 8601 date-time"),
        (
            ("--from", "2026-01-10T12:00:00Z", "--until", "10.01.2026"),
            "Invalid value for --until: '10.01.2026' is not an ISO 8601 date-time",
        ),
        (("--from", "0999-01-01"), "Invalid value for --from: '0999-01-01' is outside the years 1900-9000"),
        (
            ("--from", "2026-01-10T12:00:00Z", "--count", "0"),
            "Invalid value for '--count' / '-n': 0 is not in the range x>=1.",
        ),
    ],
    ids=["from-not-iso", "until-not-iso", "from-year-outside", "count-zero"],
)
def test_bad_options_are_usage_errors(config: Path, args: tuple[str, ...], message: str) -> None:
    result = beatd_next(config, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Usage: beatd next [OPTIONS]")
    assert f"Error: {message}" in result.stderr


# ---------------------------------------------------------------------------------------
# --from and --until without an offset: read in the config's zone (Europe/Berlin here)


@pytest.mark.parametrize(
    ("from_text", "first_utc"),
    [
        ("2026-01-10", "2026-01-10T01:30:00Z"),  # midnight in Berlin is 23:00 UTC; 02:30 CET is 01:30Z
        ("2026-01-10 02:00", "2026-01-10T01:30:00Z"),
        ("2026-01-10T02:45", "2026-01-11T01:30:00Z"),
        ("2026-01-10T02:45:00+00:00", "2026-01-11T01:30:00Z"),  # 03:45 in Berlin
        ("2026-07-10", "2026-07-10T00:30:00Z"),  # summer: 02:30 CEST is 00:30Z
    ],
    ids=["date-alone", "local-time-with-space", "local-time-with-T", "with-offset", "date-in-summer"],
)
def test_from_without_offset_is_read_in_the_config_zone(config: Path, from_text: str, first_utc: str) -> None:
    rows = json_rows(beatd_next(config, "--from", from_text, "--count", "1", "--entry", "nightly-cleanup", "--json"))
    assert [row["utc"] for row in rows] == [first_utc]


def test_until_date_alone_is_midnight_in_the_config_zone(config: Path) -> None:
    # 2026-01-12 00:00 Berlin: the 02:30 runs of the 10th and 11th are in, the 12th's is not.
    rows = json_rows(beatd_next(config, "--from", "2026-01-10", "--until", "2026-01-12", "-e", "nightly-cleanup", "--json"))
    assert [row["at"] for row in rows] == ["2026-01-10T02:30:00+01:00", "2026-01-11T02:30:00+01:00"]


def test_every_example_the_error_suggests_is_accepted(config: Path) -> None:
    # Given the message for a value that is refused
    refused = beatd_next(config, "--from", "now")
    assert refused.exit_code == 2
    examples = re.findall(r"\d{4}-\d{2}-\d{2}[^ ,)]*(?: \d{2}:\d{2})?", refused.stderr)
    assert len(examples) >= 3, refused.stderr
    # Then each value it gives as an example is taken by --from and by --until
    for example in examples:
        taken = beatd_next(config, "--from", example, "--until", example, "--json")
        assert taken.exit_code == 0, (example, taken.stderr)


def test_help_says_how_times_without_offset_are_read() -> None:
    text = " ".join(invoke("next", "--help").stdout.split())
    assert "a local time without offset (2026-03-30 07:30, read in the config's `timezone:`)" in text
    assert "a date alone (its midnight there)" in text


def test_when_counts_from_the_from_option(config: Path) -> None:
    # --from two years before the run: WHEN is the distance from --from, not from now.
    result = beatd_next(config, "--from", "2024-12-01T10:00:00+01:00", "--count", "1", "--entry", "launch")
    assert result.stdout.splitlines()[1].endswith("  in 730d 0h")


JITTER_CONFIG = """\
timezone: Europe/Berlin
entries:
  spread:
    task: tasks.spread
    cron: "0 8 * * *"
    jitter: 10m
"""


def test_jittered_entries_are_listed_at_their_publish_instant(tmp_path: Path) -> None:
    from beatd.config import load_config

    path = tmp_path / "jitter.yaml"
    path.write_text(JITTER_CONFIG, encoding="utf-8")
    offset = load_config(path).entries[0].jitter_offset()
    assert timedelta(0) < offset < timedelta(minutes=10)
    rows = json_rows(beatd_next(path, "--from", "2026-01-10", "--count", "2", "--json"))
    published = datetime.fromisoformat("2026-01-10T08:00:00+01:00") + offset
    assert [row["at"] for row in rows] == [published.isoformat(), (published + timedelta(days=1)).isoformat()]
    # A --from between the slot and its publish instant still lists that run.
    between = (published - timedelta(seconds=1)).isoformat()
    rows = json_rows(beatd_next(path, "--from", between, "--count", "1", "--json"))
    assert rows[0]["at"] == published.isoformat()


def test_config_comes_from_the_environment(config: Path) -> None:
    result = invoke(
        "next",
        "--from",
        "2026-03-28T00:00:00Z",
        "-n",
        "1",
        "-e",
        "weekday-report",
        "--json",
        env={"BEATD_CONFIG": str(config)},
    )
    assert json_rows(result)[0]["utc"] == "2026-03-30T11:30:00Z"


def test_missing_config_option_is_a_usage_error() -> None:
    result = invoke("next", env={"BEATD_CONFIG": None, "BEATD_APP": None})
    assert result.exit_code == 2
    assert ("Error: Missing option '--config' / '-c' (env var: 'BEATD_CONFIG') "
            "or '--app' / '-A' (env var: 'BEATD_APP').") in result.stderr


# ---------------------------------------------------------------------------------------
# Help and version


@pytest.mark.parametrize(
    ("args", "must_mention"),
    [
        ((), ["--version", "--help", "check", "next"]),
        (("next",), ["--config", "--from", "--until", "--count", "--entry", "--json", "--help", "BEATD_CONFIG"]),
        (("check",), ["--config", "--help", "BEATD_CONFIG"]),
    ],
    ids=["beatd", "next", "check"],
)
def test_help_mentions_every_option(args: tuple[str, ...], must_mention: list[str]) -> None:
    result = invoke(*args, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: beatd {' '.join(args)}".rstrip() + " [OPTIONS]")
    missing = [word for word in must_mention if word not in result.stdout]
    assert missing == []


def test_python_m_beatd_version() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "beatd", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"beatd, version {beatd.__version__}\n"
    assert beatd.__version__ == "0.1.0"


def test_next_runs_as_a_subprocess_too(config: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "beatd",
            "next",
            "--config",
            str(config),
            "--from",
            "2026-03-28T00:00:00Z",
            "--count",
            "1",
            "--entry",
            "weekday-report",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["at"] == "2026-03-30T07:30:00-04:00"


def test_default_from_is_now(config: Path) -> None:
    before = datetime.now().astimezone()
    rows = json_rows(beatd_next(config, "--count", "1", "--entry", "add-every-30s", "--json"))
    fire = datetime.fromisoformat(rows[0]["utc"])
    assert before < fire <= datetime.now().astimezone() + timedelta(seconds=30)
