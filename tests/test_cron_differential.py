"""beatd's cron engine against croniter: random expressions, instants away from DST changes, the same fires.

croniter is the reference here (it is in the `test` extra, not a runtime dependency).
The two agree by design wherever no UTC offset changes: both read wall time, both OR the
day-of-month and day-of-week fields when neither is `*` (Vixie cron's rule), both take 7
as Sunday. They differ on purpose at DST changes (croniter fires a fixed-time entry twice
on a fall-back day; beatd follows cronie), which tests/test_cron_oracle.py covers against
a brute-force oracle instead. Day fields here are `*` or start with a number or a name:
for `*/2` in a day field Vixie cron (and beatd) reads "starts with *" as "no
restriction" in the day rule, croniter does not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import cron_oracle
from croniter import croniter
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis_examples import examples_at_least

from beatd.schedules.cron import CronSchedule, CronSyntaxError

# With and without DST, whole and odd offsets, both hemispheres.
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Asia/Kathmandu",
         "America/St_Johns", "Pacific/Chatham")
FIRES_PER_EXAMPLE = 5
# No UTC offset change within this of `after` or of any fire compared.
DST_MARGIN = timedelta(days=1)
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@st.composite
def numbered_part(draw: st.DrawFn, low: int, high: int, names: tuple[str, ...] = (), *, start_steps: bool = True) -> str:
    """One part of a field that starts with a value: `5`, `5-9`, `5-9/2`, `5/10`, or the same with names."""
    kind = draw(st.sampled_from(["value", "range", "range-step", "start-step"] if start_steps else
                                ["value", "range", "range-step"]))
    # croniter reads a range of one value as `*` (`5-5`, and `7/1`, which is 7-7) and `3-3/2` as `*/2`.
    first = draw(st.integers(low, high if kind == "value" else high - 1))
    shown = (lambda value: names[value - low]) if names and draw(st.booleans()) else str
    if kind == "value":
        return shown(first)
    if kind == "start-step":
        return f"{first}/{draw(st.integers(1, high - low + 1))}"
    last = draw(st.integers(first + 1, high))
    text = f"{shown(first)}-{shown(last)}"
    return f"{text}/{draw(st.integers(1, high - low + 1))}" if kind == "range-step" else text


@st.composite
def cron_field(draw: st.DrawFn, low: int, high: int, names: tuple[str, ...] = (), *, star_steps: bool = True,
               start_steps: bool = True) -> str:
    kind = draw(st.sampled_from(["star", "star-step", "numbered", "list"] if star_steps else
                                ["star", "numbered", "list"]))
    if kind == "star":
        return "*"
    if kind == "star-step":
        return f"*/{draw(st.integers(1, high - low + 1))}"
    parts = draw(st.lists(numbered_part(low, high, names, start_steps=start_steps), min_size=1 if kind == "numbered" else 2, max_size=3))
    return ",".join(parts)


@st.composite
def expressions(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]))
    return " ".join([
        draw(cron_field(0, 59)),
        draw(cron_field(0, 23)),
        draw(cron_field(1, 31, star_steps=False)),
        draw(cron_field(1, 12, MONTH_NAMES)),
        # 0-7: 7 is Sunday too; names only for 0-6. No `1/2`: beatd reads it as 1-7/2, Sunday
        # included (a value with a step runs to the field's end, 7), croniter as 1-6/2.
        draw(st.one_of(cron_field(0, 6, WEEKDAY_NAMES, star_steps=False, start_steps=False),
                       cron_field(0, 7, star_steps=False, start_steps=False))),
    ])


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    """An instant in 2024-2026, often exactly on a minute (where "strictly after" matters)."""
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 3 * 365 * 86400)))
    return start.replace(second=0) if draw(st.booleans()) else start + timedelta(
        microseconds=draw(st.integers(0, 999_999)))


def near_an_offset_change(zone_key: str, first: datetime, last: datetime) -> bool:
    return any(first - DST_MARGIN <= change <= last + DST_MARGIN
               for change in cron_oracle.transitions(zone_key, 2023, 2028))


@examples_at_least(180)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(expression=expressions(), zone_key=st.sampled_from(ZONES), after=instants())
def test_next_after_equals_croniter_away_from_dst_changes(expression: str, zone_key: str, after: datetime) -> None:
    zone = ZoneInfo(zone_key)
    try:
        schedule = CronSchedule.parse(expression, zone)
    except CronSyntaxError as exc:  # `0 0 30 2 *`: beatd refuses it, croniter would search forever
        assert "never matches a date" in str(exc)
        assume(False)

    ours: list[datetime] = []
    current = after
    for _ in range(FIRES_PER_EXAMPLE):
        following = schedule.next_after(current)
        assert following is not None
        ours.append(following)
        current = following
    assume(ours[-1] < datetime(2028, 12, 1, tzinfo=UTC) and not near_an_offset_change(zone_key, after, ours[-1]))

    reference = croniter(expression, after.astimezone(zone))
    theirs = [reference.get_next(datetime) for _ in range(FIRES_PER_EXAMPLE)]
    # ISO strings in UTC: equal instants print the same, whatever zone each answer is in.
    assert [fire.astimezone(UTC).isoformat() for fire in ours] == [
        fire.astimezone(UTC).isoformat() for fire in theirs], f"{expression!r} in {zone_key} after {after.isoformat()}"
