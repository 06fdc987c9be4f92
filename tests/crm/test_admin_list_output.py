"""The large change lists write, to the byte, what Django's own admin code writes.

Their pages take shortcuts (each row's link from one reversed URL, the list's filters
added to it once): each test renders the page with the shortcuts, then again with
Django's code put back, and compares the two, in English and in Chinese.
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import quote as url_quote

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.views.main import ChangeList
from django.test import Client
from django.urls import resolve, reverse

from crm.admin_lists import LargeTableAdminMixin, LargeTableChangeList
from recruitment.models import Project
from recruitment.services import project_create
from tests.admin_pages import sidebar_as_django_writes_it
from tests.crm.test_admin_support import sign_in_manager
from tests.factories import ChainFactory, EnterpriseFactory, ParkFactory, ProjectFactory, StageFactory

pytestmark = pytest.mark.django_db

PROJECTS = reverse("admin:recruitment_project_changelist")
ENTERPRISES = reverse("admin:crm_enterprise_changelist")
AWKWARD = "碳纤维 <b>\"A&B\"</b> 'x'"

PAGES = [
    PROJECTS,
    PROJECTS + "?status__exact=lead&o=-2",
    PROJECTS + "?q=" + url_quote("碳纤维"),
    ENTERPRISES,
    ENTERPRISES + "?ownership__exact=private",
    ENTERPRISES + "?q=" + url_quote("碳纤维"),
]


def _stock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Django's own code where the large lists take their shortcuts."""
    monkeypatch.setattr(LargeTableChangeList, "__init__", ChangeList.__init__)
    monkeypatch.setattr(LargeTableChangeList, "url_for_result", ChangeList.url_for_result)
    monkeypatch.setattr(LargeTableAdminMixin, "get_empty_value_display", admin.ModelAdmin.get_empty_value_display)


def _page(client: Client, url: str, language: str) -> str:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, url
    # A form's CSRF token is masked afresh for every response.
    return re.sub(r'(name="csrfmiddlewaretoken" value=")[^"]+', r"\1", response.content.decode())


@pytest.fixture
def rows(provincial_office, park_office, park_user):  # type: ignore[no-untyped-def]
    stage, other = StageFactory(name="冷轧板"), StageFactory(name="深加工制品")
    park = ParkFactory(name="阳曲产业园区")
    awkward = EnterpriseFactory(name=AWKWARD, ownership="private", province="山西省", registered_capital=None)
    plain = EnterpriseFactory(name="太原碳纤维有限公司", ownership="private", registered_capital=Decimal("12345678.90"))
    projects = [
        project_create(
            office=park_office,
            actor=park_user,
            stages=[stage] if i % 2 else [other, stage],
            title=f"{AWKWARD} {i}" if i % 2 else f"碳纤维项目{i}",
            enterprise=awkward if i % 2 else plain,
            park=park,
            planned_investment=Decimal("250000000") if i % 3 else None,
        )
        for i in range(6)
    ]
    # No stage, no owner, no figures: the empty cells.
    projects.append(ProjectFactory(office=park_office, enterprise=plain, park=park, title="碳纤维空项目"))
    return projects


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("url", PAGES)
def test_the_large_lists_write_what_djangos_admin_writes(client, provincial_user, rows, monkeypatch, url, language):
    sign_in_manager(client, provincial_user)
    ours = _page(client, url, language)
    _stock(monkeypatch)
    assert ours == _page(client, url, language)
    assert 'class="action-select"' in ours  # rows were listed, not an empty page
    # The sidebar (kept once rendered: recruitment.templatetags.nav_sidebar) as Django's include writes it.
    assert sidebar_as_django_writes_it(provincial_user, url, language) in ours
    assert ours.count('id="nav-sidebar"') == 1
    assert '<td class="field-owner nowrap">-</td>' in ours or url.startswith(ENTERPRISES)  # an empty cell


def test_the_row_links_keep_the_lists_filters(client, provincial_user, rows):
    sign_in_manager(client, provincial_user)
    page = _page(client, PROJECTS + "?status__exact=lead&o=-2", "en")
    project = rows[1]
    change = reverse("admin:recruitment_project_change", args=[project.pk])
    assert f'<a href="{change}?_changelist_filters=status__exact%3Dlead%26o%3D-2">' in page
    assert "&lt;b&gt;&quot;A&amp;B&quot;&lt;/b&gt;" in page and "<b>" not in page.split('id="result_list"')[1]


@pytest.mark.parametrize("key", ["a/b c", "x_y:z", "新", "plain-key"])
def test_a_key_that_needs_escaping_is_linked_as_django_links_it(rf, provincial_user, key):
    request = rf.get(PROJECTS, {"status__exact": "lead"})
    request.user = provincial_user
    request.resolver_match = resolve(PROJECTS)
    model_admin = admin.site.get_model_admin(Project)
    cl = model_admin.get_changelist_instance(request)
    obj = Project()
    obj.pk = key
    stock = add_preserved_filters(
        {"preserved_filters": cl.row_preserved_filters, "opts": cl.opts}, ChangeList.url_for_result(cl, obj)
    )
    assert cl.url_for_result(obj) == stock
    assert "_changelist_filters=status__exact%3Dlead" in stock


def test_the_empty_cell_follows_the_sites_setting(monkeypatch):
    model_admin = admin.site.get_model_admin(Project)
    assert model_admin.get_empty_value_display() == "-"
    monkeypatch.setattr(admin.site, "empty_value_display", "(none)")
    assert model_admin.get_empty_value_display() == "(none)"
    monkeypatch.setattr(model_admin, "empty_value_display", "<i>∅</i>", raising=False)
    assert model_admin.get_empty_value_display() == admin.ModelAdmin.get_empty_value_display(model_admin)


def test_the_target_stages_are_named_in_the_stages_order(client, provincial_user, park_office, park_user):
    chain = ChainFactory(code="b-chain")
    first_chain = ChainFactory(code="a-chain")
    late = StageFactory(chain=chain, name="冶炼", order=4, code="y")
    early = StageFactory(chain=chain, name="深加工制品", order=1, code="z")
    elsewhere = StageFactory(chain=first_chain, name="丙烯腈", order=9, code="x")
    project = project_create(
        office=park_office,
        actor=park_user,
        stages=[late, early, elsewhere],
        title="碳纤维项目",
        enterprise=EnterpriseFactory(),
        park=ParkFactory(),
    )
    bare = ProjectFactory(office=park_office, title="无环节项目")
    sign_in_manager(client, provincial_user)
    response = client.get(PROJECTS)
    model_admin = admin.site.get_model_admin(Project)
    cells = {p.pk: model_admin.stage_names(p) for p in response.context["cl"].result_list}
    assert cells[project.pk] == "丙烯腈, 深加工制品, 冶炼"
    assert cells[project.pk] == ", ".join(s.name for s in Project.objects.get(pk=project.pk).stages.all())
    assert cells[bare.pk] == "—"
    assert '<td class="field-stage_names">丙烯腈, 深加工制品, 冶炼</td>' in response.content.decode()
