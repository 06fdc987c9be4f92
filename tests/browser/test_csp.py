"""Under the Content-Security-Policy (no inline script) the pages' scripts still run and
the browser reports no violation: the chain gap map, the dashboard, the language menu."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from chains.models import Stage
from crm.roles import MANAGER
from tests.browser.conftest import log_in, staff_of

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.postgres]

CHAIN = "carbon-fibre"
PARK = "yangqu"

# Runs before any page script (Playwright injects it past the CSP): every violation the
# browser raises is kept on window for the test to read.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def watch_violations(page: Any) -> list[str]:
    messages: list[str] = []
    page.on(
        "console",
        lambda msg: messages.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.add_init_script(RECORD_VIOLATIONS)
    return messages


def violations(page: Any, console: list[str]) -> list[str]:
    return console + page.evaluate("window.__cspViolations || []")


def test_gap_map_runs_its_script_without_a_csp_violation(page: Any, seeded: None) -> None:
    console = watch_violations(page)
    manager = staff_of("demo-province", role=MANAGER)
    log_in(page, manager.username, next_url=f"/admin/reports/chains/{CHAIN}/")
    response = page.request.get(f"/admin/reports/chains/{CHAIN}/")
    assert "script-src 'self'" in response.headers["content-security-policy"]

    # The map's script (a static file) submits the park choice and opens a stage in place.
    page.select_option("#id_map_park", PARK)
    page.wait_for_url(f"**park={PARK}**")
    stage = Stage.objects.filter(chain__code=CHAIN).order_by("order").first()
    page.click(f"svg#chain-map a.cr-stage[data-stage={stage.code}]")
    expect(page.locator(f"svg#chain-map a.cr-stage.selected[data-stage={stage.code}]")).to_have_count(1)
    assert violations(page, console) == []


def test_dashboard_and_language_menu_work_under_the_policy(page: Any, seeded: None) -> None:
    console = watch_violations(page)
    manager = staff_of("demo-province", role=MANAGER)
    log_in(page, manager.username, next_url="/admin/reports/dashboard/")
    expect(page.locator("#funnel")).to_be_visible()

    # Choosing a language submits the menu (a static script, not an onchange attribute).
    page.select_option("#language-switch select[name=language]", "en")
    page.wait_for_load_state("load")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto("/admin/crm/enterprise/")
    expect(page.locator("#result_list")).to_be_visible()
    assert violations(page, console) == []
