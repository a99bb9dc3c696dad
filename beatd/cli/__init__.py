"""The `beatd` command line: run, next, check and friends (the only place that picks exit codes).

Each command lives in its own module and imports what it needs when it runs, so
`beatd --help` and `beatd next` on a plain file start without SQLAlchemy, kombu or Django.
"""

from __future__ import annotations

import click

from beatd import __version__
from beatd.cli.convert import convert
from beatd.cli.entries import db, entries, export_command, import_command
from beatd.cli.inspect import check, status, trigger
from beatd.cli.next import next_command
from beatd.cli.run import run


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="beatd")
def main() -> None:
    """beatd: a periodic task scheduler that publishes Celery task messages.

    Reads interval, cron, solar and one-off entries from YAML files and SQL or Django
    stores, works out when each is due with exact time-zone and DST rules, and sends one
    Celery task message per run.
    """


for command in (db, entries, import_command, export_command, convert, check, next_command, run, trigger, status):
    main.add_command(command)
