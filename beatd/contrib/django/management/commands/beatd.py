"""`python manage.py beatd run`: the beatd daemon with this project's entries (the django store) and settings.BEATD."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from beatd.config.app import load
from beatd.contrib.django import conf
from beatd.errors import BeatdError


class Command(BaseCommand):
    help = ("Run beatd on this project: entries from the admin's tables (changes applied within 2 s), "
            "broker and state from settings.BEATD. `beatd run --help` describes the daemon.")

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, metavar="run")
        run = commands.add_parser("run", help="run the daemon until SIGTERM or SIGINT")
        run.add_argument("--config", help="a beatd config file listing `stores: [{django: <settings module>}]`; "
                                          "default: settings.BEATD")
        run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
        run.add_argument("--log-format", default="text", choices=["text", "json"])

    def handle(self, *args: Any, **options: Any) -> None:
        # The daemon brings in kombu and the stores: imported when it runs, not when Django lists commands.
        from beatd.daemon.build import build_daemon
        from beatd.daemon.loop import SystemClock
        from beatd.daemon.process import configure_logging, serve

        try:
            path = options["config"] or str(conf.config_path())
            config = load(path)
            store = ("django", conf.settings_module())
        except BeatdError as exc:
            raise CommandError(str(exc)) from exc
        if store not in config.stores:
            raise CommandError(f"{path}: the admin's entries would not be read; add `stores: [{{django: {store[1]}}}]`")
        configure_logging(options["log_level"], options["log_format"])
        try:
            with build_daemon(config, clock=SystemClock(), observers=()) as daemon:
                serve(daemon)
        except BeatdError as exc:
            raise CommandError(str(exc)) from exc
