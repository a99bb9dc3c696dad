"""The admin's entry form: YAML keys as fields, validated by the YAML rules with the YAML messages."""

from __future__ import annotations

import json
from datetime import UTC, tzinfo
from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from beatd.contrib.django.celery_tasks import RegisteredTasks
from beatd.contrib.django.models import Entry as EntryRow
from beatd.entry import Entry
from beatd.errors import ConfigError
from beatd.stores.conversion import ENTRY_KEYS, entry_of_mapping, row_of_mapping, yaml_mapping

# Form fields named otherwise than their YAML key (the model's column names).
FIELD_OF_KEY = {"start": "start_at", "end": "end_at"}
# Validation needs a name and a task; while a new entry is typed (the preview runs on
# every change) they may still be empty, which the required fields report anyway.
_DRAFT_NAME, _DRAFT_TASK = "new-entry", "new.task"
# A form made without the admin (no Celery app looked for): the task field is free text.
NO_APP = RegisteredTasks()


class JSONTextField(forms.JSONField):
    """JSON typed into a text box; a syntax error is reported with its line and column."""

    def prepare_value(self, value: Any) -> Any:
        return "" if value is None else super().prepare_value(value)

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except forms.ValidationError:
            try:
                json.loads(value)
            except json.JSONDecodeError as exc:
                raise forms.ValidationError(f"not valid JSON: {exc}", code="invalid") from exc
            raise


class TaskNameInput(forms.TextInput):
    """A text box offering task names as you type (an HTML datalist); a name not offered may be typed too."""

    def __init__(self, names: tuple[str, ...] = (), attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.names = names

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        if not self.names:
            return super().render(name, value, attrs, renderer)
        list_id = f"{(attrs or {}).get('id') or f'id_{name}'}-registered"
        box = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}"></option>', ((task,) for task in self.names))
        return format_html('{}<datalist id="{}">{}</datalist>', box, list_id, options)


class EntryForm(forms.ModelForm):
    """One entry's YAML keys; `clean` validates them as `beatd check` validates a file's entry.

    A problem is shown at the field it is about, worded exactly as in `beatd check`'s
    `file:line: entry 'name': message`, without the place. After validation, `entry` is
    the beatd Entry the daemon will build (None if invalid), for the preview.
    """

    every = forms.CharField(required=False, help_text="An interval: 30 (seconds), 30s, 5m, 1h30m, 2d")
    jitter = forms.CharField(required=False, help_text="A delay up to this long, the same for every run: 10s, 5m")
    args = JSONTextField(required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text='A JSON list: [16, 16]')
    kwargs = JSONTextField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                           help_text='A JSON object: {"format": "pdf"}')
    options = JSONTextField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                            help_text='A JSON object: queue, exchange, routing_key, priority, expires, headers, '
                                      'time_limit, soft_time_limit')

    class Meta:
        model = EntryRow
        fields = ["name", "task", "enabled", "description", "every", "cron", "day_match", "solar", "lat", "lon",
                  "elevation", "at", "timezone", "start_at", "end_at", "catchup", "jitter", "args", "kwargs", "options"]
        widgets = {
            "cron": forms.TextInput(),
            "description": forms.Textarea(attrs={"rows": 2}),
        }
        help_texts = {
            "cron": "5 fields (minute hour day-of-month month day-of-week): 30 7 * * 1-5; or @daily, @hourly...",
            "day_match": "When both day fields are restricted (0 9 13 * 5): empty or either fires on every 13th "
                         "and every Friday, both only on Friday the 13th",
            "at": "One run at this instant: 2026-12-01T10:00:00+01:00 (without an offset: in the entry's zone)",
            "timezone": "An IANA zone, e.g. Europe/Berlin; empty: beatd's timezone setting",
            "start_at": "No runs before this instant (ISO 8601)",
            "end_at": "No runs after this instant (ISO 8601)",
        }

    def __init__(self, *args: Any, default_zone: tzinfo = UTC, tasks: RegisteredTasks = NO_APP,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default_zone = default_zone
        self.fields["task"].widget = TaskNameInput(tasks.names, attrs={"size": 60, "autocomplete": "off"})
        self.fields["task"].help_text = tasks.help_text
        self.entry: Entry | None = None
        self._row: dict[str, Any] = {}
        if self.instance.pk is not None:
            shown = yaml_mapping(self.instance.mapping())
            for key in ("every", "jitter"):
                self.initial.setdefault(key, shown.get(key))

    def yaml_keys(self) -> dict[str, Any]:
        """The entry as a YAML file would hold it: the filled-in fields, under their YAML keys."""
        mapping: dict[str, Any] = {}
        for key in ENTRY_KEYS:
            value = self.cleaned_data.get(FIELD_OF_KEY.get(key, key))
            if key == "enabled":
                if value is False:
                    mapping[key] = False
            elif value is not None and value != "":
                mapping[key] = value.strip() if isinstance(value, str) else value
        return mapping

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        name = cleaned.get("name") or _DRAFT_NAME
        mapping = {"task": _DRAFT_TASK, **self.yaml_keys()}
        try:
            self._row = row_of_mapping(name, mapping)
            self.entry = entry_of_mapping(name, mapping, self.default_zone)
        except ConfigError as exc:
            self._add_problem(exc)
        return cleaned

    def _add_problem(self, exc: ConfigError) -> None:
        """Show the YAML message at the field its key names, or above the form."""
        cause = exc.__cause__ or exc
        keys = getattr(cause, "keys", ())
        field = FIELD_OF_KEY.get(keys[0], keys[0]) if keys else None
        self.add_error(field if field in self.fields and field not in self.errors else None, str(cause))

    def save(self, commit: bool = True) -> EntryRow:
        row: EntryRow = super().save(commit=False)
        for column, value in self._row.items():
            setattr(row, column, value)
        if commit:
            row.save()
        return row
