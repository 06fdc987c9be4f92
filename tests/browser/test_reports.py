"""A manager reviews the pipeline dashboard and a chain gap map in Chromium."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from chains.models import Park, Stage
from crm.roles import MANAGER
from recruitment.gaps import gap_candidates
from recruitment.models import Project
from tests.browser.conftest import log_in, staff_of

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.postgres]

PROVINCE = "demo-province"
CHAIN = "carbon-fibre"
PARK = "yangqu"


def _stage_with_most_candidates(*, park: Park, office: Any) -> tuple[Stage, list]:
    """The carbon-fibre stage in the park with the most candidates (the demo data decides which)."""
    best: tuple[Stage, list] | None = None
    for stage in Stage.objects.filter(chain__code=CHAIN).order_by("order"):
        candidates = gap_candidates(park=park, stage=stage, office=office, limit=20)
        if best is None or len(candidates) > len(best[1]):
            best = (stage, candidates)
    assert best is not None and best[1], "the demo data should give some carbon-fibre stage candidates in Yangqu"
    return best


def test_manager_reviews_dashboard_filters_by_park_and_sees_candidates_on_the_map(
    page: Any, seeded: None, artifacts: Any
) -> None:
    manager = staff_of(PROVINCE, role=MANAGER)
    park = Park.objects.get(code=PARK)
    stage, candidates = _stage_with_most_candidates(park=park, office=manager.office)
    total = Project.objects.count()
    in_park = Project.objects.filter(park=park).count()
    parks_with_projects = Project.objects.values("park").distinct().count()

    log_in(page, manager.username, next_url="/admin/reports/dashboard/")

    expect(page.locator("#funnel")).to_be_visible()
    expect(page.locator("#total-projects")).to_have_text(str(total))
    expect(page.locator("#by-park tbody tr")).to_have_count(parks_with_projects)
    expect(page.locator("#rate-construction .cr-card-value")).to_contain_text("%")
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

    page.select_option("#dashboard-filters select[name=park]", PARK)
    page.click("#dashboard-filters button[type=submit]")
    page.wait_for_url(f"**park={PARK}**")
    expect(page.locator("#total-projects")).to_have_text(str(in_park))
    expect(page.locator("#by-park tbody tr")).to_have_count(1)
    # The figure is a link to the project change list filtered the same way.
    page.click("#total-projects a")
    page.wait_for_url("**/admin/recruitment/project/?**")
    expect(page.locator("#result_list tbody tr")).to_have_count(in_park)

    page.goto("/admin/reports/chains/")
    page.click(f"a.cr-chain-link[data-chain={CHAIN}]")
    page.wait_for_url(f"**/admin/reports/chains/{CHAIN}/")
    expect(page.locator("svg#chain-map a.cr-stage")).to_have_count(Stage.objects.filter(chain__code=CHAIN).count())

    page.select_option("#id_map_park", PARK)  # the map's script submits the choice
    page.wait_for_url(f"**park={PARK}**")
    page.click(f"svg#chain-map a.cr-stage[data-stage={stage.code}]")

    rows = page.locator("#stage-candidates tr.cr-candidate")
    expect(rows).to_have_count(len(candidates))
    expect(rows.first).to_contain_text(candidates[0].name)
    courted = sum(1 for c in candidates if c.courted_by_other_office)
    expect(page.locator("#stage-candidates tr.cr-courted")).to_have_count(courted)
    expect(page.locator(f"svg#chain-map a.cr-stage.selected[data-stage={stage.code}]")).to_have_count(1)
    assert f"stage={stage.code}" in page.url  # the panel opened in place; the address still says which
    # The stage's signed projects by light, each count the list behind it.
    lit = Project.objects.filter(park=park, stages=stage, light__isnull=False).distinct()
    for color in ("red", "yellow", "green") if lit.exists() else ():
        n = lit.filter(light__color=color).count()
        expect(page.locator(f"#stage-lights td[data-light={color}]")).to_have_text(re.compile(rf":\s*{n}\s*$"))
    if not lit.exists():
        expect(page.locator("#stage-lights .cr-empty")).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "carbon-fibre-map.png"), full_page=True)
