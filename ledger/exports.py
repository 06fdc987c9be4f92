"""The month's ledger as Excel (the provinces' layout) and as PDF rendered on the server.

Excel: a summary sheet (totals and rates by park and chain), one sheet per park
(its projects), a corrections sheet when there are any, and a sheet of definitions;
amounts in 万元. PDF: the same summary and rows, with a Chinese font from the
system's packages (``fonts-wqy-microhei``), registered once per process; nothing is
downloaded at run time.
"""

from __future__ import annotations

import io
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from crm.spreadsheets import OutColumn, sheet_write_xlsx

WAN = Decimal(10_000)
TITLE = "月报台账"
DEFINITIONS: tuple[tuple[str, str], ...] = (
    ("签约额（计入）", "项目首次签约当月计入全部签约额；以后各月只计增资部分；减资不计。签约、中止后再签约只计一次。"),
    ("当月完成投资", "当月的投资进度记录之和；被更正的记录以更正后的为准。"),
    ("累计完成投资", "截至当月的投资进度记录之和。"),
    ("到位资金", "只计有凭证（实缴资本、银行转账凭证等）的到位资金记录；无凭证的记录标为缺凭证，不计入。"),
    ("签约率", "截至月末已签约项目数 ÷ 截至月末在库项目数。"),
    ("开工率", "已开工（含投产、达产）项目数 ÷ 台账项目数。"),
    ("投产率", "已投产（含达产）项目数 ÷ 台账项目数。"),
    ("资金到位率", "有凭证的累计到位资金 ÷ 台账项目签约额。"),
    ("更正", "已报送月份的新记录为更正，注明原因和录入人，在下一期月报中列出。"),
    ("单位", "金额单位：万元。"),
)
ROW_HEADINGS = (
    "项目",
    "园区",
    "签约额（计入）",
    "当月完成投资",
    "累计完成投资",
    "当月到位资金",
    "累计到位资金",
    "节点",
    "预警",
    "缺凭证",
)
SUMMARY_HEADINGS = (
    "范围",
    "新签约项目数",
    "新签约额",
    "当月完成投资",
    "累计完成投资",
    "当月到位资金",
    "累计到位资金",
    "签约率",
    "开工率",
    "投产率",
    "资金到位率",
)
MILESTONES_ZH = {"registered": "注册", "construction": "开工", "production": "投产", "at_capacity": "达产"}
LIGHTS_ZH = {"green": "绿", "yellow": "黄", "red": "红"}


def wan(value: str | None) -> Decimal | None:
    """A yuan decimal string as 万元, to four places (exact to the yuan)."""
    return None if value is None else (Decimal(value) / WAN).quantize(Decimal("0.0001"))


def _percent(value: str | None) -> str:
    return "" if value is None else f"{Decimal(value) * 100:.2f}%"


def _row_cells(row: dict[str, Any]) -> list[Any]:
    return [
        row.get("title", row["project"]),
        row.get("park") or "",
        wan(row["signed_amount_counted"]),
        wan(row["investment_month"]),
        wan(row["investment_cumulative"]),
        wan(row["funds_month"]),
        wan(row["funds_total"]),
        MILESTONES_ZH.get(row["milestone"] or "", ""),
        LIGHTS_ZH.get(row["light"] or "", ""),
        "、".join({"funds_month": "到位资金", "milestone": "节点"}[m] for m in row["evidence_missing"]),
    ]


def _summary_cells(label: str, part: dict[str, Any]) -> list[Any]:
    t, r = part["totals"], part["rates"]
    return [
        label,
        t["new_signed_count"],
        wan(t["new_signed_amount"]),
        wan(t["investment_month"]),
        wan(t["investment_cumulative"]),
        wan(t["funds_month"]),
        wan(t["funds_total"]),
        *(_percent(r[k]) for k in ("signing", "construction", "production", "funds_in_place")),
    ]


def _columns(headings: tuple[str, ...], kinds: str) -> list[OutColumn]:
    kind = {"t": "text", "m": "money", "n": "number"}
    return [OutColumn(h, kind[k], 14 if k != "t" else 24) for h, k in zip(headings, kinds, strict=True)]


def ledger_xlsx(ledger: dict[str, Any]) -> bytes:
    """The ledger as an .xlsx workbook: summary, one sheet per park, corrections, definitions."""
    scope = ledger["office"] or "全省"
    summary = [_summary_cells("合计", ledger)]
    summary += [_summary_cells(f"园区 {k}", v) for k, v in ledger.get("by_park", {}).items()]
    summary += [_summary_cells(f"产业链 {k}", v) for k, v in ledger.get("by_chain", {}).items()]
    by_park: dict[str, list[list[Any]]] = {}
    for row in ledger["rows"]:
        by_park.setdefault(row.get("park") or "—", []).append(_row_cells(row))
    row_columns = _columns(ROW_HEADINGS, "ttmmmmmttt")
    sheets: list[tuple[Any, ...]] = [(f"园区 {park}", row_columns, rows) for park, rows in sorted(by_park.items())]
    if ledger.get("corrections"):
        sheets.append(
            (
                "更正",
                _columns(("项目", "所属月份", "类型", "金额（万元）", "原因", "录入人", "录入时间"), "tttmttt"),
                [
                    [
                        c["project"],
                        c["month"],
                        c["kind"],
                        wan(c["amount"]),
                        c["reason"],
                        c["recorded_by"] or "",
                        c["recorded_at"],
                    ]
                    for c in ledger["corrections"]
                ],
            )
        )
    about = [("月份", ledger["month"]), ("范围", scope), ("报送时间", ledger["submitted_at"] or "未报送"), *DEFINITIONS]
    sheets.append(("口径说明", _columns(("指标", "口径"), "tt"), about))
    return sheet_write_xlsx(
        columns=_columns(SUMMARY_HEADINGS, "tnmmmmmtttt"), rows=summary, title="汇总", extra_sheets=sheets
    )


@cache
def _pdf_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for path in settings.LEDGER_PDF_FONTS:
        if Path(path).exists():
            pdfmetrics.registerFont(TTFont("LedgerCJK", path, subfontIndex=0))
            return "LedgerCJK"
    raise RuntimeError(_("No Chinese font for the PDF: install fonts-wqy-microhei (or set LEDGER_PDF_FONTS)."))


def ledger_pdf(ledger: dict[str, Any]) -> bytes:
    """The ledger as a landscape A4 PDF with its Chinese headings."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _pdf_font()
    title = ParagraphStyle("t", fontName=font, fontSize=14, leading=18)
    body = ParagraphStyle("b", fontName=font, fontSize=8, leading=10)
    style = TableStyle(
        [
            ("FONTNAME", (0, 0), (-1, -1), font),
            ("FONTSIZE", (0, 0), (-1, -1), 7),
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
        ]
    )

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    scope = ledger["office"] or "全省"
    story: list[Any] = [
        Paragraph(f"{TITLE} {ledger['month']} · {scope}", title),
        Paragraph(f"报送时间：{ledger['submitted_at'] or '未报送'}　金额单位：万元", body),
        Spacer(0, 6),
        Paragraph("汇总", title),
    ]
    summary = [list(SUMMARY_HEADINGS), _summary_cells("合计", ledger)]
    summary += [_summary_cells(f"园区 {k}", v) for k, v in ledger.get("by_park", {}).items()]
    story.append(Table([[text(c) for c in r] for r in summary], style=style, repeatRows=1))
    story += [Spacer(0, 8), Paragraph("项目明细", title)]
    rows = [list(ROW_HEADINGS)] + [[text(c) for c in _row_cells(r)] for r in ledger["rows"]]
    story.append(Table(rows, style=style, repeatRows=1))
    story += [Spacer(0, 8), Paragraph("口径说明", title)]
    story += [Paragraph(f"{name}：{definition}", body) for name, definition in DEFINITIONS]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=landscape(A4), title=f"{TITLE} {ledger['month']}").build(story)
    return out.getvalue()
