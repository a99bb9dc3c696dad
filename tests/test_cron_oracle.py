"""CronSchedule against a brute-force oracle: DST windows in many zones, day rules, bad input.

Fires are compared as ISO strings with offsets, so a fire on the wrong pass of a repeated
hour (the wrong fold) shows up even though both passes print the same wall time.
The oracle (tests/cron_oracle.py) is itself pinned to hand-computed expectations below:
every table runs against both beatd and the oracle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import cron_oracle
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis_examples import examples_at_least

ONE_MICROSECOND = timedelta(microseconds=1)


def parse_schedule(expression: str, zone: ZoneInfo, day_match: str = "either"):
    """CronSchedule.parse, imported late so the oracle's own tests run even before cron.py exists."""
    from beatd.schedules.cron import CronSchedule

    return CronSchedule.parse(expression, zone, day_match=day_match)


def to_utc(instant: datetime) -> datetime:
    # Comparing two datetimes that share a tzinfo ignores fold, so both passes of a repeated
    # hour would compare equal; compare in UTC instead.
    return instant.astimezone(UTC)


def beatd_fires(
    expression: str, zone: ZoneInfo, after: datetime, end: datetime, limit: int, day_match: str = "either"
) -> list[datetime]:
    """beatd's fires in (after, end], walking next_after from its own previous answer."""
    schedule = parse_schedule(expression, zone, day_match)
    found: list[datetime] = []
    current = after
    while len(found) <= limit:
        following = schedule.next_after(current)
        if following is None or to_utc(following) > to_utc(end):
            break
        assert following.tzinfo is not None, (
            f"{expression!r}: next_after({current.isoformat()}) returned a naive {following}"
        )
        assert to_utc(following) > to_utc(current), (
            f"{expression!r} in {zone.key}: next_after({current.isoformat()}) "
            f"returned {following.isoformat()}, not after it"
        )
        found.append(following)
        current = following
    return found


def oracle_fires(
    expression: str, zone: ZoneInfo, after: datetime, end: datetime, day_match: str = "either"
) -> list[datetime]:
    """The oracle's fires in (after, end]."""
    fires = cron_oracle.fires(expression, zone, after, end, day_match)
    return [fire for fire in fires if to_utc(fire) > to_utc(after)]


def oracle_first(expression: str, zone: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    """The oracle's first count fires after `after`, widening the window until it has them."""
    horizon = timedelta(days=2)
    while True:
        found = oracle_fires(expression, zone, after, after + horizon)
        if len(found) >= count or horizon > timedelta(days=3 * 366):
            return found[:count]
        horizon *= 4


def beatd_first(expression: str, zone: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    schedule = parse_schedule(expression, zone)
    found: list[datetime] = []
    current = after
    while len(found) < count:
        following = schedule.next_after(current)
        if following is None:
            break
        found.append(following)
        current = following
    return found


IMPLEMENTATIONS: dict[str, Callable[[str, ZoneInfo, datetime, int], list[datetime]]] = {
    "beatd": beatd_first,
    "oracle": oracle_first,
}


def iso(instants: list[datetime]) -> list[str]:
    return [instant.isoformat() for instant in instants]


def assert_same_fires(label: str, beatd: list[datetime], oracle: list[datetime]) -> None:
    """Fail naming the first fire where beatd and the oracle differ."""
    got, want = iso(beatd), iso(oracle)
    if got == want:
        return
    index = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
    first_got = got[index] if index < len(got) else "no fire"
    first_want = want[index] if index < len(want) else "no fire"
    context = slice(max(0, index - 2), index + 3)
    pytest.fail(
        f"{label}: first difference at fire #{index}: beatd {first_got}, oracle {first_want}\n"
        f"  beatd  ...{got[context]} ({len(got)} fires)\n"
        f"  oracle ...{want[context]} ({len(want)} fires)"
    )


def assert_each_fire_found_from_just_before(
    expression: str, zone: ZoneInfo, fires: list[datetime], day_match: str = "either"
) -> None:
    """next_after(fire - 1µs) is that fire; the probe is given in UTC, not in the schedule's zone."""
    schedule = parse_schedule(expression, zone, day_match)
    for fire in fires:
        probe = to_utc(fire) - ONE_MICROSECOND
        found = schedule.next_after(probe)
        assert found is not None and found.isoformat() == fire.isoformat(), (
            f"{expression!r} in {zone.key}: next_after({probe.isoformat()}) gave "
            f"{found.isoformat() if found else None}, oracle says {fire.isoformat()}"
        )


# ---------------------------------------------------------------------------------------------
# The DESIGN.md examples, written out by hand (Europe/Berlin).
# Transitions: 2026-03-29 01:00Z, 01:59:59+01:00 -> 03:00+02:00 (02:00-02:59 do not exist);
#              2026-10-25 01:00Z, 02:59:59+02:00 -> 02:00+01:00 (02:00-02:59 happen twice).
# ---------------------------------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")

DESIGN_EXAMPLES = [
    # (expression, after, expected fires) -- hand-computed from DESIGN.md's words
    pytest.param(
        "30 2 * * *",
        "2026-03-28T12:00:00+01:00",
        ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
        id="fixed-time-in-gap-fires-once-at-transition",
    ),
    pytest.param(
        "30 2 * * *",
        "2026-10-24T12:00:00+02:00",
        ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
        id="fixed-time-in-repeated-hour-fires-once-on-first-pass",
    ),
    pytest.param(
        "0 * * * *",
        "2026-10-25T01:30:00+02:00",
        ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"],
        id="wildcard-fires-on-both-passes-of-repeated-hour",
    ),
    pytest.param(
        "0 * * * *",
        "2026-03-29T00:30:00+01:00",
        ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"],
        id="wildcard-skips-the-gap",
    ),
    pytest.param(
        "0,30 1-3 * * *",
        "2026-03-29T00:00:00+01:00",
        [
            "2026-03-29T01:00:00+01:00",
            "2026-03-29T01:30:00+01:00",
            "2026-03-29T03:00:00+02:00",
            "2026-03-29T03:30:00+02:00",
            "2026-03-30T01:00:00+02:00",
        ],
        id="fixed-time-several-gap-times-give-one-fire",
    ),
    pytest.param(
        "30 2 * * 7L",
        "2026-03-01T00:00:00+01:00",
        ["2026-03-29T03:00:00+02:00", "2026-04-26T02:30:00+02:00"],
        id="last-sunday-fixed-time-lands-in-gap",
    ),
]


@pytest.mark.parametrize("implementation", list(IMPLEMENTATIONS))
@pytest.mark.parametrize(("expression", "after", "expected"), DESIGN_EXAMPLES)
def test_design_examples_in_berlin(implementation: str, expression: str, after: str, expected: list[str]) -> None:
    found = IMPLEMENTATIONS[implementation](expression, BERLIN, datetime.fromisoformat(after), len(expected))
    assert iso(found) == expected


# Hand-computed examples in the odd zones; each row's comment gives the transition it hits.
OTHER_ZONE_EXAMPLES = [
    # Australia/Lord_Howe 2026-10-03 15:30Z: 01:59+10:30 -> 02:30+11:00 (30-minute gap)
    pytest.param(
        "Australia/Lord_Howe",
        "15 2 * * *",
        "2026-10-03T12:00:00+10:30",
        ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"],
        id="lord-howe-fixed-in-half-hour-gap",
    ),
    # Australia/Lord_Howe 2026-04-04 15:00Z: 01:59+11:00 -> 01:30+10:30 (01:30-01:59 twice)
    pytest.param(
        "Australia/Lord_Howe",
        "45 1 * * *",
        "2026-04-04T12:00:00+11:00",
        ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"],
        id="lord-howe-fixed-in-half-hour-repeat",
    ),
    pytest.param(
        "Australia/Lord_Howe",
        "*/15 1 * * *",
        "2026-04-05T01:20:00+11:00",
        [
            "2026-04-05T01:30:00+11:00",
            "2026-04-05T01:45:00+11:00",
            "2026-04-05T01:30:00+10:30",
            "2026-04-05T01:45:00+10:30",
            "2026-04-06T01:00:00+10:30",
        ],
        id="lord-howe-wildcard-in-half-hour-repeat",
    ),
    # Pacific/Chatham 2026-09-26 14:00Z: 02:44+12:45 -> 03:45+13:45 (02:45-03:44 missing)
    pytest.param(
        "Pacific/Chatham",
        "0 3 * * *",
        "2026-09-26T12:00:00+12:45",
        ["2026-09-27T03:45:00+13:45", "2026-09-28T03:00:00+13:45"],
        id="chatham-fixed-in-gap",
    ),
    pytest.param(
        "Pacific/Chatham",
        "0 * * * *",
        "2026-09-27T01:30:00+12:45",
        ["2026-09-27T02:00:00+12:45", "2026-09-27T04:00:00+13:45"],
        id="chatham-wildcard-skips-gap",
    ),
    # Antarctica/Troll 2026-03-29 01:00Z: 00:59+00:00 -> 03:00+02:00 (two-hour gap)
    pytest.param(
        "Antarctica/Troll",
        "30 1,2 * * *",
        "2026-03-28T12:00:00+00:00",
        ["2026-03-29T03:00:00+02:00", "2026-03-30T01:30:00+02:00"],
        id="troll-two-gap-times-one-fire",
    ),
    # Antarctica/Troll 2026-10-25 01:00Z: 02:59+02:00 -> 01:00+00:00 (01:00-02:59 twice)
    pytest.param(
        "Antarctica/Troll",
        "0 * * * *",
        "2026-10-25T00:30:00+02:00",
        [
            "2026-10-25T01:00:00+02:00",
            "2026-10-25T02:00:00+02:00",
            "2026-10-25T01:00:00+00:00",
            "2026-10-25T02:00:00+00:00",
            "2026-10-25T03:00:00+00:00",
        ],
        id="troll-wildcard-two-hour-repeat",
    ),
    # America/Santiago 2026-09-06 04:00Z: 23:59-04:00 (Sat) -> 01:00-03:00 (Sun): midnight missing
    pytest.param(
        "America/Santiago",
        "0 0 * * *",
        "2026-09-05T12:00:00-04:00",
        ["2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00"],
        id="santiago-midnight-in-gap",
    ),
    pytest.param(
        "America/Santiago",
        "30 0 * * 0",
        "2026-09-05T12:00:00-04:00",
        ["2026-09-06T01:00:00-03:00", "2026-09-13T00:30:00-03:00"],
        id="santiago-sunday-gap-time-keeps-its-day",
    ),
    # America/Santiago 2026-04-05 03:00Z: 23:59-03:00 -> 23:00-04:00 (Saturday 23:00-23:59 twice)
    pytest.param(
        "America/Santiago",
        "30 23 * * *",
        "2026-04-04T12:00:00-03:00",
        ["2026-04-04T23:30:00-03:00", "2026-04-05T23:30:00-04:00"],
        id="santiago-fixed-in-repeat-before-midnight",
    ),
    pytest.param(
        "America/Santiago",
        "30 * * * *",
        "2026-04-04T22:45:00-03:00",
        ["2026-04-04T23:30:00-03:00", "2026-04-04T23:30:00-04:00", "2026-04-05T00:30:00-04:00"],
        id="santiago-wildcard-in-repeat-before-midnight",
    ),
    # Europe/Dublin 2026-03-29 01:00Z: 00:59+00:00 -> 02:00+01:00; 2026-10-25 01:00Z: 01:59+01:00 -> 01:00+00:00
    pytest.param(
        "Europe/Dublin",
        "30 1 * * *",
        "2026-03-28T12:00:00+00:00",
        ["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"],
        id="dublin-fixed-in-gap",
    ),
    pytest.param(
        "Europe/Dublin",
        "30 1 * * *",
        "2026-10-24T12:00:00+01:00",
        ["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"],
        id="dublin-fixed-in-repeat",
    ),
    # America/New_York 2026-11-01 06:00Z: 01:59-04:00 -> 01:00-05:00
    pytest.param(
        "America/New_York",
        "30 1 * * *",
        "2026-10-31T12:00:00-04:00",
        ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
        id="new-york-fixed-in-repeat",
    ),
    # Australia/Sydney 2026-10-03 16:00Z: 01:59+10:00 -> 03:00+11:00
    pytest.param(
        "Australia/Sydney",
        "30 2 * * *",
        "2026-10-03T12:00:00+10:00",
        ["2026-10-04T03:00:00+11:00", "2026-10-05T02:30:00+11:00"],
        id="sydney-fixed-in-gap",
    ),
]


@pytest.mark.parametrize("implementation", list(IMPLEMENTATIONS))
@pytest.mark.parametrize(("zone_key", "expression", "after", "expected"), OTHER_ZONE_EXAMPLES)
def test_dst_examples_in_other_zones(
    implementation: str, zone_key: str, expression: str, after: str, expected: list[str]
) -> None:
    found = IMPLEMENTATIONS[implementation](
        expression, ZoneInfo(zone_key), datetime.fromisoformat(after), len(expected)
    )
    assert iso(found) == expected


def test_fixed_time_in_gap_fires_once_after_gap() -> None:
    schedule = parse_schedule("30 2 * * *", BERLIN)
    fire = schedule.next_after(datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN))
    assert fire is not None and fire.isoformat() == "2026-03-29T03:00:00+02:00"


def test_fixed_time_in_repeated_hour_fires_on_first_pass_only() -> None:
    schedule = parse_schedule("30 2 * * *", BERLIN)
    first = schedule.next_after(datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN))
    assert first is not None and first.isoformat() == "2026-10-25T02:30:00+02:00"
    # Asked from inside the second pass (02:10+01:00), the next fire is the next day's.
    second_pass = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)
    following = schedule.next_after(second_pass)
    assert following is not None and following.isoformat() == "2026-10-26T02:30:00+01:00"


def test_wildcard_fires_on_both_passes_of_repeated_hour() -> None:
    schedule = parse_schedule("0 * * * *", BERLIN)
    first = schedule.next_after(datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN))
    assert first is not None and first.isoformat() == "2026-10-25T02:00:00+02:00"
    second = schedule.next_after(first)
    assert second is not None and second.isoformat() == "2026-10-25T02:00:00+01:00"


def test_next_after_answers_in_the_schedule_zone() -> None:
    fire = parse_schedule("0 12 * * *", BERLIN).next_after(datetime(2026, 7, 1, 0, 0, tzinfo=UTC))
    assert fire is not None
    assert getattr(fire.tzinfo, "key", None) == "Europe/Berlin"
    assert fire.isoformat() == "2026-07-01T12:00:00+02:00"


def test_kind_is_cron() -> None:
    assert parse_schedule("0 * * * *", BERLIN).kind == "cron"


# ---------------------------------------------------------------------------------------------
# Day rules, extensions, names, aliases: hand-computed tables, run on beatd and on the oracle.
# All in UTC at 09:00 so only the dates matter. 2026-01-01 is a Thursday.
# ---------------------------------------------------------------------------------------------

ETC_UTC = ZoneInfo("UTC")


def at_nine(*days: str) -> list[str]:
    return [f"{day}T09:00:00+00:00" for day in days]


DAY_RULE_CASES = [
    # Vixie: neither field starts with `*` -> OR.
    pytest.param(
        "0 9 13 * 5",
        "2026-02-01",
        at_nine("2026-02-06", "2026-02-13", "2026-02-20", "2026-02-27", "2026-03-06", "2026-03-13"),
        id="dom-13-OR-friday",
    ),
    pytest.param(
        "0 9 1-7 * mon",
        "2026-02-01",
        at_nine(
            "2026-02-01",
            "2026-02-02",
            "2026-02-03",
            "2026-02-04",
            "2026-02-05",
            "2026-02-06",
            "2026-02-07",
            "2026-02-09",
            "2026-02-16",
        ),
        id="dom-1-7-OR-monday-not-first-monday",
    ),
    pytest.param(
        "0 9 29 2 1",
        "2026-02-01",
        at_nine("2026-02-02", "2026-02-09", "2026-02-16", "2026-02-23"),
        id="feb-29-OR-monday-in-february",
    ),
    # Either field starts with `*` -> AND.
    pytest.param("0 9 13 * *", "2026-02-01", at_nine("2026-02-13", "2026-03-13", "2026-04-13"), id="dom-13-AND-star"),
    pytest.param("0 9 * * 5", "2026-02-01", at_nine("2026-02-06", "2026-02-13", "2026-02-20"), id="star-AND-friday"),
    pytest.param(
        "0 9 */10 * 5",
        "2026-01-01",
        at_nine("2026-05-01", "2026-07-31", "2026-08-21", "2026-09-11"),
        id="dom-star-step-AND-friday",
    ),
    pytest.param(
        "0 9 1 * */2",
        "2026-01-01",
        at_nine("2026-01-01", "2026-02-01", "2026-03-01", "2026-08-01"),
        id="dom-1-AND-dow-star-step",
    ),
    pytest.param("0 9 29 2 *", "2026-01-01", at_nine("2028-02-29"), id="leap-day-only"),
    # Extensions.
    pytest.param(
        "0 9 L * *", "2024-02-01", at_nine("2024-02-29", "2024-03-31", "2024-04-30"), id="L-last-day-of-month"
    ),
    pytest.param("0 9 L 2 *", "2024-01-01", at_nine("2024-02-29", "2025-02-28"), id="L-in-february"),
    pytest.param(
        "0 9 15W * *", "2026-02-01", at_nine("2026-02-16", "2026-03-16", "2026-04-15"), id="15W-sunday-to-monday"
    ),
    pytest.param("0 9 15W 8 *", "2026-01-01", at_nine("2026-08-14"), id="15W-saturday-to-friday"),
    pytest.param("0 9 1W * *", "2026-07-15", at_nine("2026-08-03", "2026-09-01"), id="1W-saturday-does-not-cross-back"),
    pytest.param("0 9 31W * *", "2026-05-02", at_nine("2026-05-29"), id="31W-sunday-does-not-cross-forward"),
    pytest.param(
        "0 9 * * 5#3", "2026-01-01", at_nine("2026-01-16", "2026-02-20", "2026-03-20"), id="hash-third-friday"
    ),
    pytest.param(
        "0 9 * * 1#5",
        "2026-01-01",
        at_nine("2026-03-30", "2026-06-29", "2026-08-31"),
        id="hash-fifth-monday-skips-months",
    ),
    pytest.param(
        "0 9 * * 7#1", "2026-01-01", at_nine("2026-01-04", "2026-02-01", "2026-03-01"), id="hash-first-sunday-as-7"
    ),
    pytest.param("0 9 * * 5L", "2026-01-01", at_nine("2026-01-30", "2026-02-27", "2026-03-27"), id="nL-last-friday"),
    pytest.param("0 9 * * L5", "2026-01-01", at_nine("2026-01-30", "2026-02-27", "2026-03-27"), id="Ln-last-friday"),
    pytest.param(
        "0 9 * * 0L", "2026-01-01", at_nine("2026-01-25", "2026-02-22", "2026-03-29", "2026-04-26"), id="nL-last-sunday"
    ),
    pytest.param(
        "0 9 15 * 5#1",
        "2026-01-01",
        at_nine("2026-01-02", "2026-01-15", "2026-02-06", "2026-02-15", "2026-03-06", "2026-03-15"),
        id="dom-15-OR-first-friday",
    ),
    # Names, case, 7 as Sunday.
    pytest.param("0 9 * * 0", "2026-01-01", at_nine("2026-01-04", "2026-01-11", "2026-01-18"), id="sunday-as-0"),
    pytest.param("0 9 * * 7", "2026-01-01", at_nine("2026-01-04", "2026-01-11", "2026-01-18"), id="sunday-as-7"),
    pytest.param("0 9 * * SUN", "2026-01-01", at_nine("2026-01-04", "2026-01-11", "2026-01-18"), id="sunday-as-SUN"),
    pytest.param(
        "0 9 * * 5-7",
        "2026-01-01",
        at_nine("2026-01-02", "2026-01-03", "2026-01-04", "2026-01-09"),
        id="range-5-7-ends-on-sunday",
    ),
    pytest.param(
        "0 9 * * Mon-Fri",
        "2026-01-02",
        at_nine("2026-01-02", "2026-01-05", "2026-01-06"),
        id="weekday-name-range-mixed-case",
    ),
    pytest.param("0 9 1 JAN,jul *", "2026-01-02", at_nine("2026-07-01", "2027-01-01"), id="month-name-list"),
    pytest.param(
        "0 9 1 jan-dec/3 *",
        "2026-01-02",
        at_nine("2026-04-01", "2026-07-01", "2026-10-01", "2027-01-01"),
        id="month-name-range-step",
    ),
]


@pytest.mark.parametrize("implementation", list(IMPLEMENTATIONS))
@pytest.mark.parametrize(("expression", "after_day", "expected"), DAY_RULE_CASES)
def test_day_rules(implementation: str, expression: str, after_day: str, expected: list[str]) -> None:
    after = datetime.fromisoformat(f"{after_day}T00:00:00+00:00")
    found = IMPLEMENTATIONS[implementation](expression, ETC_UTC, after, len(expected))
    assert iso(found) == expected


FIELD_SYNTAX_CASES = [
    # (expression, after, expected fires) in UTC
    pytest.param("10/20 * * * *", "2026-01-01T00:00:00", ["00:10", "00:30", "00:50", "01:10"], id="a/n-runs-to-max"),
    pytest.param("0-30/10 * * * *", "2026-01-01T00:00:00", ["00:10", "00:20", "00:30", "01:00"], id="a-b/n"),
    pytest.param("*/20 * * * *", "2026-01-01T00:00:00", ["00:20", "00:40", "01:00"], id="star-step"),
    pytest.param(
        "5,7-9,50-59/5 * * * *",
        "2026-01-01T00:00:00",
        ["00:05", "00:07", "00:08", "00:09", "00:50", "00:55", "01:05"],
        id="list-of-number-range-and-step",
    ),
    pytest.param(
        "0 */5 * * *", "2026-01-01T00:00:00", ["05:00", "10:00", "15:00", "20:00", "00:00"], id="hour-star-step"
    ),
    pytest.param("0 9-17/4 * * *", "2026-01-01T00:00:00", ["09:00", "13:00", "17:00", "09:00"], id="hour-range-step"),
    pytest.param("0 20/2 * * *", "2026-01-01T00:00:00", ["20:00", "22:00", "20:00"], id="hour-a/n"),
]


@pytest.mark.parametrize("implementation", list(IMPLEMENTATIONS))
@pytest.mark.parametrize(("expression", "after", "expected_times"), FIELD_SYNTAX_CASES)
def test_field_syntax(implementation: str, expression: str, after: str, expected_times: list[str]) -> None:
    found = IMPLEMENTATIONS[implementation](
        expression, ETC_UTC, datetime.fromisoformat(after + "+00:00"), len(expected_times)
    )
    assert [fire.strftime("%H:%M") for fire in found] == expected_times
    assert [to_utc(a) < to_utc(b) for a, b in zip(found, found[1:], strict=False)] == [True] * (len(found) - 1)


ALIAS_CASES = [
    pytest.param("@yearly", "0 0 1 1 *", "2026-03-01T00:00:00", "2027-01-01T00:00:00+00:00", id="yearly"),
    pytest.param("@annually", "0 0 1 1 *", "2026-03-01T00:00:00", "2027-01-01T00:00:00+00:00", id="annually"),
    pytest.param("@monthly", "0 0 1 * *", "2026-03-15T00:00:00", "2026-04-01T00:00:00+00:00", id="monthly"),
    pytest.param("@weekly", "0 0 * * 0", "2026-01-01T00:00:00", "2026-01-04T00:00:00+00:00", id="weekly"),
    pytest.param("@daily", "0 0 * * *", "2026-01-01T12:00:00", "2026-01-02T00:00:00+00:00", id="daily"),
    pytest.param("@midnight", "0 0 * * *", "2026-01-01T12:00:00", "2026-01-02T00:00:00+00:00", id="midnight"),
    pytest.param("@hourly", "0 * * * *", "2026-01-01T12:30:00", "2026-01-01T13:00:00+00:00", id="hourly"),
]


@pytest.mark.parametrize("implementation", list(IMPLEMENTATIONS))
@pytest.mark.parametrize(("alias", "expansion", "after", "first_fire"), ALIAS_CASES)
def test_aliases(implementation: str, alias: str, expansion: str, after: str, first_fire: str) -> None:
    start = datetime.fromisoformat(after + "+00:00")
    walk = IMPLEMENTATIONS[implementation]
    assert iso(walk(alias, ETC_UTC, start, 1)) == [first_fire]
    # In a DST zone too, the alias behaves exactly like its expansion (including its DST class).
    start = datetime(2026, 3, 28, tzinfo=UTC)
    assert iso(walk(alias, BERLIN, start, 4)) == iso(walk(expansion, BERLIN, start, 4))


# ---------------------------------------------------------------------------------------------
# Bad input: every field position crossed with every bad token.
# ---------------------------------------------------------------------------------------------

FIELD_NAMES = ["minute", "hour", "day-of-month", "month", "day-of-week"]
VALID_FIELDS = ["0", "0", "1", "1", "1"]
BAD_EVERYWHERE = ["61", "-1", "x", "1-", "*/0", "5-2"]
BAD_IN_FIELD = {
    "minute": ["60", "L", "jan", "mon"],
    "hour": ["24", "L", "jan", "mon"],
    "day-of-month": ["0", "32", "0W", "32W", "5#2", "jan", "mon"],
    "month": ["0", "13", "L", "mon"],
    "day-of-week": ["8", "5#6", "5#0", "8L", "L8", "jan", "5W"],
}
FIELD_NAME_PATTERNS = {
    "minute": r"\bminute\b",
    "hour": r"\bhour\b",
    "day-of-month": r"\bday-of-month\b",
    "month": r"(?<!day-of-)\bmonth\b",
    "day-of-week": r"\bday-of-week\b",
}
BAD_FIELD_CASES = [
    pytest.param(position, token, id=f"{FIELD_NAMES[position]}:{token}")
    for position, name in enumerate(FIELD_NAMES)
    for token in BAD_EVERYWHERE + BAD_IN_FIELD[name]
]


@pytest.mark.parametrize(("position", "token"), BAD_FIELD_CASES)
def test_bad_field_token_is_rejected_naming_field_and_token(position: int, token: str) -> None:
    fields = list(VALID_FIELDS)
    fields[position] = token
    expression = " ".join(fields)
    with pytest.raises(ValueError) as caught:
        parse_schedule(expression, BERLIN)
    message = str(caught.value)
    field = FIELD_NAMES[position]
    assert re.search(FIELD_NAME_PATTERNS[field], message), f"{expression!r}: message does not name {field}: {message!r}"
    assert token in message, f"{expression!r}: message does not show {token!r}: {message!r}"


@pytest.mark.parametrize(
    "expression",
    ["", "   ", "* * * *", "* * * * * *", "0 0 1 1", "0 0 1 1 1 2026", "@never", "@", "0 0 * * * @daily"],
    ids=[
        "empty",
        "blank",
        "4-stars",
        "6-stars",
        "4-fields",
        "6-fields-with-year",
        "unknown-alias",
        "bare-at",
        "alias-suffix",
    ],
)
def test_malformed_expression_is_rejected(expression: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_schedule(expression, BERLIN)
    assert str(caught.value), "the message must say what is wrong"
    if expression.startswith("@"):
        assert expression in str(caught.value)


def test_valid_syntax_parses() -> None:
    # The reject table above must not pass merely because everything is rejected.
    for expression in ["0 0 1 1 1", "59 23 31 12 7", "0-59/59 0-23 1-31 1-12 0-7", "*/1 */1 */1 */1 */1", "0 0 L * L7"]:
        parse_schedule(expression, BERLIN)


# ---------------------------------------------------------------------------------------------
# Every DST transition of 2024-2027, beatd against the oracle.
#
# Transitions in UTC, "last wall minute before -> first wall time after", as zoneinfo reports them
# (cron_oracle.transitions finds them by scanning utcoffset; test_oracle_sees_every_transition_kind pins a few):
#   Europe/Berlin        last Sun Mar 01:00Z  01:59+01 -> 03:00+02 | last Sun Oct 01:00Z  02:59+02 -> 02:00+01
#   America/New_York     2nd Sun Mar 07:00Z   01:59-05 -> 03:00-04 | 1st Sun Nov 06:00Z   01:59-04 -> 01:00-05
#   Australia/Sydney     1st Sun Oct 16:00Z*  01:59+10 -> 03:00+11 | 1st Sun Apr 16:00Z*  02:59+11 -> 02:00+10
#   Australia/Lord_Howe  1st Sun Oct 15:30Z*  01:59+1030 -> 02:30+11 | 1st Sun Apr 15:00Z* 01:59+11 -> 01:30+1030
#   Pacific/Chatham      last Sun Sep 14:00Z* 02:44+1245 -> 03:45+1345 | 1st Sun Apr 14:00Z* 03:44+1345 -> 02:45+1245
#   Antarctica/Troll     last Sun Mar 01:00Z  00:59+00 -> 03:00+02 | last Sun Oct 01:00Z  02:59+02 -> 01:00+00
#   America/Santiago     Sun>=2 Sep 04:00Z    23:59-04 -> 01:00-03 (Sunday 00:00-00:59 missing)
#                        Sun>=2 Apr 03:00Z    23:59-03 -> 23:00-04 (Saturday 23:00-23:59 twice)
#   Europe/Dublin        last Sun Mar 01:00Z  00:59+00 -> 02:00+01 | last Sun Oct 01:00Z  01:59+01 -> 01:00+00
#                        (tzdata calls winter the negative-DST one; the offsets are the same)
#   (* = the previous day in UTC, e.g. Sydney 2026-10-03 16:00Z is 2026-10-04 03:00+11.)
#   Asia/Kolkata (+05:30) and Asia/Kathmandu (+05:45) have none; they run on two sample windows.
# ---------------------------------------------------------------------------------------------

DST_ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Antarctica/Troll",
    "America/Santiago",
    "Europe/Dublin",
]
FIXED_OFFSET_ZONES = ["Asia/Kolkata", "Asia/Kathmandu"]

COMMON_EXPRESSIONS = [
    "30 2 * * *",  # fixed, inside most gaps and repeated hours
    "0 * * * *",  # wildcard hourly
    "30 * * * *",
    "*/15 * * * *",
    "0,30 0-3 * * *",  # fixed, several times inside one gap
    "15 1 * * *",
    "0 0 * * *",
    "45 23 * * *",
    "* 2 * * *",  # wildcard minute in one hour
    "0-59 2 * * *",  # the same minutes, but fixed-time
    "*/30 1-3 * * *",  # wildcard by minute, hours restricted
    "0 2,3 * * *",  # gap fire and the transition instant coincide
    "30 2 * * 0",  # transitions fall on Sundays
]
ZONE_EXPRESSIONS = {
    "Europe/Berlin": ["0 3 * * *", "59 1 * * *"],
    "America/New_York": ["30 1 * * *", "0 1-2 * * *", "* 1 * * *"],
    "Australia/Sydney": ["0 2 * * *", "59 2 * * *"],
    "Australia/Lord_Howe": ["15,45 1-2 * * *", "*/10 1-2 * * *", "0 2 * * *", "45 1 * * *"],
    "Pacific/Chatham": ["50 2,3 * * *", "*/5 3 * * *", "45 2 * * *", "0-59 3 * * *", "15 3 * * *"],
    "Antarctica/Troll": ["30 1,2 * * *", "0 1 * * *", "* 1 * * *", "0-59 1 * * *"],
    "America/Santiago": ["30 23 * * *", "30 0 * * *", "0 0 * * 0", "*/20 0 * * *", "* 23 * * 6", "0-59 23 * * *"],
    "Europe/Dublin": ["30 1 * * *", "* 1 * * *", "0 1 * * *", "0-59 1 * * *"],
    "Asia/Kolkata": ["45 * * * *", "0,30 * * * *"],
    "Asia/Kathmandu": ["15 * * * *", "*/45 * * * *"],
}
SAMPLE_WINDOW_CENTRES = [datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)]
HALF_WINDOW = timedelta(days=1)


def _dst_cases() -> list:
    cases = []
    for zone_key in DST_ZONES + FIXED_OFFSET_ZONES:
        zone = ZoneInfo(zone_key)
        centres = cron_oracle.transitions(zone_key) or tuple(SAMPLE_WINDOW_CENTRES)
        for centre in centres:
            before = (centre - timedelta(hours=3)).astimezone(zone).utcoffset()
            after = (centre + timedelta(hours=3)).astimezone(zone).utcoffset()
            kind = "gap" if after > before else "repeat" if after < before else "none"
            # Expressions inner, so consecutive tests reuse the oracle's cached minute walk.
            for expression in COMMON_EXPRESSIONS + ZONE_EXPRESSIONS[zone_key]:
                case_id = f"{zone_key}@{centre:%Y-%m-%dT%H:%MZ}-{kind}-[{expression}]"
                cases.append(pytest.param(zone_key, centre, expression, id=case_id))
    return cases


@pytest.mark.parametrize(("zone_key", "centre", "expression"), _dst_cases())
def test_matches_oracle_around_dst_transition(zone_key: str, centre: datetime, expression: str) -> None:
    zone = ZoneInfo(zone_key)
    # The window starts and ends in the schedule's zone, as the engine would ask.
    after, end = (centre - HALF_WINDOW).astimezone(zone), (centre + HALF_WINDOW).astimezone(zone)
    expected = oracle_fires(expression, zone, after, end)
    assert expected, f"the window for {expression!r} must contain fires, or this case tests nothing"
    found = beatd_fires(expression, zone, after, end, limit=len(expected) + 5)
    assert_same_fires(f"{expression!r} in {zone_key} after {after.isoformat()}", found, expected)
    assert_each_fire_found_from_just_before(expression, zone, expected)
    assert_probes_near_transition_agree(expression, zone, centre, expected, end)


def assert_probes_near_transition_agree(
    expression: str, zone: ZoneInfo, centre: datetime, expected: list[datetime], end: datetime,
    day_match: str = "either",
) -> None:
    """next_after from instants that are not fires: inside gaps, on either pass of a repeated hour.

    Probes every 7 minutes (so they also fall between whole quarters) over 3 hours either
    side of the transition, and just around it; half of them given in the schedule's zone.
    """
    schedule = parse_schedule(expression, zone, day_match)
    probes = [centre + timedelta(minutes=minutes) for minutes in range(-180, 181, 7)]
    probes += [centre - ONE_MICROSECOND, centre, centre + ONE_MICROSECOND]
    for index, probe in enumerate(probes):
        if index % 2:
            probe = probe.astimezone(zone)
        want = next((fire for fire in expected if to_utc(fire) > to_utc(probe)), None)
        got = schedule.next_after(probe)
        if want is None:
            assert got is None or to_utc(got) > to_utc(end), (
                f"{expression!r}: next_after({probe.isoformat()}) gave {got}"
            )
        else:
            assert got is not None and got.isoformat() == want.isoformat(), (
                f"{expression!r} in {zone.key}: next_after({probe.isoformat()}) gave "
                f"{got.isoformat() if got else None}, oracle says {want.isoformat()}"
            )


@pytest.mark.parametrize("days", [1, 5], ids=["cached-minute-walk", "walk-skipping-idle-hours"])
def test_oracle_window_includes_both_ends_and_nothing_past_them(days: int) -> None:
    zone = ZoneInfo("Australia/Lord_Howe")
    start = datetime(2026, 4, 4, 12, 0, tzinfo=UTC)  # spans the 15:00Z fall-back
    end = start + timedelta(days=days)
    fires = cron_oracle.fires("* * * * *", zone, start, end)
    assert (to_utc(fires[0]), to_utc(fires[-1]), len(fires)) == (start, end, days * 1440 + 1)
    fires = cron_oracle.fires("* * * * *", zone, start + ONE_MICROSECOND, end - timedelta(seconds=1))
    assert (to_utc(fires[0]), to_utc(fires[-1])) == (start + timedelta(minutes=1), end - timedelta(minutes=1))


def test_oracle_sees_every_transition_kind() -> None:
    # Guards the table above: each DST zone has 8 transitions in 2024-2027, half of each kind.
    for zone_key in DST_ZONES:
        found = cron_oracle.transitions(zone_key)
        assert len(found) == 8, (zone_key, found)
    assert cron_oracle.transitions("Asia/Kolkata") == ()
    assert cron_oracle.transitions("Europe/Berlin")[4] == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert cron_oracle.transitions("Australia/Lord_Howe")[1] == datetime(2024, 10, 5, 15, 30, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Random expressions in random zones.
# ---------------------------------------------------------------------------------------------

PROPERTY_ZONES = DST_ZONES + FIXED_OFFSET_ZONES + ["UTC", "America/St_Johns", "Asia/Tehran"]
MONTH_NAMES = list(cron_oracle.MONTH_NAMES)
WEEKDAY_NAMES = list(cron_oracle.WEEKDAY_NAMES)


@st.composite
def _value(draw, low: int, high: int, names: list[str] | None, name_low: int) -> tuple[int, str]:
    number = draw(st.integers(low, high))
    if names and name_low <= number < name_low + len(names) and draw(st.integers(0, 3)) == 0:
        text = names[number - name_low]
        return number, draw(st.sampled_from([text, text.upper(), text.title()]))
    return number, str(number)


@st.composite
def _component(draw, name: str, low: int, high: int, names: list[str] | None = None, name_low: int = 0) -> str:
    kind = draw(st.sampled_from(["number", "number", "range", "range-step", "start-step", "star-step"]))
    if kind == "number":
        return draw(_value(low, high, names, name_low))[1]
    if kind == "star-step":
        return f"*/{draw(st.integers(1, high - low))}"
    # In day-of-week, 7 as the start of a step would hinge on whether the field ends at 6 or 7.
    first, first_text = draw(_value(low, min(high, 6) if name == "day-of-week" else high, names, name_low))
    if kind == "start-step":
        step = draw(st.integers(1, max(1, high - first)))
        # In day-of-week, `a/n` reaching exactly 7 would hinge on whether the field's maximum
        # is 6 or 7 (is Sunday included?); the contract does not say, so avoid that case.
        if name == "day-of-week" and first > 0 and (7 - first) % step == 0:
            return f"{first_text}-6/{step}"
        return f"{first_text}/{step}"
    last, last_text = draw(_value(first, high, names, name_low))
    if kind == "range":
        return f"{first_text}-{last_text}"
    return f"{first_text}-{last_text}/{draw(st.integers(1, max(1, last - first)))}"


@st.composite
def _field(
    draw, name: str, low: int, high: int, star_weight: int, names: list[str] | None = None, name_low: int = 0
) -> str:
    if draw(st.integers(0, 9)) < star_weight:
        return "*"
    parts = draw(st.lists(_component(name, low, high, names, name_low), min_size=1, max_size=3))
    return ",".join(parts)


@st.composite
def expressions(draw) -> str:
    minute = draw(_field("minute", 0, 59, star_weight=2))
    hour = draw(_field("hour", 0, 23, star_weight=3))
    day_kind = draw(st.sampled_from(["plain"] * 6 + ["L", "W"]))
    if day_kind == "L":
        day = "L"
    elif day_kind == "W":
        # Days past 28 are left out: what nW means in a month shorter than n is not in the contract.
        day = f"{draw(st.integers(1, 28))}W"
    else:
        day = draw(_field("day-of-month", 1, 31, star_weight=4))
    month = draw(_field("month", 1, 12, star_weight=8, names=MONTH_NAMES, name_low=1))
    weekday_kind = draw(st.sampled_from(["plain"] * 6 + ["#", "nL", "Ln"]))
    weekday_number = draw(st.integers(0, 7))
    if weekday_kind == "#":
        weekday = f"{weekday_number}#{draw(st.integers(1, 5))}"
    elif weekday_kind == "nL":
        weekday = f"{weekday_number}L"
    elif weekday_kind == "Ln":
        weekday = f"L{weekday_number}"
    else:
        weekday = draw(_field("day-of-week", 0, 7, star_weight=4, names=WEEKDAY_NAMES, name_low=0))
    return f"{minute} {hour} {day} {month} {weekday}"


@st.composite
def zone_and_start(draw) -> tuple[ZoneInfo, datetime]:
    zone_key = draw(st.sampled_from(PROPERTY_ZONES))
    known = cron_oracle.transitions(zone_key)
    if known and draw(st.booleans()):
        # Near a transition half of the time: that is where the bugs live.
        base = draw(st.sampled_from(known))
        seconds = draw(st.integers(-2 * 86400, 86400))
    else:
        base = datetime(2024, 1, 1, tzinfo=UTC)
        seconds = draw(st.integers(0, (datetime(2028, 1, 1, tzinfo=UTC) - base).days * 86400 - 7 * 86400))
    microseconds = draw(st.sampled_from([0, 0, 1, 999_999, 500_000]))
    start = base + timedelta(seconds=seconds, microseconds=microseconds)
    if seconds % 60 < 20:
        start = start.replace(second=0)  # often exactly on a minute, where "strictly after" matters
    representation = draw(st.sampled_from(["zone", "utc", "fixed-offset"]))
    zone = ZoneInfo(zone_key)
    if representation == "zone":
        return zone, start.astimezone(zone)
    if representation == "fixed-offset":
        return zone, start.astimezone(timezone(timedelta(hours=-7, minutes=-30)))
    return zone, start


def _window_for(expression: str, zone: ZoneInfo, after: datetime, day_match: str = "either") -> timedelta:
    """Long enough to reach a few matching days (leap days included), short enough that
    beatd's walk and the oracle's stay quick: about 8 matching days or 300 fires."""
    parsed = cron_oracle.parse(expression, day_match)
    per_day = len(parsed.minutes) * len(parsed.hours)
    day = after.astimezone(zone).date()
    first_match, matched_days, horizon = None, 0, 4 * 366
    for offset in range(horizon):
        if parsed.day_matches(day + timedelta(days=offset)):
            first_match = offset if first_match is None else first_match
            matched_days += 1
            if matched_days >= 8 or matched_days * per_day >= 300:
                break
    if first_match is None:
        return timedelta(days=horizon)
    if per_day > 300:
        return timedelta(days=first_match, hours=max(4, 14400 // per_day))
    return timedelta(days=offset + 1)  # + 1: the first day is only partly in the window


def _matches_some_date(expression: str, day_match: str = "either") -> bool:
    """Whether the day fields name any real date (`* * 31 2 *` does not; beatd rejects those)."""
    parsed = cron_oracle.parse(expression, day_match)
    first = datetime(2024, 1, 1).date()
    return any(parsed.day_matches(first + timedelta(days=days)) for days in range(28 * 366))


@examples_at_least(130)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(expression=expressions(), zone_start=zone_and_start())
def test_random_expressions_match_oracle(expression: str, zone_start: tuple[ZoneInfo, datetime]) -> None:
    assume(_matches_some_date(expression))
    zone, after = zone_start
    end = to_utc(after) + _window_for(expression, zone, after)
    expected = oracle_fires(expression, zone, after, end)
    found = beatd_fires(expression, zone, after, end, limit=len(expected) + 5)
    assert_same_fires(f"{expression!r} in {zone.key} after {after.isoformat()}", found, expected)
    assert_each_fire_found_from_just_before(expression, zone, expected[:40])


def test_expression_naming_no_date_is_rejected() -> None:
    # The property test skips such expressions; here is what beatd does with them instead.
    assert not _matches_some_date("0 0 31 2 *")
    with pytest.raises(ValueError):
        parse_schedule("0 0 31 2 *", BERLIN)


# ---------------------------------------------------------------------------------------------
# day_match "both": Celery's crontab ANDs day-of-month and day-of-week where cron ORs them.
# Hand-computed in UTC at 09:00 (2026-01-01 is a Thursday); every table runs on beatd and the oracle.
# ---------------------------------------------------------------------------------------------


def beatd_first_both(expression: str, zone: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    schedule = parse_schedule(expression, zone, "both")
    found: list[datetime] = []
    while len(found) < count and (after := schedule.next_after(after)) is not None:
        found.append(after)
    return found


def oracle_first_both(expression: str, zone: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    return oracle_fires(expression, zone, after, after + timedelta(days=30 * 366), "both")[:count]


BOTH_IMPLEMENTATIONS = {"beatd": beatd_first_both, "oracle": oracle_first_both}

CELERY_DAY_RULE_CASES = [
    # 2026's Friday-the-13ths are in February, March and November.
    pytest.param("0 9 13 * 5", "2026-01-01", at_nine("2026-02-13", "2026-03-13", "2026-11-13"), id="friday-the-13th"),
    pytest.param("0 9 1-7 * mon", "2026-01-01", at_nine("2026-01-05", "2026-02-02", "2026-03-02", "2026-04-06"),
                 id="first-monday"),
    # 2016-02-29 was a Monday; the pattern repeats 28 years later.
    pytest.param("0 9 29 2 1", "2026-01-01", at_nine("2044-02-29"), id="feb-29-on-a-monday"),
    pytest.param("0 9 1,15 * 6,0", "2026-01-01", at_nine("2026-02-01", "2026-02-15", "2026-03-01", "2026-03-15"),
                 id="1st-or-15th-on-a-weekend"),
    pytest.param("0 9 L * fri", "2026-01-01", at_nine("2026-07-31", "2027-04-30", "2027-12-31"),
                 id="last-day-on-a-friday"),
    # A bare `*` matches every day, so both rules agree with Vixie's AND there.
    pytest.param("0 9 13 * *", "2026-02-01", at_nine("2026-02-13", "2026-03-13", "2026-04-13"), id="dom-13-star"),
]


@pytest.mark.parametrize("implementation", list(BOTH_IMPLEMENTATIONS))
@pytest.mark.parametrize(("expression", "after_day", "expected"), CELERY_DAY_RULE_CASES)
def test_day_match_both_ands_the_day_fields(implementation: str, expression: str, after_day: str,
                                            expected: list[str]) -> None:
    after = datetime.fromisoformat(f"{after_day}T00:00:00+00:00")
    found = BOTH_IMPLEMENTATIONS[implementation](expression, ETC_UTC, after, len(expected) + 1)
    assert iso(found[: len(expected)]) == expected
    either = beatd_first(expression, ETC_UTC, after, len(expected))
    if not any(field.startswith("*") for field in expression.split()[2::2]):
        assert iso(either) != expected, "the OR rule must give other days here, or the case tests nothing"


def test_day_match_other_than_either_or_both_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"day_match 'and' is not one of either, both"):
        parse_schedule("0 9 13 * 5", ETC_UTC, "and")


def test_day_match_both_naming_no_date_is_rejected_naming_the_rule() -> None:
    # February never has a 30th, so no weekday can meet it; under the OR rule this is every Monday.
    with pytest.raises(ValueError, match=r"'0 0 30 2 1' with day_match both never matches a date"):
        parse_schedule("0 0 30 2 1", ETC_UTC, "both")


def _celery_dst_cases() -> list:
    """Each 2026 transition of each DST zone, with expressions that AND the transition's own date
    and weekday with a neighbouring date (whose weekday differs, so `both` drops it)."""
    cases = []
    for zone_key in DST_ZONES:
        zone = ZoneInfo(zone_key)
        for centre in (found for found in cron_oracle.transitions(zone_key) if found.year == 2026):
            day = (centre - timedelta(minutes=1)).astimezone(zone).date()
            neighbour = day + timedelta(days=1) if day.day < 28 else day - timedelta(days=1)
            weekday = (day.weekday() + 1) % 7
            for expression in (f"30 2 {day.day} * {weekday}", f"0 * {day.day},{neighbour.day} * {weekday}",
                               f"*/20 0-3 {day.day},{neighbour.day} * {weekday}", f"0 1,23 {day.day} * {weekday}"):
                cases.append(pytest.param(zone_key, centre, expression, id=f"{zone_key}@{centre:%Y-%m-%d}-[{expression}]"))
    return cases


@pytest.mark.parametrize(("zone_key", "centre", "expression"), _celery_dst_cases())
def test_day_match_both_matches_oracle_around_dst_transition(zone_key: str, centre: datetime, expression: str) -> None:
    zone = ZoneInfo(zone_key)
    after, end = (centre - 2 * HALF_WINDOW).astimezone(zone), (centre + 2 * HALF_WINDOW).astimezone(zone)
    expected = oracle_fires(expression, zone, after, end, "both")
    assert expected, f"the window for {expression!r} must contain fires, or this case tests nothing"
    found = beatd_fires(expression, zone, after, end, limit=len(expected) + 5, day_match="both")
    assert_same_fires(f"{expression!r} (both) in {zone_key} after {after.isoformat()}", found, expected)
    assert_each_fire_found_from_just_before(expression, zone, expected, "both")
    assert_probes_near_transition_agree(expression, zone, centre, expected, end, "both")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(expression=expressions(), zone_start=zone_and_start())
def test_random_expressions_with_day_match_both_match_oracle(expression: str,
                                                              zone_start: tuple[ZoneInfo, datetime]) -> None:
    assume(_matches_some_date(expression, "both"))
    zone, after = zone_start
    end = to_utc(after) + _window_for(expression, zone, after, "both")
    expected = oracle_fires(expression, zone, after, end, "both")
    found = beatd_fires(expression, zone, after, end, limit=len(expected) + 5, day_match="both")
    assert_same_fires(f"{expression!r} (both) in {zone.key} after {after.isoformat()}", found, expected)
    assert_each_fire_found_from_just_before(expression, zone, expected[:40], "both")
