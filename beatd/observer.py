"""Hooks the daemon calls as it works, each a no-op by default: systemd notify and metrics override a few."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Concatenate, ParamSpec

from beatd.entry import Fire

_Arguments = ParamSpec("_Arguments")


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


def _to_each(hook: Callable[Concatenate[Observer, _Arguments], None]) -> Callable[Concatenate[Observers, _Arguments], None]:
    """The Observers method for hook: the hook of the same name on each observer, in order.

    Typed by the hook it is made from, so mypy checks every call against Observer's signature.
    """
    name = hook.__name__

    def call_each(self: Observers, /, *args: _Arguments.args, **kwargs: _Arguments.kwargs) -> None:
        for observer in self.observers:
            getattr(observer, name)(*args, **kwargs)

    call_each.__name__, call_each.__qualname__ = name, f"Observers.{name}"
    call_each.__doc__ = hook.__doc__
    return call_each


class Observers(Observer):
    """Several observers called in order, as one."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    @property
    def hears_published(self) -> bool:
        return any(observer.hears_published for observer in self.observers)

    on_ready = _to_each(Observer.on_ready)
    on_loop = _to_each(Observer.on_loop)
    on_leader = _to_each(Observer.on_leader)
    on_standby = _to_each(Observer.on_standby)
    on_published = _to_each(Observer.on_published)
    on_publish_batch = _to_each(Observer.on_publish_batch)
    on_broker_error = _to_each(Observer.on_broker_error)
    on_state_write_error = _to_each(Observer.on_state_write_error)
    on_reload = _to_each(Observer.on_reload)
    on_entries_removed = _to_each(Observer.on_entries_removed)
    on_entry_fault = _to_each(Observer.on_entry_fault)
    on_entry_recovered = _to_each(Observer.on_entry_recovered)
    on_reloading = _to_each(Observer.on_reloading)
    on_stopping = _to_each(Observer.on_stopping)
