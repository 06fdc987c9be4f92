"""The dashboard's repeated table rows, written by tags: the funnel, the breakdowns (by park,
chain and sector), the stale projects and the overdue follow-ups.

As template loops these rows were half of the dashboard's rendering (11 of 20 ms on the
100,000-project copy): each cell a few variable lookups, a filter and a ``{% figure %}``.
Here each value goes through what the loop applied to it (the filter functions
themselves, ``render_value_in_context`` for the output, a datetime made local first
as a ``date`` filter receives it), so the HTML is the loops' but for the whitespace
between tags; ``tests/recruitment/test_dashboard_rows.py`` holds the two equal. The
tables' headers and empty states stay in the templates.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template
from django.template.base import render_value_in_context
from django.template.defaultfilters import truncatechars
from django.utils.safestring import SafeString
from django.utils.timezone import template_localtime
from django.utils.translation import gettext

from recruitment.models import Project
from recruitment.templatetags.figures import linked
from recruitment.templatetags.money import money

register = template.Library()

NOBODY = "—"


class _Cells:
    """Values written as ``{{ value }}`` and ``{% figure url value %}`` write them in ``context``."""

    def __init__(self, context: template.Context) -> None:
        self.context = context

    def text(self, value: Any) -> str:
        return render_value_in_context(value, self.context)

    def figure(self, url: str | None, value: Any) -> str:
        return linked(url, render_value_in_context(value, self.context))

    def day(self, value: Any, *, minute: bool = False) -> str:
        """``{{ value|date:"Y-m-d" }}`` (``"Y-m-d H:i"`` with ``minute``), in local time as the
        filter receives it: those two formats written directly (the filter's general
        formatter took 40 µs a value)."""
        local = template_localtime(value, use_tz=self.context.use_tz)
        text = f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
        return f"{text} {local.hour:02d}:{local.minute:02d}" if minute else text


@register.simple_tag(takes_context=True)
def breakdown_rows(context: template.Context, rows: Iterable[Any]) -> SafeString:
    """A breakdown's rows: the name, the total's count and money, each rate's percent."""
    cells = _Cells(context)
    out = []
    for row in rows:
        total = row.figures.total
        english = f' <span class="cr-en">{cells.text(row.label_en)}</span>' if row.label_en else ""
        rates = "".join(
            f'<td class="num" title="{cells.text(rate_row.label)}">'
            f"{cells.figure(rate_row.rate.numerator_url, rate_row.rate.percent)}</td>"
            for rate_row in row.rates
        )
        out.append(
            f'<tr data-key="{cells.text(row.key)}">'
            f'<th scope="row">{cells.text(row.label)}{english}</th>'
            f"{_amount_cells(cells, row.url, total)}{rates}</tr>\n"
        )
    return SafeString("".join(out))


@register.simple_tag(takes_context=True)
def funnel_rows(context: template.Context, rows: Iterable[Any]) -> SafeString:
    """The funnel's rows: the status, its bar, its count and money."""
    cells = _Cells(context)
    out = []
    for row in rows:
        status = cells.text(row.status)
        out.append(
            f'<tr class="cr-status-{status}" data-status="{status}">'
            f'<th scope="row">{cells.text(row.label)}</th>'
            f'<td class="cr-bar-col"><div class="cr-bar"><span style="width: {cells.text(row.share)}%"></span></div></td>'
            f"{_amount_cells(cells, row.url, row.amounts)}</tr>\n"
        )
    return SafeString("".join(out))


def _amount_cells(cells: _Cells, url: str | None, amounts: Any) -> str:
    """The count, the planned investment, the signed amount and the funds in place, each linked to ``url``."""
    return (
        f'<td class="num">{cells.figure(url, amounts.count)}</td>'
        f'<td class="num">{cells.figure(url, money(amounts.planned_investment))}</td>'
        f'<td class="num">{cells.figure(url, money(amounts.signed_amount))}</td>'
        f'<td class="num">{cells.figure(url, money(amounts.funds_in_place))}</td>'
    )


@register.simple_tag(takes_context=True)
def stale_rows(context: template.Context, projects: Iterable[Any]) -> SafeString:
    """The stale projects: linked title, park, owner, status, day of the last interaction."""
    cells = _Cells(context)
    never = cells.text(gettext("never"))
    # get_status_display() rebuilds the choices' mapping at each call (60 µs); the same lookup, once.
    statuses = dict(Project._meta.get_field("status").flatchoices)
    out: list[tuple[str, ...]] = []
    for project in projects:
        last = project.last_interaction_at
        park = project.park
        out.append(
            (
                cells.figure(project.admin_url, project.title),
                cells.text(park.name if park is not None else ""),
                cells.text(project.owner or NOBODY),
                cells.text(statuses.get(project.status, project.status)),
                cells.day(last) if last else never,
            )
        )
    return _table_rows(out)


@register.simple_tag(takes_context=True)
def overdue_rows(context: template.Context, follow_ups: Iterable[Any]) -> SafeString:
    """The overdue follow-ups: due time, project, assignee, the note cut at 60 characters."""
    cells = _Cells(context)
    out: list[tuple[str, ...]] = []
    for follow_up in follow_ups:
        project = follow_up.project
        due = cells.day(follow_up.due_at, minute=True)
        out.append(
            (
                linked(follow_up.admin_url, due),
                cells.figure(project.admin_url, project.title),
                cells.text(follow_up.assignee or NOBODY),
                cells.text(truncatechars(follow_up.note, 60)),
            )
        )
    return _table_rows(out)


def _table_rows(rows: Iterable[tuple[str, ...]]) -> SafeString:
    """``<tr>`` rows of plain ``<td>`` cells, each cell's HTML written already."""
    return SafeString("".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>\n" for row in rows))
