"""The pipeline tally and each project's last touch stay equal to a fresh count after every kind of write.

The tally (``recruitment/tally.py``) is kept by database triggers (PostgreSQL's, and SQLite's
in ``recruitment/tally_sqlite.py``: this module runs on both), so every path is exercised
here: the services, bulk upsert, merge, lights recompute, direct ORM and queryset writes,
raw SQL, reference-data moves, rollbacks, concurrent transactions (PostgreSQL); after each,
:func:`recount_differences` (the tally against the tables) must be empty. The dashboard read
from the tally must equal the dashboard counted from the projects.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chains.models import Stage
from crm.models import Interaction
from recruitment import tally, tally_sqlite
from recruitment.bulk import projects_upsert
from recruitment.dashboard import DashboardFilters, PeriodBasis, dashboard_build, dashboard_options
from recruitment.merge import enterprise_merge
from recruitment.models import FollowUp, PipelineTally, Project, ProjectLight
from recruitment.services import (
    followup_cancel,
    followup_complete,
    followup_create,
    followup_delete,
    followup_update,
    project_create,
    project_delete,
    project_transition,
    project_update,
)
from tests.factories import (
    ChainFactory,
    EnterpriseFactory,
    FollowUpFactory,
    InteractionFactory,
    ParkFactory,
    ProjectFactory,
    SectorFactory,
    StageFactory,
    UserFactory,
    ZoneFactory,
)


def _db(pk):  # type: ignore[no-untyped-def]
    """A project's key as raw SQL takes it on this database (SQLite stores uuids as hex)."""
    return Project._meta.pk.get_db_prep_value(pk, connection)


def assert_true() -> None:
    assert tally.recount_differences() == []
    assert tally.untouched_count() == 0


@pytest.fixture
def world(provincial_office, park_office):  # type: ignore[no-untyped-def]
    zone = ZoneFactory()
    parks = [ParkFactory(zone=zone), ParkFactory(zone=zone)]
    metal, carbon = SectorFactory(), SectorFactory()
    chains = [ChainFactory(sector=metal, zone=zone), ChainFactory(sector=metal, zone=zone), ChainFactory(sector=carbon)]
    stages = [StageFactory(chain=chain) for chain in chains for _ in range(2)]  # two stages per chain
    owners = [UserFactory(office=park_office), UserFactory(office=provincial_office)]
    return {
        "province": provincial_office,
        "office": park_office,
        "parks": parks,
        "chains": chains,
        "stages": stages,
        "owners": owners,
    }


def _project(world, **kwargs):  # type: ignore[no-untyped-def]
    kwargs.setdefault("office", world["office"])
    kwargs.setdefault("park", world["parks"][0])
    kwargs.setdefault("planned_investment", Decimal("1000.50"))
    stages = kwargs.pop("stages", world["stages"][:1])
    project = ProjectFactory(**kwargs)
    project.stages.set(stages)
    return project


@pytest.mark.django_db
def test_every_kind_of_write_keeps_the_tally_and_last_touch_true(world) -> None:  # type: ignore[no-untyped-def]
    s = world["stages"]
    actor = UserFactory(office=world["province"], is_superuser=True)
    # Services: create (two stages of one chain, one of another), move, update, delete.
    created = project_create(
        office=world["office"],
        actor=actor,
        stages=[s[0], s[1], s[2]],
        title="新建项目",
        enterprise=EnterpriseFactory(office=world["office"]),
        park=world["parks"][0],
        planned_investment=Decimal("300.00"),
    )
    assert_true()
    assert PipelineTally.objects.filter(scope="", kind="c", n__gt=0).count() == 2  # two chains, not three stages
    # Under each of its two chains and its one sector too: the project, its chains, its sector.
    undated = PipelineTally.objects.filter(n__gt=0, day__isnull=True)
    assert undated.filter(scope="c").count() == 2 * 4
    assert undated.filter(scope="s").count() == 1 * 4
    project_transition(project=created, to="screening", actor=actor)
    project_transition(project=created, to="negotiating", actor=actor)
    assert_true()
    created.refresh_from_db()
    project_update(
        project=created,
        actor=actor,
        stages=[s[4]],
        park=world["parks"][1],
        owner=world["owners"][0],
        signed_amount=Decimal("12.34"),
    )
    assert_true()
    # Stage links directly: add, remove, clear, set (two stages of one chain in one INSERT).
    other = _project(world, status="signed", owner=world["owners"][1])
    other.stages.add(s[1], s[3])
    assert_true()
    other.stages.remove(s[0])
    assert_true()
    other.stages.clear()
    assert_true()
    other.stages.set([s[2], s[3], s[5]])
    assert_true()
    # Queryset and raw SQL writes bypass every service.
    Project.objects.filter(pk=other.pk).update(status="construction", funds_in_place=Decimal("7.00"), owner=None)
    assert_true()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE recruitment_project SET office_id = %s WHERE id = %s", [world["province"].pk, _db(other.pk)]
        )
        cursor.execute(
            "DELETE FROM recruitment_project_stages WHERE project_id = %s AND stage_id = %s", [_db(other.pk), s[2].pk]
        )
    assert_true()
    # Lights: insert, change colour, the recompute's upsert, delete.
    light = ProjectLight.objects.create(
        project=other, color="green", since=timezone.localdate(), reasons=[], computed_at=timezone.now()
    )
    assert_true()
    light.color = "red"
    light.save()
    assert_true()
    ProjectLight.objects.bulk_create(
        [
            ProjectLight(
                project=other, color="yellow", since=timezone.localdate(), reasons=[], computed_at=timezone.now()
            )
        ],
        update_conflicts=True,
        unique_fields=["project"],
        update_fields=["color", "computed_at"],
    )
    assert_true()
    # Interactions move the last touch: logged, moved in time, moved to another project, deleted.
    old = timezone.now() - timedelta(days=400)
    Project.objects.filter(pk=other.pk).update(created_at=old)
    interaction = InteractionFactory(project=other, enterprise=other.enterprise, occurred_at=old)
    assert_true()
    interaction.occurred_at = timezone.now()
    interaction.save()
    assert_true()
    other.refresh_from_db()
    assert other.last_touched_at == interaction.occurred_at
    stale_copy = Project.objects.get(pk=other.pk)
    Interaction.objects.filter(pk=interaction.pk).update(project=created)
    stale_copy.title = "保存一个过时的副本"
    stale_copy.save()  # writes its old last touch: the database keeps the true one
    assert_true()
    interaction.delete()
    assert_true()
    # Reference data: a stage moves to another chain, a chain to another sector.
    Stage.objects.filter(pk=s[3].pk).update(chain=world["chains"][2])
    assert_true()
    chain = world["chains"][0]
    chain.sector = world["chains"][2].sector
    chain.save()
    assert_true()
    # Merge moves projects to the surviving enterprise; deletes take the light and links along.
    enterprise_merge(
        survivor=EnterpriseFactory(office=world["office"], credit_code=None), duplicate=other.enterprise, actor=actor
    )
    assert_true()
    project_delete(project=created, actor=actor)
    other.delete()
    assert_true()


@pytest.mark.django_db
def test_bulk_upsert_keeps_the_tally_true(world) -> None:  # type: ignore[no-untyped-def]
    s = world["stages"]
    actor = UserFactory(office=world["office"], is_superuser=True)
    enterprise = EnterpriseFactory(office=world["office"])
    items = [
        {
            "external_id": f"B-{i}",
            "title": f"批量{i}",
            "enterprise": enterprise,
            "park": world["parks"][i % 2],
            "stages": [s[0], s[1]] if i % 2 else [s[2]],
            "planned_investment": Decimal(f"{100 + i}.00"),
            **({"status": "signed"} if i % 3 == 0 else {}),
        }
        for i in range(6)
    ]
    projects_upsert(office=world["office"], actor=actor, items=items)
    assert_true()
    for item in items:
        item["stages"] = [s[4], s[5]]
        item["planned_investment"] = Decimal("1.00")
    projects_upsert(office=world["office"], actor=actor, items=items)
    assert_true()


@pytest.mark.postgres  # SQLite's triggers count every write
@pytest.mark.django_db
def test_a_deferred_count_skips_the_triggers_and_counts_the_projects_once_at_the_end(world) -> None:  # type: ignore[no-untyped-def]
    updated = _project(world, status="negotiating")
    tallied = PipelineTally.objects.count()
    with connection.cursor() as cursor:
        cursor.execute("SHOW work_mem")
        (work_mem,) = cursor.fetchone()
    with transaction.atomic(), tally.deferred(updating=[updated.pk]) as created:
        # Counted out before the first write: the rows the project added are cancelled by appended ones.
        counted_out = PipelineTally.objects.count() - tallied
        assert counted_out > 0
        Project.objects.filter(pk=updated.pk).update(status="signed", planned_investment=Decimal("7.00"))
        new = _project(world, status="screening", stages=world["stages"][2:5])
        created.append(new.pk)
        # Inside the block this transaction's writes append nothing.
        assert PipelineTally.objects.count() - tallied == counted_out
    assert PipelineTally.objects.count() > tallied + counted_out
    assert_true()
    with connection.cursor() as cursor:
        cursor.execute("SHOW work_mem")
        assert cursor.fetchone() == (work_mem,)  # the count's sort memory given back


@pytest.mark.django_db
def test_a_rolled_back_write_leaves_the_tally_as_it_was(world) -> None:  # type: ignore[no-untyped-def]
    project = _project(world)
    before = list(PipelineTally.objects.order_by("pk").values_list("pk", "n"))
    with transaction.atomic():
        project.stages.add(world["stages"][3])
        Project.objects.filter(pk=project.pk).update(status="lost")
        transaction.set_rollback(True)
    assert list(PipelineTally.objects.order_by("pk").values_list("pk", "n")) == before
    assert_true()


@pytest.mark.django_db
def test_compaction_folds_the_rows_and_keeps_the_totals(world) -> None:  # type: ignore[no-untyped-def]
    projects = [_project(world, stages=world["stages"][:3]) for _ in range(5)]
    for project in projects:
        Project.objects.filter(pk=project.pk).update(status="screening")
        Project.objects.filter(pk=project.pk).update(status="negotiating")
    rows = PipelineTally.objects.count()
    tally.compact()
    assert_true()
    # One "negotiating" row per kind and key: the project, its two chains, their one sector,
    # under each of the four scopes (all projects, each chain, the sector); and its three
    # stages under the first; and under each scope, the open projects touched today ("a").
    assert PipelineTally.objects.count() == 4 * 4 + 3 + 4 < rows
    tally.rebuild()
    assert_true()
    assert PipelineTally.objects.count() == 4 * 4 + 3 + 4


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["provincial", "park"])
@pytest.mark.parametrize(
    "narrow", ["none", "office", "park", "chain", "sector", "chain in sector", "park and chain", "office and sector"]
)
def test_the_dashboard_from_the_tally_equals_the_dashboard_counted_from_projects(world, who, narrow) -> None:  # type: ignore[no-untyped-def]
    s, (o1, o2), (p1, p2) = world["stages"], world["owners"], world["parks"]
    old = timezone.now() - timedelta(days=90)
    for i, (status, stages) in enumerate(
        [("lead", [s[0], s[1]]), ("signed", [s[0], s[2]]), ("production", [s[4]]), ("lost", [s[1]]), ("signed", [])]
    ):
        for office in (world["office"], world["province"]):
            project = _project(
                world,
                office=office,
                park=(p1, p2)[i % 2],
                status=status,
                owner=(o1, o2, None)[i % 3],
                stages=stages,
                signed_amount=Decimal(i * 3),
                expected_output_value=Decimal("0.01") * i,
            )
            if status == "signed":
                ProjectLight.objects.create(
                    project=project, color=("red", "green")[i % 2], since=old.date(), reasons=[], computed_at=old
                )
            if i != 2:  # the others are older than the period: stale unless touched since
                Project.objects.filter(pk=project.pk).update(created_at=old)
            if i == 1:
                InteractionFactory(project=project, enterprise=project.enterprise, occurred_at=timezone.now())
            FollowUpFactory(project=project, office=office, assignee=(o1, o2)[i % 2], due_at=old)
    user = UserFactory(office=world["province"] if who == "provincial" else world["office"], is_staff=True)
    chain, other_chain = world["chains"][0], world["chains"][2]
    filters = {
        "none": DashboardFilters(),
        "office": DashboardFilters(office=world["office"]),
        "park": DashboardFilters(park=p2),
        "chain": DashboardFilters(chain=chain),
        "sector": DashboardFilters(sector=chain.sector),
        "chain in sector": DashboardFilters(chain=chain, sector=chain.sector),
        "park and chain": DashboardFilters(park=p1, chain=other_chain),
        "office and sector": DashboardFilters(office=world["office"], sector=chain.sector),
    }[narrow]
    options = dashboard_options(user=user)
    now = timezone.now()
    with CaptureQueriesContext(connection) as from_tally:
        board = dashboard_build(user=user, filters=filters, options=options, now=now)
    counted = dashboard_build(user=user, filters=filters, options=options, now=now, use_tally=False)
    assert any("recruitment_pipelinetally" in q["sql"] for q in from_tally.captured_queries)
    assert board == counted
    assert board.figures.total.count > 0
    if narrow == "none":
        assert board.stale.total > 0 and board.lights.totals.counts


@pytest.mark.django_db
def test_a_period_or_a_chain_outside_the_sector_counts_from_the_projects(world) -> None:  # type: ignore[no-untyped-def]
    s = world["stages"]
    for status, stages in [("signed", [s[0], s[4]]), ("lead", [s[4]])]:
        _project(world, status=status, stages=stages)
    user = UserFactory(office=world["province"], is_staff=True)
    options = dashboard_options(user=user)
    chain, carbon = world["chains"][0], world["chains"][2].sector
    today = timezone.localdate()
    for filters in (
        DashboardFilters(chain=chain, sector=carbon),
        DashboardFilters(start=today, end=today, period_basis=PeriodBasis.CREATED),
    ):
        with CaptureQueriesContext(connection) as queries:
            board = dashboard_build(user=user, filters=filters, options=options)
        assert not any("recruitment_pipelinetally" in q["sql"] for q in queries.captured_queries)
        assert board.figures.total.count == (1 if filters.chain else 2)


def _in_thread(work, barrier: threading.Barrier, errors: list[BaseException]) -> threading.Thread:  # type: ignore[no-untyped-def]
    def run() -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                work()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    return threading.Thread(target=run)


@pytest.mark.postgres  # concurrent writers: SQLite has one at a time
@pytest.mark.django_db(transaction=True)
def test_concurrent_writes_to_the_same_projects_keep_the_tally_true(world) -> None:  # type: ignore[no-untyped-def]
    s = world["stages"]
    # Every writer goes through the projects in one order (pk), as the services lock them:
    # writers that lock rows in different orders can deadlock with or without the tally.
    ids = sorted(_project(world, stages=[]).pk for _ in range(3))

    def link(stage: Stage):  # type: ignore[no-untyped-def]
        # Two stages of one chain linked to the same projects at the same time: the chain counts once.
        return lambda: [Project.objects.get(pk=pk).stages.add(stage) for pk in ids]

    def move(status: str):  # type: ignore[no-untyped-def]
        def work() -> None:
            list(Project.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))
            Project.objects.filter(pk__in=ids).update(status=status, planned_investment=Decimal("9.99"))

        return work

    def light(color: str):  # type: ignore[no-untyped-def]
        return lambda: [
            ProjectLight.objects.update_or_create(
                project_id=pk,
                defaults={"color": color, "since": timezone.localdate(), "reasons": [], "computed_at": timezone.now()},
            )
            for pk in ids
        ]

    def touch():  # type: ignore[no-untyped-def]
        return lambda: [
            InteractionFactory(project_id=pk, enterprise_id=Project.objects.get(pk=pk).enterprise_id) for pk in ids
        ]

    def follow_up(days: int):  # type: ignore[no-untyped-def]
        # A follow-up added to each project, and those of another round done.
        def work() -> None:
            for pk in ids:
                project = Project.objects.get(pk=pk)
                FollowUp.objects.create(project=project, office_id=project.office_id, due_at=timezone.now())
                FollowUp.objects.filter(project_id=pk, due_at__lt=timezone.now() - timedelta(days=days)).update(
                    status="done"
                )

        return work

    def park(index: int):  # type: ignore[no-untyped-def]
        # The projects (and their follow-ups) moved to another park.
        return lambda: [Project.objects.filter(pk=pk).update(park=world["parks"][index]) for pk in ids]

    for round_ in range(3):
        works = [link(s[0]), link(s[1]), move("screening" if round_ % 2 else "signed"), light("red"), light("green")]
        works += [touch(), link(s[2 + round_]), follow_up(round_), park(round_ % 2)]
        barrier = threading.Barrier(len(works))
        errors: list[BaseException] = []
        threads = [_in_thread(work, barrier, errors) for work in works]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert_true()
    barrier, errors = threading.Barrier(3), []
    threads = [_in_thread(tally.compact, barrier, errors) for _ in range(2)] + [
        _in_thread(move("lost"), barrier, errors)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_true()


# --- Dated rows: stale projects and follow-ups ------------------------------------------


def _dated_world(world, now):  # type: ignore[no-untyped-def]
    """Open and closed projects of two offices, parks, owners and chains, last touched around the
    stale cutoff of ``now`` and of the days after it, with open, done and unassigned follow-ups
    due in the past, today and the days ahead."""
    s, (o1, o2), (p1, p2) = world["stages"], world["owners"], world["parks"]
    stale_days = 30
    projects = []
    # Last touches around the cutoff (a minute and an hour either side), days before and after it.
    for i, hours in enumerate([-24 * 400, -24 * 45, -24 * 31, -25, -1, -1 / 60, 1 / 60, 1, 23, 24 * 2, 24 * 20]):
        office = (world["office"], world["province"])[i % 2]
        project = _project(
            world,
            office=office,
            park=(p1, p2)[i % 2],
            owner=(o1, o2, None)[i % 3],
            status=("lead", "signed", "negotiating", "lost")[i % 4],
            stages=[[s[0]], [s[2], s[4]], [], [s[1], s[3]]][i % 4],
        )
        touched = now - timedelta(days=stale_days) + timedelta(hours=hours)
        Project.objects.filter(pk=project.pk).update(created_at=touched - timedelta(days=1))
        InteractionFactory(project=project, enterprise=project.enterprise, occurred_at=touched)
        # Follow-ups: long overdue, due an hour or a minute ago or ahead, tomorrow, next month.
        for j, due in enumerate([-24 * 20, -1, -1 / 60, 1 / 60, 1, 24, 24 * 30]):
            FollowUpFactory(
                project=project,
                office=office if j % 3 else world["province"],
                assignee=(o1, o2, None)[(i + j) % 3],
                due_at=now + timedelta(hours=due),
                status="open" if (i + j) % 5 else "done",
            )
        projects.append(project)
    return projects


def _same_dashboards(world, now, **filters):  # type: ignore[no-untyped-def]
    """The dashboard from the tally equals the one counted from the projects at ``now``, for a
    provincial and a park user; the provincial user's, unfiltered."""
    board = None
    for office in (world["province"], world["office"]):
        user = UserFactory(office=office, is_staff=True)
        options = dashboard_options(user=user)
        for narrow in (
            DashboardFilters(),
            DashboardFilters(park=world["parks"][1]),
            DashboardFilters(office=world["office"]),
            DashboardFilters(chain=world["chains"][0]),
            DashboardFilters(sector=world["chains"][0].sector),
        ):
            with CaptureQueriesContext(connection) as from_tally:
                read = dashboard_build(user=user, filters=narrow, options=options, now=now)
            counted = dashboard_build(user=user, filters=narrow, options=options, now=now, use_tally=False)
            assert any("recruitment_pipelinetally" in q["sql"] for q in from_tally.captured_queries)
            assert (read.stale.total, read.overdue.total) == (counted.stale.total, counted.overdue.total)
            assert read.workload == counted.workload
            assert read == counted
            if board is None:
                board = read
    return board


@pytest.mark.django_db
def test_stale_and_follow_up_counts_from_the_tally_as_time_moves_on_without_a_write(world, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RECRUITMENT_STALE_AFTER_DAYS = 30
    now = timezone.now()
    _dated_world(world, now)
    tally.compact()  # days long past folded: the sums before a later time stay the same
    assert PipelineTally.objects.filter(day=tally.FOLDED).exists()
    assert_true()
    seen = []
    # The cutoff passing each last touch, and "now" passing each due time, with no write.
    for hours in [0, 0.5, 2, 23.5, 24.5, 24 * 3, 24 * 21, 24 * 31]:
        board = _same_dashboards(world, now + timedelta(hours=hours))
        seen.append((board.stale.total, board.overdue.total))
    # More stale and overdue as time goes by: at 2 hours, the touch and the due time an hour ahead.
    assert seen == sorted(seen) and seen[2][0] > seen[0][0] > 0 and seen[2][1] > seen[0][1] > 0


@pytest.mark.django_db
def test_every_write_to_follow_ups_and_last_touches_keeps_the_dated_rows_true(world) -> None:  # type: ignore[no-untyped-def]
    now = timezone.now()
    projects = _dated_world(world, now)
    actor = UserFactory(office=world["province"], is_superuser=True)
    s, (o1, o2) = world["stages"], world["owners"]
    one, two = projects[1], projects[2]
    # Services: create, reassign and move, complete, cancel, delete.
    follow_up = followup_create(office=one.office, actor=actor, project=one, due_at=now - timedelta(days=3))
    assert_true()
    followup_update(follow_up=follow_up, actor=actor, assignee=o2, due_at=now + timedelta(days=3))
    assert_true()
    followup_complete(follow_up=follow_up, actor=actor)
    assert_true()
    other = followup_create(office=one.office, actor=actor, project=one, due_at=now, assignee=o1)
    followup_cancel(follow_up=other, actor=actor)
    followup_delete(follow_up=followup_create(office=one.office, actor=actor, project=one, due_at=now), actor=actor)
    assert_true()
    # Queryset updates: reopened, moved in time, to another assignee, office and project.
    FollowUp.objects.filter(project=one).update(status="open", assignee=None)
    assert_true()
    FollowUp.objects.filter(project=one).update(due_at=now - timedelta(days=90), office=world["province"])
    assert_true()
    FollowUp.objects.filter(project=one).update(project=two)
    assert_true()
    # Raw SQL: done, reopened, deleted.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE recruitment_followup SET status = 'done' WHERE project_id = %s", [_db(two.pk)])
        later = "datetime(due_at, '+1 day')" if connection.vendor == "sqlite" else "due_at + interval '1 day'"
        cursor.execute(
            f"UPDATE recruitment_followup SET status = 'open', due_at = {later} "
            "WHERE project_id = %s AND assignee_id IS NULL",
            [_db(two.pk)],
        )
        cursor.execute(
            "DELETE FROM recruitment_followup WHERE project_id = %s AND assignee_id IS NOT NULL", [_db(two.pk)]
        )
    assert_true()
    # The project moves (park, office, owner), changes its stages, closes, reopens: its follow-ups
    # and its last touch move with it.
    project_update(project=two, actor=actor, park=world["parks"][0], owner=o1, stages=[s[5]])
    Project.objects.filter(pk=two.pk).update(office=world["province"])
    assert_true()
    two.stages.add(s[0], s[1])
    two.stages.remove(s[5])
    assert_true()
    Project.objects.filter(pk=two.pk).update(status="lost")
    assert_true()
    Project.objects.filter(pk=two.pk).update(status="screening")
    assert_true()
    # Last touches: an interaction logged, moved back in time, moved away, deleted.
    interaction = InteractionFactory(project=two, enterprise=two.enterprise, occurred_at=now)
    assert_true()
    Interaction.objects.filter(pk=interaction.pk).update(occurred_at=now - timedelta(days=200))
    Interaction.objects.filter(pk=interaction.pk).update(project=projects[3])
    assert_true()
    interaction.delete()
    assert_true()
    _same_dashboards(world, now)
    # A project deleted with its follow-ups (by the ORM, and in raw SQL project first).
    project_delete(project=projects[4], actor=actor)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM recruitment_project_stages WHERE project_id = %s", [_db(projects[5].pk)])
        cursor.execute("DELETE FROM recruitment_projectlight WHERE project_id = %s", [_db(projects[5].pk)])
        cursor.execute("DELETE FROM recruitment_project WHERE id = %s", [_db(projects[5].pk)])
        cursor.execute("DELETE FROM crm_interaction WHERE project_id = %s", [_db(projects[5].pk)])
        cursor.execute("DELETE FROM recruitment_followup WHERE project_id = %s", [_db(projects[5].pk)])
    assert_true()
    tally.compact()
    assert_true()
    _same_dashboards(world, now + timedelta(days=1))


@pytest.mark.django_db
def test_every_trigger_of_the_tally_is_there_after_the_migrations() -> None:
    """A later migration that makes Django rebuild a counted table on SQLite (most column
    changes do) drops its triggers with the old table: it must install them again."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            expected = set(tally_sqlite.triggers())
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
            expected = set(tally._TRIGGER_TABLES)
        present = {name for (name,) in cursor.fetchall()}
    assert len(expected) >= 17
    assert expected <= present, sorted(expected - present)
