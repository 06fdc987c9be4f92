"""The dashboard's rows written by tags are what the template loops wrote.

The loops are kept here as the reference: the same rows rendered both ways, in
English and Chinese, with values that need escaping, cutting and a local date, must
give the same HTML but for the whitespace between tags.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import translation

from chains.models import Park
from crm.models import User
from recruitment.dashboard import Amounts, Figures, FiguresRow, FunnelRow, Rate, RateRow
from recruitment.models import FollowUp, Project
from recruitment.pipeline import Status

BREAKDOWN_LOOP = """{% load money figures %}
    {% for row in rows %}
      {% with total=row.figures.total %}
      <tr data-key="{{ row.key }}">
        <th scope="row">{{ row.label }}{% if row.label_en %} <span class="cr-en">{{ row.label_en }}</span>{% endif %}</th>
        <td class="num">{% figure row.url total.count %}</td>
        <td class="num">{% figure row.url total.planned_investment|money %}</td>
        <td class="num">{% figure row.url total.signed_amount|money %}</td>
        <td class="num">{% figure row.url total.funds_in_place|money %}</td>
        {% for rate_row in row.rates %}
        <td class="num" title="{{ rate_row.label }}">{% figure rate_row.rate.numerator_url rate_row.rate.percent %}</td>
        {% endfor %}
      </tr>
      {% endwith %}
    {% endfor %}"""

STALE_LOOP = """{% load i18n figures %}
    {% for project in rows %}
      <tr>
        <td>{% figure project.admin_url project.title %}</td>
        <td>{{ project.park.name }}</td>
        <td>{{ project.owner|default:"—" }}</td>
        <td>{{ project.get_status_display }}</td>
        <td>{% if project.last_interaction_at %}{{ project.last_interaction_at|date:"Y-m-d" }}{% else %}{% translate 'never' %}{% endif %}</td>
      </tr>
    {% endfor %}"""

OVERDUE_LOOP = """{% load figures %}
    {% for follow_up in rows %}
      <tr>
        <td>{% figure follow_up.admin_url follow_up.due_at|date:"Y-m-d H:i" %}</td>
        <td>{% figure follow_up.project.admin_url follow_up.project.title %}</td>
        <td>{{ follow_up.assignee|default:"—" }}</td>
        <td>{{ follow_up.note|truncatechars:60 }}</td>
      </tr>
    {% endfor %}"""

FUNNEL_LOOP = """{% load money figures %}
    {% for row in rows %}
      <tr class="cr-status-{{ row.status }}" data-status="{{ row.status }}">
        <th scope="row">{{ row.label }}</th>
        <td class="cr-bar-col"><div class="cr-bar"><span style="width: {{ row.share }}%"></span></div></td>
        <td class="num">{% figure row.url row.amounts.count %}</td>
        <td class="num">{% figure row.url row.amounts.planned_investment|money %}</td>
        <td class="num">{% figure row.url row.amounts.signed_amount|money %}</td>
        <td class="num">{% figure row.url row.amounts.funds_in_place|money %}</td>
      </tr>
    {% endfor %}"""

TAGS = {
    "funnel": "{% load dashboard_rows %}{% funnel_rows rows %}",
    "breakdown": "{% load dashboard_rows %}{% breakdown_rows rows %}",
    "stale": "{% load dashboard_rows %}{% stale_rows rows %}",
    "overdue": "{% load dashboard_rows %}{% overdue_rows rows %}",
}
LOOPS = {"funnel": FUNNEL_LOOP, "breakdown": BREAKDOWN_LOOP, "stale": STALE_LOOP, "overdue": OVERDUE_LOOP}


def _html(source: str, rows: list) -> str:  # type: ignore[type-arg]
    return re.sub(r">\s+<", "><", Template(source).render(Context({"rows": rows}))).strip()


def _breakdown_rows() -> list[FiguresRow]:
    figures = Figures()
    figures.add(Status.SIGNED, Amounts(count=1234, planned_investment=Decimal("123456789.50")))
    figures.add(Status.LEAD, Amounts(count=7, signed_amount=Decimal("99999999.99"), funds_in_place=Decimal("5")))
    empty = Figures()
    rates = [
        RateRow("signing", '签约率 <signed> & "rate"', "", Rate(3, 7, numerator_url="/admin/p/?a=1&b=<2>")),
        RateRow("funds", "Funds", "", Rate(0, 0)),
        RateRow("odd", "Odd", "", Rate(Decimal("1"), Decimal("3"), numerator_url="/admin/p/?x='y'")),
    ]
    return [
        FiguresRow("yangqu", "阳曲<园区>", 'Yangqu & "park"', figures, url="/admin/p/?park=1&q=<x>", rates=rates),
        FiguresRow("c&k", "碳纤维", "", empty, url=None, rates=[]),
        FiguresRow("xz", "忻州", "Xinzhou", empty, url="/admin/p/", rates=rates[1:]),
    ]


def _people() -> tuple[Park, User, User]:
    park = Park(name="中北高新区 <A&B>")
    owner = User(username="wang", display_name='王 <经理> & "co"')
    other = User(username="li_plain", first_name="", last_name="")
    return park, owner, other


def _stale_rows() -> list[Project]:
    park, owner, other = _people()
    rows = []
    for n, (person, last, status) in enumerate(
        [
            (owner, None, Status.LEAD),
            (None, datetime(2026, 3, 1, 17, 30, tzinfo=UTC), Status.NEGOTIATING),  # 3 March in Shanghai
            (other, datetime(2026, 3, 1, 15, 59, tzinfo=UTC), Status.SUSPENDED),
        ]
    ):
        project = Project(title=f'项目 <{n}> & "x"', park=park, owner=person, status=status)
        project.last_interaction_at = last  # type: ignore[attr-defined]
        project.admin_url = f"/admin/recruitment/project/{n}/change/?a=1&b=2" if n != 2 else None  # type: ignore[attr-defined]
        rows.append(project)
    return rows


def _overdue_rows() -> list[FollowUp]:
    park, owner, other = _people()
    project = Project(title="项目 <甲> & 'quote'", park=park)
    project.admin_url = "/admin/recruitment/project/9/change/?x=<1>"  # type: ignore[attr-defined]
    unlinked = Project(title="no link", park=park)
    unlinked.admin_url = None  # type: ignore[attr-defined]
    notes = ["短", "长" * 59 + "<b>&", "x" * 60, "y" * 61, ""]
    rows = []
    for n, note in enumerate(notes):
        follow_up = FollowUp(
            project=project if n % 2 == 0 else unlinked,
            assignee=(owner, None, other)[n % 3],
            due_at=datetime(2026, 3, 1, 16 + n, 5, tzinfo=UTC),
            note=note,
        )
        follow_up.admin_url = f"/admin/recruitment/followup/{n}/change/?k=<{n}>" if n != 1 else None  # type: ignore[attr-defined]
        rows.append(follow_up)
    return rows


def _funnel_rows() -> list[FunnelRow]:
    amounts = Amounts(count=12345, planned_investment=Decimal("1234567.891"), signed_amount=Decimal("100000000"))
    return [
        FunnelRow(Status.LEAD, '线索 <lead> & "x"', amounts, 100, url="/admin/p/?status__exact=lead&x=<1>"),
        FunnelRow(Status.SIGNED, "签约", Amounts(), 0, url=None),
        FunnelRow(Status.SUSPENDED, "Suspended", Amounts(count=3, funds_in_place=Decimal("-5")), 33, url="/admin/p/"),
    ]


ROWS = {"funnel": _funnel_rows, "breakdown": _breakdown_rows, "stale": _stale_rows, "overdue": _overdue_rows}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("kind", ["funnel", "breakdown", "stale", "overdue"])
def test_the_rows_are_what_the_template_loop_wrote(kind, language):
    rows = ROWS[kind]()
    with translation.override(language):
        ours, loop = _html(TAGS[kind], rows), _html(LOOPS[kind], rows)
    assert ours == loop
    assert ours.count("<tr") == len(rows) > 0
    assert "<" + "b>" not in ours and "&lt;" in ours  # what needed escaping was escaped


def test_a_date_is_the_local_day_and_a_missing_one_reads_never():
    with translation.override("en"):
        stale = _html(TAGS["stale"], _stale_rows())
        overdue = _html(TAGS["overdue"], _overdue_rows())
    assert "<td>never</td>" in stale
    assert "<td>2026-03-02</td>" in stale  # 17:30 UTC is past midnight in Shanghai
    assert "<td>2026-03-01</td>" in stale  # 15:59 UTC is not
    assert "2026-03-02 00:05" in overdue


def test_no_rows_write_nothing():
    assert all(_html(TAGS[kind], []) == "" for kind in TAGS)
