"""The day_match column of beatd_entries (cron entries: `either`, the default, or `both`).

Revision ID: b0002
Revises: b0001
Create Date: 2026-12-06

The statements live in beatd.stores.migrations.schema_b0002; Django's migration 0002 of
beatd.contrib.django runs the same ones.
"""

from __future__ import annotations

from alembic import op

from beatd.stores.migrations.schema_b0002 import downgrade_statements, upgrade_statements

revision = "b0002"
down_revision = "b0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in upgrade_statements(op.get_bind().dialect):
        op.execute(statement)


def downgrade() -> None:
    for statement in downgrade_statements(op.get_bind().dialect):
        op.execute(statement)
