"""Spreadsheet files in and out: .xlsx and .csv, read with the row numbers users see.

Imports and exports of every kind of record share this module, so that

* a row number in an error message is the number Excel shows next to the row
  (the header is row 1; blank rows keep their numbers instead of closing up);
* a CSV saved by Chinese Excel (GB18030) reads as well as UTF-8 with or without BOM;
* a CSV we write opens in Excel with its Chinese intact (UTF-8 with BOM), and a text
  cell that Excel would run as a formula (``=cmd|…``) is written so it is not run;
* headers are matched loosely (width, case, spaces, a trailing ``*``), so "企业名称*"
  and "企业名称" or "Credit code" and "credit_code" are the same column.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO

from django.utils import timezone
from django.utils.translation import gettext as _

XLSX = "xlsx"
CSV = "csv"
FORMATS = (XLSX, CSV)
CONTENT_TYPES = {
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    CSV: "text/csv; charset=utf-8",
}

# Cells Excel would evaluate when a CSV is opened: "=…", "@…", "+…"/"-…" unless a plain
# number or phone number. Written with a leading apostrophe; read back without it.
_FORMULA_START = re.compile(r"^[=@\t\r]|^[+\-](?![\d\s().\-]*$)")
_ESCAPED = re.compile(r"^'(?=[=@+\-\t\r])")
_HEADER_NOISE = re.compile(r"[\s*＊:：_\-]+")


class SheetError(Exception):
    """The file as a whole cannot be read (wrong type, damaged, no header row)."""


# Columns read per row: more than any layout has, with room for columns an import
# ignores. Cells further right are never looked at, whatever the file declares.
MAX_COLUMNS = 256
# Excel's last row; a workbook naming a row below it is not one Excel wrote.
EXCEL_MAX_ROW = 1_048_576
# What the parts of an .xlsx may unpack to (a zip's entries declare their sizes, and
# reading stops there): room for far more than the row limit, bounded all the same.
XLSX_MAX_UNPACKED_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Sheet:
    """The header row and the data rows of a file, each with its Excel row number.

    ``rows_seen`` and ``cells_seen`` count the work reading took: the rows the file
    holds up to its last one (blank rows included) and the cells looked at in them.
    """

    header: list[str]
    header_row: int
    rows: list[tuple[int, list[Any]]] = field(repr=False)
    rows_seen: int = 0
    cells_seen: int = 0
    # Columns (0-based) holding values under no header, each with the first row that
    # has one: the values there belong to no column, so an import refuses the file.
    unnamed_columns: dict[int, int] = field(default_factory=dict)


def header_key(text: object) -> str:
    """The form a header is compared in: width-folded, lower case, no spaces, ``*``, ``_``, ``-`` or colons."""
    value = unicodedata.normalize("NFKC", str(text or "")).strip().lower()
    return _HEADER_NOISE.sub("", value)


def format_for(filename: str) -> str:
    """The format a file name announces (``xlsx`` or ``csv``), or :class:`SheetError`."""
    name = filename.lower().rsplit("/", 1)[-1]
    if name.endswith(".xlsx") or name.endswith(".xlsm"):
        return XLSX
    if name.endswith(".csv") or name.endswith(".txt"):
        return CSV
    if name.endswith(".xls"):
        raise SheetError(_("Old .xls workbooks are not supported: save the file as .xlsx (Excel Workbook) or .csv."))
    raise SheetError(_("Upload an Excel workbook (.xlsx) or a CSV file (.csv)."))


def too_large_message(max_bytes: int) -> str:
    from django.template.defaultfilters import filesizeformat

    return _("The file is larger than %(size)s; split it into smaller files.") % {"size": filesizeformat(max_bytes)}


def too_many_rows_message(max_rows: int) -> str:
    return _("The file has more than %(max)s data rows; split it into smaller files.") % {"max": f"{max_rows:,}"}


def sheet_read(data: bytes, *, filename: str, max_rows: int | None = None, max_bytes: int | None = None) -> Sheet:
    """Read the first worksheet of an .xlsx, or a .csv, into a :class:`Sheet`.

    The first non-blank row is the header. Entirely blank rows are dropped but the
    other rows keep the numbers Excel shows for them.

    Reading costs in proportion to the cells the file really holds: the size a
    workbook declares for its sheet is ignored (openpyxl would pad every declared
    row to every declared column: ``A1:XFD10000`` is 164 million cells), no row is
    read beyond :data:`MAX_COLUMNS` cells, and once the header is known the cells
    right of its last column are only checked for being blank (a value there, or
    under a blank header, is noted in ``unnamed_columns``). More than ``max_rows`` data rows, or more than
    ``max_bytes`` bytes, are refused with a message saying so.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise SheetError(too_large_message(max_bytes))
    fmt = format_for(filename)
    raw_rows = _xlsx_rows(data) if fmt == XLSX else _csv_rows(data)
    header: list[str] | None = None
    header_row = 0
    width = MAX_COLUMNS
    rows: list[tuple[int, list[Any]]] = []
    rows_seen = cells_seen = 0
    blank: Sequence[Any] | None = None
    unnamed: dict[int, int] = {}
    blank_headers: list[int] = []
    for number, values in raw_rows:
        rows_seen += 1
        if values is blank:  # openpyxl hands every missing row as the same empty tuple
            continue
        if number > EXCEL_MAX_ROW:
            raise SheetError(_("The sheet has rows below Excel's last row; it was not saved by Excel."))
        read = values[:width]
        cells_seen += len(read)
        cleaned = [_clean_cell(v) for v in read]
        if header is not None:
            # Values right of the header would be dropped without a word: note where they are.
            tail = values[width:MAX_COLUMNS]
            if tail and tail.count(None) != len(tail):
                for offset, value in enumerate(tail):
                    if _clean_cell(value) is not None:
                        unnamed.setdefault(width + offset, number)
        if all(v is None for v in cleaned):
            blank = values
            continue
        if header is None:
            header = [str(v).strip() if v is not None else "" for v in cleaned]
            while header and not header[-1]:
                header.pop()
            header_row = number
            width = len(header)
            blank_headers = [position for position, text in enumerate(header) if not text]
            continue
        rows.append((number, cleaned))
        for position in blank_headers:  # and values under a blank header
            if position < len(cleaned) and cleaned[position] is not None:
                unnamed.setdefault(position, number)
        if max_rows is not None and len(rows) > max_rows:
            raise SheetError(too_many_rows_message(max_rows))
    if header is None:
        raise SheetError(_("The file is empty: the first row must hold the column headers."))
    return Sheet(
        header=header,
        header_row=header_row,
        rows=rows,
        rows_seen=rows_seen,
        cells_seen=cells_seen,
        unnamed_columns=unnamed,
    )


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, Sequence[Any]]]:
    from openpyxl import load_workbook

    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise SheetError(_("This is not an Excel .xlsx workbook (was it saved as .xls or renamed?)."))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SheetError(_("The workbook cannot be read: %(error)s") % {"error": exc}) from exc
    if unpacked > XLSX_MAX_UNPACKED_BYTES:
        raise SheetError(
            _("The workbook unpacks to more than %(mb)d MB; split it into smaller files.")
            % {"mb": XLSX_MAX_UNPACKED_BYTES >> 20}
        )
    plain = _plain_xlsx_rows(data)
    if plain is not None:
        yield from _padded(plain)
        return
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise SheetError(_("The workbook cannot be read: %(error)s") % {"error": exc}) from exc
    try:
        sheet = workbook.worksheets[0]
        # The declared dimension is only a claim; without it openpyxl neither pads rows
        # to the declared width nor adds empty rows after the last real one.
        sheet.reset_dimensions()
        # Rows missing between real ones are filled in (as one shared empty tuple), so
        # enumerate gives Excel's row numbers.
        yield from enumerate(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1)
    except SheetError:
        raise
    except Exception as exc:  # a damaged sheet part
        raise SheetError(_("The workbook cannot be read: %(error)s") % {"error": exc}) from exc
    finally:
        workbook.close()


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DOC_RELS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_CELL_REF = re.compile(r"([A-Z]{1,3})([0-9]+)$")
# Past this many rows the plain reader (which holds the rows until the file is read)
# leaves the file to openpyxl's streaming reader.
_PLAIN_MAX_ROWS = 200_000


class _NotPlain(Exception):
    """The workbook holds something the plain reader leaves to openpyxl."""


def _plain_xlsx_rows(data: bytes) -> list[tuple[int, dict[int, Any]]] | None:
    """The first worksheet's rows of a plain workbook, read from its XML directly.

    openpyxl's reader costs about 16 µs a cell in Python (8 s for 100,000 rows of
    eight columns, read once for the preview and again for the import); this reads
    the same values in a quarter of that. "Plain" means what exports and most saved
    files hold: numbers, shared or inline text, no formulas, no dates or other typed
    cells, every cell and row with its reference. Anything else (or anything it
    cannot parse) returns None and openpyxl reads the file as before, so values,
    errors and limits are exactly openpyxl's. (python-calamine, the fast reader in
    Rust, is no substitute for files users upload: it builds a dense range from the
    first to the last cell, so a sheet with a cell in A1 and one in WQ200001 makes it
    allocate 100 GB and abort the whole process, where this reads two cells.)
    """
    from xml.etree.ElementTree import iterparse

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            sheet_path = _first_sheet_path(archive)
            dates = _date_styles(archive) if "xl/styles.xml" in names else set()
            strings: list[str] = []
            if "xl/sharedStrings.xml" in names:
                with archive.open("xl/sharedStrings.xml") as part:
                    for _event, element in iterparse(part):
                        if element.tag == _MAIN + "si":
                            strings.append(_text_of(element))
                            element.clear()
            rows: list[tuple[int, dict[int, Any]]] = []
            with archive.open(sheet_path) as part:
                for _event, element in iterparse(part):
                    if element.tag != _MAIN + "row":
                        continue
                    number = int(element.attrib["r"])
                    cells: dict[int, Any] = {}
                    for cell in element:
                        if cell.tag != _MAIN + "c":
                            raise _NotPlain
                        ref = _CELL_REF.match(cell.attrib["r"])
                        if ref is None or int(ref.group(2)) != number:
                            raise _NotPlain
                        if cell.get("s") is not None and int(cell.attrib["s"]) in dates:
                            raise _NotPlain
                        column = _column_index(ref.group(1))
                        if column > MAX_COLUMNS:
                            continue
                        cells[column] = _cell_value(cell, strings)
                    rows.append((number, cells))
                    element.clear()
                    if len(rows) > _PLAIN_MAX_ROWS:
                        raise _NotPlain  # openpyxl streams it and stops at the row limit
    except (_NotPlain, KeyError, ValueError, IndexError, OSError, zipfile.BadZipFile, SyntaxError):
        return None
    if any(b[0] <= a[0] for a, b in zip(rows, rows[1:], strict=False)):
        return None
    return rows


def _first_sheet_path(archive: zipfile.ZipFile) -> str:
    from xml.etree.ElementTree import fromstring

    workbook = fromstring(archive.read("xl/workbook.xml"))
    properties = workbook.find(_MAIN + "workbookPr")
    if properties is not None and properties.get("date1904") not in (None, "0", "false"):
        raise _NotPlain
    sheets = workbook.find(_MAIN + "sheets")
    if sheets is None or not len(sheets):
        raise _NotPlain
    rel_id = sheets[0].attrib[_DOC_RELS + "id"]
    for rel in fromstring(archive.read("xl/_rels/workbook.xml.rels")).iter(_RELS + "Relationship"):
        if rel.get("Id") == rel_id:
            if not rel.get("Type", "").endswith("/worksheet"):
                raise _NotPlain
            target = rel.attrib["Target"]
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    raise _NotPlain


def _date_styles(archive: zipfile.ZipFile) -> set[int]:
    """Indexes of the cell styles whose number format shows a date, a time or a duration."""
    from xml.etree.ElementTree import fromstring

    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format

    styles = fromstring(archive.read("xl/styles.xml"))
    formats = dict(BUILTIN_FORMATS)
    custom = styles.find(_MAIN + "numFmts")
    for number_format in custom if custom is not None else ():
        formats[int(number_format.attrib["numFmtId"])] = number_format.get("formatCode", "")
    xfs = styles.find(_MAIN + "cellXfs")
    dates = set()
    for index, xf in enumerate(xfs if xfs is not None else ()):
        code = formats.get(int(xf.get("numFmtId", 0)), "")
        if is_date_format(code) or "[h" in code.lower() or "[m" in code.lower() or "[s" in code.lower():
            dates.add(index)
    return dates


def _text_of(element: Any) -> str:
    """The text of a string item: its ``t``, or its runs' ``t`` (phonetic runs left out, as openpyxl does)."""
    parts = []
    for child in element:
        if child.tag == _MAIN + "t":
            parts.append(child.text or "")
        elif child.tag == _MAIN + "r":
            for run_text in child.iter(_MAIN + "t"):
                parts.append(run_text.text or "")
    return "".join(parts)


def _cell_value(cell: Any, strings: list[str]) -> Any:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        inline = cell.find(_MAIN + "is")
        return None if inline is None else _text_of(inline)
    if cell.find(_MAIN + "f") is not None:
        raise _NotPlain
    value = cell.find(_MAIN + "v")
    if value is None or value.text is None:
        if kind not in ("n", "s"):
            raise _NotPlain
        return None
    text = value.text
    if kind == "s":
        return strings[int(text)]
    if kind != "n":
        raise _NotPlain
    if "." in text or "E" in text or "e" in text:
        return float(text)
    return int(text)


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index


def _padded(rows: list[tuple[int, dict[int, Any]]]) -> Iterator[tuple[int, Sequence[Any]]]:
    """The rows as openpyxl hands them: every row ``MAX_COLUMNS`` wide, the rows missing
    between real ones as one shared empty row, numbered as Excel numbers them."""
    empty = (None,) * MAX_COLUMNS
    expected = 1
    for number, cells in rows:
        while expected < number:
            yield expected, empty
            expected += 1
        values = [None] * MAX_COLUMNS
        for column, value in cells.items():
            values[column - 1] = value
        yield number, tuple(values)
        expected = number + 1


def _decode(data: bytes) -> str:
    # Excel's "CSV UTF-8" writes a BOM; plain "CSV" on a Chinese Windows writes GB18030.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SheetError(_("The CSV file is neither UTF-8 nor GB18030 text."))


def _csv_rows(data: bytes) -> Iterator[tuple[int, Sequence[Any]]]:
    text = _decode(data)
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first_line.count) if first_line else ","
    try:
        # A record may span lines inside quotes; Excel shows it as one row, and so do we.
        yield from enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1)
    except csv.Error as exc:
        raise SheetError(_("The CSV file cannot be read: %(error)s") % {"error": exc}) from exc


def _clean_cell(value: Any) -> Any:
    """Strip text, turn blank text into None and drop the apostrophe that protects formulas."""
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        return _ESCAPED.sub("", value)
    return value


# --- Writing ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutColumn:
    """One column of a written file: its header, how to show it, how wide."""

    header: str
    kind: str = "text"  # text | money | number | datetime | date
    width: int = 16


def _excel_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return value


# Number formats per column kind; a cell takes its column's format (XlsxWriter writes a
# cell without a format of its own with the column's), so text stays text when edited.
_XLSX_FORMATS = {"money": "#,##0.00", "number": "0", "datetime": "yyyy-mm-dd hh:mm", "date": "yyyy-mm-dd", "text": "@"}
_XLSX_OPTIONS = {
    # Each row goes to a temporary file once the next one starts: memory does not grow with the rows.
    "constant_memory": True,
    # User data is never a formula, a link or a number typed as text; the writers below are
    # typed anyway, this keeps it so should a generic ``write`` ever be used.
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}


def sheet_write_xlsx(
    *, columns: Sequence[OutColumn], rows: Iterable[Sequence[Any]], title: str, extra_sheets: Sequence[tuple] = ()
) -> bytes:
    """An .xlsx with a bold, frozen header row; text stays text, money gets a thousands format.

    ``extra_sheets`` are ``(title, columns, rows)`` triples (help and examples in a template).
    For small files (templates, error files, the ledger); an export writes to a file with
    :func:`sheet_write_xlsx_file`.
    """
    out = io.BytesIO()
    sheet_write_xlsx_file(out, columns=columns, rows=rows, title=title, extra_sheets=extra_sheets)
    return out.getvalue()


def sheet_write_xlsx_file(
    out: BinaryIO,
    *,
    columns: Sequence[OutColumn],
    rows: Iterable[Sequence[Any]],
    title: str,
    extra_sheets: Sequence[tuple] = (),
) -> int:
    """:func:`sheet_write_xlsx` into ``out`` (a file), in memory that does not grow with the rows; rows written.

    Rows are written with XlsxWriter in its constant-memory mode: a row is on disk once
    the next one starts, and the workbook is zipped into ``out`` at the end. Text is
    always written as text (inline strings), so "=cmd|…" in user data is never a formula.
    """
    import xlsxwriter

    # Closed (zipped into ``out``) only once every row is in: a failure part way leaves
    # nothing to zip, and the rows' temporary files go with the workbook.
    workbook = xlsxwriter.Workbook(out, _XLSX_OPTIONS)
    formats: dict[str, Any] = {}

    def number_format(pattern: str) -> Any:
        if pattern not in formats:
            formats[pattern] = workbook.add_format({"num_format": pattern})
        return formats[pattern]

    written = _write_sheet(workbook, number_format, title, columns, rows)
    for sheet_title, sheet_columns, sheet_rows in extra_sheets:
        _write_sheet(workbook, number_format, sheet_title, sheet_columns, sheet_rows)
    workbook.close()
    return written


def _write_sheet(
    workbook: Any, number_format: Any, title: str, columns: Sequence[OutColumn], rows: Iterable[Sequence[Any]]
) -> int:
    sheet = workbook.add_worksheet(title[:31])
    for index, column in enumerate(columns):
        sheet.set_column(index, index, column.width, number_format(_XLSX_FORMATS.get(column.kind, "General")))
    sheet.freeze_panes(1, 0)
    bold = workbook.add_format({"bold": True})
    for index, column in enumerate(columns):
        sheet.write_string(0, index, column.header, bold)
    # A date or time in a column of another kind is still shown as one.
    when = {
        dt.datetime: number_format(_XLSX_FORMATS["datetime"]),
        dt.date: number_format(_XLSX_FORMATS["date"]),
        dt.time: number_format("hh:mm"),
    }
    dated = {i for i, c in enumerate(columns) if c.kind in ("datetime", "date")}
    string, number, boolean, datetime = (
        sheet.write_string,
        sheet.write_number,
        sheet.write_boolean,
        sheet.write_datetime,
    )
    width = len(columns)
    count = 0
    for count, values in enumerate(rows, start=1):
        if len(values) != width:
            raise ValueError(f"row {count + 1} has {len(values)} values for {width} columns")
        for col, value in enumerate(values):
            kind = type(value)
            if kind is str:
                if value:
                    string(count, col, value)
            elif value is None:
                continue
            elif kind is bool:
                boolean(count, col, value)
            elif kind is int or kind is float or kind is Decimal:
                number(count, col, value)
            elif kind is dt.datetime:
                datetime(count, col, _excel_value(value), None if col in dated else when[dt.datetime])
            elif kind is dt.date or kind is dt.time:
                datetime(count, col, value, None if col in dated else when[kind])
            else:
                text = _excel_value(value)
                if not isinstance(text, str):
                    text = str(text)
                if text:
                    string(count, col, text)
    return count


def _csv_value(value: Any) -> str:
    value = _excel_value(value)
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Decimal):
        return format(value, "f")
    text = str(value)
    if _FORMULA_START.match(text):
        return "'" + text
    return text


def sheet_write_csv(*, columns: Sequence[OutColumn], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """CSV in UTF-8 with a BOM (Excel then shows Chinese correctly), streamed in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff".encode()
    writer.writerow([c.header for c in columns])
    for count, values in enumerate(rows, start=1):
        writer.writerow([_csv_value(v) for v in values])
        if count % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
