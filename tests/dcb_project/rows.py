"""Rows through django-celery-beat's own models: `python -m dcb_project.rows migrate|create|update|dump` (JSON on stdin/stdout).

create: a JSON list of rows, each {"name", "task", "schedule": {"interval": {...}} or crontab,
solar, clocked, plus any PeriodicTask field}; saved with PeriodicTask.save() as DCB's admin does.
update: {"name": ..., fields...}: the row's fields set and saved (save) or, with "via": "update",
written by QuerySet.update(), which DCB's own scheduler does not notice.
dump: every PeriodicTask as JSON (datetimes ISO).
superuser: {"username", "password"}: a superuser for DCB's admin (settings with BEATD_DCB_ADMIN=1).
bulk: {"count": N}: N rows by bulk_create, for benchmarks: intervals (1 s for one row in a
hundred, else 30 s to 1 h) and crontabs in several zones, each with last_run_at = now.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dcb_project.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django_celery_beat.models import (  # noqa: E402
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
    SolarSchedule,
)

SCHEDULE_MODELS = {"interval": IntervalSchedule, "crontab": CrontabSchedule, "solar": SolarSchedule,
                   "clocked": ClockedSchedule}


def _value(key: str, value: Any) -> Any:
    if key in ("clocked_time", "start_time", "expires", "last_run_at") and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def create(rows: list[dict[str, Any]]) -> None:
    for spec in rows:
        spec = dict(spec)
        ((kind, fields),) = spec.pop("schedule").items()
        schedule = SCHEDULE_MODELS[kind].objects.create(**{key: _value(key, value) for key, value in fields.items()})
        task = PeriodicTask(**{kind: schedule}, **{key: _value(key, value) for key, value in spec.items()})
        task.save()


def update(changes: list[dict[str, Any]]) -> None:
    for change in changes:
        change = dict(change)
        name, via = change.pop("name"), change.pop("via", "save")
        schedule_fields = change.pop("schedule", None)
        task = PeriodicTask.objects.get(name=name)
        if schedule_fields:
            schedule = task.scheduler
            for key, value in schedule_fields.items():
                setattr(schedule, key, _value(key, value))
            schedule.save()
        if via == "update":
            PeriodicTask.objects.filter(name=name).update(**{key: _value(key, value) for key, value in change.items()})
        elif change:
            for key, value in change.items():
                setattr(task, key, _value(key, value))
            task.save()


def bulk(count: int) -> None:
    from django.utils import timezone

    intervals = [IntervalSchedule.objects.create(every=every, period="seconds") for every in (1, 30, 60, 300, 3600)]
    crontabs = [CrontabSchedule.objects.create(minute=minute, hour=hour, timezone=zone)
                for minute, hour, zone in (("*/15", "*", "UTC"), ("30", "7", "Europe/Berlin"),
                                           ("0", "9-17", "America/New_York"), ("5", "4", "Asia/Tokyo"))]
    now = timezone.now()
    tasks = []
    for index in range(count):
        schedule: dict[str, Any]
        if index % 2:
            schedule = {"crontab": crontabs[index % len(crontabs)]}
        else:
            schedule = {"interval": intervals[0] if index % 100 == 0 else intervals[1 + index % 4]}
        tasks.append(PeriodicTask(name=f"bench-{index}", task=f"reports.job{index % 50}", args=f"[{index}]",
                                  last_run_at=now, **schedule))
    PeriodicTask.objects.bulk_create(tasks, batch_size=5000)
    PeriodicTasks.update_changed()


def dump() -> list[dict[str, Any]]:
    rows = []
    for task in PeriodicTask.objects.order_by("id"):
        rows.append({"id": task.id, "name": task.name, "enabled": task.enabled, "one_off": task.one_off,
                     "total_run_count": task.total_run_count, "crontab_id": task.crontab_id,
                     "last_run_at": task.last_run_at.isoformat() if task.last_run_at else None})
    return rows


def main(action: str) -> None:
    if action == "migrate":
        call_command("migrate", verbosity=0)
    elif action == "create":
        create(json.load(sys.stdin))
    elif action == "update":
        update(json.load(sys.stdin))
    elif action == "bulk":
        bulk(json.load(sys.stdin)["count"])
    elif action == "superuser":
        from django.contrib.auth import get_user_model

        get_user_model().objects.create_superuser(email="admin@example.com", **json.load(sys.stdin))
    elif action == "dump":
        json.dump(dump(), sys.stdout)
    else:
        raise SystemExit(f"unknown action {action!r}")


if __name__ == "__main__":
    main(sys.argv[1])
