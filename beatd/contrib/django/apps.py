"""The Django AppConfig of beatd.contrib.django (app label `beatd`)."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class BeatdConfig(AppConfig):
    """Entries in the tables the SQL store uses, so `beatd run` with either store reads the same rows."""

    name = "beatd.contrib.django"
    label = "beatd"
    verbose_name = "beatd schedules"
    default_auto_field = "django.db.models.AutoField"
    # The dotted name the settings were imported from (None for settings.configure()):
    # the daemon imports them by it. Read once here, as override_settings hides it later.
    settings_module: str | None = None

    def ready(self) -> None:
        self.settings_module = getattr(settings, "SETTINGS_MODULE", None)
