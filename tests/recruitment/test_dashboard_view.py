"""The dashboard page: access, tenancy on the page, constant query count, links to change lists."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django import forms
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import path, reverse
from django.utils import timezone, translation

from crm.roles import MANAGER, STAFF, role_assign
from recruitment.dashboard import DashboardFilters, dashboard_build, dashboard_options
from recruitment.models import FollowUp, Project
from recruitment.report_links import ChangelistLinker
from recruitment.report_views import DashboardFilterForm
from tests.factories import (
    ChainFactory,
    EnterpriseFactory,
    FollowUpFactory,
    InteractionFactory,
    OfficeFactory,
    ParkFactory,
    ProjectFactory,
    StageFactory,
    UserFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

YI = Decimal(100_000_000)
STATUSES = ["lead", "screening", "negotiating", "signed", "registered", "construction", "production", "lost"]


# A stand-in admin site with the list filters the project admin offers, so the links can be
# followed to a real change list whatever the state of the production admin registration.
test_site = admin.AdminSite(name="testadmin")


class ProjectTestAdmin(admin.ModelAdmin):
    list_filter = ["park", "stages__chain", "status", "office", "owner"]


class FollowUpTestAdmin(admin.ModelAdmin):
    list_filter = ["status", "assignee"]


test_site.register(Project, ProjectTestAdmin)
test_site.register(FollowUp, FollowUpTestAdmin)
urlpatterns = [path("testadmin/", test_site.urls)]


@pytest.fixture
def dashboard_url() -> str:
    return reverse("reports:dashboard")


@pytest.fixture
def manager(provincial_office):  # type: ignore[no-untyped-def]
    user = UserFactory(office=provincial_office)
    role_assign(user=user, role=MANAGER)
    return user


@pytest.fixture
def park_staff(park_office):  # type: ignore[no-untyped-def]
    user = UserFactory(office=park_office)
    role_assign(user=user, role=STAFF)
    return user


@pytest.fixture
def reference():  # type: ignore[no-untyped-def]
    zone = ZoneFactory(target_output_value=2000 * YI)
    parks = [ParkFactory(zone=zone) for _ in range(2)]
    chains = [ChainFactory(zone=zone) for _ in range(2)]
    stages = [StageFactory(chain=chain) for chain in chains for _ in range(2)]
    return {"parks": parks, "stages": stages}


def populate(n: int, *, office, owner, reference) -> None:  # type: ignore[no-untyped-def]
    """``n`` projects of every kind the dashboard shows: statuses, money, stale, overdue."""
    now = timezone.now()
    for i in range(n):
        project = ProjectFactory(
            office=office,
            enterprise=EnterpriseFactory(office=office),
            park=reference["parks"][i % 2],
            status=STATUSES[i % len(STATUSES)],
            status_changed_at=now,
            owner=owner if i % 3 else None,
            planned_investment=YI * (i + 1),
            signed_amount=YI if i % 2 else None,
            funds_in_place=YI / 2 if i % 2 else None,
            expected_output_value=YI * 3,
        )
        project.stages.set(reference["stages"][i % 4 : i % 4 + 2])
        FollowUpFactory(office=office, project=project, assignee=owner, due_at=now - timedelta(days=i % 5 + 1))
        if i % 2:
            InteractionFactory(office=office, enterprise=project.enterprise, project=project)
    Project.objects.update(created_at=now - timedelta(days=60))


def test_anonymous_visitor_is_sent_to_the_admin_login(client, dashboard_url) -> None:  # type: ignore[no-untyped-def]
    response = client.get(dashboard_url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_project_permission_is_refused(client, dashboard_url, provincial_office) -> None:  # type: ignore[no-untyped-def]
    client.force_login(UserFactory(office=provincial_office, is_staff=True))

    assert client.get(dashboard_url).status_code == 403


def test_manager_sees_the_dashboard_with_money_in_yi(client, dashboard_url, manager, reference) -> None:  # type: ignore[no-untyped-def]
    populate(8, office=manager.office, owner=manager, reference=reference)
    client.force_login(manager)

    response = client.get(dashboard_url, headers={"accept-language": "en"})

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="funnel"' in page and 'id="by-park"' in page and 'id="workload"' in page
    assert "36.00亿元" in page  # planned investment 1+2+…+8 亿元
    assert "2,000.00亿元" in page  # the zone's target
    assert "admin/css/base.css" in page  # inside the admin look


def test_park_staff_page_does_not_show_other_offices_projects(client, dashboard_url, park_staff, reference) -> None:  # type: ignore[no-untyped-def]
    other = OfficeFactory(code="elsewhere", kind="park")
    populate(3, office=other, owner=UserFactory(office=other), reference=reference)
    Project.objects.update(title="机密项目")
    client.force_login(park_staff)

    response = client.get(dashboard_url)

    assert "机密项目" not in response.content.decode()
    assert response.context["board"].figures.total.count == 0


def test_invalid_filters_fall_back_to_everything_and_show_the_error(client, dashboard_url, manager) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)

    response = client.get(dashboard_url, {"park": "no-such-park", "start": "2025-05-01", "end": "2025-04-01"})

    assert response.status_code == 200
    assert response.context["form"].errors
    assert response.context["board"].filters == DashboardFilters()


def test_filters_by_code_reach_the_selectors(client, dashboard_url, manager, reference) -> None:  # type: ignore[no-untyped-def]
    populate(6, office=manager.office, owner=manager, reference=reference)
    park = reference["parks"][0]
    client.force_login(manager)

    response = client.get(dashboard_url, {"park": park.code, "start": "2000-01-01", "basis": "created"})

    board = response.context["board"]
    assert board.filters.park == park
    assert board.figures.total.count == Project.objects.filter(park=park).count() == 3


def test_dashboard_query_count_does_not_grow_with_the_data(client, dashboard_url, manager, reference) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)
    populate(8, office=manager.office, owner=manager, reference=reference)
    client.get(dashboard_url)  # warm caches that are not per request (content types)
    with CaptureQueriesContext(connection) as small:
        assert client.get(dashboard_url).status_code == 200
    populate(80, office=manager.office, owner=manager, reference=reference)
    with CaptureQueriesContext(connection) as large:
        response = client.get(dashboard_url)
    assert response.status_code == 200
    assert response.context["board"].figures.total.count == 88

    assert len(small.captured_queries) == len(large.captured_queries)
    assert len(large.captured_queries) <= 25, [q["sql"] for q in large.captured_queries]


def _linker(user):  # type: ignore[no-untyped-def]
    request = RequestFactory().get("/")
    request.user = user
    return ChangelistLinker(request, site=test_site)


def _result_count(client, url: str) -> int:  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context_data["cl"].result_count


@pytest.mark.urls("tests.recruitment.test_dashboard_view")
def test_figures_the_change_list_cannot_filter_are_not_linked(manager, reference) -> None:  # type: ignore[no-untyped-def]
    sector = reference["stages"][0].chain.sector
    board = dashboard_build(
        user=manager,
        filters=DashboardFilters(sector=sector),
        options=dashboard_options(user=manager),
        link=_linker(manager),
    )

    # The stand-in admin has no sector list filter and no "stale" filter: no broken links.
    assert board.projects_url is None
    assert board.stale.url is None
    assert all(row.url is None for row in board.funnel)


def test_figures_link_to_the_real_project_admin_with_the_same_counts(client, dashboard_url, manager, reference) -> None:  # type: ignore[no-untyped-def]
    """Against the registered admin: its list filters accept every parameter the dashboard sends."""
    populate(12, office=manager.office, owner=manager, reference=reference)
    client.force_login(manager)
    sector = reference["stages"][0].chain.sector

    board = client.get(dashboard_url, {"park": reference["parks"][0].code, "sector": sector.code}).context["board"]

    assert board.projects_url is not None
    assert _result_count(client, board.projects_url) == board.figures.total.count > 0
    for row in board.funnel:
        assert _result_count(client, row.url) == row.amounts.count
    for row in board.by_park + board.by_chain + board.by_sector:
        if row in board.by_sector and row.key != sector.code:
            # Projects of the chosen sector that also touch another one: no change-list
            # parameters say "both", so the figure is shown without a link.
            assert row.url is None
            continue
        assert _result_count(client, row.url) == row.figures.total.count
    assert board.stale.url is not None
    assert _result_count(client, board.stale.url) == board.stale.total > 0
    for row in board.workload:
        assert _result_count(client, row.projects_url) == row.open_projects
        assert _result_count(client, row.stale_url) == row.stale_projects


def test_follow_up_figures_link_to_the_follow_up_admin(client, dashboard_url, manager, reference) -> None:  # type: ignore[no-untyped-def]
    populate(10, office=manager.office, owner=manager, reference=reference)
    client.force_login(manager)

    for params in ({}, {"park": reference["parks"][1].code}):
        board = client.get(dashboard_url, params).context["board"]

        assert board.overdue.url is not None
        assert _result_count(client, board.overdue.url) == board.overdue.total > 0
        for row in board.workload:
            assert _result_count(client, row.follow_ups_url) == row.open_follow_ups
            assert _result_count(client, row.overdue_url) == row.overdue_follow_ups


def test_rates_and_chain_filter_link_to_the_lists_behind_them(client, dashboard_url, manager, reference) -> None:  # type: ignore[no-untyped-def]
    populate(16, office=manager.office, owner=manager, reference=reference)
    client.force_login(manager)
    chain = reference["stages"][0].chain

    board = client.get(dashboard_url, {"chain": chain.code, "start": "2000-01-01"}).context["board"]

    assert _result_count(client, board.projects_url) == board.figures.total.count > 0
    for row in [*board.by_park, *(r for r in board.by_chain if r.key == chain.code)]:
        for rate_row in row.rates:
            if rate_row.key != "funds":
                assert _result_count(client, rate_row.rate.numerator_url) == rate_row.rate.numerator
                assert _result_count(client, rate_row.rate.denominator_url) == rate_row.rate.denominator
    query = parse_qs(urlsplit(board.funnel[0].url).query)
    assert query["stages__chain__id__exact"] == [str(chain.pk)]
    assert query["status__exact"] == ["lead"]
    assert "status_changed_at__gte" in query


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_filters_selects_are_the_markup_djangos_select_renders(manager, reference, language) -> None:  # type: ignore[no-untyped-def]
    chain = reference["stages"][0].chain
    options = dashboard_options(user=manager)
    for data in ({}, {"park": reference["parks"][1].code, "chain": chain.code, "basis": "created"}, {"chain": "nope"}):
        form = DashboardFilterForm(data, options=options)
        form.is_valid()
        with translation.override(language):
            for name in ("park", "chain", "sector", "office", "basis"):
                if name not in form.fields:
                    continue
                field = form[name]
                written = field.as_widget()
                django = field.as_widget(widget=forms.Select(choices=field.field.choices))
                assert written == django
                assert "<option" in written
