"""Project exports: only the office's projects, money in CNY and 万元, the change list's filters, re-importable."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from openpyxl import load_workbook

from crm.exports import changelist_queryset, export_response
from crm.imports import import_commit
from crm.services import enterprise_create
from recruitment.exports import EXPORTERS, PROJECT_EXPORTER, export_csv_action
from recruitment.imports import IMPORTERS
from recruitment.models import Project
from recruitment.services import project_create, project_transition
from tests.factories import ParkFactory, StageFactory, UserFactory, valid_credit_code

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# SET and RESET of cursor_tuple_fraction around an export's cursor (PostgreSQL).
EXPORT_PLAN_SETTINGS = 2 if connection.vendor == "postgresql" else 0


def xlsx_table(response) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    sheet = load_workbook(io.BytesIO(response.getvalue()), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


@pytest.fixture
def projects(park_office, partner_office, park_user):  # type: ignore[no-untyped-def]
    park = ParkFactory(code="yangqu", name="阳曲产业园区")
    stage = StageFactory(code="carbon-fibre", name="高性能碳纤维")
    ent = enterprise_create(office=park_office, name="钢科", credit_code=valid_credit_code(1))
    ours = project_create(
        office=park_office,
        stages=[stage],
        title="碳纤维扩产",
        enterprise=ent,
        park=park,
        owner=park_user,
        planned_investment=Decimal("1500000000"),
    )
    project_transition(project=ours, to="screening")
    project_create(office=park_office, stages=[stage], title="预浸料", enterprise=ent, park=park)
    project_create(office=partner_office, stages=[stage], title="外办项目", enterprise=ent, park=park)
    return ours


def test_a_park_users_project_export_never_holds_another_offices_projects(projects, park_user):
    response = export_response(exporter=PROJECT_EXPORTER, queryset=Project.objects.all(), user=park_user, fmt="xlsx")
    rows = {row["项目名称"]: row for row in xlsx_table(response)}
    assert set(rows) == {"碳纤维扩产", "预浸料"}
    row = rows["碳纤维扩产"]
    assert row["拟投金额（元）"] == 1500000000
    assert row["拟投金额（万元）"] == 150000
    assert (row["目标园区"], row["园区名称"], row["负责人"]) == ("yangqu", "阳曲产业园区", park_user.username)


def test_the_change_list_filters_narrow_the_project_export(projects, provincial_user):
    site = admin.AdminSite(name="test-project-export")

    class ProjectAdmin(admin.ModelAdmin):
        list_filter = ["status"]

    site.register(Project, ProjectAdmin)
    request = RequestFactory().get("/")
    request.user = provincial_user
    qs = changelist_queryset(request, Project, "status__exact=screening", site=site)
    response = export_response(exporter=PROJECT_EXPORTER, queryset=qs, user=provincial_user, fmt="xlsx")
    assert [row["项目名称"] for row in xlsx_table(response)] == ["碳纤维扩产"]


def test_an_exported_project_file_imports_back_without_changes(projects, park_user):
    response = export_response(exporter=PROJECT_EXPORTER, queryset=None, user=park_user, fmt="xlsx")
    versions = dict(Project.objects.values_list("pk", "version"))
    plan = import_commit(importer=IMPORTERS["projects"], data=response.getvalue(), filename="p.xlsx", user=park_user)
    assert plan.committed, plan.errors
    assert (plan.created, plan.updated, plan.unchanged) == (0, 0, 2)
    assert dict(Project.objects.values_list("pk", "version")) == versions


def test_the_shared_admin_action_exports_projects_as_csv(projects, park_user):
    request = RequestFactory().post("/")
    request.user = park_user
    response = export_csv_action(None, request, Project.objects.all())
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "碳纤维扩产" in text and "外办项目" not in text


def test_every_kind_is_offered():
    assert set(EXPORTERS) == {"enterprises", "contacts", "projects", "progress", "supervision-orders"}
    assert set(IMPORTERS) == {"enterprises", "contacts", "projects"}


@pytest.mark.parametrize("count", [2, 20])
def test_project_export_queries_do_not_grow_with_rows(park_office, django_assert_num_queries, count):
    park, stage = ParkFactory(), StageFactory()
    ent = enterprise_create(office=park_office, name="企业")
    owner = UserFactory(office=park_office)
    for n in range(count):
        project_create(office=park_office, stages=[stage], title=f"项目{n}", enterprise=ent, park=park, owner=owner)
    user = UserFactory(office=park_office)
    # the rows with enterprise, park, owner and office joined; their stages; the stages' chains
    # (on PostgreSQL also the cursor's planning set before and reset after)
    with django_assert_num_queries(3 + EXPORT_PLAN_SETTINGS):
        response = export_response(exporter=PROJECT_EXPORTER, queryset=None, user=user, fmt="xlsx")
    assert len(xlsx_table(response)) == count
