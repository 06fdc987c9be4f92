"""Importing projects: through the pipeline services, every bad row listed, all or nothing."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from crm.imports import import_commit, import_preview
from crm.services import enterprise_create
from recruitment.imports import IMPORTERS
from recruitment.models import Project, ProjectStatusChange
from tests.factories import ParkFactory, StageFactory, UserFactory, valid_credit_code

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

IMPORTER = IMPORTERS["projects"]
HEADER = [
    "项目名称",
    "统一社会信用代码",
    "目标园区",
    "目标环节",
    "负责人",
    "状态",
    "拟投金额（万元）",
    "签约额（元）",
    "外部编号",
]


def csv_bytes(rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8-sig")


@pytest.fixture
def world(park_office, park_user):  # type: ignore[no-untyped-def]
    park = ParkFactory(code="yangqu", name="阳曲产业园区")
    stage = StageFactory(code="carbon-fibre", name="高性能碳纤维")
    enterprise = enterprise_create(office=park_office, name="山西钢科碳材料有限公司", credit_code=valid_credit_code(41))
    return park, stage, enterprise


def good_rows(user) -> list[list[object]]:  # type: ignore[no-untyped-def]
    return [
        HEADER,
        ["碳纤维扩产项目", valid_credit_code(41), "yangqu", "carbon-fibre", user.username, "签约", "50000", "", "P1"],
        ["预浸料项目", valid_credit_code(41), "阳曲产业园区", "carbon-fibre", "", "", "1.5亿", "", "P2"],
    ]


def test_projects_import_walks_the_pipeline_and_reimport_changes_nothing(world, park_user, park_office):
    data = csv_bytes(good_rows(park_user))
    plan = import_commit(importer=IMPORTER, data=data, filename="p.csv", user=park_user)
    assert plan.committed, plan.errors
    assert plan.created == 2
    signed = Project.objects.get(external_id="P1")
    assert signed.status == "signed"
    assert signed.office == park_office
    assert signed.owner == park_user
    assert signed.planned_investment == Decimal("500000000")
    assert list(signed.status_changes.values_list("to_status", flat=True)) == [
        "lead",
        "screening",
        "negotiating",
        "signed",
    ]
    assert Project.objects.get(external_id="P2").planned_investment == Decimal("150000000")
    versions = dict(Project.objects.values_list("pk", "version"))
    changes = ProjectStatusChange.objects.count()
    again = import_commit(importer=IMPORTER, data=data, filename="p.csv", user=park_user)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert dict(Project.objects.values_list("pk", "version")) == versions
    assert ProjectStatusChange.objects.count() == changes


def test_bad_project_rows_are_listed_and_nothing_is_written(world, park_user):
    rows = [
        HEADER,
        ["好项目", valid_credit_code(41), "yangqu", "carbon-fibre", "", "", "100", "", "A"],  # row 2: fine
        ["未知园区", valid_credit_code(41), "nowhere", "carbon-fibre", "", "", "", "", "B"],  # row 3
        ["未知环节", valid_credit_code(41), "yangqu", "nope", "", "", "", "", "C"],  # row 4
        ["负金额", valid_credit_code(41), "yangqu", "carbon-fibre", "", "", "", "-1", "D"],  # row 5
        ["重复", valid_credit_code(41), "yangqu", "carbon-fibre", "", "", "", "", "A"],  # row 6: external id again
        ["", valid_credit_code(41), "yangqu", "carbon-fibre", "", "", "", "", "F"],  # row 7: no title
        ["怪状态", valid_credit_code(41), "yangqu", "carbon-fibre", "", "飞升", "", "", "G"],  # row 8
        ["无人", valid_credit_code(41), "yangqu", "carbon-fibre", "ghost", "", "", "", "H"],  # row 9
    ]
    plan = import_commit(importer=IMPORTER, data=csv_bytes(rows), filename="p.csv", user=park_user)
    assert not plan.committed
    assert [(row, sorted({i.column for i in issues})) for row, issues in plan.errors_by_row()] == [
        (3, ["目标园区"]),
        (4, ["目标环节"]),
        (5, ["签约额（元）"]),
        (6, ["外部编号"]),
        (7, ["项目名称"]),
        (8, ["状态"]),
        (9, ["负责人"]),
    ]
    assert Project.objects.count() == 0


def test_an_illegal_status_move_on_update_is_a_row_error(world, park_user):
    import_commit(importer=IMPORTER, data=csv_bytes(good_rows(park_user)), filename="p.csv", user=park_user)
    rows = [["外部编号", "项目名称", "状态"], ["P1", "碳纤维扩产项目", "线索"]]
    plan = import_preview(importer=IMPORTER, data=csv_bytes(rows), filename="p.csv", user=park_user)
    assert [(i.row, i.column) for i in plan.errors] == [(2, "状态")]


def test_a_status_update_moves_forward_step_by_step_and_bumps_version(world, park_user):
    import_commit(importer=IMPORTER, data=csv_bytes(good_rows(park_user)), filename="p.csv", user=park_user)
    project = Project.objects.get(external_id="P2")
    rows = [["外部编号", "项目名称", "状态", "状态说明"], ["P2", "预浸料项目", "洽谈", "已赴企业考察"]]
    plan = import_commit(importer=IMPORTER, data=csv_bytes(rows), filename="p.csv", user=park_user)
    assert plan.committed and plan.updated == 1
    project.refresh_from_db()
    assert project.status == "negotiating"
    assert project.status_changes.last().note == "已赴企业考察"
    assert project.version > 1


def test_a_park_user_cannot_update_another_office_project_by_id(world, park_user, partner_office):
    park, stage, enterprise = world
    from recruitment.services import project_create

    other = project_create(office=partner_office, stages=[stage], title="外办项目", enterprise=enterprise, park=park)
    rows = [["系统编号", "项目名称"], [str(other.pk), "改掉"]]
    plan = import_preview(importer=IMPORTER, data=csv_bytes(rows), filename="p.csv", user=park_user)
    assert [(i.row, i.column) for i in plan.errors] == [(2, "系统编号")]


def test_owner_must_be_of_the_importers_office(world, park_user):
    stranger = UserFactory()
    rows = [HEADER, ["项目", valid_credit_code(41), "yangqu", "carbon-fibre", stranger.username, "", "", "", "Z"]]
    plan = import_preview(importer=IMPORTER, data=csv_bytes(rows), filename="p.csv", user=park_user)
    assert [(i.row, i.column) for i in plan.errors] == [(2, "负责人")]
