"""Three-colour warnings (三色预警) as pure functions over plain data. No database.

A project's light is the worst colour any enabled rule gives it, with every reason
in words. The rules are data (``WarningRule``); their thresholds mean:

- ``milestone_overdue``: a planned landing milestone whose date has passed and that
  has not been reached is overdue; it has been overdue for as many calendar months
  as run from its planned month to this one, both counted ("due this month and not
  started" is one month). Yellow from ``yellow_at`` months, red from ``red_at``.
- ``investment_behind``: the investment completed up to the last finished month
  against the cumulative amount planned by then, in percentage points of the plan.
  Yellow from ``yellow_at`` points, red when more than ``red_at`` points behind.
- ``no_progress``: months since the last month with a progress entry (or since
  the month of signing). Yellow from ``yellow_at``, red from ``red_at``.
- ``yellow_streak``: a project that stays yellow for ``red_at`` monthly refreshes
  in a row (counting this one) turns red ("two yellows in a row escalate").

A valid reason (a suspension with an expiry) switches one rule off for one project
until it expires.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils.translation import get_language
from django.utils.translation import gettext as _

GREEN, YELLOW, RED = "green", "yellow", "red"
_RANK = {GREEN: 0, YELLOW: 1, RED: 2}
MILESTONE_ORDER = (
    "lead",
    "screening",
    "negotiating",
    "signed",
    "registered",
    "construction",
    "production",
    "at_capacity",
)
LANDING = ("registered", "construction", "production", "at_capacity")


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    kind: str
    yellow_at: Decimal | None = None
    red_at: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules look at for one project."""

    status: str
    signed_on: dt.date | None = None
    planned: Mapping[str, dt.date | None] = field(default_factory=dict)
    reached: Mapping[str, dt.date] = field(default_factory=dict)
    # (month, cumulative planned by the end of it), any order
    schedule: Sequence[tuple[dt.date, Decimal]] = ()
    # (month, investment completed in it), effective entries only
    investment: Sequence[tuple[dt.date, Decimal]] = ()
    last_entry_month: dt.date | None = None
    suspended: frozenset[str] = frozenset()
    # the light as it stands before this evaluation
    current_color: str | None = None
    current_since: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    kind: str
    color: str
    params: dict[str, Any]

    def detail(self) -> str:
        return reason_text(self.kind, self.params)

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "detail": self.detail(),
            "color": self.color,
            "kind": self.kind,
            "params": self.params,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    color: str
    findings: tuple[Finding, ...]


def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def month_of(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def worst(colors: Iterable[str]) -> str:
    return max(colors, key=_RANK.__getitem__, default=GREEN)


def _by_threshold(value: Decimal | int, rule: Rule, *, red_strictly_above: bool = False) -> str:
    # Decimal and int compare exactly with each other: no conversion (evaluated 40,000 times a night).
    if rule.red_at is not None and (value > rule.red_at if red_strictly_above else value >= rule.red_at):
        return RED
    if rule.yellow_at is not None and value >= rule.yellow_at:
        return YELLOW
    return GREEN


_MILESTONE_RANK = {name: rank for rank, name in enumerate(MILESTONE_ORDER)}


def _reached(facts: Facts, milestone: str) -> bool:
    if milestone in facts.reached:
        return True
    rank = _MILESTONE_RANK.get(facts.status)
    return rank is not None and rank >= _MILESTONE_RANK[milestone]


def _milestones(rule: Rule, facts: Facts, today: dt.date) -> list[Finding]:
    out = []
    for milestone in LANDING:
        planned = facts.planned.get(milestone)
        if planned is None or planned >= today or _reached(facts, milestone):
            continue
        months = month_index(today) - month_index(planned) + 1
        color = _by_threshold(months, rule)
        if color != GREEN:
            params = {"milestone": milestone, "planned": planned.isoformat(), "months": months}
            out.append(Finding(rule.code, rule.kind, color, params))
    return out


def _fmt_amount(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def investment_gap(facts: Facts, today: dt.date) -> tuple[dt.date, Decimal, Decimal, Decimal] | None:
    """(as-of month, planned, actual, points behind) up to the last finished month, or None without a plan."""
    as_of = month_of(month_index(today) - 1)
    planned = [(m, c) for m, c in facts.schedule if m <= as_of]
    if not planned:
        return None
    plan_month, plan_value = max(planned)
    if plan_value <= 0:
        return None
    actual = sum((a for m, a in facts.investment if m <= as_of), Decimal(0))
    points = ((plan_value - actual) * 100 / plan_value).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return as_of, plan_value, actual, points


def _investment(rule: Rule, facts: Facts, today: dt.date) -> list[Finding]:
    gap = investment_gap(facts, today)
    if gap is None:
        return []
    as_of, planned, actual, points = gap
    color = _by_threshold(points, rule, red_strictly_above=True)
    if color == GREEN:
        return []
    params = {
        "month": f"{as_of:%Y-%m}",
        "planned": _fmt_amount(planned),
        "actual": _fmt_amount(actual),
        "points": f"{points:f}",
    }
    return [Finding(rule.code, rule.kind, color, params)]


def _no_progress(rule: Rule, facts: Facts, today: dt.date) -> list[Finding]:
    last = facts.last_entry_month or facts.signed_on
    if last is None:
        return []
    months = month_index(today) - month_index(last)
    color = _by_threshold(months, rule)
    if color == GREEN:
        return []
    params = {"months": months, "last": f"{last:%Y-%m}", "entries": facts.last_entry_month is not None}
    return [Finding(rule.code, rule.kind, color, params)]


_KINDS = {"milestone_overdue": _milestones, "investment_behind": _investment, "no_progress": _no_progress}


def evaluate(facts: Facts, rules: Sequence[Rule], today: dt.date) -> Verdict:
    """The light of one project on ``today``: worst colour, every reason (worst first)."""
    findings: list[Finding] = []
    for rule in rules:
        if rule.code in facts.suspended:
            continue
        check = _KINDS.get(rule.kind)
        if check is not None:
            findings.extend(check(rule, facts, today))
    color = worst(f.color for f in findings)
    if color == YELLOW and facts.current_color == YELLOW and facts.current_since is not None:
        for rule in rules:
            if rule.kind != "yellow_streak" or rule.code in facts.suspended or rule.red_at is None:
                continue
            months = month_index(today) - month_index(facts.current_since) + 1
            if months >= rule.red_at:
                params = {"months": months, "since": facts.current_since.isoformat()}
                findings.append(Finding(rule.code, rule.kind, RED, params))
                color = RED
    findings.sort(key=lambda f: -_RANK[f.color])
    return Verdict(color, tuple(findings))


def since(verdict_color: str, *, current_color: str | None, current_since: dt.date | None, today: dt.date) -> dt.date:
    """When the colour began: kept while it stays the same, today when it changes."""
    if current_color == verdict_color and current_since is not None:
        return current_since
    return today


def milestone_name(milestone: str) -> str:
    return _wording()["milestones"].get(milestone, milestone)


@functools.lru_cache(maxsize=8)
def _wording_for(language: str | None) -> dict[str, Any]:
    """The translated sentences of one language, looked up once (a recompute words thousands of reasons)."""
    return {
        "milestones": {
            "registered": _("registration 注册"),
            "construction": _("construction start 开工"),
            "production": _("production 投产"),
            "at_capacity": _("reaching capacity 达产"),
        },
        "milestone_overdue": _(
            "%(milestone)s was planned for %(planned)s and has not happened: overdue %(months)s month(s) running."
        ),
        "investment_behind": _(
            "Investment is %(points)s percentage points behind plan: %(actual)s of %(planned)s yuan planned by the end of %(month)s."
        ),
        "no_progress": _("No progress recorded for %(months)s month(s); the last entry is for %(last)s."),
        "no_progress_since_signing": _("No progress recorded in the %(months)s month(s) since signing (%(last)s)."),
        "yellow_streak": _("Yellow %(months)s months in a row (since %(since)s)."),
    }


def _wording() -> dict[str, Any]:
    return _wording_for(get_language())


def reason_text(kind: str, params: Mapping[str, Any]) -> str:
    """A finding in words, in the active language."""
    words = _wording()
    if kind == "milestone_overdue":
        name = words["milestones"].get(params["milestone"], params["milestone"])
        return words[kind] % {
            "milestone": name[:1].upper() + name[1:],
            "planned": params["planned"],
            "months": params["months"],
        }
    if kind == "no_progress":
        return words[kind if params.get("entries") else "no_progress_since_signing"] % dict(params)
    if kind in words:
        return words[kind] % dict(params)
    return kind
