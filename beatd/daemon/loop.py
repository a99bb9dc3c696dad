"""The daemon's loop: lease, engine, publisher and state turned into published, recorded runs.

One thread does everything, in this order each turn: keep the lease, publish what is
due (only while the lease allows it, checked on the monotonic clock right before each
batch), record what was published (fenced by the lease token), then sleep until the
next run or lease renewal. Faults (broker, state store or lease store down) are logged
once per change of state and retried with backoff; runs wait and lose nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Protocol

from beatd.config import Config
from beatd.config.app import load
from beatd.daemon.backoff import Backoff
from beatd.daemon.catalog import CatalogChange, EntryCatalog
from beatd.daemon.quarantine import Quarantine
from beatd.engine import Engine
from beatd.entry import Fire
from beatd.errors import BackendUnavailable, ConfigError, LeaseLost
from beatd.leader import Lease, LeaseBackend, LeaseKeeper, monotonic_clock
from beatd.observer import Observer
from beatd.publish import Message, MessageBuilder, PublishFailed, Transport
from beatd.state import RunRecord, StateStore
from beatd.stores.base import EntryStore
from beatd.text import plural

log = logging.getLogger("beatd")

UTC = UTC
# Most messages handed to the broker in one call: large enough to amortise round trips,
# small enough that the lease is re-checked often while a big backlog goes out.
PUBLISH_BATCH = 5000
# A sleeping daemon wakes at least this often, so a stepped wall clock is noticed.
MAX_SLEEP_S = 30.0
# A single instance's lock never expires; renewing it once a day keeps the loop asleep.
SINGLE_INSTANCE_TTL = timedelta(days=3)
# How often a standby asks for the lease: failover then takes at most ttl plus this.
STANDBY_POLL_S = 1.0
# How long before runs are due their messages are built, so that at the due instant
# only the publish itself remains (1,000 runs: about 12 ms instead of 30).
PREPARE_AHEAD = timedelta(milliseconds=250)
# Most runs built ahead at once; the rest of a larger instant is built when it is due.
PREPARE_LIMIT = 50_000
# Settings a running daemon applies on reload; a change to any other refuses the reload.
LIVE_SETTINGS = frozenset({"path", "entries", "timezone", "catchup_limit"})
_MICROSECOND = timedelta(microseconds=1)


class Clock(Protocol):
    """Where the daemon reads time and waits; tests pass a simulated one."""

    def now(self) -> datetime:
        """The aware wall-clock time (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never steps back (the lease's clock)."""
        ...

    def wait(self, seconds: float, wake: threading.Event) -> None:
        """Sleep up to `seconds`, returning early when `wake` is set."""
        ...


class SystemClock:
    """The real clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return monotonic_clock()

    def wait(self, seconds: float, wake: threading.Event) -> None:
        wake.wait(max(0.0, seconds))


def _settings_needing_restart(running: Config, loaded: Config) -> list[str]:
    """The settings that differ between two configs and that only a restart applies."""
    return [setting.name for setting in fields(running)
            if setting.name not in LIVE_SETTINGS and getattr(running, setting.name) != getattr(loaded, setting.name)]


@dataclass(slots=True)
class _Term:
    """What a leader keeps for one lease term; a new term starts from the state store."""

    lease: Lease
    engine: Engine
    run_counts: dict[str, int]
    unsent: list[Fire] = field(default_factory=list)
    unrecorded: dict[str, RunRecord] = field(default_factory=dict)
    prepared: _Prepared | None = None
    # Entries removed while leading: their state (and broker marks) is dropped at the next flush.
    removed: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Prepared:
    """Runs taken from the engine ahead of their (shared) publish time, with their messages built."""

    at: datetime
    fires: list[Fire]
    messages: list[Message]

    def withdraw(self, names: set[str]) -> dict[str, datetime]:
        """Take out the runs of these entries; returns each one's earliest withdrawn slot."""
        withdrawn: dict[str, datetime] = {}
        fires, messages = [], []
        for fire, message in zip(self.fires, self.messages):
            name = fire.entry.name
            if name in names:
                withdrawn.setdefault(name, fire.scheduled_at)
            else:
                fires.append(fire)
                messages.append(message)
        self.fires, self.messages = fires, messages
        return withdrawn


class Daemon:
    """The scheduling loop: lease term, publishing, sleeping. `run` returns when `stop` is called (from a signal handler).

    Which entries exist is its EntryCatalog's business; the loop applies what each edit changed.
    """

    def __init__(self, config: Config, *, clock: Clock, transport: Transport, state: StateStore,
                 lease_backend: LeaseBackend, holder: str, origin: str,
                 observer: Observer | None = None, entry_stores: Sequence[EntryStore] = ()) -> None:
        self.config = config
        self.clock = clock
        self.transport = transport
        self.state = state
        self.lease_backend = lease_backend
        self.holder = holder
        self.origin = origin
        self.message_builder = MessageBuilder(origin)
        # The edge (systemd notify, metrics) hears what happens through this.
        self.observer = observer or Observer()
        # The entries it runs, the file's and the stores', and what each edit changed.
        self.catalog = EntryCatalog(config, entry_stores)
        self.keeper = LeaseKeeper(config.leader.ttl if config.leader.backend != "none" else SINGLE_INSTANCE_TTL)
        self.term: _Term | None = None
        self.published_total = 0
        self._wake = threading.Event()
        self._stopping = False
        self._reload_requested = False
        self._lease_backoff = Backoff("lease store")
        self._broker_backoff = Backoff("broker")
        self._state_backoff = Backoff("state store")
        self._next_lease_attempt = 0.0
        self.quarantine = Quarantine()

    # -- control, safe to call from signal handlers --------------------------------------

    def stop(self) -> None:
        """Finish the batch in flight, flush state, release the lease, and return from run."""
        if not self._stopping:
            self.observer.on_stopping()
        self._stopping = True
        self._wake.set()

    def reload(self) -> None:
        """Re-read the config file at the next turn of the loop."""
        self._reload_requested = True
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        log.info("beatd started: %s, holder %s", plural(len(self.catalog.entries), "entry"), self.holder)
        self.observer.on_ready(len(self.catalog.entries))
        try:
            while not self._stopping:
                self._turn()
                self.observer.on_loop()
                self._sleep()
        finally:
            self._shut_down()

    def _turn(self) -> None:
        if self._reload_requested:
            self._reload_requested = False
            self._reload()
        for change in self.catalog.poll(self.clock.monotonic()):
            self._apply(change)
        self._keep_lease()
        term = self.term
        if term is None:
            return
        try:
            self._retry_held(term)
            self._publish_due(term)
            self._flush_records(term)
        except LeaseLost as exc:
            self._step_down(f"{exc}")
            # A newer leader's fence refused our write: leading again at once would only be
            # refused again, so stand by as a standby would.
            self._next_lease_attempt = self.clock.monotonic() + STANDBY_POLL_S

    def _keep_lease(self) -> None:
        monotonic_now = self.clock.monotonic()
        if not self.keeper.renew_due(monotonic_now) or monotonic_now < self._next_lease_attempt:
            return
        if not self._lease_backoff.ready(monotonic_now):
            if self.term is not None and not self.keeper.may_publish(monotonic_now):
                self._step_down("lease could not be renewed before its deadline")
            return
        try:
            lease = self.lease_backend.acquire(self.holder, self.config.leader.ttl)
        except BackendUnavailable as exc:
            self._lease_backoff.failed(monotonic_now, exc)
            if self.term is not None and not self.keeper.may_publish(self.clock.monotonic()):
                self._step_down("lease could not be renewed before its deadline")
            return
        self._lease_backoff.succeeded(monotonic_now)
        if lease is not None and self.term is not None and lease.token != self.term.lease.token:
            # Our lease lapsed and was taken anew: finish the old term before the new one.
            self._step_down(f"lease token changed from {self.term.lease.token} to {lease.token}")
        new_term = self.keeper.hold(lease)
        if lease is None:
            self._next_lease_attempt = monotonic_now + min(STANDBY_POLL_S, self.config.leader.ttl.total_seconds() / 3)
            if self.term is not None:
                self._step_down("another instance holds the lease")
            return
        if new_term:
            self._start_term(lease)

    def _start_term(self, lease: Lease) -> None:
        """Become leader: load state and let the engine apply catch-up from it."""
        try:
            records = self.state.load()
        except BackendUnavailable as exc:
            self._state_backoff.failed(self.clock.monotonic(), exc)
            self.keeper.hold(None)
            self._release(lease)
            return
        entries = self.catalog.entries
        last_scheduled = self.catalog.last_scheduled(records)
        # Keyed by the entries' own name strings, not the state's copies of them, and the
        # records dropped before the engine builds its heap: at a million entries each
        # saves tens of MiB at the start's peak.
        run_counts = {entries[name].name if name in entries else name: record.run_count
                      for name, record in records.items()}
        removed = {name for name in records if name not in entries}
        recorded = len(records)
        del records
        engine = Engine(catchup_limit=self.config.catchup_limit)
        engine.load(entries.values(), now=self.clock.now(), last_scheduled=last_scheduled)
        # A new term starts every entry afresh: what still fails is held back again at once.
        self.quarantine = Quarantine()
        self.term = _Term(lease=lease, engine=engine, run_counts=run_counts, removed=removed)
        log.info("leading with lease token %d: %s loaded, %d with recorded runs",
                 lease.token, plural(len(entries), "entry"), recorded)
        self.observer.on_leader(lease.token, len(self.catalog.entries))

    def _step_down(self, reason: str) -> None:
        """Stop publishing; record what was sent if the fence still allows it (else it is re-sent)."""
        term = self.term
        if term is None:
            return
        log.warning("stepping down, publishing stopped: %s", reason)
        self.term = None
        if term.unrecorded:
            try:
                self.state.record(term.unrecorded.values(), term.lease.token)
                self.catalog.runs_published(term.unrecorded.values())
            except (BackendUnavailable, LeaseLost) as exc:
                log.warning("%d published runs not recorded (a new leader re-sends them with the same task ids): %s",
                            len(term.unrecorded), exc)
        self.keeper.hold(None)
        self.observer.on_standby(reason)

    def _publish_due(self, term: _Term) -> None:
        """Publish the backlog left by a broker outage, else the prepared runs and everything due now.

        Then, when the next runs are due within PREPARE_AHEAD, take them from the engine and
        build their messages, so that at their time only the publish is left to do.
        """
        monotonic_now = self.clock.monotonic()
        if term.unsent:
            if self._broker_backoff.ready(monotonic_now):
                # While runs wait for the broker the engine is not asked again, so slots that
                # come due meanwhile are missed ones and follow their catch-up policy.
                fires, term.unsent = term.unsent, []
                self._publish(term, fires, None)
            return
        now = self.clock.now()
        prepared = term.prepared
        if prepared is not None and prepared.at <= now:
            term.prepared = None
            self._publish(term, prepared.fires, prepared.messages)
            if term.unsent:
                return
        # A backlog (many entries' catch-up after downtime) goes out a batch at a time, so
        # memory follows the batch size, not the backlog.
        while not term.unsent:
            fires = term.engine.due(now, limit=PUBLISH_BATCH)
            if not fires:
                break
            self._publish(term, fires, None)
        if not term.unsent and term.prepared is None:
            self._prepare(term, now)

    def _prepare(self, term: _Term, now: datetime) -> None:
        wakeup = term.engine.next_wakeup()
        if wakeup is None or wakeup - now > PREPARE_AHEAD:
            return
        fires, messages = self._build(term, term.engine.due(wakeup, limit=PREPARE_LIMIT), wakeup)
        term.prepared = _Prepared(at=wakeup, fires=fires, messages=messages)

    def _build(self, term: _Term, fires: Sequence[Fire], now: datetime) -> tuple[list[Fire], list[Message]]:
        """The messages of fires, published at now; a fire whose message cannot be built holds its entry back."""
        built_fires, messages = [], []
        for fire in fires:
            try:
                messages.append(self.message_builder.build(fire, now))
            except (ConfigError, ValueError, TypeError) as exc:
                self._hold(term, fire.entry.name, "message", f"{exc}", resume_after=fire.scheduled_at - _MICROSECOND)
                continue
            built_fires.append(fire)
        return built_fires, messages

    def _publish(self, term: _Term, fires: list[Fire], messages: list[Message] | None) -> None:
        """Publish fires in batches (with their messages, when built ahead); what fails waits in term.unsent."""
        if len(self.quarantine):
            fires, messages = self._without_held(fires, messages)
        for start in range(0, len(fires), PUBLISH_BATCH):
            batch = fires[start:start + PUBLISH_BATCH]
            self.keeper.check(self.clock.monotonic())
            unsettled = self._publish_batch(batch, term, messages[start:start + PUBLISH_BATCH] if messages is not None else None)
            if unsettled:
                term.unsent = self._still_worth_sending(unsettled + fires[start + PUBLISH_BATCH:])
                return

    def _without_held(self, fires: list[Fire], messages: list[Message] | None) -> tuple[list[Fire], list[Message] | None]:
        """Drop the runs of entries held back since these runs were taken from the engine."""
        held = self.quarantine
        keep = [index for index, fire in enumerate(fires) if fire.entry.name not in held]
        if len(keep) == len(fires):
            return fires, messages
        return [fires[index] for index in keep], [messages[index] for index in keep] if messages is not None else None

    def _publish_batch(self, batch: Sequence[Fire], term: _Term, messages: Sequence[Message] | None) -> list[Fire]:
        """Publish one batch (building its messages unless given) and queue its records.

        Returns the runs the broker may not have: those after a connection failure. A run
        the broker refused holds its entry back, and counts as settled.
        """
        if messages is None:
            batch, messages = self._build(term, batch, self.clock.now())
        if not batch:
            return []
        started = self.clock.monotonic()
        try:
            result = self.transport.publish(messages)
            settled, refused = len(batch), result.refused
            self._broker_backoff.succeeded(self.clock.monotonic())
            self.observer.on_publish_batch(settled, self.clock.monotonic() - started)
        except PublishFailed as exc:
            settled, refused = exc.published, exc.refused
            self._broker_backoff.failed(self.clock.monotonic(), exc)
            self.observer.on_broker_error(exc)
        except BackendUnavailable as exc:
            settled, refused = 0, {}
            self._broker_backoff.failed(self.clock.monotonic(), exc)
            self.observer.on_broker_error(exc)
        sent_fires, sent_messages = batch[:settled], messages[:settled]
        if refused:
            for index in sorted(refused):
                fire = batch[index]
                self._hold(term, fire.entry.name, "broker", f"the broker refused its message: {refused[index]}",
                           resume_after=fire.scheduled_at - _MICROSECOND)
            sent_fires = [fire for index, fire in enumerate(sent_fires) if index not in refused]
            sent_messages = [message for index, message in enumerate(sent_messages) if index not in refused]
        self._note_sent(term, sent_fires, sent_messages, self.clock.now())
        return list(batch[settled:])

    def _hold(self, term: _Term, name: str, reason: str, detail: str, *, resume_after: datetime) -> None:
        """Hold one entry back after a fault of its own: the engine hands out none of its runs until a retry."""
        self.quarantine.hold(name, reason, detail, resume_after=resume_after,
                             wall_now=self.clock.now(), monotonic_now=self.clock.monotonic())
        term.engine.remove(name)
        if term.prepared is not None:
            term.prepared.withdraw({name})
        self.observer.on_entry_fault(name, reason, detail)

    def _retry_held(self, term: _Term) -> None:
        """Give the engine back the held entries whose backoff is over, from their first unsent slot."""
        if not len(self.quarantine):
            return
        now = self.clock.now()
        for name, resume_after in self.quarantine.due(self.clock.monotonic()):
            entry = self.catalog.entries.get(name)
            if entry is None:
                self.quarantine.release(name)
                continue
            term.engine.add(entry, now=now, last_scheduled=resume_after)

    def _note_sent(self, term: _Term, fires: Sequence[Fire], messages: Sequence[Message], sent_at: datetime) -> None:
        """Queue the records of published runs, and tell the observer and the log of each."""
        run_counts, unrecorded = term.run_counts, term.unrecorded
        on_published = self.observer.on_published if self.observer.hears_published else None
        log_each = log.isEnabledFor(logging.INFO)
        for fire, message in zip(fires, messages):
            name = fire.entry.name
            count = run_counts[name] = run_counts.get(name, 0) + 1
            unrecorded[name] = RunRecord(entry=name, scheduled_at=fire.scheduled_at.astimezone(UTC),
                                         sent_at=sent_at, run_count=count)
            if on_published is None and not log_each:
                continue
            lateness_s = (sent_at - fire.publish_at).total_seconds()
            if on_published is not None:
                on_published(fire, message.task_id, lateness_s)
            if log_each:
                log.info("published entry %s task %s id %s scheduled %s lateness %.3fs", name, fire.entry.task,
                         message.task_id, message.scheduled_at, lateness_s)
        self.published_total += len(fires)

    def _still_worth_sending(self, fires: list[Fire]) -> list[Fire]:
        """Drop waiting runs whose message would already be expired: a worker would discard them."""
        now = self.clock.now()
        keep = []
        for fire in fires:
            expires = fire.entry.options.expires
            if expires is not None and fire.scheduled_at + expires <= now:
                log.warning("dropped entry %s scheduled %s: expired while the broker was down",
                            fire.entry.name, fire.scheduled_at.astimezone(UTC).isoformat())
                continue
            keep.append(fire)
        return keep

    def _flush_records(self, term: _Term) -> None:
        """Record what was published, drop removed entries' state, save faults; all fenced by the lease token.

        A refused write (LeaseLost) means stepping down.
        """
        quarantine = self.quarantine
        if not (term.unrecorded or term.removed or quarantine.unsaved or quarantine.recovered):
            return
        if not self._state_backoff.ready(self.clock.monotonic()):
            return
        try:
            if term.unrecorded:
                self._record(term)
            if term.removed:
                removed = sorted(term.removed)
                self.state.forget(removed, term.lease.token)
                self.transport.forget_marks(removed)
                term.removed = set()
            if quarantine.unsaved or quarantine.recovered:
                self.state.record_faults(list(quarantine.unsaved.values()), sorted(quarantine.recovered), term.lease.token)
                quarantine.unsaved, quarantine.recovered = {}, set()
        except BackendUnavailable as exc:
            self._state_backoff.failed(self.clock.monotonic(), exc)
            self.observer.on_state_write_error(exc)
            return
        self._state_backoff.succeeded(self.clock.monotonic())

    def _record(self, term: _Term) -> None:
        """Record term.unrecorded; a record the store refuses for itself holds its entry back alone."""
        records = list(term.unrecorded.values())
        try:
            self.state.record(records, term.lease.token)
        except ConfigError:
            # Rare (check refuses such entries): find the culprits record by record.
            for record in records:
                try:
                    self.state.record([record], term.lease.token)
                except ConfigError as exc:
                    # The run is on the broker: the entry resumes after it.
                    self._hold(term, record.entry, "record", f"its run cannot be recorded: {exc}",
                               resume_after=record.scheduled_at)
        self.catalog.runs_published(records)
        term.unrecorded = {}
        if len(self.quarantine):
            for record in records:
                if self.quarantine.succeeded(record.entry):
                    self.observer.on_entry_recovered(record.entry)

    def _sleep(self) -> None:
        if self._stopping or self._reload_requested:
            return
        monotonic_now = self.clock.monotonic()
        deadlines = [monotonic_now + MAX_SLEEP_S]
        renew_at = self.keeper.renew_at()
        # After a failed renewal the renew point is already past: wait for the backoff, and
        # wake at the publish deadline to step down on time.
        deadlines.append(max(renew_at if renew_at is not None else self._next_lease_attempt, self._lease_backoff.retry_at))
        publish_deadline = self.keeper.publish_deadline()
        if publish_deadline is not None and publish_deadline > monotonic_now:
            deadlines.append(publish_deadline)
        term = self.term
        if term is not None:
            if term.unsent:
                deadlines.append(self._broker_backoff.retry_at)
            else:
                now = self.clock.now()
                wakeup = term.engine.next_wakeup()
                if term.prepared is not None:
                    deadlines.append(monotonic_now + (term.prepared.at - now).total_seconds())
                elif wakeup is not None:
                    wakeup -= PREPARE_AHEAD
                if wakeup is not None:
                    deadlines.append(monotonic_now + (wakeup - now).total_seconds())
            if term.unrecorded:
                deadlines.append(self._state_backoff.retry_at)
            retry_at = self.quarantine.next_retry()
            if retry_at is not None:
                deadlines.append(retry_at)
        poll_at = self.catalog.next_poll_at()
        if poll_at is not None:
            deadlines.append(poll_at)
        self.clock.wait(min(deadlines) - monotonic_now, self._wake)
        self._wake.clear()

    # -- reload and shutdown ------------------------------------------------------------------

    def _reload(self) -> None:
        """Apply a changed config file: entries added, changed and removed; state of the rest kept."""
        self.observer.on_reloading()
        try:
            config = load(self.config.path, self.config.app)
        except ConfigError as exc:
            log.error("config reload failed, keeping the running config: %s", exc)
            self.observer.on_reload(False, len(self.catalog.entries))
            return
        fixed = _settings_needing_restart(self.config, config)
        if fixed:
            log.error("config reload refused, keeping the whole running config: %s changed, which a running "
                      "beatd cannot apply; restart beatd to apply the new file", ", ".join(fixed))
            self.observer.on_reload(False, len(self.catalog.entries))
            return
        self.config = config
        if self.term is not None:
            self.term.engine.catchup_limit = config.catchup_limit
        self._apply(self.catalog.reload(config))
        self.observer.on_reload(True, len(self.catalog.entries))

    def _apply(self, change: CatalogChange) -> None:
        """Tell the engine, the quarantine and the observer what an edit of the catalogue changed."""
        if self.term is not None:
            engine, now = self.term.engine, self.clock.now()
            # Runs prepared for the old versions are taken back; a changed entry resumes
            # just before its withdrawn slot, so that slot is sent in its new form.
            prepared = self.term.prepared
            withdrawn = prepared.withdraw(set(change.touched())) if prepared is not None else {}
            for entry in change.added:
                engine.add(entry, now=now)
            for old, entry in change.changed:
                # Same schedule: continue from the last run sent, so waiting runs are not lost.
                # New schedule: its slots start now; the old schedule's misses do not carry over.
                # Enabled again: from now too, as slots of a disabled period are never sent.
                keeps_slots = entry.schedule == old.schedule and entry.enabled and old.enabled
                resume = withdrawn[entry.name] - _MICROSECOND if entry.name in withdrawn else engine.last_handed_out(entry.name)
                engine.add(entry, now=now, last_scheduled=resume if keeps_slots else None)
            for name in change.removed:
                engine.remove(name)
            self.term.removed.update(change.removed)
            self.term.removed.difference_update(entry.name for entry in change.added)
        # A changed entry gets a fresh chance; a removed one has nothing left to retry.
        for name in change.touched():
            self.quarantine.release(name)
        if change.removed:
            self.message_builder.forget(change.removed)
            self.observer.on_entries_removed(change.removed)

    def _shut_down(self) -> None:
        term = self.term
        if term is not None:
            self._flush_records(term)
            if term.unrecorded:
                log.error("could not record %d published runs before stopping; they may be re-sent "
                          "with the same task ids", len(term.unrecorded))
            self._release(term.lease)
        self.transport.close()
        self.state.close()
        self.catalog.close()
        self.lease_backend.close()
        log.info("beatd stopped: %d runs published", self.published_total)

    def _release(self, lease: Lease) -> None:
        try:
            self.lease_backend.release(lease)
        except BackendUnavailable as exc:
            log.warning("could not release the lease (it will expire on its own): %s", exc)

