"""Migrations of the entry tables, running the statements of `beatd db upgrade`'s revisions."""

from __future__ import annotations

from typing import Any


def recorded_revisions(connection: Any) -> list[str]:
    """The revisions beatd_alembic_version holds (one, normally), on a Django database connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT version_num FROM beatd_alembic_version")
        return [row[0] for row in cursor.fetchall()]
