"""The project's Celery app, for `celery -A dcb_project.celery_app beat -S django_celery_beat.schedulers:DatabaseScheduler`."""

from __future__ import annotations

import os

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dcb_project.settings")
django.setup()

app = Celery("dcb_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(accept_content=["json"], broker_connection_retry_on_startup=True, beat_max_loop_interval=1)
