"""The monthly ledger computed from recorded facts, for an office or the province."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.selectors import ledger_compute, ledger_public
from recruitment.pipeline import Status
from tests.factories import EnterpriseFactory, OfficeFactory
from tests.ledger.conftest import Ledgerbook, at

JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)


def row_of(ledger, project):  # type: ignore[no-untyped-def]
    return next(r for r in ledger["rows"] if r["project"] == str(project.pk))


@pytest.mark.django_db
def test_signed_suspended_and_signed_again_counts_once(book: Ledgerbook) -> None:
    p = book.signed(at(2026, 1, 10), amount="50000000")
    book.move(p, Status.SUSPENDED, at(2026, 2, 3), note="资金未到")
    book.move(p, Status.SIGNED, at(2026, 3, 4))
    counted = {
        m: row_of(ledger_compute(office=book.office, month=m), p)["signed_amount_counted"] for m in (JAN, FEB, MAR)
    }
    assert counted == {JAN: "50000000.00", FEB: "0.00", MAR: "0.00"}
    assert ledger_compute(office=book.office, month=JAN)["totals"]["new_signed_count"] == 1
    assert ledger_compute(office=book.office, month=MAR)["totals"]["new_signed_count"] == 0


@pytest.mark.django_db
def test_a_capital_increase_counts_its_increment(book: Ledgerbook) -> None:
    p = book.signed(at(2026, 1, 10), amount="500")
    book.amount(p, "800", at(2026, 3, 5))
    march = ledger_compute(office=book.office, month=MAR)
    assert row_of(march, p)["signed_amount_counted"] == "300.00"
    assert march["totals"]["new_signed_amount"] == "300.00"
    assert row_of(ledger_compute(office=book.office, month=FEB), p)["signed_amount_counted"] == "0.00"


@pytest.mark.django_db
def test_figures_come_from_progress_with_funds_only_as_evidenced(book: Ledgerbook) -> None:
    p = book.signed(at(2026, 1, 10), amount="1000")
    book.entry(p, "investment", JAN, at(2026, 1, 30), amount="100")
    wrong = book.entry(p, "investment", FEB, at(2026, 2, 27), amount="50")
    book.entry(p, "investment", FEB, at(2026, 2, 28), amount="70", corrects=wrong, reason="录入错误")
    book.entry(p, "funds", FEB, at(2026, 2, 20), amount="200", evidence=True)
    book.entry(p, "funds", FEB, at(2026, 2, 21), amount="999")
    book.entry(p, "milestone", FEB, at(2026, 2, 22), milestone="construction", date=dt.date(2026, 2, 22))
    feb = ledger_compute(office=book.office, month=FEB)
    row = row_of(feb, p)
    assert row["investment_month"] == "70.00"
    assert row["investment_cumulative"] == "170.00"
    assert (row["funds_month"], row["funds_total"]) == ("200.00", "200.00")
    assert row["milestone"] == "construction"
    assert row["evidence_missing"] == ["funds_month", "milestone"]
    assert feb["rates"]["construction"] == "1.0000"
    assert feb["rates"]["funds_in_place"] == "0.2000"
    assert feb["totals"]["funds_total"] == "200.00"


@pytest.mark.django_db
def test_the_light_is_the_projects_current_colour(book: Ledgerbook) -> None:
    p = book.signed(at(2026, 1, 10), amount="1000")
    assert row_of(ledger_compute(office=book.office, month=JAN), p)["light"] in {"green", "yellow", "red"}


@pytest.mark.django_db
def test_an_office_sees_its_own_projects_and_the_province_every_office(book: Ledgerbook) -> None:
    mine = book.signed(at(2026, 1, 10), amount="100", title="本园区")
    other = Ledgerbook(OfficeFactory(code="other-park", kind="park")).signed(at(2026, 1, 12), amount="300")
    book.signed(at(2026, 2, 12), amount="900", title="二月签约")
    own = ledger_compute(office=book.office, month=JAN)
    assert [r["project"] for r in own["rows"]] == [str(mine.pk)]
    province = ledger_compute(office=None, month=JAN)
    assert {r["project"] for r in province["rows"]} == {str(mine.pk), str(other.pk)}
    assert province["totals"]["new_signed_amount"] == "400.00"
    assert province["office"] is None
    # Three projects exist by the end of February, two were signed in January.
    assert ledger_compute(office=None, month=FEB)["rates"]["signing"] == "1.0000"


@pytest.mark.django_db
def test_rates_by_park_and_chain(book: Ledgerbook) -> None:
    p = book.signed(at(2026, 1, 10), amount="100")
    ledger = ledger_compute(office=None, month=JAN)
    assert set(ledger["by_park"]) == {book.park.code}
    chain = p.stages.get().chain.code
    assert ledger["by_chain"][chain]["totals"]["new_signed_count"] == 1
    assert ledger["by_chain"][chain]["rates"]["signing"] == "1.0000"


@pytest.mark.django_db
def test_the_month_is_computed_in_a_fixed_number_of_queries(book: Ledgerbook) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            ledger_compute(office=None, month=FEB)
        return len(ctx.captured_queries)

    p = book.signed(at(2026, 1, 10), amount="100")
    book.entry(p, "investment", FEB, at(2026, 2, 27), amount="50")
    few = count()
    for i in range(5):
        q = book.signed(at(2026, 1, 11), amount="100", title=f"p{i}", enterprise=EnterpriseFactory(province="广东省"))
        book.entry(q, "funds", FEB, at(2026, 2, 27), amount="50", evidence=True)
        book.entry(q, "milestone", FEB, at(2026, 2, 27), milestone="registered", date=dt.date(2026, 2, 20))
    assert count() == few


@pytest.mark.django_db
def test_the_public_shape_keeps_the_contracts_keys_only(book: Ledgerbook) -> None:
    book.signed(at(2026, 1, 10), amount="100")
    public = ledger_public(ledger_compute(office=book.office, month=JAN))
    assert list(public) == ["month", "office", "submitted_at", "rows", "totals", "rates"]
    assert list(public["rows"][0]) == [
        "project",
        "signed_amount_counted",
        "investment_month",
        "investment_cumulative",
        "funds_month",
        "funds_total",
        "milestone",
        "light",
        "evidence_missing",
    ]
    assert public["month"] == "2026-01"
