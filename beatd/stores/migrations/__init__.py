"""Alembic migrations of the SQL entry store, configured in code so they run from an installed package.

No alembic.ini is needed: `alembic_config` builds the configuration, pointing Alembic at
this package's directory, and hands the connection to env.py. History lives in the table
beatd_alembic_version, apart from any Alembic history of an application sharing the
database. To write a new revision in a checkout:

    python -c "from alembic import command; from beatd.stores.migrations import alembic_config; \
command.revision(alembic_config(), message='what changes', rev_id='b0002')"

then fill in upgrade() and downgrade(), add the previous head to
beatd.stores.revisioned.OLDER_SCHEMA_REVISIONS and set SCHEMA_REVISION there to the new one.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import DropTable

from beatd.stores.sql import VERSION_TABLE

# Alembic's "package:directory" form: found through importlib.resources, wherever the
# package is installed.
SCRIPT_LOCATION = "beatd.stores:migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for these migrations; env.py runs them on `connection`."""
    alembic_cfg = Config()
    alembic_cfg.set_main_option("script_location", SCRIPT_LOCATION)
    alembic_cfg.set_main_option("path_separator", "os")
    alembic_cfg.attributes["connection"] = connection
    return alembic_cfg


def head_revision() -> str | None:
    """The newest revision the installed migrations know."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None before the first upgrade."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the entry tables to `revision`; a database already there is left alone.

    Returns the revisions before and after. On PostgreSQL and SQLite the whole upgrade is
    one transaction; MariaDB/MySQL commit each DDL statement as it runs.
    """
    with engine.begin() as connection:
        before = current_revision(connection)
        command.upgrade(alembic_config(connection), revision)
        after = current_revision(connection)
    return before, after


def downgrade(engine: Engine, revision: str) -> tuple[str | None, str | None]:
    """Migrate the entry tables back to `revision` ("base" drops them and their triggers).

    Returns the revisions before and after (None: no tables). Alembic's version table
    stays, empty at base; `drop` removes it too.
    """
    with engine.begin() as connection:
        before = current_revision(connection)
        command.downgrade(alembic_config(connection), revision)
        after = current_revision(connection)
    return before, after


def drop(engine: Engine) -> None:
    """Remove everything `upgrade` created: the entry tables, their triggers and the version table."""
    downgrade(engine, "base")
    with engine.begin() as connection:
        connection.execute(DropTable(Table(VERSION_TABLE, MetaData()), if_exists=True))


def known_revision(revision: str) -> bool:
    """Whether `revision` is `base` or one of the installed migrations' revisions."""
    if revision == "base":
        return True
    script = ScriptDirectory.from_config(alembic_config())
    return any(known.revision == revision for known in script.walk_revisions())
