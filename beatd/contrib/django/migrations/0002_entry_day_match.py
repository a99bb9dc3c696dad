"""The day_match column, added by the same statements as `beatd db upgrade`'s revision b0002.

Tables already at b0002 or later (upgraded by `beatd db upgrade`, then adopted by 0001)
have the column: they are left as they are.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

from beatd.contrib.django.migrations import recorded_revisions
from beatd.stores.migrations import schema_b0001, schema_b0002
from beatd.stores.migrations.schema_b0001 import dialect_named


def add_day_match(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if recorded_revisions(connection) != [schema_b0001.REVISION]:
        return
    statements = schema_b0002.upgrade_statements(dialect_named(connection.vendor))
    for statement in [*statements, schema_b0002.record_revision_statement(schema_b0002.REVISION)]:
        schema_editor.execute(statement, None)


def drop_day_match(apps: Any, schema_editor: Any) -> None:
    statements = schema_b0002.downgrade_statements(dialect_named(schema_editor.connection.vendor))
    for statement in [*statements, schema_b0002.record_revision_statement(schema_b0001.REVISION)]:
        schema_editor.execute(statement, None)


class Migration(migrations.Migration):

    dependencies = [("beatd", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(add_day_match, drop_day_match)],
            state_operations=[
                migrations.AddField(
                    model_name='entry',
                    name='day_match',
                    field=models.CharField(blank=True, choices=[('either', 'either: day of month or day of week (cron)'), ('both', 'both: day of month and day of week (Celery)')], max_length=16, null=True),
                ),
            ],
        ),
    ]
