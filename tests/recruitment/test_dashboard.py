"""The pipeline dashboard's selectors: figures, rates, tenancy, stale work, filters."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chains.models import Chain, Park, Sector, Stage, Zone
from crm.models import Office
from recruitment.dashboard import (
    DashboardFilters,
    PeriodBasis,
    changelist_lookups,
    dashboard_build,
    dashboard_options,
    projects_for_dashboard,
)
from recruitment.models import FollowUp, Project
from tests.factories import (
    ChainFactory,
    EnterpriseFactory,
    FollowUpFactory,
    InteractionFactory,
    OfficeFactory,
    ParkFactory,
    ProjectFactory,
    SectorFactory,
    StageFactory,
    UserFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
YI = Decimal(100_000_000)
WAN = Decimal(10_000)


def make_project(*, office, park, stages, status="lead", owner=None, **money) -> Project:  # type: ignore[no-untyped-def]
    project = ProjectFactory(
        office=office,
        park=park,
        enterprise=EnterpriseFactory(office=office),
        status=status,
        status_changed_at=timezone.now(),
        owner=owner,
        **money,
    )
    project.stages.set(stages)
    return project


@pytest.fixture
def world(provincial_office, park_office):  # type: ignore[no-untyped-def]
    """Two parks, two chains in two sectors, two offices."""
    zone = ZoneFactory(target_output_value=2000 * YI)
    yangqu = ParkFactory(code="yangqu", name="阳曲产业园区", zone=zone)
    xinzhou = ParkFactory(code="xinzhou", name="忻州经济开发区", zone=zone)
    carbon = ChainFactory(code="carbon-fibre", sector=SectorFactory(code="carbon"), zone=zone)
    steel = ChainFactory(code="stainless-steel", sector=SectorFactory(code="metal"), zone=zone)
    c1, c2 = StageFactory(chain=carbon, code="precursor"), StageFactory(chain=carbon, code="fibre")
    s1 = StageFactory(chain=steel, code="cold-rolled")
    return {
        "zone": zone,
        "yangqu": yangqu,
        "xinzhou": xinzhou,
        "carbon": carbon,
        "steel": steel,
        "c1": c1,
        "c2": c2,
        "s1": s1,
        "province": provincial_office,
        "park_office": park_office,
    }


def build(user, filters=None, now=None):  # type: ignore[no-untyped-def]
    return dashboard_build(
        user=user, filters=filters or DashboardFilters(), options=dashboard_options(user=user), now=now
    )


def test_funnel_counts_projects_by_current_status(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    w = world
    for status in ["lead", "lead", "negotiating", "signed", "lost"]:
        make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]], status=status)

    board = build(provincial_user)

    counts = {row.status: row.amounts.count for row in board.funnel}
    assert counts["lead"] == 2
    assert counts["negotiating"] == 1
    assert counts["signed"] == 1
    assert counts["lost"] == 1
    assert counts["production"] == 0
    assert [row.status for row in board.funnel][:3] == ["lead", "screening", "negotiating"]
    assert board.figures.total.count == 5
    assert max(row.share for row in board.funnel) == 100


def test_money_is_summed_by_park(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    w = world
    make_project(
        office=w["province"],
        park=w["yangqu"],
        stages=[w["c1"]],
        status="signed",
        planned_investment=3 * YI,
        signed_amount=2 * YI,
        funds_in_place=5000 * WAN,
    )
    make_project(office=w["province"], park=w["yangqu"], stages=[w["c2"]], planned_investment=YI, signed_amount=None)
    make_project(office=w["province"], park=w["xinzhou"], stages=[w["s1"]], planned_investment=7 * WAN)

    board = build(provincial_user)

    by_park = {row.key: row.figures.total for row in board.by_park}
    assert by_park["yangqu"].count == 2
    assert by_park["yangqu"].planned_investment == 4 * YI
    assert by_park["yangqu"].signed_amount == 2 * YI
    assert by_park["yangqu"].funds_in_place == 5000 * WAN
    assert by_park["xinzhou"].planned_investment == 7 * WAN
    assert [row.key for row in board.by_park] == ["yangqu", "xinzhou"]  # most projects first


def test_rates_follow_their_definitions(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    w = world
    statuses = ["lead", "screening", "negotiating", "suspended", "lost", "signed", "registered"]
    statuses += ["construction", "production", "at_capacity"]
    for status in statuses:
        signed = status in {"signed", "registered", "construction", "production", "at_capacity"}
        make_project(
            office=w["province"],
            park=w["yangqu"],
            stages=[w["c1"]],
            status=status,
            signed_amount=YI if signed else None,
            funds_in_place=YI / 4 if signed else None,
        )
    # A lost project with a signed amount does not count towards the funds-in-place rate.
    make_project(
        office=w["province"], park=w["yangqu"], stages=[w["c1"]], status="lost", signed_amount=YI, funds_in_place=YI
    )

    rates = {row.key: row.rate for row in build(provincial_user).rates}

    assert (rates["signing"].numerator, rates["signing"].denominator) == (5, 11)
    assert (rates["construction"].numerator, rates["construction"].denominator) == (3, 5)
    assert (rates["production"].numerator, rates["production"].denominator) == (2, 5)
    assert rates["funds"].numerator == Decimal("1.25") * YI
    assert rates["funds"].denominator == 5 * YI
    assert rates["funds"].percent == "25.0%"
    assert rates["construction"].percent == "60.0%"
    assert rates["signing"].percent == "45.5%"


def test_rates_without_a_denominator_show_a_dash(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    make_project(office=world["province"], park=world["yangqu"], stages=[world["c1"]], status="lead")

    rates = {row.key: row.rate for row in build(provincial_user).rates}

    assert rates["construction"].value is None
    assert rates["construction"].percent == "—"
    assert rates["funds"].percent == "—"


def test_a_project_with_two_stages_in_one_chain_counts_once_for_that_chain(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    w = world
    make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"], w["c2"]], planned_investment=YI)
    make_project(office=w["province"], park=w["yangqu"], stages=[w["c2"], w["s1"]], planned_investment=2 * YI)

    board = build(provincial_user)

    by_chain = {row.key: row.figures.total for row in board.by_chain}
    assert by_chain["carbon-fibre"].count == 2
    assert by_chain["carbon-fibre"].planned_investment == 3 * YI
    assert by_chain["stainless-steel"].count == 1
    assert by_chain["stainless-steel"].planned_investment == 2 * YI
    by_sector = {row.key: row.figures.total for row in board.by_sector}
    assert by_sector["carbon"].planned_investment == 3 * YI
    assert by_sector["metal"].planned_investment == 2 * YI


def test_chain_filter_keeps_projects_with_a_stage_in_the_chain_once(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    w = world
    make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"], w["c2"]], planned_investment=YI)
    make_project(office=w["province"], park=w["yangqu"], stages=[w["s1"]], planned_investment=9 * YI)

    board = build(provincial_user, DashboardFilters(chain=w["carbon"]))

    assert board.figures.total.count == 1
    assert board.figures.total.planned_investment == YI


def test_sector_and_park_filters_narrow_the_figures(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    w = world
    make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]])
    make_project(office=w["province"], park=w["xinzhou"], stages=[w["c1"]])
    make_project(office=w["province"], park=w["xinzhou"], stages=[w["s1"]])

    assert build(provincial_user, DashboardFilters(sector=w["carbon"].sector)).figures.total.count == 2
    assert build(provincial_user, DashboardFilters(park=w["xinzhou"])).figures.total.count == 2
    both = DashboardFilters(park=w["xinzhou"], sector=w["carbon"].sector)
    assert build(provincial_user, both).figures.total.count == 1


def test_park_user_counts_only_their_office_projects(world, park_user, provincial_user) -> None:  # type: ignore[no-untyped-def]
    w = world
    make_project(office=w["park_office"], park=w["yangqu"], stages=[w["c1"]], planned_investment=YI)
    make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]], planned_investment=5 * YI)
    other = OfficeFactory(code="other-park", kind=Office.Kind.PARK)
    make_project(office=other, park=w["yangqu"], stages=[w["c1"]], planned_investment=7 * YI)

    mine = build(park_user)
    everything = build(provincial_user)

    assert mine.figures.total.count == 1
    assert mine.figures.total.planned_investment == YI
    assert everything.figures.total.count == 3
    assert dashboard_options(user=park_user).offices == []
    assert len(dashboard_options(user=provincial_user).offices) >= 3


def test_office_filter_narrows_a_provincial_view(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    w = world
    make_project(office=w["park_office"], park=w["yangqu"], stages=[w["c1"]])
    make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]])

    board = build(provincial_user, DashboardFilters(office=w["park_office"]))

    assert board.figures.total.count == 1


def test_user_without_office_sees_nothing(world) -> None:  # type: ignore[no-untyped-def]
    make_project(office=world["province"], park=world["yangqu"], stages=[world["c1"]])
    nobody = UserFactory(office=None, is_staff=True)

    assert build(nobody).figures.total.count == 0


def test_period_selects_by_status_change_or_by_creation(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    w = world
    march = datetime(2025, 3, 10, 12, tzinfo=SHANGHAI)
    may = datetime(2025, 5, 31, 23, 30, tzinfo=SHANGHAI)  # last evening of May, Shanghai time
    created_march_moved_may = make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]])
    created_may = make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]])
    Project.objects.filter(pk=created_march_moved_may.pk).update(created_at=march, status_changed_at=may)
    Project.objects.filter(pk=created_may.pk).update(created_at=may, status_changed_at=may)

    may_changes = DashboardFilters(start=date(2025, 5, 1), end=date(2025, 5, 31))
    march_created = DashboardFilters(start=date(2025, 3, 1), end=date(2025, 3, 31), period_basis=PeriodBasis.CREATED)
    june = DashboardFilters(start=date(2025, 6, 1))

    assert build(provincial_user, may_changes).figures.total.count == 2
    assert build(provincial_user, march_created).figures.total.count == 1
    assert build(provincial_user, june).figures.total.count == 0


def test_output_value_progress_against_the_zone_target(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    w = world
    make_project(
        office=w["province"], park=w["yangqu"], stages=[w["c1"]], status="production", expected_output_value=300 * YI
    )
    make_project(
        office=w["province"], park=w["xinzhou"], stages=[w["s1"]], status="signed", expected_output_value=200 * YI
    )
    make_project(
        office=w["province"], park=w["xinzhou"], stages=[w["s1"]], status="negotiating", expected_output_value=50 * YI
    )
    make_project(office=w["province"], park=w["xinzhou"], stages=[w["s1"]], status="lost", expected_output_value=YI)

    [target] = build(provincial_user).targets

    assert target.target == 2000 * YI
    assert target.achieved == 500 * YI
    assert target.pipeline == 50 * YI
    assert target.rate.percent == "25.0%"


def test_chain_with_a_target_gets_its_own_progress_row(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    w = world
    w["carbon"].target_output_value = 100 * YI
    w["carbon"].save()
    make_project(
        office=w["province"], park=w["yangqu"], stages=[w["c1"]], status="signed", expected_output_value=10 * YI
    )

    targets = build(provincial_user, DashboardFilters(chain=w["carbon"])).targets

    assert [t.target for t in targets] == [2000 * YI, 100 * YI]
    assert targets[1].rate.percent == "10.0%"


def test_stale_projects_have_had_no_interaction_for_the_period(world, provincial_user, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RECRUITMENT_STALE_AFTER_DAYS = 30
    w = world
    with time_machine.travel(datetime(2025, 1, 1, 9, tzinfo=SHANGHAI), tick=False):
        silent = make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]], owner=provincial_user)
        talked_to = make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]])
        at_capacity = make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]], status="at_capacity")
        old_contact = make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]])
    with time_machine.travel(datetime(2025, 2, 20, 9, tzinfo=SHANGHAI), tick=False):
        young = make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]])
    now = datetime(2025, 3, 1, 9, tzinfo=SHANGHAI)
    InteractionFactory(
        office=w["province"], enterprise=talked_to.enterprise, project=talked_to, occurred_at=now - timedelta(days=3)
    )
    InteractionFactory(
        office=w["province"],
        enterprise=old_contact.enterprise,
        project=old_contact,
        occurred_at=now - timedelta(days=45),
    )

    board = build(provincial_user, now=now)

    stale_ids = {p.pk for p in board.stale.rows}
    assert stale_ids == {silent.pk, old_contact.pk}
    assert board.stale.total == 2
    assert talked_to.pk not in stale_ids and young.pk not in stale_ids and at_capacity.pk not in stale_ids
    # Never contacted comes first, then the longest without contact.
    assert board.stale.rows[0].pk == silent.pk
    assert board.stale.rows[1].last_interaction_at == now - timedelta(days=45)
    workload = {row.owner_id: row for row in board.workload}
    assert workload[provincial_user.pk].stale_projects == 1


def test_a_periods_stale_counts_follow_the_stale_rule_in_the_statement_of_its_figures(  # type: ignore[no-untyped-def]
    world, provincial_user, settings
) -> None:
    settings.RECRUITMENT_STALE_AFTER_DAYS = 30
    w = world
    bob = UserFactory(office=w["province"], username="bob")
    projects = []
    with time_machine.travel(datetime(2025, 1, 1, 9, tzinfo=SHANGHAI), tick=False):
        for owner in (provincial_user, provincial_user, bob, bob, None):
            projects.append(make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]], owner=owner))
        make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]], owner=bob, status="at_capacity")
    with time_machine.travel(datetime(2025, 2, 20, 9, tzinfo=SHANGHAI), tick=False):
        young = make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]], owner=bob)
    with time_machine.travel(datetime(2024, 12, 1, 9, tzinfo=SHANGHAI), tick=False):
        # Outside the period (its status changed before it): stale, but not counted here.
        make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]], owner=bob)
    now = datetime(2025, 3, 1, 9, tzinfo=SHANGHAI)
    InteractionFactory(
        office=w["province"],
        enterprise=projects[1].enterprise,
        project=projects[1],
        occurred_at=now - timedelta(days=3),
    )
    InteractionFactory(
        office=w["province"],
        enterprise=projects[2].enterprise,
        project=projects[2],
        occurred_at=now - timedelta(days=45),
    )
    period = DashboardFilters(start=date(2025, 1, 1), end=date(2025, 2, 28))

    with CaptureQueriesContext(connection) as queries:
        board = build(provincial_user, period, now=now)

    workload = {row.owner_id: row.stale_projects for row in board.workload}
    assert workload == {provincial_user.pk: 1, bob.pk: 2, None: 1}
    assert board.stale.total == 4
    assert {p.pk for p in board.stale.rows} == {projects[0].pk, projects[2].pk, projects[3].pk, projects[4].pk}
    assert young.pk not in {p.pk for p in board.stale.rows}
    # Counted with the period's figures, not by a second pass over its projects.
    assert not any('"last_touched_at" >' in q["sql"] for q in queries.captured_queries)


def test_overdue_follow_ups_and_workload_by_owner(world, provincial_user, park_user) -> None:  # type: ignore[no-untyped-def]
    w = world
    now = timezone.now()
    alice = UserFactory(office=w["province"], username="alice")
    project = make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]], owner=alice, planned_investment=YI)
    make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]], owner=alice, status="lost")
    FollowUpFactory(office=w["province"], project=project, assignee=alice, due_at=now - timedelta(days=2))
    FollowUpFactory(office=w["province"], project=project, assignee=alice, due_at=now + timedelta(days=2))
    FollowUpFactory(
        office=w["province"], project=project, assignee=alice, due_at=now - timedelta(days=9), status="done"
    )
    other = make_project(office=w["park_office"], park=w["yangqu"], stages=[w["c1"]], owner=park_user)
    FollowUpFactory(office=w["park_office"], project=other, assignee=park_user, due_at=now - timedelta(hours=1))

    board = build(provincial_user, now=now)

    assert board.overdue.total == 2
    assert [f.assignee for f in board.overdue.rows] == [alice, park_user]  # most overdue first
    rows = {row.owner_id: row for row in board.workload}
    assert rows[alice.pk].name == "alice"
    assert rows[alice.pk].open_projects == 1  # the lost one is closed
    assert rows[alice.pk].open_planned_investment == YI
    assert rows[alice.pk].open_follow_ups == 2
    assert rows[alice.pk].overdue_follow_ups == 1
    assert board.workload[0].owner_id == alice.pk  # ties on overdue broken by open projects

    park_board = build(park_user, now=now)
    assert park_board.overdue.total == 1
    assert [row.owner_id for row in park_board.workload] == [park_user.pk]


def test_projects_without_owner_are_grouped_together(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    make_project(office=world["province"], park=world["yangqu"], stages=[world["c1"]])
    make_project(office=world["province"], park=world["yangqu"], stages=[world["c1"]])

    [row] = build(provincial_user).workload

    assert row.owner_id is None
    assert row.open_projects == 2


def test_changelist_lookups_use_the_admin_list_filter_parameter_names(world) -> None:  # type: ignore[no-untyped-def]
    w = world
    filters = DashboardFilters(
        park=w["yangqu"],
        chain=w["carbon"],
        sector=w["carbon"].sector,
        office=w["province"],
        start=date(2025, 5, 1),
        end=date(2025, 5, 31),
    )

    lookups = changelist_lookups(filters)

    assert lookups["park__id__exact"] == w["yangqu"].pk
    assert lookups["stages__chain__id__exact"] == w["carbon"].pk
    assert lookups["stages__chain__sector__id__exact"] == w["carbon"].sector.pk
    assert lookups["office__id__exact"] == w["province"].pk
    assert lookups["status_changed_at__gte"] == datetime(2025, 5, 1, tzinfo=SHANGHAI)
    assert lookups["status_changed_at__lt"] == datetime(2025, 6, 1, tzinfo=SHANGHAI)


def test_selector_and_admin_style_lookups_select_the_same_projects(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    """The dashboard's figures and the change list behind them must agree."""
    w = world
    make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"], w["c2"]])
    make_project(office=w["province"], park=w["yangqu"], stages=[w["s1"]])
    make_project(office=w["park_office"], park=w["xinzhou"], stages=[w["c2"]])
    filters = DashboardFilters(chain=w["carbon"], sector=w["carbon"].sector)

    ours = set(projects_for_dashboard(user=provincial_user, filters=filters).values_list("pk", flat=True))
    admin_style = set(Project.objects.filter(**changelist_lookups(filters)).distinct().values_list("pk", flat=True))

    assert ours == admin_style
    assert len(ours) == 2


def test_follow_ups_of_other_offices_are_not_counted_for_a_park_user(world, park_user) -> None:  # type: ignore[no-untyped-def]
    w = world
    theirs = make_project(office=w["province"], park=w["yangqu"], stages=[w["c1"]])
    FollowUpFactory(office=w["province"], project=theirs, due_at=timezone.now() - timedelta(days=1))

    board = build(park_user)

    assert board.overdue.total == 0
    assert FollowUp.objects.count() == 1


def test_reference_rows_read_in_one_statement_equal_the_models_read_one_by_one(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL and on SQLite, each with a statement of its own."""
    Zone.objects.filter(pk=world["zone"].pk).update(target_output_value=Decimal("1234.50"))
    provincial_user.office  # noqa: B018 - the office read before counting
    with CaptureQueriesContext(connection) as queries:
        options = dashboard_options(user=provincial_user)
    assert len(queries.captured_queries) == 1

    def rows(objects):  # type: ignore[no-untyped-def]
        return [tuple(getattr(o, f.attname) for f in type(o)._meta.concrete_fields) for o in objects]

    assert rows(options.zones) == rows(Zone.objects.order_by("code"))
    assert rows(options.parks) == rows(Park.objects.order_by("code"))
    assert rows(options.chains) == rows(Chain.objects.order_by("sector__code", "code"))
    assert [c.sector for c in options.chains] == [c.sector for c in Chain.objects.order_by("sector__code", "code")]
    assert rows(options.sectors) == rows(Sector.objects.order_by("code"))
    assert rows(options.offices) == rows(Office.objects.order_by("code"))
    if connection.vendor == "postgresql":
        assert options.stages == {s.pk: (s.chain_id, s.chain.sector_id) for s in Stage.objects.select_related("chain")}
    assert any(z.target_output_value == Decimal("1234.50") for z in options.zones)


def test_a_chain_without_stages_shows_an_empty_dashboard(world, provincial_user) -> None:  # type: ignore[no-untyped-def]
    make_project(office=world["province"], park=world["yangqu"], stages=[world["c1"]])
    bare = ChainFactory(code="no-stages", sector=world["carbon"].sector)
    board = build(provincial_user, DashboardFilters(chain=bare))
    assert board.figures.total.count == 0
    assert board.stale.rows == [] and board.overdue.rows == [] and board.by_chain == []
    assert build(provincial_user).figures.total.count == 1
