"""The monthly ledger of 5,000 signed projects with 24 months of entries, as JSON and Excel, against one SQL statement.

Builds (once; reused when present with the same size) a park office with 5,000 signed
projects: signed before the 24 months (2% signed in the measured month itself), the
signed amount's history (10% with a capital increase in the measured month), and per
project 24 monthly investment entries, a funds-in-place entry every third month with
an evidence row (those of the measured month without one for a tenth of the projects),
two milestone entries with evidence, and a correction for 1% — written with COPY, then
ANALYZE. Timed: ``GET /api/v1/reports/monthly/?month=`` through the API with the
office's key (the JSON), the Excel export of the same month (computation included),
and the limit: one SQL statement computing every row's figures (signed amount counted,
investment in the month and cumulative, funds in the month and in total with evidence
only, milestone, missing evidence) from the same rows. Ours and the limit are checked
to agree before timing; the query count is taken at the full size and at a tenth.
``--quick``: a tenth.
"""

from __future__ import annotations

import datetime as dt
import uuid
from argparse import Namespace
from decimal import Decimal
from typing import Any

from uuid_utils.compat import uuid7

TARGET_RATIO = 3.0
TARGET_EXCEL_SECONDS = 10.0
MONTHS = 24


def _month_add(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _code(n: int, month: dt.date) -> str:
    return f"bench-p11-{n}-{month:%Y%m}"


def _wipe(keep: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM crm_office WHERE code LIKE 'bench-p11-%%' AND NOT code = ANY(%s)", [keep])
        ids = [r[0] for r in cursor.fetchall()]
        if not ids:
            return
        projects = "SELECT id FROM recruitment_project WHERE office_id = ANY(%s)"
        cursor.execute("DELETE FROM ledger_evidencefile WHERE office_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM ledger_ledgercorrection WHERE office_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM ledger_ledgersubmission WHERE office_id = ANY(%s)", [ids])
        cursor.execute("UPDATE recruitment_progressentry SET corrects_id = NULL WHERE office_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM recruitment_progressentry WHERE office_id = ANY(%s)", [ids])
        for table in ("recruitment_projectstatuschange", "recruitment_projectplan", "recruitment_project_stages"):
            cursor.execute(f"DELETE FROM {table} WHERE project_id IN ({projects})", [ids])
        cursor.execute(f"DELETE FROM recruitment_historicalproject WHERE id IN ({projects})", [ids])
        cursor.execute("DELETE FROM crm_changeentry WHERE office_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM api_apikey WHERE office_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM crm_user WHERE office_id = ANY(%s)", [ids])  # the keys' users
        cursor.execute("DELETE FROM recruitment_project WHERE office_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM crm_enterprise WHERE office_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM crm_office WHERE id = ANY(%s)", [ids])


def _entry(office_id: int, pid: Any, month: dt.date, kind: str, now: dt.datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": uuid7(),
        "office_id": office_id,
        "project_id": pid,
        "month": month,
        "kind": kind,
        "amount": None,
        "milestone": "",
        "reason": "",
        "recorded_at": now,
        "created_at": now,
        "updated_at": now,
        "external_id": "",
        "version": 1,
        **extra,
    }


def ensure_data(n: int, month: dt.date, *, keep: list[str]) -> Any:
    """The office of the data set for ``month`` (built unless present with ``n`` projects)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from bench.p10_lights import _copy
    from chains.models import Park, Zone
    from crm.models import Enterprise, Office
    from ledger.models import EvidenceFile
    from recruitment.models import ProgressEntry, Project, ProjectStatusChange

    code = _code(n, month)
    _wipe([code, *keep])
    office = Office.objects.filter(code=code).first()
    if office is not None and Project.objects.filter(office=office).count() == n:
        return office
    now = timezone.now()
    start = _month_add(month, -MONTHS + 1)
    before = timezone.make_aware(dt.datetime.combine(_month_add(start, -1), dt.time(10)))
    in_month = timezone.make_aware(dt.datetime.combine(month.replace(day=8), dt.time(10)))
    increase_at = timezone.make_aware(dt.datetime.combine(month.replace(day=20), dt.time(10)))
    with transaction.atomic():
        office = Office.objects.create(code=code, name=code, kind=Office.Kind.PARK)
        zone = Zone.objects.filter(code="bench-p11").first() or Zone.objects.create(code="bench-p11", name="bench")
        park = Park.objects.filter(code="bench-p11").first() or Park.objects.create(
            code="bench-p11", name="bench p11", zone=zone
        )
        enterprises = [
            Enterprise.objects.create(name=f"{code} 企业 {i}", office=office, province="广东省" if i else "山西省")
            for i in range(2)
        ]
        projects, changes, entries, evidence, increases = [], [], [], [], []
        for i in range(n):
            pid = uuid7()
            signed_at = in_month if i % 50 == 0 else before
            amount = Decimal(100_000_000 + (i % 7) * 10_000_000)
            projects.append(
                {
                    "id": pid,
                    "office_id": office.pk,
                    "title": f"台账项目{i:05d}",
                    "enterprise_id": enterprises[i % 2].pk,
                    "park_id": park.pk,
                    "status": "construction" if i % 2 else "registered",
                    "status_changed_at": signed_at,
                    "signed_amount": amount,
                    "created_at": signed_at - dt.timedelta(days=20),
                    "updated_at": now,
                }
            )
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
            if i % 10 == 1:
                increases.append((pid, amount + Decimal(20_000_000)))
            first = month if i % 50 == 0 else start
            m = first
            while m <= month:
                k = (m.year - start.year) * 12 + m.month - start.month
                inv = _entry(office.pk, pid, m, "investment", now, amount=Decimal(1_000_000 + (i % 5) * 100_000))
                entries.append(inv)
                if i % 100 == 3 and m == _month_add(month, -2):
                    entries.append(
                        _entry(
                            office.pk,
                            pid,
                            m,
                            "investment",
                            now,
                            amount=Decimal(900_000),
                            corrects_id=inv["id"],
                            reason="核减",
                        )
                    )
                if k % 3 == 2 or m == month:
                    funds = _entry(office.pk, pid, m, "funds", now, amount=Decimal(2_500_000))
                    entries.append(funds)
                    if not (m == month and i % 10 == 0):
                        evidence.append(funds["id"])
                if k in (1, 6) or (m == month and i % 4 == 0):
                    milestone = {1: "registered", 6: "construction"}.get(k, "production")
                    reached = _entry(office.pk, pid, m, "milestone", now, milestone=milestone, date=m.replace(day=15))
                    entries.append(reached)
                    evidence.append(reached["id"])
                m = _month_add(m, 1)
        _copy(Project, projects)
        _copy(ProjectStatusChange, changes)
        _copy(ProgressEntry, [e for e in entries if "corrects_id" not in e])
        _copy(ProgressEntry, [e for e in entries if "corrects_id" in e])
        _copy(
            EvidenceFile,
            (
                {
                    "id": uuid.uuid4(),  # random, as the upload gives an evidence file
                    "entry_id": entry_id,
                    "office_id": office.pk,
                    "kind": "bank_slip",
                    "file": f"evidence/bench/{entry_id}",
                    "name": "slip.pdf",
                    "content_type": "application/pdf",
                    "size": 1000,
                    "uploaded_at": now,
                }
                for entry_id in evidence
            ),
        )
        with connection.cursor() as cursor:
            # The signed amount's history: one row at signing, a second at the increase.
            columns = [
                f.column
                for f in Project.history.model._meta.concrete_fields
                if f.column not in ("history_id", "history_date", "history_change_reason", "history_type")
                and f.column not in ("history_user_id",)
            ]
            listed = ", ".join(columns)
            cursor.execute(
                f"INSERT INTO recruitment_historicalproject ({listed}, history_date, history_type) "
                f"SELECT {listed}, status_changed_at, '+' FROM recruitment_project WHERE office_id = %s",
                [office.pk],
            )
            for pid, amount in increases:
                cursor.execute(
                    f"INSERT INTO recruitment_historicalproject ({listed}, history_date, history_type) "
                    f"SELECT {', '.join('%s' if c == 'signed_amount' else c for c in columns)}, %s, '~' "
                    "FROM recruitment_project WHERE id = %s",
                    [amount, increase_at, pid],
                )
            cursor.execute(
                "UPDATE recruitment_project p SET signed_amount = h.signed_amount FROM recruitment_historicalproject h "
                "WHERE h.id = p.id AND h.history_type = '~' AND p.office_id = %s",
                [office.pk],
            )
    from bench.harness import analyze

    analyze()
    return office


LIMIT_SQL = """
WITH p AS (
  SELECT id FROM recruitment_project WHERE office_id = %(office)s AND created_at < %(end)s
), first AS (
  SELECT s.project_id, MIN(s.changed_at) AS at FROM recruitment_projectstatuschange s JOIN p ON p.id = s.project_id
  WHERE s.to_status = 'signed' AND s.changed_at < %(end)s GROUP BY s.project_id
), h AS (
  SELECT h.id,
    (ARRAY_AGG(h.signed_amount ORDER BY h.history_date DESC, h.history_id DESC)
       FILTER (WHERE (h.history_date AT TIME ZONE %(tz)s)::date < %(following)s))[1] AS amount_end,
    (ARRAY_AGG(h.signed_amount ORDER BY h.history_date DESC, h.history_id DESC)
       FILTER (WHERE (h.history_date AT TIME ZONE %(tz)s)::date < %(month)s))[1] AS amount_prev
  FROM recruitment_historicalproject h JOIN p ON p.id = h.id WHERE h.history_date < %(end)s GROUP BY h.id
), e AS (
  SELECT e.project_id, e.kind, e.month, e.amount, e.milestone,
         EXISTS (SELECT 1 FROM ledger_evidencefile f WHERE f.entry_id = e.id) AS evidenced
  FROM recruitment_progressentry e
  WHERE e.office_id = %(office)s AND e.month <= %(month)s
    AND NOT EXISTS (SELECT 1 FROM recruitment_progressentry c WHERE c.corrects_id = e.id AND c.month <= %(month)s)
), agg AS (
  SELECT project_id,
    COALESCE(SUM(amount) FILTER (WHERE kind = 'investment' AND month = %(month)s), 0) AS inv_m,
    COALESCE(SUM(amount) FILTER (WHERE kind = 'investment'), 0) AS inv_c,
    COALESCE(SUM(amount) FILTER (WHERE kind = 'funds' AND evidenced AND month = %(month)s), 0) AS funds_m,
    COALESCE(SUM(amount) FILTER (WHERE kind = 'funds' AND evidenced), 0) AS funds_t,
    MAX(ARRAY_POSITION(ARRAY['registered', 'construction', 'production', 'at_capacity']::varchar[], milestone))
      FILTER (WHERE kind = 'milestone' AND month = %(month)s) AS milestone,
    BOOL_OR(kind = 'funds' AND NOT evidenced AND month = %(month)s) AS funds_missing,
    BOOL_OR(kind = 'milestone' AND NOT evidenced AND month = %(month)s) AS milestone_missing
  FROM e GROUP BY project_id
)
SELECT p.id,
  CASE WHEN DATE_TRUNC('month', first.at AT TIME ZONE %(tz)s)::date = %(month)s THEN COALESCE(h.amount_end, 0)
       ELSE GREATEST(COALESCE(h.amount_end, 0) - COALESCE(h.amount_prev, 0), 0) END AS counted,
  COALESCE(a.inv_m, 0), COALESCE(a.inv_c, 0), COALESCE(a.funds_m, 0), COALESCE(a.funds_t, 0),
  a.milestone, COALESCE(a.funds_missing, FALSE), COALESCE(a.milestone_missing, FALSE)
FROM p JOIN first ON first.project_id = p.id
LEFT JOIN h ON h.id = p.id LEFT JOIN agg a ON a.project_id = p.id
"""


def limit_rows(office_id: int, month: dt.date) -> list[tuple[Any, ...]]:
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    following = _month_add(month, 1)
    params = {
        "office": office_id,
        "month": month,
        "following": following,
        "end": timezone.make_aware(dt.datetime.combine(following, dt.time.min)),
        "tz": settings.TIME_ZONE,
    }
    with connection.cursor() as cursor:
        cursor.execute(LIMIT_SQL, params)
        return cursor.fetchall()


def _agree(ours: dict[str, Any], limit: list[tuple[Any, ...]]) -> None:
    """The limit's rows and ours: the same projects and the same sums of every figure."""
    rows = ours["rows"]
    if len(rows) != len(limit):
        raise AssertionError(f"{len(rows)} rows, the limit has {len(limit)}")
    for index, key in enumerate(
        ("signed_amount_counted", "investment_month", "investment_cumulative", "funds_month", "funds_total"),
        start=1,
    ):
        mine = sum(Decimal(r[key]) for r in rows)
        theirs = sum(Decimal(r[index]) for r in limit)
        if mine != theirs:
            raise AssertionError(f"{key}: {mine} against the limit's {theirs}")
    missing = sum(bool(r["evidence_missing"]) for r in rows)
    if missing != sum(bool(r[7] or r[8]) for r in limit):
        raise AssertionError("evidence_missing differs from the limit")
    milestones = sum(r["milestone"] is not None for r in rows)
    if milestones < sum(r[6] is not None for r in limit):
        raise AssertionError("milestones differ from the limit")


def run(args: Namespace) -> list[dict[str, Any]]:
    import time

    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from api.api_keys import api_key_create
    from bench.harness import row, timeit
    from ledger import ledger_rules as rules
    from ledger.exports import ledger_xlsx
    from ledger.selectors import ledger_compute, ledger_month

    n = 500 if getattr(args, "quick", False) else 5_000
    small_n = max(n // 10, 10)
    month = rules.previous_month(rules.month_of(timezone.localdate()))
    small = ensure_data(small_n, month, keep=[_code(n, month)])
    office = ensure_data(n, month, keep=[_code(small_n, month)])
    ours = ledger_compute(office=office, month=month)
    limit = limit_rows(office.pk, month)
    _agree(ours, limit)

    client = Client()
    keys = {o.pk: api_key_create(office=o, label="bench p11").raw for o in (office, small)}

    def get_json(o: Any) -> bytes:
        response = client.get(
            "/api/v1/reports/monthly/", {"month": f"{month:%Y-%m}"}, HTTP_AUTHORIZATION=f"Bearer {keys[o.pk]}"
        )
        if response.status_code != 200:
            raise AssertionError(f"reports/monthly/ answered {response.status_code}: {response.content[:300]!r}")
        return response.content

    def excel() -> bytes:
        return ledger_xlsx(ledger_month(office=office, month=month))

    def queries(o: Any) -> int:
        """Statements one request runs (counted by a wrapper: a request resets ``connection.queries``)."""
        count = [0]

        def counter(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            count[0] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counter):
            get_json(o)
        return count[0]

    get_json(office)
    get_json(small)  # a key's first use writes once; count the steady state
    small_q, big_q = queries(small), queries(office)
    json_time = timeit(lambda: get_json(office), repeat=3)
    base = timeit(lambda: limit_rows(office.pk, month), repeat=3)
    start = time.perf_counter()
    workbook = excel()
    excel_time = time.perf_counter() - start
    return [
        row(
            f"P11 ledger JSON {n} projects",
            json_time,
            base,
            "one_sql",
            queries=f"{big_q} (at {small_n}: {small_q})",
            body_kb=len(get_json(office)) // 1024,
            target=f"<= {TARGET_RATIO}x",
        ),
        row(
            f"P11 ledger Excel {n} projects",
            excel_time,
            base,
            "one_sql",
            xlsx_kb=len(workbook) // 1024,
            target=f"<= {TARGET_EXCEL_SECONDS:.0f} s",
        ),
    ]
