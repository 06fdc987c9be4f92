"""The admin index: links to the report and tool pages (when they exist) and the user's follow-up counts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import path, reverse
from django.utils import timezone

from recruitment import selectors
from recruitment.admin_counts import FollowUpCounts, followup_counts_for_user
from recruitment.services import followup_complete, followup_create, project_create
from tests.crm.test_admin_support import sign_in
from tests.factories import EnterpriseFactory, ParkFactory, StageFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = timezone.make_aware(timezone.datetime(2026, 11, 2, 10, 0))

# A URL configuration with the admin alone: the report and tool pages are missing.
urlpatterns = [path("admin/", admin.site.urls)]


@pytest.fixture
def project(park_office, park_user):  # type: ignore[no-untyped-def]
    return project_create(
        office=park_office,
        stages=[StageFactory()],
        title="项目",
        enterprise=EnterpriseFactory(),
        park=ParkFactory(),
        owner=None,
    )


@pytest.fixture
def my_follow_ups(park_office, park_user, project):  # type: ignore[no-untyped-def]
    """Three open (one past due, one due in an hour, one next week), one done, and a colleague's."""
    with time_machine.travel(NOW, tick=False):
        followup_create(office=park_office, project=project, assignee=park_user, due_at=NOW - timedelta(hours=2))
        followup_create(office=park_office, project=project, assignee=park_user, due_at=NOW + timedelta(hours=1))
        followup_create(office=park_office, project=project, assignee=park_user, due_at=NOW + timedelta(days=7))
        done = followup_create(office=park_office, project=project, assignee=park_user, due_at=NOW - timedelta(days=1))
        followup_complete(follow_up=done)
        colleague = UserFactory(office=park_office)
        followup_create(office=park_office, project=project, assignee=colleague, due_at=NOW - timedelta(days=1))


@time_machine.travel(NOW, tick=False)
def test_counts_are_the_users_own_open_and_past_due_follow_ups(park_user, my_follow_ups):
    with CaptureQueriesContext(connection) as ctx:
        counts = followup_counts_for_user(user=park_user)
    assert (counts.open, counts.overdue) == (3, 1)
    assert len(ctx.captured_queries) == 1


@time_machine.travel(NOW, tick=False)
def test_index_shows_the_counts_and_links_to_my_follow_ups(client, park_user, my_follow_ups):
    sign_in(client, park_user)
    response = client.get(reverse("admin:index"))
    body = response.content.decode()
    assert 'id="my-open-follow-ups" data-count="3"' in body
    assert 'id="my-overdue-follow-ups" data-count="1"' in body
    assert 'id="link-my-follow-ups"' in body


@time_machine.travel(NOW, tick=False)
def test_index_counts_agree_with_the_my_follow_ups_page_they_link_to(client, park_user, my_follow_ups):
    sign_in(client, park_user)
    body = client.get(reverse("admin:index")).content.decode()
    open_url = re.search(r'href="([^"]+)" id="link-my-follow-ups"', body).group(1).replace("&amp;", "&")
    overdue_url = re.search(r'href="([^"]+)" id="link-my-overdue-follow-ups"', body).group(1).replace("&amp;", "&")
    assert client.get(open_url).context["cl"].result_count == 3
    assert client.get(overdue_url).context["cl"].result_count == 1


def test_index_links_to_the_dashboard_chain_maps_and_tools(client, park_user):
    sign_in(client, park_user)
    body = client.get(reverse("admin:index")).content.decode()
    for element_id, name in [
        ("link-dashboard", "reports:dashboard"),
        ("link-chain-maps", "reports:chain-maps"),
        ("link-import", "tools:import"),
        ("link-duplicates", "tools:duplicates"),
    ]:
        assert f'href="{reverse(name)}" id="{element_id}"' in body


@pytest.mark.urls(__name__)
def test_index_works_when_report_and_tool_pages_are_missing(client, park_user):
    sign_in(client, park_user)
    response = client.get("/admin/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="work-summary"' in body
    assert 'id="link-dashboard"' not in body


@time_machine.travel(NOW, tick=False)
def test_index_counts_are_the_selectors_counts_my_follow_ups_shows(park_user, my_follow_ups):
    """One count behind the index and the "my follow-ups" title: the index's overdue is the title's past due."""
    counts = selectors.followup_counts_for_user(user=park_user)
    assert counts == {"open": 3, "due": 1, "overdue": 0}
    assert followup_counts_for_user(user=park_user) == FollowUpCounts(open=counts["open"], overdue=counts["due"])


def test_nobody_signed_in_has_no_follow_ups(db):
    with CaptureQueriesContext(connection) as ctx:
        assert followup_counts_for_user(user=AnonymousUser()) == FollowUpCounts(open=0, overdue=0)
    assert not ctx.captured_queries
