"""Staff log an interaction from an enterprise page in Chromium and find it in the timeline."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from crm.models import Enterprise, Interaction
from crm.roles import STAFF
from tests.browser.conftest import log_in, staff_of

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.postgres]


def test_staff_quick_log_a_visit_and_see_it_in_the_timeline(page: Any, seeded: None) -> None:
    user = staff_of("demo-yangqu", role=STAFF)
    enterprise = Enterprise.objects.filter(office=user.office).order_by("name").first()
    assert enterprise is not None
    summary = "实地考察新厂区，对方希望下月带技术团队回访（浏览器测试）"

    log_in(page, user.username)
    page.goto(f"/admin/crm/enterprise/{enterprise.pk}/change/")
    form = page.locator("#quick-log-form")
    expect(form).to_be_visible()
    form.locator("select[name='quick_log-kind']").select_option("visit")
    form.locator("textarea[name='quick_log-summary']").fill(summary)
    form.locator("#quick-log-submit").click()

    page.wait_for_url("**#timeline")
    expect(page.locator("#timeline")).to_contain_text(summary)
    logged = Interaction.objects.get(summary=summary)
    assert (logged.enterprise_id, logged.office_id, logged.kind, logged.staff_id) == (
        enterprise.pk,
        user.office_id,
        "visit",
        user.pk,
    )
