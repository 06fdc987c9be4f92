"""Recomputing lights on the database: month by month with time controlled, history kept,
one automatic order per red project even when two recomputes race, constant queries."""

from __future__ import annotations

import datetime as dt
import importlib
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from crm.models import ChangeEntry
from recruitment.landing import progress_record, project_plan_set
from recruitment.lights_service import lights_recompute
from recruitment.models import LightPeriod, ProjectLight, RuleSuspension, SupervisionOrder, WarningRule
from recruitment.pipeline import Status
from recruitment.services import project_create, project_transition
from tests.factories import EnterpriseFactory, ParkFactory, StageFactory, UserFactory


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _english_site(settings) -> None:  # type: ignore[no-untyped-def]
    # Reasons are worded in the site's language; assert them in English.
    settings.LANGUAGE_CODE = "en"


def signed_project(office, **data):  # type: ignore[no-untyped-def]
    return project_create(
        office=office,
        stages=[StageFactory()],
        title=data.pop("title", "新能源电池项目"),
        enterprise=EnterpriseFactory(),
        park=ParkFactory(),
        status=Status.SIGNED,
        owner=data.pop("owner", None),
    )


def light(project) -> tuple[str, dt.date, list[str]]:  # type: ignore[no-untyped-def]
    row = ProjectLight.objects.get(project=project)
    return row.color, row.since, [r["detail"] for r in row.reasons]


@pytest.mark.django_db
def test_a_construction_start_that_slips_three_months_turns_yellow_then_red_and_opens_one_order(
    park_office, time_machine
) -> None:  # type: ignore[no-untyped-def]
    # Only the milestone rule, as Yinchuan publishes it.
    WarningRule.objects.exclude(code="milestone-overdue").update(enabled=False)
    owner = UserFactory(office=park_office)
    time_machine.move_to("2026-01-10T09:00:00+08:00", tick=False)
    project = signed_project(park_office, owner=owner)
    project_transition(project=project, to=Status.REGISTERED)
    project_plan_set(project=project, plan={"construction": dt.date(2026, 3, 15)})
    assert light(project)[0] == "green"

    months = [
        ("2026-03-10", "green", None),
        ("2026-03-20", "yellow", "overdue 1 month(s) running"),
        ("2026-04-20", "yellow", "overdue 2 month(s) running"),
        ("2026-05-02", "red", "overdue 3 month(s) running"),
        ("2026-06-02", "red", "overdue 4 month(s) running"),
    ]
    for day, color, words in months:
        time_machine.move_to(f"{day}T03:00:00+08:00", tick=False)
        lights_recompute()
        got_color, _since, reasons = light(project)
        assert got_color == color, day
        if words:
            assert len(reasons) == 1 and reasons[0].startswith("Construction start 开工 was planned for 2026-03-15")
            assert words in reasons[0]
        else:
            assert reasons == []
    assert list(LightPeriod.objects.filter(project=project).values_list("color", "began", "ended")) == [
        ("green", dt.date(2026, 1, 10), dt.date(2026, 3, 20)),
        ("yellow", dt.date(2026, 3, 20), dt.date(2026, 5, 2)),
        ("red", dt.date(2026, 5, 2), None),
    ]
    assert light(project)[1] == dt.date(2026, 5, 2)
    order = SupervisionOrder.objects.get(project=project)
    assert order.auto and order.status == "open" and order.responsible == owner
    assert "overdue 3 month(s) running" in order.required
    assert order.plan_due == dt.date(2026, 5, 9)
    assert ChangeEntry.objects.filter(object_id=order.pk, type="supervision_order").exists()

    # Starting construction clears it at once, without waiting for the nightly run.
    project_transition(project=project, to=Status.CONSTRUCTION)
    assert light(project)[0] == "green"


@pytest.mark.django_db
def test_a_change_of_light_is_a_change_in_the_feed(park_office, time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to("2026-01-10T09:00:00+08:00", tick=False)
    project = signed_project(park_office)
    project_plan_set(
        project=project, plan={"investment": [{"month": dt.date(2026, 1, 1), "cumulative": Decimal("100")}]}
    )
    entry = ChangeEntry.objects.get(object_id=project.pk)
    assert entry.data["light"]["color"] == "green"
    time_machine.move_to("2026-02-03T09:00:00+08:00", tick=False)
    lights_recompute()
    entry = ChangeEntry.objects.get(object_id=project.pk)
    assert entry.data["light"]["color"] == "red"
    assert entry.data["light"]["reasons"][0]["rule"] == "investment-behind"
    assert set(entry.data["light"]["reasons"][0]) == {"rule", "detail"}


@pytest.mark.django_db
def test_a_valid_reason_suspends_the_rule_until_it_expires(park_office, time_machine) -> None:  # type: ignore[no-untyped-def]
    WarningRule.objects.exclude(code="milestone-overdue").update(enabled=False)
    time_machine.move_to("2026-01-10T09:00:00+08:00", tick=False)
    project = signed_project(park_office)
    project_plan_set(project=project, plan={"registered": dt.date(2026, 1, 5)})
    assert light(project)[0] == "yellow"
    RuleSuspension.objects.create(
        project=project,
        rule=WarningRule.objects.get(code="milestone-overdue"),
        reason="土地证办理中",
        until=dt.date(2026, 1, 31),
    )
    lights_recompute()
    assert light(project)[0] == "green"
    time_machine.move_to("2026-02-01T09:00:00+08:00", tick=False)
    lights_recompute()
    assert light(project)[0] == "yellow"


@pytest.mark.django_db
def test_progress_recorded_is_counted_at_once(park_office, time_machine) -> None:  # type: ignore[no-untyped-def]
    WarningRule.objects.exclude(code="investment-behind").update(enabled=False)
    time_machine.move_to("2026-01-10T09:00:00+08:00", tick=False)
    project = signed_project(park_office)
    project_plan_set(
        project=project, plan={"investment": [{"month": dt.date(2026, 1, 1), "cumulative": Decimal("1000")}]}
    )
    time_machine.move_to("2026-02-03T09:00:00+08:00", tick=False)
    lights_recompute()
    assert light(project)[0] == "red"
    wrong = progress_record(project=project, kind="investment", month=dt.date(2026, 1, 1), amount=Decimal("800"))
    assert light(project)[0] == "yellow"
    progress_record(
        project=project,
        kind="investment",
        month=dt.date(2026, 1, 1),
        amount=Decimal("950"),
        corrects=wrong,
        reason="复核",
    )
    assert light(project)[0] == "green"


@pytest.mark.django_db
def test_recompute_costs_the_same_queries_for_2_or_8_projects(park_office, time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to("2026-01-10T09:00:00+08:00", tick=False)

    def make(n: int) -> None:
        for _ in range(n):
            p = signed_project(park_office)
            project_plan_set(project=p, plan={"registered": dt.date(2026, 2, 1)})
            progress_record(project=p, kind="funds", month=dt.date(2026, 1, 1), amount=Decimal("5"))

    def queries(day: str) -> int:
        time_machine.move_to(f"{day}T09:00:00+08:00", tick=False)
        with CaptureQueriesContext(connection) as ctx:
            result = lights_recompute()
        assert result.changed
        return len(ctx.captured_queries)

    make(2)
    few = queries("2026-02-05")
    make(6)
    ProjectLight.objects.update(color="green")  # every light changes again
    many = queries("2026-02-06")
    assert few == many


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_recomputes_open_one_order(park_office, time_machine) -> None:  # type: ignore[no-untyped-def]
    # A transactional test starts from whatever an earlier one flushed: the default
    # rules come from a data migration, so they are put back as that migration writes them.
    importlib.import_module("recruitment.migrations.0007_landing_supervision").seed_rules(django_apps, None)
    time_machine.move_to("2026-01-10T09:00:00+08:00", tick=False)
    project = signed_project(park_office)
    project_plan_set(
        project=project, plan={"investment": [{"month": dt.date(2026, 1, 1), "cumulative": Decimal("100")}]}
    )
    time_machine.move_to("2026-02-03T09:00:00+08:00", tick=False)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    opened: list[int] = []

    def recompute() -> None:
        try:
            barrier.wait(timeout=10)
            opened.append(len(lights_recompute().orders))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=recompute) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert SupervisionOrder.objects.filter(project=project).count() == 1
    assert sum(opened) == 1
    assert LightPeriod.objects.filter(project=project, ended__isnull=True).count() == 1
