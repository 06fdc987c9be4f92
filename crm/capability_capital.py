"""Each capability row carries its enterprise's registered capital and whether it is merged
away, kept by database triggers: one rule for every path.

A stage's gap candidates (``recruitment.gaps._ranked_candidates``) are walked by capital,
best first. Walking the whole directory's capital index and checking each enterprise
capable of the stage reads some 3,500 enterprises for the 80 kept at 1,000,000 (one in
forty is capable of a given stage); with the capital next to the capability, the walk reads
the stage's capable enterprises alone, in capital order, from
``enterprise_stages_capital_idx`` (stage, capital descending, enterprise; merged ones left
out).

The copy lives in two columns of ``crm_enterprise_stages`` (the table Django makes for
``Enterprise.stages``, so the columns are the database's, not the model's):
``enterprise_capital`` and ``enterprise_merged``. Triggers keep them equal to the
enterprise's ``registered_capital`` and ``merged_into_id IS NOT NULL`` in the same
transaction as the write, so services, imports, bulk upserts (COPY included), merges, the
admin and raw SQL all keep it true:

* a capability inserted, or changed in any way: its copy read from its enterprise (on
  PostgreSQL before the row is written, under a share lock of the enterprise row, so a
  transaction changing the enterprise's capital is waited for and read, or waits for the
  capability's; on SQLite, one writer at a time, the row is updated after it is written);
* an enterprise's capital changed, or its merge set or cleared: the copies of all its
  capabilities rewritten.

A load that bypasses triggers (``session_replication_role = replica``, as
``bench.generate`` loads) calls :func:`fill` afterwards. Django's table rebuilds on SQLite
drop a table's triggers and the columns Django does not know: a migration that rebuilds
``crm_enterprise`` or ``crm_enterprise_stages`` there must run :func:`install` again (and,
for the latter, :func:`cover_stage_index`); the tests fail without the triggers.
:func:`differences` counts the capabilities whose copy is wrong: what the tests assert on.

The stage's capabilities index (``STAGE_INDEX``) carries the copy too, so a stage's
candidates are scored on their capital with no enterprise row read.
"""

from __future__ import annotations

from typing import Any

from django.db import connections

TABLE = "crm_enterprise_stages"
INDEX = "enterprise_stages_capital_idx"

_FILL = (
    f"UPDATE {TABLE} SET enterprise_capital = e.registered_capital, enterprise_merged = e.merged_into_id IS NOT NULL "
    f"FROM crm_enterprise e WHERE e.id = {TABLE}.enterprise_id"
)
# The columns and the walk's index: the enterprises capable of a stage, merged ones left out,
# best capital first (those without one first of all, in id order).
_COLUMNS = {
    "postgresql": "numeric(18, 2)",
    "sqlite": "decimal",
}

_POSTGRES = [
    """
CREATE OR REPLACE FUNCTION crm_capability_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- FOR SHARE: a transaction changing the enterprise's capital or merge is waited for and
    -- what it committed is read; one starting later waits for this one and sees the row.
    SELECT e.registered_capital, e.merged_into_id IS NOT NULL
      INTO NEW.enterprise_capital, NEW.enterprise_merged
      FROM crm_enterprise e WHERE e.id = NEW.enterprise_id FOR SHARE;
    RETURN NEW;
END $$
""",
    f"""
CREATE OR REPLACE FUNCTION crm_enterprise_capability_copies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {TABLE} SET enterprise_capital = NEW.registered_capital,
                       enterprise_merged = NEW.merged_into_id IS NOT NULL
     WHERE enterprise_id = NEW.id;
    RETURN NULL;
END $$
""",
    f"CREATE TRIGGER crm_capability_copy BEFORE INSERT OR UPDATE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION crm_capability_copy()",
    "CREATE TRIGGER crm_enterprise_capability_copies AFTER UPDATE OF registered_capital, merged_into_id "
    "ON crm_enterprise FOR EACH ROW WHEN (OLD.registered_capital IS DISTINCT FROM NEW.registered_capital "
    "OR (OLD.merged_into_id IS NULL) <> (NEW.merged_into_id IS NULL)) "
    "EXECUTE FUNCTION crm_enterprise_capability_copies()",
]

_POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS crm_enterprise_capability_copies ON crm_enterprise",
    f"DROP TRIGGER IF EXISTS crm_capability_copy ON {TABLE}",
    "DROP FUNCTION IF EXISTS crm_enterprise_capability_copies()",
    "DROP FUNCTION IF EXISTS crm_capability_copy()",
]

# SQLite: statements, not functions; recursive triggers are off, so a trigger's own UPDATE
# does not run it again.
_SQLITE_OWN_ROW = (
    f"UPDATE {TABLE} SET "
    "enterprise_capital = (SELECT e.registered_capital FROM crm_enterprise e WHERE e.id = NEW.enterprise_id), "
    "enterprise_merged = (SELECT e.merged_into_id IS NOT NULL FROM crm_enterprise e WHERE e.id = NEW.enterprise_id) "
    "WHERE id = NEW.id;"
)
_SQLITE = [
    f"CREATE TRIGGER crm_capability_copy_insert AFTER INSERT ON {TABLE} BEGIN {_SQLITE_OWN_ROW} END",
    f"CREATE TRIGGER crm_capability_copy_update AFTER UPDATE ON {TABLE} BEGIN {_SQLITE_OWN_ROW} END",
    "CREATE TRIGGER crm_enterprise_capability_copies AFTER UPDATE OF registered_capital, merged_into_id "
    "ON crm_enterprise WHEN OLD.registered_capital IS NOT NEW.registered_capital "
    "OR (OLD.merged_into_id IS NULL) <> (NEW.merged_into_id IS NULL) BEGIN "
    f"UPDATE {TABLE} SET enterprise_capital = NEW.registered_capital, "
    "enterprise_merged = NEW.merged_into_id IS NOT NULL WHERE enterprise_id = NEW.id; END",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS crm_enterprise_capability_copies",
    "DROP TRIGGER IF EXISTS crm_capability_copy_update",
    "DROP TRIGGER IF EXISTS crm_capability_copy_insert",
]


def triggers(vendor: str) -> list[str]:
    """The names of the triggers of ``vendor``."""
    if vendor == "postgresql":
        return ["crm_capability_copy", "crm_enterprise_capability_copies"]
    return ["crm_capability_copy_insert", "crm_capability_copy_update", "crm_enterprise_capability_copies"]


def install_triggers(cursor: Any, vendor: str) -> None:
    """The triggers of ``vendor`` (any earlier ones replaced)."""
    uninstall_triggers(cursor, vendor)
    for sql in _POSTGRES if vendor == "postgresql" else _SQLITE:
        cursor.execute(sql)


def uninstall_triggers(cursor: Any, vendor: str) -> None:
    for sql in _POSTGRES_DROP if vendor == "postgresql" else _SQLITE_DROP:
        cursor.execute(sql)


def fill(cursor: Any) -> None:
    """Every capability's copy read from its enterprise (after a load that bypassed the triggers)."""
    cursor.execute(_FILL)


def install(apps: Any, schema_editor: Any) -> None:
    """Migration step: the columns, the triggers, every copy filled from what is there, then
    the walk's index."""
    connection = schema_editor.connection
    if connection.vendor not in _COLUMNS:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} ADD COLUMN enterprise_capital {_COLUMNS[connection.vendor]} NULL")
        cursor.execute(f"ALTER TABLE {TABLE} ADD COLUMN enterprise_merged boolean NOT NULL DEFAULT false")
        install_triggers(cursor, connection.vendor)
        fill(cursor)
        cursor.execute(
            f"CREATE INDEX {INDEX} ON {TABLE} (stage_id, enterprise_capital DESC, enterprise_id) "
            "WHERE NOT enterprise_merged"
        )


def uninstall(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor not in _COLUMNS:
        return
    with connection.cursor() as cursor:
        uninstall_triggers(cursor, connection.vendor)
        cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")
        cursor.execute(f"ALTER TABLE {TABLE} DROP COLUMN enterprise_merged")
        cursor.execute(f"ALTER TABLE {TABLE} DROP COLUMN enterprise_capital")


# The stage's capable enterprises in enterprise order (``crm/migrations/0010``), carrying the
# copy (``crm/migrations/0015``): the candidates' neighbour signal merges two stages' ranges and
# scores each enterprise on its capital from this index alone.
STAGE_INDEX = "enterprise_stages_stage_ent_idx"
_STAGE_INDEX_COLUMNS = {
    "postgresql": "(stage_id, enterprise_id) INCLUDE (enterprise_capital, enterprise_merged)",
    # SQLite has no INCLUDE: the copy's columns follow the key.
    "sqlite": "(stage_id, enterprise_id, enterprise_merged, enterprise_capital)",
}


def cover_stage_index(apps: Any, schema_editor: Any) -> None:
    """Migration step: ``STAGE_INDEX`` made again carrying the copy."""
    _stage_index(schema_editor, _STAGE_INDEX_COLUMNS.get(schema_editor.connection.vendor))


def uncover_stage_index(apps: Any, schema_editor: Any) -> None:
    _stage_index(schema_editor, "(stage_id, enterprise_id)")


def _stage_index(schema_editor: Any, columns: str | None) -> None:
    if columns is None or schema_editor.connection.vendor not in _COLUMNS:
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {STAGE_INDEX}")
        cursor.execute(f"CREATE INDEX {STAGE_INDEX} ON {TABLE} {columns}")


def differences(using: str = "default") -> int:
    """How many capabilities carry a capital or a merge that is not their enterprise's."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {TABLE} c JOIN crm_enterprise e ON e.id = c.enterprise_id "
            "WHERE (CASE WHEN c.enterprise_capital IS NULL THEN e.registered_capital IS NOT NULL "
            "ELSE e.registered_capital IS NULL OR c.enterprise_capital <> e.registered_capital END) "
            "OR (CASE WHEN c.enterprise_merged THEN 1 ELSE 0 END) "
            "<> (CASE WHEN e.merged_into_id IS NOT NULL THEN 1 ELSE 0 END)"
        )
        return int(cursor.fetchone()[0])
