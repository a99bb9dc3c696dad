"""Django tests: pytest-django with beatd_test_settings (next to this file), set up here, not in the environment.

Django is set up at collection, so the test modules can import the models.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import django
import pytest

DJANGO_TESTS_DIR = Path(__file__).resolve().parent
# Importable with tests/ on the path, as in pytest and in the subprocesses these tests start.
SETTINGS = "django_tests.beatd_test_settings"
_TZ = os.environ.get("TZ")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
django.setup()
# Django has read it; left in the environment, it would reach every subprocess of every
# test, and a Celery worker seeing it would try to set Django up. Django also sets the
# process's TZ from TIME_ZONE; the other tests keep the host's.
os.environ.pop("DJANGO_SETTINGS_MODULE")
if _TZ is None:
    os.environ.pop("TZ", None)
else:
    os.environ["TZ"] = _TZ
time.tzset()


@pytest.fixture
def entries_db(transactional_db: None) -> Iterator[None]:
    """A database whose beatd_entries is empty before and after the test.

    The models are unmanaged, so Django's flush between transactional tests leaves them alone.
    """
    from beatd.contrib.django.models import Entry

    Entry.objects.all().delete()
    yield
    Entry.objects.all().delete()
