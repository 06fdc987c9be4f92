"""Landing supervision in the admin: lights in the project list and page, progress added never
changed, supervision orders moved through their table, the overview; scoped to the office."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from crm.models import ChangeEntry
from recruitment.landing import progress_record, project_plan_set
from recruitment.lights_service import lights_recompute
from recruitment.models import ProgressEntry, Project, SupervisionOrder
from recruitment.pipeline import Status
from recruitment.services import project_create
from tests.crm.test_admin_support import admin_url, sign_in, sign_in_manager
from tests.factories import EnterpriseFactory, OfficeFactory, ParkFactory, StageFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _english_site(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LANGUAGE_CODE = "en"


def signed(office, title: str, **plan):  # type: ignore[no-untyped-def]
    project = project_create(
        office=office,
        stages=[StageFactory()],
        title=title,
        enterprise=EnterpriseFactory(),
        park=ParkFactory(),
        status=Status.SIGNED,
    )
    if plan:
        project_plan_set(project=project, plan=plan)
    return project


@pytest.fixture
def slipping(park_office, time_machine):  # type: ignore[no-untyped-def]
    time_machine.move_to("2026-01-10T09:00:00+08:00", tick=False)
    red = signed(
        park_office,
        "红灯项目",
        construction=dt.date(2026, 1, 12),
        investment=[{"month": dt.date(2026, 1, 1), "cumulative": Decimal("1000")}],
    )
    progress_record(project=red, kind="investment", month=dt.date(2026, 1, 1), amount=Decimal("200"))
    green = signed(park_office, "黄灯项目")  # nothing recorded for two months: yellow
    other = signed(OfficeFactory(code="xinzhou-office", kind="park"), "别处红灯", construction=dt.date(2026, 1, 12))
    time_machine.move_to("2026-03-05T09:00:00+08:00", tick=False)
    lights_recompute()
    return red, green, other


def test_the_project_list_shows_and_filters_lights_within_the_office(client: Client, park_user, slipping) -> None:  # type: ignore[no-untyped-def]
    red, green, other = slipping
    sign_in(client, park_user)
    page = client.get(admin_url(Project, "changelist"), {"light": "red"})
    assert page.status_code == 200
    shown = {p.pk for p in page.context["cl"].result_list}
    assert shown == {red.pk}  # the other office's red project stays invisible
    assert 'class="light light-red"' in page.content.decode()
    assert {
        p.pk for p in client.get(admin_url(Project, "changelist"), {"light": "yellow"}).context["cl"].result_list
    } == {green.pk}


def test_the_project_page_shows_reasons_in_words_and_a_chart_without_script(
    client: Client, park_user, slipping
) -> None:  # type: ignore[no-untyped-def]
    red, _green, _other = slipping
    sign_in(client, park_user)
    html = client.get(admin_url(Project, "change", red.pk)).content.decode()
    assert 'id="landing-reasons"' in html
    assert "Construction start 开工 was planned for 2026-01-12" in html
    assert "80.0 percentage points behind plan" in html
    assert '<svg class="landing-chart"' in html and 'class="plan"' in html
    panel = html[html.index('id="landing-panel"') : html.index('id="work-panel"')]
    assert "<script" not in panel


def test_progress_is_added_through_the_service_and_never_changed(client: Client, park_user, slipping) -> None:  # type: ignore[no-untyped-def]
    red, _green, other = slipping
    sign_in(client, park_user)
    data = {
        "project": red.pk,
        "month": "2026-02-14",
        "kind": "investment",
        "amount": "300",
        "milestone": "",
        "reason": "",
    }
    response = client.post(admin_url(ProgressEntry, "add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = ProgressEntry.objects.get(project=red, month=dt.date(2026, 2, 1))
    assert entry.recorded_by == park_user and entry.office_id == red.office_id
    assert ChangeEntry.objects.filter(object_id=entry.pk).exists()
    assert client.post(admin_url(ProgressEntry, "change", entry.pk), {**data, "amount": "1"}).status_code == 403
    assert ProgressEntry.objects.get(pk=entry.pk).amount == Decimal("300.00")
    refused = client.post(admin_url(ProgressEntry, "add"), {**data, "project": other.pk})
    assert refused.status_code == 200 and "project" in refused.context["adminform"].form.errors


def test_a_staff_user_submits_a_plan_and_the_issuer_closes_the_order(
    client: Client, park_office, provincial_user, slipping
) -> None:  # type: ignore[no-untyped-def]
    red, _green, _other = slipping
    order = SupervisionOrder.objects.get(project=red)
    staff = UserFactory(office=park_office, is_staff=True)
    sign_in(client, staff)
    page = client.get(admin_url(SupervisionOrder, "change", order.pk)).content.decode()
    assert 'id="order-transition"' in page
    client.post(
        admin_url(SupervisionOrder, "transition", order.pk), {"to": "plan_submitted", "plan": "四月开工", "note": ""}
    )
    order.refresh_from_db()
    assert order.status == "plan_submitted" and order.plan == "四月开工"
    # Staff may not decide it; the province (which may oversee any order) may.
    client.post(admin_url(SupervisionOrder, "transition", order.pk), {"to": "resolved", "plan": "", "note": ""})
    assert SupervisionOrder.objects.get(pk=order.pk).status == "plan_submitted"
    sign_in_manager(Client(), provincial_user)
    province = sign_in_manager(Client(), provincial_user)
    province.post(admin_url(SupervisionOrder, "transition", order.pk), {"to": "resolved", "plan": "", "note": "已开工"})
    assert SupervisionOrder.objects.get(pk=order.pk).status == "resolved"
    assert list(order.moves.values_list("to_status", flat=True)) == ["open", "plan_submitted", "resolved"]


def test_orders_and_the_overview_are_scoped_to_the_office(client: Client, park_user, provincial_user, slipping) -> None:  # type: ignore[no-untyped-def]
    red, _green, other = slipping
    sign_in(client, park_user)
    listed = {o.project_id for o in client.get(admin_url(SupervisionOrder, "changelist")).context["cl"].result_list}
    assert listed == {red.pk}
    theirs = SupervisionOrder.objects.get(project=other)
    assert client.get(admin_url(SupervisionOrder, "change", theirs.pk)).status_code == 404
    overview = client.get(admin_url(SupervisionOrder, "overview"))
    assert [p["open"] for p in overview.context["parks"]] == [1]
    province = sign_in_manager(Client(), provincial_user)
    overview = province.get(admin_url(SupervisionOrder, "overview"))
    assert overview.context["totals"] == {"open": 2, "plan_overdue": 0, "resolve_overdue": 0}


def test_a_manager_issues_an_order_on_the_offices_project_by_hand(client: Client, park_office, slipping) -> None:  # type: ignore[no-untyped-def]
    _red, green, other = slipping
    manager = UserFactory(office=park_office, is_staff=True, is_manager=True)
    sign_in_manager(client, manager)
    data = {
        "project": green.pk,
        "required": "说明进度",
        "plan_due": "2026-03-12",
        "resolve_due": "2026-04-12",
        "responsible": "",
        "leader": "",
    }
    assert client.post(admin_url(SupervisionOrder, "add"), data).status_code == 302
    order = SupervisionOrder.objects.get(project=green)
    assert order.issued_by == manager and not order.auto
    staff = sign_in(Client(), UserFactory(office=park_office, is_staff=True))
    refused = staff.post(admin_url(SupervisionOrder, "add"), {**data, "project": green.pk})
    assert refused.status_code == 200


def test_the_dashboard_counts_lights_by_park_chain_and_owner_in_constant_queries(
    client: Client, provincial_user, park_office, time_machine
) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    time_machine.move_to("2026-01-10T09:00:00+08:00", tick=False)
    owner = UserFactory(office=park_office)

    def make(n: int) -> None:
        for i in range(n):
            p = signed(park_office, f"项目{i}", construction=dt.date(2026, 1, 5) if i % 2 else None)
            Project.objects.filter(pk=p.pk).update(owner=owner)
        lights_recompute()

    province = sign_in_manager(client, provincial_user)
    url = reverse("reports:dashboard")
    make(2)
    province.get(url)
    with CaptureQueriesContext(connection) as few:
        small = province.get(url)
    make(10)
    with CaptureQueriesContext(connection) as many:
        large = province.get(url)
    assert len(few.captured_queries) == len(many.captured_queries)
    lights = large.context["board"].lights
    assert lights.totals.counts == {"green": 6, "yellow": 6}
    assert small.context["board"].lights.totals.counts == {"green": 1, "yellow": 1}
    (row,) = lights.by_owner
    assert row.counts == {"green": 6, "yellow": 6}
    yellow_url = row.urls["yellow"]
    listed = province.get(yellow_url)
    assert listed.context["cl"].result_count == 6
