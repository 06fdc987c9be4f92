"""The pipeline tally on SQLite: the same rows as PostgreSQL's (``recruitment/tally.py``), kept
by SQLite triggers, so that the embedded default's dashboard reads running totals too.

The rows and their meaning are PostgreSQL's; what differs is how SQLite lets them be
written. Its triggers run statements, not functions, and take no ``WITH``: each one
writes a project's contribution as it was (sign -1) and as it is (sign 1), summed by key,
from subqueries built here (:func:`_contribution`). The row it counts is given as a one-row
subquery (``NEW``, ``OLD`` or the table's row), its light and its stages as SQL. SQLite has
one writer at a time, so no lock is taken and the order of two triggers on one write does
not matter: every trigger only adds a difference.

A project's last touch (the later of its creation and its latest interaction) cannot be set
in a BEFORE trigger on SQLite: after every insert of a project, every update that leaves it
wrong and every write of an interaction, the project's row is updated to the right value,
which moves its "a" rows like any other update. Django's table rebuilds on SQLite drop a
table's triggers: a migration that rebuilds ``recruitment_project``, its stage links,
``recruitment_projectlight``, ``recruitment_followup``, ``crm_interaction``, ``chains_stage``
or ``chains_chain`` must install them again (:func:`install`); the tests fail without them.

Money is stored by SQLite as floating point: sums are compared rounded to the cent.
"""

from __future__ import annotations

from typing import Any

from recruitment.pipeline import CLOSED

TABLE = "recruitment_pipelinetally"
KEY = "scope, scope_id, kind, ref_id, office_id, park_id, owner_id, status, light, day"
SUMS = "n, planned, signed, funds, output"
_HAVING = "SUM(n) <> 0 OR SUM(planned) <> 0 OR SUM(signed) <> 0 OR SUM(funds) <> 0 OR SUM(output) <> 0"
_CLOSED = ", ".join(f"'{status}'" for status in sorted(CLOSED))
_LINKS = "recruitment_project_stages"
_ROW_COLUMNS = (
    "id",
    "office_id",
    "park_id",
    "owner_id",
    "status",
    "planned_investment",
    "signed_amount",
    "funds_in_place",
    "expected_output_value",
    "last_touched_at",
)
_COUNTED = ("office_id", "park_id", "owner_id", "status", *_ROW_COLUMNS[5:9])
_FOLLOW_UP_COUNTED = ("project_id", "office_id", "assignee_id", "status", "due_at")
# What the open follow-ups' rows ("f") read of their project besides its stages.
_PLACE = ("id", "office_id", "park_id")


def _record(name: str) -> str:
    """``NEW`` or ``OLD`` of a project trigger as a one-row subquery of the counted columns."""
    return "(SELECT " + ", ".join(f"{name}.{c} AS {c}" for c in _ROW_COLUMNS) + ")"


def _stored(project_id: str) -> str:
    """The project's row as stored (nothing when it is gone)."""
    return f"(SELECT {', '.join(_ROW_COLUMNS)} FROM recruitment_project WHERE id = {project_id})"


def _light(project_id: str) -> str:
    return f"(SELECT color FROM recruitment_projectlight WHERE project_id = {project_id})"


def _stages(project_id: str) -> str:
    return f"SELECT stage_id FROM {_LINKS} WHERE project_id = {project_id}"


def _kinds(stages: str) -> str:
    """The project itself ("p") and each distinct chain ("c") and sector ("s") of ``stages``:
    the kinds of its rows, and the scopes it counts under."""
    return f"""(
        SELECT 'p' AS kind, NULL AS ref_id
        UNION SELECT 'c', s.chain_id FROM chains_stage s WHERE s.id IN ({stages})
        UNION SELECT 's', c.sector_id FROM chains_stage s JOIN chains_chain c ON c.id = s.chain_id
              WHERE s.id IN ({stages})
    )"""


_SCOPE = "CASE WHEN sc.kind = 'p' THEN '' ELSE sc.kind END, sc.ref_id"


_AMOUNTS = {
    "planned": "planned_investment",
    "signed": "signed_amount",
    "funds": "funds_in_place",
    "output": "expected_output_value",
}


def _money(sign: str, *, named: bool = False) -> str:
    """The four amounts of project ``p`` times ``sign`` (``SUM`` for a sum), named as the tally's columns."""
    if sign == "SUM":
        values = [f"SUM(COALESCE(p.{column}, 0))" for column in _AMOUNTS.values()]
    else:
        values = [f"{sign} * COALESCE(p.{column}, 0)" for column in _AMOUNTS.values()]
    if named:
        values = [f"{value} AS {name}" for value, name in zip(values, _AMOUNTS, strict=True)]
    return ", ".join(values)


def _contribution(
    row: str, light: str, stages: str, sign: str, *, touched: bool = True, follow_ups: bool = True
) -> str:
    """What one project counts for, as the tally's rows (``KEY``, ``SUMS``) times ``sign``: the
    project row ``row`` (a one-row subquery) with the light ``light`` and the stages ``stages``
    (SQL expressions). PostgreSQL's ``recruitment_tally_rows``: the undated rows always, the
    last touch's ("a") and the open follow-ups' ("f") unless left out by a write that cannot
    change them (as PostgreSQL's ``touched`` and ``follow_ups``)."""
    kinds = _kinds(stages)
    parts = [
        f"""
    SELECT {_SCOPE.replace(", sc.ref_id", " AS scope, sc.ref_id AS scope_id")}, k.kind AS kind, k.ref_id AS ref_id,
           p.office_id AS office_id, p.park_id AS park_id, CASE WHEN k.kind = 'p' THEN p.owner_id END AS owner_id,
           p.status AS status, COALESCE({light}, '') AS light, NULL AS day, {sign} AS n,
           {_money(sign, named=True)}
    FROM {row} p CROSS JOIN {kinds} sc CROSS JOIN {kinds} k
    UNION ALL
    SELECT '', NULL, 't', st.stage_id, p.office_id, p.park_id, NULL, p.status, COALESCE({light}, ''), NULL, {sign},
           {_money(sign)}
    FROM {row} p CROSS JOIN ({stages}) st
    """
    ]
    if touched:
        parts.append(f"""
    SELECT {_SCOPE}, 'a', NULL, p.office_id, p.park_id, p.owner_id, '', '', date(p.last_touched_at), {sign},
           0, 0, 0, 0
    FROM {row} p CROSS JOIN {kinds} sc
    WHERE p.status NOT IN ({_CLOSED})
    """)
    if follow_ups:
        parts.append(f"""
    SELECT {_SCOPE}, 'f', f.office_id, p.office_id, p.park_id, f.assignee_id, '', '', date(f.due_at),
           {sign} * COUNT(*), 0, 0, 0, 0
    FROM {row} p CROSS JOIN {kinds} sc JOIN recruitment_followup f ON f.project_id = p.id AND f.status = 'open'
    GROUP BY sc.kind, sc.ref_id, f.office_id, f.assignee_id, date(f.due_at)
    """)
    return " UNION ALL ".join(parts)


def _write(*parts: str) -> str:
    """The rows of ``parts`` summed by key and appended (keys that cancel out left out)."""
    union = " UNION ALL ".join(parts)
    return f"""INSERT INTO {TABLE} ({KEY}, {SUMS})
    SELECT {KEY}, SUM(n), SUM(planned), SUM(signed), SUM(funds), SUM(output)
    FROM ({union}) GROUP BY {KEY} HAVING {_HAVING};"""


def _differs(columns: tuple[str, ...], old: str = "OLD", new: str = "NEW") -> str:
    return " OR ".join(f"{old}.{c} IS NOT {new}.{c}" for c in columns)


# A project's last touch as it should be.
_TOUCH = (
    "max({p}.created_at, COALESCE((SELECT MAX(i.occurred_at) FROM crm_interaction i WHERE i.project_id = {p}.id), "
    "{p}.created_at))"
)
_SET_TOUCH = (
    "UPDATE recruitment_project SET last_touched_at = "
    + _TOUCH.format(p="recruitment_project")
    + " WHERE id = {id} AND last_touched_at IS NOT "
    + _TOUCH.format(p="recruitment_project")
    + ";"
)


def _project_changed(*, follow_ups: bool) -> str:
    """A project row updated: its contribution as ``OLD`` out, as ``NEW`` in."""
    return _write(
        _contribution(_record("OLD"), _light("OLD.id"), _stages("OLD.id"), "-1", follow_ups=follow_ups),
        _contribution(_record("NEW"), _light("NEW.id"), _stages("NEW.id"), "1", follow_ups=follow_ups),
    )


def _links_changed(project_id: str, before: str) -> str:
    """A stage link written: the project with its stages as they were (``before``, SQL giving
    stage ids) out, with its stages as they are in."""
    return _write(
        _contribution(_stored(project_id), _light(project_id), before, "-1"),
        _contribution(_stored(project_id), _light(project_id), _stages(project_id), "1"),
    )


def _light_moved(project_id: str, old: str, new: str) -> str:
    """The project's undated rows moved from the light ``old`` to ``new`` (SQL expressions; ''
    for none): the dated rows do not read the light."""
    return _write(
        _contribution(_stored(project_id), old, _stages(project_id), "-1", touched=False, follow_ups=False),
        _contribution(_stored(project_id), new, _stages(project_id), "1", touched=False, follow_ups=False),
    )


_TRIGGERS: dict[str, tuple[str, str]] = {
    # name: (table, the rest of CREATE TRIGGER after its name)
    "recruitment_tally_project_insert": (
        "recruitment_project",
        f"""AFTER INSERT ON recruitment_project BEGIN
        {_write(_contribution(_record("NEW"), _light("NEW.id"), _stages("NEW.id"), "1"))}
        {_SET_TOUCH.format(id="NEW.id")}
        END""",
    ),
    # Moved to another office or park: every row. Else the open follow-ups' rows stay as they are.
    "recruitment_tally_project_moved": (
        "recruitment_project",
        f"""AFTER UPDATE ON recruitment_project WHEN {_differs(_PLACE)} BEGIN
        {_project_changed(follow_ups=True)}
        END""",
    ),
    "recruitment_tally_project_update": (
        "recruitment_project",
        f"""AFTER UPDATE ON recruitment_project WHEN NOT ({_differs(_PLACE)}) AND ({_differs(_COUNTED)}) BEGIN
        {_project_changed(follow_ups=False)}
        END""",
    ),
    # Only the day of the last touch moved (an interaction logged, a project just inserted): the
    # open project's "a" rows from the old day to the new, under each of its scopes.
    "recruitment_tally_project_touched": (
        "recruitment_project",
        f"""AFTER UPDATE ON recruitment_project
        WHEN NOT ({_differs(("id", *_COUNTED))}) AND date(OLD.last_touched_at) IS NOT date(NEW.last_touched_at)
        AND NEW.status NOT IN ({_CLOSED}) BEGIN
        INSERT INTO {TABLE} ({KEY}, {SUMS})
        SELECT {_SCOPE}, 'a', NULL, NEW.office_id, NEW.park_id, NEW.owner_id, '', '', d.day, d.sign, 0, 0, 0, 0
        FROM {_kinds(_stages("NEW.id"))} sc
        CROSS JOIN (SELECT date(OLD.last_touched_at) AS day, -1 AS sign UNION ALL SELECT date(NEW.last_touched_at), 1) d;
        END""",
    ),
    # Whatever an update wrote into the last touch (a stale copy saved), the true one.
    "recruitment_touch_project": (
        "recruitment_project",
        f"""AFTER UPDATE ON recruitment_project
        WHEN NEW.last_touched_at IS NOT {_TOUCH.format(p="NEW")} BEGIN
        {_SET_TOUCH.format(id="NEW.id")}
        END""",
    ),
    "recruitment_tally_project_delete": (
        "recruitment_project",
        f"""AFTER DELETE ON recruitment_project BEGIN
        {_write(_contribution(_record("OLD"), _light("OLD.id"), _stages("OLD.id"), "-1"))}
        END""",
    ),
    # A stage link: the project with its stages before the link against after it.
    "recruitment_tally_stage_link_insert": (
        _LINKS,
        f"""AFTER INSERT ON {_LINKS} BEGIN
        {_links_changed("NEW.project_id", _stages("NEW.project_id") + " AND stage_id <> NEW.stage_id")}
        END""",
    ),
    "recruitment_tally_stage_link_delete": (
        _LINKS,
        f"""AFTER DELETE ON {_LINKS} BEGIN
        {_links_changed("OLD.project_id", _stages("OLD.project_id") + " UNION SELECT OLD.stage_id")}
        END""",
    ),
    "recruitment_tally_stage_link_update": (
        _LINKS,
        f"""BEFORE UPDATE ON {_LINKS} BEGIN
        SELECT RAISE(ABORT, '{_LINKS} rows are inserted or deleted, never updated');
        END""",
    ),
    "recruitment_tally_light_insert": (
        "recruitment_projectlight",
        f"""AFTER INSERT ON recruitment_projectlight BEGIN
        {_light_moved("NEW.project_id", "''", "NEW.color")}
        END""",
    ),
    "recruitment_tally_light_update": (
        "recruitment_projectlight",
        f"""AFTER UPDATE ON recruitment_projectlight WHEN OLD.color IS NOT NEW.color BEGIN
        {_light_moved("NEW.project_id", "OLD.color", "NEW.color")}
        END""",
    ),
    "recruitment_tally_light_moved": (
        "recruitment_projectlight",
        """BEFORE UPDATE ON recruitment_projectlight WHEN OLD.project_id IS NOT NEW.project_id BEGIN
        SELECT RAISE(ABORT, 'a light does not move to another project');
        END""",
    ),
    "recruitment_tally_light_delete": (
        "recruitment_projectlight",
        f"""AFTER DELETE ON recruitment_projectlight BEGIN
        {_light_moved("OLD.project_id", "OLD.color", "''")}
        END""",
    ),
    # Interactions move their projects' last touch.
    "recruitment_touch_interaction_insert": (
        "crm_interaction",
        f"""AFTER INSERT ON crm_interaction WHEN NEW.project_id IS NOT NULL BEGIN
        {_SET_TOUCH.format(id="NEW.project_id")}
        END""",
    ),
    "recruitment_touch_interaction_update": (
        "crm_interaction",
        f"""AFTER UPDATE ON crm_interaction
        WHEN OLD.project_id IS NOT NEW.project_id OR OLD.occurred_at IS NOT NEW.occurred_at BEGIN
        {_SET_TOUCH.format(id="OLD.project_id")}
        {_SET_TOUCH.format(id="NEW.project_id")}
        END""",
    ),
    "recruitment_touch_interaction_delete": (
        "crm_interaction",
        f"""AFTER DELETE ON crm_interaction WHEN OLD.project_id IS NOT NULL BEGIN
        {_SET_TOUCH.format(id="OLD.project_id")}
        END""",
    ),
}


def _follow_up(f: str, sign: str) -> str:
    """One open follow-up (``NEW`` or ``OLD``) under every scope of its project (nothing when the
    project is gone: its delete counted it out)."""
    return f"""
    SELECT {_SCOPE.replace(", sc.ref_id", " AS scope, sc.ref_id AS scope_id")}, 'f' AS kind, {f}.office_id AS ref_id,
           p.office_id AS office_id, p.park_id AS park_id, {f}.assignee_id AS owner_id, '' AS status, '' AS light,
           date({f}.due_at) AS day, {sign} AS n, 0 AS planned, 0 AS signed, 0 AS funds, 0 AS output
    FROM recruitment_project p CROSS JOIN {_kinds(_stages(f"{f}.project_id"))} sc
    WHERE p.id = {f}.project_id AND {f}.status = 'open'
    """


_TRIGGERS.update(
    {
        "recruitment_tally_follow_up_insert": (
            "recruitment_followup",
            f"""AFTER INSERT ON recruitment_followup WHEN NEW.status = 'open' BEGIN
            {_write(_follow_up("NEW", "1"))}
            END""",
        ),
        "recruitment_tally_follow_up_update": (
            "recruitment_followup",
            f"""AFTER UPDATE ON recruitment_followup WHEN {_differs(_FOLLOW_UP_COUNTED)} BEGIN
            {_write(_follow_up("OLD", "-1"), _follow_up("NEW", "1"))}
            END""",
        ),
        "recruitment_tally_follow_up_delete": (
            "recruitment_followup",
            f"""AFTER DELETE ON recruitment_followup WHEN OLD.status = 'open' BEGIN
            {_write(_follow_up("OLD", "-1"))}
            END""",
        ),
    }
)


def _fresh() -> str:
    """The tally as it should be, counted from the tables (one row per key), without ``WITH``
    (a trigger's statement takes none): every project's contribution, summed."""
    links = f"""SELECT DISTINCT t.project_id, s.chain_id, c.sector_id
        FROM {_LINKS} t JOIN chains_stage s ON s.id = t.stage_id JOIN chains_chain c ON c.id = s.chain_id"""
    kinds = f"""(
        SELECT id AS project_id, 'p' AS kind, NULL AS ref_id FROM recruitment_project
        UNION SELECT project_id, 'c', chain_id FROM ({links})
        UNION SELECT project_id, 's', sector_id FROM ({links})
    )"""
    groups = "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
    return f"""
    SELECT {_SCOPE.replace(", sc.ref_id", " AS scope, sc.ref_id AS scope_id")}, k.kind AS kind, k.ref_id AS ref_id,
           p.office_id AS office_id, p.park_id AS park_id, CASE WHEN k.kind = 'p' THEN p.owner_id END AS owner_id,
           p.status AS status, COALESCE(l.color, '') AS light, NULL AS day, COUNT(*) AS n,
           {_money("SUM", named=True)}
    FROM {kinds} sc JOIN {kinds} k ON k.project_id = sc.project_id
    JOIN recruitment_project p ON p.id = sc.project_id
    LEFT JOIN recruitment_projectlight l ON l.project_id = p.id
    {groups}
    UNION ALL
    SELECT '', NULL, 't', t.stage_id, p.office_id, p.park_id, NULL, p.status, COALESCE(l.color, ''), NULL, COUNT(*),
           {_money("SUM")}
    FROM {_LINKS} t JOIN recruitment_project p ON p.id = t.project_id
    LEFT JOIN recruitment_projectlight l ON l.project_id = p.id
    {groups}
    UNION ALL
    SELECT {_SCOPE}, 'a', NULL, p.office_id, p.park_id, p.owner_id, '', '', date(p.last_touched_at), COUNT(*),
           0, 0, 0, 0
    FROM {kinds} sc JOIN recruitment_project p ON p.id = sc.project_id
    WHERE p.status NOT IN ({_CLOSED})
    {groups}
    UNION ALL
    SELECT {_SCOPE}, 'f', f.office_id, p.office_id, p.park_id, f.assignee_id, '', '', date(f.due_at), COUNT(*),
           0, 0, 0, 0
    FROM {kinds} sc JOIN recruitment_project p ON p.id = sc.project_id
    JOIN recruitment_followup f ON f.project_id = p.id AND f.status = 'open'
    {groups}
    """


FRESH = _fresh()
_REBUILD = f"DELETE FROM {TABLE}; INSERT INTO {TABLE} ({KEY}, {SUMS}) SELECT * FROM ({FRESH});"
# A stage moved to another chain, or a chain to another sector (reference data, rare): everything again.
_TRIGGERS.update(
    {
        "recruitment_tally_stage_moved": (
            "chains_stage",
            f"AFTER UPDATE ON chains_stage WHEN OLD.chain_id IS NOT NEW.chain_id BEGIN {_REBUILD} END",
        ),
        "recruitment_tally_chain_moved": (
            "chains_chain",
            f"AFTER UPDATE ON chains_chain WHEN OLD.sector_id IS NOT NEW.sector_id BEGIN {_REBUILD} END",
        ),
    }
)

# Projects whose last touch is not what it should be (after a load that bypassed the triggers).
UNTOUCHED = f"recruitment_project p WHERE p.last_touched_at IS NOT {_TOUCH.format(p='p')}"
TOUCH_FILL = (
    f"UPDATE recruitment_project SET last_touched_at = {_TOUCH.format(p='recruitment_project')} "
    f"WHERE last_touched_at IS NOT {_TOUCH.format(p='recruitment_project')}"
)


def install(cursor: Any) -> None:
    """The triggers (any earlier ones replaced), every last touch, the tally counted from the tables."""
    uninstall(cursor)
    cursor.execute(TOUCH_FILL)  # before the triggers that would run for each row
    for name, (_table, rest) in _TRIGGERS.items():
        cursor.execute(f"CREATE TRIGGER {name} {rest}")
    rebuild(cursor)


def uninstall(cursor: Any) -> None:
    for name in _TRIGGERS:
        cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def triggers() -> list[str]:
    return list(_TRIGGERS)


def rebuild(cursor: Any) -> None:
    cursor.execute(TOUCH_FILL)
    cursor.execute(f"DELETE FROM {TABLE}")
    cursor.execute(f"INSERT INTO {TABLE} ({KEY}, {SUMS}) SELECT * FROM ({FRESH})")


def fold(touched_keep: int, due_keep: int, folded: str) -> str:
    """``day`` as compaction keeps it (PostgreSQL's ``tally._fold``): days long past on ``folded``."""
    return (
        f"CASE WHEN kind = 'a' AND day < date('now', '-{int(touched_keep)} days') THEN '{folded}' "
        f"WHEN kind = 'f' AND day < date('now', '-{int(due_keep)} days') THEN '{folded}' ELSE day END"
    )


def compact(cursor: Any, touched_keep: int, due_keep: int, folded: str) -> None:
    """Fold the rows into one per key: the sums of the rows there now appended, then those rows
    deleted (the caller holds a transaction; SQLite has one writer)."""
    cursor.execute(f"SELECT MAX(id) FROM {TABLE}")
    (last,) = cursor.fetchone()
    if last is None:
        return
    key = KEY.replace(", day", f", {fold(touched_keep, due_keep, folded)} AS day")
    cursor.execute(
        f"INSERT INTO {TABLE} ({KEY}, {SUMS}) SELECT {key}, SUM(n), SUM(planned), SUM(signed), SUM(funds), SUM(output) "
        f"FROM {TABLE} WHERE id <= %s GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 HAVING {_HAVING}",
        [last],
    )
    cursor.execute(f"DELETE FROM {TABLE} WHERE id <= %s", [last])
