"""The entry tables as revision b0001 made them, as SQL for one database: for Alembic and Django alike.

Both `beatd db upgrade` (Alembic revision b0001) and `python manage.py migrate`
(beatd.contrib.django's migration 0001) run these statements, so the two produce the same
tables and triggers, and a database migrated by either is current for the other.

The triggers do the bookkeeping for every writer, beatd or not: each INSERT or UPDATE
of beatd_entries takes the next counter value as the row's `revision` (and sets
updated_at); each DELETE, and each UPDATE that changes `name`, records the old name in
beatd_entry_tombstones with the revision of that write. The counter is a row, not a
sequence: its UPDATE locks it until the writer commits, so revisions commit in order and
a reader's cursor never passes a revision that is still to be committed.

Column types are spelled out here rather than imported, so this revision stays what it
was when later ones change beatd.stores.sql; a test compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

REVISION = "b0001"
DIALECTS = ("sqlite", "postgresql", "mysql", "mariadb")

# Exact names on MariaDB/MySQL, whose default collations fold case and trailing spaces:
# the UTF-8 bytes in VARBINARY (4 bytes a character at most).
_NAME = sa.String(255).with_variant(mysql.VARBINARY(1020), "mysql", "mariadb")
# Every column a person or program sets; an UPDATE of only revision/updated_at (the
# triggers' own write on SQLite) must not fire the update trigger again.
USER_COLUMNS = ("name", "task", "kind", "every_s", "cron", "solar", "lat", "lon", "elevation", "at", "args", "kwargs",
                 "options", "enabled", "timezone", "catchup", "jitter_s", "start_at", "end_at", "description",
                 "created_at")
_TABLE_OPTIONS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

_metadata = sa.MetaData()
sa.Table(
    "beatd_entries_revision",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    comment="beatd: one row, the revision counter of beatd_entries",
    **_TABLE_OPTIONS,
)
sa.Table(
    "beatd_entries",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", _NAME, nullable=False),
    sa.Column("task", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False, comment="every, cron, solar or at: the schedule column that is set"),
    sa.Column("every_s", sa.Double, comment="interval in seconds"),
    sa.Column("cron", sa.Text),
    sa.Column("solar", sa.String(32)),
    sa.Column("lat", sa.Double),
    sa.Column("lon", sa.Double),
    sa.Column("elevation", sa.Double),
    sa.Column("at", sa.String(64), comment="ISO 8601; without an offset it is read in the entry's zone"),
    sa.Column("args", sa.JSON),
    sa.Column("kwargs", sa.JSON),
    sa.Column("options", sa.JSON),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("timezone", sa.String(64)),
    sa.Column("catchup", sa.String(16)),
    sa.Column("jitter_s", sa.Double),
    sa.Column("start_at", sa.String(64), comment="ISO 8601, the YAML key `start`"),
    sa.Column("end_at", sa.String(64), comment="ISO 8601, the YAML key `end`"),
    sa.Column("description", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("revision", sa.BigInteger, nullable=False, server_default="0",
              comment="set by trigger from beatd_entries_revision on every write"),
    sa.UniqueConstraint("name", name="uq_beatd_entries_name"),
    sa.Index("ix_beatd_entries_revision", "revision"),
    comment="beatd: schedule entries",
    **_TABLE_OPTIONS,
)
sa.Table(
    "beatd_entry_tombstones",
    _metadata,
    sa.Column("name", _NAME, primary_key=True),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_beatd_entry_tombstones_revision", "revision"),
    comment="beatd: names deleted from beatd_entries (or renamed away), with the revision of the deletion",
    **_TABLE_OPTIONS,
)
_FIRST_REVISION = "INSERT INTO beatd_entries_revision (id, revision) VALUES (1, 0)"

_LOST_ROW = ("beatd_entries_revision has no row with id 1; restore it with: INSERT INTO beatd_entries_revision "
             "(id, revision) SELECT 1, COALESCE(MAX(revision), 0) FROM beatd_entries")
_NO_TRUNCATE = ("TRUNCATE beatd_entries would hide the deletions from running beatd instances; "
                "use DELETE FROM beatd_entries")
_POSTGRESQL = [
    # One counter step per transaction, remembered in a transaction-local setting: a bulk
    # write of 100,000 rows then updates the counter row once, not 100,000 times (each of
    # which would leave a dead row version that the next one has to step over).
    f"""
    CREATE FUNCTION beatd_entries_next_revision() RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
        taken bigint := nullif(current_setting('beatd.entries_revision', true), '')::bigint;
    BEGIN
        IF taken IS NULL THEN
            UPDATE beatd_entries_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision INTO taken;
            IF taken IS NULL THEN
                RAISE EXCEPTION '{_LOST_ROW}';
            END IF;
            PERFORM set_config('beatd.entries_revision', taken::text, true);
        END IF;
        RETURN taken;
    END
    $$
    """,
    """
    CREATE FUNCTION beatd_entries_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.revision := beatd_entries_next_revision();
        NEW.updated_at := now();
        IF TG_OP = 'UPDATE' AND NEW.name IS DISTINCT FROM OLD.name THEN
            DELETE FROM beatd_entry_tombstones WHERE name = OLD.name;
            INSERT INTO beatd_entry_tombstones (name, revision, deleted_at) VALUES (OLD.name, NEW.revision, now());
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE FUNCTION beatd_entries_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM beatd_entry_tombstones WHERE name = OLD.name;
        INSERT INTO beatd_entry_tombstones (name, revision, deleted_at)
            VALUES (OLD.name, beatd_entries_next_revision(), now());
        RETURN OLD;
    END
    $$
    """,
    # TRUNCATE skips row triggers, so readers would never hear of the deletions.
    f"""
    CREATE FUNCTION beatd_entries_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{_NO_TRUNCATE}';
    END
    $$
    """,
    "CREATE TRIGGER beatd_entries_stamp BEFORE INSERT OR UPDATE ON beatd_entries "
    "FOR EACH ROW EXECUTE FUNCTION beatd_entries_stamp()",
    "CREATE TRIGGER beatd_entries_tombstone AFTER DELETE ON beatd_entries "
    "FOR EACH ROW EXECUTE FUNCTION beatd_entries_tombstone()",
    "CREATE TRIGGER beatd_entries_refuse_truncate BEFORE TRUNCATE ON beatd_entries "
    "FOR EACH STATEMENT EXECUTE FUNCTION beatd_entries_refuse_truncate()",
]

# MariaDB/MySQL: a trigger may not write the table it is on, but may set NEW in a BEFORE
# trigger. The counter row is stepped for every row written (InnoDB updates it in place,
# so that stays cheap). Times are UTC, whatever the session's time zone.
_BUMP_MYSQL = "UPDATE beatd_entries_revision SET revision = revision + 1 WHERE id = 1;"
_TAKEN_MYSQL = "(SELECT revision FROM beatd_entries_revision WHERE id = 1)"
_MYSQL = [
    f"""
    CREATE TRIGGER beatd_entries_before_insert BEFORE INSERT ON beatd_entries FOR EACH ROW
    BEGIN
        {_BUMP_MYSQL}
        SET NEW.revision = {_TAKEN_MYSQL}, NEW.created_at = UTC_TIMESTAMP(), NEW.updated_at = UTC_TIMESTAMP();
    END
    """,
    f"""
    CREATE TRIGGER beatd_entries_before_update BEFORE UPDATE ON beatd_entries FOR EACH ROW
    BEGIN
        {_BUMP_MYSQL}
        SET NEW.revision = {_TAKEN_MYSQL}, NEW.updated_at = UTC_TIMESTAMP();
        IF NEW.name <> OLD.name THEN
            DELETE FROM beatd_entry_tombstones WHERE name = OLD.name;
            INSERT INTO beatd_entry_tombstones (name, revision, deleted_at) VALUES (OLD.name, NEW.revision, UTC_TIMESTAMP());
        END IF;
    END
    """,
    f"""
    CREATE TRIGGER beatd_entries_after_delete AFTER DELETE ON beatd_entries FOR EACH ROW
    BEGIN
        {_BUMP_MYSQL}
        DELETE FROM beatd_entry_tombstones WHERE name = OLD.name;
        INSERT INTO beatd_entry_tombstones (name, revision, deleted_at) VALUES (OLD.name, {_TAKEN_MYSQL}, UTC_TIMESTAMP());
    END
    """,
]

# SQLite: NEW cannot be assigned, so AFTER triggers write the row again; that UPDATE sets
# only revision and updated_at, which the UPDATE OF list leaves out, so it does not fire
# the update trigger again. Tombstones are deleted and inserted rather than INSERT OR
# REPLACE'd: inside a trigger, the conflict policy of the outer statement (an INSERT OR
# IGNORE, say) would override ours.
_BUMP_SQLITE = "UPDATE beatd_entries_revision SET revision = revision + 1 WHERE id = 1;"
_TAKEN_SQLITE = "(SELECT revision FROM beatd_entries_revision WHERE id = 1)"


def sqlite_update_trigger(columns: Sequence[str]) -> str:
    """SQLite's update trigger, fired by an UPDATE of any of `columns`; later revisions that add columns recreate it."""
    return f"""
    CREATE TRIGGER beatd_entries_after_update AFTER UPDATE OF {", ".join(columns)} ON beatd_entries
    BEGIN
        {_BUMP_SQLITE}
        UPDATE beatd_entries SET revision = {_TAKEN_SQLITE}, updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
        DELETE FROM beatd_entry_tombstones WHERE name = OLD.name AND OLD.name IS NOT NEW.name;
        INSERT INTO beatd_entry_tombstones (name, revision, deleted_at)
            SELECT OLD.name, {_TAKEN_SQLITE}, CURRENT_TIMESTAMP WHERE OLD.name IS NOT NEW.name;
    END
    """


_SQLITE = [
    f"""
    CREATE TRIGGER beatd_entries_after_insert AFTER INSERT ON beatd_entries
    BEGIN
        {_BUMP_SQLITE}
        UPDATE beatd_entries SET revision = {_TAKEN_SQLITE} WHERE id = NEW.id;
    END
    """,
    sqlite_update_trigger(USER_COLUMNS),
    f"""
    CREATE TRIGGER beatd_entries_after_delete AFTER DELETE ON beatd_entries
    BEGIN
        {_BUMP_SQLITE}
        DELETE FROM beatd_entry_tombstones WHERE name = OLD.name;
        INSERT INTO beatd_entry_tombstones (name, revision, deleted_at) VALUES (OLD.name, {_TAKEN_SQLITE}, CURRENT_TIMESTAMP);
    END
    """,
]

_TRIGGERS = {"postgresql": _POSTGRESQL, "mysql": _MYSQL, "mariadb": _MYSQL, "sqlite": _SQLITE}
_DROP_TRIGGERS = {
    "postgresql": ["DROP TRIGGER IF EXISTS beatd_entries_refuse_truncate ON beatd_entries",
                   "DROP TRIGGER IF EXISTS beatd_entries_tombstone ON beatd_entries",
                   "DROP TRIGGER IF EXISTS beatd_entries_stamp ON beatd_entries",
                   "DROP FUNCTION IF EXISTS beatd_entries_refuse_truncate()",
                   "DROP FUNCTION IF EXISTS beatd_entries_tombstone()",
                   "DROP FUNCTION IF EXISTS beatd_entries_stamp()",
                   "DROP FUNCTION IF EXISTS beatd_entries_next_revision()"],
    "mysql": [f"DROP TRIGGER IF EXISTS {name}" for name in
              ("beatd_entries_before_insert", "beatd_entries_before_update", "beatd_entries_after_delete")],
    "sqlite": [f"DROP TRIGGER IF EXISTS {name}" for name in
               ("beatd_entries_after_insert", "beatd_entries_after_update", "beatd_entries_after_delete")],
}
_DROP_TRIGGERS["mariadb"] = _DROP_TRIGGERS["mysql"]
_DROP_TABLES = ["DROP TABLE beatd_entry_tombstones", "DROP TABLE beatd_entries", "DROP TABLE beatd_entries_revision"]


def _checked(dialect_name: str) -> str:
    if dialect_name not in DIALECTS:
        raise RuntimeError(f"beatd's entry tables support sqlite, postgresql, mysql and mariadb, not {dialect_name!r}")
    return dialect_name


def dialect_named(name: str) -> Dialect:
    """A SQLAlchemy dialect without a connection (for a Django database, whose `vendor` is the name)."""
    return sa.create_mock_engine(f"{_checked(name)}://", lambda *args, **kwargs: None).dialect


def upgrade_statements(dialect: Dialect) -> list[str]:
    """Every statement that creates the b0001 tables, the counter row and the triggers, as `dialect` words them.

    Raises:
        RuntimeError: a database other than SQLite, PostgreSQL, MySQL or MariaDB.
    """
    statements: list[str] = []

    def collect(element: Any, *multiparams: Any, **params: Any) -> None:
        statements.append(str(element.compile(dialect=dialect)).strip())

    # create_all decides per dialect name (comments inline or apart); the given dialect,
    # which may know its server's version, words each statement.
    _metadata.create_all(sa.create_mock_engine(f"{_checked(dialect.name)}://", collect), checkfirst=False)
    return [*statements, _FIRST_REVISION, *_TRIGGERS[dialect.name]]


def downgrade_statements(dialect: Dialect) -> list[str]:
    """Every statement that drops what `upgrade_statements` created."""
    return [*_DROP_TRIGGERS[_checked(dialect.name)], *_DROP_TABLES]


# Alembic's own version table (named as beatd.stores.sql.VERSION_TABLE), for a database
# migrated without Alembic: `beatd db upgrade` then finds it at b0001 and leaves it.
_version_metadata = sa.MetaData()
sa.Table("beatd_alembic_version", _version_metadata,
         sa.Column("version_num", sa.String(32), nullable=False),
         sa.PrimaryKeyConstraint("version_num", name="beatd_alembic_version_pkc"))


def record_revision_statements(dialect: Dialect) -> list[str]:
    """The statements that create Alembic's version table and record b0001 in it, as Alembic would."""
    statements = [str(sa.schema.CreateTable(table).compile(dialect=dialect)).strip()
                  for table in _version_metadata.sorted_tables]
    return [*statements, f"INSERT INTO beatd_alembic_version (version_num) VALUES ('{REVISION}')"]
