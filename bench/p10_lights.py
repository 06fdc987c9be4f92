"""Lights of 10,000 signed projects with 24 months of plan and progress, against one SQL statement.

Builds (once; reused when present with the same size) 10,000 signed projects, each
with a landing plan (milestone dates around today), a 24-month cumulative
investment schedule and 24 monthly investment entries (some behind plan), written
with COPY, then ANALYZE. The lights are computed once (not timed). Then timed:
``lights_recompute()`` over every signed project in the steady state (nothing
changed: the nightly run on most nights), with its query count at the full size
and at a tenth (the count must not grow). The limit is one SQL statement that
computes the same colours from the same rows with the default rules (milestone
overdue, investment behind, no progress) and returns them; the two are checked to
agree before timing. ``--quick``: a tenth.
"""

from __future__ import annotations

import datetime as dt
import random
from argparse import Namespace
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from uuid_utils.compat import uuid7

TARGET_RATIO = 3.0
SEED = 10
MONTHS = 24


def _copy(model: Any, rows: Iterable[dict[str, Any]]) -> int:
    from django.db import connection, models

    fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField | models.BigAutoField)]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    n = 0
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[f.attname] if f.attname in row else f.get_default() for f in fields])
                n += 1
    return n


def _month_add(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _wipe(keep: Iterable[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM crm_office WHERE code LIKE 'bench-p10-%%' AND NOT code = ANY(%s)", [list(keep)])
        ids = [r[0] for r in cursor.fetchall()]
        if not ids:
            return
        for table in (
            "recruitment_lightperiod",
            "recruitment_projectlight",
            "recruitment_planinvestment",
            "recruitment_projectplan",
            "recruitment_projectstatuschange",
            "recruitment_supervisionordermove",
        ):
            column = "order_id" if table == "recruitment_supervisionordermove" else "project_id"
            inner = (
                "SELECT id FROM recruitment_supervisionorder WHERE office_id = ANY(%s)"
                if column == "order_id"
                else "SELECT id FROM recruitment_project WHERE office_id = ANY(%s)"
            )
            cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({inner})", [ids])
        cursor.execute("DELETE FROM recruitment_supervisionorder WHERE office_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM recruitment_progressentry WHERE office_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM crm_changeentry WHERE office_id = ANY(%s)", [ids])
        cursor.execute(
            "DELETE FROM recruitment_project_stages WHERE project_id IN "
            "(SELECT id FROM recruitment_project WHERE office_id = ANY(%s))",
            [ids],
        )
        cursor.execute("DELETE FROM recruitment_project WHERE office_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM crm_enterprise WHERE office_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM crm_office WHERE id = ANY(%s)", [ids])


def _code(n: int, today: dt.date) -> str:
    return f"bench-p10-{n}-{today:%Y%m}"


def ensure_data(n: int, today: dt.date, *, keep: Iterable[str] = ()) -> Any:
    """The office of the data set (built unless present with ``n`` projects)."""
    from django.db import transaction
    from django.utils import timezone

    from chains.models import Park, Zone
    from crm.models import Enterprise, Office
    from recruitment.models import PlanInvestment, ProgressEntry, Project, ProjectPlan, ProjectStatusChange

    code = _code(n, today)
    _wipe([code, *keep])
    office = Office.objects.filter(code=code).first()
    if office is not None and Project.objects.filter(office=office).count() == n:
        return office
    rng = random.Random(SEED)
    now = timezone.now()
    with transaction.atomic():
        office = Office.objects.create(code=code, name=code, kind=Office.Kind.PARK)
        zone = Zone.objects.filter(code="bench-p10").first() or Zone.objects.create(code="bench-p10", name="bench")
        park = Park.objects.filter(code="bench-p10").first() or Park.objects.create(
            code="bench-p10", name="bench p10", zone=zone
        )
        enterprise = Enterprise.objects.create(name=f"{code} 企业", office=office)
        start = _month_add(today.replace(day=1), -MONTHS + 3)
        statuses = ["signed", "registered", "construction", "production"]
        projects, plans, schedule, entries, changes = [], [], [], [], []
        for i in range(n):
            pid = uuid7()
            status = statuses[i % 4]
            projects.append(
                {
                    "id": pid,
                    "office_id": office.pk,
                    "title": f"落地项目{i}",
                    "enterprise_id": enterprise.pk,
                    "park_id": park.pk,
                    "status": status,
                    "status_changed_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            signed_at = dt.datetime.combine(start, dt.time(10), tzinfo=dt.UTC)
            changes.append(
                {
                    "id": uuid7(),
                    "project_id": pid,
                    "from_status": "negotiating",
                    "to_status": "signed",
                    "changed_at": signed_at,
                    "created_at": now,
                    "updated_at": now,
                    "note": "",
                }
            )
            shift = rng.randint(-8, 8)
            plans.append(
                {
                    "project_id": pid,
                    "registered": _month_add(start, 1 + shift // 4),
                    "construction": _month_add(start, 6 + shift) + dt.timedelta(days=14),
                    "production": _month_add(start, 14 + shift),
                    "at_capacity": _month_add(start, 22 + shift),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            pace = rng.choice([1.0, 0.95, 0.8, 0.6])
            total = Decimal(0)
            last = MONTHS - rng.choice([1, 1, 1, 3])
            for m in range(MONTHS):
                month = _month_add(start, m)
                total += Decimal(100000)
                schedule.append({"project_id": pid, "month": month, "cumulative": total})
                if m < last and month <= today:
                    entries.append(
                        {
                            "id": uuid7(),
                            "office_id": office.pk,
                            "project_id": pid,
                            "month": month,
                            "kind": "investment",
                            "amount": Decimal(int(100000 * pace)),
                            "milestone": "",
                            "reason": "",
                            "recorded_at": now,
                            "created_at": now,
                            "updated_at": now,
                            "external_id": "",
                            "version": 1,
                        }
                    )
        _copy(Project, projects)
        _copy(ProjectStatusChange, changes)
        _copy(ProjectPlan, plans)
        _copy(PlanInvestment, schedule)
        _copy(ProgressEntry, entries)
    from bench.harness import analyze

    analyze()
    return office


LIMIT_SQL = """
WITH p AS (
  SELECT id, status, CASE status WHEN 'signed' THEN 3 WHEN 'registered' THEN 4 WHEN 'construction' THEN 5
                                 WHEN 'production' THEN 6 WHEN 'at_capacity' THEN 7 ELSE 0 END AS rank
  FROM recruitment_project WHERE office_id = %(office)s AND status = ANY(%(signed)s)
), eff AS (
  SELECT e.project_id, e.kind, e.month, e.amount, e.milestone FROM recruitment_progressentry e
  WHERE e.office_id = %(office)s AND NOT EXISTS (SELECT 1 FROM recruitment_progressentry c WHERE c.corrects_id = e.id)
), agg AS (
  SELECT project_id, SUM(amount) FILTER (WHERE kind = 'investment' AND month <= %(as_of)s) AS actual,
         MAX(month) AS last_month, ARRAY_AGG(milestone) FILTER (WHERE kind = 'milestone') AS reached
  FROM eff GROUP BY project_id
), planned AS (
  SELECT DISTINCT ON (pi.project_id) pi.project_id, pi.cumulative FROM recruitment_planinvestment pi
  JOIN p ON p.id = pi.project_id WHERE pi.month <= %(as_of)s ORDER BY pi.project_id, pi.month DESC
), signed AS (
  SELECT s.project_id, MIN(s.changed_at) AS at FROM recruitment_projectstatuschange s JOIN p ON p.id = s.project_id
  WHERE s.to_status = 'signed' GROUP BY s.project_id
), facts AS (
  SELECT p.id,
    (SELECT MAX(%(t)s - (EXTRACT(YEAR FROM m.d) * 12 + EXTRACT(MONTH FROM m.d) - 1) + 1)
       FROM (VALUES ('registered', pl.registered, 4), ('construction', pl.construction, 5),
                    ('production', pl.production, 6), ('at_capacity', pl.at_capacity, 7)) AS m(name, d, rank)
      WHERE m.d IS NOT NULL AND m.d < %(today)s AND p.rank < m.rank
        AND NOT (m.name = ANY(COALESCE(a.reached, ARRAY[]::varchar[])))) AS overdue,
    CASE WHEN pn.cumulative > 0
         THEN ROUND((pn.cumulative - COALESCE(a.actual, 0)) * 100 / pn.cumulative, 1) END AS points,
    %(t)s - (EXTRACT(YEAR FROM COALESCE(a.last_month, (s.at AT TIME ZONE %(tz)s)::date)) * 12
             + EXTRACT(MONTH FROM COALESCE(a.last_month, (s.at AT TIME ZONE %(tz)s)::date)) - 1) AS idle
  FROM p LEFT JOIN recruitment_projectplan pl ON pl.project_id = p.id
  LEFT JOIN agg a ON a.project_id = p.id LEFT JOIN planned pn ON pn.project_id = p.id
  LEFT JOIN signed s ON s.project_id = p.id
)
SELECT id, CASE
  WHEN overdue >= %(m_red)s OR points > %(i_red)s THEN 'red'
  WHEN overdue >= %(m_yellow)s OR points >= %(i_yellow)s OR idle >= %(np_yellow)s THEN 'yellow'
  ELSE 'green' END
FROM facts
"""


def limit_colors(office_id: int, today: dt.date) -> dict[Any, str]:
    from django.conf import settings
    from django.db import connection

    from recruitment.models import WarningRule
    from recruitment.pipeline import SIGNED_OR_LATER

    rules = {r.kind: r for r in WarningRule.objects.filter(enabled=True)}
    params = {
        "office": office_id,
        "signed": sorted(SIGNED_OR_LATER),
        "as_of": _month_add(today.replace(day=1), -1),
        "today": today,
        "t": today.year * 12 + today.month - 1,
        "tz": settings.TIME_ZONE,
        "m_red": rules["milestone_overdue"].red_at,
        "m_yellow": rules["milestone_overdue"].yellow_at,
        "i_red": rules["investment_behind"].red_at,
        "i_yellow": rules["investment_behind"].yellow_at,
        "np_yellow": rules["no_progress"].yellow_at,
    }
    with connection.cursor() as cursor:
        cursor.execute(LIMIT_SQL, params)
        return dict(cursor.fetchall())


def run(args: Namespace) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from bench.harness import row, timeit
    from recruitment.lights_service import lights_recompute
    from recruitment.models import Project, ProjectLight

    n = 1000 if getattr(args, "quick", False) else 10_000
    today = timezone.localdate()
    small_n = max(n // 10, 10)
    small_office = ensure_data(small_n, today, keep=[_code(n, today)])
    office = ensure_data(n, today, keep=[_code(small_n, today)])
    ids = list(Project.objects.filter(office=office).values_list("pk", flat=True))
    small_ids = list(Project.objects.filter(office=small_office).values_list("pk", flat=True))
    lights_recompute(project_ids=small_ids, open_orders=False)
    lights_recompute(project_ids=ids, open_orders=False)  # the first computation writes every light
    ours_colors = dict(ProjectLight.objects.filter(project__office=office).values_list("project_id", "color"))
    limit = limit_colors(office.pk, today)
    disagree = sum(1 for pid, color in limit.items() if ours_colors.get(pid) != color)
    if disagree:
        raise AssertionError(f"{disagree} of {len(limit)} colours differ from the SQL limit")
    with CaptureQueriesContext(connection) as small_q:
        lights_recompute(project_ids=small_ids, open_orders=False)
    with CaptureQueriesContext(connection) as big_q:
        lights_recompute(project_ids=ids, open_orders=False)
    ours = timeit(lambda: lights_recompute(project_ids=ids, open_orders=False), repeat=3)
    base = timeit(lambda: limit_colors(office.pk, today), repeat=3)
    counts = {c: sum(1 for v in limit.values() if v == c) for c in ("green", "yellow", "red")}
    return [
        row(
            f"P10 recompute {n} lights",
            ours,
            base,
            "one_sql",
            queries=f"{len(big_q.captured_queries)} (at {len(small_ids)}: {len(small_q.captured_queries)})",
            colours=f"{counts['green']}/{counts['yellow']}/{counts['red']}",
            target=f"<= {TARGET_RATIO}x",
        )
    ]
