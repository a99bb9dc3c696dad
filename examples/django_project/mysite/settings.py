"""Settings of the example project: SQLite, the admin, beatd's app, and BEATD for the daemon and the admin.

Environment variables (all optional) let the tests run it in a directory of their own:
DJANGO_DB (the SQLite file), BEATD_BROKER (the broker beatd publishes to and the worker
consumes), BEATD_STATE (where beatd keeps last runs).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-change-me")
DEBUG = True  # an example for a laptop; runserver then serves the admin's static files
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "beatd.contrib.django",
    "demo",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "mysite.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
WSGI_APPLICATION = "mysite.wsgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.environ.get("DJANGO_DB", BASE_DIR / "db.sqlite3")}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "Europe/Berlin"  # beatd's zone for entries without one, unless BEATD sets "timezone"
USE_TZ = True
STATIC_URL = "static/"

# beatd: the daemon (`python manage.py beatd run`) and the admin ("run now", last runs) read these.
BEATD = {
    "broker": os.environ.get("BEATD_BROKER", "redis://localhost:6379/0"),
    "state": os.environ.get("BEATD_STATE", f"sqlite:///{BASE_DIR / 'beatd-state.sqlite3'}"),
}
# The Celery worker of this project uses the same broker.
CELERY_BROKER_URL = BEATD["broker"]
