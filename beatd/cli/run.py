"""`beatd run`: build the daemon the config describes and run it until SIGTERM or SIGINT."""

from __future__ import annotations

import click

from beatd.cli.errors import user_errors
from beatd.cli.options import ScheduleOptions, load_schedule, schedule_options

LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)


@click.command(short_help="Run the scheduler daemon.")
@schedule_options
@click.option("--log-level", type=LOG_LEVELS, default="info", show_default=True, envvar="BEATD_LOG_LEVEL",
              help="Lowest level logged. `info` logs one line per published run.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              envvar="BEATD_LOG_FORMAT", help="Plain text lines or one JSON object per line.")
def run(schedule: ScheduleOptions, log_level: str, log_format: str) -> None:
    """Run the scheduler daemon: publish every due run to the broker and record it.

    Runs the entries of the file, its includes and its entry stores. At start it logs
    which broker, state store, lease store and entry stores it reached, and which not.
    Several instances may run against one lease store (`leader:`); one leads and the
    others stand by. SIGTERM or SIGINT stops gracefully (the batch in flight finishes,
    state is flushed, the lease released, exit 0); SIGHUP reloads the config file (and
    reads the app's beat_schedule again; code changes need a restart).
    """
    from beatd.daemon.build import build_daemon
    from beatd.daemon.loop import SystemClock
    from beatd.daemon.process import configure_logging, serve

    configure_logging(log_level, log_format)
    config = load_schedule(schedule)
    with user_errors(), build_daemon(config, clock=SystemClock(), observers=()) as daemon:
        serve(daemon)
