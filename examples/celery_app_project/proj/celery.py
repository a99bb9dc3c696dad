"""The Celery app: two queues, task_routes with a router function, a glob and a regex, and a
beat_schedule with every kind of schedule that `celery beat` runs and beatd takes over.

Settings come from the environment, so tests can give each run a broker and queues of its own:
PROJ_BROKER_URL (default redis://localhost:6379/0), PROJ_QUEUE_PREFIX (default none),
PROJ_TIMEZONE (default Europe/Berlin) and PROJ_REDIS_KEYPREFIX (Redis: kombu's global_keyprefix,
which every client of the broker, beatd included, must use alike).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab, schedule, solar
from kombu import Exchange, Queue

PREFIX = os.environ.get("PROJ_QUEUE_PREFIX", "")
REPORTS = f"{PREFIX}reports"
HOUSEKEEPING = f"{PREFIX}housekeeping"

app = Celery("proj", broker=os.environ.get("PROJ_BROKER_URL", "redis://localhost:6379/0"), include=["proj.tasks"])


def route_urgent(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **extra: Any) -> Any:
    """A router function: an urgent call of any task goes to the reports queue at top priority."""
    if kwargs.get("urgent"):
        return {"queue": REPORTS, "priority": 9}
    return None


app.conf.update(
    timezone=os.environ.get("PROJ_TIMEZONE", "Europe/Berlin"),
    accept_content=["json"],
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_queues=(
        Queue(REPORTS, Exchange(REPORTS), routing_key=REPORTS),
        Queue(HOUSEKEEPING, Exchange(HOUSEKEEPING), routing_key=HOUSEKEEPING),
    ),
    task_default_queue=HOUSEKEEPING,
    # Routers are asked in order; the first that answers wins (the entry's own options win over it).
    task_routes=[
        route_urgent,
        {"proj.tasks.report_*": {"queue": REPORTS}},
        {re.compile(r"proj\.tasks\.(cleanup|vacuum)_\w+"): {"queue": HOUSEKEEPING, "priority": 2}},
    ],
    beat_schedule={
        # A number of seconds: the glob routes it to reports.
        "report-every-2s": {"task": "proj.tasks.report_daily", "schedule": 2.0, "args": ("sales",)},
        # A timedelta: the regex routes it to housekeeping at priority 2.
        "cleanup-every-3s": {"task": "proj.tasks.cleanup_tmp", "schedule": timedelta(seconds=3),
                             "kwargs": {"older_than_s": 3600}},
        # celery.schedules.schedule, relative: the router function sends it to reports at priority 9.
        "urgent-digest": {"task": "proj.tasks.send_digest", "schedule": schedule(timedelta(seconds=2), relative=True),
                          "kwargs": {"urgent": True}},
        # The task's own queue (@app.task(queue=...)) wins over the regex's.
        "vacuum-nightly": {"task": "proj.tasks.vacuum_db", "schedule": crontab(minute=15, hour=3)},
        "weekday-report": {"task": "proj.tasks.report_daily", "schedule": crontab(minute=30, hour=7,
                                                                                  day_of_week="mon-fri"),
                           "args": ("weekday",)},
        # Celery ANDs the day fields: Friday the 13th only.
        "friday-13th": {"task": "proj.tasks.send_digest", "schedule": crontab(minute=0, hour=9, day_of_month=13,
                                                                               day_of_week="friday"),
                        "kwargs": {"topic": "superstition"}},
        # A wrap-around range: Celery reads fri-mon as Friday, Saturday, Sunday and Monday.
        "long-weekend": {"task": "proj.tasks.cleanup_logs", "schedule": crontab(minute="*/30", hour="22-23",
                                                                                 day_of_week="fri-mon")},
        "quarterly": {"task": "proj.tasks.report_quarter", "schedule": crontab(minute=0, hour=0, day_of_month=1,
                                                                                 month_of_year="*/3")},
        "sunrise-ping": {"task": "proj.tasks.ping", "schedule": solar("sunrise", 52.52, 13.405),
                         "args": ("sunrise",)},
        # Every option beatd carries; the entry's queue wins over the glob's.
        "monthly-report": {"task": "proj.tasks.report_monthly", "schedule": crontab(minute=0, hour=6, day_of_month=1),
                           "options": {"queue": HOUSEKEEPING, "priority": 7, "expires": 600, "time_limit": 120,
                                       "soft_time_limit": 100, "headers": {"tenant": "acme"}}},
    },
)


if os.environ.get("PROJ_REDIS_KEYPREFIX"):
    app.conf.broker_transport_options = {"global_keyprefix": os.environ["PROJ_REDIS_KEYPREFIX"]}


@app.on_after_configure.connect
def add_periodic_tasks(sender: Celery, **_: Any) -> None:
    """An entry added in code, as many projects do; it lands in beat_schedule when the app is configured."""
    sender.add_periodic_task(4.0, sender.signature("proj.tasks.ping", args=("periodic",)), name="ping-every-4s")
