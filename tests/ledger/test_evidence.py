"""Evidence files: limits with clear refusals, stored through the storage API, served only to the project's offices."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from crm.roles import STAFF, role_assign
from ledger.services import evidence_attach
from tests.api.conftest import api_for
from tests.factories import OfficeFactory, UserFactory
from tests.ledger.conftest import Ledgerbook, at

JAN = dt.date(2026, 1, 1)
PDF = b"%PDF-1.4\n% a transfer slip\n"
pytestmark = pytest.mark.django_db


@pytest.fixture
def funds(book: Ledgerbook):  # type: ignore[no-untyped-def]
    p = book.signed(at(2026, 1, 10), amount="100")
    return book.entry(p, "funds", JAN, at(2026, 1, 20), amount="50")


def codes(exc: ValidationError) -> dict[str, list[str]]:
    return {field: [e.code for e in errors] for field, errors in exc.error_dict.items()}


def test_an_oversized_or_disallowed_file_is_refused_with_a_clear_message(funds, settings) -> None:  # type: ignore[no-untyped-def]
    settings.EVIDENCE_MAX_BYTES = 10
    with pytest.raises(ValidationError) as big:
        evidence_attach(entry=funds, upload=ContentFile(PDF, name="slip.pdf"), kind="bank_slip")
    assert codes(big.value) == {"file": ["too_large"]}
    assert "10" in big.value.messages[0] and str(len(PDF)) in big.value.messages[0]
    settings.EVIDENCE_MAX_BYTES = 1000
    with pytest.raises(ValidationError) as html:
        evidence_attach(
            entry=funds, upload=ContentFile(b"<script>alert(1)</script>", name="slip.pdf"), kind="bank_slip"
        )
    assert codes(html.value) == {"file": ["type_not_allowed"]}
    assert funds.evidence.count() == 0


def test_files_go_through_the_configured_evidence_storage(funds, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    second = tmp_path / "second-store"
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(second)}},
    }
    evidence = evidence_attach(entry=funds, upload=ContentFile(PDF, name="转账凭证.pdf"), kind="bank_slip")
    stored = second / evidence.file.name
    assert stored.read_bytes() == PDF
    assert evidence.content_type == "application/pdf" and evidence.size == len(PDF)


def test_another_office_gets_404_and_the_file_comes_as_an_attachment(book: Ledgerbook, funds, client) -> None:  # type: ignore[no-untyped-def]
    evidence = evidence_attach(entry=funds, upload=ContentFile(PDF, name="slip.pdf"), kind="bank_slip")
    own = api_for(book.office).get(f"evidence/{evidence.pk}/")
    assert own.status_code == 200
    assert own["Content-Disposition"].startswith("attachment")
    assert own["X-Content-Type-Options"] == "nosniff"
    assert b"".join(own.streaming_content) == PDF
    other = OfficeFactory(code="other-park", kind="park")
    assert api_for(other).get(f"evidence/{evidence.pk}/").status_code == 404
    stranger = UserFactory(office=other, is_staff=True)
    role_assign(user=stranger, role=STAFF)
    client.force_login(stranger)
    assert client.get(f"/admin/ledger/evidence/{evidence.pk}/").status_code == 404
    assert client.get("/admin/ledger/evidence/not-a-uuid/").status_code == 404


def test_the_ledger_marks_funds_without_evidence_and_counts_them_once_evidenced(book: Ledgerbook, funds) -> None:  # type: ignore[no-untyped-def]
    from ledger.selectors import ledger_compute

    [row] = ledger_compute(office=book.office, month=JAN)["rows"]
    assert (row["funds_month"], row["evidence_missing"]) == ("0.00", ["funds_month"])
    evidence_attach(entry=funds, upload=ContentFile(PDF, name="slip.pdf"), kind="bank_slip")
    [row] = ledger_compute(office=book.office, month=JAN)["rows"]
    assert (row["funds_month"], row["evidence_missing"]) == ("50.00", [])
