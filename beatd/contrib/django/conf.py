"""settings.BEATD as the beatd config file that `manage.py beatd run` and the admin use.

Either BEATD = {"config": "/path/to/beatd.yaml"}: that file, which should list
`stores: [{django: <settings module>}]`; or BEATD = {"broker": ..., "state": ..., ...}
with any top-level keys of a config file except `entries`: a config file is written from
them (timezone defaulting to TIME_ZONE, the django store added), so both the daemon and
the admin read the same settings, checked by the same loader with the same messages.
With django_celery_beat installed too, its tables are a store as well (`django_celery_beat:`
with the URL of its database, taken from DATABASES; the password reaches the daemon
through an environment variable, never the written file).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from django.apps import apps
from django.conf import settings

from beatd.config import Config, load_config
from beatd.errors import ConfigError

SETTING = "BEATD"
DCB_APP = "django_celery_beat"
# The environment variable the written config reads DCB's database URL from (it may hold a password).
DCB_URL_VARIABLE = "BEATD_DJANGO_CELERY_BEAT_URL"
_DIALECTS = {"django.db.backends.sqlite3": "sqlite", "django.db.backends.postgresql": "postgresql+psycopg2",
             "django.db.backends.mysql": "mysql+pymysql"}


def settings_module() -> str:
    """The dotted name of the Django settings in use, which the daemon imports.

    Raises:
        ConfigError: settings were made with settings.configure(), which a daemon cannot import.
    """
    module = apps.get_app_config("beatd").settings_module
    if not module:
        raise ConfigError("Django's settings were not imported from a module (DJANGO_SETTINGS_MODULE); "
                          "beatd's daemon needs one to import")
    return str(module)


def config_path() -> Path:
    """The beatd config file of this project: BEATD["config"], or one written from the other BEATD keys.

    Raises:
        ConfigError: BEATD is not a dict, or mixes "config" with other keys.
    """
    beatd_settings: Any = getattr(settings, SETTING, {})
    if not isinstance(beatd_settings, dict):
        raise ConfigError(f"settings.{SETTING} must be a dict, not {type(beatd_settings).__name__}")
    if "config" in beatd_settings:
        others = sorted(set(beatd_settings) - {"config"})
        if others:
            raise ConfigError(f"settings.{SETTING}: give either 'config' (a beatd config file) or config keys "
                              f"({', '.join(others)}), not both")
        return Path(beatd_settings["config"])
    stores: list[dict[str, str]] = [{"django": settings_module()}]
    if apps.is_installed(DCB_APP):
        stores.append({"django_celery_beat": f"${{{DCB_URL_VARIABLE}}}"})
        os.environ[DCB_URL_VARIABLE] = dcb_database_url()
    document = {"timezone": settings.TIME_ZONE, **beatd_settings, "stores": stores}
    header = f"# Written by beatd.contrib.django from settings.{SETTING} of {settings_module()}; edit those instead.\n"
    return _written(header + yaml.safe_dump(document, sort_keys=False))


def dcb_database_url() -> str:
    """The SQLAlchemy URL of the database django_celery_beat's models use, with `?time_zone=` when USE_TZ is off.

    Raises:
        ConfigError: a database engine beatd has no driver for.
    """
    from django.db import router
    from django_celery_beat.models import PeriodicTask
    from sqlalchemy.engine import URL

    database = settings.DATABASES[router.db_for_read(PeriodicTask)]
    dialect = _DIALECTS.get(database["ENGINE"])
    if dialect is None:
        raise ConfigError(f"django_celery_beat's database engine {database['ENGINE']!r} is not one beatd reads; "
                          f"use one of {', '.join(_DIALECTS)}")
    query = {} if settings.USE_TZ else {"time_zone": settings.TIME_ZONE}
    if dialect == "sqlite":
        url = URL.create("sqlite", database=str(database["NAME"]), query=query)
    else:
        url = URL.create(dialect, username=database.get("USER") or None, password=database.get("PASSWORD") or None,
                         host=database.get("HOST") or None, port=int(database["PORT"]) if database.get("PORT") else None,
                         database=database["NAME"], query=query)
    return url.render_as_string(hide_password=False)


@functools.cache
def _written(text: str) -> Path:
    """A file holding text, in a directory of this process's own, removed at exit."""
    directory = _private_directory()
    path = directory / f"beatd-{len(os.listdir(directory))}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@functools.cache
def _private_directory() -> Path:
    directory = tempfile.mkdtemp(prefix="beatd-django-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return Path(directory)


def load() -> Config:
    """The project's beatd Config (broker, state, default zone, leader...).

    Raises:
        ConfigError: as `beatd check` words it, naming the file (the written one: `settings.BEATD`).
    """
    return load_config(config_path())
