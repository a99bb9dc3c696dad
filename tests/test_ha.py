"""High availability end to end: three `beatd run` processes share a lease; the leader is killed,
paused, cut off from its state store, and stopped, and nothing is lost or doubled (issue 4).

Every member publishes 20 entries due every second (`catchup: all`) to one Redis queue; no
worker consumes it. Afterwards the test reads every message back (LRANGE, kombu's JSON
envelope) and checks the delivery contract (DESIGN.md): every whole second from the first
publish to the last is there for every entry, under its deterministic task id; a slot
appears twice only where a SIGKILL hit its leader between publish and record (the killed
process's last slot, within a ttl of the kill) or where a member whose state store was cut
off had published it unrecorded. Who published what comes from the message's `origin`
(beatd-<pid>@<host>) and from each member's JSON log.

Such a re-sent run must carry the task id it was first sent with, and one kill is forced
into that window (the leader's state store cut off, the leader killed once it has published
a slot it could not record), so the path is taken in every run of the test. The logs show
the re-send whatever the broker does with it; a broker that drops re-sent runs (Redis,
with its high-water mark) holds them once, any other twice (`copies_of_a_resent_run`).

The lease ttl is 2 s so that failovers take seconds; bench/bench_failover.py measures them
with ttl 10 s as well. The schedules run on the real clock, so waits here are real seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import REQUIRE_SERVICES, redis_test_url, require_service
from ha_cluster import (
    Cluster,
    Leadership,
    Member,
    SlotReport,
    copies_of_a_resent_run,
    entry_names,
    forget_queue,
    proxied_url,
    read_queue,
    run_status,
    sleep_until_second_plus,
    slot_report,
    url_address,
    utc_now,
    wait_for,
    write_config,
)
from processes import Processes, TcpProxy

from beatd.leader import open_lease_backend

pytestmark = [pytest.mark.services, pytest.mark.slow]

# Not 9 (conftest flushes it), 12 and 13 (benches), 14 and 15 (other e2e tests).
BROKER_URL = redis_test_url(11)
# The redis-lease run's state and lease; flushed before and after.
STORE_URL = redis_test_url(10)
TTL = timedelta(seconds=2)
TTL_S = TTL.total_seconds()
MEMBERS = 3
ENTRIES = entry_names()
# Where in the second each SIGKILL lands. Runs go out a few milliseconds after each whole
# second and are recorded right after: the small offsets aim at that window (published,
# not yet recorded), the others at a leader asleep between slots. The timed kills hit the
# window only by chance, so one (None) is forced into it: the leader's state store is cut
# off first, and the leader killed as soon as it has published a slot it could not record.
KILL_OFFSETS_S: tuple[float | None, ...] = (0.001, None, 0.003, 0.005, 0.008, 0.012, 0.5, 0.002, 0.004, 0.25, 0.75)
KILLS = len(KILL_OFFSETS_S)
# Publishing must stop at 2/3 of the ttl after the last renewal was sent; this covers the
# log line being written after the publish it reports.
LOG_SLACK = timedelta(seconds=0.25)


# ---------------------------------------------------------------------------------------------
# fixtures


@dataclass(frozen=True)
class Stores:
    """Where the members keep state and the lease, and how many times the leader is killed."""

    kind: str
    state_url: str
    leader: dict[str, str]
    kills: int = KILLS


@pytest.fixture(
    params=["redis", "postgres", "mariadb"],
    ids=["redis-lease-redis-state", "sql-lease-postgres-state", "sql-lease-mariadb-state-4-kills"],
)
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        yield Stores("sql-postgres", url, {"backend": "sql", "url": url, "ttl": "2s"})
        return
    if request.param == "mariadb":
        # Shorter: the same paths as PostgreSQL, with MariaDB's locking and clock.
        url = request.getfixturevalue("mysql_url")
        yield Stores("sql-mariadb", url, {"backend": "sql", "url": url, "ttl": "2s"}, kills=4)
        return
    require_service("redis")
    import redis

    with redis.Redis.from_url(STORE_URL) as client:
        client.flushdb()
        yield Stores("redis", STORE_URL, {"backend": "redis", "url": STORE_URL, "ttl": "2s"})
        client.flushdb()


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of the test's own on the broker; deleted afterwards."""
    require_service("redis")
    name = f"beatd-ha.{uuid.uuid4().hex[:10]}"
    yield name
    forget_queue(BROKER_URL, name)


@pytest.fixture
def proxies() -> Iterator[list[TcpProxy]]:
    started: list[TcpProxy] = []
    yield started
    for proxy in started:
        proxy.close()


def require_redis_server() -> None:
    if shutil.which("redis-server") is None:
        message = "redis-server is not on PATH; install it (apt-get install redis-server) for the lease store outage test"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)


# ---------------------------------------------------------------------------------------------
# what the test did, for the checks afterwards


@dataclass(frozen=True)
class Kill:
    member: Member
    at: datetime
    failover_s: float  # from the signal to the new leader's first publish
    successor: Leadership
    state_cut_at: datetime | None = None  # when the killed leader's state store was cut off (a forced kill)


@dataclass(frozen=True)
class Pause:
    """A member stopped (SIGSTOP) while it led, continued (SIGCONT) three ttl later."""

    member: Member
    stopped_at: datetime
    continued_at: datetime
    log_offset: int  # the member's log size just before SIGCONT
    successor: Leadership
    state_cut_at: datetime | None = None


@dataclass
class Timeline:
    kills: list[Kill] = field(default_factory=list)
    pauses: list[Pause] = field(default_factory=list)
    term_failovers_s: list[float] = field(default_factory=list)


def settle_after(term: Leadership, cluster: Cluster) -> None:
    """Until the new leader has published and recorded at least one slot of its own."""
    first = cluster.wait_first_publish(term)
    wait_for(lambda: utc_now() > first.at + timedelta(seconds=0.3), 2, "a moment")


def pause_leader(cluster: Cluster, leader: Leadership, timeline: Timeline, *, cut: TcpProxy | None = None) -> Leadership:
    """SIGSTOP the leader for three ttl, then SIGCONT; returns its successor's term.

    With cut, the leader's state store is cut off first, and the leader stopped once it has
    published a slot it could not record: on resume it tries to record that slot with its
    old token, after the successor has written with a newer one.
    """
    member = leader.member
    sleep_until_second_plus(0.3)  # between slots: no publish in flight
    cut_at = publish_unrecorded(cluster, member, cut) if cut is not None else None
    stopped_at = member.send(signal.SIGSTOP)
    if cut is not None:
        cut.restore()
    successor = cluster.wait_leader(after_token=leader.token, timeout_s=3 * TTL_S + 5)
    assert successor.member is not member
    time.sleep(max(0.0, (stopped_at + 3 * TTL - utc_now()).total_seconds()))
    log_offset = member.log_size()
    continued_at = member.send(signal.SIGCONT)
    timeline.pauses.append(Pause(member, stopped_at, continued_at, log_offset, successor, cut_at))
    return successor


def publish_unrecorded(cluster: Cluster, member: Member, cut: TcpProxy) -> datetime:
    """Cut member's state store off; return once it has published a slot it could not record.

    Call it between slots. Returns when the cut began: every slot member publishes after
    it is unrecorded (its successor sends it again).
    """
    cut.cut()
    cut_at = utc_now()

    def unrecorded() -> bool:
        failed = member.matching(r"state store unavailable")
        return bool(failed) and any(line.scheduled_at > cut_at for line in member.published())

    wait_for(unrecorded, 3, f"{member.name}: a publish it could not record", cluster.explain)
    return cut_at


def check_resent(report: SlotReport, first: Member, again: Member, since: datetime, until: datetime,
                 copies: int) -> int:
    """Every run `first` published for a slot in (since, until] went out again from `again`, with the same task id.

    The logs of both members are the evidence, whatever the broker did with the re-send;
    the broker holds each such run `copies` times (see copies_of_a_resent_run), under that
    id. Returns how many runs were re-sent.
    """
    sent = {(line.entry, line.scheduled_at): line.task_id for line in first.published()
            if since < line.scheduled_at <= until}
    assert sent, f"{first.name} published nothing from {since.isoformat()} to {until.isoformat()}"
    resent = {(line.entry, line.scheduled_at): line.task_id for line in again.published()
              if (line.entry, line.scheduled_at) in sent}
    assert resent.keys() == sent.keys(), f"{again.name} did not re-send {sorted(sent.keys() - resent.keys())[:5]}"
    other_ids = [(key, sent[key], resent[key]) for key in sent if resent[key] != sent[key]]
    assert not other_ids, f"re-sent under other task ids: {other_ids[:5]}"
    publishers = {first.pid} if copies == 1 else {first.pid, again.pid}
    for key, task_id in sent.items():
        on_broker = report.by_slot[key]
        found = (len(on_broker), {message.task_id for message in on_broker}, {message.pid for message in on_broker})
        assert found == (copies, {task_id}, publishers), (key, [(message.origin, message.task_id) for message in on_broker])
    return len(sent)


# ---------------------------------------------------------------------------------------------
# 1. kills, pauses, a fenced write, graceful stops


def test_three_instances_survive_kills_pauses_and_stops_without_losing_or_doubling_a_run(
    stores: Stores, queue: str, proxies: list[TcpProxy], tmp_path: Path
) -> None:
    # Given three members sharing a lease with ttl 2 s, each reaching the state store
    # through a proxy of its own (so that one of them can be cut off from it)
    configs = []
    for slot in range(MEMBERS):
        proxy = TcpProxy(url_address(stores.state_url))
        proxies.append(proxy)
        configs.append(write_config(tmp_path / f"slot{slot}.yaml", broker=BROKER_URL,
                                    state=proxied_url(stores.state_url, proxy), leader=stores.leader, queue=queue))
    cluster = Cluster(configs, tmp_path)
    timeline = Timeline()
    try:
        for slot in range(MEMBERS):
            cluster.start(slot)
        leader = cluster.wait_leader()
        settle_after(leader, cluster)

        # Then `beatd status --json` names the leader the logs name
        status = run_status(configs[0])
        holder = status["leader"]["holder"]
        assert re.fullmatch(r"[^:]+:\d+:[0-9a-f]{16}", holder), holder
        assert (holder, status["leader"]["token"]) == (leader.member.holder(), leader.token), status["leader"]
        assert datetime.fromisoformat(status["leader"]["expires"]) > utc_now() - TTL

        # When the leader is killed with SIGKILL eleven times, at varying points of the second
        # (once right after a publish it could not record), and each time restarted (it
        # joins as a standby: the new leader already leads)
        for offset_s in KILL_OFFSETS_S[: stores.kills]:
            for member in cluster.live():
                cluster.wait_started(member)
            victim = leader.member
            sleep_until_second_plus(0.3 if offset_s is None else offset_s)
            cut = proxies[victim.slot] if offset_s is None else None
            state_cut_at = publish_unrecorded(cluster, victim, cut) if cut is not None else None
            killed_at = victim.send(signal.SIGKILL)
            assert victim.wait_exit() == -signal.SIGKILL
            if cut is not None:
                cut.restore()
            leader = cluster.wait_leader(after_token=leader.token, timeout_s=3 * TTL_S + 5)
            first = cluster.wait_first_publish(leader)
            timeline.kills.append(Kill(victim, killed_at, (first.at - killed_at).total_seconds(), leader, state_cut_at))
            cluster.start(victim.slot)
            settle_after(leader, cluster)
        for member in cluster.live():
            cluster.wait_started(member)
        time.sleep(TTL_S)  # the point: what follows is more than a ttl away from any kill

        # When the leader is paused (SIGSTOP) for three ttl between two slots, then continued
        leader = pause_leader(cluster, leader, timeline)
        settle_after(leader, cluster)

        # When the next leader is cut off from its state store, publishes a slot it cannot
        # record, and is paused for three ttl; its successor records with a newer token
        fenced_slot = leader.member.slot
        leader = pause_leader(cluster, leader, timeline, cut=proxies[fenced_slot])
        settle_after(leader, cluster)

        # When the leader is stopped with SIGTERM, then the next one, then the last member
        # (all three still run: none left on its own after a kill, pause or fenced write)
        assert len(cluster.live()) == MEMBERS, cluster.explain()
        lease_store = open_lease_backend(stores.leader["backend"], stores.leader["url"])
        try:
            while len(cluster.live()) > 1:
                stopping = leader.member
                sleep_until_second_plus(0.3)
                holder = stopping.holder()
                stopped_at = stopping.send(signal.SIGTERM)
                assert stopping.wait_exit() == 0, cluster.explain()
                # ...the lease was released, not left to expire
                current = lease_store.current()
                assert current is None or current.holder != holder, (current, holder)
                leader = cluster.wait_leader(after_token=leader.token, timeout_s=TTL_S + 3)
                first = cluster.wait_first_publish(leader)
                timeline.term_failovers_s.append((first.at - stopped_at).total_seconds())
                settle_after(leader, cluster)
            last = cluster.live()[0]
            sleep_until_second_plus(0.3)
            last.send(signal.SIGTERM)
            assert last.wait_exit() == 0, cluster.explain()
            assert lease_store.current() is None
        finally:
            lease_store.close()
    finally:
        cluster.close()

    # Then the broker holds every slot of every entry, each under its own task id
    report = slot_report(read_queue(BROKER_URL, queue), ENTRIES)
    assert not report.missing, f"slots lost: {report.missing[:20]}"
    assert not report.wrong_ids, f"task ids not uuid5(entry, slot): {report.wrong_ids[:5]}"
    assert len(timeline.kills) == stores.kills
    assert report.last - report.first > timedelta(seconds=3 * stores.kills)

    # ...each new term took the next lease token: one more than the term before
    tokens = sorted({term.token for member in cluster.members for term in member.terms()})
    assert tokens == list(range(tokens[0], tokens[0] + len(tokens))), tokens
    # The first term, one per kill, two pauses, two SIGTERMs: kills + 5 terms
    assert len(tokens) >= stores.kills + 5, [(member.name, [term.token for term in member.terms()])
                                             for member in cluster.members]

    # ...a slot sent twice was the last one a killed leader sent, and its successor sent it
    # again within a ttl of the kill, under the same task id; or one the cut-off leader had
    # published unrecorded
    pause, fenced = timeline.pauses
    assert fenced.state_cut_at is not None
    unexplained = {}
    killed_resends = 0
    for (entry, instant), messages in report.doubled.items():
        pids = {message.pid for message in messages}
        by_kill = any(
            kill.member.pid in pids
            and (abs((instant - kill.at).total_seconds()) <= TTL_S and report.last_slot_of(kill.member.pid) == instant
                 or kill.state_cut_at is not None and kill.state_cut_at < instant <= kill.at)
            for kill in timeline.kills
        )
        by_fence = fenced.member.pid in pids and fenced.state_cut_at < instant <= fenced.stopped_at
        same_id = len({message.task_id for message in messages}) == 1
        if len(messages) != 2 or len(pids) != 2 or not same_id or not (by_kill or by_fence):
            unexplained[(entry, instant.isoformat())] = [(message.origin, message.task_id) for message in messages]
        killed_resends += by_kill
    assert not unexplained, f"slots sent twice, not by a kill in flight nor by the fenced leader: {unexplained}"

    # ...the forced kill took the path: each run its leader published but could not record
    # was re-sent by its successor under the same task id (on the broker once where it
    # drops re-sends, else twice)
    copies = copies_of_a_resent_run(BROKER_URL)
    [forced] = [kill for kill in timeline.kills if kill.state_cut_at is not None]
    assert forced.state_cut_at is not None
    forced_resends = check_resent(report, forced.member, forced.successor.member, forced.state_cut_at, forced.at,
                                  copies)
    assert forced_resends >= len(ENTRIES)

    # ...each paused leader, once continued, stepped down before publishing anything: no
    # slot of its pause came from it, and its log shows no publish from SIGCONT until it
    # led again (if it did, later, after another leader's failure)
    for paused in (pause, fenced):
        member = paused.member
        assert paused.successor.at < paused.continued_at
        assert not [instant for instant in report.slots_of(member.pid)
                    if paused.stopped_at < instant <= paused.continued_at], member.name
        later_terms = [term.offset for term in member.terms() if term.offset > paused.log_offset]
        until = later_terms[0] if later_terms else float("inf")
        resumed = [line for line in member.lines(paused.log_offset) if line.offset < until]
        assert not [line for line in resumed if line.message.startswith("published ")], member.log.read_text()[-3000:]
        assert [line for line in resumed if line.message.startswith("stepping down, publishing stopped")], member.name

    # ...the cut-off leader's slot was re-sent by its successor under the same ids, and its
    # fenced write on resume was refused: the successor's newer token had written
    check_resent(report, fenced.member, fenced.successor.member, fenced.state_cut_at, fenced.stopped_at, copies)
    refused = fenced.member.matching(r"20 published runs not recorded .* is fenced off", fenced.log_offset)
    assert refused, f"no refused fenced write in the log:\n{fenced.member.log.read_text()[-3000:]}"
    fence = re.search(r"lease token (\d+) is fenced off, token (\d+) has written since", refused[0].message)
    assert fence, refused[0].message
    assert int(fence[1]) < fenced.successor.token <= int(fence[2]), (refused[0].message, fenced.successor.token)

    # ...and, stopped, `beatd status` shows no leader and the last slot as every entry's last run
    status = run_status(configs[0])
    assert status["leader"] is None
    assert {datetime.fromisoformat(row["last_run"]) for row in status["entries"]} == {report.last}

    print_summary(stores.kind, report, timeline, killed_resends, forced_resends)


def print_summary(kind: str, report: SlotReport, timeline: Timeline, resends: int, forced_resends: int) -> None:
    failovers = sorted(kill.failover_s for kill in timeline.kills)
    print(f"\n[{kind}] {report.slots} slots from {report.first:%H:%M:%S} to {report.last:%H:%M:%S}, "
          f"{len(report.doubled)} on the broker twice ({resends} after a kill in flight); "
          f"{forced_resends} runs re-sent after the forced kill; "
          f"SIGKILL failover s: median {failovers[len(failovers) // 2]:.2f}, max {failovers[-1]:.2f}; "
          f"SIGTERM failover s: {', '.join(f'{s:.2f}' for s in timeline.term_failovers_s)}")


# ---------------------------------------------------------------------------------------------
# 2. the lease store goes away under the leader


def test_lease_store_down_5s_leader_steps_down_and_the_lease_is_taken_again_losing_nothing(
    postgres_url: str, queue: str, processes: Processes, tmp_path: Path
) -> None:
    # Given two members whose lease lives in a private redis-server (ttl 2 s), state in PostgreSQL
    require_redis_server()
    lease_server = processes.redis_server(tmp_path / "lease-redis")
    leader_settings = {"backend": "redis", "url": lease_server.url, "ttl": "2s"}
    configs = [write_config(tmp_path / f"slot{slot}.yaml", broker=BROKER_URL, state=postgres_url,
                            leader=leader_settings, queue=queue) for slot in range(2)]
    cluster = Cluster(configs, tmp_path)
    try:
        for slot in range(2):
            cluster.start(slot)
        leader = cluster.wait_leader()
        settle_after(leader, cluster)
        wait_for(lambda: len({line.scheduled_at for line in leader.member.published()}) >= 2, 5, "two slots")

        # When the lease store is killed between two slots, and started again 5 s later
        sleep_until_second_plus(0.3)
        cpu_before = {member.pid: cpu_seconds(member.pid) for member in cluster.live()}
        down_at = utc_now()
        lease_server.kill()
        time.sleep(5)  # the point: the lease store stays away
        cpu_during = {pid: cpu_seconds(pid) - used for pid, used in cpu_before.items()}
        up_at = utc_now()
        lease_server.start()

        # Then the leader said it could not reach the lease store and stepped down before
        # the lease could have expired
        member = leader.member
        assert member.matching(r"lease store unavailable"), cluster.explain()
        stepped = member.matching(r"stepping down, publishing stopped")
        assert stepped and down_at < stepped[0].at < down_at + TTL + timedelta(seconds=1), cluster.explain()

        # ...and the lease was taken again after the store came back, with a newer token
        again = cluster.wait_leader(after_token=leader.token, timeout_s=15)
        assert again.at > up_at
        settle_after(again, cluster)
        # (its retries back off up to 5 s apart, so it may notice after the other member)
        wait_for(lambda: member.matching(r"lease store available again"), 10, "the leader noticing", cluster.explain)
        wait_for(lambda: [line for line in again.member.published() if line.scheduled_at > up_at + 2 * TTL],
                 10, "publishing after recovery", cluster.explain)
        for stopping in cluster.live():
            stopping.send(signal.SIGTERM)
            assert stopping.wait_exit() == 0, cluster.explain()
    finally:
        cluster.close()

    # Then nobody published while no lease could be held...
    publish_deadline = down_at + TTL * 2 / 3 + LOG_SLACK
    during = [(m.name, line.at.isoformat()) for m in cluster.members for line in m.published()
              if publish_deadline < line.at < up_at]
    assert not during, f"published while the lease store was down: {during[:5]}"
    # ...and every slot reached the broker exactly once: the slots of the outage by catch-up
    report = slot_report(read_queue(BROKER_URL, queue), ENTRIES)
    assert not report.missing, f"slots lost: {report.missing[:20]}"
    assert not report.doubled, f"slots sent twice: {list(report.doubled)[:10]}"
    assert not report.wrong_ids
    outage = [instant for instant in report.slots_of(again.member.pid) if down_at < instant < up_at]
    assert len(outage) >= 4, f"the outage's slots were not caught up: {outage}"
    # ...and the members waited for the lease store with backoff, not in a busy loop
    # (idle, a member uses about 0.02 CPU seconds in those 5 s)
    assert max(cpu_during.values()) < 0.25, f"CPU seconds used while the lease store was down, by pid: {cpu_during}"


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
