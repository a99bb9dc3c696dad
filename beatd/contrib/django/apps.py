"""The Django AppConfig of beatd.contrib.django (app label `beatd`)."""

from __future__ import annotations

from django.apps import AppConfig


class BeatdConfig(AppConfig):
    """Entries in the tables the SQL store uses, so `beatd run` with either store reads the same rows."""

    name = "beatd.contrib.django"
    label = "beatd"
    verbose_name = "beatd schedules"
    default_auto_field = "django.db.models.AutoField"
