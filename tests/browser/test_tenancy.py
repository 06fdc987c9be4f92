"""A park user in Chromium sees only their own office's projects."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from crm.roles import STAFF
from recruitment.models import Project
from tests.browser.conftest import log_in, staff_of

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.postgres]


def test_park_user_sees_only_their_office_projects_and_gets_404_for_another(page: Any, seeded: None) -> None:
    user = staff_of("demo-yangqu", role=STAFF)
    own = list(Project.objects.filter(office=user.office).values_list("title", flat=True))
    other = Project.objects.exclude(office=user.office).order_by("title").first()
    assert own and other is not None, "the demo data should hold projects of several offices"

    log_in(page, user.username, next_url="/admin/recruitment/project/")

    expect(page.locator("#result_list tbody tr")).to_have_count(len(own))
    listed = page.locator("#result_list tbody th a").all_inner_texts()
    assert sorted(listed) == sorted(own)
    assert other.title not in page.content()

    response = page.goto(f"/admin/recruitment/project/{other.pk}/change/")
    assert response is not None and response.status == 404

    page.goto("/admin/reports/dashboard/")
    expect(page.locator("#total-projects")).to_have_text(str(len(own)))
