"""The plain .xlsx reader gives exactly openpyxl's rows, and leaves what it does not read to openpyxl."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook

from crm import spreadsheets
from crm.spreadsheets import sheet_read


def _workbook(fill, *, write_only: bool = False) -> bytes:  # type: ignore[no-untyped-def]
    workbook = Workbook(write_only=write_only)
    sheet = workbook.create_sheet("数据") if write_only else workbook.active
    fill(sheet)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _openpyxl_rows(data: bytes, monkeypatch) -> list:  # type: ignore[no-untyped-def]
    with monkeypatch.context() as patch:
        patch.setattr(spreadsheets, "_plain_xlsx_rows", lambda data: None)
        return list(spreadsheets._xlsx_rows(data))


def _plain(sheet) -> None:  # type: ignore[no-untyped-def]
    sheet["A1"], sheet["B1"], sheet["D1"] = "企业名称", "注册资本", "网址"
    sheet["A2"], sheet["B2"], sheet["D2"] = "太原钢铁", 12345, "http://a.cn"
    sheet["A3"], sheet["B3"] = "  带空格  ", 1.5
    sheet["A6"], sheet["C6"] = "隔行", "第三列"  # rows 4-5 missing, column C only here
    sheet["B7"] = 1e20


def _write_only(sheet) -> None:  # type: ignore[no-untyped-def]
    sheet.append(["名称", "数量"])
    for i in range(50):
        sheet.append([f"企业{i}", i])
    sheet.append([])
    sheet.append(["最后", 2.25])


@pytest.mark.parametrize("fill,write_only", [(_plain, False), (_write_only, True)])
def test_the_plain_reader_gives_openpyxls_rows(fill, write_only, monkeypatch):  # type: ignore[no-untyped-def]
    data = _workbook(fill, write_only=write_only)
    assert spreadsheets._plain_xlsx_rows(data) is not None  # the fast path was taken
    assert list(spreadsheets._xlsx_rows(data)) == _openpyxl_rows(data, monkeypatch)
    fast = sheet_read(data, filename="a.xlsx")
    with monkeypatch.context() as patch:
        patch.setattr(spreadsheets, "_plain_xlsx_rows", lambda data: None)
        slow = sheet_read(data, filename="a.xlsx")
    assert (fast.header, fast.header_row, fast.rows, fast.rows_seen, fast.cells_seen) == (
        slow.header,
        slow.header_row,
        slow.rows,
        slow.rows_seen,
        slow.cells_seen,
    )


@pytest.mark.parametrize(
    "cell",
    [dt.datetime(2026, 5, 1, 9, 30), dt.date(2026, 5, 1), True, "=1+1"],
    ids=["datetime", "date", "boolean", "formula"],
)
def test_dates_booleans_and_formulas_are_left_to_openpyxl(cell, monkeypatch):  # type: ignore[no-untyped-def]
    def fill(sheet):  # type: ignore[no-untyped-def]
        sheet["A1"], sheet["B1"] = "名称", "值"
        sheet["A2"], sheet["B2"] = "企业", cell

    data = _workbook(fill)
    assert spreadsheets._plain_xlsx_rows(data) is None
    assert list(spreadsheets._xlsx_rows(data)) == _openpyxl_rows(data, monkeypatch)
