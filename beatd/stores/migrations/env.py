"""Alembic environment of the entry store: runs the revisions on the connection beatd hands over.

Run from `beatd.stores.migrations.upgrade` (or `beatd db upgrade`), never through an
alembic.ini. Offline mode (`--sql`) is not supported: the triggers differ per database.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from beatd.stores.sql import VERSION_TABLE, metadata


def _ours(name: str | None, type_: Any, parent_names: Any) -> bool:
    """Autogenerate compares only beatd's entry tables: the database may hold an application's."""
    return type_ != "table" or name in metadata.tables


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the entry store migrations through beatd.stores.migrations.upgrade or `beatd db upgrade`")
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  include_name=_ours, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
