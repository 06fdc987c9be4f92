"""Recomputing lights on the database: month by month with time controlled, history kept,
one automatic order per red project even when two recomputes race, constant queries."""

from __future__ import annotations

import dataclasses
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


def green_until_its_plan_slips(office, time_machine):  # type: ignore[no-untyped-def]
    """A signed project planned to have invested by January 2026, green on 10 January; then 3 February."""
    time_machine.move_to("2026-01-10T09:00:00+08:00", tick=False)
    project = signed_project(office)
    project_plan_set(
        project=project, plan={"investment": [{"month": dt.date(2026, 1, 1), "cumulative": Decimal("100")}]}
    )
    assert ChangeEntry.objects.get(object_id=project.pk).data["light"]["color"] == "green"
    time_machine.move_to("2026-02-03T09:00:00+08:00", tick=False)
    return project


@pytest.mark.django_db
def test_a_change_of_light_is_a_change_in_the_feed(park_office, time_machine) -> None:  # type: ignore[no-untyped-def]
    project = green_until_its_plan_slips(park_office, time_machine)
    lights_recompute()
    entry = ChangeEntry.objects.get(object_id=project.pk)
    assert entry.data["light"]["color"] == "red"
    assert entry.data["light"]["reasons"][0]["rule"] == "investment-behind"
    assert set(entry.data["light"]["reasons"][0]) == {"rule", "detail"}


@pytest.mark.django_db
def test_a_recompute_told_the_caller_records_the_feed_leaves_it_to_the_caller(park_office, time_machine) -> None:  # type: ignore[no-untyped-def]
    project = green_until_its_plan_slips(park_office, time_machine)
    lights_recompute(project_ids=[project.pk], feed=False)  # as the project import does, which records it after
    assert light(project)[0] == "red"
    assert ChangeEntry.objects.get(object_id=project.pk).data["light"]["color"] == "green"
    with pytest.raises(ValueError):
        lights_recompute(feed=False)  # every signed project: no caller records all their entries


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


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_one_statement_facts_are_the_facts_read_table_by_table(park_office, time_machine) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL reads a project's facts in one statement; it must read what the per-table reads do
    (plans, the latest schedule month, corrected entries left out, milestones, valid reasons, lights)."""
    import orjson

    from recruitment.lights_service import _facts_load_orm, _facts_load_pg

    time_machine.move_to("2026-01-10T07:30:00+08:00", tick=False)  # signed on the 10th local time, the 9th in UTC
    bare = signed_project(park_office, title="无计划项目")
    full = signed_project(park_office, title="完整项目")
    project_transition(project=full, to=Status.REGISTERED)
    project_plan_set(
        project=full,
        plan={
            "registered": dt.date(2026, 2, 1),
            "construction": dt.date(2026, 4, 15),
            "investment": [
                {"month": dt.date(2026, 2, 1), "cumulative": Decimal("1000000")},
                {"month": dt.date(2026, 3, 1), "cumulative": Decimal("3000000")},
                {"month": dt.date(2026, 9, 1), "cumulative": Decimal("9000000")},
            ],
        },
    )
    time_machine.move_to("2026-05-20T09:00:00+08:00", tick=False)
    wrong = progress_record(project=full, kind="investment", month=dt.date(2026, 2, 1), amount=Decimal("900000"))
    progress_record(
        project=full,
        kind="investment",
        month=dt.date(2026, 2, 1),
        amount=Decimal("800000"),
        corrects=wrong,
        reason="重复计入",
    )
    progress_record(project=full, kind="investment", month=dt.date(2026, 5, 1), amount=Decimal("500000"))
    progress_record(project=full, kind="funds", month=dt.date(2026, 3, 1), amount=Decimal("2000000"))
    progress_record(
        project=full, kind="milestone", month=dt.date(2026, 4, 1), milestone="construction", date=dt.date(2026, 4, 28)
    )
    RuleSuspension.objects.create(
        project=full, rule=WarningRule.objects.get(code="no-progress"), reason="停工待审批", until=dt.date(2026, 6, 30)
    )
    RuleSuspension.objects.create(
        project=full, rule=WarningRule.objects.get(code="milestone-overdue"), reason="已过期", until=dt.date(2026, 5, 1)
    )
    lights_recompute()
    today = dt.date(2026, 5, 20)

    for ids in (None, [bare.pk, full.pk], [full.pk]):
        pg_projects, pg_facts, pg_current = _facts_load_pg(project_ids=ids, today=today)
        orm_projects, orm_facts, orm_current = _facts_load_orm(project_ids=ids, today=today)
        assert sorted(p[:5] for p in pg_projects) == sorted(p[:5] for p in orm_projects)
        for pid, facts in orm_facts.items():
            expected = dataclasses.replace(
                facts,
                planned=facts.planned if any(facts.planned.values()) else {},
                schedule=tuple(facts.schedule),
                investment=tuple(facts.investment),
            )
            assert pg_facts[pid] == expected, pid
        assert {pid: (c, s, orjson.loads(r)) for pid, (c, s, r) in pg_current.items()} == orm_current
    facts = _facts_load_pg(project_ids=[full.pk], today=today)[1][full.pk]
    assert facts.signed_on == dt.date(2026, 1, 10)
    assert facts.schedule == ((dt.date(2026, 3, 1), Decimal("3000000")),)
    assert facts.investment == ((dt.date(2026, 4, 1), Decimal("800000")),)
    assert facts.reached == {"construction": dt.date(2026, 4, 28)}
    assert facts.suspended == frozenset({"no-progress"})
