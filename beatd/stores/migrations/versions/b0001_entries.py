"""Entry tables, the revision counter, tombstones, and the triggers that keep them.

Revision ID: b0001
Revises:
Create Date: 2026-11-21

The statements live in beatd.stores.migrations.schema_b0001, which says what the triggers
do and why; Django's migration 0001 of beatd.contrib.django runs the same ones.
"""

from __future__ import annotations

from alembic import op

from beatd.stores.migrations.schema_b0001 import downgrade_statements, upgrade_statements

revision = "b0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in upgrade_statements(op.get_bind().dialect):
        op.execute(statement)


def downgrade() -> None:
    for statement in downgrade_statements(op.get_bind().dialect):
        op.execute(statement)
