"""`beatd convert`: another scheduler's schedule (a Celery app, django-celery-beat) as a beatd file."""

from __future__ import annotations

import sys

import click

from beatd.cli.errors import user_errors


@click.command(name="convert", short_help="Print another scheduler's schedule as a beatd configuration file.")
@click.option("--celery-app", "celery_app", metavar="MODULE[:ATTRIBUTE]",
              help="A Celery app, named as for `celery -A`: its beat_schedule and add_periodic_task entries, "
                   "each routed by the app's own router into its `options`.")
@click.option("--django-celery-beat", "dcb_url", metavar="URL",
              help="The SQLAlchemy URL of a Django database with django-celery-beat's tables "
                   "(?time_zone=TIME_ZONE when the project has USE_TZ = False).")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False, path_type=str),
              help="Write the YAML to this file instead of standard output.")
def convert(celery_app: str | None, dcb_url: str | None, output: str | None) -> None:
    """Print another scheduler's schedule as a beatd configuration file: give --celery-app or --django-celery-beat.

    A Celery app (`--celery-app`): its entries, each routed by the app's own router
    (task_routes, task_queues, the task's own options) into its `options`, so the file
    needs no app to route; the app's timezone, broker_url (a password becomes
    ${BROKER_URL}) and broker_transport_options become the file's settings. Entries
    whose meaning needed care (Celery's crontab day rule, DST, interval slots) get a
    comment saying what beatd does. `beatd next` on the file lists the same runs as
    `beatd next --app`. What cannot be converted is one line naming the entry, exit 1.

    django-celery-beat (`--django-celery-beat`): every row becomes an entry with DCB's
    meaning (disabled rows as `enabled: false`). Rows that cannot be converted are listed
    as comments and on standard error, one line each with the row id and the reason, and
    the exit code is 1.
    """
    if celery_app is not None and dcb_url is None:
        from beatd.stores.celery_app import converted_yaml, read_app

        with user_errors():
            schedule = read_app(celery_app)
            schedule.entries()  # the same checks `beatd run --app` makes
        _write_converted(converted_yaml(schedule), output)
        return
    if dcb_url is None or celery_app is not None:
        raise click.UsageError("give one of --celery-app MODULE[:ATTRIBUTE] and --django-celery-beat URL")
    from beatd.stores.django_celery_beat import convert_database
    from beatd.stores.django_celery_beat import converted_yaml as dcb_yaml
    from beatd.urls import redact_url

    with user_errors():
        conversion = convert_database(dcb_url)
    _write_converted(dcb_yaml(conversion, redact_url(dcb_url)), output)
    for problem in conversion.skipped:
        click.echo(f"not converted: {problem}", err=True)
    if conversion.skipped:
        sys.exit(1)


def _write_converted(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as file:
            file.write(text)
