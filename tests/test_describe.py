"""describe(): every schedule kind in words, pinned exactly, and every known expression describable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import test_cron_oracle

from beatd.config import load_config
from beatd.schedules.cron import CronSchedule
from beatd.schedules.describe import describe
from beatd.schedules.interval import IntervalSchedule
from beatd.schedules.once import OnceSchedule
from beatd.schedules.solar import EVENTS, SolarSchedule
from beatd.schedules.window import WindowedSchedule

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
DEMO = Path(__file__).resolve().parent.parent / "schedules" / "demo.yaml"

CRON_CASES = [
    # (expression, expected words; all in Europe/Berlin)
    ("30 7 * * 1-5", "At 07:30, Monday through Friday"),
    ("*/15 * * * *", "Every 15 minutes"),
    ("* * * * *", "Every minute"),
    ("0 * * * *", "Every hour, at minute 0"),
    ("0 0 1 * *", "At 00:00, on day 1 of the month"),
    ("0 9 * * 1,3,5", "At 09:00, on Monday, Wednesday and Friday"),
    ("0 9 * * mon,wed,fri", "At 09:00, on Monday, Wednesday and Friday"),
    ("0 0 * * 6,0", "At 00:00, on Saturday and Sunday"),
    ("0 0 * * 5-7", "At 00:00, Friday through Sunday"),
    ("0 0 * * 1,2", "At 00:00, on Monday and Tuesday"),
    ("@daily", "At 00:00"),
    ("@midnight", "At 00:00"),
    ("@hourly", "Every hour, at minute 0"),
    ("@weekly", "At 00:00, on Sunday"),
    ("@monthly", "At 00:00, on day 1 of the month"),
    ("@yearly", "At 00:00, on day 1 of the month, only in January"),
    ("0,30 9 * * *", "At 09:00 and 09:30"),
    ("0,30 9,17 * * *", "At 09:00, 09:30, 17:00 and 17:30"),
    ("0 20/2 * * *", "At 20:00 and 22:00"),
    ("0 9-17 * * *", "Every hour from 09:00 through 17:00"),
    ("30 1,9-17 * * *", "At 01:30 and every hour from 09:30 through 17:30"),
    ("0 */2 * * *", "Every 2 hours, at minute 0"),
    ("0 8-18/2 * * *", "Every 2 hours from 08:00 through 18:00"),
    ("0 */5 * * *", "Every 5 hours from 00:00 through 20:00"),
    ("*/7 * * * *", "Every 7 minutes from minute 0 through 56"),
    ("5/15 * * * *", "Every 15 minutes from minute 5 through 50"),
    ("*/15 9-17 * * 1-5", "Every 15 minutes, from 09:00 through 17:59, Monday through Friday"),
    ("*/30 * * * *", "Every 30 minutes"),
    ("0,30 * * * *", "Every 30 minutes"),
    ("*/15 */2 * * *", "Every 15 minutes, in every 2nd hour"),
    ("0,30 1,5,9,13 * * *", "Every 30 minutes, in every 4th hour from 01:00 through 13:59"),
    ("10/20 9-17 * * *", "At minutes 10, 30 and 50 past the hour, from 09:00 through 17:59"),
    ("10/5 * * * *", "Every 5 minutes from minute 10 through 55"),
    ("0 */12 * * *", "At 00:00 and 12:00"),
    ("0 9-17/4 * * *", "At 09:00, 13:00 and 17:00"),
    ("0 1,3,9-17,22 * * *", "At 01:00, 03:00, every hour from 09:00 through 17:00 and at 22:00"),
    ("0 0,3,7,11,13,17,19,23 * * *", "At 00:00, 03:00, 07:00, 11:00, 13:00, 17:00, 19:00 and 23:00"),
    ("* 9 * * *", "Every minute, from 09:00 through 09:59"),
    ("0-10 * * * *", "At minutes 0 through 10 past the hour"),
    ("5,7-9,50-59/5 * * * *", "At minutes 5, 7 through 9, 50 and 55 past the hour"),
    ("0 9 L * *", "At 09:00, on the last day of the month"),
    ("0 9 15W * *", "At 09:00, on the weekday nearest day 15 of the month"),
    ("0 0 1,15,L * *", "At 00:00, on days 1, 15 and the last day of the month"),
    ("0 0 1-7 * *", "At 00:00, on days 1 through 7 of the month"),
    ("0 0 1,15,29 * *", "At 00:00, on days 1, 15 and 29 of the month"),
    ("0 0 */10 * *", "At 00:00, on every 10th day of the month"),
    ("0 0 */2 * *", "At 00:00, on every 2nd day of the month"),
    ("0 0 2-30/2 * *", "At 00:00, on every 2nd day of the month, from day 2 through 30"),
    ("0 9 * * 2#2", "At 09:00, on the second Tuesday of the month"),
    ("0 9 * * 5L", "At 09:00, on the last Friday of the month"),
    ("0 9 * * L5", "At 09:00, on the last Friday of the month"),
    ("0 12 * * 1#1,5L", "At 12:00, on the first Monday and the last Friday of the month"),
    ("0 12 * * 3,1#1", "At 12:00, on Wednesday and the first Monday of the month"),
    ("0 12 1 * 5#3", "At 12:00, on day 1 of the month or on the third Friday of the month"),
    ("0 9 * JAN-MAR *", "At 09:00, only in January through March"),
    ("0 9 * 1,4,7,10 *", "At 09:00, only in January, April, July and October"),
    # Vixie cron's day rule: both fields restricted and neither starting with '*' -> either day.
    ("0 9 1 * 1", "At 09:00, on day 1 of the month or on Monday"),
    ("0 9 13 * 5", "At 09:00, on day 13 of the month or on Friday"),
    ("0 9 1-31 * 1", "At 09:00"),
    # ... and a field starting with '*' -> both must match.
    ("0 0 */2 * 1", "At 00:00, on every 2nd day of the month, if it falls on Monday"),
    ("0 0 1 * */2", "At 00:00, on day 1 of the month, if it falls on Tuesday, Thursday, Saturday or Sunday"),
]


@pytest.mark.parametrize(("expression", "expected"), CRON_CASES, ids=[case[0] for case in CRON_CASES])
def test_cron_in_words(expression: str, expected: str) -> None:
    assert describe(CronSchedule.parse(expression, BERLIN), BERLIN) == f"{expected} (Europe/Berlin)"


CELERY_DAY_RULE_CASES = [
    ("0 9 13 * 5", "At 09:00, on day 13 of the month, if it falls on Friday"),
    ("0 9 1-7 * 1", "At 09:00, on days 1 through 7 of the month, if it falls on Monday"),
    # Every day of the month ANDed with Monday is every Monday (Vixie's OR would be every day).
    ("0 9 1-31 * 1", "At 09:00, on Monday"),
]


@pytest.mark.parametrize(("expression", "expected"), CELERY_DAY_RULE_CASES,
                         ids=[case[0] for case in CELERY_DAY_RULE_CASES])
def test_cron_with_day_match_both_says_both_days_must_match(expression: str, expected: str) -> None:
    schedule = CronSchedule.parse(expression, BERLIN, day_match="both")
    assert describe(schedule, BERLIN) == f"{expected} (Europe/Berlin)"


def test_cron_names_its_own_wall_clock_zone() -> None:
    schedule = CronSchedule.parse("30 7 * * 1-5", NEW_YORK)
    assert describe(schedule, BERLIN) == "At 07:30, Monday through Friday (America/New_York)"
    assert describe(CronSchedule.parse("@daily"), BERLIN) == "At 00:00 (UTC)"


INTERVAL_CASES = [
    (timedelta(seconds=30), "Every 30 seconds"),
    (timedelta(seconds=1), "Every second"),
    (timedelta(minutes=1), "Every minute"),
    (timedelta(minutes=90), "Every 1 hour 30 minutes"),
    (timedelta(hours=1), "Every hour"),
    (timedelta(days=1), "Every day"),
    (timedelta(days=2), "Every 2 days"),
    (timedelta(days=1, seconds=1), "Every 1 day 1 second"),
    (timedelta(seconds=2.5), "Every 2.5 seconds"),
    (timedelta(seconds=0.5), "Every 0.5 seconds"),
    (timedelta(microseconds=1), "Every 0.000001 seconds"),
    (timedelta(minutes=1, seconds=30.25), "Every 1 minute 30.25 seconds"),
]


@pytest.mark.parametrize(("every", "expected"), INTERVAL_CASES, ids=[case[1] for case in INTERVAL_CASES])
def test_interval_in_words(every: timedelta, expected: str) -> None:
    assert describe(IntervalSchedule(every=every), BERLIN) == expected


SOLAR_WORDS = {
    "dawn_astronomical": "astronomical dawn",
    "dawn_nautical": "nautical dawn",
    "dawn_civil": "civil dawn",
    "sunrise": "sunrise",
    "solar_noon": "solar noon",
    "sunset": "sunset",
    "dusk_civil": "civil dusk",
    "dusk_nautical": "nautical dusk",
    "dusk_astronomical": "astronomical dusk",
}


@pytest.mark.parametrize("event", EVENTS)
def test_solar_in_words(event: str) -> None:
    schedule = SolarSchedule(event=event, latitude=-37.81, longitude=144.96, zone=BERLIN)
    assert describe(schedule, BERLIN) == f"At {SOLAR_WORDS[event]} at -37.81, 144.96"


def test_solar_with_elevation_and_whole_degrees() -> None:
    schedule = SolarSchedule(event="sunset", latitude=52, longitude=0, elevation=120.5)
    assert describe(schedule, UTC) == "At sunset at 52, 0, 120.5 m above sea level"


def test_solar_elevation_at_or_below_sea_level_is_left_out_as_it_changes_nothing() -> None:
    schedule = SolarSchedule(event="sunset", latitude=52.5, longitude=-0.1, elevation=-4)
    assert describe(schedule, UTC) == "At sunset at 52.5, -0.1"


def test_once_is_shown_in_the_given_zone() -> None:
    schedule = OnceSchedule(at=datetime.fromisoformat("2026-12-01T09:00:00+00:00"))
    assert describe(schedule, BERLIN) == "Once, at 2026-12-01 10:00 (Europe/Berlin)"
    assert describe(schedule, UTC) == "Once, at 2026-12-01 09:00 (UTC)"


def test_once_in_the_repeated_hour_shows_its_offset() -> None:
    # Europe/Berlin 2026-10-25 01:00Z: 02:59:59+02:00 -> 02:00+01:00 (02:00-02:59 happen twice).
    first = OnceSchedule(at=datetime.fromisoformat("2026-10-25T00:30:00+00:00"))
    second = OnceSchedule(at=datetime.fromisoformat("2026-10-25T01:30:00+00:00"))
    assert describe(first, BERLIN) == "Once, at 2026-10-25 02:30+02:00 (Europe/Berlin)"
    assert describe(second, BERLIN) == "Once, at 2026-10-25 02:30+01:00 (Europe/Berlin)"
    assert describe(second, UTC) == "Once, at 2026-10-25 01:30 (UTC)"


def test_once_shows_seconds_only_when_set() -> None:
    schedule = OnceSchedule(at=datetime.fromisoformat("2026-12-01T10:00:30+01:00"))
    assert describe(schedule, BERLIN) == "Once, at 2026-12-01 10:00:30 (Europe/Berlin)"


START = datetime(2026, 1, 1, tzinfo=BERLIN)
END = datetime(2026, 6, 30, tzinfo=BERLIN)

WINDOW_CASES = [
    pytest.param(
        CronSchedule.parse("30 7 * * 1-5", BERLIN), START, END,
        "At 07:30, Monday through Friday, from 2026-01-01 00:00 until 2026-06-30 00:00 (Europe/Berlin)",
        id="cron-same-zone-named-once",
    ),
    pytest.param(
        CronSchedule.parse("30 7 * * 1-5", NEW_YORK), START, None,
        "At 07:30, Monday through Friday (America/New_York), from 2026-01-01 00:00 (Europe/Berlin)",
        id="cron-other-zone-named-twice",
    ),
    pytest.param(
        IntervalSchedule(every=timedelta(seconds=30)), None, END,
        "Every 30 seconds, until 2026-06-30 00:00 (Europe/Berlin)",
        id="interval-end-only",
    ),
    pytest.param(
        SolarSchedule(event="sunrise", latitude=-37.81, longitude=144.96), START, None,
        "At sunrise at -37.81, 144.96, from 2026-01-01 00:00 (Europe/Berlin)",
        id="solar-start-only",
    ),
    pytest.param(
        IntervalSchedule(every=timedelta(days=1)), None, None, "Every day", id="no-bounds-is-the-inner-schedule",
    ),
]


@pytest.mark.parametrize(("inner", "start", "end", "expected"), WINDOW_CASES)
def test_window_in_words(inner: object, start: datetime | None, end: datetime | None, expected: str) -> None:
    schedule = WindowedSchedule(inner=inner, start=start, end=end)  # type: ignore[arg-type]
    assert describe(schedule, BERLIN) == expected


def _oracle_expressions() -> list[str]:
    """Every cron expression the oracle tests use (OTHER_ZONE_EXAMPLES put the zone first)."""
    expressions = [case.values[0] for case in test_cron_oracle.DESIGN_EXAMPLES]
    expressions += [case.values[1] for case in test_cron_oracle.OTHER_ZONE_EXAMPLES]
    expressions += [case.values[0] for case in test_cron_oracle.DAY_RULE_CASES]
    expressions += [case.values[0] for case in test_cron_oracle.FIELD_SYNTAX_CASES]
    expressions += [value for case in test_cron_oracle.ALIAS_CASES for value in case.values[:2]]
    return sorted(set(expressions))


def _assert_readable(text: str) -> None:
    assert text and text[0].isupper(), text
    assert "None" not in text and "?" not in text, text


@pytest.mark.parametrize("expression", _oracle_expressions())
def test_every_oracle_expression_is_described(expression: str) -> None:
    _assert_readable(describe(CronSchedule.parse(expression, BERLIN), BERLIN))


def test_every_demo_entry_is_described() -> None:
    config = load_config(DEMO)
    assert config.entries
    for entry in config.entries:
        _assert_readable(describe(entry.schedule, entry.timezone))


class _EveryFullMoon:
    """A schedule kind describe() does not know: it falls back to the kind's own describe()."""

    kind = "moon"

    def next_after(self, t: datetime) -> datetime | None:
        return None

    def describe(self) -> str:
        return "every full moon"


def test_unknown_kind_uses_its_own_words_capitalized() -> None:
    assert describe(_EveryFullMoon(), BERLIN) == "Every full moon"
