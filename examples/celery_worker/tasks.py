"""The Celery app whose tasks schedules/demo.yaml names; a stock worker runs what beatd publishes.

Start it from this folder, against the same broker as beatd (default: the embedded
SQLite broker file in the folder you run beatd from):

    BEATD_BROKER=sqla+sqlite:///../../beatd-broker.sqlite3 celery -A tasks worker -Q celery,reports -l info
"""

from __future__ import annotations

import os

from celery import Celery

BROKER_URL = os.environ.get("BEATD_BROKER", "sqla+sqlite:///beatd-broker.sqlite3")

if BROKER_URL.startswith("sqla+"):
    from kombu.transport.sqlalchemy import Transport as SQLTransport

    # kombu's SQL transport polls once a second by default and passes transport options to
    # create_engine (which refuses `polling_interval`), so the class default is where to set it.
    SQLTransport.polling_interval = 0.2

app = Celery("beatd_demo", broker=BROKER_URL)
app.conf.update(accept_content=["json"], task_ignore_result=True, broker_connection_retry_on_startup=True)


@app.task(name="tasks.add")
def add(x: int, y: int) -> int:
    print(f"add({x}, {y}) = {x + y}")
    return x + y


@app.task(name="tasks.heartbeat")
def heartbeat(service: str) -> None:
    print(f"heartbeat from {service}")


@app.task(name="tasks.report")
def report(format: str = "pdf") -> None:
    print(f"weekday report as {format}")


@app.task(name="tasks.cleanup")
def cleanup() -> None:
    print("nightly cleanup")


@app.task(name="tasks.morning")
def morning() -> None:
    print("good morning, the sun is up")


@app.task(name="tasks.launch")
def launch() -> None:
    print("launch!")
