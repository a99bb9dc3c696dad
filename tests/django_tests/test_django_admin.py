"""The admin of beatd entries: list columns, filters and search, the form's YAML validation, the preview, actions."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from django.test import Client

from beatd.config import load_config
from beatd.contrib.django.models import Entry
from beatd.errors import ConfigError
from beatd.state import RunRecord, open_state_store

LIST_URL = "/admin/beatd/entry/"
ADD_URL = "/admin/beatd/entry/add/"
PREVIEW_URL = "/admin/beatd/entry/preview/"

# Every field of the form, empty, as a browser posts it.
EMPTY_FORM = {key: "" for key in ("name", "task", "description", "every", "cron", "day_match", "solar", "lat", "lon", "elevation",
                                  "at", "timezone", "start_at", "end_at", "catchup", "jitter", "args", "kwargs",
                                  "options")}


def add(name: str, **mapping: Any) -> Entry:
    entry = Entry(name=name)
    entry.set_mapping(dict(mapping))
    entry.save()
    return entry


def form(**values: str) -> dict[str, str]:
    return {**EMPTY_FORM, "enabled": "on", **values}


def yaml_message(tmp_path: Path, name: str, mapping: dict[str, Any]) -> str:
    """What `beatd check` says of this entry in a file, without the `file:line: entry 'name': ` prefix."""
    path = tmp_path / "check.yaml"
    path.write_text(yaml.safe_dump({"entries": {name: mapping}}))
    with pytest.raises(ConfigError) as problem:
        load_config(path)
    return str(problem.value).split(f": entry {name!r}: ", 1)[1]


def text_of(html: bytes) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode())).replace("&#x27;", "'").replace("&quot;", '"')


@pytest.fixture
def client(entries_db: None, admin_client: Client, settings: Any, tmp_path: Path) -> Client:
    """A logged-in superuser; beatd's state in a SQLite file of the test's own, broker in memory."""
    settings.BEATD = {"broker": "memory://", "state": f"sqlite:///{tmp_path / 'state.sqlite3'}",
                      "timezone": "Europe/Berlin"}
    return admin_client


# ---------------------------------------------------------------------------------------
# the list


def test_the_list_shows_schedule_in_words_next_and_last_run_and_run_count(client: Client, tmp_path: Path) -> None:
    add("weekday-report", task="reports.send", cron="30 7 * * 1-5")
    add("ping", task="ping", every=30, enabled=False)
    last = datetime(2026, 11, 20, 6, 30, tzinfo=UTC)
    state = open_state_store(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    state.record([RunRecord(entry="weekday-report", scheduled_at=last, sent_at=last, run_count=12)], token=0)
    state.close()

    page = text_of(client.get(LIST_URL).content)

    assert "weekday-report reports.send cron At 07:30, Monday through Friday (Europe/Berlin)" in page
    assert "2026-11-20 07:30:00 CET (+01:00) 12" in page  # last run in the entry's zone, then the count
    next_run = re.search(r"(\d{4}-\d\d-\d\d) 07:30:00 CET \(\+01:00\) 2026-11-20", page)
    assert next_run, page
    assert datetime.fromisoformat(next_run[1]).weekday() < 5
    assert "ping ping interval Every 30 seconds" in page
    assert re.search(r"Every 30 seconds\s+\S*\s*- - 0", page)  # disabled: no next run, never ran


def test_the_list_filters_by_kind_enabled_and_task_and_searches_name_and_task(client: Client) -> None:
    add("report", task="reports.send", cron="@daily")
    add("ping", task="net.ping", every=30, enabled=False)
    add("sunrise", task="home.morning", solar="sunrise", lat=52.5, lon=13.4)

    def names(query: str) -> list[str]:
        return re.findall(r'class="field-name"><a [^>]*>([^<]+)</a>', client.get(LIST_URL + query).content.decode())

    assert names("") == ["ping", "report", "sunrise"]
    assert names("?kind__exact=cron") == ["report"]
    assert names("?enabled__exact=0") == ["ping"]
    assert names("?task=home.morning") == ["sunrise"]
    assert names("?q=net.") == ["ping"]
    assert names("?q=sun") == ["sunrise"]


def test_an_invalid_row_written_elsewhere_is_marked_in_the_list(client: Client) -> None:
    add("broken", task="t", every=10)
    Entry.objects.filter(name="broken").update(timezone="Mars/Olympus")
    page = text_of(client.get(LIST_URL).content)
    assert "invalid: " in page and "Mars/Olympus" in page


def test_a_state_store_that_cannot_be_read_is_said_on_the_page(client: Client, settings: Any) -> None:
    settings.BEATD = {**settings.BEATD, "state": "sqlite:////nonexistent/dir/state.sqlite3"}
    add("ping", task="ping", every=30)
    page = text_of(client.get(LIST_URL).content)
    assert "Last runs are not shown: state store sqlite:////nonexistent/dir/state.sqlite3: directory" in page
    assert "ping ping interval Every 30 seconds" in page


# ---------------------------------------------------------------------------------------
# the form


def test_adding_an_entry_stores_its_yaml_keys_as_columns(client: Client) -> None:
    response = client.post(ADD_URL, form(name="report", task="reports.send", cron="30 7 * * 1-5",
                                         timezone="America/New_York", kwargs='{"format": "pdf"}', jitter="1m"))
    assert response.status_code == 302, text_of(response.content)
    row = Entry.objects.get(name="report")
    assert (row.kind, row.cron, row.timezone, row.kwargs, row.jitter_s, row.args) == (
        "cron", "30 7 * * 1-5", "America/New_York", {"format": "pdf"}, 60.0, None)
    assert row.mapping() == {"task": "reports.send", "cron": "30 7 * * 1-5", "kwargs": {"format": "pdf"},
                             "timezone": "America/New_York", "jitter": 60.0}


def test_day_match_sits_beside_cron_and_is_stored(client: Client) -> None:
    page = client.get(ADD_URL).content.decode()
    assert re.search(r'class="form-row[^"]*field-cron field-day_match', page)
    assert '<option value="both">both: day of month and day of week (Celery)</option>' in page
    response = client.post(ADD_URL, form(name="unlucky", task="t", cron="0 9 13 * 5", day_match="both"))
    assert response.status_code == 302, text_of(response.content)
    row = Entry.objects.get(name="unlucky")
    assert row.mapping() == {"task": "t", "cron": "0 9 13 * 5", "day_match": "both"}
    change_page = client.get(f"{LIST_URL}{row.pk}/change/").content.decode()
    assert '<option value="both" selected>' in change_page
    refused = client.post(ADD_URL, form(name="tick", task="t", every="30", day_match="both"))
    assert refused.context["adminform"].form.errors == {"day_match": ["'day_match' applies only to cron entries"]}


def test_editing_shows_durations_as_yaml_writes_them(client: Client) -> None:
    row = add("ping", task="ping", every="1h30m")
    page = client.get(f"{LIST_URL}{row.pk}/change/").content.decode()
    assert 'name="every" value="1h30m"' in page


@pytest.mark.parametrize(("values", "field", "mapping"), [
    ({"cron": "61 * * * *"}, "cron", {"cron": "61 * * * *"}),
    ({"every": "30x"}, "every", {"every": "30x"}),
    ({"every": "30", "timezone": "Mars/Olympus"}, "timezone", {"every": "30", "timezone": "Mars/Olympus"}),
    ({"every": "30", "args": '{"a": 1}'}, "args", {"every": "30", "args": {"a": 1}}),
    ({"every": "30", "options": '{"priority": "high"}'}, "options", {"every": "30", "options": {"priority": "high"}}),
    ({"every": "30", "cron": "@daily"}, None, {"every": "30", "cron": "@daily"}),
    ({}, None, {}),
    # What would fail when a run is published (issue 11); Django's JSON field reads NaN as Python's json does.
    ({"every": "30", "options": '{"headers": {"task": "x"}}'}, "options",
     {"every": "30", "options": {"headers": {"task": "x"}}}),
    ({"every": "30", "args": "[1, NaN]"}, "args", {"every": "30", "args": [1, float("nan")]}),
    ({"every": "30", "kwargs": '{"floor": -Infinity}'}, "kwargs", {"every": "30", "kwargs": {"floor": float("-inf")}}),
], ids=["cron-minute", "duration", "zone", "args-not-list", "priority-not-int", "two-schedules", "no-schedule",
        "reserved-header", "args-nan", "kwargs-minus-infinity"])
def test_a_bad_value_is_refused_with_the_message_beatd_check_gives(
        client: Client, tmp_path: Path, values: dict[str, str], field: str | None, mapping: dict[str, Any]) -> None:
    expected = yaml_message(tmp_path, "bad", {"task": "t", **mapping})
    response = client.post(ADD_URL, form(name="bad", task="t", **values))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors[field or "__all__"] == [expected]
    assert not Entry.objects.filter(name="bad").exists()


def test_json_that_does_not_parse_is_refused_with_where_it_breaks(client: Client) -> None:
    response = client.post(ADD_URL, form(name="bad", task="t", every="30", args="[1, 2"))
    assert response.context["adminform"].form.errors["args"] == [
        "not valid JSON: Expecting ',' delimiter: line 1 column 6 (char 5)"]


# ---------------------------------------------------------------------------------------
# the preview


def test_the_preview_lists_the_next_five_runs_in_the_entrys_zone(client: Client) -> None:
    answer = client.post(PREVIEW_URL, form(cron="30 7 * * 1-5", timezone="America/New_York")).json()
    assert answer["ok"], answer
    assert answer["schedule"] == "At 07:30, Monday through Friday (America/New_York)"
    assert answer["zone"] == "America/New_York"
    assert len(answer["runs"]) == 5
    days = [datetime.strptime(run[:10], "%Y-%m-%d") for run in answer["runs"]]
    assert all(run[11:19] == "07:30:00" and re.search(r" E[SD]T \(-0[45]:00\)$", run) for run in answer["runs"])
    assert all(day.weekday() < 5 for day in days) and days == sorted(days) and len(set(days)) == 5


def test_the_preview_uses_beatds_zone_for_entries_without_one(client: Client) -> None:
    answer = client.post(PREVIEW_URL, form(every="90")).json()
    assert answer["zone"] == "Europe/Berlin"
    times = [datetime.strptime(run[:19], "%Y-%m-%d %H:%M:%S") for run in answer["runs"]]
    assert {later - earlier for earlier, later in zip(times, times[1:])} == {timedelta(seconds=90)}


def test_the_preview_says_what_is_wrong(client: Client, tmp_path: Path) -> None:
    answer = client.post(PREVIEW_URL, form(cron="61 * * * *")).json()
    assert answer == {"ok": False, "errors": [f"Cron: {yaml_message(tmp_path, 'x', {'task': 't', 'cron': '61 * * * *'})}"]}


def test_the_preview_needs_a_login_and_a_post(entries_db: None, client: Client) -> None:
    assert client.get(PREVIEW_URL).status_code == 405
    assert Client().post(PREVIEW_URL, form(every="30")).status_code == 302  # to the login page


def test_the_change_form_carries_the_preview_box_and_script(client: Client) -> None:
    row = add("ping", task="ping", every=30)
    page = client.get(f"{LIST_URL}{row.pk}/change/").content.decode()
    assert f'data-url="{PREVIEW_URL}?object_id={row.pk}"' in page
    assert "beatd/preview.js" in page


def offered_tasks(page: str) -> list[str] | None:
    """The task names the task field offers (its datalist), or None if it offers none."""
    box = re.search(r'<input[^>]*name="task"[^>]*>', page)
    assert box, page
    listed = re.search(r'list="([^"]+)"', box[0])
    if listed is None:
        return None
    datalist = re.search(rf'<datalist id="{listed[1]}">(.*?)</datalist>', page, re.S)
    assert datalist, page
    return re.findall(r'<option value="([^"]+)">', datalist[1])


def test_the_task_field_offers_the_tasks_of_the_celery_app_in_settings(client: Client, settings: Any) -> None:
    settings.BEATD = {**settings.BEATD, "app": "django_tests.celery_tasks_app"}
    page = client.get(ADD_URL).content.decode()
    assert offered_tasks(page) == ["billing.invoice", "reports.send"]  # sorted, Celery's own celery.* left out
    assert "2 tasks registered by the Celery app django_tests.celery_tasks_app are offered" in text_of(page.encode())
    # Offered, not imposed: a task registered only by the workers' app may be typed.
    response = client.post(ADD_URL, form(name="elsewhere", task="workers.only", every="30"))
    assert response.status_code == 302, text_of(response.content)
    assert Entry.objects.get(name="elsewhere").task == "workers.only"
    # BEATD["app"] is the config's `app:` key, so the daemon and the list read the same app.
    page = text_of(client.get(LIST_URL).content)
    assert "elsewhere workers.only interval Every 30 seconds" in page and "Beatd settings" not in page


@pytest.fixture
def project_app() -> Iterator[Any]:
    """A Celery app made as a Django project's proj/celery.py makes it (the current app), forgotten afterwards."""
    from celery import Celery, _state

    app = Celery("shop")

    @app.task(name="shop.restock", shared=False)
    def restock() -> None:
        """A task of the project."""

    yield app
    _state._deregister_app(app)
    _state._set_current_app(None)


def test_without_a_setting_the_task_field_offers_the_projects_celery_app(client: Client, project_app: Any) -> None:
    page = client.get(ADD_URL).content.decode()
    assert offered_tasks(page) == ["shop.restock"]
    assert "1 tasks registered by the Celery app shop" in text_of(page.encode())


def test_without_a_celery_app_the_task_field_is_free_text(client: Client) -> None:
    page = client.get(ADD_URL).content.decode()
    assert offered_tasks(page) is None
    assert "no Celery app configured: settings.BEATD['app']" in text_of(page.encode())


def test_an_app_in_settings_that_does_not_load_is_said_under_the_field(client: Client, settings: Any) -> None:
    settings.BEATD = {**settings.BEATD, "app": "django_tests.no_such_module"}
    page = client.get(ADD_URL).content.decode()
    assert offered_tasks(page) is None
    assert ("Celery app django_tests.no_such_module (settings.BEATD['app']) did not load: "
            in text_of(page.encode()))


# ---------------------------------------------------------------------------------------
# actions


def action(client: Client, name: str, *rows: Entry) -> Any:
    return client.post(LIST_URL, {"action": name, "_selected_action": [str(row.pk) for row in rows]}, follow=True)


def test_disable_and_enable_act_on_the_selected_entries(client: Client) -> None:
    one, two = add("one", task="t", every=1), add("two", task="t", every=1)
    add("three", task="t", every=1)
    response = action(client, "disable", one, two)
    assert "2 entries disabled; a running beatd applies this within 2 s" in text_of(response.content)
    assert dict(Entry.objects.values_list("name", "enabled")) == {"one": False, "two": False, "three": True}
    action(client, "enable", two)
    assert dict(Entry.objects.values_list("name", "enabled")) == {"one": False, "two": True, "three": True}


def test_toggle_flips_each_selected_entry(client: Client) -> None:
    one, two = add("one", task="t", every=1), add("two", task="t", every=1, enabled=False)
    add("three", task="t", every=1)
    page = text_of(action(client, "toggle", one, two).content)
    assert "2 entries toggled: enabled two; disabled one; a running beatd applies this within 2 s" in page
    assert dict(Entry.objects.values_list("name", "enabled")) == {"one": False, "two": True, "three": True}
    action(client, "toggle", one, two)
    assert dict(Entry.objects.values_list("name", "enabled")) == {"one": True, "two": False, "three": True}


def test_run_now_publishes_one_celery_message_per_entry_to_the_configured_redis_broker(
        client: Client, settings: Any, redis_url: str) -> None:
    settings.BEATD = {**settings.BEATD, "broker": redis_url}
    row = add("report", task="reports.send", cron="@yearly", args=[1, 2], kwargs={"format": "pdf"},
              options={"queue": "beatd-admin-run-now"})
    page = text_of(action(client, "run_now", row).content)
    assert "Published 1 run now: report (reports.send) task id " in page
    # What a Celery worker would pop from the queue's Redis list: kombu's JSON envelope of the task message.
    queued = redis.Redis.from_url(redis_url).lrange("beatd-admin-run-now", 0, -1)
    assert len(queued) == 1
    envelope = json.loads(queued[0])
    assert envelope["headers"]["task"] == "reports.send"
    assert envelope["headers"]["beatd_entry"] == "report"
    assert envelope["headers"]["id"] in page
    assert envelope["properties"]["delivery_info"]["routing_key"] == "beatd-admin-run-now"
    args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
    assert (args, kwargs) == ([1, 2], {"format": "pdf"})


def test_run_now_with_an_unreachable_broker_says_so_and_publishes_nothing(client: Client, settings: Any) -> None:
    settings.BEATD = {**settings.BEATD, "broker": "redis://127.0.0.1:1/0"}
    row = add("report", task="reports.send", every=60)
    page = text_of(action(client, "run_now", row).content)
    assert "Nothing published: " in page


def test_actions_need_the_csrf_token(entries_db: None, admin_user: Any) -> None:
    row = add("one", task="t", every=1)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    response = browser.post(LIST_URL, {"action": "disable", "_selected_action": [str(row.pk)]})
    assert response.status_code == 403
    assert Entry.objects.get(pk=row.pk).enabled
