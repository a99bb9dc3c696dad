"""Django settings for beatd's Django tests: the admin, the beatd app, and a database chosen by environment.

BEATD_TEST_DJANGO_DB picks the database: sqlite (default; pytest-django makes an in-memory
test database), postgres (a server on 127.0.0.1:5432, user postgres, trust) or mysql (MariaDB
on 127.0.0.1:3306, user root, no password).
"""

from __future__ import annotations

import os

SECRET_KEY = "beatd-tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "django_tests.beatd_test_urls"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "beatd.contrib.django",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
STATIC_URL = "/static/"
DATABASES = {
    "sqlite": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("BEATD_TEST_SQLITE", ":memory:")}},
    "postgres": {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "beatd_django", "USER": "postgres",
                             "HOST": "127.0.0.1", "PORT": 5432}},
    "mysql": {"default": {"ENGINE": "django.db.backends.mysql", "NAME": "beatd_django", "USER": "root",
                          "HOST": "127.0.0.1", "PORT": 3306, "OPTIONS": {"charset": "utf8mb4"}}},
}[os.environ.get("BEATD_TEST_DJANGO_DB", "sqlite")]

if os.environ.get("BEATD_TEST_DJANGO_DB") == "mysql":
    # Django's MySQL backend is written for mysqlclient, which needs a C build; PyMySQL
    # (the test extra's driver) stands in for it, claiming the version Django asks for.
    import pymysql

    pymysql.version_info = (2, 2, 7, "final", 0)
    pymysql.install_as_MySQLdb()
# The admin's last runs and "run now" go here; tests override BEATD where they need more.
BEATD = {"broker": "memory://", "state": "sqlite://", "timezone": "Europe/Berlin"}
