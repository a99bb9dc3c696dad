"""A tiny Celery app for end-to-end tests: its task and signals append JSON lines to a file.

The worker runs in a subprocess; it learns its broker from BEATD_TEST_BROKER (and its
transport options from BEATD_TEST_TRANSPORT_OPTIONS, JSON) and the file to write from
BEATD_TEST_RESULTS. Each line is one event: "ready" once the worker
consumes, "ran" when a task body runs, "revoked" when the worker discards a message
(for an expired one, with expired true).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from celery import Celery, Task
from celery.signals import task_revoked, worker_ready

BROKER_URL = os.environ["BEATD_TEST_BROKER"]

if BROKER_URL.startswith("sqla+"):
    from kombu.transport.sqlalchemy import Transport as SQLTransport

    # The SQL transport polls, once a second by default, which would dominate the tests'
    # runtime. It hands every transport option to create_engine, which refuses
    # `polling_interval`, so the class default is the only place to set it.
    SQLTransport.polling_interval = 0.1

app = Celery("beatd_test_worker", broker=BROKER_URL)
app.conf.update(
    # A worker's own transport options (global_keyprefix, sep, ...), as JSON, when a test sets them.
    broker_transport_options=json.loads(os.environ.get("BEATD_TEST_TRANSPORT_OPTIONS", "{}")),
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_ignore_result=True,
)


def record(event: str, **fields: Any) -> None:
    """Append one event line; O_APPEND keeps concurrent lines whole."""
    line = json.dumps({"event": event, **fields}) + "\n"
    with open(os.environ["BEATD_TEST_RESULTS"], "a", encoding="utf-8") as results:
        results.write(line)


@app.task(bind=True, name="tests.record")
def record_call(self: Task, *args: Any, **kwargs: Any) -> None:
    """Record how the worker received this call: args, routing and beatd's headers."""
    request = self.request
    record(
        "ran",
        id=request.id,
        args=list(args),
        kwargs=kwargs,
        delivery_info=request.delivery_info,
        beatd_entry=getattr(request, "beatd_entry", None),
        beatd_scheduled_at=getattr(request, "beatd_scheduled_at", None),
        periodic_task_name=getattr(request, "periodic_task_name", None),
        # when the body ran (tests compare beatd's runs with celery beat's).
        ran_at=time.time(),
        timelimit=list(request.timelimit or ()),
    )


@task_revoked.connect
def on_revoked(request: Any = None, expired: bool = False, **_: Any) -> None:
    record("revoked", id=request.id if request is not None else None, expired=bool(expired))


@worker_ready.connect
def on_ready(**_: Any) -> None:
    record("ready")
