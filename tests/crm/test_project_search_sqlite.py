"""The FTS5 trigram tables of the project titles and the enterprise names on SQLite
(migrations recruitment.0015 and crm.0013): kept true by triggers on every write path,
read for queries of three characters or more that are not common, with the same results
as the plain scan; the project list reads a searched page by its ids first."""

from __future__ import annotations

import csv
import io

import pytest
from django.conf import settings
from django.db import connections
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

import crm.search
from crm.models import Enterprise
from crm.names import pinyin_keys
from crm.search import (
    SQLITE_NAME_TABLE,
    SQLITE_TITLE_TABLE,
    enterprise_search_q,
    search_enterprises,
    search_projects,
    sqlite_page_rows,
)
from tests.factories import valid_credit_code

SQLITE = "sqlite" if "sqlite" in settings.DATABASES else "default"

pytestmark = pytest.mark.django_db(databases=sorted({"default", SQLITE}))


def _stale(table: str, rows: str, column: str) -> tuple[set, set]:
    """(rows of the index no row has, rows' texts the index lacks)."""
    with connections[SQLITE].cursor() as cursor:
        cursor.execute(f"SELECT rowid, {column} FROM {table}")
        indexed = set(cursor.fetchall())
        cursor.execute(f"SELECT rowid, {column} FROM {rows}")
        actual = set(cursor.fetchall())
    return indexed - actual, actual - indexed


def _titles_stale() -> tuple[set, set]:
    return _stale(SQLITE_TITLE_TABLE, "recruitment_project", "title")


def _names_stale() -> tuple[set, set]:
    return _stale(SQLITE_NAME_TABLE, "crm_enterprise", "name")


def _named(name: str, *, code: int, name_en: str = "") -> Enterprise:
    pinyin, initials = pinyin_keys(name)
    return Enterprise(
        name=name, name_en=name_en, name_pinyin=pinyin, name_initials=initials, credit_code=valid_credit_code(code)
    )


@pytest.fixture
def every_query_rare(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A few rows: every query is in a large share of them, read by the index all the same."""
    monkeypatch.setattr(crm.search, "SQLITE_COMMON_SHARE", 1.0)


@pytest.fixture
def on_sqlite() -> None:
    """Projects are made by the factories and the services on the default database."""
    if SQLITE != "default":
        pytest.skip("projects are made by the factories on the default database")
    assert connections[SQLITE].vendor == "sqlite"


def test_every_write_path_keeps_the_index_of_the_names_true():
    assert connections[SQLITE].vendor == "sqlite"
    db = Enterprise.objects.using(SQLITE)
    saved = _named("太原钢铁（集团）有限公司", code=1)
    saved.save(using=SQLITE)
    created = db.bulk_create([_named("忻州碳材料有限公司", code=2), _named("晋能控股装备制造集团有限公司", code=3)])
    assert _names_stale() == (set(), set())
    upsert = _named("长治碳纤维有限公司", code=2)
    upsert.pk = created[0].pk
    db.bulk_create(
        [upsert], update_conflicts=True, unique_fields=["id"], update_fields=["name", "name_pinyin", "name_initials"]
    )
    assert _names_stale() == (set(), set())
    saved.name = "太原重型机械集团有限公司"
    saved.save(using=SQLITE)
    renamed = created[1]
    renamed.name = "山西潞安矿业（集团）有限责任公司"
    db.bulk_update([renamed], ["name"])
    assert _names_stale() == (set(), set())
    db.filter(pk=created[0].pk).update(name="长治碳纤维复合材料有限公司")
    assert _names_stale() == (set(), set())
    with connections[SQLITE].cursor() as cursor:
        cursor.execute("UPDATE crm_enterprise SET name = '大同碳纤维有限公司' WHERE id = %s", [saved.pk.hex])
    # A write of other columns leaves the index as it is.
    db.filter(pk=saved.pk).update(name_en="Datong Carbon")
    assert _names_stale() == (set(), set())

    def found(term: str) -> set[str]:
        return set(search_enterprises(db.order_by(), term).values_list("name", flat=True))

    assert found("碳纤维") == {"大同碳纤维有限公司", "长治碳纤维复合材料有限公司"}
    assert found("重型机械") == set() and found("潞安矿业") == {renamed.name}
    db.filter(pk=saved.pk).delete()
    assert _names_stale() == (set(), set()) and found("碳纤维") == {"长治碳纤维复合材料有限公司"}
    db.all().delete()
    assert _names_stale() == (set(), set())


def test_every_write_path_keeps_the_index_of_the_titles_true(on_sqlite, park_office):
    from crm.imports import import_commit
    from crm.roles import STAFF, role_assign
    from recruitment.bulk import projects_upsert
    from recruitment.imports import ProjectImporter
    from recruitment.models import Project
    from recruitment.services import project_delete
    from tests.factories import EnterpriseFactory, ParkFactory, ProjectFactory, StageFactory, UserFactory

    park = ParkFactory(code="yangqu")
    stage = StageFactory(code="prepreg")
    enterprise = EnterpriseFactory(office=park_office, credit_code=valid_credit_code(9))
    actor = UserFactory(office=park_office, is_superuser=True)
    # A save, bulk_create.
    saved = ProjectFactory(title="长治碳纤维项目", office=park_office, enterprise=enterprise, park=park)
    created = Project.objects.bulk_create(
        [
            Project(title=f"批量项目{i}", office=park_office, enterprise=enterprise, park=park, external_id=f"C-{i}")
            for i in range(3)
        ]
    )
    assert _titles_stale() == (set(), set())
    # The bulk upsert of the API: a new project, then a new title of the same one.
    item = {
        "external_id": "B-1",
        "title": "预浸料生产线项目",
        "enterprise": enterprise,
        "park": park,
        "stages": [stage],
    }
    projects_upsert(office=park_office, actor=actor, items=[item])
    assert _titles_stale() == (set(), set())
    projects_upsert(office=park_office, actor=actor, items=[{**item, "title": "碳纤维预浸料生产线项目"}])
    assert _titles_stale() == (set(), set())
    # A save of a new title, a queryset update (bulk edits), raw SQL.
    saved.title = "太原不锈钢深加工项目"
    saved.save()
    Project.objects.filter(pk=created[0].pk).update(title="碳纤维复材项目")
    with connections[SQLITE].cursor() as cursor:
        cursor.execute("UPDATE recruitment_project SET title = 'TCL 智能终端项目' WHERE id = %s", [created[1].pk.hex])
    # A write of other columns leaves the index as it is.
    Project.objects.filter(pk=created[1].pk).update(priority="high")
    assert _titles_stale() == (set(), set())
    # The spreadsheet import, through the services.
    role_assign(user=actor, role=STAFF)
    out = io.StringIO()
    csv.writer(out).writerows(
        [
            ["项目名称", "统一社会信用代码", "目标园区", "目标环节"],
            ["碳纤维导入项目", enterprise.credit_code, "yangqu", "prepreg"],
        ]
    )
    plan = import_commit(
        importer=ProjectImporter(), data=out.getvalue().encode("utf-8-sig"), filename="p.csv", user=actor
    )
    assert plan.committed, plan.errors
    assert _titles_stale() == (set(), set())

    def found(term: str) -> set[str]:
        return set(
            search_projects(Project.objects.order_by("-created_at", "-id"), term).values_list("title", flat=True)
        )

    # The enterprise's name, pinyin or initials would match too: none of these terms does.
    assert found("碳纤维") == {"碳纤维预浸料生产线项目", "碳纤维复材项目", "碳纤维导入项目"}
    assert found("tcl") == {"TCL 智能终端项目"} and found("长治碳") == set() and found("不锈钢深") == {saved.title}
    # Deletes: through the service, one row, a queryset.
    project_delete(project=saved, actor=actor)
    Project.objects.filter(pk=created[2].pk).delete()
    assert _titles_stale() == (set(), set())
    Project.objects.all().delete()
    assert _titles_stale() == (set(), set()) and found("碳纤维") == set()


TITLES = [
    "长治碳纤维项目",
    "碳纤维复合材料生产基地项目",
    "太原钢铁不锈钢深加工项目",
    "Carbon Fibre 项目",
    "TCL 智能终端项目",
    "tcl科技年产10万套项目",
    '含"引号"的项目',
    "纯度100%_项目",
    # The index folds case as Unicode does (the Kelvin sign is a "k"), the LIKE only ASCII
    # letters: the LIKE decides.
    "\u212aelvin 仪器项目",
    "ÉCOLE 项目",
    "Ab",
]
TERMS = [
    "碳",
    "碳纤",
    "碳纤维",
    "碳纤维项",
    "碳纤维复合",
    "碳纤维复合材",
    "项目",
    "不锈钢",
    "c",
    "tc",
    "tcl",
    "TCL",
    "Tcl科技",
    "CARBON",
    "carbon fib",
    "Fibre 项目",
    "kelvin",
    "elvin",
    "école",
    "ÉCOLE",
    '"引号"',
    "引号",
    "100%",
    "0%_",
    "%_项",
    "ab",
    "abc",
    "年产10万套",
    "不存在的词",
]


def test_title_queries_read_the_index_with_the_scan_s_results(on_sqlite, every_query_rare):
    from recruitment.models import Project
    from tests.factories import EnterpriseFactory, ProjectFactory

    # Enterprises that no term matches, so the titles alone decide.
    for i, title in enumerate(TITLES):
        ProjectFactory(title=title, enterprise=EnterpriseFactory(name=f"某企业{i}", name_pinyin="", name_initials=""))
    projects = Project.objects.order_by("-created_at", "-id")

    def sql(term: str) -> str:
        return str(search_projects(projects, term).query)

    for term in TERMS:
        indexed = set(search_projects(projects, term).values_list("title", flat=True))
        plain = set(
            projects.filter(
                Q(title__contains=term)
                | Q(enterprise__in=Enterprise.objects.filter(enterprise_search_q(term, vendor="sqlite", indexed=False)))
                | Q(external_id=term)
            ).values_list("title", flat=True)
        )
        assert indexed == plain, term
        # Three characters or more read the index (unless a letter beyond ASCII has case:
        # the scan alone is sure of it), one or two the scan.
        uses_index = len(term) >= 3 and crm.search.ascii_lower(term) == term.lower()
        assert (f"{SQLITE_TITLE_TABLE} MATCH" in sql(term)) == uses_index, term
    assert set(search_projects(projects, "CARBON").values_list("title", flat=True)) == {"Carbon Fibre 项目"}
    assert set(search_projects(projects, "kelvin").values_list("title", flat=True)) == set()
    assert set(search_projects(projects, '"引号"').values_list("title", flat=True)) == {'含"引号"的项目'}
    assert set(search_projects(projects, "0%_").values_list("title", flat=True)) == {"纯度100%_项目"}


def test_name_queries_read_the_index_with_the_scan_s_results(every_query_rare):
    db = Enterprise.objects.using(SQLITE)
    db.bulk_create([_named(title, code=i + 1) for i, title in enumerate(TITLES)])
    for term in TERMS:
        found = set(search_enterprises(db.order_by(), term).values_list("name", flat=True))
        plain = set(db.filter(enterprise_search_q(term, vendor="sqlite", indexed=False)).values_list("name", flat=True))
        assert found == plain, term
    sql = str(search_enterprises(db.order_by("name"), "碳纤维").query)
    assert f"{SQLITE_NAME_TABLE} MATCH" in sql
    assert SQLITE_NAME_TABLE not in str(search_enterprises(db.order_by("name"), "碳纤").query)


def test_a_common_query_is_read_by_the_scan(on_sqlite, monkeypatch):
    from recruitment.models import Project
    from tests.factories import ProjectFactory

    for i in range(20):
        ProjectFactory(title=f"碳纤维项目{i}" if i < 2 else f"生产基地项目{i}")
    projects = Project.objects.order_by("-created_at", "-id")

    def search(term: str) -> tuple[str, set]:
        found = search_projects(projects, term)
        return str(found.query), set(found.values_list("pk", flat=True))

    # 碳纤维 in 2 titles of 20, 生产基地 in 18.
    monkeypatch.setattr(crm.search, "SQLITE_COMMON_SHARE", 0.15)
    rare, common = search("碳纤维"), search("生产基地")
    assert f"{SQLITE_TITLE_TABLE} MATCH" in rare[0] and len(rare[1]) == 2
    assert f"{SQLITE_TITLE_TABLE} MATCH" not in common[0] and len(common[1]) == 18
    monkeypatch.setattr(crm.search, "SQLITE_COMMON_SHARE", 1.0)
    indexed = search("生产基地")
    assert f"{SQLITE_TITLE_TABLE} MATCH" in indexed[0] and indexed[1] == common[1]


def test_the_searched_project_list_is_served_by_the_indexes(on_sqlite, every_query_rare):
    """SQLite's plan: the matches read from the trigram tables and the indexes of the other
    conditions (the enterprise, the partner's id), never a scan of the projects."""
    from recruitment.models import Project
    from tests.factories import ProjectFactory

    for i in range(30):
        ProjectFactory(title=f"长治碳纤维项目{i}" if i % 10 == 0 else f"太原项目{i}")
    projects = Project.objects.order_by("-created_at", "-id")
    searched = search_projects(projects, "碳纤维")

    def plan(queryset) -> list[str]:  # type: ignore[no-untyped-def]
        sql, params = queryset.query.sql_with_params()
        with connections[SQLITE].cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            return [row[3] for row in cursor.fetchall()]

    for steps in (plan(searched.values("pk")[:50]), plan(searched.order_by().values("pk")[:10_001])):
        assert "MULTI-INDEX OR" in steps, steps
        assert any(f"SCAN {SQLITE_TITLE_TABLE} VIRTUAL TABLE" in step for step in steps), steps
        assert not any(step.startswith("SCAN recruitment_project") and "VIRTUAL" not in step for step in steps), steps
    assert searched.count() == 3


def test_a_searched_page_is_read_by_its_ids_first(on_sqlite, every_query_rare):
    from recruitment.models import Project
    from tests.factories import ProjectFactory

    for i in range(12):
        ProjectFactory(title=f"长治碳纤维项目{i}" if i % 2 else f"太原项目{i}")
    base = Project.objects.select_related("enterprise", "park")
    ordered = search_projects(base, "碳纤维").order_by("-created_at", "-id")
    for offset, limit in ((0, 4), (4, 4), (5, 10)):
        rows = sqlite_page_rows(base, "碳纤维", ordered, offset=offset, limit=limit)
        assert rows == list(ordered[offset : offset + limit])
    assert rows is not None and len(rows) == 1


def test_the_page_by_ids_is_for_sqlite_only():
    from recruitment.models import Project

    if connections["default"].vendor == "sqlite":
        pytest.skip("the default database is SQLite")
    base = Project.objects.all()
    assert sqlite_page_rows(base, "碳纤维", search_projects(base, "碳纤维"), offset=0, limit=50) is None


def test_the_project_change_list_finds_titles_and_enterprises_through_the_indexes(
    on_sqlite, every_query_rare, client, provincial_user, monkeypatch
):
    from django.contrib import admin

    from recruitment.models import Project
    from tests.crm.test_admin_support import admin_url, sign_in_manager
    from tests.factories import EnterpriseFactory, ProjectFactory

    sign_in_manager(client, provincial_user)
    enterprise = EnterpriseFactory(name="长治碳纤维有限公司")
    by_title = ProjectFactory(title="碳纤维预浸料项目")
    by_enterprise = ProjectFactory(title="复材项目", enterprise=enterprise)
    other = ProjectFactory(title="不锈钢项目")
    html = client.get(admin_url(Project, "changelist"), {"q": "碳纤维"}).content.decode()
    assert by_title.title in html and by_enterprise.title in html and other.title not in html
    # A page of several: its rows (joined to their enterprises, parks…) are read by the ids
    # found first, not with the search's conditions.
    monkeypatch.setattr(admin.site._registry[Project], "list_per_page", 1)
    with CaptureQueriesContext(connections["default"]) as ctx:
        html = client.get(admin_url(Project, "changelist"), {"q": "碳纤维"}).content.decode()
    assert by_enterprise.title in html and by_title.title not in html  # the newest first
    rows = [q["sql"] for q in ctx.captured_queries if 'FROM "recruitment_project" INNER JOIN' in q["sql"]]
    assert rows and not any("MATCH" in sql for sql in rows), rows
