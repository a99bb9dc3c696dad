"""End to end in a real browser: a crontab edited in django-celery-beat's own admin reaches a running `beatd run`
within 2 s, and DCB's list of periodic tasks shows beatd's last runs.

DCB's test project (tests/dcb_project, with BEATD_DCB_ADMIN=1) on SQLite, migrated by DCB's
migrations, its rows made by DCB's models, served by `runserver`; `beatd run` with
`stores: [{django_celery_beat: URL}]` on the same database, publishing to Redis; headless
Chromium logs into DCB's admin. Screenshots land in test-artifacts/django/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from dcb_project import TESTS_DIR, beatd_config, dcb
from processes import Processes, beatd_command, free_port, log_tail, wait_until

from django_tests.conftest import find, screenshot, wait_serving

pytestmark = [pytest.mark.slow, pytest.mark.services]

# The bound: an edit reaches the running daemon within this long.
TAKES_EFFECT_S = 2.0
ADMIN = {"username": "admin", "password": "dcb-admin-password"}
ADMIN_SETTINGS = {"BEATD_DCB_ADMIN": "1"}
CHANGED = r"entry stores changed: 0 added, 1 changed"


@pytest.fixture
def dcb_admin(sqlite_url: str, tmp_path: Path) -> Iterator[str]:
    """DCB's admin on a migrated SQLite database with a superuser, served by `runserver`: its base URL."""
    dcb(sqlite_url, "migrate", **ADMIN_SETTINGS)
    dcb(sqlite_url, "superuser", ADMIN, **ADMIN_SETTINGS)
    port = free_port()
    log = tmp_path / "runserver.log"
    environment = {**os.environ, "BEATD_DCB_DATABASE": sqlite_url, "DJANGO_SETTINGS_MODULE": "dcb_project.settings",
                   "PYTHONPATH": str(TESTS_DIR), "PYTHONUNBUFFERED": "1", **ADMIN_SETTINGS}
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "django", "runserver", "--noreload", f"127.0.0.1:{port}"],
                                  cwd=tmp_path, env=environment, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_serving(base, log)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_crontab_edited_in_dcbs_admin_reaches_beatd_within_2s_and_dcbs_list_shows_beatds_last_runs(
        browser: Any, dcb_admin: str, sqlite_url: str, redis_url: str, processes: Processes, tmp_path: Path) -> None:
    driver, base = browser, dcb_admin
    # Given a nightly crontab row and a 2 s interval row, made by DCB's models, and beatd running on them
    dcb(sqlite_url, "create", [
        {"name": "nightly-report", "task": "reports.send", "schedule": {"crontab": {"minute": "0", "hour": "3"}}},
        {"name": "every-2s", "task": "tests.record", "args": '["every-2s"]',
         "schedule": {"interval": {"every": 2, "period": "seconds"}}},
    ])
    beatd = processes.beatd(beatd_config(tmp_path, redis_url, sqlite_url), tmp_path / "beatd.log")
    beatd.wait_leading()
    wait_until(lambda: [run for run in beatd.published() if run.entry == "every-2s"], 10, "a run of every-2s",
               lambda: log_tail(beatd.log))

    # When an admin logs into DCB's admin and edits the crontab of the nightly row
    driver.get(f"{base}/admin/login/?next=/admin/django_celery_beat/periodictask/")
    find(driver, "#id_username").send_keys(ADMIN["username"])
    find(driver, "#id_password").send_keys(ADMIN["password"])
    find(driver, "input[type=submit]").click()
    find(driver, "#result_list")
    crontab_id = next(row["crontab_id"] for row in dcb(sqlite_url, "dump") if row["name"] == "nightly-report")
    driver.get(f"{base}/admin/django_celery_beat/crontabschedule/{crontab_id}/change/")
    for field, value in (("minute", "30"), ("hour", "4")):
        find(driver, f"#id_{field}").clear()
        find(driver, f"#id_{field}").send_keys(value)
    screenshot(driver, "dcb-admin-crontab-edit.png")
    assert beatd.count(CHANGED) == 0, log_tail(beatd.log)  # beatd's own write-backs are no change
    clicked = time.monotonic()  # the save's commit is later: the time measured is an upper bound
    find(driver, "input[name=_save]").click()
    find(driver, "ul.messagelist li.success")

    # Then beatd applies it within 2 s, and reads the row as the new crontab
    wait_until(lambda: beatd.count(CHANGED) == 1, TAKES_EFFECT_S + 2, "beatd applies the edit",
               lambda: log_tail(beatd.log))
    took = time.monotonic() - clicked
    print(f"DCB admin edit applied by beatd within {took:.2f} s of clicking save")
    assert took <= TAKES_EFFECT_S
    upcoming = json.loads(beatd_command("next", "--config", str(tmp_path / "beatd.yaml"), "--entry", "nightly-report",
                                        "--count", "1", "--json", cwd=tmp_path).stdout)
    assert upcoming["at"].endswith("T04:30:00+00:00"), upcoming

    # And DCB's list of periodic tasks shows beatd's last run of the interval row, to the second
    def shown() -> str | None:
        driver.get(f"{base}/admin/django_celery_beat/periodictask/")
        return _last_run_cell(driver, "every-2s")

    cell = wait_until(shown, 10, "a last run in DCB's list",
                      lambda: driver.page_source[-2000:])
    shot = screenshot(driver, "dcb-admin-periodic-tasks.png")
    beatds_runs = {run.scheduled_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
                   for run in beatd.published() if run.entry == "every-2s"}
    assert cell in beatds_runs, (cell, sorted(beatds_runs)[-5:])
    assert "30 4 * * *" in find(driver, "#result_list").text  # the edited crontab, as DCB shows it
    assert shot.stat().st_size > 10_000


def _last_run_cell(driver: Any, name: str) -> str | None:
    """The "last run at" of the row named name in DCB's list, or None while it shows none."""
    from selenium.webdriver.common.by import By

    for row in driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr"):
        if row.find_element(By.CSS_SELECTOR, ".field-name").text == name:
            text = str(row.find_element(By.CSS_SELECTOR, ".field-last_run_at").text).strip()
            return None if text in ("", "-") else text
    return None
