"""The pipeline tally: the dashboard's totals kept by PostgreSQL triggers, one rule for every path.

What the dashboard counts of a project depends on its row (office, park, owner,
status, the four amounts), its target stages (the chains and sectors they belong to)
and its light. Triggers on those three tables append signed rows to
``recruitment_pipelinetally`` (:class:`recruitment.models.PipelineTally`) in the same
transaction as the write, so the services, bulk actions, imports, merges, deletes and
raw SQL all keep it true, and a rolled-back write leaves nothing behind:

Each project counts under every scope it belongs to: "" (all projects), each distinct
chain ("c") and each distinct sector ("s") of its stages; under each scope, one "p"
row (with its owner), one "c" row per distinct chain and one "s" row per distinct
sector of its stages, with its current light. The dashboard filtered by a chain or a
sector reads the rows of that scope. Under scope "" each target stage counts too ("t"
rows: the gap analysis' projects per park, stage and status). Every trigger writes the difference between the
project's contribution as it was and as it is (``recruitment_tally_change``, one row
per key that changed):

* a project inserted, changed (in a counted column) or deleted: its old contribution
  out, its new one in;
* a stage link inserted or deleted: the contribution with the stages before the link
  against the one after, so a project counts once per chain and sector, and joins
  or leaves the scopes of a chain or sector with its first or last stage there;
* a light inserted, changed in colour or deleted: the project's rows moved from the
  old colour to the new one;
* a stage moved to another chain or a chain to another sector (reference data, rare):
  the whole tally rebuilt; TRUNCATE of a counted table: the same.

Dated rows hold what depends on the time of reading, by day (UTC), under every scope:
"a" an open project by the day of its last touch (with its owner), "f" an open follow-up
by its office (``ref_id``), assignee (``owner_id``) and due day. The dashboard sums the
days before the stale cutoff's day (stale projects) and before today (overdue
follow-ups), and counts the one day in between from the tables; so a project turns
stale, and a follow-up overdue, as time passes with no write. The project's triggers
write them with the rest (an interaction moves its project's last touch, and the rows of
its day alone); a follow-up inserted, changed (project, office, assignee, status, due
time) or deleted writes its own, on its project's row lock. Compaction folds the days
long past into one (``FOLDED``): sums before any later time stay the same.

Concurrency: every write that changes what a project counts for holds the project's
row lock: an update or delete of the project holds it already, and the stage-link
and light triggers take it first (``FOR NO KEY UPDATE``, as the services lock a
project before changing it). So two transactions touching one project (its row, its
stages, its light) are serialised and the second reads what the first committed
(READ COMMITTED: each statement of a trigger takes a new snapshot). Rows are only ever appended, never
updated in place, so writers on different projects never wait on one another and
no lock order can deadlock them. Stage-link triggers run BEFORE each row, where
links written earlier in the same statement are visible, so two stages of one
chain added in one INSERT count the chain once.

:func:`compact` folds the appended rows into one per key in a single statement
(rows of transactions still running are not visible to it and stay as they are);
:func:`rebuild` recomputes everything from the tables (after a bulk load that
bypassed triggers, as ``bench.generate`` does). :func:`recount_differences` compares
the tally with a fresh count and is what the tests assert on.

On SQLite the same rows are kept by SQLite triggers (``recruitment/tally_sqlite.py``);
the functions below serve both.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connections, transaction

from recruitment import tally_sqlite
from recruitment.pipeline import CLOSED

TABLE = "recruitment_pipelinetally"
KEY = "scope, scope_id, kind, ref_id, office_id, park_id, owner_id, status, light, day"
SUMS = "n, planned, signed, funds, output"
_HAVING = "SUM(n) <> 0 OR SUM(planned) <> 0 OR SUM(signed) <> 0 OR SUM(funds) <> 0 OR SUM(output) <> 0"

# What one project counts for, as rows: under each scope it belongs to (every project:
# scope ""; each distinct chain "c" and sector "s" of its stages), the project itself
# ("p", with its owner) and each distinct chain and sector of its stages. The stages
# are given (``stages``), so that a trigger can count a project as it was and as it is.
# The functions that write are PL/pgSQL, whose statements are planned once a session
# (an SQL function's are planned again at every call, once per row written).
_COUNTED = (
    "office_id, park_id, owner_id, status, planned_investment, signed_amount, funds_in_place, expected_output_value"
)
_CLOSED = ", ".join(f"'{status}'" for status in sorted(CLOSED))
_COLUMNS = """
    scope varchar, scope_id bigint, kind varchar, ref_id bigint, office_id bigint, park_id bigint,
    owner_id bigint, status varchar, light varchar, day date, n integer, planned numeric, signed numeric,
    funds numeric, output numeric
"""
# The day of a time, as the dated rows ("a", "f") are keyed: its UTC date, whatever the
# session's time zone.
_DAY = "({} AT TIME ZONE 'UTC')::date"


def _dated(scopes: str, *, touched: str = "true", follow_ups: str = "true") -> str:
    """The dated rows of project ``p`` (with ``sign``) under each scope of ``scopes`` (kind,
    ref_id; kind "p" for all projects): itself by the day of its last touch while it is open
    ("a", with its owner), and its open follow-ups by office (ref_id), assignee (owner_id)
    and due day ("f"); each only where ``touched`` and ``follow_ups`` hold. Written into each
    function's statement, not called: a function called per scope is planned at every call."""
    scope = "CASE WHEN sc.kind = 'p' THEN '' ELSE sc.kind END::varchar, sc.ref_id"
    return f"""
    SELECT {scope}, 'a'::varchar, NULL::bigint, p.office_id, p.park_id, p.owner_id, ''::varchar, ''::varchar,
           {_DAY.format("p.last_touched_at")}, sign, 0::numeric, 0::numeric, 0::numeric, 0::numeric
    FROM {scopes}
    AND {touched} AND p.id IS NOT NULL AND p.status NOT IN ({_CLOSED})
    UNION ALL
    SELECT {scope}, 'f'::varchar, f.office_id, p.office_id, p.park_id, f.assignee_id, ''::varchar, ''::varchar,
           f.day, sign * f.n, 0::numeric, 0::numeric, 0::numeric, 0::numeric
    FROM (
        SELECT office_id, assignee_id, {_DAY.format("due_at")} AS day, COUNT(*)::integer AS n
        FROM recruitment_followup WHERE {follow_ups} AND project_id = p.id AND status = 'open'
        GROUP BY 1, 2, 3
    ) f CROSS JOIN {scopes}
    """


# The scopes a project with the stage ids ``{stages}`` counts under (all projects, each chain and
# each sector of its stages), as the CTE ``sc`` (scope, scope_id) for the dated rows' writers.
_SCOPES_OF = """WITH g AS (
        SELECT DISTINCT s.chain_id, c.sector_id
        FROM chains_stage s JOIN chains_chain c ON c.id = s.chain_id
        WHERE s.id = ANY({stages})
    ), sc AS (
        SELECT ''::varchar AS scope, NULL::bigint AS scope_id
        UNION ALL SELECT DISTINCT 'c', chain_id FROM g
        UNION ALL SELECT DISTINCT 's', sector_id FROM g
    )"""


_CONTRIBUTION = f"""
-- Only the kinds asked for: the undated ones, the last touch ("a"), the follow-ups ("f"), so that
-- a write leaves out the rows it cannot change.
CREATE OR REPLACE FUNCTION recruitment_tally_rows(
    sign integer, p recruitment_project, lt text, stages bigint[],
    undated boolean, touched boolean, follow_ups boolean
) RETURNS TABLE ({_COLUMNS}) LANGUAGE sql STABLE AS $$
    WITH g AS (
        SELECT DISTINCT s.chain_id, c.sector_id
        FROM chains_stage s JOIN chains_chain c ON c.id = s.chain_id
        WHERE s.id = ANY(stages)
    ), k AS (
        SELECT 'p'::varchar AS kind, NULL::bigint AS ref_id
        UNION ALL SELECT DISTINCT 'c', chain_id FROM g
        UNION ALL SELECT DISTINCT 's', sector_id FROM g
    )
    SELECT CASE WHEN sc.kind = 'p' THEN '' ELSE sc.kind END::varchar, sc.ref_id, k.kind, k.ref_id,
           p.office_id, p.park_id, CASE WHEN k.kind = 'p' THEN p.owner_id END, p.status,
           COALESCE(lt, '')::varchar, NULL::date, sign, sign * COALESCE(p.planned_investment, 0),
           sign * COALESCE(p.signed_amount, 0), sign * COALESCE(p.funds_in_place, 0),
           sign * COALESCE(p.expected_output_value, 0)
    FROM k AS sc CROSS JOIN k
    WHERE undated AND p.id IS NOT NULL
    UNION ALL
    -- Each target stage once, in scope "" only (the gap analysis' projects per park and stage).
    SELECT ''::varchar, NULL::bigint, 't'::varchar, st, p.office_id, p.park_id, NULL::bigint, p.status,
           COALESCE(lt, '')::varchar, NULL::date, sign, sign * COALESCE(p.planned_investment, 0),
           sign * COALESCE(p.signed_amount, 0), sign * COALESCE(p.funds_in_place, 0),
           sign * COALESCE(p.expected_output_value, 0)
    FROM unnest(stages) AS st
    WHERE undated AND p.id IS NOT NULL
    UNION ALL
    -- Under each scope, the open project by the day of its last touch ("a") and its open
    -- follow-ups by office, assignee and due day ("f").
    {_dated("k AS sc WHERE true", touched="touched", follow_ups="follow_ups")}
$$;

-- A project's contribution moved from what it was (old_p, NULL when inserted) to what it
-- is (new_p, NULL when deleted): the difference, one row per key that changed.
CREATE OR REPLACE FUNCTION recruitment_tally_change(
    old_p recruitment_project, old_light text, old_stages bigint[],
    new_p recruitment_project, new_light text, new_stages bigint[]
) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    -- The kinds whose rows may differ (the others would cancel out): whatever was inserted or
    -- deleted, else what the columns each kind reads say.
    whole boolean := old_p.id IS NULL OR new_p.id IS NULL OR old_stages IS DISTINCT FROM new_stages
        OR (old_p.office_id, old_p.park_id) IS DISTINCT FROM (new_p.office_id, new_p.park_id);
    undated boolean := whole OR old_light IS DISTINCT FROM new_light
        OR (old_p.{_COUNTED.replace(", ", ", old_p.")}) IS DISTINCT FROM (new_p.{_COUNTED.replace(", ", ", new_p.")});
    touched boolean := whole OR old_p.owner_id IS DISTINCT FROM new_p.owner_id
        OR (old_p.status IN ({_CLOSED})) IS DISTINCT FROM (new_p.status IN ({_CLOSED}))
        OR {_DAY.format("old_p.last_touched_at")} IS DISTINCT FROM {_DAY.format("new_p.last_touched_at")};
BEGIN
    INSERT INTO {TABLE} ({KEY}, {SUMS})
    SELECT {KEY}, SUM(n), SUM(planned), SUM(signed), SUM(funds), SUM(output)
    FROM (
        SELECT * FROM recruitment_tally_rows(-1, old_p, old_light, old_stages, undated, touched, whole)
        UNION ALL
        SELECT * FROM recruitment_tally_rows(1, new_p, new_light, new_stages, undated, touched, whole)
    ) r
    GROUP BY {KEY}
    HAVING {_HAVING};
END
$$;

-- What a stage link adds (sign 1) or removes (sign -1) when the project's row and light stay
-- as they are: the (scope, kind) pairs the larger set of stages gives and the smaller does not.
CREATE OR REPLACE FUNCTION recruitment_tally_link_delta(
    p recruitment_project, lt text, smaller bigint[], larger bigint[], sign integer
) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO {TABLE} ({KEY}, {SUMS})
    WITH g AS (
        SELECT DISTINCT s.id = ANY(smaller) AS before, s.chain_id, c.sector_id
        FROM chains_stage s JOIN chains_chain c ON c.id = s.chain_id
        WHERE s.id = ANY(larger)
    ), k AS (
        SELECT 'p'::varchar AS kind, NULL::bigint AS ref_id, true AS before
        UNION SELECT 'c', chain_id, bool_or(before) FROM g GROUP BY chain_id
        UNION SELECT 's', sector_id, bool_or(before) FROM g GROUP BY sector_id
    )
    SELECT CASE WHEN d.scope_kind = 'p' THEN '' ELSE d.scope_kind END, d.scope_ref, d.kind, d.ref_id,
           p.office_id, p.park_id, CASE WHEN d.kind = 'p' THEN p.owner_id END, p.status, COALESCE(lt, ''),
           NULL::date, sign,
           sign * COALESCE(p.planned_investment, 0), sign * COALESCE(p.signed_amount, 0),
           sign * COALESCE(p.funds_in_place, 0), sign * COALESCE(p.expected_output_value, 0)
    FROM (
        SELECT sc.kind AS scope_kind, sc.ref_id AS scope_ref, k.kind, k.ref_id
        FROM k AS sc CROSS JOIN k
        WHERE NOT (sc.before AND k.before)
        UNION ALL
        SELECT 'p', NULL, 't', st FROM unnest(larger) AS st WHERE st <> ALL(COALESCE(smaller, ARRAY[]::bigint[]))
    ) d
    UNION ALL
    -- The dated rows under each scope the link opens or closes.
    {_dated("k AS sc WHERE NOT sc.before")}
    ;
END
$$;

CREATE OR REPLACE FUNCTION recruitment_tally_stages(pid uuid) RETURNS bigint[] LANGUAGE sql STABLE AS $$
    SELECT ARRAY(SELECT stage_id FROM recruitment_project_stages WHERE project_id = pid)
$$;
"""

_ON_PROJECT = f"""
CREATE OR REPLACE FUNCTION recruitment_tally_on_project() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_light text;
    new_light text;
    old_stages bigint[];
    new_stages bigint[];
BEGIN
    -- A deferred write (tally.deferred) is counted set-based when its block ends.
    IF current_setting('recruitment.tally_deferred', true) = 'on' THEN RETURN NULL; END IF;
    IF TG_OP = 'UPDATE' AND (OLD.id, OLD.{_COUNTED.replace(", ", ", OLD.")})
                            IS NOT DISTINCT FROM (NEW.id, NEW.{_COUNTED.replace(", ", ", NEW.")}) THEN
        -- Only the day of the last touch moved (an interaction logged): the open project's
        -- "a" rows from the old day to the new, under each of its scopes.
        IF NEW.status NOT IN ({_CLOSED}) THEN
            new_stages := recruitment_tally_stages(NEW.id);
            INSERT INTO {TABLE} ({KEY}, {SUMS})
            {_SCOPES_OF.format(stages="new_stages")}
            SELECT sc.scope, sc.scope_id, 'a', NULL, NEW.office_id, NEW.park_id, NEW.owner_id, '', '', d.day, d.sign,
                   0, 0, 0, 0
            FROM sc CROSS JOIN (
                VALUES ({_DAY.format("OLD.last_touched_at")}, -1), ({_DAY.format("NEW.last_touched_at")}, 1)
            ) AS d (day, sign);
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT color INTO old_light FROM recruitment_projectlight WHERE project_id = OLD.id;
        old_stages := recruitment_tally_stages(OLD.id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT color INTO new_light FROM recruitment_projectlight WHERE project_id = NEW.id;
        new_stages := recruitment_tally_stages(NEW.id);
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM recruitment_tally_change(NULL, NULL, NULL, NEW, new_light, new_stages);
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM recruitment_tally_change(OLD, old_light, old_stages, NEW, new_light, new_stages);
    ELSE
        PERFORM recruitment_tally_change(OLD, old_light, old_stages, NULL, NULL, NULL);
    END IF;
    RETURN NULL;
END
$$;
"""

_ON_STAGE_LINK = """
CREATE OR REPLACE FUNCTION recruitment_tally_on_stage_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    link recruitment_project_stages%ROWTYPE;
    p recruitment_project%ROWTYPE;
    lt text;
    before_stages bigint[];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'recruitment_project_stages rows are inserted or deleted, never updated';
    END IF;
    IF current_setting('recruitment.tally_deferred', true) = 'on' THEN
        IF TG_OP = 'INSERT' THEN RETURN NEW; END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'INSERT' THEN link := NEW; ELSE link := OLD; END IF;
    SELECT * INTO p FROM recruitment_project WHERE id = link.project_id FOR NO KEY UPDATE;
    IF FOUND THEN
        SELECT color INTO lt FROM recruitment_projectlight WHERE project_id = p.id;
        -- BEFORE the row: the links as they are without this insert (with this delete still to come).
        before_stages := recruitment_tally_stages(p.id);
        IF TG_OP = 'INSERT' THEN
            PERFORM recruitment_tally_link_delta(p, lt, before_stages, before_stages || link.stage_id, 1);
        ELSE
            PERFORM recruitment_tally_link_delta(p, lt, array_remove(before_stages, link.stage_id), before_stages, -1);
        END IF;
    END IF;
    IF TG_OP = 'INSERT' THEN RETURN NEW; END IF;
    RETURN OLD;
END
$$;
"""

_ON_LIGHT = """
CREATE OR REPLACE FUNCTION recruitment_tally_on_light() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pid uuid;
    old_light text := '';
    new_light text := '';
    p recruitment_project%ROWTYPE;
    stages bigint[];
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.project_id <> NEW.project_id THEN
        RAISE EXCEPTION 'a light does not move to another project';
    END IF;
    IF current_setting('recruitment.tally_deferred', true) = 'on' THEN RETURN NULL; END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN pid := OLD.project_id; old_light := OLD.color; END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN pid := NEW.project_id; new_light := NEW.color; END IF;
    SELECT * INTO p FROM recruitment_project WHERE id = pid FOR NO KEY UPDATE;
    IF FOUND THEN
        stages := recruitment_tally_stages(p.id);
        PERFORM recruitment_tally_change(p, old_light, stages, p, new_light, stages);
    END IF;
    RETURN NULL;
END
$$;
"""

_ON_FOLLOW_UP = f"""
-- One open follow-up counted in (sign 1) or out (sign -1) under every scope of its project,
-- on the project's row lock; nothing when the project is gone (its delete counted it out).
CREATE OR REPLACE FUNCTION recruitment_tally_follow_up(f recruitment_followup, sign integer)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    p recruitment_project%ROWTYPE;
    stages bigint[];
BEGIN
    SELECT * INTO p FROM recruitment_project WHERE id = f.project_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN RETURN; END IF;
    stages := recruitment_tally_stages(p.id);
    INSERT INTO {TABLE} ({KEY}, {SUMS})
    {_SCOPES_OF.format(stages="stages")}
    SELECT sc.scope, sc.scope_id, 'f', f.office_id, p.office_id, p.park_id, f.assignee_id, '', '',
           {_DAY.format("f.due_at")}, sign, 0, 0, 0, 0
    FROM sc;
END
$$;
CREATE OR REPLACE FUNCTION recruitment_tally_on_follow_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('recruitment.tally_deferred', true) = 'on' THEN RETURN NULL; END IF;
    IF TG_OP = 'UPDATE' AND OLD.project_id <> NEW.project_id THEN
        -- Both projects locked in one order, as any other writer moving between two would.
        PERFORM 1 FROM recruitment_project WHERE id IN (OLD.project_id, NEW.project_id) ORDER BY id
            FOR NO KEY UPDATE;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'open' THEN
        PERFORM recruitment_tally_follow_up(OLD, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'open' THEN
        PERFORM recruitment_tally_follow_up(NEW, 1);
    END IF;
    RETURN NULL;
END
$$;
"""


# The tally as it should be, counted from the tables (one row per key): what
# ``recruitment_tally_rows`` gives for every project, summed.
def _fresh(projects: str = "recruitment_project", links: str = "recruitment_project_stages", sign: str = "1") -> str:
    """The tally counted from the tables: of every project, or of the rows ``projects`` and
    ``links`` select from those two tables, each sum times ``sign``."""
    return f"""
WITH g AS (
    SELECT DISTINCT t.project_id, s.chain_id, c.sector_id
    FROM {links} t JOIN chains_stage s ON s.id = t.stage_id JOIN chains_chain c ON c.id = s.chain_id
), k AS (
    SELECT id AS project_id, 'p'::varchar AS kind, NULL::bigint AS ref_id FROM {projects} AS pr
    UNION ALL SELECT DISTINCT project_id, 'c', chain_id FROM g
    UNION ALL SELECT DISTINCT project_id, 's', sector_id FROM g
)
SELECT CASE WHEN sc.kind = 'p' THEN '' ELSE sc.kind END::varchar AS scope, sc.ref_id AS scope_id,
       k.kind, k.ref_id, p.office_id, p.park_id, CASE WHEN k.kind = 'p' THEN p.owner_id END AS owner_id, p.status,
       COALESCE(l.color, '')::varchar AS light, NULL::date AS day, {sign} * COUNT(*)::integer AS n,
       {sign} * SUM(COALESCE(p.planned_investment, 0)) AS planned, {sign} * SUM(COALESCE(p.signed_amount, 0)) AS signed,
       {sign} * SUM(COALESCE(p.funds_in_place, 0)) AS funds, {sign} * SUM(COALESCE(p.expected_output_value, 0)) AS output
FROM k AS sc JOIN k ON k.project_id = sc.project_id
JOIN {projects} p ON p.id = sc.project_id
LEFT JOIN recruitment_projectlight l ON l.project_id = p.id
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
UNION ALL
SELECT ''::varchar, NULL::bigint, 't'::varchar, t.stage_id, p.office_id, p.park_id, NULL::bigint, p.status,
       COALESCE(l.color, '')::varchar, NULL::date, {sign} * COUNT(*)::integer,
       {sign} * SUM(COALESCE(p.planned_investment, 0)), {sign} * SUM(COALESCE(p.signed_amount, 0)),
       {sign} * SUM(COALESCE(p.funds_in_place, 0)), {sign} * SUM(COALESCE(p.expected_output_value, 0))
FROM {links} t JOIN {projects} p ON p.id = t.project_id
LEFT JOIN recruitment_projectlight l ON l.project_id = p.id
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
UNION ALL
SELECT CASE WHEN sc.kind = 'p' THEN '' ELSE sc.kind END::varchar, sc.ref_id, 'a'::varchar, NULL::bigint,
       p.office_id, p.park_id, p.owner_id, ''::varchar, ''::varchar, {_DAY.format("p.last_touched_at")},
       {sign} * COUNT(*)::integer, 0, 0, 0, 0
FROM k AS sc JOIN {projects} p ON p.id = sc.project_id
WHERE p.status NOT IN ({_CLOSED})
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
UNION ALL
SELECT CASE WHEN sc.kind = 'p' THEN '' ELSE sc.kind END::varchar, sc.ref_id, 'f'::varchar, f.office_id,
       p.office_id, p.park_id, f.assignee_id, ''::varchar, ''::varchar, {_DAY.format("f.due_at")},
       {sign} * COUNT(*)::integer, 0, 0, 0, 0
FROM k AS sc JOIN {projects} p ON p.id = sc.project_id
JOIN recruitment_followup f ON f.project_id = p.id AND f.status = 'open'
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
"""


_FRESH = _fresh()

_REBUILD = f"""
CREATE OR REPLACE FUNCTION recruitment_tally_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- Writers append under ROW EXCLUSIVE: wait for those running, hold off new ones.
    LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE;
    WITH gone AS (DELETE FROM {TABLE} RETURNING 1)
    INSERT INTO {TABLE} ({KEY}, {SUMS}) {_FRESH};
END
$$;
CREATE OR REPLACE FUNCTION recruitment_tally_on_reference() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM recruitment_tally_rebuild();
    RETURN NULL;
END
$$;
"""

# The dated rows of days long past, folded into one day (``FOLDED``): the dashboard only ever
# sums the days before a time (the stale projects' last touches, the overdue follow-ups' due
# days) or those after it, and it never asks about a time before the fold.
FOLDED = "1970-01-01"


def _fold(touched_keep: str, due_keep: str) -> str:
    """``day`` as compaction keeps it: last touches more than ``touched_keep`` days and due days
    more than ``due_keep`` days before today (UTC) on ``FOLDED``."""
    today = "(now() AT TIME ZONE 'UTC')::date"
    return (
        f"CASE WHEN kind = 'a' AND day < {today} - {touched_keep} THEN DATE '{FOLDED}' "
        f"WHEN kind = 'f' AND day < {today} - {due_keep} THEN DATE '{FOLDED}' ELSE day END"
    )


def _key(fold: str) -> str:
    return KEY.replace(", day", f", {fold} AS day")


_COMPACT = f"""
CREATE OR REPLACE FUNCTION recruitment_tally_compact(touched_keep integer, due_keep integer)
RETURNS void LANGUAGE sql AS $$
    WITH gone AS (DELETE FROM {TABLE} RETURNING {KEY}, {SUMS})
    INSERT INTO {TABLE} ({KEY}, {SUMS})
    SELECT {_key(_fold("touched_keep", "due_keep"))}, SUM(n), SUM(planned), SUM(signed), SUM(funds), SUM(output)
    FROM gone GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    HAVING {_HAVING}
$$;
"""


def _keep() -> tuple[int, int]:
    """Days of last touches and of due days kept apart by compaction: the stale period and two
    days more, two days before today (the dashboard's ``now`` may lag the database's clock a
    little). The dashboard sums the last touches before the day of its stale cutoff, so the
    fewer days kept, the fewer rows it reads."""
    return settings.RECRUITMENT_STALE_AFTER_DAYS + 2, 2


# A project's last touch: the later of its creation and its latest interaction, set by
# the database on every insert and update of the project whatever the row says; an
# interaction written, moved or deleted updates its projects so that this runs again.
_TOUCH = """
CREATE OR REPLACE FUNCTION recruitment_touch_on_project() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.last_touched_at := GREATEST(
        NEW.created_at, (SELECT MAX(occurred_at) FROM crm_interaction WHERE project_id = NEW.id)
    );
    RETURN NEW;
END
$$;
CREATE OR REPLACE FUNCTION recruitment_touch_on_interaction() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE recruitment_project SET last_touched_at = NULL
    WHERE id IN (
        SELECT project_id FROM (VALUES (CASE WHEN TG_OP <> 'INSERT' THEN OLD.project_id END),
                                       (CASE WHEN TG_OP <> 'DELETE' THEN NEW.project_id END)) v(project_id)
        WHERE project_id IS NOT NULL
    );
    RETURN NULL;
END
$$;
CREATE TRIGGER recruitment_touch_project BEFORE INSERT OR UPDATE ON recruitment_project
    FOR EACH ROW EXECUTE FUNCTION recruitment_touch_on_project();
CREATE TRIGGER recruitment_touch_interaction_insert_delete AFTER INSERT OR DELETE ON crm_interaction
    FOR EACH ROW EXECUTE FUNCTION recruitment_touch_on_interaction();
CREATE TRIGGER recruitment_touch_interaction_update AFTER UPDATE ON crm_interaction
    FOR EACH ROW WHEN (OLD.project_id IS DISTINCT FROM NEW.project_id OR OLD.occurred_at IS DISTINCT FROM NEW.occurred_at)
    EXECUTE FUNCTION recruitment_touch_on_interaction();
"""
# Projects whose last touch is not what it should be (after a load that bypassed the triggers).
_UNTOUCHED = """
    recruitment_project p WHERE p.last_touched_at IS DISTINCT FROM GREATEST(
        p.created_at, (SELECT MAX(i.occurred_at) FROM crm_interaction i WHERE i.project_id = p.id)
    )
"""

# Every project's last touch computed at once, triggers aside (a new install, a bulk load).
TOUCH_FILL = """
UPDATE recruitment_project p SET last_touched_at = GREATEST(
    p.created_at, (SELECT MAX(i.occurred_at) FROM crm_interaction i WHERE i.project_id = p.id)
)
WHERE p.last_touched_at IS DISTINCT FROM GREATEST(
    p.created_at, (SELECT MAX(i.occurred_at) FROM crm_interaction i WHERE i.project_id = p.id)
)
"""

_FOLLOW_UP_COUNTED = "project_id, office_id, assignee_id, status, due_at"
_TRIGGERS = f"""
CREATE TRIGGER recruitment_tally_project_insert AFTER INSERT ON recruitment_project
    FOR EACH ROW EXECUTE FUNCTION recruitment_tally_on_project();
CREATE TRIGGER recruitment_tally_project_update AFTER UPDATE ON recruitment_project
    FOR EACH ROW WHEN ((OLD.id, OLD.{_COUNTED.replace(", ", ", OLD.")}, {_DAY.format("OLD.last_touched_at")})
                       IS DISTINCT FROM
                       (NEW.id, NEW.{_COUNTED.replace(", ", ", NEW.")}, {_DAY.format("NEW.last_touched_at")}))
    EXECUTE FUNCTION recruitment_tally_on_project();
CREATE TRIGGER recruitment_tally_follow_up_insert_delete AFTER INSERT OR DELETE ON recruitment_followup
    FOR EACH ROW EXECUTE FUNCTION recruitment_tally_on_follow_up();
CREATE TRIGGER recruitment_tally_follow_up_update AFTER UPDATE ON recruitment_followup
    FOR EACH ROW WHEN ((OLD.{_FOLLOW_UP_COUNTED.replace(", ", ", OLD.")}) IS DISTINCT FROM
                       (NEW.{_FOLLOW_UP_COUNTED.replace(", ", ", NEW.")}))
    EXECUTE FUNCTION recruitment_tally_on_follow_up();
CREATE TRIGGER recruitment_tally_follow_up_truncate AFTER TRUNCATE ON recruitment_followup
    FOR EACH STATEMENT EXECUTE FUNCTION recruitment_tally_on_reference();
CREATE TRIGGER recruitment_tally_project_delete AFTER DELETE ON recruitment_project
    FOR EACH ROW EXECUTE FUNCTION recruitment_tally_on_project();
CREATE TRIGGER recruitment_tally_stage_link BEFORE INSERT OR UPDATE OR DELETE ON recruitment_project_stages
    FOR EACH ROW EXECUTE FUNCTION recruitment_tally_on_stage_link();
CREATE TRIGGER recruitment_tally_light_insert_delete AFTER INSERT OR DELETE ON recruitment_projectlight
    FOR EACH ROW EXECUTE FUNCTION recruitment_tally_on_light();
CREATE TRIGGER recruitment_tally_light_update AFTER UPDATE ON recruitment_projectlight
    FOR EACH ROW WHEN (OLD.color IS DISTINCT FROM NEW.color OR OLD.project_id IS DISTINCT FROM NEW.project_id)
    EXECUTE FUNCTION recruitment_tally_on_light();
CREATE TRIGGER recruitment_tally_stage_moved AFTER UPDATE ON chains_stage
    FOR EACH ROW WHEN (OLD.chain_id IS DISTINCT FROM NEW.chain_id)
    EXECUTE FUNCTION recruitment_tally_on_reference();
CREATE TRIGGER recruitment_tally_chain_moved AFTER UPDATE ON chains_chain
    FOR EACH ROW WHEN (OLD.sector_id IS DISTINCT FROM NEW.sector_id)
    EXECUTE FUNCTION recruitment_tally_on_reference();
CREATE TRIGGER recruitment_tally_project_truncate AFTER TRUNCATE ON recruitment_project
    FOR EACH STATEMENT EXECUTE FUNCTION recruitment_tally_on_reference();
CREATE TRIGGER recruitment_tally_stage_link_truncate AFTER TRUNCATE ON recruitment_project_stages
    FOR EACH STATEMENT EXECUTE FUNCTION recruitment_tally_on_reference();
CREATE TRIGGER recruitment_tally_light_truncate AFTER TRUNCATE ON recruitment_projectlight
    FOR EACH STATEMENT EXECUTE FUNCTION recruitment_tally_on_reference();
"""

_TRIGGER_TABLES = {
    "recruitment_touch_project": "recruitment_project",
    "recruitment_touch_interaction_insert_delete": "crm_interaction",
    "recruitment_touch_interaction_update": "crm_interaction",
    "recruitment_tally_project_insert": "recruitment_project",
    "recruitment_tally_project_update": "recruitment_project",
    "recruitment_tally_project_delete": "recruitment_project",
    "recruitment_tally_follow_up_insert_delete": "recruitment_followup",
    "recruitment_tally_follow_up_update": "recruitment_followup",
    "recruitment_tally_follow_up_truncate": "recruitment_followup",
    "recruitment_tally_stage_link": "recruitment_project_stages",
    "recruitment_tally_light_insert_delete": "recruitment_projectlight",
    "recruitment_tally_light_update": "recruitment_projectlight",
    "recruitment_tally_stage_moved": "chains_stage",
    "recruitment_tally_chain_moved": "chains_chain",
    "recruitment_tally_project_truncate": "recruitment_project",
    "recruitment_tally_stage_link_truncate": "recruitment_project_stages",
    "recruitment_tally_light_truncate": "recruitment_projectlight",
}
_FUNCTIONS = (
    "recruitment_touch_on_project()",
    "recruitment_touch_on_interaction()",
    "recruitment_tally_on_reference()",
    "recruitment_tally_rebuild()",
    "recruitment_tally_compact(integer, integer)",
    "recruitment_tally_on_follow_up()",
    "recruitment_tally_follow_up(recruitment_followup, integer)",
    "recruitment_tally_on_light()",
    "recruitment_tally_on_stage_link()",
    "recruitment_tally_on_project()",
    "recruitment_tally_change(recruitment_project, text, bigint[], recruitment_project, text, bigint[])",
    "recruitment_tally_rows(integer, recruitment_project, text, bigint[], boolean, boolean, boolean)",
    "recruitment_tally_stages(uuid)",
    "recruitment_tally_link_delta(recruitment_project, text, bigint[], bigint[], integer)",
    # Functions of earlier tallies, dropped when it is replaced.
    "recruitment_tally_compact()",
    "recruitment_tally_rows(integer, recruitment_project, text, bigint[])",
    "recruitment_tally_dated(integer, recruitment_project, varchar, bigint)",
    "recruitment_tally_link_row(varchar, bigint, recruitment_project, text, integer)",
    "recruitment_tally_put(uuid, integer, bigint, bigint, bigint, text, numeric, numeric, numeric, numeric, text)",
)


def install(apps: Any, schema_editor: Any) -> None:
    """Migration step: functions and triggers (any earlier ones replaced), then the tally
    counted from what is there."""
    if schema_editor.connection.vendor != "postgresql":
        return
    uninstall(apps, schema_editor)
    with schema_editor.connection.cursor() as cursor:  # no parameters: "%ROWTYPE" is no placeholder
        cursor.execute(TOUCH_FILL)  # before the trigger that would run for each row
        for sql in (
            _CONTRIBUTION,
            _ON_PROJECT,
            _ON_STAGE_LINK,
            _ON_LIGHT,
            _ON_FOLLOW_UP,
            _REBUILD,
            _COMPACT,
            _TRIGGERS,
            _TOUCH,
        ):
            cursor.execute(sql)
        cursor.execute("SELECT recruitment_tally_rebuild()")
        cursor.execute("SELECT recruitment_tally_compact(%s, %s)", _keep())


def uninstall(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for trigger, table in _TRIGGER_TABLES.items():
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    for function in _FUNCTIONS:
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}")


def sqlite_install(cursor: Any) -> None:
    """The SQLite triggers (``recruitment/tally_sqlite.py``), every last touch and the tally
    counted from the tables, the days long past folded."""
    tally_sqlite.install(cursor)
    tally_sqlite.compact(cursor, *_keep(), FOLDED)


def install_sqlite(apps: Any, schema_editor: Any) -> None:
    """Migration step: :func:`sqlite_install` on SQLite."""
    if schema_editor.connection.vendor == "sqlite":
        with schema_editor.connection.cursor() as cursor:
            sqlite_install(cursor)


def uninstall_sqlite(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "sqlite":
        with schema_editor.connection.cursor() as cursor:
            tally_sqlite.uninstall(cursor)
            cursor.execute(f"DELETE FROM {TABLE}")


def available(using: str = "default") -> bool:
    """The tally is kept on PostgreSQL and SQLite."""
    return connections[using].vendor in ("postgresql", "sqlite")


def rebuild(using: str = "default") -> None:
    """Recount the whole tally and every project's last touch from the tables (after a load
    that bypassed the triggers), the days long past folded."""
    connection = connections[using]
    if connection.vendor == "sqlite":
        with transaction.atomic(using=using), connection.cursor() as cursor:
            tally_sqlite.rebuild(cursor)
    elif available(using):
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {_UNTOUCHED.replace(' p WHERE', ' p SET last_touched_at = NULL WHERE')}")
            cursor.execute("SELECT recruitment_tally_rebuild()")
    compact(using)


@contextmanager
def deferred(*, updating: Sequence[Any], using: str = "default") -> Iterator[list[Any]]:
    """A large write counted set-based: inside the block the tally's triggers skip this
    transaction's writes, and at its end every project written is counted in one statement.

    ``updating`` names the existing projects the block will change, row-locked by the
    caller (as an import's check locks them): their contributions are counted out first.
    The block adds the ids of the projects it creates to the list it is given. Only the
    writes of these projects are left to the end: the block writes nothing else the tally
    counts (another project's follow-ups, lights or stages). The setting is local to the
    transaction, so other writers' triggers run as always, and an error inside the block
    rolls everything back with it. Elsewhere than on PostgreSQL the triggers run as usual.
    """
    connection = connections[using]
    created: list[Any] = []
    if connection.vendor != "postgresql":
        yield created
        return
    if not connection.in_atomic_block:
        raise RuntimeError("tally.deferred() needs a transaction")
    with connection.cursor() as cursor:
        _count(cursor, list(updating), -1)
        cursor.execute("SELECT set_config('recruitment.tally_deferred', 'on', true)")
    yield created
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('recruitment.tally_deferred', 'off', true)")
        _count(cursor, [*updating, *created], 1)


def _count(cursor: Any, ids: list[Any], sign: int) -> None:
    """Append the contributions of the projects ``ids`` as the tables hold them now, times ``sign``."""
    if not ids:
        return
    projects = "(SELECT * FROM recruitment_project WHERE id = ANY(%(ids)s::uuid[]))"
    links = "(SELECT * FROM recruitment_project_stages WHERE project_id = ANY(%(ids)s::uuid[]))"
    # A project meets itself once per pair of its scopes (whole, chains, sectors): 100,000
    # projects sort some 1.5 million rows, on disk with the default 4 MB of memory.
    cursor.execute("SELECT current_setting('work_mem')")
    (held,) = cursor.fetchone()
    cursor.execute("SELECT set_config('work_mem', %s, true)", [COUNT_WORK_MEM])
    cursor.execute(
        f"INSERT INTO {TABLE} ({KEY}, {SUMS}) {_fresh(projects, links, str(sign))}",
        {"ids": [str(i) for i in ids]},
    )
    cursor.execute("SELECT set_config('work_mem', %s, true)", [held])


COUNT_WORK_MEM = "64MB"
"""The memory a large write's count may sort in (of one connection, for one statement): at
100,000 projects the count took 9.4 s at 4 MB, 4.7 s at 64 MB and 8 s at 256 MB."""


def untouched_count(using: str = "default") -> int:
    """Projects whose last touch is wrong (0 when the triggers have kept it)."""
    untouched = tally_sqlite.UNTOUCHED if connections[using].vendor == "sqlite" else _UNTOUCHED
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {untouched}")
        return cursor.fetchone()[0]


def compact(using: str = "default") -> None:
    """Fold the appended rows into one per key; safe beside running writers and other compactions."""
    connection = connections[using]
    if connection.vendor == "sqlite":
        with transaction.atomic(using=using), connection.cursor() as cursor:
            tally_sqlite.compact(cursor, *_keep(), FOLDED)
    elif available(using):
        with connection.cursor() as cursor:
            cursor.execute("SELECT recruitment_tally_compact(%s, %s)", _keep())


def recount_differences(using: str = "default") -> list[tuple[Any, ...]]:
    """Keys where the tally and a fresh count from the tables disagree (empty when the tally is true)."""
    sqlite = connections[using].vendor == "sqlite"
    # SQLite sums money as floating point: compared to the cent.
    sums = ", ".join(
        f"ROUND(SUM({c}), 2) AS {c}" if sqlite and c != "n" else f"SUM({c}) AS {c}" for c in SUMS.split(", ")
    )
    # Both sides with the days long past folded as compaction folds them now.
    if sqlite:
        key = KEY.replace(", day", f", {tally_sqlite.fold(*_keep(), FOLDED)} AS day")
    else:
        key = _key(_fold(*(str(days) for days in _keep())))
    fresh = tally_sqlite.FRESH if sqlite else _FRESH
    groups = ", ".join(str(i) for i in range(1, 11))
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"""
            WITH tally AS (SELECT {key}, {sums} FROM {TABLE} GROUP BY {groups}),
                 fresh AS (SELECT {key}, {sums} FROM ({fresh}) f GROUP BY {groups}),
                 diff AS (
                    SELECT * FROM (SELECT * FROM tally EXCEPT SELECT * FROM fresh) AS gone
                    UNION ALL
                    SELECT * FROM (SELECT * FROM fresh EXCEPT SELECT * FROM tally) AS missing
                 )
            SELECT * FROM diff
            -- A key whose rows cancel out (not compacted yet) is no difference.
            WHERE n <> 0 OR planned <> 0 OR signed <> 0 OR funds <> 0 OR output <> 0
            ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
            """
        )
        return cursor.fetchall()
