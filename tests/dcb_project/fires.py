"""When DCB's scheduler would send each row, on a simulated clock: `python -m dcb_project.fires` (JSON on stdin/stdout).

stdin: {"windows": {row name: [[start, end], ...]}} (ISO times). For each named row, its
celery schedule exactly as DCB's DatabaseScheduler builds it (`PeriodicTask.schedule`: a
TzAwareCrontab for a crontab row) is stepped the way celery beat's tick loop steps it:
from last_run_at = start, ask `is_due(last_run_at)` at the clock's time; when due, that
moment is a run and becomes last_run_at (DCB's ModelEntry sets it to the send time);
then the clock moves on by the seconds `is_due` said, at most DCB's max loop interval.
stdout: {row name: [run times, ISO in the crontab's zone, ...]}.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dcb_project.settings")

import django  # noqa: E402

django.setup()

from django_celery_beat.models import PeriodicTask  # noqa: E402
from django_celery_beat.schedulers import DEFAULT_MAX_INTERVAL  # noqa: E402


def runs(schedule: Any, start: datetime, end: datetime) -> list[datetime]:
    """The moments celery beat sends a run of schedule in (start, end], its clock checking as often as DCB's does."""
    zone = schedule.tz
    clock = [start]
    # TzAwareCrontab's own clock is datetime.now(its zone): the simulated one reads the same way.
    schedule.nowfun = lambda: clock[0].astimezone(zone)
    sent: list[datetime] = []
    last_run_at = start
    while clock[0] <= end:
        due, next_check_s = schedule.is_due(last_run_at)
        if due:
            sent.append(clock[0].astimezone(zone))
            last_run_at = clock[0]
        clock[0] += timedelta(seconds=min(max(next_check_s, 0.001), DEFAULT_MAX_INTERVAL))
    return sent


def main() -> None:
    windows: dict[str, list[list[str]]] = json.load(sys.stdin)["windows"]
    result: dict[str, list[str]] = {}
    for name, spans in windows.items():
        task = PeriodicTask.objects.get(name=name)
        result[name] = [moment.isoformat() for start, end in spans
                        for moment in runs(task.schedule, datetime.fromisoformat(start), datetime.fromisoformat(end))]
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
