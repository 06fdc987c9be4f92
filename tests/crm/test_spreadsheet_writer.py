"""The .xlsx writer: what users see (header, widths, formats, dates, numbers), text never a formula, flat memory."""

from __future__ import annotations

import datetime as dt
import io
import tempfile
import tracemalloc
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from crm.spreadsheets import OutColumn, sheet_read, sheet_write_csv, sheet_write_xlsx, sheet_write_xlsx_file

COLUMNS = [
    OutColumn("名称", "text", 30),
    OutColumn("金额", "money", 14),
    OutColumn("版本", "number", 8),
    OutColumn("更新时间", "datetime", 18),
    OutColumn("日期", "date", 12),
]
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _shanghai(settings):  # type: ignore[no-untyped-def]
    settings.TIME_ZONE = "Asia/Shanghai"


def test_the_workbook_looks_as_users_expect(settings):  # type: ignore[no-untyped-def]
    rows = [
        [
            "钢科",
            Decimal("12345678.50"),
            3,
            dt.datetime(2026, 3, 1, 2, 30, 15, 123, tzinfo=dt.UTC),
            dt.date(2026, 3, 1),
        ],
        ["  留空格 ", None, 0, None, None],
    ]
    data = sheet_write_xlsx(columns=COLUMNS, rows=rows, title="企业" * 20)
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook.worksheets[0]
    assert sheet.title == ("企业" * 20)[:31]
    assert sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[1]] == [c.header for c in COLUMNS]
    assert all(c.font.b for c in sheet[1])
    for letter, column in zip("ABCDE", COLUMNS, strict=True):
        # Excel shows the width as the number of characters; the file holds it with the cell padding.
        assert column.width <= sheet.column_dimensions[letter].width < column.width + 1
    name, money, version, updated, day = sheet[2]
    assert (name.value, name.number_format) == ("钢科", "@")
    assert (money.value, money.number_format) == (12345678.5, "#,##0.00")
    assert (version.value, version.number_format) == (3, "0")
    # An aware time in the local time zone, to the second, shown as a date and time.
    assert updated.value == dt.datetime(2026, 3, 1, 10, 30, 15)
    assert updated.is_date and updated.number_format == "yyyy-mm-dd hh:mm"
    assert day.is_date and day.value == dt.datetime(2026, 3, 1) and day.number_format == "yyyy-mm-dd"
    assert [c.value for c in sheet[3]] == ["  留空格 ", None, 0, None, None]
    assert sheet.max_row == 3


def test_a_date_in_a_text_column_is_still_a_date():
    columns = [OutColumn("指标"), OutColumn("值")]
    data = sheet_write_xlsx(columns=columns, rows=[["报送时间", dt.datetime(2026, 2, 2, 9, 0)]], title="说明")
    cell = load_workbook(io.BytesIO(data)).worksheets[0]["B2"]
    assert cell.is_date and cell.value == dt.datetime(2026, 2, 2, 9, 0)


def test_text_that_looks_like_a_formula_or_a_link_stays_text():
    values = ['=HYPERLINK("http://evil")', "=1+1", "@SUM(A1)", "+86 351 1234567", "http://www.example.cn", "0012"]
    data = sheet_write_xlsx(columns=[OutColumn("值")], rows=[[v] for v in values], title="t")
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == values
    assert all(c.data_type == "s" and c.hyperlink is None for c in cells)
    # The import reads them back as they were written, as it does from a CSV we wrote.
    from_xlsx = sheet_read(data, filename="t.xlsx").rows
    from_csv = sheet_read(
        b"".join(sheet_write_csv(columns=[OutColumn("值")], rows=[[v] for v in values])), filename="t.csv"
    ).rows
    assert [r[1][0] for r in from_xlsx] == [r[1][0] for r in from_csv] == values


def test_extra_sheets_follow_in_order():
    data = sheet_write_xlsx(
        columns=[OutColumn("a")],
        rows=[],
        title="数据",
        extra_sheets=[("说明", [OutColumn("b")], [["x"]]), ("代码", [OutColumn("c")], [["y"]])],
    )
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["数据", "说明", "代码"]
    assert [[c.value for c in r] for r in workbook["代码"].iter_rows()] == [["c"], ["y"]]


def test_a_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="row 3"):
        sheet_write_xlsx(columns=[OutColumn("a"), OutColumn("b")], rows=[["1", "2"], ["1"]], title="t")


def _rows(count: int):  # type: ignore[no-untyped-def]
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for n in range(count):
        yield [f"山西{n:06d}新材料有限公司", Decimal(n) * 100, n, now, dt.date(2026, 1, 1)]


def _peak_bytes(count: int) -> tuple[int, int]:
    """Peak memory traced while writing ``count`` rows to a file, and the file's size."""
    with tempfile.TemporaryFile() as out:
        tracemalloc.start()
        try:
            written = sheet_write_xlsx_file(out, columns=COLUMNS, rows=_rows(count), title="t")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert written == count
        return peak, out.tell()


def test_memory_does_not_grow_with_the_rows():
    _peak_bytes(1000)  # what a first write loads and keeps (modules, caches) is not the rows'
    small_peak, small_size = _peak_bytes(1000)
    large_peak, large_size = _peak_bytes(10000)
    assert large_size > 8 * small_size
    # Ten times the rows, the same memory: each row is on disk once the next one starts
    # (a workbook kept in memory until it is saved holds about 1 KB a row here).
    assert large_peak < small_peak + 256 * 1024


def test_a_failure_part_way_is_raised_and_leaves_no_workbook():
    def rows():  # type: ignore[no-untyped-def]
        yield ["钢科", None, 1, None, None]
        raise RuntimeError("the database went away")

    out = io.BytesIO()
    with pytest.raises(RuntimeError, match="went away"):
        sheet_write_xlsx_file(out, columns=COLUMNS, rows=rows(), title="t")
    assert out.getvalue() == b""
