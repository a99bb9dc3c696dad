"""The options every schedule command shares (--config, --app) and how they become a Config and a Catalog."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import click

from beatd.cli.errors import UserError, user_errors

if TYPE_CHECKING:
    from beatd.config import Config
    from beatd.daemon.catalog import Catalog


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleOptions:
    """The options that say where run, next, check, trigger and status find their entries.

    Each field is the parameter name of one option in SCHEDULE_OPTIONS: adding an option
    to all five commands is a field here and a line there.
    """

    config_path: str | None
    app: str | None


SCHEDULE_OPTIONS = (
    click.option("--config", "-c", "config_path", envvar="BEATD_CONFIG", show_envvar=True,
                 type=click.Path(dir_okay=False, path_type=str), help="The YAML schedule file (this, --app, or both)."),
    click.option("--app", "-A", "app", envvar="BEATD_APP", show_envvar=True, metavar="MODULE[:ATTRIBUTE]",
                 help="A Celery app, named as for `celery -A` (imported from the current directory): its "
                      "beat_schedule and add_periodic_task entries run beside the file's, routed by the app's own "
                      "task_routes and task_queues. Without --config, the app's broker_url, "
                      "broker_transport_options and timezone are the settings. Overrides the file's `app:`. "
                      "Needs beatd[celery]."),
)


def schedule_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command SCHEDULE_OPTIONS; it receives their values as one `schedule: ScheduleOptions`."""
    names = [field.name for field in fields(ScheduleOptions)]

    @functools.wraps(command)
    def with_schedule(**kwargs: Any) -> None:
        command(schedule=ScheduleOptions(**{name: kwargs.pop(name) for name in names}), **kwargs)

    for option in reversed(SCHEDULE_OPTIONS):
        with_schedule = option(with_schedule)
    return with_schedule


def load_schedule(schedule: ScheduleOptions) -> Config:
    """The configuration the schedule options name: the file, the Celery app, or both."""
    from beatd.config.app import load

    if schedule.config_path is None and schedule.app is None:
        raise click.UsageError("Missing option '--config' / '-c' (env var: 'BEATD_CONFIG') "
                               "or '--app' / '-A' (env var: 'BEATD_APP').")
    with user_errors():
        return load(schedule.config_path, schedule.app)


@contextlib.contextmanager
def _store_logs_quiet() -> Iterator[None]:
    """The stores log each row they skip; commands that read them once say it themselves."""
    store_log = logging.getLogger("beatd.stores")
    level = store_log.level
    store_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        store_log.setLevel(level)


def read_entries(config: Config) -> Catalog:
    """The entries the daemon would run now: the file's and every store's."""
    from beatd.daemon.catalog import read_catalog

    with user_errors(), _store_logs_quiet():
        return read_catalog(config)


def complete_catalog(config: Config) -> Catalog:
    """The catalogue, refusing to go on without a store's entries; warnings for the rows skipped."""
    catalog = read_entries(config)
    unreadable = catalog.unreadable()
    if unreadable:
        raise UserError(f"{unreadable[0].error}; its entries cannot be shown")
    _warn_skipped(catalog)
    return catalog


def _warn_skipped(catalog: Catalog) -> None:
    for reading in catalog.stores:
        for problem in reading.invalid.values():
            click.echo(f"warning: {reading.label}: {problem}; the daemon skips it", err=True)
    for conflict in catalog.conflicts:
        click.echo(f"warning: {conflict}", err=True)
