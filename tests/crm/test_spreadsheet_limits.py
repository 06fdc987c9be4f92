"""An upload costs in proportion to the cells it really holds, within a row and a size limit.

A 1.5 KB workbook declaring ``A1:XFD10000`` once took 28 s to preview: openpyxl padded
every declared row to 16,384 cells. Work is counted here (rows and cells looked at),
never timed.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest
from django.utils import translation
from openpyxl import Workbook

from crm.enterprise_imports import EnterpriseImporter
from crm.imports import import_preview, import_read
from crm.models import Enterprise
from crm.spreadsheets import MAX_COLUMNS, SheetError, sheet_read

IMPORTER = EnterpriseImporter()


@pytest.fixture(autouse=True)
def _english():  # type: ignore[no-untyped-def]
    """Messages are compared in English, whatever language an earlier test left active."""
    with translation.override("en"):
        yield


def _xlsx(rows: list[list[object]], *, far_cell: str | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for values in rows:
        sheet.append(values)
    if far_cell:
        sheet[far_cell] = "远处的单元格"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _declare_dimension(data: bytes, ref: str) -> bytes:
    """The same workbook with its first sheet claiming to span ``ref``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                content = re.sub(rb'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{ref}"/>'.encode(), content)
                assert ref.encode() in content
            target.writestr(info, content)
    return out.getvalue()


def _csv(rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def test_a_declared_dimension_of_a_whole_sheet_costs_only_the_real_cells():
    bomb = _declare_dimension(_xlsx([["企业名称", "城市"], ["甲", "太原"]]), "A1:XFD10000")
    assert len(bomb) < 10_000
    sheet = sheet_read(bomb, filename="bomb.xlsx")
    assert sheet.header == ["企业名称", "城市"]
    assert sheet.rows == [(2, ["甲", "太原"])]
    # Before: 10,000 rows × 16,384 cells. Now the two real rows, each read as far as the header goes.
    assert sheet.rows_seen == 2
    assert sheet.cells_seen <= 2 * MAX_COLUMNS


def test_a_real_cell_far_away_costs_no_padding_of_the_rows_and_columns_between():
    far = _xlsx([["企业名称", "城市"], ["甲", "太原"]], far_cell="XFD100000")
    sheet = sheet_read(far, filename="far.xlsx")
    assert [number for number, _values in sheet.rows] == [2]
    # The missing rows in between come as one shared empty row, looked at once.
    assert sheet.cells_seen <= MAX_COLUMNS + 3 * 2


def test_an_import_preview_of_the_bomb_answers_with_its_one_row(park_user):
    bomb = _declare_dimension(_xlsx([["企业名称", "城市"], ["甲", "太原"]]), "A1:XFD1048576")
    plan = import_preview(importer=IMPORTER, data=bomb, filename="bomb.xlsx", user=park_user)
    assert not plan.errors
    assert plan.total == 1


def test_data_rows_right_of_the_header_are_not_read():
    rows = [["企业名称"], ["甲", *(["x"] * 5000)]]
    sheet = sheet_read(_csv(rows), filename="wide.csv")
    assert sheet.rows == [(2, ["甲"])]


def test_the_row_limit_takes_exactly_the_maximum_and_refuses_one_more(settings):
    settings.IMPORT_MAX_ROWS = 100_000  # the documented maximum (and the default)
    header = "企业名称,城市\n"
    body = "".join(f"企业{i},太原\n" for i in range(100_000))
    sheet = import_read(data=(header + body).encode(), filename="max.csv")
    assert len(sheet.rows) == 100_000
    with pytest.raises(SheetError, match="more than 100,000 data rows"):
        import_read(data=(header + body + "再多一个,太原\n").encode(), filename="over.csv")


def test_blank_rows_do_not_count_against_the_row_limit(settings):
    settings.IMPORT_MAX_ROWS = 2
    sheet = import_read(data=_csv([["企业名称"], ["甲"], [], [""], ["乙"]]), filename="b.csv")
    assert [number for number, _values in sheet.rows] == [2, 5]


def test_the_limits_reach_the_user_as_a_clear_message(park_user, settings):
    settings.IMPORT_MAX_ROWS = 3
    rows = [["企业名称"], ["甲"], ["乙"], ["丙"], ["丁"]]
    plan = import_preview(importer=IMPORTER, data=_csv(rows), filename="e.csv", user=park_user)
    assert [issue.message for issue in plan.errors] == [
        "The file has more than 3 data rows; split it into smaller files."
    ]

    settings.IMPORT_MAX_ROWS = 100_000
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024
    big = _csv([["企业名称"], *[[f"企业{i}"] for i in range(200)]])
    assert len(big) > 1024
    plan = import_preview(importer=IMPORTER, data=big, filename="e.csv", user=park_user)
    assert [issue.message for issue in plan.errors] == [
        "The file is larger than 1.0\xa0KB; split it into smaller files."
    ]
    assert Enterprise.objects.count() == 0


def test_a_workbook_unpacking_beyond_its_bound_is_refused_unread(monkeypatch):
    import crm.spreadsheets as spreadsheets

    monkeypatch.setattr(spreadsheets, "XLSX_MAX_UNPACKED_BYTES", 1000)
    with pytest.raises(SheetError, match="unpacks to more than"):
        sheet_read(_xlsx([["企业名称"], *[[f"企业{i}"] for i in range(200)]]), filename="z.xlsx")


# --- The partner's rules in a file, as in the API ---------------------------------------------


@pytest.mark.parametrize("amount", ["1e5", "١٢٣", "0x10"])
def test_an_import_refuses_amounts_that_are_not_plain_digits(park_user, amount):
    rows = [["企业名称", "注册资本（元）"], ["甲", amount], ["乙", "1,250,000.50"]]
    plan = import_preview(importer=IMPORTER, data=_csv(rows), filename="e.csv", user=park_user)
    assert [(issue.row, issue.column) for issue in plan.errors] == [(2, "注册资本（元）")]


@pytest.mark.parametrize("external_id", [".", "..", "a b", "a/b", "a?b", "a#b"])
def test_an_import_refuses_an_external_id_no_url_can_carry(park_user, external_id):
    rows = [["企业名称", "外部编号"], ["甲", external_id], ["乙", "客户-001"]]
    plan = import_preview(importer=IMPORTER, data=_csv(rows), filename="e.csv", user=park_user)
    assert [(issue.row, issue.column) for issue in plan.errors] == [(2, "外部编号")]
