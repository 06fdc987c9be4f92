"""Exports of progress entries and supervision orders: office-scoped on every path (export page with
the change list's filters, admin actions of the office's and of "my" order lists), fixed query counts."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from crm.exports import export_response
from crm.roles import MANAGER, STAFF, role_assign
from recruitment.landing import progress_record
from recruitment.landing_exports import ORDER_EXPORTER, PROGRESS_EXPORTER
from recruitment.models import MySupervisionOrder, ProgressEntry, SupervisionOrder
from recruitment.pipeline import Status
from recruitment.services import project_create
from recruitment.supervision import order_create
from tests.factories import EnterpriseFactory, ParkFactory, StageFactory, UserFactory

pytestmark = [pytest.mark.django_db]


def xlsx_rows(content: bytes) -> list[dict[str, object]]:
    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def csv_text(response) -> str:  # type: ignore[no-untyped-def]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return body.decode("utf-8-sig")


def _signed(office, title: str, owner=None):  # type: ignore[no-untyped-def]
    return project_create(
        office=office,
        stages=[StageFactory()],
        title=title,
        enterprise=EnterpriseFactory(),
        park=ParkFactory(code=f"park-{title}"),
        status=Status.SIGNED,
        owner=owner,
    )


@pytest.fixture
def world(park_office, partner_office, provincial_user):  # type: ignore[no-untyped-def]
    ours_staff = UserFactory(office=park_office, username="wang.fang")
    role_assign(user=ours_staff, role=STAFF)
    ours_manager = UserFactory(office=park_office, is_manager=True)
    role_assign(user=ours_manager, role=MANAGER)
    theirs_manager = UserFactory(office=partner_office, is_manager=True)
    ours = _signed(park_office, "碳纤维扩产", owner=ours_staff)
    ours_too = _signed(park_office, "预浸料项目", owner=ours_staff)
    theirs = _signed(partner_office, "外办项目")
    month = dt.date(2026, 3, 1)
    first = progress_record(project=ours, kind="investment", month=month, amount=Decimal("30000000"), actor=ours_staff)
    progress_record(
        project=ours,
        kind="investment",
        month=month,
        amount=Decimal("35000000"),
        corrects=first,
        reason="发票补录",
        actor=ours_staff,
    )
    progress_record(project=ours_too, kind="milestone", month=month, milestone="construction", date=dt.date(2026, 3, 9))
    progress_record(project=theirs, kind="investment", month=month, amount=Decimal("99000000"))
    due = {"plan_due": dt.date(2026, 5, 10), "resolve_due": dt.date(2026, 6, 10)}
    order_create(project=ours, actor=ours_manager, required="提交开工整改方案", responsible=ours_staff, **due)
    order_create(project=ours_too, actor=provincial_user, required="补报进展", **due)
    order_create(project=theirs, actor=theirs_manager, required="外办督办事项", **due)
    return {"staff": ours_staff, "manager": ours_manager, "ours": ours}


def test_a_park_users_progress_export_never_holds_another_offices_entries(world):
    response = export_response(
        exporter=PROGRESS_EXPORTER, queryset=ProgressEntry.objects.all(), user=world["staff"], fmt="xlsx"
    )
    rows = xlsx_rows(response.getvalue())
    assert sorted(row["项目"] for row in rows) == ["碳纤维扩产", "碳纤维扩产", "预浸料项目"]
    corrected, correction = sorted((r for r in rows if r["项目"] == "碳纤维扩产"), key=lambda r: r["金额（元）"])
    assert (corrected["金额（元）"], corrected["金额（万元）"], corrected["月份"]) == (30000000, 3000, "2026-03")
    assert corrected["被更正为"] == correction["进展记录ID"] and correction["更正的记录ID"] == corrected["进展记录ID"]
    assert correction["更正原因"] == "发票补录" and correction["记录人"] == "wang.fang"


def test_a_park_users_order_export_never_holds_another_offices_orders(world, provincial_user):
    response = export_response(
        exporter=ORDER_EXPORTER, queryset=SupervisionOrder.objects.all(), user=world["staff"], fmt="xlsx"
    )
    rows = {row["项目"]: row for row in xlsx_rows(response.getvalue())}
    assert set(rows) == {"碳纤维扩产", "预浸料项目"}
    assert rows["碳纤维扩产"]["督办要求"] == "提交开工整改方案" and rows["碳纤维扩产"]["责任人"] == "wang.fang"
    assert rows["碳纤维扩产"]["整改方案期限"] == dt.datetime(2026, 5, 10)
    everything = export_response(exporter=ORDER_EXPORTER, queryset=None, user=provincial_user, fmt="xlsx")
    assert len(xlsx_rows(everything.getvalue())) == 3  # the provincial office sees every office


def test_the_export_page_offers_both_with_the_change_lists_filters_and_scoped(client, world):
    client.force_login(world["manager"])
    orders = client.get(reverse("tools:export"), {"kind": "supervision-orders", "format": "csv"})
    text = csv_text(orders)
    assert "提交开工整改方案" in text and "补报进展" in text and "外办督办事项" not in text
    progress = client.get(
        reverse("tools:export"), {"kind": "progress", "format": "csv", "_changelist_filters": "kind__exact=milestone"}
    )
    text = csv_text(progress)
    assert "预浸料项目" in text and "碳纤维扩产" not in text and "外办项目" not in text
    # A crafted filter naming the other office's rows still exports only this office's.
    crafted = client.get(
        reverse("tools:export"), {"kind": "progress", "format": "csv", "_changelist_filters": "kind__exact=investment"}
    )
    assert "外办项目" not in csv_text(crafted) and "99000000" not in csv_text(crafted)


@pytest.mark.parametrize("model", [SupervisionOrder, MySupervisionOrder])
def test_the_admin_actions_of_the_order_lists_export_only_the_offices_orders(world, model):
    request = RequestFactory().post("/")
    request.user = world["staff"]
    model_admin = admin.site._registry[model]
    actions = {name: func for func, name, _desc in model_admin.get_actions(request).values()}
    response = actions["export_csv"](model_admin, request, model.objects.all())
    text = csv_text(response)
    assert "提交开工整改方案" in text and "外办督办事项" not in text


def test_the_progress_list_action_exports_only_the_offices_entries(world):
    request = RequestFactory().post("/")
    request.user = world["staff"]
    model_admin = admin.site._registry[ProgressEntry]
    func, _name, _desc = model_admin.get_actions(request)["export_xlsx"]
    rows = xlsx_rows(func(model_admin, request, ProgressEntry.objects.all()).getvalue())
    assert {row["办公室"] for row in rows} == {"yangqu-office"} and len(rows) == 3


@pytest.mark.parametrize("exporter", [PROGRESS_EXPORTER, ORDER_EXPORTER], ids=["progress", "orders"])
def test_the_exports_queries_do_not_grow_with_rows(world, exporter, provincial_user):
    with CaptureQueriesContext(connection) as before:
        small = export_response(exporter=exporter, queryset=None, user=provincial_user, fmt="xlsx")
    # One read of the rows (on PostgreSQL between setting and resetting the cursor's planning).
    assert len(before.captured_queries) == (3 if connection.vendor == "postgresql" else 1)
    for n in range(10):
        project = _signed(world["ours"].office, f"扩展{n}")
        progress_record(project=project, kind="funds", month=dt.date(2026, 4, 1), amount=Decimal(n + 1))
        order_create(
            project=project,
            actor=provincial_user,
            required="督办",
            plan_due=dt.date(2026, 5, 1),
            resolve_due=dt.date(2026, 6, 1),
        )
    with CaptureQueriesContext(connection) as after:
        large = export_response(exporter=exporter, queryset=None, user=provincial_user, fmt="xlsx")
    assert len(after.captured_queries) == len(before.captured_queries)
    assert len(xlsx_rows(large.getvalue())) == len(xlsx_rows(small.getvalue())) + 10
