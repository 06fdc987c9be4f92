"""Yearly assessment (考核) from submitted monthly ledgers, by office and by person.

The figures an assessment uses come from the ledgers the offices submitted for the
scheme's year, never recomputed: a month an office did not submit contributes
nothing (its projects are left out of that month) and costs the scheme's deduction
per missed report once its deadline has passed. Indicators are formulas
(:mod:`ledger.formula`) over these figures and the office's targets and scores
(:class:`~ledger.models.SchemeValue`). Every figure keeps the ledger rows behind it,
so each point drills down to its projects and months.

A person's points are the same indicators over the projects they own, against their
office's targets; office-wide scores (names not starting with ``target``), the
deductions and the bonuses count for offices only.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from crm.models import Office
from ledger import ledger_rules as rules
from ledger.formula import formula_evaluate
from ledger.models import AssessmentScheme, LedgerSubmission

ZERO = Decimal(0)
POINTS = Decimal("0.01")

# The figures every formula may use, with the rule that picks a ledger row and its value.
FACTS: dict[str, str] = {
    "new_signed_count": "New signings (first signed in the month)",
    "new_signed_amount": "Signed amount counted (new signings and increases), yuan",
    "new_big_out_of_province": "New out-of-province signings of at least the large-project amount",
    "out_of_province_signed_amount": "Signed amount counted from out-of-province enterprises, yuan",
    "chain_owner_links": "New signings with chain-owner enterprises (链主)",
    "funds_in_place": "Funds in place with evidence, yuan",
    "investment": "Investment completed, yuan",
}


def _d(value: Any) -> Decimal:
    return Decimal(value) if value not in (None, "") else ZERO


def _fact_values(row: dict[str, Any]) -> dict[str, Decimal]:
    """What one ledger row (one project in one month) adds to each figure."""
    large = Decimal(settings.LEDGER_LARGE_PROJECT_YUAN)
    counted = _d(row["signed_amount_counted"])
    new = bool(row.get("new_signing"))
    out = bool(row.get("out_of_province"))
    return {
        "new_signed_count": Decimal(new),
        "new_signed_amount": counted,
        "new_big_out_of_province": Decimal(new and out and counted >= large),
        "out_of_province_signed_amount": counted if out else ZERO,
        "chain_owner_links": Decimal(new and bool(row.get("chain_owner"))),
        "funds_in_place": _d(row["funds_month"]),
        "investment": _d(row["investment_month"]),
    }


@dataclass
class Facts:
    values: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(FACTS, ZERO))
    behind: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, row: dict[str, Any], month: str) -> None:
        for name, value in _fact_values(row).items():
            if value:
                self.values[name] += value
                self.behind.setdefault(name, []).append(
                    {"project": row["project"], "title": row.get("title", ""), "month": month, "value": value}
                )


@dataclass
class Score:
    office: Office
    person: str | None
    total: Decimal
    indicators: list[dict[str, Any]]
    deductions: list[dict[str, Any]]
    adjustments: list[dict[str, Any]]
    facts: Facts
    months_submitted: list[str]
    months_missed: list[str]


def _months(year: int, until: dt.date) -> list[dt.date]:
    return [dt.date(year, m, 1) for m in range(1, 13) if dt.date(year, m, 1) <= until]


def _q(value: Decimal) -> Decimal:
    return value.quantize(POINTS, rounding=ROUND_HALF_UP)


def _indicators(scheme: AssessmentScheme, values: dict[str, Decimal]) -> list[dict[str, Any]]:
    out = []
    for ind in scheme.indicators.all():
        out.append(
            {
                "code": ind.code,
                "name": ind.name,
                "formula": ind.formula,
                "points": formula_evaluate(ind.formula, values),
            }
        )
    return out


def assessment_scores(
    *, scheme: AssessmentScheme, today: dt.date | None = None, offices: Iterable[Office] | None = None
) -> list[Score]:
    """Every park office's score under ``scheme``, best first (four queries plus the scheme's own)."""
    today = today or timezone.localdate()
    offices = list(offices if offices is not None else Office.objects.filter(kind=Office.Kind.PARK))
    due = [
        m
        for m in _months(scheme.year, rules.month_of(today))
        if rules.deadline_for(m, day=settings.LEDGER_DEADLINE_DAY) < today
    ]
    submissions: dict[Any, list[LedgerSubmission]] = defaultdict(list)
    for s in LedgerSubmission.objects.filter(office__in=offices, month__year=scheme.year).order_by("month"):
        submissions[s.office_id].append(s)
    values: dict[Any, dict[str, Decimal]] = defaultdict(dict)
    scheme_names = set()
    for v in scheme.values.all():
        values[v.office_id][v.name] = v.value
        scheme_names.add(v.name)
    adjustments: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for a in scheme.adjustments.all():
        adjustments[a.office_id].append({"points": a.points, "reason": a.reason})
    scores = []
    for office in offices:
        subs = submissions.get(office.pk, [])
        facts = Facts()
        for s in subs:
            for row in s.snapshot["rows"]:
                facts.add(row, s.snapshot["month"])
        submitted = {s.month for s in subs}
        missed = [m for m in due if m not in submitted]
        late_rows = [r for r in subs[-1].snapshot["rows"] if r.get("late_start")] if subs else []
        names = dict.fromkeys(scheme_names, ZERO) | values.get(office.pk, {}) | facts.values
        indicators = _indicators(scheme, names)
        subtotal = sum((i["points"] for i in indicators), ZERO)
        if scheme.max_points is not None:
            subtotal = min(subtotal, scheme.max_points)
        deductions = [
            {
                "what": "late_start",
                "count": len(late_rows),
                "points": -scheme.late_start_deduction * len(late_rows),
                "behind": [{"project": r["project"], "title": r.get("title", "")} for r in late_rows],
            },
            {
                "what": "missed_report",
                "count": len(missed),
                "points": -scheme.missed_report_deduction * len(missed),
                "behind": [f"{m:%Y-%m}" for m in missed],
            },
        ]
        adj = adjustments.get(office.pk, [])
        total = subtotal + sum((d["points"] for d in deductions), ZERO) + sum((a["points"] for a in adj), ZERO)
        scores.append(
            Score(
                office=office,
                person=None,
                total=_q(total),
                indicators=[i | {"points": _q(i["points"])} for i in indicators],
                deductions=deductions,
                adjustments=adj,
                facts=facts,
                months_submitted=[f"{m:%Y-%m}" for m in sorted(submitted)],
                months_missed=[f"{m:%Y-%m}" for m in missed],
            )
        )
    scores.sort(key=lambda s: (-s.total, s.office.code))
    return scores


def assessment_people(*, scheme: AssessmentScheme, today: dt.date | None = None) -> list[Score]:
    """Each project owner's points: the indicators over their projects, against their office's targets."""
    offices = list(Office.objects.filter(kind=Office.Kind.PARK))
    targets: dict[Any, dict[str, Decimal]] = defaultdict(dict)
    for v in scheme.values.filter(name__startswith="target"):
        targets[v.office_id][v.name] = v.value
    office_scores = {s.office.pk: s for s in assessment_scores(scheme=scheme, today=today, offices=offices)}
    subs = LedgerSubmission.objects.filter(office__in=offices, month__year=scheme.year).order_by("month")
    people: dict[tuple[Any, str], Facts] = {}
    for s in subs:
        for row in s.snapshot["rows"]:
            if row.get("owner"):
                people.setdefault((s.office_id, row["owner"]), Facts()).add(row, s.snapshot["month"])
    scheme_names = {v.name for v in scheme.values.all()}
    out = []
    for (office_id, person), facts in people.items():
        names = dict.fromkeys(scheme_names, ZERO) | targets.get(office_id, {}) | facts.values
        indicators = _indicators(scheme, names)
        out.append(
            Score(
                office=office_scores[office_id].office,
                person=person,
                total=_q(sum((i["points"] for i in indicators), ZERO)),
                indicators=[i | {"points": _q(i["points"])} for i in indicators],
                deductions=[],
                adjustments=[],
                facts=facts,
                months_submitted=office_scores[office_id].months_submitted,
                months_missed=office_scores[office_id].months_missed,
            )
        )
    out.sort(key=lambda s: (-s.total, s.person or ""))
    return out
