"""The ledger's counting rules, without a database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ledger import ledger_rules as rules

JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)


def test_a_signing_counts_in_its_first_month_only() -> None:
    # Signed in January, suspended in February, signed again in March; the amount never changed.
    first = rules.first_signing_month([dt.date(2026, 3, 2), dt.date(2026, 1, 20)])
    assert first == JAN
    history = [(dt.date(2026, 1, 20), Decimal("500"))]
    counted = [
        rules.signed_amount_counted(
            first_month=first,
            month=m,
            amount_end=rules.amount_at(history, before=rules.next_month(m)),
            amount_previous_end=rules.amount_at(history, before=m),
        )
        for m in (JAN, FEB, MAR)
    ]
    assert counted == [Decimal("500"), Decimal("0"), Decimal("0")]


def test_a_capital_increase_counts_only_the_increment() -> None:
    history = [(dt.date(2026, 1, 10), Decimal("500")), (dt.date(2026, 3, 5), Decimal("800"))]
    end_mar = rules.amount_at(history, before=rules.next_month(MAR))
    end_feb = rules.amount_at(history, before=MAR)
    assert (end_feb, end_mar) == (Decimal("500"), Decimal("800"))
    assert rules.signed_amount_counted(
        first_month=JAN, month=MAR, amount_end=end_mar, amount_previous_end=end_feb
    ) == Decimal("300")
    # A decrease counts nothing, a month before signing counts nothing.
    assert rules.signed_amount_counted(
        first_month=JAN, month=MAR, amount_end=Decimal("400"), amount_previous_end=Decimal("500")
    ) == Decimal("0")
    assert rules.signed_amount_counted(
        first_month=MAR, month=FEB, amount_end=Decimal("400"), amount_previous_end=Decimal("0")
    ) == Decimal("0")


def test_funds_count_only_as_evidenced_and_corrections_replace_what_they_correct() -> None:
    entries = [
        rules.Entry(1, "investment", JAN, Decimal("100")),
        rules.Entry(2, "investment", FEB, Decimal("50")),
        rules.Entry(3, "investment", FEB, Decimal("70"), corrects=2),
        rules.Entry(4, "funds", FEB, Decimal("30"), has_evidence=True),
        rules.Entry(5, "funds", FEB, Decimal("999"), has_evidence=False),
        rules.Entry(6, "milestone", FEB, milestone="construction", has_evidence=True),
        rules.Entry(7, "investment", MAR, Decimal("1")),
    ]
    feb = rules.project_month(entries, month=FEB)
    assert feb.investment_month == Decimal("70")
    assert feb.investment_cumulative == Decimal("170")
    assert (feb.funds_month, feb.funds_total) == (Decimal("30"), Decimal("30"))
    assert feb.milestone == "construction"
    assert feb.evidence_missing == ("funds_month",)


def test_a_milestone_comes_from_the_status_when_no_entry_says_so() -> None:
    month = rules.project_month([], month=JAN, status_milestones=["registered", "construction", "suspended"])
    assert month.milestone == "construction"
    assert rules.project_month([], month=JAN).milestone is None
    assert rules.milestone_reached(["signed", "production"], "construction")
    assert not rules.milestone_reached(["signed", "registered"], "construction")


def test_rates_are_four_places_and_none_without_a_denominator() -> None:
    assert rules.rate(1, 3) == Decimal("0.3333")
    assert rules.rate(2, 3) == Decimal("0.6667")
    assert rules.rate(5, 0) is None


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-01", "2026/01", "", "9999-12", "0000-01"])
def test_a_bad_month_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        rules.parse_month(text)


def test_months_and_deadlines() -> None:
    assert rules.parse_month("2026-12") == dt.date(2026, 12, 1)
    assert rules.next_month(dt.date(2026, 12, 1)) == dt.date(2027, 1, 1)
    assert rules.previous_month(JAN) == dt.date(2025, 12, 1)
    assert rules.deadline_for(dt.date(2026, 12, 1), day=5) == dt.date(2027, 1, 5)


def _summed(entries: list[rules.Entry], month: dt.date) -> rules.EntrySums:
    """What the ledger's aggregate query returns for ``entries`` (effective, up to ``month``)."""
    counted = [e for e in rules.effective(entries) if e.month <= month and e.kind != "milestone"]

    def total(keep) -> Decimal | None:  # type: ignore[no-untyped-def]
        chosen = [e.amount for e in counted if keep(e)]
        return sum(chosen, Decimal(0)) if chosen else None

    return rules.EntrySums(
        total(lambda e: e.kind == "investment" and e.month == month),
        total(lambda e: e.kind == "investment"),
        total(lambda e: e.kind == "funds" and e.has_evidence and e.month == month),
        total(lambda e: e.kind == "funds" and e.has_evidence),
        any(e.kind == "funds" and not e.has_evidence and e.month == month for e in counted),
    )


def test_the_summed_figures_are_those_of_every_entry() -> None:
    """The ledger reads sums and milestone rows instead of every entry: the figures must not change."""
    import random

    rng = random.Random(11)
    months = [dt.date(2026, m, 1) for m in range(1, 7)]
    for _case in range(300):
        entries: list[rules.Entry] = []
        for i in range(rng.randint(0, 12)):
            kind = rng.choice(["investment", "funds", "milestone"])
            corrects = rng.choice([None, None, *[e.id for e in entries]]) if entries else None
            entries.append(
                rules.Entry(
                    i,
                    kind,
                    rng.choice(months),
                    None if kind == "milestone" else Decimal(rng.randint(1, 900)),
                    rng.choice(rules.MILESTONE_ORDER) if kind == "milestone" else "",
                    corrects,
                    rng.random() < 0.7,
                )
            )
        month = rng.choice(months)
        visible = [e for e in entries if e.month <= month]
        status = rng.choice([(), ("construction",), ("registered", "production")])
        milestones = [e for e in rules.effective(visible) if e.kind == "milestone"]
        assert rules.project_month_summed(
            _summed(visible, month), milestones, month=month, status_milestones=status
        ) == rules.project_month(visible, month=month, status_milestones=status)
