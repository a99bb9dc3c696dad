"""Django tests: pytest-django with beatd_test_settings (next to this file), set up here, not in the environment.

Django is set up at collection, so the test modules can import the models.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest
from processes import log_tail, wait_until

DJANGO_TESTS_DIR = Path(__file__).resolve().parent
# Screenshots of the browser tests: test-artifacts/django/ at the top of the checkout (git-ignored).
ARTIFACTS = Path(os.environ.get("BEATD_ARTIFACTS", DJANGO_TESTS_DIR.parent.parent / "test-artifacts")) / "django"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Without these Chromium waits on the network it may not reach, and as root it needs --no-sandbox.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1500,1100"]
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


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium under Selenium, with a profile of its own."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        message = f"{CHROMIUM} or {CHROMEDRIVER} is missing; install them with: apt-get install -y chromium chromium-driver"
        if os.environ.get("BEATD_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers online
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, name: str) -> Path:
    """The whole page into ARTIFACTS/name: the window is made as tall as the document first."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(1500, 900)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1500, max(900, height))
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def find(driver: Any, css: str) -> Any:
    """The first element matching css, waited for (15 s)."""
    from selenium.webdriver.common.by import By

    # The title first: on Django's error page it names the exception, which the page's tail does not.
    return wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, css), 15, f"page element {css}",
                      lambda: f"{driver.title}\n{driver.page_source[-3000:]}")[0]


def wait_serving(base: str, log: Path) -> None:
    """Until the Django server at base answers its admin login page (30 s)."""

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/admin/login/", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    wait_until(answers, 30, "runserver answers", lambda: log_tail(log))
