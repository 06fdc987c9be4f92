"""A manager finds a red project from the dashboard and opens its supervision order; a staff
member of the office submits the correction plan (Chromium, demo data)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from crm.roles import MANAGER, STAFF
from recruitment.models import Project, ProjectLight, SupervisionOrder
from tests.browser.conftest import log_in, staff_of

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.postgres]

OFFICE = "demo-yangqu"


def test_manager_finds_a_red_project_and_staff_submit_a_plan(
    page: Any, browser: Any, live_server: Any, seeded: None, artifacts: Any
) -> None:
    red = Project.objects.filter(office__code=OFFICE, light__color="red")
    assert red.count() >= 1, "the demo data has a red project in Yangqu"
    manager = staff_of(OFFICE, role=MANAGER)

    log_in(page, manager.username, next_url="/admin/reports/dashboard/")
    cell = page.locator("#lights-total td[data-light=red] a")
    expect(cell).to_have_text(str(red.count()))
    cell.click()
    page.wait_for_url("**/admin/recruitment/project/?**light=red**")
    expect(page.locator("#result_list tbody tr")).to_have_count(red.count())
    page.locator("#result_list tbody tr").first.locator("th a").click()
    expect(page.locator("#landing-reasons li").first).to_be_visible()
    expect(page.locator("svg.landing-chart")).to_be_visible()
    page.screenshot(path=str(artifacts / "red-project.png"), full_page=True)
    page.click("#landing-order-link")
    expect(page.locator("#order-transition")).to_be_visible()
    order_url = page.url
    order = SupervisionOrder.objects.get(pk=order_url.rstrip("/").split("/")[-2])
    assert order.status == "open" and ProjectLight.objects.get(project=order.project).color == "red"

    staff = staff_of(OFFICE, role=STAFF)
    context = browser.new_context(base_url=live_server.url, locale="zh-CN")
    context.set_default_timeout(20_000)
    tab = context.new_page()
    try:
        log_in(tab, staff.username, next_url=order_url.replace(live_server.url, ""))
        tab.select_option("#id_to", "plan_submitted")
        tab.fill("#id_plan", "本月完成设备招标，下月开工。")
        tab.click("#order-transition-submit")
        expect(tab.locator(".messagelist .success")).to_be_visible()
        tab.screenshot(path=str(artifacts / "order-plan-submitted.png"), full_page=True)
    finally:
        context.close()
    order.refresh_from_db()
    assert order.status == "plan_submitted" and order.plan == "本月完成设备招标，下月开工。"
    assert list(order.moves.values_list("to_status", "moved_by")) == [("open", None), ("plan_submitted", staff.pk)]
