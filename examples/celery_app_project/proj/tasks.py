"""The example's tasks. Each appends what the worker saw (routing and headers) as a JSON line to
$PROJ_RESULTS when that is set, so tests can tell where each message arrived."""

from __future__ import annotations

import json
import os
from typing import Any

from celery import Task
from celery.signals import worker_ready

from proj.celery import REPORTS, app


def _record(event: str, **fields: Any) -> None:
    path = os.environ.get("PROJ_RESULTS")
    if path:
        with open(path, "a", encoding="utf-8") as results:  # O_APPEND keeps concurrent lines whole
            results.write(json.dumps({"event": event, **fields}) + "\n")


def _ran(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    request = task.request
    delivery = request.delivery_info or {}
    _record("ran", id=request.id, task=task.name, args=list(args), kwargs=kwargs,
            routing_key=delivery.get("routing_key"), exchange=delivery.get("exchange"),
            priority=delivery.get("priority"), beatd_entry=getattr(request, "beatd_entry", None),
            celery_beat=bool(getattr(request, "celery_beat_task", False)))


@worker_ready.connect
def _on_ready(**_: Any) -> None:
    _record("ready")


def _recording_task(name: str, **options: Any) -> Task:
    """A task that records how it arrived; all of the example's tasks are alike but for name and options."""

    @app.task(bind=True, name=f"proj.tasks.{name}", **options)
    def run(self: Task, *args: Any, **kwargs: Any) -> None:
        _ran(self, args, kwargs)

    return run


report_daily = _recording_task("report_daily")
report_monthly = _recording_task("report_monthly")
report_quarter = _recording_task("report_quarter")
cleanup_tmp = _recording_task("cleanup_tmp")
cleanup_logs = _recording_task("cleanup_logs")
# Its own queue: options a task declares win over task_routes, in Celery and in beatd.
vacuum_db = _recording_task("vacuum_db", queue=REPORTS)
send_digest = _recording_task("send_digest")
ping = _recording_task("ping")
