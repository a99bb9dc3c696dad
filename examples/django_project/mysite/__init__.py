"""The example project: beatd's admin on SQLite, a Celery app whose worker runs what beatd sends."""
