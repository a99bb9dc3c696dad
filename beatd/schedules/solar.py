"""Solar schedules: fire at dawn, sunrise, solar noon, sunset or dusk at a place on Earth.

The events mean what `celery.schedules.solar` makes them mean (it asks PyEphem); here
astral computes them, with no atmosphere model, so both agree to within seconds:

    event                 the sun's centre is at ...         sun
    dawn_astronomical     -18°                                rising
    dawn_nautical         -12°                                rising
    dawn_civil            -6°                                 rising
    sunrise               -0°50' (upper limb at -0°34')       rising
    solar_noon            its transit of the meridian         highest
    sunset                -0°50' (upper limb at -0°34')       setting
    dusk_civil            -6°                                 setting
    dusk_nautical         -12°                                setting
    dusk_astronomical     -18°                                setting

Sunrise and sunset put the sun's upper limb 34' below the horizon, the usual allowance
for refraction, which is the -0:34 horizon Celery sets with `use_center=False` and zero
pressure; with a solar semi-diameter of 16' the centre is then 50' down. PyEphem uses the
true semi-diameter (15.7' to 16.3' over the year); the difference is a few seconds of
time. Twilight altitudes are geometric: no refraction is added, as with Celery's
`pressure = 0`.

Away from the polar circles every event happens once a day. Near and beyond them some
do not: there is no sunrise in the polar night, no dusk while the sun stays above -6°
(white nights). On such days the schedule does not fire; solar_noon fires every day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from astral import Observer, SunDirection
from astral.sun import noon, time_at_elevation

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

# Altitude of the sun's centre (degrees) and its direction for every event except
# solar_noon. Sunrise and sunset: upper limb 34' below the horizon, semi-diameter 16'.
_HORIZON_DEG = -(34.0 + 16.0) / 60.0
_CROSSINGS: dict[str, tuple[float, SunDirection]] = {
    "dawn_astronomical": (-18.0, SunDirection.RISING),
    "dawn_nautical": (-12.0, SunDirection.RISING),
    "dawn_civil": (-6.0, SunDirection.RISING),
    "sunrise": (_HORIZON_DEG, SunDirection.RISING),
    "sunset": (_HORIZON_DEG, SunDirection.SETTING),
    "dusk_civil": (-6.0, SunDirection.SETTING),
    "dusk_nautical": (-12.0, SunDirection.SETTING),
    "dusk_astronomical": (-18.0, SunDirection.SETTING),
}

# How far ahead next_after looks before it answers None. The longest wait for an event
# that happens at all is about a year: at the poles the sun rises once a year, and the
# polar night at 78°N (Longyearbyen) keeps sunrise away for about four months. Every
# event does happen at least once a year at every latitude (the sun's declination spans
# ±23.4°), so None is only a guard against a search without end; 400 days leaves room
# for astral's approximations near the poles moving an event by a day from year to year.
SEARCH_DAYS = 400

# Two answers closer than this are the same event computed from two dates (see
# next_after). Events of one kind are about a day apart: a rising through a given
# altitude happens once per turn of the Earth. Even next to a polar night, where
# sunrise creeps towards noon, consecutive sunrises are more than 20 hours apart, while
# the two computations of one event differ by seconds.
_SAME_EVENT = timedelta(hours=12)

# astral answers for a UTC date D with an instant no earlier than D 00:00 minus about
# 16 minutes (its solar noon near longitude ±180° can wrap to the previous date by the
# equation of time), so once a date's midnight minus this margin is past the best
# answer so far, no later date can improve it.
_EARLIEST_BEFORE_DATE = timedelta(hours=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class SolarSchedule:
    """Fire each time a solar event happens at a place.

    Attributes:
        event: One of EVENTS.
        latitude: Degrees north, -90..90.
        longitude: Degrees east, -180..180.
        elevation: Metres above sea level. As in astral, a positive elevation lowers
            the horizon by its dip (about 1.1° at 1,000 m), which makes every event
            earlier (dawn, sunrise) or later (sunset, dusk); zero or below changes
            nothing.
        zone: The zone results are returned in; it does not change which instants fire.
    """

    event: str
    latitude: float
    longitude: float
    elevation: float = 0.0
    zone: ZoneInfo = ZoneInfo("UTC")

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"solar event {self.event!r} is not one of {', '.join(EVENTS)}")
        # Normalize once: YAML hands over ints for whole degrees.
        object.__setattr__(self, "latitude", _number("latitude", self.latitude))
        object.__setattr__(self, "longitude", _number("longitude", self.longitude))
        object.__setattr__(self, "elevation", _number("elevation", self.elevation))
        # Written so that NaN fails too.
        if not -90.0 <= self.latitude <= 90.0:
            raise ValueError(f"latitude {self.latitude!r} is outside -90..90")
        if not -180.0 <= self.longitude <= 180.0:
            raise ValueError(f"longitude {self.longitude!r} is outside -180..180")
        if not math.isfinite(self.elevation):
            raise ValueError(f"elevation {self.elevation!r} is not a finite number of metres")
        if not isinstance(self.zone, ZoneInfo):
            raise TypeError(f"zone {self.zone!r} is not a ZoneInfo; pass ZoneInfo({self.zone!r})")

    @property
    def kind(self) -> str:
        """Always "solar"."""
        return "solar"

    def next_after(self, t: datetime) -> datetime | None:
        """First event strictly after the aware instant t, in self.zone.

        Returns None only if the event does not happen within SEARCH_DAYS days after t,
        which no place on Earth comes close to.

        Raises:
            ValueError: t is naive.
        """
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"next_after needs an aware datetime, got naive {t.isoformat()!r}")
        after = t.astimezone(UTC)
        observer = Observer(self.latitude, self.longitude, self.elevation)

        # astral answers one instant per UTC date D, somewhere between D 00:00 and
        # D+1 12:15: it computes the event of the solar day that starts near D and
        # wraps the result by a day when its formula falls outside that range. The
        # answers for neighbouring dates therefore neither tile the time line: an event
        # just after midnight can come from D and again, seconds apart, from D-1 (a
        # double); and the event a date "owns" can sit on the next date, so asking only
        # for t's own date can jump over one (a skip). So collect answers from two dates
        # before t's date onwards, treat answers closer than _SAME_EVENT as one event,
        # and keep the one from the earliest date, a choice that depends on the event
        # only, not on t. That keeps a walk (t = the previous fire) free of doubles.
        first_day = after.date() - timedelta(days=2)
        found: list[datetime] = []
        best: datetime | None = None
        for offset_days in range(SEARCH_DAYS + 2):
            day = first_day + timedelta(days=offset_days)
            if best is not None and datetime.combine(day, time(), UTC) - _EARLIEST_BEFORE_DATE > best:
                break
            candidate = self._event_on(observer, day)
            if candidate is None or any(abs(candidate - other) < _SAME_EVENT for other in found):
                continue
            found.append(candidate)
            if candidate > after and (best is None or candidate < best):
                best = candidate
        return None if best is None else best.astimezone(self.zone)

    def describe(self) -> str:
        """The schedule in words, e.g. "sunrise at -37.81, 144.96"."""
        place = f"{_degrees(self.latitude)}, {_degrees(self.longitude)}"
        if self.elevation:
            place += f", {self.elevation:g} m"
        return f"{self.event} at {place}"

    def _event_on(self, observer: Observer, day: date) -> datetime | None:
        """astral's answer for the UTC date day (an aware UTC instant near it), or None.

        None means the sun does not reach the event's altitude in the solar day astral
        considers: polar day or polar night for this event.
        """
        if self.event == "solar_noon":
            return noon(observer, day)
        altitude_deg, direction = _CROSSINGS[self.event]
        try:
            return time_at_elevation(observer, altitude_deg, day, direction, UTC, with_refraction=False)
        except ValueError:
            return None


def _number(name: str, value: object) -> float:
    """value as a float; TypeError for anything but int or float (bool included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} {value!r} is not a number")
    return float(value)


def _degrees(value: float) -> str:
    """Degrees with up to 6 decimals (about 0.1 m) and no trailing zeros: 52.0 -> "52"."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
