"""Prometheus metrics of one beatd process, kept by an Observer in a registry of its own.

    beatd_runs_published_total{entry, outcome}   runs on the broker; outcome on_time or late
                                                 (without `entry` when per-entry labels are off)
    beatd_publish_batch_duration_seconds         time to hand one batch to the broker (histogram)
    beatd_run_lateness_seconds                   publish time minus the run's due time (histogram)
    beatd_leader                                 1 while this instance leads, else 0
    beatd_lease_token                            fencing token of the lease held or last held
    beatd_entries{kind, enabled}                 entries loaded, by schedule kind
    beatd_state_write_failures_total             failed attempts to record published runs
    beatd_broker_errors_total                    failed publishes (the runs wait and are retried)
    beatd_config_reloads_total{outcome}          SIGHUP reloads: ok, or refused (running config kept)
    beatd_entry_errors_total{reason}             failed attempts that concern one entry alone
    beatd_entries_failing                        entries whose last attempt failed (quarantined)

plus the process_* and python_* metrics of prometheus-client's default collectors.
The registry is not prometheus-client's global one, so two daemons in one process (tests)
do not share counters and nothing else in the process leaks into /metrics.

Per-entry series exist only for entries that exist now: those of removed entries are
removed. An installation with very many entries can turn the `entry` label off, as one
series per entry and outcome costs the scraper and Prometheus memory for each.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Collection, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    gc_collector,
    platform_collector,
    process_collector,
)

from beatd.entry import Entry, Fire
from beatd.observer import Observer

# A run published more than this after its due time is `late`: the same second of grace
# after which the engine treats a slot as missed and applies catch-up (Engine's `grace`).
LATE_AFTER_S = 1.0
SCHEDULE_KINDS = ("interval", "cron", "solar", "once")
OUTCOMES = ("on_time", "late")
PUBLISH_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# From "on time" through "the broker was down for a while" to "beatd was stopped for a day".
LATENESS_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
                      3600.0, 21600.0, 86400.0)


class MetricsObserver(Observer):
    """Keeps the metrics listed in the module docstring from the daemon's hooks.

    `entries` returns the entries the daemon runs now; it is read at `on_ready` and after
    each successful reload (the hooks themselves carry only a count). Scrapes read the
    registry from another thread; prometheus-client locks each metric for that.

    `per_entry_labels` False drops the `entry` label, so the number of series no longer
    grows with the number of entries.

    `on_stopping` runs inside the SIGTERM handler, on the thread the handler interrupted,
    which may hold a metric's (non-reentrant) lock: so it touches no metric.
    """

    def __init__(self, *, entries: Callable[[], Iterable[Entry]], registry: CollectorRegistry | None = None,
                 process_metrics: bool = True, per_entry_labels: bool = True) -> None:
        # No `*_created` sample beside each counter and histogram series: with one series per
        # entry they doubled every scrape (20,000 entries: 766 ms and 6.3 MB of text with
        # them). Prometheus does not need them; the setting is prometheus-client's, per process.
        disable_created_metrics()
        self.registry = registry if registry is not None else CollectorRegistry()
        self._entries_now = entries
        self.per_entry_labels = per_entry_labels
        if process_metrics:
            process_collector.ProcessCollector(registry=self.registry)
            platform_collector.PlatformCollector(registry=self.registry)
            gc_collector.GCCollector(registry=self.registry)
        registry = self.registry
        self.runs_published = Counter(
            "beatd_runs_published", "Runs published to the broker, by entry and outcome: on_time, "
            f"or late (more than {LATE_AFTER_S:g} s after their due time: catch-up, or held up by an outage)",
            ["entry", "outcome"] if per_entry_labels else ["outcome"], registry=registry)
        self.publish_duration = Histogram(
            "beatd_publish_batch_duration_seconds", "Time to hand one batch of messages to the broker "
            "(until it acknowledged them, where it confirms publishes)", buckets=PUBLISH_BUCKETS_S, registry=registry)
        self.lateness = Histogram(
            "beatd_run_lateness_seconds", "How long after its due time (slot plus jitter) each run was published",
            buckets=LATENESS_BUCKETS_S, registry=registry)
        self.leader = Gauge("beatd_leader", "1 while this instance leads (holds the lease and publishes), else 0",
                            registry=registry)
        self.lease_token = Gauge("beatd_lease_token", "Fencing token of the lease this instance holds or last held "
                                 "(0 for a single instance, leader backend none)", registry=registry)
        self.entries = Gauge("beatd_entries", "Entries loaded, by schedule kind and whether enabled",
                             ["kind", "enabled"], registry=registry)
        self.state_write_failures = Counter(
            "beatd_state_write_failures", "Failed attempts to record published runs in the state store (retried)",
            registry=registry)
        self.broker_errors = Counter(
            "beatd_broker_errors", "Failed publishes; the runs wait and are retried with backoff", registry=registry)
        self.config_reloads = Counter(
            "beatd_config_reloads", "SIGHUP reloads by outcome: ok, or refused (the running config is kept)",
            ["outcome"], registry=registry)
        self.entry_errors = Counter(
            "beatd_entry_errors", "Failed attempts that concern one entry alone (it is retried with backoff "
            "while the others keep their schedule), by reason", ["reason"], registry=registry)
        self.entries_failing = Gauge(
            "beatd_entries_failing", "Entries whose last attempt failed, waiting to be retried", registry=registry)
        self._failing: set[str] = set()
        # runs_published's series by label values: labels() costs three times an inc().
        self._published_series: dict[tuple[str, ...], Counter] = {}
        # Series that exist from the start, at 0, so rate() and alerts see them before the first event.
        for outcome in ("ok", "refused"):
            self.config_reloads.labels(outcome)
        if not per_entry_labels:
            for outcome in OUTCOMES:
                self.runs_published.labels(outcome)
        self._entry_series: set[tuple[str, str]] = {(kind, enabled) for kind in SCHEDULE_KINDS
                                                     for enabled in ("true", "false")}
        self._count_entries(())

    def on_ready(self, entry_count: int) -> None:
        self._count_entries(self._entries_now())

    def on_leader(self, token: int, entry_count: int) -> None:
        self.leader.set(1)
        self.lease_token.set(token)

    def on_standby(self, reason: str) -> None:
        self.leader.set(0)

    def on_published(self, fire: Fire, task_id: str, lateness_s: float) -> None:
        outcome = "late" if lateness_s > LATE_AFTER_S else "on_time"
        labels = (fire.entry.name, outcome) if self.per_entry_labels else (outcome,)
        series = self._published_series.get(labels)
        if series is None:
            series = self._published_series[labels] = self.runs_published.labels(*labels)
        series.inc()
        self.lateness.observe(lateness_s)

    def on_publish_batch(self, count: int, duration_s: float) -> None:
        self.publish_duration.observe(duration_s)

    def on_broker_error(self, error: Exception) -> None:
        self.broker_errors.inc()

    def on_state_write_error(self, error: Exception) -> None:
        self.state_write_failures.inc()

    def on_reload(self, ok: bool, entry_count: int) -> None:
        self.config_reloads.labels("ok" if ok else "refused").inc()
        if ok:
            self._count_entries(self._entries_now())

    def on_entries_removed(self, names: Collection[str]) -> None:
        if self.per_entry_labels:
            for name in names:
                for outcome in OUTCOMES:
                    self.runs_published.remove(name, outcome)  # a series never created is no error
                    self._published_series.pop((name, outcome), None)
        self._failing.difference_update(names)
        self.entries_failing.set(len(self._failing))

    def on_entry_fault(self, name: str, reason: str, detail: str) -> None:
        self.entry_errors.labels(reason).inc()
        self._failing.add(name)
        self.entries_failing.set(len(self._failing))

    def on_entry_recovered(self, name: str) -> None:
        self._failing.discard(name)
        self.entries_failing.set(len(self._failing))

    def _count_entries(self, entries: Iterable[Entry]) -> None:
        """Set every (kind, enabled) series; one that no entry has any more drops to 0 instead of vanishing."""
        counts = Tally((entry.schedule.kind, "true" if entry.enabled else "false") for entry in entries)
        self._entry_series |= counts.keys()
        for kind, enabled in sorted(self._entry_series):
            self.entries.labels(kind, enabled).set(counts[kind, enabled])
