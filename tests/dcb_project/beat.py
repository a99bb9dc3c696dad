"""DCB's own scheduler as a subprocess: `celery beat -S django_celery_beat.schedulers:DatabaseScheduler` on a test database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from processes import log_tail

from dcb_project import TESTS_DIR


@contextmanager
def dcb_celery_beat(url: str, broker_url: str, directory: Path) -> Iterator[Path]:
    """celery beat with DCB's DatabaseScheduler on the database at url, sending to broker_url; yields its log.

    On leaving, it must still be running (else the log's tail is the failure), and is then ended.
    """
    environment = {**os.environ, "BEATD_DCB_DATABASE": url, "BEATD_TEST_BROKER": broker_url,
                   "DJANGO_SETTINGS_MODULE": "dcb_project.settings", "PYTHONPATH": str(TESTS_DIR)}
    log = directory / "celery-beat.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "dcb_project.celery_app", "beat", "--loglevel", "info",
             "-S", "django_celery_beat.schedulers:DatabaseScheduler"],
            cwd=directory, env=environment, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield log
        assert process.poll() is None, log_tail(log)
    finally:
        process.terminate()
        process.wait(timeout=20)
