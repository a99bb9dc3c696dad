"""SolarSchedule against an independent ephemeris: PyEphem set up as celery.schedules.solar sets it."""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import ephem
import pytest

from beatd.schedules.solar import EVENTS, SolarSchedule

# --- the oracle ---------------------------------------------------------------------------
#
# celery/schedules.py `solar`: observer elevation 0 and pressure 0 (no refraction model);
# horizon -0:34 with the upper limb for sunrise and sunset, -6/-12/-18 with the centre for
# dawn and dusk, next_transit for solar noon; on CircumpolarError it resumes the search
# from the next anti-transit.
CELERY_HORIZONS = {
    "dawn_astronomical": "-18",
    "dawn_nautical": "-12",
    "dawn_civil": "-6",
    "sunrise": "-0:34",
    "solar_noon": "0",
    "sunset": "-0:34",
    "dusk_civil": "-6",
    "dusk_nautical": "-12",
    "dusk_astronomical": "-18",
}

YEAR_2026 = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))

# astral's and PyEphem's positions of the sun differ by a fraction of an arc minute:
# a few seconds of time at mid-latitudes, up to about 100 s near the polar circles,
# where the sun crosses an altitude at a shallow angle.
TOLERANCE = timedelta(minutes=2)
# At mid latitudes the README promises this much, measured over 2026 in the five cities
# below: at most 6 s at sunrise and sunset, 16 s at Berlin's astronomical twilight in
# summer (the sun skims -18°).
MID_LATITUDE_TOLERANCE_S = 20.0
# On a day where the sun turns just at an event's altitude, that difference decides
# whether the event happens at all. Such days may disagree, and only they: the sun's
# culmination must lie within this many arc minutes of the altitude. In 2026 this
# excuses Berlin's astronomical twilight on 07-25 (ephem: 0.08' below -18°), Tromsø's
# on 09-16 (0.10') and Longyearbyen's civil twilight on 09-07 (0.13').
GRAZING_ARCMIN = 0.5

MID_LATITUDES = {
    "berlin": (52.52, 13.405),
    "new-york": (40.7128, -74.006),
    "melbourne": (-37.81, 144.96),
    "tokyo": (35.68, 139.69),
    # Sunrise in Dhaka is near 00:00 UTC, so it crosses UTC midnight in both directions.
    "dhaka": (23.81, 90.41),
}
POLAR = {
    "tromso": (69.65, 18.96),
    "longyearbyen": (78.22, 15.65),
    "mcmurdo": (-77.85, 166.67),
}
REYKJAVIK = (64.15, -21.94)


def _ephem_observer(event: str, latitude: float, longitude: float, dip_deg: float = 0.0) -> ephem.Observer:
    observer = ephem.Observer()
    observer.lat = str(latitude)
    observer.lon = str(longitude)
    observer.elev = 0
    observer.pressure = 0
    observer.horizon = ephem.degrees(CELERY_HORIZONS[event]) - math.radians(dip_deg)
    return observer


def _ephem_date(instant: datetime) -> ephem.Date:
    return ephem.Date(instant.astimezone(UTC).replace(tzinfo=None))


def ephem_events(
    event: str, latitude: float, longitude: float, start: datetime, end: datetime, dip_deg: float = 0.0
) -> list[datetime]:
    """Every event in (start, end] as celery.schedules.solar would find them."""
    observer = _ephem_observer(event, latitude, longitude, dip_deg)
    sun = ephem.Sun()
    if event == "solar_noon":
        find = lambda at: observer.next_transit(sun, start=at)
    elif event.startswith("dawn") or event == "sunrise":
        find = lambda at: observer.next_rising(sun, start=at, use_center=event != "sunrise")
    else:
        find = lambda at: observer.next_setting(sun, start=at, use_center=event != "sunset")
    found: list[datetime] = []
    at, stop = _ephem_date(start), _ephem_date(end)
    while True:
        try:
            event_at = find(at)
        except ephem.CircumpolarError:
            at = observer.next_antitransit(sun, start=at)
            continue
        if event_at > stop:
            return found
        found.append(event_at.datetime().replace(tzinfo=UTC))
        at = ephem.Date(event_at + ephem.second)


def culmination_margin_arcmin(event: str, latitude: float, longitude: float, near: datetime) -> float:
    """The sun's altitude minus the event's, at the culmination nearest `near`, per PyEphem.

    In arc minutes; for sunrise and sunset the altitude is the upper limb's.
    """
    observer = _ephem_observer(event, latitude, longitude)
    sun = ephem.Sun()
    near_date = _ephem_date(near)
    start = ephem.Date(near_date - 0.55)
    observer.date = min(
        observer.next_transit(sun, start=start),
        observer.next_antitransit(sun, start=start),
        key=lambda when: abs(when - near_date),
    )
    sun.compute(observer)
    altitude_deg = math.degrees(sun.alt)
    if event in ("sunrise", "sunset"):
        altitude_deg += math.degrees(sun.radius)
    return (altitude_deg - math.degrees(observer.horizon)) * 60.0


def walk(schedule: SolarSchedule, start: datetime, end: datetime) -> list[datetime]:
    """Every fire in (start, end], by repeated next_after as the engine calls it."""
    fires: list[datetime] = []
    at = start
    while (fired := schedule.next_after(at)) is not None and fired <= end:
        assert fired > at, f"next_after({at}) returned {fired}"
        fires.append(fired)
        at = fired
    return fires


def fire_after(schedule: SolarSchedule, instant: datetime) -> datetime:
    """next_after, which must find a fire."""
    fired = schedule.next_after(instant)
    assert fired is not None, f"{schedule.describe()}: no fire after {instant}"
    return fired


def pair_up(ours: list[datetime], theirs: list[datetime]) -> tuple[list[float], list[datetime], list[datetime]]:
    """Match two sorted lists within TOLERANCE: (deviations in s, only in ours, only in theirs)."""
    deviations: list[float] = []
    only_ours: list[datetime] = []
    only_theirs: list[datetime] = []
    i = j = 0
    while i < len(ours) and j < len(theirs):
        difference = ours[i] - theirs[j]
        if abs(difference) <= TOLERANCE:
            deviations.append(difference.total_seconds())
            i, j = i + 1, j + 1
        elif difference < timedelta(0):
            only_ours.append(ours[i])
            i += 1
        else:
            only_theirs.append(theirs[j])
            j += 1
    return deviations, only_ours + ours[i:], only_theirs + theirs[j:]


def assert_matches_ephem(event: str, latitude: float, longitude: float, start: datetime, end: datetime) -> list[float]:
    """Our fires and PyEphem's events pair up within TOLERANCE; returns the deviations, ours minus theirs, in s."""
    schedule = SolarSchedule(event=event, latitude=latitude, longitude=longitude)
    ours = walk(schedule, start, end)
    theirs = ephem_events(event, latitude, longitude, start, end)
    deviations, only_ours, only_theirs = pair_up(ours, theirs)
    # Every unmatched event, on either side, is a grazing one, and there are few.
    unmatched = only_ours + only_theirs
    not_grazing = [
        (at.isoformat(), round(margin, 3))
        for at in unmatched
        if abs(margin := culmination_margin_arcmin(event, latitude, longitude, at)) >= GRAZING_ARCMIN
    ]
    assert not_grazing == [], f"ours only: {only_ours}; ephem only: {only_theirs}"
    assert len(unmatched) <= 2, f"ours only: {only_ours}; ephem only: {only_theirs}"
    assert len(deviations) == len(theirs) - len(only_theirs)
    # Ascending, to the second, and never two fires of one event within hours.
    assert all(later - earlier > timedelta(hours=20) for earlier, later in itertools.pairwise(ours))
    assert all(fire.microsecond == 0 for fire in ours)
    return deviations


# --- against PyEphem, through 2026 --------------------------------------------------------


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("place", MID_LATITUDES)
def test_every_event_of_2026_matches_ephem_at_mid_latitudes(place: str, event: str) -> None:
    deviations = assert_matches_ephem(event, *MID_LATITUDES[place], *YEAR_2026)
    assert max(abs(deviation) for deviation in deviations) <= MID_LATITUDE_TOLERANCE_S


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("place", POLAR)
def test_every_event_of_2026_matches_ephem_through_polar_day_and_night(place: str, event: str) -> None:
    assert_matches_ephem(event, *POLAR[place], *YEAR_2026)


@pytest.mark.parametrize("place", [*MID_LATITUDES, *POLAR])
def test_solar_noon_fires_once_every_day_of_2026(place: str) -> None:
    latitude, longitude = {**MID_LATITUDES, **POLAR}[place]
    fires = walk(SolarSchedule(event="solar_noon", latitude=latitude, longitude=longitude), *YEAR_2026)
    assert len(fires) == 365
    gaps = [later - earlier for earlier, later in itertools.pairwise(fires)]
    assert all(abs(gap - timedelta(days=1)) < timedelta(minutes=1) for gap in gaps)


# Polar day and night, from both sides: the last event before the sun stays up (or down)
# and the first one after. Times are PyEphem's, set up as Celery sets it.
@pytest.mark.parametrize(
    ("place", "event", "last_before", "first_after"),
    [
        ("tromso", "sunrise", "2026-11-27T10:20:28", "2027-01-15T10:34:38"),
        ("tromso", "sunset", "2026-05-17T22:27:37", "2026-07-25T22:36:23"),
        ("longyearbyen", "sunrise", "2026-10-26T10:11:25", "2027-02-16T10:20:48"),
        ("longyearbyen", "sunset", "2026-04-17T22:11:43", "2026-08-24T22:28:06"),
        ("mcmurdo", "sunrise", "2026-04-24T00:11:18", "2026-08-19T00:20:26"),
        ("mcmurdo", "sunset", "2026-10-22T11:59:42", "2027-02-19T12:42:19"),
        ("mcmurdo", "dawn_nautical", "2026-09-22T13:38:28", "2027-03-20T13:18:11"),
    ],
    ids=[
        "tromso-polar-night-no-sunrise-49-days",
        "tromso-midnight-sun-no-sunset-69-days",
        "longyearbyen-polar-night-no-sunrise-113-days",
        "longyearbyen-midnight-sun-no-sunset-129-days",
        "mcmurdo-polar-night-no-sunrise-117-days",
        "mcmurdo-midnight-sun-no-sunset-120-days",
        "mcmurdo-no-nautical-dawn-for-half-a-year",
    ],
)
def test_polar_day_and_night_skip_the_event_until_it_happens_again(
    place: str, event: str, last_before: str, first_after: str
) -> None:
    schedule = SolarSchedule(event=event, latitude=POLAR[place][0], longitude=POLAR[place][1])
    last = datetime.fromisoformat(last_before).replace(tzinfo=UTC)
    first = datetime.fromisoformat(first_after).replace(tzinfo=UTC)

    fired_last = fire_after(schedule, last - timedelta(hours=1))
    fired_next = fire_after(schedule, fired_last)

    assert abs(fired_last - last) < TOLERANCE
    assert abs(fired_next - first) < TOLERANCE


# --- events near UTC midnight -------------------------------------------------------------


def test_reykjavik_sunsets_around_utc_midnight_are_neither_skipped_nor_doubled() -> None:
    # Reykjavik keeps UTC and lies 22° west: its sunset drifts past 00:00 UTC in mid June
    # (none falls on the 15th: 06-14 23:58, then 06-16 00:00) and back before it at the
    # end of the month (two fall on the 29th: 00:00 and 23:59).
    start, end = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 10, tzinfo=UTC)
    fires = walk(SolarSchedule(event="sunset", latitude=REYKJAVIK[0], longitude=REYKJAVIK[1]), start, end)
    theirs = ephem_events("sunset", *REYKJAVIK, start, end)

    deviations, only_ours, only_theirs = pair_up(fires, theirs)
    assert (only_ours, only_theirs) == ([], [])
    assert len(deviations) == len(fires) == len(theirs) == 39
    fires_per_date = Counter(fire.date() for fire in fires)
    assert fires_per_date[date(2026, 6, 15)] == 0
    assert fires_per_date[date(2026, 6, 29)] == 2
    assert {fire.hour for fire in fires} == {23, 0}


@pytest.mark.parametrize("event", ["sunrise", "dusk_civil", "dusk_nautical", "dawn_nautical"])
def test_reykjavik_summer_matches_ephem(event: str) -> None:
    # White nights: civil and nautical twilight stop and return; sunrise stays near 03:00.
    assert_matches_ephem(event, *REYKJAVIK, datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC))


def test_berlin_astronomical_dawn_just_before_utc_midnight_fires() -> None:
    # Two astronomical dawns fall on 2026-05-13 UTC, at 00:01 and at 23:55 (ephem:
    # 23:55:02). astral.sun.time_at_elevation gives 00:01 for the 13th and 23:47 for the
    # 14th: never the second one, whichever dates one asks for.
    schedule = SolarSchedule(event="dawn_astronomical", latitude=52.52, longitude=13.405)

    fired = fire_after(schedule, datetime(2026, 5, 13, 0, 30, tzinfo=UTC))
    following = fire_after(schedule, fired)

    assert abs(fired - datetime(2026, 5, 13, 23, 55, 2, tzinfo=UTC)) < timedelta(seconds=10)
    assert following.date() == date(2026, 5, 14)


# --- next_after from any instant ----------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "latitude", "longitude"),
    [
        ("sunrise", -37.81, 144.96),
        ("dusk_civil", 40.7128, -74.006),
        ("dawn_astronomical", 52.52, 13.405),
        ("sunset", 64.15, -21.94),
        ("sunrise", 78.22, 15.65),
        ("solar_noon", -17.7, 178.0),
        ("sunset", -13.8, -171.8),
        ("sunrise", 23.81, 90.41),
    ],
    ids=[
        "melbourne-sunrise",
        "new-york-dusk-civil",
        "berlin-dawn-astronomical",
        "reykjavik-sunset",
        "longyearbyen-sunrise",
        "fiji-solar-noon",
        "samoa-sunset",
        "dhaka-sunrise",
    ],
)
def test_next_after_any_instant_is_the_first_fire_of_the_walk_after_it(
    event: str, latitude: float, longitude: float
) -> None:
    schedule = SolarSchedule(event=event, latitude=latitude, longitude=longitude)
    # Far enough into 2027 to hold the first sunrise after Longyearbyen's polar night.
    fires = walk(schedule, datetime(2025, 12, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC))
    start, _ = YEAR_2026
    rng = random.Random(f"{event}{latitude}{longitude}")
    instants = [start + timedelta(seconds=rng.uniform(0, 365 * 86400)) for _ in range(150)]
    # The fires themselves, and a second before each: strictly after.
    instants += [fire for fire in fires[10:40]] + [fire - timedelta(seconds=1) for fire in fires[10:40]]

    for instant in instants:
        expected = fires[bisect.bisect_right(fires, instant)]
        assert schedule.next_after(instant) == expected, instant


# --- elevation, zones, validation, description --------------------------------------------


def test_elevation_lowers_the_horizon_by_its_dip() -> None:
    # From 1,500 m the horizon lies acos(R / (R + h)) lower (astral's earth radius), so
    # ephem with a horizon lowered by that dip must agree; the sunrise is minutes earlier.
    elevation_m = 1500.0
    dip_deg = math.degrees(math.acos(6356900 / (6356900 + elevation_m)))
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    high = SolarSchedule(event="sunrise", latitude=46.55, longitude=7.98, elevation=elevation_m)
    low = SolarSchedule(event="sunrise", latitude=46.55, longitude=7.98)

    ours = walk(high, start, end)
    theirs = ephem_events("sunrise", 46.55, 7.98, start, end, dip_deg=dip_deg)

    deviations, only_ours, only_theirs = pair_up(ours, theirs)
    assert (len(deviations), only_ours, only_theirs) == (31, [], [])
    assert all(timedelta(minutes=4) < b - a for a, b in zip(ours, walk(low, start, end)))


def test_result_is_in_the_schedule_zone_and_the_same_instant() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    in_berlin = SolarSchedule(event="sunrise", latitude=52.52, longitude=13.405, zone=berlin)
    in_utc = SolarSchedule(event="sunrise", latitude=52.52, longitude=13.405)
    after = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # Berlin moves to +02:00 on 03-29

    fired_in_berlin = fire_after(in_berlin, after)
    fired_in_utc = fire_after(in_utc, after)

    assert fired_in_berlin.tzinfo is berlin
    assert fired_in_utc.tzinfo == ZoneInfo("UTC")
    assert fired_in_berlin == fired_in_utc
    assert fired_in_berlin.isoformat()[:11] == "2026-03-29T" and fired_in_berlin.isoformat().endswith("+02:00")
    # Asking with t in another zone changes nothing.
    assert in_berlin.next_after(after.astimezone(ZoneInfo("Asia/Tokyo"))) == fired_in_berlin


def test_naive_instant_is_rejected() -> None:
    schedule = SolarSchedule(event="sunrise", latitude=0.0, longitude=0.0)
    with pytest.raises(ValueError, match=r"^next_after needs an aware datetime, got naive '2026-01-01T00:00:00'$"):
        schedule.next_after(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"event": "sunup"},
            (
                "solar event 'sunup' is not one of dawn_astronomical, dawn_nautical, dawn_civil, sunrise, "
                "solar_noon, sunset, dusk_civil, dusk_nautical, dusk_astronomical"
            ),
        ),
        ({"event": "Sunrise"}, "solar event 'Sunrise' is not one of dawn_astronomical, "),
        ({"latitude": 91}, "latitude 91.0 is outside -90..90"),
        ({"latitude": -90.5}, "latitude -90.5 is outside -90..90"),
        ({"latitude": math.nan}, "latitude nan is outside -90..90"),
        ({"longitude": 180.01}, "longitude 180.01 is outside -180..180"),
        ({"longitude": -200}, "longitude -200.0 is outside -180..180"),
        ({"elevation": math.inf}, "elevation inf is not a finite number of metres"),
    ],
    ids=[
        "unknown-event",
        "event-is-case-sensitive",
        "latitude-above-90",
        "latitude-below-minus-90",
        "latitude-nan",
        "longitude-above-180",
        "longitude-below-minus-180",
        "elevation-infinite",
    ],
)
def test_bad_values_are_rejected_with_value_and_range(arguments: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"event": "sunrise", "latitude": 52.52, "longitude": 13.405, **arguments}
    with pytest.raises(ValueError) as raised:
        SolarSchedule(**fields)  # type: ignore[arg-type]
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"latitude": "52.5"}, "latitude '52.5' is not a number"),
        ({"longitude": True}, "longitude True is not a number"),
        ({"zone": "Europe/Berlin"}, "zone 'Europe/Berlin' is not a tzinfo; pass ZoneInfo('Europe/Berlin')"),
    ],
    ids=["latitude-string", "longitude-bool", "zone-string"],
)
def test_wrong_types_are_rejected_with_the_value(arguments: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"event": "sunrise", "latitude": 52.52, "longitude": 13.405, **arguments}
    with pytest.raises(TypeError) as raised:
        SolarSchedule(**fields)  # type: ignore[arg-type]
    assert str(raised.value) == message


def test_range_ends_are_accepted_and_the_poles_still_fire() -> None:
    for latitude, longitude in [(90, 180), (-90, -180)]:
        for event in ("sunrise", "solar_noon", "dusk_astronomical"):
            schedule = SolarSchedule(event=event, latitude=latitude, longitude=longitude)
            assert schedule.next_after(datetime(2026, 1, 1, tzinfo=UTC)) is not None


@pytest.mark.parametrize(
    ("arguments", "text"),
    [
        ({"event": "sunrise", "latitude": -37.81, "longitude": 144.96}, "sunrise at -37.81, 144.96"),
        ({"event": "solar_noon", "latitude": 52, "longitude": 0}, "solar_noon at 52, 0"),
        (
            {"event": "dusk_civil", "latitude": 46.55, "longitude": 7.98, "elevation": 3454},
            "dusk_civil at 46.55, 7.98, 3454 m",
        ),
    ],
    ids=["plain", "whole-degrees", "with-elevation"],
)
def test_describe_and_kind(arguments: dict[str, object], text: str) -> None:
    schedule = SolarSchedule(**arguments)  # type: ignore[arg-type]
    assert schedule.describe() == text
    assert schedule.kind == "solar"


def test_schedules_are_immutable_values() -> None:
    one = SolarSchedule(event="sunset", latitude=52, longitude=13)
    other = SolarSchedule(event="sunset", latitude=52.0, longitude=13.0)
    assert one == other and hash(one) == hash(other)
    assert isinstance(one.latitude, float)
    with pytest.raises(AttributeError):
        one.latitude = 0.0  # type: ignore[misc]
