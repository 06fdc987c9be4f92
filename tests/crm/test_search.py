"""The directory search (crm.search): what finds an enterprise, on PostgreSQL and SQLite alike."""

from __future__ import annotations

import random

import pytest
from django.db import connections

from bench.generate import company_name, credit_code
from crm.models import Enterprise
from crm.names import pinyin_keys
from crm.search import query_grams, search_enterprises, search_projects
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.django_db(databases=["default", "sqlite"]), pytest.mark.postgres]

HAND_NAMES = [
    "太原钢铁（集团）有限公司",
    "TCL科技集团股份有限公司",
    "山西潞安矿业（集团）有限责任公司",
    "晋能控股装备制造集团有限公司",
    "忻州碳材料有限公司",
]


def _names() -> list[tuple[str, str]]:
    rng = random.Random(3)
    generated = [company_name(rng)[:2] for _ in range(7)]
    return [(name, "") for name in HAND_NAMES] + generated


def _enterprises(alias: str) -> list[Enterprise]:
    rows = []
    for i, (name, name_en) in enumerate(_names()):
        pinyin, initials = pinyin_keys(name)
        rows.append(
            Enterprise(
                name=name,
                name_en=name_en or ("Taiyuan Iron and Steel Co., Ltd." if i == 0 else ""),
                name_pinyin=pinyin,
                name_initials=initials,
                credit_code=credit_code("140100", 900 + i),
                office=None,
            )
        )
    return Enterprise.objects.using(alias).bulk_create(rows)


def _found(alias: str, term: str) -> set[str]:
    return set(search_enterprises(Enterprise.objects.using(alias).all(), term).values_list("name", flat=True))


@pytest.fixture(params=["rare", "common"])
def directory(request, monkeypatch) -> list[Enterprise]:
    """The directory, searched as on a large one where every gram is rare (looked up
    through the indexes) or where every gram is common (a scan with the plain check)."""
    if request.param == "common":
        import crm.search

        every_gram_common = {crm.search.KEY_GRAMS_INDEX: (float("inf"), _AllCommon())}
        for index in crm.search._GRAM_INDEXES.values():
            every_gram_common[index] = (float("inf"), _AllCommon())
        monkeypatch.setattr(crm.search, "_common", every_gram_common)
        monkeypatch.setattr(crm.search.time, "monotonic", lambda: 0.0)
        # ... and where every query is common itself (a scan, the project side, the walk).
        monkeypatch.setattr(crm.search, "estimated_share", lambda term, using="default": 0.9)
    _enterprises("sqlite")
    return _enterprises("default")


class _AllCommon(dict):
    """Gram shares as the statistics of a table where every gram is everywhere."""

    def get(self, key, default=None):  # type: ignore[no-untyped-def]
        return 0.9


def test_every_substring_of_one_to_six_characters_finds_its_enterprise(directory):
    for enterprise in directory:
        name = enterprise.name
        for length in range(1, 7):
            for start in range(len(name) - length + 1):
                term = name[start : start + length]
                if not term.strip():
                    continue
                assert name in _found("default", term), term


def test_pinyin_without_spaces_initials_and_english_find_the_enterprise(directory):
    steel = next(e for e in directory if e.name.startswith("太原钢铁"))
    for term in ["taiyuangangtie", "gangtie", "TaiYuan", "tygt", "ty", "iron and steel", "IRON"]:
        assert steel.name in _found("default", term), term


def test_a_credit_code_and_its_prefixes_find_the_enterprise(directory):
    enterprise = directory[2]
    for length in (2, 6, 10, 18):
        assert enterprise.name in _found("default", enterprise.credit_code[:length].lower())


def test_what_does_not_occur_finds_nothing(directory):
    assert _found("default", "钛白粉") == set()
    assert _found("default", "zzzq") == set()
    assert _found("default", "   ") == set()


def test_sqlite_and_postgresql_find_the_same_enterprises(directory):
    assert connections["default"].vendor == "postgresql"
    assert connections["sqlite"].vendor == "sqlite"
    terms = ["钢", "集团", "有限", "碳材料", "tcl", "TCL科技", "taiyuan", "tygt", "ty", "jt", "iron", "91", "9114"]
    for enterprise in directory:
        terms += [enterprise.name[1:3], enterprise.name[-6:-2], enterprise.name_pinyin.replace(" ", "")[2:9]]
        terms += [enterprise.name_initials[:2], enterprise.credit_code[:8]]
    for term in terms:
        assert _found("default", term) == _found("sqlite", term), term


def test_a_common_query_is_checked_by_a_scan_and_a_rare_one_through_the_indexes(monkeypatch):
    import crm.search

    def sql(term: str, *, ordered: bool = False) -> str:
        queryset = Enterprise.objects.order_by("name") if ordered else Enterprise.objects.order_by()
        return str(search_enterprises(queryset, term).query)

    common = {"有限": 0.8, "公司": 0.2, "youx": 0.8, "ouxi": 0.8, "uxia": 0.9, "xian": 0.2, "jitu": 0.05}
    monkeypatch.setattr(crm.search, "_common_grams", lambda index: common)
    shares = {"有限": 0.8, "公司": 0.2, "youxian": 0.3}
    monkeypatch.setattr(crm.search, "estimated_share", lambda term, using="default": shares.get(term, 0.0))
    # The first matches in any order: a gram in more than 1% of the rows makes a scan.
    assert "cr_name_grams" not in sql("有限") and "cr_name_grams" not in sql("公司")
    assert "cr_name_grams" in sql("碳纤维")
    assert "cr_key_grams" not in sql("youxian")
    assert "cr_key_grams" in sql("jituan")
    # A list in an order keeps the index up to 30% of the rows, looked up by the rarest gram.
    assert "cr_name_grams" not in sql("有限", ordered=True) and "cr_name_grams" in sql("公司", ordered=True)
    assert "@> (ARRAY['xian'])" in sql("youxian", ordered=True).replace("[xian]", "['xian']")
    # Initials by prefix in an order: the test written twice (see enterprise_search_q).
    assert 'LEFT("crm_enterprise"."name_initials", 2)' in sql("ty", ordered=True)
    assert "LEFT(" not in sql("ty")
    monkeypatch.setattr(crm.search, "_common_grams", lambda index: {"jitu": 0.05, "ituan": 0.2, "tuan": 0.5})
    assert crm.search.gram_lookup(["jitu", "ituan", "tuan", "itua"], index="x") == ["itua", "jitu"]
    # Common grams, but the query itself rare in the sample of the directory: the index.
    monkeypatch.setattr(crm.search, "_common_grams", lambda index: common)
    monkeypatch.setattr(crm.search, "estimated_share", lambda term, using="default": 0.002)
    assert "cr_key_grams" in sql("youxian") and "cr_name_grams" in sql("有限")


def test_a_query_s_share_is_estimated_from_the_planner_s_sample(monkeypatch):
    import crm.search

    sample = ["太原钢铁有限公司", "太原重工股份有限公司", "大同煤矿集团有限公司", "taiyuangangtie|tygt|tisco"]
    monkeypatch.setattr(crm.search, "_histogram", lambda column, using: sample)
    assert crm.search.estimated_share("太原") == 0.5
    assert crm.search.estimated_share("有限公司") == 0.75
    assert crm.search.estimated_share("gangtie") == 0.25
    assert crm.search.estimated_share("碳纤维") == 0.0


def test_query_grams_are_the_pairs_a_containing_name_has():
    assert query_grams("钢") == ["钢"]
    assert query_grams("碳纤维") == ["碳纤", "纤维"]
    assert query_grams("TCL") == ["cl", "tc"]


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_project_search_matches_title_and_the_enterprise(share, monkeypatch):
    """Rare terms through the enterprises' indexes, common ones from the project side
    (each project's enterprise checked by its key): the same projects."""
    import crm.search

    monkeypatch.setattr(crm.search, "estimated_share", lambda term, using="default": share)
    project = ProjectFactory(title="年产5万吨碳纤维项目")
    enterprise = project.enterprise
    enterprise.name = "太原钢铁（集团）有限公司"
    enterprise.name_pinyin, enterprise.name_initials = pinyin_keys(enterprise.name)
    enterprise.save()
    other = ProjectFactory(title="其他项目")
    from recruitment.models import Project

    def found(term: str) -> set:
        queryset = search_projects(Project.objects.order_by("-created_at", "-id"), term)
        assert ('"enterprise_id" IN' in str(queryset.query)) == (share == 0.0)
        return set(queryset.values_list("pk", flat=True))

    assert found("碳纤维") == {project.pk}
    assert found("钢铁") == {project.pk}
    assert found("taiyuan") == {project.pk}
    assert found("其他") == {other.pk}


@pytest.mark.parametrize("term", ["碳纤维", "tanxianwei", "TCL科技"])
def test_a_page_walked_from_the_name_order_is_the_page_of_the_list(term, monkeypatch):
    import crm.search
    from crm.search import ordered_page_rows

    monkeypatch.setattr(crm.search, "estimated_share", lambda term, using="default": 0.5)
    names = [
        f"{region}{trade}有限公司"
        for region in ["太原", "大同", "长治", "阳泉"]
        for trade in ["碳纤维", "TCL科技", "钢铁"]
    ]
    rows = []
    for i, name in enumerate(names * 3):
        pinyin, initials = pinyin_keys(name)
        rows.append(
            Enterprise(name=name, name_pinyin=pinyin, name_initials=initials, credit_code=credit_code("140100", i))
        )
    Enterprise.objects.bulk_create(rows)
    base = Enterprise.objects.all()
    ordered = search_enterprises(base, term).order_by("name", "-pk")
    expected = list(ordered)
    assert len(expected) == 12
    for offset in (0, 5):
        page = ordered_page_rows(base, term, ordered, offset=offset, limit=5)
        assert [e.pk for e in page] == [e.pk for e in expected[offset : offset + 5]]
    # A page the walk cannot fill, another order, a filtered list: read as usual.
    assert ordered_page_rows(base, term, ordered, offset=10, limit=5) is None
    assert ordered_page_rows(base, term, ordered.order_by("credit_code"), offset=0, limit=5) is None
    filtered = base.filter(province="山西省")
    assert (
        ordered_page_rows(filtered, term, search_enterprises(filtered, term).order_by("name", "-pk"), offset=0, limit=5)
        is None
    )


def test_the_admin_list_of_a_common_term_shows_the_walked_page_and_an_estimated_count(
    client, provincial_user, monkeypatch, settings
):
    """Through the admin view: the page walked from the name order is the page the list's
    own query reads, and the count of a common term comes from the sample's estimate."""
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    import crm.search
    from tests.crm.test_admin_support import sign_in_manager

    sign_in_manager(client, provincial_user)
    rows = []
    for i in range(30):
        name = f"{['太原', '大同', '长治'][i % 3]}{i:02d}碳纤维有限公司" if i % 2 else f"晋中{i:02d}钢铁有限公司"
        pinyin, initials = pinyin_keys(name)
        rows.append(
            Enterprise(name=name, name_pinyin=pinyin, name_initials=initials, credit_code=credit_code("140100", i))
        )
    Enterprise.objects.bulk_create(rows)
    from django.contrib import admin

    # Pages of 5 (a list of one page is read without its paginator).
    monkeypatch.setattr(admin.site._registry[Enterprise], "list_per_page", 5)
    url = reverse("admin:crm_enterprise_changelist") + "?q=碳纤维&p=2"
    settings.ADMIN_EXACT_COUNT_LIMIT = 20
    plain = client.get(url).context["cl"]
    assert plain.paginator.count == 15 and not plain.paginator.estimated
    # The same list where the term is common in the directory's sample.
    monkeypatch.setattr(crm.search, "estimated_share", lambda term, using="default": 0.5)
    monkeypatch.setitem(crm.search._histograms, ("default", "rows"), (float("inf"), 60.0))
    with CaptureQueriesContext(connections["default"]) as queries:
        walked = client.get(url).context["cl"]
    assert any(") e WHERE e.name LIKE" in q["sql"] for q in queries.captured_queries)
    assert [e.pk for e in walked.result_list] == [e.pk for e in plain.result_list]
    assert walked.paginator.estimated and walked.paginator.count == 30  # half of 60 rows
    assert len(queries.captured_queries) <= 10
