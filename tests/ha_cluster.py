"""Several `beatd run` processes sharing one lease: the high-availability tests and bench/bench_failover.py.

A `Cluster` starts members (one `beatd run` per slot, each slot with a config of its own
so the test can cut one member's state store off through a `TcpProxy`), tells who leads
from their JSON logs ("leading with lease token N": tokens only grow, so the largest one
seen is the current term), and ends what still runs when closed. `read_queue` reads every
message the members left on the broker, and `slot_report` checks them against the
schedule: 20 entries due every second, so every whole second from the first publish to
the last must be there for every entry, under its deterministic task id.

No pytest here: the bench imports this module as well. A wait that times out raises
ClusterError (an AssertionError) with the tail of every member's log.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import yaml
from processes import TcpProxy

from beatd.entry import Entry, Fire, Options, task_id_for
from beatd.publish import open_transport
from beatd.publish.message import MessageBuilder
from beatd.schedules.interval import IntervalSchedule

BEATD = [sys.executable, "-m", "beatd"]
TASK = "tests.record"
ENTRY_COUNT = 20
ONE_SECOND = timedelta(seconds=1)
POLL_S = 0.02
# A beatd imports kombu, SQLAlchemy and redis-py before it logs a line; on a loaded
# two-core machine that has taken several seconds.
START_S = 30.0
STOP_S = 15.0

T = TypeVar("T")


class ClusterError(AssertionError):
    """A wait ran out or a member misbehaved; the message carries what the logs said."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def wait_for(condition: Callable[[], T | None], timeout_s: float, what: str, explain: Callable[[], str] = str) -> T:
    """Poll condition until it returns something truthy and return that; ClusterError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise ClusterError(f"{what}: not within {timeout_s:.1f} s\n{explain()}")
        time.sleep(POLL_S)


def sleep_until_second_plus(offset_s: float) -> datetime:
    """Sleep until the next whole UTC second plus offset_s (0 <= offset_s < 1); returns that instant."""
    now = utc_now()
    target = now.replace(microsecond=0) + ONE_SECOND + timedelta(seconds=offset_s)
    time.sleep(max(0.0, (target - utc_now()).total_seconds()))
    return target


# ---------------------------------------------------------------------------------------------
# configs


def entry_names(count: int = ENTRY_COUNT) -> list[str]:
    return [f"ha-{index:02d}" for index in range(count)]


def write_config(
    path: Path, *, broker: str, state: str, leader: dict[str, Any], queue: str, count: int = ENTRY_COUNT
) -> Path:
    """`count` entries due every second with `catchup: all`, all routed to queue."""
    entries = {
        name: {"task": TASK, "every": 1, "catchup": "all", "options": {"queue": queue}} for name in entry_names(count)
    }
    config = {"broker": broker, "state": state, "leader": leader, "entries": entries}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ---------------------------------------------------------------------------------------------
# logs (`beatd run --log-format json`: one object per line, time in UTC to the microsecond)


@dataclass(frozen=True)
class LogLine:
    at: datetime
    level: str
    message: str
    offset: int  # byte offset of the line in the log file: "written after X" without clocks


@dataclass(frozen=True)
class PublishedLine:
    at: datetime
    entry: str
    task_id: str
    scheduled_at: datetime
    offset: int


_PUBLISHED = re.compile(r"published entry (?P<entry>\S+) task \S+ id (?P<id>\S+) scheduled (?P<at>\S+) lateness")
_LEADING = re.compile(r"leading with lease token (?P<token>\d+)")
_HOLDER = re.compile(r"beatd started: \d+ entr(?:y|ies), holder (?P<holder>\S+)")


def read_log(path: Path) -> list[LogLine]:
    """The JSON lines of a beatd log; anything else (a traceback before logging is set up) is skipped."""
    if not path.exists():
        return []
    lines, offset = [], 0
    for raw in path.read_bytes().splitlines(keepends=True):
        start, offset = offset, offset + len(raw)
        if not raw.endswith(b"\n"):
            break  # being written right now; read on the next poll
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        lines.append(LogLine(datetime.fromisoformat(record["time"]), record["level"], record["message"], start))
    return lines


def tail(path: Path, count: int = 25) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-count:])


# ---------------------------------------------------------------------------------------------
# members and the cluster


@dataclass
class Member:
    """One `beatd run` process of a slot, and its log."""

    slot: int
    config: Path
    log: Path
    process: subprocess.Popen[bytes]
    started_at: datetime

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def name(self) -> str:
        return f"slot {self.slot} pid {self.pid}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def lines(self, since_offset: int = 0) -> list[LogLine]:
        return [line for line in read_log(self.log) if line.offset >= since_offset]

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def holder(self) -> str | None:
        for line in self.lines():
            match = _HOLDER.search(line.message)
            if match:
                return match["holder"]
        return None

    def published(self, since_offset: int = 0) -> list[PublishedLine]:
        published = []
        for line in self.lines(since_offset):
            match = _PUBLISHED.search(line.message)
            if match:
                published.append(PublishedLine(line.at, match["entry"], match["id"],
                                               datetime.fromisoformat(match["at"]), line.offset))
        return published

    def terms(self) -> list[Leadership]:
        """Every "leading with lease token N" line of this process."""
        return [
            Leadership(self, int(match["token"]), line.at, line.offset)
            for line in self.lines()
            if (match := _LEADING.search(line.message))
        ]

    def matching(self, pattern: str, since_offset: int = 0) -> list[LogLine]:
        compiled = re.compile(pattern)
        return [line for line in self.lines(since_offset) if compiled.search(line.message)]

    def send(self, sig: int) -> datetime:
        """Send sig now; returns the instant just before it went out."""
        at = utc_now()
        os.kill(self.pid, sig)
        return at

    def wait_exit(self, timeout_s: float = STOP_S) -> int:
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            self.process.kill()
            self.process.wait(timeout=5)
            raise ClusterError(f"{self.name} did not exit within {timeout_s:.0f} s; killed it\n{tail(self.log)}") from exc


@dataclass(frozen=True)
class Leadership:
    """A term: member led from `at` (its log line at `offset`) with lease token `token`."""

    member: Member
    token: int
    at: datetime
    offset: int


@dataclass
class Cluster:
    """Members started from one config per slot; `close` ends whatever still runs."""

    configs: Sequence[Path]
    workdir: Path
    extra_args: Sequence[str] = ()
    members: list[Member] = field(default_factory=list)

    def start(self, slot: int) -> Member:
        """Start slot's `beatd run` (JSON logs); does not wait for anything."""
        runs = sum(1 for member in self.members if member.slot == slot)
        log = self.workdir / f"slot{slot}-run{runs + 1}.log"
        config = self.configs[slot]
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*BEATD, "run", "--config", str(config), "--log-format", "json", *self.extra_args],
                cwd=config.parent, stdout=out, stderr=subprocess.STDOUT,
            )
        member = Member(slot, config, log, process, utc_now())
        self.members.append(member)
        return member

    def wait_started(self, member: Member, timeout_s: float = START_S) -> None:
        """Until member logged "beatd started" (its loop, and its first lease attempt, follow at once)."""

        def started() -> bool:
            if not member.alive():
                raise ClusterError(f"{member.name} exited with {member.process.returncode}\n{tail(member.log)}")
            return member.holder() is not None

        wait_for(started, timeout_s, f"{member.name} starting", self.explain)

    def live(self) -> list[Member]:
        return [member for member in self.members if member.alive()]

    def by_pid(self, pid: int) -> Member | None:
        return next((member for member in self.members if member.pid == pid), None)

    def latest_term(self) -> Leadership | None:
        terms = [term for member in self.members for term in member.terms()]
        return max(terms, key=lambda term: term.token) if terms else None

    def wait_leader(self, after_token: int = -1, timeout_s: float = START_S) -> Leadership:
        """Until some member logs a term with a token above after_token; the newest such term."""

        def newer() -> Leadership | None:
            term = self.latest_term()
            return term if term is not None and term.token > after_token else None

        return wait_for(newer, timeout_s, f"a leader with a lease token above {after_token}", self.explain)

    def wait_first_publish(self, term: Leadership, timeout_s: float = 10.0) -> PublishedLine:
        """The first run the member published in this term."""

        def first() -> PublishedLine | None:
            published = term.member.published(since_offset=term.offset)
            return published[0] if published else None

        return wait_for(first, timeout_s, f"{term.member.name}: a publish in term {term.token}", self.explain)

    def explain(self) -> str:
        return "\n".join(
            f"--- {member.name} ({'alive' if member.alive() else f'exit {member.process.returncode}'}), "
            f"{member.log.name}:\n{tail(member.log, 15)}"
            for member in self.members
        )

    def close(self) -> None:
        """SIGKILL whatever still runs (a stopped process dies of it too)."""
        for member in self.members:
            if member.alive():
                member.process.kill()
        for member in self.members:
            try:
                member.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


# ---------------------------------------------------------------------------------------------
# the broker: every message on the queue, read back after the run


@dataclass(frozen=True)
class BrokerMessage:
    entry: str
    scheduled_at: datetime
    task_id: str
    origin: str

    @property
    def pid(self) -> int:
        """The publishing process, from `origin` (beatd-<pid>@<host>)."""
        return int(self.origin.partition("@")[0].removeprefix("beatd-"))


def read_queue(redis_url: str, queue: str) -> list[BrokerMessage]:
    """Every message on a Redis queue (kombu's JSON envelope), oldest first, left in place."""
    import redis

    with redis.Redis.from_url(redis_url) as client:
        raw = client.lrange(queue, 0, -1)
    messages = []
    for payload in reversed(raw):  # LPUSH: the newest is at the head
        envelope = json.loads(payload)
        headers = envelope["headers"]
        json.loads(base64.b64decode(envelope["body"]))  # the body must be JSON, not pickle
        messages.append(BrokerMessage(headers["beatd_entry"], datetime.fromisoformat(headers["beatd_scheduled_at"]),
                                      headers["id"], headers["origin"]))
    return messages


def forget_queue(redis_url: str, queue: str) -> None:
    """Delete the queue list and kombu's binding keys for it."""
    import redis

    with redis.Redis.from_url(redis_url) as client:
        keys = [queue, *client.scan_iter(match=f"_kombu.binding*{queue}*")]
        client.delete(*keys)


def copies_of_a_resent_run(redis_url: str) -> int:
    """How many copies of a run published twice the broker keeps: 2, or 1 where it drops re-sends.

    Asked of beatd's own transport: one run of a probe entry, published twice to a probe
    queue. A broker that keeps a high-water mark per entry (issue 16) keeps one copy;
    otherwise the re-sent run is there twice, under one task id. The probe's mark and
    queue are forgotten afterwards.
    """
    name = f"ha-probe-{uuid.uuid4().hex[:10]}"
    entry = Entry(name=name, task=TASK, schedule=IntervalSchedule(every=ONE_SECOND), options=Options(queue=name))
    slot = utc_now().replace(microsecond=0)
    message = MessageBuilder("beatd-0@probe").build(Fire(entry=entry, scheduled_at=slot, publish_at=slot), slot)
    with open_transport(redis_url) as transport:
        try:
            transport.publish([message])
            transport.publish([message])
            copies = len(read_queue(redis_url, name))
        finally:
            transport.forget_marks([name])
            forget_queue(redis_url, name)
    if copies not in (1, 2):
        raise ClusterError(f"a run published twice is on the broker {copies} times")
    return copies


@dataclass
class SlotReport:
    """What the broker holds, slot by slot: (entry, scheduled instant) -> the messages for it."""

    by_slot: dict[tuple[str, datetime], list[BrokerMessage]]
    first: datetime
    last: datetime
    missing: list[tuple[str, datetime]]
    wrong_ids: list[BrokerMessage]
    doubled: dict[tuple[str, datetime], list[BrokerMessage]]

    @property
    def slots(self) -> int:
        return len(self.by_slot)

    def last_slot_of(self, pid: int) -> datetime | None:
        mine = [key[1] for key, messages in self.by_slot.items() if any(m.pid == pid for m in messages)]
        return max(mine) if mine else None

    def slots_of(self, pid: int) -> list[datetime]:
        return sorted({key[1] for key, messages in self.by_slot.items() if any(m.pid == pid for m in messages)})


def slot_report(messages: Iterable[BrokerMessage], entries: Sequence[str]) -> SlotReport:
    """Check messages against entries due every whole second from the first slot seen to the last."""
    by_slot: dict[tuple[str, datetime], list[BrokerMessage]] = defaultdict(list)
    wrong_ids = []
    for message in messages:
        by_slot[(message.entry, message.scheduled_at)].append(message)
        if message.task_id != task_id_for(message.entry, message.scheduled_at):
            wrong_ids.append(message)
    if not by_slot:
        raise ClusterError("the broker holds no message at all")
    instants = [instant for _, instant in by_slot]
    first, last = min(instants), max(instants)
    missing = []
    instant = first
    while instant <= last:
        missing += [(entry, instant) for entry in entries if (entry, instant) not in by_slot]
        instant += ONE_SECOND
    doubled = {key: found for key, found in by_slot.items() if len(found) > 1}
    return SlotReport(dict(by_slot), first, last, missing, wrong_ids, doubled)


# ---------------------------------------------------------------------------------------------
# a TCP proxy that can cut one member off from a store


def url_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = {"redis": 6379, "postgresql": 5432, "mysql": 3306}
    scheme = parts.scheme.partition("+")[0]
    return parts.hostname or "127.0.0.1", parts.port or default[scheme]


def proxied_url(url: str, proxy: TcpProxy) -> str:
    """url with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}127.0.0.1:{proxy.port}"))



def run_status(config: Path, timeout_s: float = 60.0) -> dict[str, Any]:
    """`beatd status --config FILE --json`, parsed; ClusterError if it fails."""
    done = subprocess.run([*BEATD, "status", "--config", str(config), "--json"], cwd=config.parent,
                          capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise ClusterError(f"beatd status exited {done.returncode}: {done.stderr}")
    return json.loads(done.stdout)

