"""The official counting rules of the monthly ledger, as pure functions (no database).

- A signed project counts once, in the month of its first signing; signed, suspended
  and signed again still counts once (Sanming rules).
- A capital increase of a project signed in an earlier month counts only the increment
  (the signed amount at the month's end less the amount at the previous month's end);
  a decrease counts nothing.
- Funds in place count only as evidenced: a funds entry without an evidence file is
  shown as missing evidence and not added (Ezhou rules).
- An entry that a later entry corrects no longer counts; the correction counts instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0")
RATE_PLACES = Decimal("0.0001")
MILESTONE_ORDER: tuple[str, ...] = ("registered", "construction", "production", "at_capacity")


def month_of(value: dt.date | dt.datetime) -> dt.date:
    return dt.date(value.year, value.month, 1)


def next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: dt.date) -> dt.date:
    return dt.date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def parse_month(text: str) -> dt.date:
    """``YYYY-MM`` → the first day of that month; ValueError otherwise."""
    year, sep, mon = text.partition("-")
    if not sep or len(year) != 4 or len(mon) != 2 or not (year.isdigit() and mon.isdigit()):
        raise ValueError(text)
    if not 1900 <= int(year) <= 2999:
        raise ValueError(text)
    return dt.date(int(year), int(mon), 1)


def first_signing_month(signings: Iterable[dt.date | dt.datetime]) -> dt.date | None:
    """The month of the first signing among the dates a project moved to signed."""
    dates = [month_of(d) for d in signings]
    return min(dates) if dates else None


def amount_at(history: Sequence[tuple[dt.datetime | dt.date, Decimal | None]], *, before: dt.date) -> Decimal:
    """The last recorded amount strictly before ``before`` (history as (when, amount), in time order)."""
    value: Decimal | None = None
    for when, amount in history:
        day = when.date() if isinstance(when, dt.datetime) else when
        if day >= before:
            break
        value = amount
    return value if value is not None else ZERO


def signed_amount_counted(
    *, first_month: dt.date | None, month: dt.date, amount_end: Decimal, amount_previous_end: Decimal
) -> Decimal:
    """The signed amount ``month`` counts for a project: all of it in its first month, then increments only."""
    if first_month is None or first_month > month:
        return ZERO
    if first_month == month:
        return amount_end
    return max(amount_end - amount_previous_end, ZERO)


@dataclass(frozen=True)
class Entry:
    """A progress entry as the rules need it."""

    id: object
    kind: str
    month: dt.date
    amount: Decimal | None = None
    milestone: str = ""
    corrects: object | None = None
    has_evidence: bool = False


def effective(entries: Iterable[Entry]) -> list[Entry]:
    """The entries that count: those no other entry corrects."""
    entries = list(entries)
    corrected = {e.corrects for e in entries if e.corrects is not None}
    return [e for e in entries if e.id not in corrected]


@dataclass(frozen=True)
class ProjectMonth:
    investment_month: Decimal
    investment_cumulative: Decimal
    funds_month: Decimal
    funds_total: Decimal
    milestone: str | None
    evidence_missing: tuple[str, ...]


def project_month(entries: Iterable[Entry], *, month: dt.date, status_milestones: Sequence[str] = ()) -> ProjectMonth:
    """A project's figures for ``month`` from its entries up to that month (corrections applied).

    ``status_milestones`` are the landing milestones its status reached during the
    month, used when no milestone entry says so.
    """
    counted = [e for e in effective(entries) if e.month <= month]
    inv_m = inv_c = funds_m = funds_t = ZERO
    milestones: list[str] = []
    missing: set[str] = set()
    for e in counted:
        this_month = e.month == month
        if e.kind == "investment":
            inv_c += e.amount or ZERO
            if this_month:
                inv_m += e.amount or ZERO
        elif e.kind == "funds":
            if not e.has_evidence:
                if this_month:
                    missing.add("funds_month")
                continue
            funds_t += e.amount or ZERO
            if this_month:
                funds_m += e.amount or ZERO
        elif e.kind == "milestone" and this_month:
            milestones.append(e.milestone)
            if not e.has_evidence:
                missing.add("milestone")
    if not milestones:
        milestones = [m for m in status_milestones if m in MILESTONE_ORDER]
    reached = max(milestones, key=MILESTONE_ORDER.index) if milestones else None
    return ProjectMonth(inv_m, inv_c, funds_m, funds_t, reached, tuple(sorted(missing)))


@dataclass(frozen=True)
class EntrySums:
    """A project's effective investment and funds entries up to a month, summed (by the database)."""

    investment_month: Decimal | None = None
    investment_cumulative: Decimal | None = None
    funds_month: Decimal | None = None  # with evidence only
    funds_total: Decimal | None = None  # with evidence only
    funds_unevidenced_this_month: bool = False


def project_month_summed(
    sums: EntrySums | None,
    milestones: Iterable[Entry],
    *,
    month: dt.date,
    status_milestones: Sequence[str] = (),
) -> ProjectMonth:
    """:func:`project_month` from sums: the same figures when ``sums`` add up the effective
    investment and funds entries up to ``month`` and ``milestones`` are its effective milestone
    entries up to ``month`` (what a ledger of thousands of projects reads instead of every entry)."""
    sums = sums or EntrySums()
    missing: set[str] = {"funds_month"} if sums.funds_unevidenced_this_month else set()
    reached_now = [e for e in milestones if e.kind == "milestone" and e.month == month]
    names = [e.milestone for e in reached_now]
    if any(not e.has_evidence for e in reached_now):
        missing.add("milestone")
    if not names:
        names = [m for m in status_milestones if m in MILESTONE_ORDER]
    reached = max(names, key=MILESTONE_ORDER.index) if names else None
    return ProjectMonth(
        sums.investment_month or ZERO,
        sums.investment_cumulative or ZERO,
        sums.funds_month or ZERO,
        sums.funds_total or ZERO,
        reached,
        tuple(sorted(missing)),
    )


def milestone_reached(reached: Iterable[str], milestone: str) -> bool:
    """Whether any of ``reached`` is ``milestone`` or a later landing milestone."""
    rank = MILESTONE_ORDER.index(milestone)
    return any(m in MILESTONE_ORDER and MILESTONE_ORDER.index(m) >= rank for m in reached)


def rate(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    """A rate to four places, or None when there is nothing to divide by."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def yuan(value: Decimal) -> str:
    """An amount in yuan as a decimal string with two places."""
    return str(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def deadline_for(month: dt.date, *, day: int) -> dt.date:
    """The submission deadline of ``month``: day ``day`` of the next month."""
    return next_month(month).replace(day=day)
