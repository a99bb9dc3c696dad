"""Hooks the daemon calls as it works, each a no-op by default: systemd notify and metrics override a few."""

from __future__ import annotations

from collections.abc import Collection

from beatd.entry import Fire


class Observer:
    """Subclass and override what you need; the daemon calls these from its one thread.

    Hooks must return quickly and must not raise: they run inside the scheduling loop.
    """

    @property
    def hears_published(self) -> bool:
        """Whether on_published does anything: the daemon skips its per-run call when not."""
        return type(self).on_published is not Observer.on_published

    def on_ready(self, entry_count: int) -> None:
        """The config is loaded and the loop is about to start."""

    def on_loop(self) -> None:
        """One turn of the scheduling loop finished (a hung loop stops calling this)."""

    def on_leader(self, token: int, entry_count: int) -> None:
        """This instance now leads with the given lease token."""

    def on_standby(self, reason: str) -> None:
        """This instance stopped leading (or never led yet) and publishes nothing."""

    def on_published(self, fire: Fire, task_id: str, lateness_s: float) -> None:
        """One run is on the broker; lateness is publish time minus the run's publish_at."""

    def on_publish_batch(self, count: int, duration_s: float) -> None:
        """A batch of `count` messages was handed to the broker in `duration_s`."""

    def on_broker_error(self, error: Exception) -> None:
        """A publish failed; the runs wait and are retried with backoff."""

    def on_state_write_error(self, error: Exception) -> None:
        """Recording published runs failed; retried with backoff."""

    def on_reload(self, ok: bool, entry_count: int) -> None:
        """A SIGHUP reload finished: ok False means the new file was refused."""

    def on_entries_removed(self, names: Collection[str]) -> None:
        """These entries are gone (a reload or an entry store removed them); forget what is kept per entry."""

    def on_entry_fault(self, name: str, reason: str, detail: str) -> None:
        """An attempt failed for this entry alone; it is retried with backoff while the others run on.

        Called at each failed attempt, retries included. `reason` is one word from a small
        fixed set (a metric label: never a message or a name); `detail` says what failed.
        """

    def on_entry_recovered(self, name: str) -> None:
        """An entry reported by on_entry_fault succeeded again."""

    def on_reloading(self) -> None:
        """A SIGHUP reload starts."""

    def on_stopping(self) -> None:
        """A graceful stop starts."""


class Observers(Observer):
    """Several observers called in order, as one."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    @property
    def hears_published(self) -> bool:
        return any(observer.hears_published for observer in self.observers)

    def on_ready(self, entry_count: int) -> None:
        for observer in self.observers:
            observer.on_ready(entry_count)

    def on_loop(self) -> None:
        for observer in self.observers:
            observer.on_loop()

    def on_leader(self, token: int, entry_count: int) -> None:
        for observer in self.observers:
            observer.on_leader(token, entry_count)

    def on_standby(self, reason: str) -> None:
        for observer in self.observers:
            observer.on_standby(reason)

    def on_published(self, fire: Fire, task_id: str, lateness_s: float) -> None:
        for observer in self.observers:
            observer.on_published(fire, task_id, lateness_s)

    def on_publish_batch(self, count: int, duration_s: float) -> None:
        for observer in self.observers:
            observer.on_publish_batch(count, duration_s)

    def on_broker_error(self, error: Exception) -> None:
        for observer in self.observers:
            observer.on_broker_error(error)

    def on_state_write_error(self, error: Exception) -> None:
        for observer in self.observers:
            observer.on_state_write_error(error)

    def on_reload(self, ok: bool, entry_count: int) -> None:
        for observer in self.observers:
            observer.on_reload(ok, entry_count)

    def on_entries_removed(self, names: Collection[str]) -> None:
        for observer in self.observers:
            observer.on_entries_removed(names)

    def on_entry_fault(self, name: str, reason: str, detail: str) -> None:
        for observer in self.observers:
            observer.on_entry_fault(name, reason, detail)

    def on_entry_recovered(self, name: str) -> None:
        for observer in self.observers:
            observer.on_entry_recovered(name)

    def on_reloading(self) -> None:
        for observer in self.observers:
            observer.on_reloading()

    def on_stopping(self) -> None:
        for observer in self.observers:
            observer.on_stopping()
