"""Submitting a month stores the ledger as it was and locks the month; later entries are corrections."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from ledger.models import LedgerCorrection, LedgerSubmission
from ledger.selectors import ledger_month, submissions_overview
from ledger.services import ledger_submit
from tests.factories import OfficeFactory, UserFactory
from tests.ledger.conftest import Ledgerbook, at

JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)


def codes(exc: ValidationError) -> dict[str, list[str]]:
    return {field: [e.code for e in errors] for field, errors in exc.error_dict.items()}


@pytest.mark.django_db
def test_after_submission_nothing_changes_the_stored_ledger_and_a_correction_shows_in_the_next(
    book: Ledgerbook,
) -> None:
    user = UserFactory(office=book.office)
    p = book.signed(at(2026, 1, 10), amount="1000")
    first = book.entry(p, "investment", JAN, at(2026, 1, 30), amount="100")
    submission = ledger_submit(office=book.office, month=JAN, actor=user, now=at(2026, 2, 3))
    assert not submission.late
    stored = ledger_month(office=book.office, month=JAN)
    assert stored["submitted_at"] is not None
    assert stored["totals"]["investment_month"] == "100.00"

    # A plain entry for the locked month is refused, naming the field and a code.
    with pytest.raises(ValidationError) as refused:
        book.entry(p, "investment", JAN, at(2026, 2, 10), amount="5")
    assert codes(refused.value) == {"reason": ["locked_month"]}
    # A correction with its reason is recorded and marked; the stored ledger does not move.
    fix = book.entry(p, "investment", JAN, at(2026, 2, 10), amount="120", corrects=first, reason="审计核减后更正")
    book.amount(p, "5000", at(2026, 2, 11))
    assert ledger_month(office=book.office, month=JAN) == stored
    mark = LedgerCorrection.objects.get(entry=fix)
    assert (mark.month, mark.reason, mark.submission) == (JAN, "审计核减后更正", submission)

    february = ledger_month(office=book.office, month=FEB)
    assert [c["entry"] for c in february["corrections"]] == [str(fix.pk)]
    assert february["corrections"][0]["month"] == "2026-01"
    assert february["totals"]["investment_cumulative"] == "120.00"
    ledger_submit(office=book.office, month=FEB, now=at(2026, 3, 9))
    assert LedgerSubmission.objects.get(office=book.office, month=FEB).late
    mark.refresh_from_db()
    assert mark.reported_in == FEB
    # Reported once: the March report does not repeat it.
    assert ledger_month(office=book.office, month=MAR)["corrections"] == []


@pytest.mark.django_db
def test_a_month_is_submitted_once_after_it_is_over_by_a_park_office(book: Ledgerbook) -> None:
    with pytest.raises(ValidationError) as not_over:
        ledger_submit(office=book.office, month=FEB, now=at(2026, 2, 20))
    assert codes(not_over.value) == {"month": ["not_over"]}
    ledger_submit(office=book.office, month=JAN, now=at(2026, 2, 2))
    with pytest.raises(ValidationError) as twice:
        ledger_submit(office=book.office, month=JAN, now=at(2026, 2, 3))
    assert codes(twice.value) == {"month": ["submitted"]}
    with pytest.raises(ValidationError) as province:
        ledger_submit(office=OfficeFactory(kind="provincial"), month=JAN, now=at(2026, 2, 3))
    assert codes(province.value) == {"office": ["not_park"]}


@pytest.mark.django_db
def test_the_overview_shows_submitted_late_and_missing_offices(book: Ledgerbook) -> None:
    late = OfficeFactory(code="late-park", kind="park")
    OfficeFactory(code="silent-park", kind="park")
    ledger_submit(office=book.office, month=JAN, now=at(2026, 2, 4))
    ledger_submit(office=late, month=JAN, now=at(2026, 2, 8))
    states = {r["office"].code: r["state"] for r in submissions_overview(month=JAN, today=dt.date(2026, 2, 9))}
    assert states == {book.office.code: "submitted", "late-park": "late", "silent-park": "missing"}
    before = {r["office"].code: r["state"] for r in submissions_overview(month=JAN, today=dt.date(2026, 2, 5))}
    assert before["silent-park"] == "due"
