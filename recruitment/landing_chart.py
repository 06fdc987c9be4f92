"""Plan against actual investment as a small SVG drawn on the server. Pure, no database.

No script and no CDN: the page embeds the SVG markup, so it passes a Content
Security Policy without inline scripts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from django.utils.html import escape
from django.utils.translation import gettext as _

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP, PAD_RIGHT = 480, 200, 70, 28, 12, 12


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    out, day = [], first
    while day <= last:
        out.append(day)
        day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return out


def cumulative_actual(investment: Sequence[tuple[dt.date, Decimal]], months: Sequence[dt.date]) -> list[Decimal]:
    """Investment completed up to the end of each month."""
    out, total = [], Decimal(0)
    by_month: dict[dt.date, Decimal] = {}
    for month, amount in investment:
        by_month[month] = by_month.get(month, Decimal(0)) + amount
    for month in months:
        total += by_month.get(month, Decimal(0))
        out.append(total)
    return out


def plan_vs_actual_svg(
    *, schedule: Sequence[tuple[dt.date, Decimal]], investment: Sequence[tuple[dt.date, Decimal]], today: dt.date
) -> str:
    """Two lines (planned cumulative, actual cumulative) by month, up to the plan's end or this month."""
    if not schedule and not investment:
        return ""
    known = [m for m, _v in schedule] + [m for m, _v in investment]
    first, last = min(known), max([*known, today.replace(day=1)] if investment else known)
    months = _months(first, last)
    planned_by = dict(schedule)
    planned, value = [], None
    for month in months:
        value = planned_by.get(month, value)
        planned.append(value)
    actual = cumulative_actual(investment, [m for m in months if m <= today])
    top = max([v for v in planned if v is not None] + actual + [Decimal(1)])
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    step = plot_w / max(len(months) - 1, 1)

    def point(i: int, v: Decimal) -> str:
        x = PAD_LEFT + i * step
        y = PAD_TOP + plot_h - float(v / top) * plot_h
        return f"{x:.1f},{y:.1f}"

    plan_pts = " ".join(point(i, v) for i, v in enumerate(planned) if v is not None)
    actual_pts = " ".join(point(i, v) for i, v in enumerate(actual))
    wan = f"{(top / 10000).quantize(Decimal('1'))}"
    labels = "".join(
        f'<text x="{PAD_LEFT + i * step:.1f}" y="{HEIGHT - 8}" font-size="10" text-anchor="middle">{m:%Y-%m}</text>'
        for i, m in enumerate(months)
        if i in (0, len(months) - 1) or (len(months) > 6 and i == len(months) // 2)
    )
    title = escape(_("Planned and actual cumulative investment"))
    plan_label, actual_label = escape(_("planned")), escape(_("actual"))
    return (
        f'<svg class="landing-chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}"><title>{title}</title>'
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - PAD_RIGHT}" y2="{PAD_TOP + plot_h}" stroke="#999"/>'
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{PAD_TOP + plot_h}" stroke="#999"/>'
        f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + 10}" font-size="10" text-anchor="end">{wan} 万元</text>'
        f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + plot_h}" font-size="10" text-anchor="end">0</text>'
        f"{labels}"
        f'<polyline class="plan" fill="none" stroke="#417690" stroke-width="2" stroke-dasharray="6 3" points="{plan_pts}"/>'
        f'<polyline class="actual" fill="none" stroke="#ba2121" stroke-width="2" points="{actual_pts}"/>'
        f'<text x="{WIDTH - PAD_RIGHT}" y="{PAD_TOP + 10}" font-size="10" text-anchor="end" fill="#417690">- - {plan_label}</text>'
        f'<text x="{WIDTH - PAD_RIGHT}" y="{PAD_TOP + 24}" font-size="10" text-anchor="end" fill="#ba2121">— {actual_label}</text>'
        "</svg>"
    )
