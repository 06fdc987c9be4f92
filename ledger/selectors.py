"""Reads of the monthly ledger: the month computed from recorded facts, in a fixed number of queries.

:func:`ledger_compute` builds an office's (or the province's) ledger for a month from
status changes, the signed amount's history and progress entries, under the rules
of :mod:`ledger.ledger_rules`. :func:`ledger_month` answers with the stored snapshot
when the month was submitted. Amounts leave as decimal strings in yuan.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils import timezone

from chains.models import Chain
from crm.models import Office
from ledger import ledger_rules as rules
from ledger.lights import LIGHT_FIELD, light_value
from ledger.models import EvidenceFile, LedgerCorrection, LedgerSubmission
from recruitment.landing_models import ProgressEntry
from recruitment.models import Project, ProjectStatusChange

AMOUNT_KEYS = ("investment_month", "investment_cumulative", "funds_month", "funds_total")
ROW_KEYS = (
    "project",
    "signed_amount_counted",
    "investment_month",
    "investment_cumulative",
    "funds_month",
    "funds_total",
    "milestone",
    "light",
    "evidence_missing",
)
TOTAL_KEYS = ("new_signed_count", "new_signed_amount", *AMOUNT_KEYS)
RATE_KEYS = ("signing", "construction", "production", "funds_in_place")


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime(day.year, day.month, day.day))


def _local_date(when: dt.datetime) -> dt.date:
    return timezone.localtime(when).date()


def _scoped(qs, office: Office | None, field: str = "office"):  # type: ignore[no-untyped-def]
    return qs if office is None else qs.filter(**{field: office})


def home_province() -> str:
    return getattr(settings, "LEDGER_HOME_PROVINCE", "")


def _out_of_province(province: str) -> bool:
    return bool(province) and province != home_province()


def ledger_compute(*, office: Office | None, month: dt.date) -> dict[str, Any]:
    """The ledger of ``office`` (None: the whole province) for ``month``, computed now (nine queries)."""
    month = rules.month_of(month)
    following = rules.next_month(month)
    start, end = _local_midnight(month), _local_midnight(following)

    projects = {
        row["id"]: row
        for row in _scoped(Project.objects.filter(created_at__lt=end), office).values(
            "id",
            "title",
            "office__code",
            "park__code",
            "owner_id",
            "owner__username",
            "enterprise_id",
            "enterprise__province",
            "signed_amount",
            "landing_plan__construction",
            LIGHT_FIELD,
        )
    }
    changes: dict[Any, list[tuple[str, dt.datetime]]] = defaultdict(list)
    for pid, to_status, when in (
        _scoped(ProjectStatusChange.objects.filter(changed_at__lt=end), office, "project__office")
        .order_by("project_id", "changed_at")
        .values_list("project_id", "to_status", "changed_at")
    ):
        changes[pid].append((to_status, when))
    history: dict[Any, list[tuple[dt.date, Decimal | None]]] = defaultdict(list)
    for pid, when, amount in (
        _scoped(Project.history.filter(history_date__lt=end), office)
        .order_by("id", "history_date")
        .values_list("id", "history_date", "signed_amount")
    ):
        history[pid].append((_local_date(when), amount))
    # Progress in two reads, not one row per entry: amounts summed per project in the database,
    # milestone entries (a few per project) as rows. Both count only effective entries (none
    # corrected by an entry of a month up to this one), as rules.effective does.
    effective = _scoped(ProgressEntry.objects.filter(month__lte=month), office).filter(
        ~Exists(ProgressEntry.objects.filter(corrects=OuterRef("pk"), month__lte=month))
    )
    evidenced = Exists(EvidenceFile.objects.filter(entry=OuterRef("pk")))
    this_month = Q(month=month)
    investment, funds = Q(kind="investment"), Q(kind="funds", evidenced=True)
    sums: dict[Any, rules.EntrySums] = {}
    for pid, inv_m, inv_c, funds_m, funds_t, unevidenced in (
        effective.exclude(kind="milestone")
        .annotate(evidenced=evidenced)
        .order_by()
        .values("project_id")
        .annotate(
            inv_m=Sum("amount", filter=investment & this_month),
            inv_c=Sum("amount", filter=investment),
            funds_m=Sum("amount", filter=funds & this_month),
            funds_t=Sum("amount", filter=funds),
            unevidenced=Count("pk", filter=Q(kind="funds", evidenced=False) & this_month),
        )
        .values_list("project_id", "inv_m", "inv_c", "funds_m", "funds_t", "unevidenced")
    ):
        sums[pid] = rules.EntrySums(inv_m, inv_c, funds_m, funds_t, bool(unevidenced))
    milestones: dict[Any, list[rules.Entry]] = defaultdict(list)
    for eid, pid, emonth, milestone, has_evidence in (
        effective.filter(kind="milestone")
        .annotate(evidenced=evidenced)
        .values_list("id", "project_id", "month", "milestone", "evidenced")
    ):
        milestones[pid].append(rules.Entry(eid, "milestone", emonth, None, milestone, None, has_evidence))
    chains: dict[Any, set[str]] = defaultdict(set)
    for pid, code in _scoped(Project.stages.through.objects.all(), office, "project__office").values_list(
        "project_id", "stage__chain__code"
    ):
        chains[pid].add(code)
    chain_owners = set(Chain.objects.exclude(owner_enterprise=None).values_list("owner_enterprise_id", flat=True))

    rows: list[dict[str, Any]] = []
    pipeline: list[dict[str, Any]] = []
    for pid, p in projects.items():
        moves = changes.get(pid, [])
        first = rules.first_signing_month(_local_date(w) for s, w in moves if s == "signed")
        groups = {"park": p["park__code"], "chains": sorted(chains.get(pid, ()))}
        pipeline.append(groups)
        if first is None or first > month:
            continue
        before = [s for s, w in moves if w < start]
        if before and before[-1] == "lost":
            continue
        hist = history.get(pid) or [(first, p["signed_amount"])]
        amount_end = rules.amount_at(hist, before=following)
        amount_prev = rules.amount_at(hist, before=month)
        counted = rules.signed_amount_counted(
            first_month=first, month=month, amount_end=amount_end, amount_previous_end=amount_prev
        )
        status_this_month = [s for s, w in moves if w >= start]
        figures = rules.project_month_summed(
            sums.get(pid), milestones.get(pid, ()), month=month, status_milestones=status_this_month
        )
        reached = [s for s, _w in moves] + [e.milestone for e in milestones.get(pid, ())]
        construction = rules.milestone_reached(reached, "construction")
        planned = p["landing_plan__construction"]
        rows.append(
            {
                "project": str(pid),
                "signed_amount_counted": counted,
                "investment_month": figures.investment_month,
                "investment_cumulative": figures.investment_cumulative,
                "funds_month": figures.funds_month,
                "funds_total": figures.funds_total,
                "milestone": figures.milestone,
                "light": light_value(p),
                "evidence_missing": list(figures.evidence_missing),
                # Not in the API's rows: what exports, the assessment and drill-downs need.
                "title": p["title"],
                "office": p["office__code"],
                "owner": p["owner__username"],
                **groups,
                "signed_amount": amount_end,
                "new_signing": first == month,
                "out_of_province": _out_of_province(p["enterprise__province"] or ""),
                "chain_owner": p["enterprise_id"] in chain_owners,
                "construction_reached": construction,
                "production_reached": rules.milestone_reached(reached, "production"),
                "late_start": planned is not None and planned < following and not construction,
            }
        )
    rows.sort(key=lambda r: (r["park"] or "", r["title"], r["project"]))
    corrections = _scoped(LedgerCorrection.objects.filter(month__lt=month), office).filter(
        Q(reported_in__isnull=True) | Q(reported_in=month)
    )
    return _render(
        month=month,
        office=office,
        rows=rows,
        pipeline=pipeline,
        corrections=[
            {
                "entry": str(c.entry_id),
                "project": str(c.entry.project_id),
                "month": f"{c.month:%Y-%m}",
                "kind": c.entry.kind,
                "amount": None if c.entry.amount is None else rules.yuan(c.entry.amount),
                "reason": c.reason,
                "recorded_by": c.recorded_by.username if c.recorded_by else None,
                "recorded_at": c.recorded_at.isoformat(),
            }
            for c in corrections.select_related("entry", "recorded_by").order_by("recorded_at")
        ],
    )


def _summary(rows: list[dict[str, Any]], pipeline_count: int) -> dict[str, Any]:
    totals: dict[str, Any] = {"new_signed_count": sum(1 for r in rows if r["new_signing"])}
    totals["new_signed_amount"] = sum((r["signed_amount_counted"] for r in rows), rules.ZERO)
    for key in AMOUNT_KEYS:
        totals[key] = sum((r[key] for r in rows), rules.ZERO)
    signed_total = sum((r["signed_amount"] or rules.ZERO for r in rows), rules.ZERO)
    rates = {
        "signing": rules.rate(len(rows), pipeline_count),
        "construction": rules.rate(sum(r["construction_reached"] for r in rows), len(rows)),
        "production": rules.rate(sum(r["production_reached"] for r in rows), len(rows)),
        "funds_in_place": rules.rate(totals["funds_total"], signed_total),
    }
    return {
        "totals": {k: v if k == "new_signed_count" else rules.yuan(v) for k, v in totals.items()},
        "rates": {k: None if v is None else str(v) for k, v in rates.items()},
    }


def _render(
    *,
    month: dt.date,
    office: Office | None,
    rows: list[dict[str, Any]],
    pipeline: list[dict[str, Any]],
    corrections: list[dict[str, Any]],
) -> dict[str, Any]:
    overall = _summary(rows, len(pipeline))
    by_park: dict[str, Any] = {}
    for park in sorted({g["park"] for g in pipeline}):
        by_park[park] = _summary([r for r in rows if r["park"] == park], sum(g["park"] == park for g in pipeline))
    by_chain: dict[str, Any] = {}
    for chain in sorted({c for g in pipeline for c in g["chains"]}):
        by_chain[chain] = _summary(
            [r for r in rows if chain in r["chains"]], sum(chain in g["chains"] for g in pipeline)
        )
    for row in rows:
        for key in ("signed_amount_counted", "signed_amount", *AMOUNT_KEYS):
            row[key] = None if row[key] is None else rules.yuan(row[key])
    return {
        "month": f"{month:%Y-%m}",
        "office": office.code if office else None,
        "submitted_at": None,
        "rows": rows,
        "totals": overall["totals"],
        "rates": overall["rates"],
        "by_park": by_park,
        "by_chain": by_chain,
        "corrections": corrections,
    }


def ledger_month(*, office: Office | None, month: dt.date) -> dict[str, Any]:
    """The ledger as submitted when ``office`` submitted ``month``; otherwise computed now."""
    if office is not None:
        submission = LedgerSubmission.objects.filter(office=office, month=rules.month_of(month)).first()
        if submission is not None:
            return submission.snapshot
    return ledger_compute(office=office, month=month)


def ledger_public(ledger: dict[str, Any]) -> dict[str, Any]:
    """The ledger in the API's shape (the contract's keys only)."""
    return {
        "month": ledger["month"],
        "office": ledger["office"],
        "submitted_at": ledger["submitted_at"],
        "rows": [{key: row[key] for key in ROW_KEYS} for row in ledger["rows"]],
        "totals": {key: ledger["totals"][key] for key in TOTAL_KEYS},
        "rates": {key: ledger["rates"][key] for key in RATE_KEYS},
    }


def submissions_overview(*, month: dt.date, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Every park office and its submission of ``month``: submitted (on time or late), overdue, or not yet due."""
    month = rules.month_of(month)
    today = today or timezone.localdate()
    deadline = rules.deadline_for(month, day=settings.LEDGER_DEADLINE_DAY)
    submitted = {
        s.office_id: s
        for s in LedgerSubmission.objects.filter(month=month).defer("snapshot").select_related("submitted_by")
    }
    out = []
    for office in Office.objects.filter(kind=Office.Kind.PARK).order_by("code"):
        s = submitted.get(office.pk)
        if s is not None:
            state = "late" if s.late else "submitted"
        else:
            state = "missing" if today > deadline else "due"
        out.append({"office": office, "state": state, "submission": s, "deadline": deadline})
    return out
