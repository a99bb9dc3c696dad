"""A Celery task that runs once per task id: a run delivered twice (same id) is dropped the second time.

beatd gives every run a task id derived from the entry name and the scheduled instant,
so a run that reaches the broker twice (see "What is guaranteed" in the top-level
README: on RabbitMQ after an ambiguous confirm timeout, or a leader killed between
publishing and recording) arrives with the same id both times. This task claims the id
in Redis with SET NX before it does its work; the copy finds the claim and returns.

Start it from this folder:

    BEATD_BROKER=amqp://guest:guest@localhost:5672// DEDUP_REDIS=redis://localhost:6379/0 \\
        celery -A tasks worker -Q celery -l info
"""

from __future__ import annotations

import logging
import os
from typing import Any

import redis
from celery import Celery, Task

BROKER_URL = os.environ.get("BEATD_BROKER", "amqp://guest:guest@localhost:5672//")
# Where the claimed ids live; any Redis the workers share (it need not be the broker).
DEDUP_REDIS = redis.Redis.from_url(os.environ.get("DEDUP_REDIS", "redis://localhost:6379/0"))
# How long a claim is kept: longer than a copy can come late. Copies are sent within
# seconds (a publish retry) or within a leader's lease ttl plus the catch-up after it.
CLAIM_TTL_S = 24 * 3600

log = logging.getLogger(__name__)

app = Celery("idempotent_example", broker=BROKER_URL)
app.conf.update(accept_content=["json"], task_ignore_result=True, broker_connection_retry_on_startup=True)


class RunOncePerId(Task):
    """Runs the task body only for the first delivery of each task id.

    The claim is taken before the body runs and given back if the body raises, so a
    Celery retry of a failed run still runs. A worker killed in the middle of the body
    keeps the claim: with `acks_late` the redelivered message is then skipped. Take the
    claim after the body instead (and make the body safe to run twice) if that matters
    more than a run twice.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        claim = f"ran:{self.name}:{self.request.id}"
        if not DEDUP_REDIS.set(claim, self.request.hostname or "worker", nx=True, ex=CLAIM_TTL_S):
            log.warning("skipped task %s id %s: this id already ran (a copy of the same run)", self.name, self.request.id)
            return None
        try:
            return super().__call__(*args, **kwargs)
        except BaseException:
            DEDUP_REDIS.delete(claim)
            raise


@app.task(base=RunOncePerId, name="reports.send")
def send_report(recipient: str) -> None:
    log.info("sent the report to %s (periodic task %s)", recipient, send_report.request.get("periodic_task_name"))
