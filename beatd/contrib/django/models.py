"""Models on beatd's entry tables (beatd_entries, its tombstones and revision counter), shared with the SQL store.

The tables, and the triggers that stamp a revision on every write, are created by this
app's migration 0001 with the same statements as `beatd db upgrade`. Every write goes
through those triggers, whoever makes it: `Entry.save()`, `QuerySet.update()`, a bulk
create, raw SQL. That is how a running beatd learns of changes (docs/django.md).
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from django.db import models

from beatd.entry import MAX_ENTRY_NAME_CHARS
from beatd.entry import Entry as BeatdEntry
from beatd.stores.conversion import entry_of_mapping, mapping_of_row, row_of_mapping

KIND_CHOICES = [("every", "interval"), ("cron", "cron"), ("solar", "solar"), ("at", "one-off")]
CATCHUP_CHOICES = [("latest", "latest: one run for the newest missed slot"), ("all", "all: every missed slot"),
                   ("skip", "skip: none")]
DAY_MATCH_CHOICES = [("either", "either: day of month or day of week (cron)"),
                     ("both", "both: day of month and day of week (Celery)")]
SOLAR_CHOICES = [(event, event) for event in ("dawn_astronomical", "dawn_nautical", "dawn_civil", "sunrise",
                                              "solar_noon", "sunset", "dusk_civil", "dusk_nautical",
                                              "dusk_astronomical")]


class EntryNameField(models.CharField):
    """An entry name; MariaDB/MySQL hand it back as bytes, since the column is VARBINARY for exact matching."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return value.decode() if isinstance(value, bytes | bytearray) else value


class StoredJSONField(models.JSONField):
    """JSON in a column the SQL store declares as JSON: `json` on PostgreSQL, which the driver decodes itself.

    Django's JSONField expects `jsonb` there, whose decoding Django turns off, and would
    decode the already decoded value again.
    """

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if connection.vendor == "postgresql":
            return value
        return super().from_db_value(value, expression, connection)


class Entry(models.Model):
    """One schedule entry: its YAML keys as columns (durations in seconds), plus bookkeeping the triggers keep.

    Validate and convert through `set_mapping` (the admin form does): it applies the YAML
    rules and messages. Fields set directly are checked when beatd reads the row; a row
    that does not validate is skipped with an error in beatd's log.
    """

    name = EntryNameField(max_length=MAX_ENTRY_NAME_CHARS, unique=True)
    task = models.TextField(help_text="The Celery task name, e.g. reports.send")
    kind = models.CharField(max_length=16, choices=KIND_CHOICES, editable=False,
                            help_text="Which schedule column is set; kept by set_mapping")
    every_s = models.FloatField("every (seconds)", null=True, blank=True)
    cron = models.TextField(null=True, blank=True)
    day_match = models.CharField(max_length=16, null=True, blank=True, choices=DAY_MATCH_CHOICES)
    solar = models.CharField(max_length=32, null=True, blank=True, choices=SOLAR_CHOICES)
    lat = models.FloatField("latitude", null=True, blank=True)
    lon = models.FloatField("longitude", null=True, blank=True)
    elevation = models.FloatField(null=True, blank=True)
    at = models.CharField(max_length=64, null=True, blank=True)
    args = StoredJSONField(null=True, blank=True)
    kwargs = StoredJSONField(null=True, blank=True)
    options = StoredJSONField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    timezone = models.CharField(max_length=64, null=True, blank=True)
    catchup = models.CharField(max_length=16, null=True, blank=True, choices=CATCHUP_CHOICES)
    jitter_s = models.FloatField("jitter (seconds)", null=True, blank=True)
    start_at = models.CharField("start", max_length=64, null=True, blank=True)
    end_at = models.CharField("end", max_length=64, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Written by the triggers on every write; whatever Django sends is replaced.
    revision = models.BigIntegerField(default=0, editable=False)

    class Meta:
        db_table = "beatd_entries"
        # Migration 0001 makes the tables. Unmanaged, they are also left out of Django's
        # flush (TransactionTestCase, `manage.py flush`), which would TRUNCATE them on
        # PostgreSQL (refused: readers would miss the deletions) and empty the counter.
        managed = False
        ordering = ["name"]
        verbose_name = "entry"
        verbose_name_plural = "entries"

    def __str__(self) -> str:
        return self.name

    def mapping(self) -> dict[str, Any]:
        """The entry's YAML keys, as `beatd export` would write them (durations in seconds)."""
        return mapping_of_row({field.attname: getattr(self, field.attname) for field in self._meta.concrete_fields})

    def set_mapping(self, mapping: dict[str, Any]) -> None:
        """Set every column from YAML keys (keys left out are cleared), validated as a YAML file's entry.

        Raises:
            ConfigError: `entry 'name': message`, worded as `beatd check` words it; its
                __cause__ (a ValueError) has the message alone, and `keys` for the key it is about.
        """
        for column, value in row_of_mapping(self.name, mapping).items():
            setattr(self, column, value)

    def to_entry(self, default_zone: tzinfo) -> BeatdEntry:
        """The beatd Entry of this row, as the daemon would build it.

        Raises:
            ValueError: the row does not validate; the message as a YAML file's entry gets it.
        """
        return entry_of_mapping(self.name, self.mapping(), default_zone)


class EntryTombstone(models.Model):
    """A name deleted from beatd_entries (or renamed away) and the revision of that write; kept by triggers."""

    name = EntryNameField(max_length=MAX_ENTRY_NAME_CHARS, primary_key=True)
    revision = models.BigIntegerField()
    deleted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "beatd_entry_tombstones"
        managed = False


class EntriesRevision(models.Model):
    """The revision counter of beatd_entries: one row, id 1; kept by triggers."""

    id = models.IntegerField(primary_key=True)
    revision = models.BigIntegerField()

    class Meta:
        db_table = "beatd_entries_revision"
        managed = False
