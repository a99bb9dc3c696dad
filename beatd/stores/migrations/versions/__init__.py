"""Alembic revisions of the SQL entry store, oldest first by their down_revision chain."""
