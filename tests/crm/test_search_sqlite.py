"""The search's FTS5 index of the keys on SQLite (migration crm.0012): kept true by triggers
on every write path, read for queries of three letters or more, with the same results
as the plain scan."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connections

from crm.models import Enterprise
from crm.names import pinyin_keys
from crm.search import SQLITE_KEYS_TABLE, enterprise_search_q, search_enterprises, search_projects
from tests.factories import valid_credit_code

SQLITE = "sqlite" if "sqlite" in settings.DATABASES else "default"

pytestmark = pytest.mark.django_db(databases=sorted({"default", SQLITE}))

KEYS = (
    "replace(coalesce(name_pinyin, ''), ' ', '') || '|' || coalesce(name_initials, '') || '|' "
    "|| replace(lower(coalesce(name_en, '')), ' ', '')"
)


def _stale() -> tuple[set, set]:
    """(rows of the index no enterprise has, enterprises' keys the index lacks)."""
    with connections[SQLITE].cursor() as cursor:
        cursor.execute(f"SELECT rowid, keys FROM {SQLITE_KEYS_TABLE}")
        indexed = set(cursor.fetchall())
        cursor.execute(f"SELECT rowid, {KEYS} FROM crm_enterprise")
        actual = set(cursor.fetchall())
    return indexed - actual, actual - indexed


def _named(name: str, *, code: int, name_en: str = "") -> Enterprise:
    pinyin, initials = pinyin_keys(name)
    return Enterprise(
        name=name, name_en=name_en, name_pinyin=pinyin, name_initials=initials, credit_code=valid_credit_code(code)
    )


def _found(term: str) -> set[str]:
    queryset = search_enterprises(Enterprise.objects.using(SQLITE).order_by(), term)
    return set(queryset.values_list("name", flat=True))


def test_every_write_path_keeps_the_index_of_the_keys_true():
    assert connections[SQLITE].vendor == "sqlite"
    db = Enterprise.objects.using(SQLITE)
    # A save, with an English name.
    saved = _named("太原钢铁（集团）有限公司", code=1, name_en="Taiyuan Iron and Steel")
    saved.save(using=SQLITE)
    # bulk_create, and an upsert of the same row (imports).
    created = db.bulk_create([_named("忻州碳材料有限公司", code=2), _named("晋能控股装备制造集团有限公司", code=3)])
    assert _stale() == (set(), set())
    upsert = _named("长治碳纤维有限公司", code=2)
    upsert.pk = created[0].pk
    db.bulk_create(
        [upsert], update_conflicts=True, unique_fields=["id"], update_fields=["name", "name_pinyin", "name_initials"]
    )
    assert "长治碳纤维有限公司" in _found("tanxianwei") and "忻州碳材料有限公司" not in _found("tancailiao")
    # A save of new names, a bulk_update, a queryset update (merges, bulk edits), raw SQL.
    saved.name_en = "TISCO"
    saved.save(using=SQLITE)
    renamed = created[1]
    renamed.name, renamed.name_en = "山西潞安矿业（集团）有限责任公司", "Luan Mining"
    renamed.name_pinyin, renamed.name_initials = pinyin_keys(renamed.name)
    db.bulk_update([renamed], ["name", "name_en", "name_pinyin", "name_initials"])
    db.filter(pk=created[0].pk).update(name_en="Changzhi Carbon Fibre")
    db.filter(pk=created[1].pk).update(merged_into=saved)
    with connections[SQLITE].cursor() as cursor:
        cursor.execute("UPDATE crm_enterprise SET name_pinyin = 'tai yuan zqxw' WHERE id = %s", [saved.pk.hex])
    assert _stale() == (set(), set())
    db.filter(pk=saved.pk).update(name_initials="qxwz")
    assert _stale() == (set(), set())
    assert _found("tisco") == {saved.name} and _found("yuanzqxw") == {saved.name} and _found("qxwz") == {saved.name}
    assert _found("gangtie") == set()
    assert _found("taiyuanironandsteel") == set()
    assert _found("carbonfib") == {"长治碳纤维有限公司"}
    assert _found("luanmining") == {renamed.name} and _found("jinneng") == set()
    # Deletes: one row, and a queryset.
    db.filter(pk=saved.pk).delete()
    assert _stale() == (set(), set()) and _found("tisco") == set()
    db.all().delete()
    assert _stale() == (set(), set())


def test_queries_of_three_letters_or_more_read_the_index_with_the_scan_s_results():
    db = Enterprise.objects.using(SQLITE)
    db.bulk_create(
        [
            _named("太原钢铁（集团）有限公司", code=1, name_en="Taiyuan Iron and Steel"),
            _named("TCL科技集团股份有限公司", code=2),
            _named("长治碳纤维有限公司", code=3),
            # The index folds case as Unicode does (the Kelvin sign is a "k"), the LIKE
            # only ASCII letters: the LIKE decides.
            _named("大同仪器有限公司", code=4, name_en="\u212aelvin Instruments"),
        ]
    )

    def sql(term: str) -> str:
        return str(search_enterprises(db.order_by(), term).query)

    assert f"{SQLITE_KEYS_TABLE} MATCH" in sql("tanxianwei") and f"{SQLITE_KEYS_TABLE} MATCH" in sql("tcl")
    assert SQLITE_KEYS_TABLE not in sql("ty") and SQLITE_KEYS_TABLE not in sql("碳纤维")
    for term in [
        "tanxianwei",
        "TANXIAN",
        "tcl",
        "TCLkeji",
        "ironand",
        "tygt",
        "tyg",
        "gufen",
        "ty",
        'a"b',
        "x%y",
        "kelvin",
    ]:
        plain = set(db.filter(enterprise_search_q(term, vendor="sqlite", indexed=False)).values_list("name", flat=True))
        assert _found(term) == plain, term
    assert _found("TANXIAN") == {"长治碳纤维有限公司"}
    assert _found("kelvin") == set() and _found("instrum") == {"大同仪器有限公司"}


def test_the_project_search_finds_the_enterprise_through_the_index_and_titles_in_any_case():
    from recruitment.models import Project
    from tests.factories import ProjectFactory

    if SQLITE != "default":
        pytest.skip("projects are made by the factories on the default database")
    project = ProjectFactory(title="Carbon Fibre 项目")
    enterprise = project.enterprise
    enterprise.name = "长治碳纤维有限公司"
    enterprise.name_pinyin, enterprise.name_initials = pinyin_keys(enterprise.name)
    enterprise.save()
    other = ProjectFactory(title="其他项目")
    projects = Project.objects.order_by("-created_at", "-id")
    assert set(search_projects(projects, "tanxianwei").values_list("pk", flat=True)) == {project.pk}
    assert set(search_projects(projects, "CARBON fib").values_list("pk", flat=True)) == {project.pk}
    assert set(search_projects(projects, "其他").values_list("pk", flat=True)) == {other.pk}
