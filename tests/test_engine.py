"""Engine behaviour on a simulated clock: due runs, catch-up policies, jitter, replacement."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from beatd.engine import Engine, recent_slots
from beatd.entry import CatchUp, Entry, Fire
from beatd.schedules.cron import CronSchedule
from beatd.schedules.interval import IntervalSchedule
from beatd.schedules.once import OnceSchedule

UTC = UTC
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def every(seconds: float, name: str = "e", **fields) -> Entry:
    return Entry(name=name, task="tasks.t", schedule=IntervalSchedule(every=timedelta(seconds=seconds)), **fields)


def run_until(engine: Engine, start: datetime, end: datetime, step: timedelta) -> list[Fire]:
    """Drive the engine like the daemon: wake at each next_wakeup (or step), collect fires."""
    fires: list[Fire] = []
    now = start
    while now <= end:
        fires.extend(engine.due(now))
        wakeup = engine.next_wakeup()
        now = min(wakeup, now + step) if wakeup and wakeup > now else now + step
    return fires


def test_interval_fires_each_slot_once_over_a_simulated_day():
    engine = Engine()
    engine.add(every(30), now=T0)
    fires = run_until(engine, T0, T0 + timedelta(days=1), timedelta(hours=1))
    slots = [fire.scheduled_at for fire in fires]
    assert len(slots) == 2880
    assert slots == sorted(set(slots))
    assert slots[0] == T0 + timedelta(seconds=30)
    assert all(b - a == timedelta(seconds=30) for a, b in zip(slots, slots[1:]))


def test_due_returns_every_due_entry_at_once_not_one_per_call():
    engine = Engine()
    for index in range(1000):
        engine.add(every(1, name=f"e{index}"), now=T0)
    fires = engine.due(T0 + timedelta(seconds=1))
    assert len(fires) == 1000
    assert engine.due(T0 + timedelta(seconds=1)) == []


def test_thousands_of_entries_over_months_lose_and_double_nothing():
    rng = random.Random(7)
    engine = Engine()
    periods = {f"e{index}": rng.choice([3600, 6 * 3600, 86400, 7 * 86400]) for index in range(1000)}
    for name, seconds in periods.items():
        engine.add(every(seconds, name=name), now=T0)
    end = T0 + timedelta(days=60)
    counts: dict[str, int] = {}
    for fire in run_until(engine, T0, end, timedelta(days=1)):
        counts[fire.entry.name] = counts.get(fire.entry.name, 0) + 1
    assert counts == {name: int((end - T0).total_seconds()) // seconds for name, seconds in periods.items()}


@pytest.mark.parametrize(
    ("policy", "expected_slots"),
    [
        (CatchUp.LATEST, [10]),
        (CatchUp.ALL, [6, 7, 8, 9, 10]),
        (CatchUp.SKIP, [10]),
    ],
    ids=["latest-sends-newest", "all-sends-every-missed", "skip-sends-only-the-on-time-one"],
)
def test_catchup_after_downtime(policy, expected_slots):
    # Given state saying slot 5 s was the last one sent, and a restart at 10.5 s
    now = T0 + timedelta(seconds=10.5)
    engine = Engine()
    engine.add(every(1, catchup=policy), last_scheduled=T0 + timedelta(seconds=5), now=now)
    # When the daemon asks what is due
    fires = engine.due(now)
    # Then the policy decides which missed slots go out, and the schedule resumes at 11 s
    assert [int((fire.scheduled_at - T0).total_seconds()) for fire in fires] == expected_slots
    assert engine.next_fire("e") == T0 + timedelta(seconds=11)


def test_catchup_all_is_bounded_to_the_newest_slots():
    now = T0 + timedelta(days=7)
    engine = Engine(catchup_limit=50)
    engine.add(every(1, catchup=CatchUp.ALL), last_scheduled=T0, now=now)
    fires = engine.due(now)
    assert len(fires) == 50
    assert fires[-1].scheduled_at == now
    assert fires[0].scheduled_at == now - timedelta(seconds=49)


def test_single_missed_slot_is_sent_under_latest_but_not_under_skip():
    now = T0 + timedelta(seconds=90)
    for policy, expected in ((CatchUp.LATEST, 1), (CatchUp.SKIP, 0)):
        engine = Engine()
        engine.add(every(60, catchup=policy), last_scheduled=T0, now=now)
        assert len(engine.due(now)) == expected


def test_slots_missed_while_due_was_not_called_follow_the_policy():
    # The daemon stops calling due() while the broker is down; on return, slots more
    # than the grace (1 s) behind are missed ones.
    engine = Engine()
    engine.add(every(1, name="latest"), now=T0)
    engine.add(every(1, name="all", catchup=CatchUp.ALL), now=T0)
    engine.add(every(1, name="skip", catchup=CatchUp.SKIP), now=T0)
    engine.due(T0 + timedelta(seconds=1))
    fires = engine.due(T0 + timedelta(seconds=21))
    by_name: dict[str, list[int]] = {}
    for fire in fires:
        by_name.setdefault(fire.entry.name, []).append(int((fire.scheduled_at - T0).total_seconds()))
    assert by_name["latest"] == [21]
    assert by_name["all"] == list(range(2, 22))
    assert by_name["skip"] == [20, 21]


def test_on_time_slot_is_sent_under_skip():
    engine = Engine()
    engine.add(every(10, catchup=CatchUp.SKIP), now=T0)
    assert len(engine.due(T0 + timedelta(seconds=10, milliseconds=250))) == 1


def test_new_entry_starts_after_now_without_catching_up():
    now = T0 + timedelta(seconds=95)
    engine = Engine()
    engine.add(every(60), now=now)
    assert engine.due(now) == []
    assert engine.next_fire("e") == T0 + timedelta(seconds=120)


def test_jitter_delays_publish_but_keeps_the_slot_and_is_stable():
    entry = every(60, jitter=timedelta(seconds=30))
    offset = entry.jitter_offset()
    assert timedelta(0) <= offset < timedelta(seconds=30)
    assert offset == every(60, jitter=timedelta(seconds=30)).jitter_offset()
    assert offset != every(60, name="other", jitter=timedelta(seconds=30)).jitter_offset()
    engine = Engine()
    engine.add(entry, now=T0)
    # The slot at T0 itself publishes at T0 + offset, after now, so it is still ahead.
    slot = T0
    assert engine.next_fire("e") == slot
    assert engine.due(slot + offset - timedelta(microseconds=1)) == []
    [fire] = engine.due(slot + offset)
    assert fire.scheduled_at == slot
    assert fire.publish_at == slot + offset


def test_disabled_entry_never_fires_and_reenabling_resumes():
    engine = Engine()
    entry = every(1)
    engine.add(Entry(**{**entry_fields(entry), "enabled": False}), now=T0)
    assert engine.due(T0 + timedelta(seconds=5)) == []
    assert engine.next_fire("e") is None
    engine.add(entry, now=T0)
    assert [fire.scheduled_at for fire in engine.due(T0 + timedelta(seconds=6))] == [T0 + timedelta(seconds=6)]


def test_removed_entry_stops_and_replaced_entry_uses_its_new_schedule():
    engine = Engine()
    engine.add(every(1, name="gone"), now=T0)
    engine.add(every(1, name="changed"), now=T0)
    engine.remove("gone")
    engine.add(every(10, name="changed"), now=T0)
    fires = run_until(engine, T0, T0 + timedelta(seconds=30), timedelta(seconds=1))
    assert {fire.entry.name for fire in fires} == {"changed"}
    assert [int((fire.scheduled_at - T0).total_seconds()) for fire in fires] == [10, 20, 30]


def test_one_off_fires_once_then_is_done():
    at = T0 + timedelta(hours=1)
    engine = Engine()
    engine.add(Entry(name="launch", task="t", schedule=OnceSchedule(at=at)), now=T0)
    fires = run_until(engine, T0, T0 + timedelta(days=2), timedelta(hours=6))
    assert [fire.scheduled_at for fire in fires] == [at]
    assert engine.next_wakeup() is None


def test_cron_entry_across_dst_year_fires_like_the_schedule():
    berlin = ZoneInfo("Europe/Berlin")
    schedule = CronSchedule.parse("30 2 * * *", berlin)
    engine = Engine()
    engine.add(Entry(name="nightly", task="t", schedule=schedule), now=T0)
    fires = run_until(engine, T0, T0 + timedelta(days=365), timedelta(days=1))
    assert len(fires) == 365
    spring = [
        fire.scheduled_at.astimezone(berlin).isoformat()
        for fire in fires
        if fire.scheduled_at.astimezone(berlin).date().isoformat() == "2026-03-29"
    ]
    assert spring == ["2026-03-29T03:00:00+02:00"]


def test_recent_slots_cost_follows_the_slots_returned():
    schedule = IntervalSchedule(every=timedelta(seconds=1))
    calls = 0
    original = schedule.next_after

    class Counting:
        kind = "interval"

        def next_after(self, t):
            nonlocal calls
            calls += 1
            return original(t)

        def describe(self):
            return "counting"

    slots, following = recent_slots(Counting(), T0, T0 + timedelta(days=30), 3)
    assert slots == [T0 + timedelta(days=30, seconds=-2), T0 + timedelta(days=30, seconds=-1), T0 + timedelta(days=30)]
    assert following == T0 + timedelta(days=30, seconds=1)
    assert calls < 30


@pytest.mark.parametrize("gap_s", [0.5, 1, 7, 3600])
def test_recent_slots_says_the_first_slot_after_the_window(gap_s: float) -> None:
    # With no slot in the window, and with some: the answer is next_after(until).
    schedule = IntervalSchedule(every=timedelta(seconds=5))
    after, until = T0 + timedelta(seconds=3), T0 + timedelta(seconds=3 + gap_s)
    slots, following = recent_slots(schedule, after, until, 2)
    assert following == schedule.next_after(until)
    assert all(after < slot <= until for slot in slots)


def entry_fields(entry: Entry) -> dict:
    return {name: getattr(entry, name) for name in Entry.__dataclass_fields__}
