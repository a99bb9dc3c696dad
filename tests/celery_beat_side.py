"""Celery's side of tests/test_celery_app_e2e.py, run in a subprocess in the example app's environment.

`routes`: prints, per beat_schedule entry, the queue and priority that the app's own router
(`app.amqp.router.route`) picks for the entry's call, the task's own options merged under the
entry's as apply_async merges them.
`publish NAME...`: publishes those entries once each through celery.beat.Scheduler.apply_async,
the code `celery beat` runs for a due entry.
"""

from __future__ import annotations

import json
import sys

from celery.beat import Scheduler
from proj.celery import app


def routes() -> dict[str, dict[str, object]]:
    found = {}
    for name, raw in app.conf.beat_schedule.items():
        task = app.tasks.get(raw["task"])
        own = {key: value for key, value in (task._get_exec_options() if task else {}).items() if value is not None}
        route = app.amqp.router.route(dict(own, **raw.get("options", {})), raw["task"], raw.get("args", ()),
                                      raw.get("kwargs", {}), task)
        found[name] = {"queue": route["queue"].name, "priority": route.get("priority")}
    return found


def publish(names: list[str]) -> None:
    scheduler = Scheduler(app, lazy=True)
    scheduler.setup_schedule()
    for name in names:
        scheduler.apply_async(scheduler.schedule[name], producer=scheduler.producer, advance=False)
    scheduler.producer.connection.release()


if __name__ == "__main__":
    # As `celery beat` does before its first tick: task modules imported, app finalized.
    app.loader.import_default_modules()
    app.finalize(auto=True)
    if sys.argv[1] == "routes":
        print(json.dumps(routes()))
    else:
        publish(sys.argv[2:])
