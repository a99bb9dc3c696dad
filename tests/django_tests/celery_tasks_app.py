"""A Celery app for the admin's task-name tests, named by settings.BEATD["app"] (not the project's current app)."""

from __future__ import annotations

from celery import Celery

app = Celery("beatd-admin-tests", set_as_current=False)


@app.task(name="reports.send", shared=False)  # shared tasks would join every app
def send_report() -> None:
    """Registered under the name the admin offers."""


@app.task(name="billing.invoice", shared=False)
def invoice() -> None:
    """A second name, so the offered list is sorted."""
