"""Exports of enterprises and contacts: scoped to the office, filtered like the change list, re-importable."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.http import FileResponse
from django.test import RequestFactory
from django.utils import timezone
from openpyxl import load_workbook

from crm.enterprise_imports import EnterpriseImporter
from crm.exports import (
    CONTACT_EXPORTER,
    ENTERPRISE_EXPORTER,
    changelist_queryset,
    export_queryset,
    export_response,
    export_xlsx_action,
    stage_codes,
)
from crm.imports import import_commit
from crm.models import Contact, Enterprise
from crm.services import contact_create, enterprise_create
from tests.factories import ChainFactory, StageFactory, valid_credit_code

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# SET and RESET of cursor_tuple_fraction around an export's cursor (PostgreSQL).
EXPORT_PLAN_SETTINGS = 2 if connection.vendor == "postgresql" else 0


def content(response) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(response.streaming_content) if response.streaming else response.content


def csv_table(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    return list(csv.DictReader(io.StringIO(content(response).decode("utf-8-sig"))))


def xlsx_table(response) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    data = response if isinstance(response, bytes) else content(response)
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


@pytest.fixture
def contacts(park_office, partner_office):  # type: ignore[no-untyped-def]
    ent = enterprise_create(office=park_office, name="钢科", credit_code=valid_credit_code(1))
    contact_create(office=park_office, enterprise=ent, name="自己人", phone="+86 351 1234567")
    contact_create(office=partner_office, enterprise=ent, name="外办的人")
    contact_create(office=park_office, enterprise=ent, name='=HYPERLINK("http://evil")')
    return ent


def test_a_park_users_contact_export_holds_only_their_offices_contacts(contacts, park_user):
    response = export_response(exporter=CONTACT_EXPORTER, queryset=None, user=park_user, fmt="csv")
    names = {row["姓名"] for row in csv_table(response)}
    assert names == {"自己人", '\'=HYPERLINK("http://evil")'}
    # Even a queryset of everything handed in (an admin action) is narrowed to the office.
    response = export_response(exporter=CONTACT_EXPORTER, queryset=Contact.objects.all(), user=park_user, fmt="xlsx")
    assert {row["姓名"] for row in xlsx_table(response)} == {"自己人", '=HYPERLINK("http://evil")'}


def test_formulas_are_not_live_in_either_format(contacts, park_user):
    raw = content(export_response(exporter=CONTACT_EXPORTER, queryset=None, user=park_user, fmt="csv")).decode(
        "utf-8-sig"
    )
    assert "'=HYPERLINK" in raw
    assert ",+86 351 1234567," in raw
    response = export_response(exporter=CONTACT_EXPORTER, queryset=None, user=park_user, fmt="xlsx")
    sheet = load_workbook(io.BytesIO(content(response))).worksheets[0]
    cells = [c for row in sheet.iter_rows() for c in row if c.value == '=HYPERLINK("http://evil")']
    assert cells and all(c.data_type == "s" for c in cells)


def test_enterprise_export_has_money_in_cny_and_wan_and_imports_back_unchanged(park_user, park_office):
    stage = StageFactory(code="carbon-fibre")
    enterprise_create(
        office=park_office,
        name="山西钢科碳材料有限公司",
        credit_code=valid_credit_code(2),
        registered_capital=12_345_678,
        ownership="private",
        stages=[stage],
    )
    enterprise_create(office=park_office, name="无代码企业", city="忻州")
    data = content(export_response(exporter=ENTERPRISE_EXPORTER, queryset=None, user=park_user, fmt="xlsx"))
    rows = {row["企业名称"]: row for row in xlsx_table(data)}
    assert rows["山西钢科碳材料有限公司"]["注册资本（元）"] == 12345678
    assert rows["山西钢科碳材料有限公司"]["注册资本（万元）"] == pytest.approx(1234.5678)
    assert rows["山西钢科碳材料有限公司"]["可供环节"] == f"{stage.chain.code}/carbon-fibre"
    versions = dict(Enterprise.objects.values_list("pk", "version"))
    plan = import_commit(importer=EnterpriseImporter(), data=data, filename="back.xlsx", user=park_user)
    assert plan.committed, plan.errors
    assert (plan.created, plan.updated, plan.unchanged) == (0, 0, 2)
    assert dict(Enterprise.objects.values_list("pk", "version")) == versions


def test_merged_enterprises_are_left_out_of_the_default_export(park_office, provincial_user):
    keep = enterprise_create(office=park_office, name="甲")
    gone = enterprise_create(office=park_office, name="甲公司")
    Enterprise.objects.filter(pk=gone.pk).update(merged_into=keep)
    qs = export_queryset(exporter=ENTERPRISE_EXPORTER, user=provincial_user)
    assert list(qs) == [keep]


def test_changelist_filters_and_search_apply_to_the_export(contacts, provincial_user, park_office):
    site = admin.AdminSite(name="test-export")

    class ContactAdmin(admin.ModelAdmin):
        list_filter = ["office"]
        search_fields = ["name"]

    site.register(Contact, ContactAdmin)
    request = RequestFactory().get("/")
    request.user = provincial_user
    qs = changelist_queryset(request, Contact, f"?office__id__exact={park_office.pk}&q=自己", site=site)
    assert [c.name for c in export_queryset(exporter=CONTACT_EXPORTER, user=provincial_user, queryset=qs)] == ["自己人"]


def test_the_admin_action_downloads_the_selected_rows(contacts, park_user):
    request = RequestFactory().post("/")
    request.user = park_user
    response = export_xlsx_action(None, request, Contact.objects.filter(name="自己人"))
    assert response["Content-Disposition"].startswith("attachment;")
    assert [row["姓名"] for row in xlsx_table(response)] == ["自己人"]


@pytest.mark.parametrize("count", [3, 30])
def test_export_queries_do_not_grow_with_rows(park_office, provincial_user, django_assert_num_queries, count):
    stage = StageFactory()
    for n in range(count):
        enterprise_create(office=park_office, name=f"企业{n}", stages=[stage])
    # the rows, their stages, the stages' chains: three queries for any number of rows
    # (on PostgreSQL also the cursor's planning set before and reset after)
    with django_assert_num_queries(3 + EXPORT_PLAN_SETTINGS):
        response = export_response(exporter=ENTERPRISE_EXPORTER, queryset=None, user=provincial_user, fmt="xlsx")
    assert len(xlsx_table(response)) == count


def _as_read_back(value: object) -> object:
    """A value as openpyxl reads it back from the export."""
    if value == "":
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).replace(tzinfo=None, microsecond=0)
    return value


def test_the_xlsx_export_is_sent_from_a_file_and_holds_every_row_as_exported(park_user, park_office):
    stage = StageFactory(code="carbon-fibre")
    for n in range(25):
        enterprise_create(
            office=park_office,
            name=f"=企业{n}" if n == 3 else f"企业{n}",
            credit_code=valid_credit_code(10 + n),
            registered_capital=Decimal(n) * 10_000 + Decimal("0.5") if n % 3 else None,
            ownership="private",
            stages=[stage] if n % 2 else [],
        )
    response = export_response(exporter=ENTERPRISE_EXPORTER, queryset=None, user=park_user, fmt="xlsx")
    # Streamed from the temporary file it was written to, never built in memory as one value.
    assert isinstance(response, FileResponse)
    data = content(response)
    response.file_to_stream.close()  # as response.close() does (which in a test would also end the connection)
    assert len(data) == int(response["Content-Length"])
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert header == [c.header for c in ENTERPRISE_EXPORTER.out_columns()]
    qs = export_queryset(exporter=ENTERPRISE_EXPORTER, user=park_user)
    expected = [[_as_read_back(v) for v in row] for row in ENTERPRISE_EXPORTER.rows(qs, office_id=park_office.pk)]
    assert len(rows) == len(expected) == 25
    assert rows == expected


def test_each_row_gets_its_own_stage_codes_and_office_in_the_stages_order(park_user, park_office, monkeypatch):
    monkeypatch.setattr("crm.exports.EXPORT_CHUNK", 2)  # rows from several chunks
    steel, carbon = ChainFactory(code="steel"), ChainFactory(code="carbon")
    late, early = StageFactory(chain=steel, code="rolling", order=2), StageFactory(chain=steel, code="ore", order=1)
    fibre = StageFactory(chain=carbon, code="fibre")
    stages = {"甲": [late, fibre, early], "乙": [], "丙": [fibre], "丁": [early], "戊": [late, early]}
    for name, chosen in stages.items():
        enterprise_create(office=park_office, name=name, stages=chosen)
    rows = {
        row["企业名称"]: row
        for row in xlsx_table(export_response(exporter=ENTERPRISE_EXPORTER, queryset=None, user=park_user, fmt="xlsx"))
    }
    assert rows["甲"]["可供环节"] == "carbon/fibre, steel/ore, steel/rolling"
    assert rows["乙"]["可供环节"] is None
    for enterprise in Enterprise.objects.all():
        assert (rows[enterprise.name]["可供环节"] or "") == stage_codes(enterprise.stages.all())
        assert rows[enterprise.name]["创建办公室"] == park_office.code
