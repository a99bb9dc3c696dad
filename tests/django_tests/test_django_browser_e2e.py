"""End to end in a real browser: an entry made in the admin runs on a Celery worker through `manage.py beatd run`,
and stops within 3 s of being disabled in the admin.

Everything runs as it would for a user of examples/django_project (SQLite, Redis): `manage.py
migrate` and `createsuperuser`, `manage.py runserver`, `manage.py beatd run`, a Celery worker
(tests/worker_app.py, which records each run with beatd's headers), and headless Chromium
driven by Selenium. Screenshots of the form (with its preview) and of the list are kept in
test-artifacts/django/ at the top of the checkout (git-ignored), or $BEATD_ARTIFACTS/django/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from processes import Processes, free_port, log_tail, wait_until

from django_tests.conftest import find as find_element
from django_tests.conftest import screenshot, wait_serving
from django_tests.example_project import ADMIN_PASSWORD, ExampleProject

pytestmark = [pytest.mark.slow, pytest.mark.services]

ENTRY = "every-2s"
STOPS_WITHIN_S = 3.0


@pytest.fixture
def server(tmp_path: Path, redis_url: str) -> Iterator[tuple[str, ExampleProject]]:
    """The example project, migrated in tmp_path, served by `manage.py runserver`: (base URL, project)."""
    project = ExampleProject(tmp_path, broker=redis_url)
    project.migrate()
    port = free_port()
    log = tmp_path / "runserver.log"
    process = project.start("runserver", "--noreload", f"127.0.0.1:{port}", log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_serving(base, log)
        yield base, project
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_an_entry_made_in_the_admin_runs_on_a_worker_and_stops_within_3s_of_being_disabled(
        browser: Any, server: tuple[str, ExampleProject], processes: Processes, redis_url: str,
        tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver: Any = browser
    base, project = server

    def find(css: str) -> Any:
        return find_element(driver, css)

    # Given beatd (the django store) and a Celery worker on Redis
    beatd = project.beatd()
    processes.beatds.append(beatd)
    beatd.wait_leading()
    worker = processes.worker(redis_url, ["celery"], tmp_path / "worker", "worker")

    # When an admin logs in and adds an entry that runs every 2 seconds
    driver.get(f"{base}/admin/login/?next=/admin/beatd/entry/add/")
    find("#id_username").send_keys("admin")
    find("#id_password").send_keys(ADMIN_PASSWORD)
    find("input[type=submit]").click()
    find("#id_name").send_keys(ENTRY)
    find("#id_task").send_keys("tests.record")
    # (a bad schedule first: the preview says what `beatd check` would say)
    find("#id_cron").send_keys("61 * * * *")
    wait_until(lambda: "cron minute field '61' is out of range 0-59" in find("#beatd-preview-schedule").text, 10,
               "the preview's message for a bad cron", lambda: find("#beatd-preview").text)
    find("#id_cron").clear()
    find("#id_every").send_keys("2")
    find("#id_args").send_keys('["from the admin"]')
    # Then the form previews the next 5 runs, 2 s apart
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#beatd-preview-runs li")) == 5, 10,
               "preview of 5 runs", lambda: find("#beatd-preview").text)
    assert find("#beatd-preview-schedule").text.startswith("Every 2 seconds")
    screenshot(driver, "django-admin-entry-form.png")
    find("input[name=_save]").click()
    find("#result_list")  # saved: back on the list

    # Then the worker runs it, with the admin's arguments
    runs = worker.wait_for(lambda events: [event for event in events if event["event"] == "ran"
                                           and event["beatd_entry"] == ENTRY][:2], "two runs of the entry")
    assert all(run["args"] == ["from the admin"] for run in runs)

    # And the list shows its schedule in words, its last run and its run count
    driver.refresh()
    row = find("#result_list tbody tr")
    assert "Every 2 seconds" in row.text and "tests.record" in row.text
    screenshot(driver, "django-admin-entry-list.png")

    # When the admin disables it with the list's action
    first_seen: dict[str, float] = {}  # task id -> when this test first saw the run executed

    def watch() -> float:
        for event in worker.ran(ENTRY):
            first_seen.setdefault(event["id"], time.time())
        return time.time()

    watch()
    find("#result_list tbody tr input[name=_selected_action]").click()
    Select(find("select[name=action]")).select_by_value("disable")
    find("button[name=index]").click()
    find("ul.messagelist li.success")
    disabled_at = watch()

    # Then no run executes later than 3 s after that (watched for three more intervals)
    wait_until(lambda: watch() > disabled_at + STOPS_WITHIN_S + 6, STOPS_WITHIN_S + 10, "the watch window", str)
    last_executed_s = max(first_seen.values()) - disabled_at
    last_scheduled = max(datetime.fromisoformat(event["beatd_scheduled_at"]).timestamp()
                         for event in worker.ran(ENTRY))
    print(f"last execution seen {last_executed_s:+.2f} s after disabling; last run scheduled "
          f"{last_scheduled - disabled_at:+.2f} s after it")
    assert last_executed_s <= STOPS_WITHIN_S, f"a run executed {last_executed_s:.2f} s after disabling\n" \
                                              f"{log_tail(beatd.log)}"
    assert beatd.count(rf"published entry {ENTRY} ") == len(worker.ran(ENTRY))
