"""Parse and format durations: 30, 2.5, "30s", "5m", "1h30m", "2d"."""

from __future__ import annotations

import math
import re
from datetime import timedelta

# Far beyond any useful schedule, and safely inside datetime's range when added to now.
MAX_DURATION_S = 100 * 365 * 86400
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[dhms])+")


def parse_duration(value: object) -> timedelta:
    """Read a positive duration from a number of seconds or a string such as "1h30m".

    Raises:
        ValueError: the value is not a positive duration; the message shows the value.
    """
    if isinstance(value, bool):
        raise ValueError(f"duration {value!r} is not a number of seconds or a string like 30s, 5m, 1h30m, 2d")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _WHOLE.fullmatch(text):
            seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(text))
        else:
            raise ValueError(f"duration {value!r} is not a number of seconds or a string like 30s, 5m, 1h30m, 2d")
    else:
        raise ValueError(f"duration {value!r} is not a number of seconds or a string like 30s, 5m, 1h30m, 2d")
    if not math.isfinite(seconds):
        raise ValueError(f"duration {value!r} is not a finite number of seconds")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"duration {value!r} is longer than the largest allowed, 100 years")
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be greater than zero")
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta) -> str:
    """Write a duration the way parse_duration reads it, largest units first ("1h30m")."""
    total = duration.total_seconds()
    if total != int(total):
        return f"{total:g}s"
    remaining = int(total)
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
