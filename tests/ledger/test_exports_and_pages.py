"""Excel and PDF exports open and carry the Chinese headings; the admin pages submit, show and rank."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess

import pytest
from openpyxl import load_workbook

from crm.roles import MANAGER, role_assign
from ledger.exports import ledger_pdf, ledger_xlsx
from ledger.models import AssessmentScheme, LedgerSubmission, SchemeIndicator
from ledger.selectors import ledger_compute
from ledger.services import ledger_submit
from tests.factories import OfficeFactory, UserFactory
from tests.ledger.conftest import Ledgerbook, at

JAN = dt.date(2026, 1, 1)
pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(book: Ledgerbook):  # type: ignore[no-untyped-def]
    p = book.signed(at(2026, 1, 10), amount="123456789", title='=HYPERLINK("x")锂电项目')
    book.entry(p, "investment", JAN, at(2026, 1, 30), amount="20000000")
    return ledger_compute(office=None, month=JAN)


def test_the_workbook_has_a_summary_a_sheet_per_park_and_definitions_in_wan(book: Ledgerbook, ledger) -> None:  # type: ignore[no-untyped-def]
    wb = load_workbook(io.BytesIO(ledger_xlsx(ledger)))
    assert wb.sheetnames == ["汇总", f"园区 {book.park.code}", "口径说明"]
    summary = list(wb["汇总"].values)
    assert summary[0][:3] == ("范围", "新签约项目数", "新签约额")
    assert summary[1][0] == "合计" and summary[1][1] == 1
    assert float(summary[1][2]) == pytest.approx(12345.6789)  # 万元
    park = list(wb[f"园区 {book.park.code}"].values)
    assert park[0][0] == "项目"
    assert park[1][0] == '=HYPERLINK("x")锂电项目'  # text, never a formula
    assert float(park[1][3]) == 2000.0
    definitions = dict(list(wb["口径说明"].values)[1:])
    assert "签约率" in definitions and definitions["范围"] == "全省"


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils (pdftotext)")
def test_the_pdf_is_rendered_with_chinese_headings(ledger) -> None:  # type: ignore[no-untyped-def]
    pdf = ledger_pdf(ledger)
    assert pdf.startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    for heading in ("月报台账", "汇总", "项目明细", "口径说明", "签约率", "锂电项目"):
        assert heading in text, heading


def test_a_park_manager_submits_from_the_admin_page_and_exports(book: Ledgerbook, client, settings) -> None:  # type: ignore[no-untyped-def]
    book.signed(at(2026, 1, 10), amount="100", title="本园区项目")
    manager = UserFactory(office=book.office, is_staff=True)
    role_assign(user=manager, role=MANAGER)
    client.force_login(manager)
    page = client.get("/admin/ledger/monthly/", {"month": "2026-01"})
    assert page.status_code == 200 and "本园区项目" in page.content.decode()
    assert 'id="ledger-submit"' in page.content.decode()
    client.post("/admin/ledger/monthly/submit/", {"month": "2026-01"})
    assert LedgerSubmission.objects.filter(office=book.office, month=JAN).exists()
    assert 'id="ledger-submit"' not in client.get("/admin/ledger/monthly/", {"month": "2026-01"}).content.decode()
    xlsx = client.get("/admin/ledger/monthly/export.xlsx", {"month": "2026-01"})
    assert xlsx.status_code == 200 and xlsx["Content-Disposition"].startswith("attachment")
    other = OfficeFactory(code="other-park", kind="park")
    assert client.get("/admin/ledger/monthly/", {"month": "2026-01", "office": other.code}).status_code == 404
    assert client.get("/admin/ledger/overview/").status_code == 403


def test_the_province_sees_the_overview_and_the_leaderboard_drills_down(book: Ledgerbook, client) -> None:  # type: ignore[no-untyped-def]
    p = book.signed(at(2026, 1, 10), amount="100", title="排行项目")
    ledger_submit(office=book.office, month=JAN, now=at(2026, 2, 2))
    s = AssessmentScheme.objects.create(code="s2026", name="考核", year=2026)
    SchemeIndicator.objects.create(scheme=s, code="signed", name="签约", formula="10 * new_signed_count")
    boss = UserFactory(office=OfficeFactory(code="prov", kind="provincial"), is_staff=True, is_superuser=True)
    client.force_login(boss)
    overview = client.get("/admin/ledger/overview/", {"month": "2026-01"}).content.decode()
    assert 'data-state="submitted"' in overview
    board = client.get("/admin/ledger/leaderboard/s2026/").content.decode()
    assert "排行项目" in board and f"/admin/recruitment/project/{p.pk}/change/" in board
    assert client.get("/admin/ledger/monthly/", {"month": "2026-01"}).status_code == 200
