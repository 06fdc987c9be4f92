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

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, Max, Min, OuterRef, Q, Subquery, Sum
from django.utils import timezone, translation

from crm.changes import changes_lock_for_render, changes_record
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


def facts_load(
    *, project_ids: Sequence[Any] | None, today: dt.date
) -> tuple[list[tuple[Any, ...]], dict[Any, lights.Facts], dict[Any, tuple[str, dt.date, Any]]]:
    """The signed projects (id, office, enterprise, owner, status), each one's facts, and their lights now."""
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


def lights_recompute(
    *, project_ids: Sequence[Any] | None = None, now: dt.datetime | None = None, open_orders: bool = True
) -> RecomputeResult:
    """Recompute the lights of ``project_ids`` (every signed project when None).

    A project that is not (or no longer) signed loses its light. The reasons are
    worded in the site's language, so a recompute in any request stores the same text.
    """
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
            reasons = [f.as_json() for f in verdict.findings]
            old = current.get(pid)
            since = lights.since(
                verdict.color,
                current_color=old[0] if old else None,
                current_since=old[1] if old else None,
                today=today,
            )
            if old is not None and old[0] == verdict.color and old[1] == since and old[2] == reasons:
                continue
            changed_rows.append((row, verdict.color, since, reasons, old[0] if old else None))
    signed_ids = {row[0] for row in projects}
    stale = ProjectLight.objects.exclude(project__status__in=SIGNED_OR_LATER)
    if project_ids is not None:
        stale = ProjectLight.objects.filter(project_id__in=[p for p in project_ids if p not in signed_ids])
    with transaction.atomic():
        cleared = list(stale.values_list("project_id", "project__office_id", "project__enterprise_id"))
        if cleared:
            clear_objs = [Project(pk=p, office_id=o, enterprise_id=e) for p, o, e in cleared]
            changes_lock_for_render(objects=clear_objs)
            ids = [c[0] for c in cleared]
            ProjectLight.objects.filter(project_id__in=ids).delete()
            LightPeriod.objects.filter(project_id__in=ids, ended__isnull=True).update(ended=today)
            changes_record(objects=clear_objs)
            result.cleared = ids
    for start in range(0, len(changed_rows), WRITE_CHUNK):
        _write(changed_rows[start : start + WRITE_CHUNK], today=today, now=now, result=result, open_orders=open_orders)
    return result


@transaction.atomic
def _write(
    rows: list[tuple[Any, ...]], *, today: dt.date, now: dt.datetime, result: RecomputeResult, open_orders: bool
) -> None:
    objs = [Project(pk=row[0], office_id=row[1], enterprise_id=row[2], owner_id=row[3]) for row, *_ in rows]
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
