"""Solar schedules: fire at dawn, sunrise, solar noon, sunset or dusk at a place on Earth.

The events mean what `celery.schedules.solar` makes them mean (it asks PyEphem); here
astral's formulas for the sun's position (NOAA's) compute them. The two agree within
seconds at mid-latitudes and within two minutes near the poles, where the sun crosses
an altitude at a shallow angle (tests/test_solar.py walks 2026 against PyEphem):

    event                 the sun's centre is at ...         sun
    dawn_astronomical     -18°                                rising
    dawn_nautical         -12°                                rising
    dawn_civil            -6°                                 rising
    sunrise               -0°50' (upper limb at -0°34')       rising
    solar_noon            the meridian (transit)              highest
    sunset                -0°50' (upper limb at -0°34')       setting
    dusk_civil            -6°                                 setting
    dusk_nautical         -12°                                setting
    dusk_astronomical     -18°                                setting

Sunrise and sunset put the sun's upper limb 34' below the horizon, the usual allowance
for refraction: the -0:34 horizon Celery sets with `use_center=False` and zero pressure.
With a solar semi-diameter of 16' the centre is then 50' down; PyEphem uses the true
semi-diameter (15.7' to 16.3' over the year), a difference of a few seconds of time.
Twilight altitudes are geometric, with no refraction added, as with Celery's
`pressure = 0`.

Away from the polar circles every event happens once a day. Near and beyond them some
do not: no sunrise in the polar night, no civil dusk while the sun stays above -6°
(white nights). On such days the schedule does not fire; solar_noon fires every day.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from astral.julian import julianday, julianday_to_juliancentury
from astral.sun import adjust_to_horizon, eq_of_time, sun_declination

EVENTS = (
    "dawn_astronomical",
    "dawn_nautical",
    "dawn_civil",
    "sunrise",
    "solar_noon",
    "sunset",
    "dusk_civil",
    "dusk_nautical",
    "dusk_astronomical",
)

# For every event but solar_noon: the altitude of the sun's centre in degrees, and
# whether the sun is rising (before noon) or setting (after it). Sunrise and sunset:
# upper limb 34' below the horizon, semi-diameter 16'.
_HORIZON_DEG = -(34.0 + 16.0) / 60.0
_CROSSINGS: dict[str, tuple[float, bool]] = {
    "dawn_astronomical": (-18.0, True),
    "dawn_nautical": (-12.0, True),
    "dawn_civil": (-6.0, True),
    "sunrise": (_HORIZON_DEG, True),
    "sunset": (_HORIZON_DEG, False),
    "dusk_civil": (-6.0, False),
    "dusk_nautical": (-12.0, False),
    "dusk_astronomical": (-18.0, False),
}

# How many days next_after looks ahead before it answers None. The longest wait for an
# event that happens at all is about a year: near the poles the sun rises once a year,
# and the polar night at 78°N (Longyearbyen) keeps sunrise away for four months. Every
# event does happen at least once a year at every latitude (the sun's declination spans
# ±23.4°), so None is only a guard against a search without end; 400 days leave room
# for an event near the poles moving by a day or two from one year to the next.
SEARCH_DAYS = 400

# At the poles themselves the hour angle, and with it rising and setting, has no
# meaning; like astral, compute as if 22 km away from them.
_MAX_LATITUDE_DEG = 89.8

_UTC = ZoneInfo("UTC")

# Event times are solved to within this; results are rounded to the second. The solver
# needs about 8 steps; the cap only bounds the loop (and would still leave the bracket).
_TOLERANCE_MINUTES = 1.0 / 60.0
_MAX_STEPS = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class SolarSchedule:
    """Fire each time a solar event happens at a place.

    Attributes:
        event: One of EVENTS.
        latitude: Degrees north, -90..90.
        longitude: Degrees east, -180..180.
        elevation: Metres above sea level. As in astral, a positive elevation lowers
            the horizon by its dip (about 1° at 1,000 m) for every event, which makes
            dawn and sunrise earlier and sunset and dusk later; zero or below changes
            nothing.
        zone: The zone results are returned in (a ZoneInfo, normally); it does not
            change which instants fire.
    """

    event: str
    latitude: float
    longitude: float
    elevation: float = 0.0
    zone: tzinfo = _UTC

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"solar event {self.event!r} is not one of {', '.join(EVENTS)}")
        # Normalize once: YAML hands over ints for whole degrees.
        object.__setattr__(self, "latitude", _number("latitude", self.latitude))
        object.__setattr__(self, "longitude", _number("longitude", self.longitude))
        object.__setattr__(self, "elevation", _number("elevation", self.elevation))
        # Comparisons written so that NaN fails them too.
        if not -90.0 <= self.latitude <= 90.0:
            raise ValueError(f"latitude {self.latitude!r} is outside -90..90")
        if not -180.0 <= self.longitude <= 180.0:
            raise ValueError(f"longitude {self.longitude!r} is outside -180..180")
        if not math.isfinite(self.elevation):
            raise ValueError(f"elevation {self.elevation!r} is not a finite number of metres")
        if not isinstance(self.zone, tzinfo):
            raise TypeError(f"zone {self.zone!r} is not a tzinfo; pass ZoneInfo({self.zone!r})")

    @property
    def kind(self) -> str:
        """Always "solar"."""
        return "solar"

    def next_after(self, t: datetime) -> datetime | None:
        """First event strictly after the aware instant t, in self.zone, to the second.

        Returns None only if the event does not happen within SEARCH_DAYS days after t,
        which no place on Earth comes close to.

        Raises:
            ValueError: t is naive.
        """
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"next_after needs an aware datetime, got naive {t.isoformat()!r}")
        after = t.astimezone(UTC)
        # The event of day D lies between D-1 11:43 and D+1 12:17 UTC, later for each
        # later day (see _event_of): the day two before t's date is over before t, and
        # the first answer after t is the next event.
        first_day = after.date() - timedelta(days=1)
        for offset_days in range(SEARCH_DAYS + 2):
            event_at = self._event_of(first_day + timedelta(days=offset_days))
            if event_at is not None and event_at > after:
                return event_at.astimezone(self.zone)
        return None

    def describe(self) -> str:
        """The schedule in words, e.g. "sunrise at -37.81, 144.96"."""
        place = f"{format_degrees(self.latitude)}, {format_degrees(self.longitude)}"
        if self.elevation:
            place += f", {self.elevation:g} m"
        return f"{self.event} at {place}"

    def _event_of(self, day: date) -> datetime | None:
        """The event of the solar day whose local noon falls near day 12:00 UTC.

        Returns an aware UTC instant, rounded to the second, or None when the sun does
        not cross the event's altitude on its side of that noon (polar day or night).

        Each UTC date stands for one solar day, whose events may fall on the date before
        or after: local noon is day 12:00 UTC minus 4 minutes per degree east, give or
        take the equation of time (so between the previous date 23:43 and the next
        date 00:17); rising events lie in the 12 hours before it, setting events in the
        12 hours after. Successive days' events are thus about 24 hours apart and
        strictly ordered: none is skipped, none found twice.

        Why not astral.sun.sunrise, dawn or time_at_elevation: they compute the event of
        a UTC date as "local noon minus (or plus) the hour angle" and, when that lands
        before the date's midnight, add a day, which gives the next day's event instead.
        Where events drift earlier across UTC midnight one is lost: at Berlin they give
        astronomical dawn at 00:01 for 2026-05-13 and 23:47 for 2026-05-14, never the
        dawn at 23:55 on the 13th, and no choice of dates or de-duplication brings it
        back. They also decide "does not happen" from the sun's declination at a guess
        up to 12 hours off, which drops events where the sun only just crosses the
        altitude (Longyearbyen's civil dawn on 2026-04-03, 11' deep). So this solves
        for the crossing itself, with astral's formulas for the sun's declination and
        the equation of time.
        """
        midnight_jd = julianday(day)
        noon_minutes = _transit_minutes(midnight_jd, self.longitude)
        if self.event == "solar_noon":
            return _utc_instant(day, noon_minutes)

        altitude_deg, rising = _CROSSINGS[self.event]
        latitude_rad = math.radians(max(-_MAX_LATITUDE_DEG, min(_MAX_LATITUDE_DEG, self.latitude)))
        # astral's dip of the horizon seen from above sea level lowers every altitude.
        target = math.sin(math.radians(altitude_deg - adjust_to_horizon(self.elevation)))
        sign = 1.0 if rising else -1.0

        def past_event(minutes: float) -> float:
            """Positive once the sun has crossed the altitude this half day, else negative."""
            return sign * (_sin_altitude(midnight_jd, minutes, latitude_rad, self.longitude) - target)

        # From midnight (lower culmination) to noon the sun climbs, from noon to the next
        # midnight it sinks, so a crossing is unique within its half day. (The drift of
        # the declination undoes that only where the sun barely reaches the altitude,
        # or right next to the poles.)
        start = noon_minutes - 720.0 if rising else noon_minutes
        minutes = _crossing(past_event, start, start + 720.0)
        return None if minutes is None else _utc_instant(day, minutes)


def _transit_minutes(midnight_jd: float, longitude: float) -> float:
    """Local solar noon (the sun on the meridian), in minutes after the day's 00:00 UTC.

    The mean noon moved by the equation of time; that is evaluated at the mean noon,
    then again at the result (it changes by under 30 seconds a day).
    """
    minutes = 720.0 - 4.0 * longitude
    for _ in range(2):
        century = julianday_to_juliancentury(midnight_jd + minutes / 1440.0)
        minutes = 720.0 - 4.0 * longitude - eq_of_time(century)
    return minutes


def _sin_altitude(midnight_jd: float, minutes: float, latitude_rad: float, longitude: float) -> float:
    """Sine of the altitude of the sun's centre, without refraction.

    minutes counts from the day's 00:00 UTC, whose Julian day is midnight_jd.
    """
    century = julianday_to_juliancentury(midnight_jd + minutes / 1440.0)
    declination = math.radians(sun_declination(century))
    # True solar time is 720 minutes at the transit; the Earth turns 1° in 4 minutes.
    hour_angle = math.radians((minutes + 4.0 * longitude + eq_of_time(century) - 720.0) / 4.0)
    overhead = math.sin(latitude_rad) * math.sin(declination)
    turning = math.cos(latitude_rad) * math.cos(declination) * math.cos(hour_angle)
    return overhead + turning


def _crossing(rises: Callable[[float], float], start: float, end: float) -> float | None:
    """Where rises() turns from negative to positive in start..end, to _TOLERANCE_MINUTES.

    None unless rises(start) < 0 < rises(end): a sun that only touches the altitude at
    a culmination does not cross it. Regula falsi, Illinois variant: it converges in a
    few evaluations like a secant step, and it keeps the root bracketed where a Newton
    step near a grazing culmination (slope near zero) would shoot off.
    """
    low, high = start, end
    value_low, value_high = rises(low), rises(high)
    if not value_low < 0.0 < value_high:
        return None
    kept = 0  # the end the last step kept: -1 low, +1 high, 0 none yet
    for _ in range(_MAX_STEPS):
        if high - low <= _TOLERANCE_MINUTES:
            break
        guess = (low * value_high - high * value_low) / (value_high - value_low)
        value = rises(guess)
        if value == 0.0:
            return guess
        if value < 0.0:
            low, value_low = guess, value
            if kept == +1:  # high kept twice: halve its weight so the next guess moves
                value_high /= 2.0
            kept = +1
        else:
            high, value_high = guess, value
            if kept == -1:
                value_low /= 2.0
            kept = -1
    return (low + high) / 2.0


def _utc_instant(day: date, minutes: float) -> datetime:
    """day 00:00 UTC plus minutes, rounded to the second."""
    return datetime.combine(day, time(), UTC) + timedelta(seconds=round(minutes * 60.0))


def _number(name: str, value: object) -> float:
    """value as a float; TypeError for anything but int or float (bool included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} {value!r} is not a number")
    return float(value)


def format_degrees(value: float) -> str:
    """Degrees with up to 6 decimals (about 0.1 m) and no trailing zeros: 52.0 -> "52"."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
