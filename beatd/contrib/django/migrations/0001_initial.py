"""The entry tables, created by the same statements as `beatd db upgrade`, and Django's models of them.

Django's state is that of plain models; the database side runs beatd's own statements
(tables, counter row, per-database triggers) and records revision b0001 in
beatd_alembic_version, so `beatd db upgrade` and this migration each find the other's work
current. Tables that `beatd db upgrade` already made, at b0001 or a later revision this
beatd knows, are adopted as they are; the later migrations bring b0001 forward.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

import beatd.contrib.django.models
from beatd.contrib.django.migrations import recorded_revisions
from beatd.stores.migrations import known_revision
from beatd.stores.migrations.schema_b0001 import (
    dialect_named,
    downgrade_statements,
    record_revision_statements,
    upgrade_statements,
)


def create_tables(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    tables = connection.introspection.table_names()
    if "beatd_entries" in tables:
        found = recorded_revisions(connection)
        if len(found) != 1 or not known_revision(found[0]):
            raise RuntimeError(f"beatd_entries exists at schema revision {found}, which this beatd does not know: "
                               "upgrade beatd to the version that made it")
        return
    dialect = dialect_named(connection.vendor)
    for statement in [*upgrade_statements(dialect), *record_revision_statements(dialect)]:
        schema_editor.execute(statement, None)


def drop_tables(apps: Any, schema_editor: Any) -> None:
    for statement in [*downgrade_statements(dialect_named(schema_editor.connection.vendor)),
                      "DROP TABLE beatd_alembic_version"]:
        schema_editor.execute(statement, None)


class Migration(migrations.Migration):

    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create_tables, drop_tables)],
            state_operations=[
                migrations.CreateModel(
                    name='EntriesRevision',
                    fields=[
                        ('id', models.IntegerField(primary_key=True, serialize=False)),
                        ('revision', models.BigIntegerField()),
                    ],
                    options={
                        'db_table': 'beatd_entries_revision',
                        'managed': False,
                    },
                ),
                migrations.CreateModel(
                    name='Entry',
                    fields=[
                        ('id', models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', beatd.contrib.django.models.EntryNameField(max_length=255, unique=True)),
                        ('task', models.TextField(help_text='The Celery task name, e.g. reports.send')),
                        ('kind', models.CharField(choices=[('every', 'interval'), ('cron', 'cron'), ('solar', 'solar'), ('at', 'one-off')], editable=False, help_text='Which schedule column is set; kept by set_mapping', max_length=16)),
                        ('every_s', models.FloatField(blank=True, null=True, verbose_name='every (seconds)')),
                        ('cron', models.TextField(blank=True, null=True)),
                        ('solar', models.CharField(blank=True, choices=[('dawn_astronomical', 'dawn_astronomical'), ('dawn_nautical', 'dawn_nautical'), ('dawn_civil', 'dawn_civil'), ('sunrise', 'sunrise'), ('solar_noon', 'solar_noon'), ('sunset', 'sunset'), ('dusk_civil', 'dusk_civil'), ('dusk_nautical', 'dusk_nautical'), ('dusk_astronomical', 'dusk_astronomical')], max_length=32, null=True)),
                        ('lat', models.FloatField(blank=True, null=True, verbose_name='latitude')),
                        ('lon', models.FloatField(blank=True, null=True, verbose_name='longitude')),
                        ('elevation', models.FloatField(blank=True, null=True)),
                        ('at', models.CharField(blank=True, max_length=64, null=True)),
                        ('args', beatd.contrib.django.models.StoredJSONField(blank=True, null=True)),
                        ('kwargs', beatd.contrib.django.models.StoredJSONField(blank=True, null=True)),
                        ('options', beatd.contrib.django.models.StoredJSONField(blank=True, null=True)),
                        ('enabled', models.BooleanField(default=True)),
                        ('timezone', models.CharField(blank=True, max_length=64, null=True)),
                        ('catchup', models.CharField(blank=True, choices=[('latest', 'latest: one run for the newest missed slot'), ('all', 'all: every missed slot'), ('skip', 'skip: none')], max_length=16, null=True)),
                        ('jitter_s', models.FloatField(blank=True, null=True, verbose_name='jitter (seconds)')),
                        ('start_at', models.CharField(blank=True, max_length=64, null=True, verbose_name='start')),
                        ('end_at', models.CharField(blank=True, max_length=64, null=True, verbose_name='end')),
                        ('description', models.TextField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('revision', models.BigIntegerField(default=0, editable=False)),
                    ],
                    options={
                        'verbose_name': 'entry',
                        'verbose_name_plural': 'entries',
                        'db_table': 'beatd_entries',
                        'managed': False,
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='EntryTombstone',
                    fields=[
                        ('name', beatd.contrib.django.models.EntryNameField(max_length=255, primary_key=True, serialize=False)),
                        ('revision', models.BigIntegerField()),
                        ('deleted_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'beatd_entry_tombstones',
                        'managed': False,
                    },
                ),
            ],
        ),
    ]
