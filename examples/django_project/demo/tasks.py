"""The demo task: schedule `demo.hello` in the admin and watch the worker's log."""

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(name="demo.hello")
def hello(who: str = "world") -> str:
    """Log and return a greeting."""
    log.warning("hello, %s", who)
    return f"hello, {who}"
