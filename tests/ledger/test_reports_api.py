"""``GET /api/v1/reports/monthly/``: the contract's shape, office-scoped; submission through the API."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tests.api.conftest import api_for
from tests.factories import OfficeFactory
from tests.ledger.conftest import Ledgerbook, at

pytestmark = pytest.mark.django_db


@pytest.fixture
def province():  # type: ignore[no-untyped-def]
    return OfficeFactory(code="province", kind="provincial")


def test_the_ledger_has_the_contracts_shape_with_amounts_as_strings(book: Ledgerbook) -> None:
    p = book.signed(at(2026, 1, 10), amount="120000000")
    book.entry(p, "investment", dt.date(2026, 1, 1), at(2026, 1, 30), amount="3000000.5")
    r = api_for(book.office).get("reports/monthly/", month="2026-01")
    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == {"month", "office", "submitted_at", "rows", "totals", "rates"}
    assert (body["month"], body["office"], body["submitted_at"]) == ("2026-01", book.office.code, None)
    [row] = body["rows"]
    assert row["project"] == str(p.pk)
    assert row["signed_amount_counted"] == "120000000.00"
    assert row["investment_month"] == "3000000.50"
    assert set(body["totals"]) == {
        "new_signed_count",
        "new_signed_amount",
        "investment_month",
        "investment_cumulative",
        "funds_month",
        "funds_total",
    }
    assert body["totals"]["new_signed_count"] == 1
    assert set(body["rates"]) == {"signing", "construction", "production", "funds_in_place"}


def test_a_park_key_sees_its_own_office_only_and_the_province_chooses(book: Ledgerbook, province) -> None:  # type: ignore[no-untyped-def]
    other = OfficeFactory(code="other-park", kind="park")
    Ledgerbook(other).signed(at(2026, 1, 12), amount="300")
    book.signed(at(2026, 1, 10), amount="100")
    park = api_for(book.office)
    assert park.get("reports/monthly/", month="2026-01", office="other-park").status_code == 404
    assert park.get("reports/monthly/", month="2026-01", office=book.office.code).status_code == 200
    prov = api_for(province)
    whole = prov.get("reports/monthly/", month="2026-01").json()
    assert whole["office"] is None and len(whole["rows"]) == 2
    one = prov.get("reports/monthly/", month="2026-01", office="other-park").json()
    assert one["office"] == "other-park" and one["totals"]["new_signed_amount"] == "300.00"
    unknown = prov.get("reports/monthly/", month="2026-01", office="nowhere")
    assert unknown.status_code == 400 and "office" in unknown.content.decode()


@pytest.mark.parametrize("month", ["2026-13", "2026/01", "", "9999-12"])
def test_a_bad_month_answers_400_naming_the_field(book: Ledgerbook, month: str) -> None:
    r = api_for(book.office).get("reports/monthly/", month=month)
    assert r.status_code == 400
    assert "month" in r.content.decode()


def test_a_submitted_month_answers_with_what_was_submitted(book: Ledgerbook) -> None:
    p = book.signed(at(2026, 1, 10), amount="100")
    api = api_for(book.office)
    with time_machine.travel(at(2026, 2, 3)):
        r = api.post("reports/monthly/submit/", {"month": "2026-01"})
    assert r.status_code == 201, r.content
    assert r.json()["submitted_at"] is not None
    book.amount(p, "900", at(2026, 2, 10))
    again = api.get("reports/monthly/", month="2026-01").json()
    assert again == r.json()
    with time_machine.travel(at(2026, 2, 4)):
        twice = api.post("reports/monthly/submit/", {"month": "2026-01"})
    assert twice.status_code == 400 and "submitted" in twice.content.decode()
