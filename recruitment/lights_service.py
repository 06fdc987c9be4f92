"""Recomputing lights set-based: a fixed number of reads whatever the number of projects.

Reads (one query each): the enabled rules, the signed projects, their plans, their
investment schedules, their progress entries, the valid reasons in force and the
lights as they stand. The colours are computed by :mod:`recruitment.lights` (pure).
Only what changed is written: the current light (one upsert), the light history
(close the old colour, open the new one), the change feed (the project's JSON
shows its light) and, for a project that turned red, an automatic supervision order.

Two recomputes may run at once (the nightly task and a write's own recompute):
every write is an upsert or guarded by a unique constraint, and the feed's render
locks are taken before any row lock, in the order every other writer takes them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, Max, Min, OuterRef, Q, Subquery, Sum
from django.utils import timezone, translation

from crm.changes import changes_lock_for_render, changes_record
from crm.pg import array_literal
from recruitment import lights
from recruitment.landing_models import (
    LightPeriod,
    PlanInvestment,
    ProgressEntry,
    ProjectLight,
    ProjectPlan,
    RuleSuspension,
    WarningRule,
)
from recruitment.models import Project, ProjectStatusChange
from recruitment.pipeline import SIGNED_OR_LATER, Status

WRITE_CHUNK = 2000


@dataclass
class RecomputeResult:
    evaluated: int = 0
    changed: list[Any] = field(default_factory=list)
    turned_red: list[Any] = field(default_factory=list)
    cleared: list[Any] = field(default_factory=list)
    orders: list[Any] = field(default_factory=list)


def rules_load() -> list[lights.Rule]:
    return [
        lights.Rule(code, kind, yellow, red)
        for code, kind, yellow, red in WarningRule.objects.filter(enabled=True)
        .order_by("code")
        .values_list("code", "kind", "yellow_at", "red_at")
    ]


def _scoped(qs: Any, project_ids: Sequence[Any] | None, *, field_name: str = "project") -> Any:
    if project_ids is not None:
        return qs.filter(**{f"{field_name}_id__in_array": list(project_ids)})
    return qs.filter(**{f"{field_name}__status__in": SIGNED_OR_LATER})


FactsLoaded = tuple[list[tuple[Any, ...]], dict[Any, lights.Facts], dict[Any, tuple[str, dt.date, Any]]]


def facts_load(*, project_ids: Sequence[Any] | None, today: dt.date) -> FactsLoaded:
    """The signed projects (id, office, enterprise, owner, status), each one's facts, and their lights now.

    On PostgreSQL one statement reads everything (:func:`_facts_load_pg`); elsewhere
    one query per table."""
    if connection.vendor == "postgresql":
        return _facts_load_pg(project_ids=project_ids, today=today)
    return _facts_load_orm(project_ids=project_ids, today=today)


_FACTS_SQL = """
WITH p AS (
  SELECT id, office_id, enterprise_id, owner_id, status FROM recruitment_project
  WHERE status = ANY(%(signed)s::varchar[]) {only}
), eff AS (
  SELECT e.project_id, e.kind, e.month, e.amount, e.milestone, e.date
  FROM recruitment_progressentry e JOIN p ON p.id = e.project_id
  WHERE NOT EXISTS (SELECT 1 FROM recruitment_progressentry c WHERE c.corrects_id = e.id)
), agg AS (
  SELECT project_id,
         SUM(amount) FILTER (WHERE kind = 'investment' AND month <= %(as_of)s) AS actual,
         MAX(month) AS last_month,
         MIN(date) FILTER (WHERE kind = 'milestone' AND milestone = 'registered') AS r_registered,
         MIN(date) FILTER (WHERE kind = 'milestone' AND milestone = 'construction') AS r_construction,
         MIN(date) FILTER (WHERE kind = 'milestone' AND milestone = 'production') AS r_production,
         MIN(date) FILTER (WHERE kind = 'milestone' AND milestone = 'at_capacity') AS r_at_capacity,
         -- milestones the four columns do not name (none today), kept for the pure layer
         ARRAY_AGG(milestone || '=' || date::text) FILTER (
           WHERE kind = 'milestone' AND milestone NOT IN ('registered', 'construction', 'production', 'at_capacity')
         ) AS r_other
  FROM eff GROUP BY project_id
), planned AS (
  SELECT DISTINCT ON (pi.project_id) pi.project_id, pi.month, pi.cumulative
  FROM recruitment_planinvestment pi JOIN p ON p.id = pi.project_id
  WHERE pi.month <= %(as_of)s ORDER BY pi.project_id, pi.month DESC
), signed AS (
  SELECT s.project_id, MIN(s.changed_at) AS at
  FROM recruitment_projectstatuschange s JOIN p ON p.id = s.project_id
  WHERE s.to_status = 'signed' GROUP BY s.project_id
), suspended AS (
  SELECT rs.project_id, ARRAY_AGG(w.code) AS codes
  FROM recruitment_rulesuspension rs JOIN p ON p.id = rs.project_id
  JOIN recruitment_warningrule w ON w.id = rs.rule_id
  WHERE rs.until >= %(today)s GROUP BY rs.project_id
)
SELECT p.id, p.office_id, p.enterprise_id, p.owner_id, p.status, (s.at AT TIME ZONE %(tz)s)::date,
       pl.registered, pl.construction, pl.production, pl.at_capacity,
       pn.month, pn.cumulative, a.actual, a.last_month,
       a.r_registered, a.r_construction, a.r_production, a.r_at_capacity, a.r_other,
       su.codes, l.color, l.since, l.reasons::text
FROM p
LEFT JOIN recruitment_projectplan pl ON pl.project_id = p.id
LEFT JOIN planned pn ON pn.project_id = p.id
LEFT JOIN agg a ON a.project_id = p.id
LEFT JOIN signed s ON s.project_id = p.id
LEFT JOIN suspended su ON su.project_id = p.id
LEFT JOIN recruitment_projectlight l ON l.project_id = p.id
"""


def _facts_load_pg(*, project_ids: Sequence[Any] | None, today: dt.date) -> FactsLoaded:
    """:func:`facts_load` in one statement: the rules' inputs aggregated by the database, one row a project.

    The same reads as :func:`_facts_load_orm` (the planned amount by the last finished
    month, the effective investment up to it, the last month with an entry, the first
    date of each milestone reached, the valid reasons in force, the light as it stands)
    with each table scanned once, and the current reasons as text for orjson.
    """
    as_of = lights.month_of(lights.month_index(today) - 1)
    params: dict[str, Any] = {
        "signed": array_literal(sorted(SIGNED_OR_LATER)),
        "as_of": as_of,
        "today": today,
        "tz": timezone.get_current_timezone_name(),
    }
    only = ""
    if project_ids is not None:
        only = "AND id = ANY(%(ids)s::uuid[])"
        params["ids"] = array_literal(project_ids)
    with connection.cursor() as cursor:
        cursor.execute(_FACTS_SQL.format(only=only), params)
        rows = cursor.fetchall()
    projects: list[tuple[Any, ...]] = []
    facts: dict[Any, lights.Facts] = {}
    current: dict[Any, tuple[str, dt.date, Any]] = {}
    empty: frozenset[str] = frozenset()
    for (
        pid,
        office,
        enterprise,
        owner,
        status,
        signed,
        p_registered,
        p_construction,
        p_production,
        p_at_capacity,
        plan_month,
        plan_cumulative,
        actual,
        last_month,
        r_registered,
        r_construction,
        r_production,
        r_at_capacity,
        r_other,
        suspended,
        color,
        since,
        reasons,
    ) in rows:
        projects.append((pid, office, enterprise, owner, status, signed))
        reached = {
            name: day
            for name, day in (
                ("registered", r_registered),
                ("construction", r_construction),
                ("production", r_production),
                ("at_capacity", r_at_capacity),
            )
            if day is not None
        }
        for item in r_other or ():
            name, _sep, day = item.partition("=")
            reached[name] = min(reached.get(name, dt.date.max), dt.date.fromisoformat(day))
        if color is not None:
            current[pid] = (color, since, reasons)  # reasons as text, decoded only when compared
        facts[pid] = lights.Facts(
            status=status,
            signed_on=signed,  # the local date of signing, from the database
            planned=(
                {
                    "registered": p_registered,
                    "construction": p_construction,
                    "production": p_production,
                    "at_capacity": p_at_capacity,
                }
                if p_registered or p_construction or p_production or p_at_capacity
                else {}
            ),
            reached=reached,
            schedule=((plan_month, plan_cumulative),) if plan_month is not None else (),
            investment=((as_of, actual),) if actual is not None else (),
            last_entry_month=last_month,
            suspended=frozenset(suspended) if suspended else empty,
            current_color=color,
            current_since=since,
        )
    return projects, facts, current


def _facts_load_orm(*, project_ids: Sequence[Any] | None, today: dt.date) -> FactsLoaded:
    """:func:`facts_load` one query per table (SQLite)."""
    signed_on = (
        ProjectStatusChange.objects.filter(project=OuterRef("pk"), to_status=Status.SIGNED)
        .values("project")
        .annotate(first=Min("changed_at"))
        .values("first")
    )
    projects_qs = Project.objects.filter(status__in=SIGNED_OR_LATER)
    if project_ids is not None:
        projects_qs = projects_qs.filter(pk__in_array=list(project_ids))
    projects = list(
        projects_qs.annotate(signed_on=Subquery(signed_on)).values_list(
            "pk", "office_id", "enterprise_id", "owner_id", "status", "signed_on"
        )
    )
    planned: dict[Any, dict[str, dt.date | None]] = {}
    for pid, *dates in _scoped(ProjectPlan.objects, project_ids).values_list(
        "project_id", "registered", "construction", "production", "at_capacity"
    ):
        planned[pid] = dict(zip(lights.LANDING, dates, strict=True))
    # Only what the rules read, aggregated by the database: the cumulative amount planned by the
    # last finished month, the effective investment up to it, the last month with an entry and
    # the milestones reached (an entry another entry corrects no longer counts).
    as_of = lights.month_of(lights.month_index(today) - 1)
    latest = _scoped(PlanInvestment.objects, project_ids).filter(month__lte=as_of).order_by("project_id", "-month")
    if connection.vendor == "postgresql":
        latest = latest.distinct("project_id")  # elsewhere the first row of each project is kept below
    schedule: dict[Any, list[tuple[dt.date, Any]]] = {}
    for pid, month, cumulative in latest.values_list("project_id", "month", "cumulative"):
        schedule.setdefault(pid, [(month, cumulative)])
    effective = _scoped(ProgressEntry.objects, project_ids).filter(
        ~Exists(ProgressEntry.objects.filter(corrects=OuterRef("pk")))
    )
    investment: dict[Any, list[tuple[dt.date, Any]]] = {}
    last_month: dict[Any, dt.date] = {}
    for pid, actual, last in (
        effective.values("project_id")
        .annotate(actual=Sum("amount", filter=Q(kind="investment", month__lte=as_of)), last=Max("month"))
        .values_list("project_id", "actual", "last")
        .order_by()
    ):
        last_month[pid] = last
        if actual is not None:
            investment[pid] = [(as_of, actual)]
    reached: dict[Any, dict[str, dt.date]] = defaultdict(dict)
    for pid, milestone, date in (
        effective.filter(kind="milestone")
        .values("project_id", "milestone")
        .annotate(first=Min("date"))
        .values_list("project_id", "milestone", "first")
        .order_by()
    ):
        reached[pid][milestone] = date
    suspended: dict[Any, set[str]] = defaultdict(set)
    for pid, code in (
        _scoped(RuleSuspension.objects, project_ids).filter(until__gte=today).values_list("project_id", "rule__code")
    ):
        suspended[pid].add(code)
    current = {
        pid: (color, since, reasons)
        for pid, color, since, reasons in ProjectLight.objects.filter(
            **({"project_id__in_array": list(project_ids)} if project_ids is not None else {})
        ).values_list("project_id", "color", "since", "reasons")
    }
    facts = {}
    for pid, _office, _enterprise, _owner, status, signed in projects:
        now_color, now_since, _reasons = current.get(pid, (None, None, None))
        facts[pid] = lights.Facts(
            status=status,
            signed_on=timezone.localdate(signed) if signed is not None else None,
            planned=planned.get(pid, {}),
            reached=reached.get(pid, {}),
            schedule=schedule.get(pid, ()),
            investment=investment.get(pid, ()),
            last_entry_month=last_month.get(pid),
            suspended=frozenset(suspended.get(pid, ())),
            current_color=now_color,
            current_since=now_since,
        )
    return projects, facts, current


def same_reasons(stored: Any, findings: Sequence[lights.Finding]) -> bool:
    """Whether the stored reasons (a list, or its JSON text) are these findings: the same rules,
    kinds, colours and facts in the same order. The words follow from those, so they are not compared
    (nor worded) for a light that stays as it is."""
    if isinstance(stored, str):
        if not findings:
            return stored == "[]"
        stored = orjson.loads(stored)
    if len(stored) != len(findings):
        return False
    try:
        old = [(r["rule"], r["kind"], r["color"], r["params"]) for r in stored]
    except (KeyError, TypeError):  # written before reasons kept their facts: word them again
        return False
    return old == [(f.rule, f.kind, f.color, f.params) for f in findings]


def lights_recompute(
    *,
    project_ids: Sequence[Any] | None = None,
    now: dt.datetime | None = None,
    open_orders: bool = True,
    feed: bool = True,
) -> RecomputeResult:
    """Recompute the lights of ``project_ids`` (every signed project when None).

    A project that is not (or no longer) signed loses its light. The reasons are
    worded in the site's language, so a recompute in any request stores the same text.
    A project whose light changes gets its change-feed entry again, unless ``feed`` is
    False: then the caller records the feed entries of every project of ``project_ids``
    after this, in the same transaction (an import that has just written them renders
    each project once, its light included).
    """
    if not feed and project_ids is None:
        raise ValueError("feed=False needs the projects whose feed entries the caller records")
    now = now or timezone.now()
    today = timezone.localdate(now)
    result = RecomputeResult()
    rules = rules_load()
    projects, facts, current = facts_load(project_ids=project_ids, today=today)
    result.evaluated = len(projects)
    changed_rows: list[tuple[Any, ...]] = []
    with translation.override(settings.LANGUAGE_CODE):
        for row in projects:
            pid = row[0]
            verdict = lights.evaluate(facts[pid], rules, today)
            old = current.get(pid)
            since = lights.since(
                verdict.color,
                current_color=old[0] if old else None,
                current_since=old[1] if old else None,
                today=today,
            )
            if (
                old is not None
                and old[0] == verdict.color
                and old[1] == since
                and same_reasons(old[2], verdict.findings)
            ):
                continue
            # Worded only when written: most nights most lights stay as they are.
            reasons = [f.as_json() for f in verdict.findings]
            changed_rows.append((row, verdict.color, since, reasons, old[0] if old else None))
    signed_ids = {row[0] for row in projects}
    stale = ProjectLight.objects.exclude(project__status__in=SIGNED_OR_LATER)
    if project_ids is not None:
        stale = ProjectLight.objects.filter(project_id__in=[p for p in project_ids if p not in signed_ids])
    with transaction.atomic():
        cleared = list(stale.values_list("project_id", "project__office_id", "project__enterprise_id"))
        if cleared:
            clear_objs = [Project(pk=p, office_id=o, enterprise_id=e) for p, o, e in cleared]
            if feed:
                changes_lock_for_render(objects=clear_objs)
            ids = [c[0] for c in cleared]
            ProjectLight.objects.filter(project_id__in=ids).delete()
            LightPeriod.objects.filter(project_id__in=ids, ended__isnull=True).update(ended=today)
            if feed:
                changes_record(objects=clear_objs)
            result.cleared = ids
    for start in range(0, len(changed_rows), WRITE_CHUNK):
        _write(
            changed_rows[start : start + WRITE_CHUNK],
            today=today,
            now=now,
            result=result,
            open_orders=open_orders,
            feed=feed,
        )
    return result


@transaction.atomic
def _write(
    rows: list[tuple[Any, ...]],
    *,
    today: dt.date,
    now: dt.datetime,
    result: RecomputeResult,
    open_orders: bool,
    feed: bool,
) -> None:
    objs = [Project(pk=row[0], office_id=row[1], enterprise_id=row[2], owner_id=row[3]) for row, *_ in rows]
    if feed:
        changes_lock_for_render(objects=objs)
    ProjectLight.objects.bulk_create(
        [
            ProjectLight(project_id=row[0], color=color, since=since, reasons=reasons, computed_at=now)
            for row, color, since, reasons, _old in rows
        ],
        update_conflicts=True,
        unique_fields=["project"],
        update_fields=["color", "since", "reasons", "computed_at"],
    )
    recoloured = [(row, color, reasons) for row, color, _since, reasons, old in rows if old != color]
    if recoloured:
        ids = [row[0] for row, *_ in recoloured]
        LightPeriod.objects.filter(project_id__in=ids, ended__isnull=True).update(ended=today)
        LightPeriod.objects.bulk_create(
            [
                LightPeriod(project_id=row[0], color=color, began=today, reasons=reasons)
                for row, color, reasons in recoloured
            ],
            ignore_conflicts=True,
        )
    if feed:
        changes_record(objects=objs)
    result.changed.extend(o.pk for o in objs)
    red = [
        obj
        for obj, (row, color, _s, _r, old) in zip(objs, rows, strict=True)
        if color == lights.RED and old != lights.RED
    ]
    result.turned_red.extend(o.pk for o in red)
    if red and open_orders:
        from recruitment.supervision import orders_open_automatically

        reasons_by = {row[0]: reasons for row, _c, _s, reasons, _o in rows}
        result.orders.extend(orders_open_automatically(projects=red, reasons=reasons_by, today=today, now=now))
