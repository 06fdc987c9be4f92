"""A project import is set-based and writes exactly what the pipeline services write row by row.

One office imports a file; another office gets the same projects from the services
called once per row: ``project_create`` at the row's status (a project created further
along walks there, each move noted with the row's note, else "Imported status.", and gets
no new lead's follow-ups), and on a later file ``project_update`` with the changed columns,
then each step of the pipeline. Both offices'
records are compared once ids, times and users are replaced by what they stand for:
rows, versions, history (stage links included), change-feed entries, status history,
service-level follow-ups, large-project notices and lights; and the dashboard's tally
against a fresh count. Runs on both databases.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.translation import gettext as _

from crm.imports import import_commit, import_preview
from recruitment import tally
from recruitment.imports import IMPORTERS, _path
from recruitment.landing_models import ProjectLight
from recruitment.models import Project, ProjectStatusChange
from recruitment.services import project_create, project_transition, project_update
from tests.factories import EnterpriseFactory, OfficeFactory, ParkFactory, PresenceFactory, StageFactory, UserFactory
from tests.record_snapshot import Snapshot, assert_same

pytestmark = pytest.mark.django_db

IMPORTER = IMPORTERS["projects"]
COLUMNS = {
    "title": "项目名称",
    "enterprise": "统一社会信用代码",
    "park": "目标园区",
    "stages": "目标环节",
    "owner": "负责人",
    "status": "状态",
    "note": "状态说明",
    "planned_investment": "拟投金额（元）",
    "chain_role": "链条作用",
    "external_id": "外部编号",
    "description": "项目描述",
}
STATUSES = ["", "lead", "screening", "negotiating", "signed", "registered", "production", "suspended", "lost"]


@pytest.fixture
def world(db):  # type: ignore[no-untyped-def]
    park = ParkFactory(code="yangqu", name="阳曲产业园区")
    first = StageFactory(code="acrylonitrile", name="丙烯腈", order=1)
    stages = [
        first,
        StageFactory(code="precursor", name="聚丙烯腈原丝", order=2, chain=first.chain),
        StageFactory(code="carbon-fibre", name="碳纤维", order=3, chain=first.chain),
    ]
    enterprises = [EnterpriseFactory(office=None) for _ in range(6)]
    for e in enterprises[:2]:
        PresenceFactory(enterprise=e, park=park, stage=stages[0])  # covered: a chain role of its own
    PresenceFactory(enterprise=enterprises[2], park=park, stage=stages[1])  # weak
    offices = []
    for code in ("import", "services"):
        office = OfficeFactory(code=f"office-{code}", kind="park")
        offices.append((office, UserFactory(office=office, username=f"staff-{code}")))
    return {"park": park, "stages": stages, "enterprises": enterprises, "offices": offices}


def _rows(world, n: int, round_: int) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """``n`` projects as the file's cells; the second round changes some of them."""
    es, stages = world["enterprises"], world["stages"]
    rows = []
    for i in range(n):
        status = STATUSES[i % len(STATUSES)]
        row = {
            "title": f"项目{i}",
            "enterprise": es[i % len(es)].credit_code,
            "park": "yangqu",
            "stages": stages[i % 3].code if i % 4 else f"{stages[0].code},{stages[2].code}",
            "owner": "staff" if i % 3 == 0 else "",
            "status": status,
            "note": "企业决定转投他省" if status == "lost" else ("已赴企业考察" if i % 5 == 0 else ""),
            "planned_investment": "600000000" if i % 5 == 0 else f"{1000 + i}",
            "chain_role": "extend" if i % 7 == 0 else "",
            "external_id": f"P-{i}",
            "description": "说明" if i % 2 else "",
        }
        if round_ == 1 and i % 3 == 1:
            row["title"] = f"项目{i}（二期）"
            row["planned_investment"] = "700000000"
            row["stages"] = stages[(i + 1) % 3].code
        if round_ == 1 and status in ("screening", "negotiating"):
            row["status"] = "signed"
            row["note"] = "签约仪式"
        if round_ == 1 and status == "suspended":
            row["status"] = "lead"
        rows.append(row)
    return rows


def _csv(rows: list[dict[str, str]], staff: Any) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS.values())
    for row in rows:
        writer.writerow([staff.username if k == "owner" and row[k] else row[k] for k in COLUMNS])
    return out.getvalue().encode("utf-8-sig")


def _values(world, row: dict[str, str], staff: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What the import reads from a row's filled cells, as the services take it."""
    by_code = {e.credit_code: e for e in world["enterprises"]}
    stages = {s.code: s for s in world["stages"]}
    values: dict[str, Any] = {
        "title": row["title"],
        "enterprise": by_code[row["enterprise"]],
        "park": world["park"],
        "stages": [stages[c] for c in row["stages"].split(",")],
        "planned_investment": Decimal(row["planned_investment"]),
        "external_id": row["external_id"],
    }
    if row["owner"]:
        values["owner"] = staff
    for name in ("chain_role", "description"):
        if row[name]:
            values[name] = row[name]
    return values


def _by_services(world, rows: list[dict[str, str]], before: list[dict[str, str]] | None) -> None:  # type: ignore[no-untyped-def]
    """The same rows through the services, one row at a time: a new project created at its
    status (it walks there with the row's note), a changed one updated, then moved."""
    office, staff = world["offices"][1]
    for i, row in enumerate(rows):
        values = _values(world, row, staff)
        if before is None:
            project_create(office=office, actor=staff, status=row["status"] or "lead", note=row["note"], **values)
            continue
        else:
            project = Project.objects.get(office=office, external_id=row["external_id"])
            old = _values(world, before[i], staff)
            changed = {k: v for k, v in values.items() if old.get(k) != v}
            if changed:
                project_update(project=project, actor=staff, **changed)
        if row["status"] and row["status"] != project.status:
            note = row["note"] or _("Imported status.")
            for step in _path(project.status, row["status"]):
                project_transition(project=project, to=step, actor=staff, note=note, reason=note)


def _import(world, rows: list[dict[str, str]]) -> Any:  # type: ignore[no-untyped-def]
    _office, staff = world["offices"][0]
    plan = import_commit(importer=IMPORTER, data=_csv(rows, staff), filename="p.csv", user=staff)
    assert plan.committed, plan.errors
    return plan


def _compare(world) -> None:  # type: ignore[no-untyped-def]
    (o1, s1), (o2, s2) = world["offices"]
    assert_same(Snapshot(o1, s1).take(), Snapshot(o2, s2).take())
    lights = [
        dict(ProjectLight.objects.filter(project__office=o).values_list("project__external_id", "color"))
        for o in (o1, o2)
    ]
    assert lights[0] == lights[1] and lights[0], "every signed project has its light"
    # The dashboard's tally, counted once at the end of the import (PostgreSQL) or by the
    # triggers at every write (SQLite), holds what a fresh count from the tables holds.
    assert tally.recount_differences() == []


def test_an_import_writes_what_the_services_write_row_by_row_then_updates(world):
    n = 36
    first, second = _rows(world, n, 0), _rows(world, n, 1)
    plan = _import(world, first)
    assert plan.created == n
    _by_services(world, first, None)
    _compare(world)
    office = world["offices"][0][0]
    assert ProjectStatusChange.objects.filter(project__office=office, note="企业决定转投他省").count() == 4
    assert set(Project.objects.filter(office=office).values_list("chain_role", flat=True)) >= {"extend", "fill"}

    plan = _import(world, second)
    changed = sum(1 for a, b in zip(first, second, strict=True) if a != b)
    assert (plan.created, plan.updated, plan.unchanged) == (0, changed, n - changed)
    _by_services(world, second, first)
    _compare(world)
    assert Project.objects.filter(office=office, title__endswith="（二期）", version__gt=1).count() == 12


def _queries(world, n: int) -> int:  # type: ignore[no-untyped-def]
    _office, staff = world["offices"][0]
    rows = [{**row, "external_id": f"Q{n}-{i}"} for i, row in enumerate(_rows(world, n, 0))]
    with CaptureQueriesContext(connection) as ctx:
        plan = import_commit(importer=IMPORTER, data=_csv(rows, staff), filename="q.csv", user=staff)
    assert plan.committed and plan.created == n, plan.errors
    return len(ctx.captured_queries)


@pytest.mark.postgres  # SQLite's bulk inserts split by its limit on parameters per statement
def test_an_import_runs_as_many_queries_for_thirty_rows_as_for_three_hundred(world):
    assert _queries(world, 30) == _queries(world, 300)


def test_a_suspended_project_resumes_at_its_last_milestone_or_before_and_the_row_says_so(world):
    office, staff = world["offices"][0]
    project = project_create(
        office=office,
        actor=staff,
        title="暂停项目",
        enterprise=world["enterprises"][0],
        park=world["park"],
        stages=world["stages"][:1],
        external_id="S-1",
    )
    for step in ("screening", "suspended"):
        project_transition(project=project, to=step, actor=staff, note="x")
    past = [{**_rows(world, 1, 0)[0], "title": "暂停项目", "external_id": "S-1", "status": "signed"}]
    plan = import_preview(importer=IMPORTER, data=_csv(past, staff), filename="s.csv", user=staff)
    assert [(i.row, i.column) for i in plan.errors] == [(2, "状态")]
    assert "screening" in plan.errors[0].message
    back = [{**past[0], "status": "screening"}]
    plan = import_commit(importer=IMPORTER, data=_csv(back, staff), filename="s.csv", user=staff)
    assert plan.committed, plan.errors
    project.refresh_from_db()
    assert project.status == "screening"


def test_a_project_moved_to_lost_by_a_later_file_needs_its_reason_as_a_new_one_does(world):
    office, staff = world["offices"][0]
    _import(world, _rows(world, 3, 0))
    row = _rows(world, 3, 0)[2]  # a screening project
    lost = [{**row, "status": "lost", "note": ""}]
    plan = import_preview(importer=IMPORTER, data=_csv(lost, staff), filename="l.csv", user=staff)
    assert [(i.row, i.column) for i in plan.errors] == [(2, "状态说明")]
    plan = import_commit(
        importer=IMPORTER, data=_csv([{**lost[0], "note": "企业转投他省"}], staff), filename="l.csv", user=staff
    )
    assert plan.committed, plan.errors
    project = Project.objects.get(office=office, external_id=row["external_id"])
    assert (project.status, project.lost_reason) == ("lost", "企业转投他省")
