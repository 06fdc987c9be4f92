"""The change lists' "next page" link seeks past the last row's sort key (keyset) instead of
skipping rows: the pages it gives are the pages by number, row for row, ties included."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import Enterprise
from recruitment.admin import ProjectAdmin
from recruitment.models import Project
from tests.crm.test_admin_support import sign_in_manager
from tests.factories import EnterpriseFactory, ParkFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _exact_counts(settings):  # type: ignore[no-untyped-def]
    # Counted, not estimated from the planner's figures (which an earlier test's ANALYZE leaves behind).
    settings.ADMIN_EXACT_COUNT_LIMIT = 1_000


PROJECTS = reverse("admin:recruitment_project_changelist")
ENTERPRISES = reverse("admin:crm_enterprise_changelist")
_NEXT = re.compile(r'<a href="([^"]*)" class="keyset-next"')


@pytest.fixture
def projects(provincial_office):  # type: ignore[no-untyped-def]
    """130 projects (three pages of 50) whose creation times and titles come in runs of
    seven equal values, so a page boundary falls inside a run."""
    park = ParkFactory()
    enterprise = EnterpriseFactory()
    rows = Project.objects.bulk_create(
        [
            Project(office=provincial_office, enterprise=enterprise, park=park, title=f"碳纤维项目{i // 7:03d}")
            for i in range(130)
        ]
    )
    start = timezone.now() - timedelta(days=1)
    for i in range(0, 130, 7):
        ids = [p.pk for p in rows[i : i + 7]]
        Project.objects.filter(pk__in=ids).update(created_at=start + timedelta(minutes=i))
    return rows


def _page(client, url: str):  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    found = _NEXT.search(response.content.decode())
    next_url = html.unescape(found.group(1)) if found else None
    return [row.pk for row in response.context["cl"].result_list], next_url, ctx.captured_queries


def _walk(client, url: str) -> list[list]:  # type: ignore[no-untyped-def]
    """Every page, following the "next" links; each page after the first read without OFFSET."""
    pages = []
    ids, next_url, _ = _page(client, url)
    pages.append(ids)
    while next_url:
        ids, next_url, queries = _page(client, url.split("?")[0] + next_url)
        assert not any(" OFFSET " in q["sql"] for q in queries), "a page from the next link skipped rows"
        pages.append(ids)
    return pages


def _numbered(client, url: str, pages: int) -> list[list]:  # type: ignore[no-untyped-def]
    joiner = "&" if "?" in url else "?"
    return [_page(client, f"{url}{joiner}p={n}")[0] for n in range(1, pages + 1)]


@pytest.mark.parametrize("order", ["", "?o=1", "?o=-1", "?q=碳纤维"])
def test_the_next_links_give_the_pages_by_number_row_for_row(client, provincial_user, projects, order):
    sign_in_manager(client, provincial_user)
    walked = _walk(client, PROJECTS + order)
    assert [len(p) for p in walked] == [50, 50, 30]
    assert walked == _numbered(client, PROJECTS + order, 3)
    assert sorted(pk for page in walked for pk in page) == sorted(p.pk for p in projects)


def test_the_enterprise_list_pages_on_by_name_with_equal_names(client, provincial_user):
    sign_in_manager(client, provincial_user)
    Enterprise.objects.bulk_create([Enterprise(name=f"太原第{i // 9}钢铁有限公司") for i in range(120)])
    walked = _walk(client, ENTERPRISES)
    assert walked == _numbered(client, ENTERPRISES, 3)
    assert len({pk for page in walked for pk in page}) == 120


def test_a_column_that_may_be_empty_pages_by_number(client, provincial_user, projects):
    # planned investment may be NULL: "past this value" would skip or repeat the empty ones
    Project.objects.filter(pk__in=[p.pk for p in projects[::3]]).update(planned_investment=1_000_000)
    sign_in_manager(client, provincial_user)
    url = f"{PROJECTS}?o={ProjectAdmin.list_display.index('planned_investment_wan') + 1}"
    ids, next_url, _ = _page(client, url)
    assert len(ids) == 50 and next_url is None
    assert "p=2" in client.get(url).content.decode()  # the numbered pages are still there


def test_an_edited_or_foreign_link_falls_back_to_the_page_by_its_number(client, provincial_user, projects):
    sign_in_manager(client, provincial_user)
    _, next_url, _ = _page(client, PROJECTS)
    second = _page(client, PROJECTS + "?p=2")[0]
    token = re.search(r"after=([^&]+)", next_url).group(1)
    edited = next_url.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert _page(client, PROJECTS + edited)[0] == second
    # made for the list sorted by title: not a key of the default order
    _, title_next, _ = _page(client, PROJECTS + "?o=1")
    title_token = re.search(r"after=([^&]+)", title_next).group(1)
    assert _page(client, f"{PROJECTS}?p=2&after={title_token}")[0] == second
    # made for page 2, used for page 3
    third = _page(client, PROJECTS + "?p=3")[0]
    assert _page(client, f"{PROJECTS}?p=3&after={token}")[0] == third


def test_a_link_made_for_one_person_is_not_anothers_key(client, provincial_user, provincial_office, projects):
    sign_in_manager(client, provincial_user)
    _, next_url, _ = _page(client, PROJECTS)
    other = UserFactory(office=provincial_office, is_staff=True, is_manager=True)
    client.logout()
    sign_in_manager(client, other)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(PROJECTS + next_url)
    assert response.status_code == 200
    assert [r.pk for r in response.context["cl"].result_list] == _page(client, PROJECTS + "?p=2")[0]
    assert any(" OFFSET " in q["sql"] for q in ctx.captured_queries)  # by its number, not by the key
