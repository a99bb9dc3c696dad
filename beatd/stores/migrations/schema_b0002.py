"""Revision b0002 of the entry tables, as SQL for one database: the day_match column, for Alembic and Django alike.

`beatd db upgrade` (Alembic revision b0002) and beatd.contrib.django's migration 0002 run
these statements, so both keep making the same tables. NULL or 'either' is cron's rule (a
restricted day of month OR day of week), 'both' Celery's (AND). PostgreSQL's and
MariaDB/MySQL's triggers fire on every UPDATE; SQLite's fires only for the columns it
names, so it is recreated naming day_match too: an edit of day_match alone must reach a
running beatd like any other.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from beatd.stores.migrations.schema_b0001 import USER_COLUMNS, sqlite_update_trigger

REVISION = "b0002"

_DAY_MATCH = sa.Column("day_match", sa.String(16),
                       comment="cron entries: NULL or either (day of month OR day of week), both (AND, as Celery)")
sa.Table("beatd_entries", sa.MetaData(), _DAY_MATCH)
_DROP_SQLITE_TRIGGER = "DROP TRIGGER IF EXISTS beatd_entries_after_update"


def upgrade_statements(dialect: Dialect) -> list[str]:
    """The statements that add day_match (with its comment, where the database keeps comments)."""
    statements = [f"ALTER TABLE beatd_entries ADD COLUMN {sa.schema.CreateColumn(_DAY_MATCH).compile(dialect=dialect)}"]
    if dialect.supports_comments and not dialect.inline_comments:
        statements.append(str(sa.schema.SetColumnComment(_DAY_MATCH).compile(dialect=dialect)))
    if dialect.name == "sqlite":
        statements += [_DROP_SQLITE_TRIGGER, sqlite_update_trigger((*USER_COLUMNS, "day_match"))]
    return statements


def downgrade_statements(dialect: Dialect) -> list[str]:
    """The statements that remove day_match again (SQLite's trigger first: it names the column)."""
    statements = [_DROP_SQLITE_TRIGGER, sqlite_update_trigger(USER_COLUMNS)] if dialect.name == "sqlite" else []
    return [*statements, "ALTER TABLE beatd_entries DROP COLUMN day_match"]


def record_revision_statement(revision: str) -> str:
    """The statement that records `revision` as the tables' revision, for a migration run without Alembic (Django's)."""
    return f"UPDATE beatd_alembic_version SET version_num = '{revision}'"
