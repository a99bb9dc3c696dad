"""The admin of beatd entries: a list with schedules in words and runs, a validated form with a live preview, actions."""

from __future__ import annotations

import contextvars
from datetime import UTC, datetime
from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from beatd.config import Config
from beatd.contrib.django import conf
from beatd.contrib.django.celery_tasks import registered_tasks
from beatd.contrib.django.forms import EntryForm
from beatd.contrib.django.models import Entry
from beatd.contrib.django.status import Board, RowStatus, local_text, next_runs
from beatd.daemon.build import origin_name
from beatd.errors import BeatdError
from beatd.publish.now import publish_now
from beatd.schedules.describe import describe

# The records of the state store for the list page being rendered (one read per page).
_board: contextvars.ContextVar[Board] = contextvars.ContextVar("beatd_board")
_APPLIED = "a running beatd applies this within 2 s"


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    form = EntryForm
    list_display = ("name", "task", "kind", "schedule", "enabled", "next_run", "last_run", "run_count")
    list_filter = ("kind", "enabled", "task")
    search_fields = ("name", "task")
    actions = ["enable", "disable", "toggle", "run_now"]
    fieldsets = [
        (None, {"fields": ["name", "task", "enabled", "description"]}),
        ("Schedule: exactly one of every, cron, solar (with latitude and longitude) or at",
         {"fields": ["every", ("cron", "day_match"), "solar", ("lat", "lon", "elevation"), "at", "timezone",
                     ("start_at", "end_at")]}),
        ("Arguments and options", {"fields": ["args", "kwargs", "options", "catchup", "jitter"]}),
    ]

    # -- configuration ------------------------------------------------------------------

    def _config(self, request: HttpRequest) -> Config | None:
        """The project's beatd config; None, with an error message on the page, if it does not load."""
        try:
            return conf.load()
        except BeatdError as exc:
            self.message_user(request, f"beatd settings: {exc}", messages.ERROR)
            return None

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        config = conf_or_none()
        zone = config.timezone if config else UTC
        tasks = registered_tasks()

        class ZonedEntryForm(form_class):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **form_kwargs: Any) -> None:
                super().__init__(*args, default_zone=zone, tasks=tasks, **form_kwargs)

        return ZonedEntryForm

    # -- the list -------------------------------------------------------------------------

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        config = self._config(request)
        now = datetime.now(UTC)
        board = Board.load(config, now) if config else Board(now=now, default_zone=UTC, unavailable="no settings")
        if board.unavailable and config:
            self.message_user(request, f"last runs are not shown: {board.unavailable}", messages.WARNING)
        token = _board.set(board)
        try:
            response = super().changelist_view(request, extra_context)
            # The columns below read the board while the page renders, so render it here.
            if isinstance(response, TemplateResponse):
                response.render()
        finally:
            _board.reset(token)
        return response

    @staticmethod
    def _status(row: Entry) -> RowStatus:
        return _board.get().status(row)

    @admin.display(description="schedule")
    def schedule(self, row: Entry) -> str:
        status = self._status(row)
        if status.problem:
            return format_html('<span class="errornote">invalid: {}</span>', status.problem)
        return status.schedule

    @admin.display(description="next run")
    def next_run(self, row: Entry) -> str:
        return self._status(row).next_run

    @admin.display(description="last run")
    def last_run(self, row: Entry) -> str:
        return self._status(row).last_run

    @admin.display(description="runs")
    def run_count(self, row: Entry) -> int:
        return self._status(row).run_count

    # -- actions (POSTed with the changelist's CSRF token, as every admin action) ----------

    @admin.action(description="Enable selected entries", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[Entry]) -> None:
        count = queryset.update(enabled=True)
        self.message_user(request, f"{count} {_entries(count)} enabled; {_APPLIED}", messages.SUCCESS)

    @admin.action(description="Disable selected entries", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[Entry]) -> None:
        count = queryset.update(enabled=False)
        self.message_user(request, f"{count} {_entries(count)} disabled; {_APPLIED}", messages.SUCCESS)

    @admin.action(description="Toggle selected entries (enabled <-> disabled)", permissions=["change"])
    def toggle(self, request: HttpRequest, queryset: QuerySet[Entry]) -> None:
        with transaction.atomic(using=queryset.db):
            # Locked while flipped, so two admins toggling the same rows at once flip them twice, not once.
            was_enabled = dict(queryset.select_for_update().values_list("name", "enabled"))
            disabled = sorted(name for name, enabled in was_enabled.items() if enabled)
            enabled = sorted(name for name, enabled in was_enabled.items() if not enabled)
            Entry.objects.using(queryset.db).filter(name__in=disabled).update(enabled=False)
            Entry.objects.using(queryset.db).filter(name__in=enabled).update(enabled=True)
        parts = [f"{verb} {', '.join(names)}" for verb, names in (("enabled", enabled), ("disabled", disabled)) if names]
        self.message_user(request, f"{len(was_enabled)} {_entries(len(was_enabled))} toggled: {'; '.join(parts)}; "
                                   f"{_APPLIED}", messages.SUCCESS)

    @admin.action(description="Run selected entries now", permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[Entry]) -> None:
        config = self._config(request)
        if config is None:
            return
        entries, invalid = [], []
        for row in queryset:
            try:
                entries.append(row.to_entry(config.timezone))
            except ValueError as exc:
                invalid.append(f"{row.name}: {exc}")
        if invalid:
            self.message_user(request, f"nothing published; invalid: {'; '.join(invalid)}", messages.ERROR)
            return
        try:
            fires = publish_now(entries, config.broker, origin=origin_name())
        except BeatdError as exc:
            self.message_user(request, f"nothing published: {exc}", messages.ERROR)
            return
        published = ", ".join(f"{fire.entry.name} ({fire.entry.task}) task id {fire.task_id}" for fire in fires)
        self.message_user(request, f"published {len(fires)} {_runs(len(fires))} now: {published}", messages.SUCCESS)

    # -- the live preview of the form --------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        preview = path("preview/", self.admin_site.admin_view(require_POST(self.preview_view)),
                       name="beatd_entry_preview")
        return [preview, *super().get_urls()]

    def preview_view(self, request: HttpRequest) -> JsonResponse:
        """The form's values as the daemon would read them: the schedule in words and the next runs, or the problems.

        POST the change form's fields (with its CSRF token); `?object_id=` for an existing entry.
        """
        object_id = request.GET.get("object_id")
        row = self.get_object(request, object_id) if object_id else None
        allowed = self.has_change_permission(request, row) if row else self.has_add_permission(request)
        if not allowed:
            return JsonResponse({"ok": False, "errors": ["permission denied"]}, status=403)
        form = self.get_form(request, row)(request.POST, instance=row)
        form.is_valid()
        entry = form.entry
        if entry is None:
            problems = [f"{form.fields[name].label if name in form.fields else ''}: {error}".lstrip(": ")
                        for name, errors in form.errors.items() if name not in ("name", "task")
                        for error in errors]
            return JsonResponse({"ok": False, "errors": problems or ["fill in a schedule"]})
        now = datetime.now(UTC)
        zone = entry.timezone
        return JsonResponse({
            "ok": True,
            "schedule": describe(entry.schedule, zone),
            "zone": str(getattr(zone, "key", zone)),
            "enabled": entry.enabled,
            "runs": [local_text(run, zone) for run in next_runs(entry, now)],
        })


def conf_or_none() -> Config | None:
    """The project's beatd config, or None where a page has no room to say why (the list page says it)."""
    try:
        return conf.load()
    except BeatdError:
        return None


def _entries(count: int) -> str:
    return "entry" if count == 1 else "entries"


def _runs(count: int) -> str:
    return "run" if count == 1 else "runs"
