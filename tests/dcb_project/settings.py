"""Settings: the database is the SQLAlchemy URL in BEATD_DCB_DATABASE (sqlite, postgresql, mysql), as beatd is given it.

BEATD_DCB_USE_TZ=0 and BEATD_DCB_TIME_ZONE set Django's USE_TZ and TIME_ZONE; BEATD_DCB_WITH_BEATD=1
installs beatd.contrib.django too; BEATD_DCB_ADMIN=1 serves DCB's admin at /admin/ (for `runserver`),
with date-times shown to the second.
"""

from __future__ import annotations

import os

from sqlalchemy.engine import make_url

SECRET_KEY = "beatd-tests-only"
USE_TZ = os.environ.get("BEATD_DCB_USE_TZ", "1") == "1"
TIME_ZONE = os.environ.get("BEATD_DCB_TIME_ZONE", "UTC")
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django_celery_beat"]
if os.environ.get("BEATD_DCB_WITH_BEATD") == "1":
    # beatd's own Django app beside DCB: its config then lists DCB's tables as a store too.
    INSTALLED_APPS.append("beatd.contrib.django")
    BEATD = {"broker": "memory://", "state": "sqlite://"}
if os.environ.get("BEATD_DCB_ADMIN") == "1":
    DEBUG = True  # runserver serves the admin's static files only with DEBUG
    ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    INSTALLED_APPS += ["django.contrib.admin", "django.contrib.sessions", "django.contrib.messages",
                       "django.contrib.staticfiles"]
    MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware", "django.middleware.common.CommonMiddleware",
                  "django.middleware.csrf.CsrfViewMiddleware",
                  "django.contrib.auth.middleware.AuthenticationMiddleware",
                  "django.contrib.messages.middleware.MessageMiddleware"]
    TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
                  "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                                     "django.contrib.auth.context_processors.auth",
                                                     "django.contrib.messages.context_processors.messages"]}}]
    ROOT_URLCONF = "dcb_project.urls"
    STATIC_URL = "/static/"
    # DCB's list shows last_run_at; to the second, so a test can match it to beatd's run (en's format has minutes).
    FORMAT_MODULE_PATH = "dcb_project.formats"
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_URL = os.environ.get("BEATD_TEST_BROKER", "memory://")
DJANGO_CELERY_BEAT_TZ_AWARE = True

_url = make_url(os.environ["BEATD_DCB_DATABASE"])
if _url.get_backend_name() == "sqlite":
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _url.database}}
elif _url.get_backend_name() == "postgresql":
    DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": _url.database, "USER": _url.username,
                             "HOST": _url.host, "PORT": _url.port}}
else:
    # Django's MySQL backend is written for mysqlclient; PyMySQL stands in for it.
    import pymysql

    pymysql.version_info = (2, 2, 7, "final", 0)
    pymysql.install_as_MySQLdb()
    DATABASES = {"default": {"ENGINE": "django.db.backends.mysql", "NAME": _url.database, "USER": _url.username,
                             "HOST": _url.host, "PORT": _url.port, "OPTIONS": {"charset": "utf8mb4"}}}
