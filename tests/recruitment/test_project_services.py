"""project_create and project_transition as services: validation, all-or-nothing writes,
imported statuses walking the path, versions, history and change feed, concurrent moves."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from crm.models import ChangeEntry
from crm.services import interaction_log
from recruitment.models import FollowUp, Project, ProjectStatusChange
from recruitment.pipeline import IllegalTransition, Status
from recruitment.services import project_create, project_delete, project_transition
from tests.factories import EnterpriseFactory, ParkFactory, StageFactory, UserFactory


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are asserted in English, the language of the code (the site default is zh-hans)."""
    with translation.override("en"):
        yield


@pytest.fixture
def make(park_office):  # type: ignore[no-untyped-def]
    def _make(**data):  # type: ignore[no-untyped-def]
        data.setdefault("stages", [StageFactory()])
        data.setdefault("title", "长链聚酰胺项目")
        data.setdefault("enterprise", EnterpriseFactory())
        data.setdefault("park", ParkFactory())
        return project_create(office=park_office, **data)

    return _make


def history(project: Project) -> list[tuple[str, str]]:
    return list(project.status_changes.order_by("changed_at", "created_at").values_list("from_status", "to_status"))


@pytest.mark.django_db
def test_a_project_needs_a_target_stage(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as info:
        make(stages=[])
    assert "stages" in info.value.message_dict
    assert not Project.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["planned_investment", "signed_amount", "funds_in_place", "expected_output_value"])
def test_a_negative_amount_is_refused_on_its_field_and_nothing_is_saved(make, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as info:
        make(**{field: Decimal("-1")})
    assert field in info.value.message_dict
    assert not Project.objects.exists() and not ProjectStatusChange.objects.exists()
    assert not ChangeEntry.objects.filter(type="project").exists()


@pytest.mark.django_db
def test_an_unknown_field_is_named(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as info:
        make(budget=1)
    assert list(info.value.message_dict) == ["budget"]


@pytest.mark.django_db
def test_a_project_imported_as_signed_walks_every_milestone(make, park_user) -> None:  # type: ignore[no-untyped-def]
    project = make(status=Status.SIGNED, actor=park_user)
    assert project.status == Status.SIGNED
    assert history(project) == [
        ("", "lead"),
        ("lead", "screening"),
        ("screening", "negotiating"),
        ("negotiating", "signed"),
    ]
    assert set(project.status_changes.values_list("changed_by", flat=True)) == {park_user.pk}


@pytest.mark.django_db
def test_a_project_imported_as_lost_keeps_a_reason(make) -> None:  # type: ignore[no-untyped-def]
    project = make(status=Status.LOST)
    assert (project.status, bool(project.lost_reason)) == (Status.LOST, True)
    assert history(project) == [("", "lead"), ("lead", "lost")]


@pytest.mark.django_db
def test_an_unknown_imported_status_writes_nothing(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IllegalTransition, match="not a status"):
        make(status="won")
    assert not Project.objects.exists() and not ProjectStatusChange.objects.exists()


@pytest.mark.django_db
def test_each_move_bumps_the_version_writes_history_and_moves_the_change_feed(make, park_user) -> None:  # type: ignore[no-untyped-def]
    project = make(actor=park_user)
    versions = [project.version]
    for to in (Status.SCREENING, Status.NEGOTIATING):
        project_transition(project=project, to=to, actor=park_user)
        versions.append(Project.objects.get(pk=project.pk).version)
    assert versions == [1, 2, 3]
    moves = project.history.filter(status__in=[Status.SCREENING, Status.NEGOTIATING], history_type="~")
    assert sorted(moves.values_list("status", "version")) == [("negotiating", 3), ("screening", 2)]
    assert {h.history_user for h in moves} == {park_user}
    entry = ChangeEntry.objects.get(type="project", object_id=project.pk)
    assert entry.op == "upsert" and entry.office_id == project.office_id


@pytest.mark.django_db
def test_a_move_without_a_logged_in_actor_records_no_one(make) -> None:  # type: ignore[no-untyped-def]
    project = make()
    change = project_transition(project=project, to=Status.SCREENING, actor=AnonymousUser())
    assert change.changed_by is None


@pytest.mark.django_db
def test_a_move_can_be_dated(make) -> None:  # type: ignore[no-untyped-def]
    project = make()
    when = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    change = project_transition(project=project, to=Status.SCREENING, at=when)
    assert change.changed_at == when == Project.objects.get(pk=project.pk).status_changed_at


@pytest.mark.django_db
def test_a_stale_instance_is_judged_against_the_stored_status(make) -> None:  # type: ignore[no-untyped-def]
    project = make()
    stale = Project.objects.get(pk=project.pk)
    project_transition(project=project, to=Status.SCREENING)
    with pytest.raises(IllegalTransition, match="already"):
        project_transition(project=stale, to=Status.SCREENING)
    project_transition(project=stale, to=Status.NEGOTIATING)  # judged from "screening", as stored
    assert stale.status == Status.NEGOTIATING


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_signings_of_one_project_record_one_move(park_office) -> None:  # type: ignore[no-untyped-def]
    actor = UserFactory(office=park_office)
    project = project_create(
        office=park_office,
        stages=[StageFactory()],
        title="并发签约",
        enterprise=EnterpriseFactory(),
        park=ParkFactory(),
        status=Status.NEGOTIATING,
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def sign() -> None:
        try:
            barrier.wait(timeout=10)
            project_transition(project=Project.objects.get(pk=project.pk), to=Status.SIGNED, actor=actor)
            outcomes.append("signed")
        except IllegalTransition:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=sign) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["refused", "signed"]
    assert ProjectStatusChange.objects.filter(project=project, to_status=Status.SIGNED).count() == 1
    assert Project.objects.get(pk=project.pk).status == Status.SIGNED


@pytest.mark.django_db
def test_deleting_a_project_costs_the_same_queries_for_3_or_30_interactions(make, park_office) -> None:  # type: ignore[no-untyped-def]
    actor = UserFactory(office=park_office)

    def queries_to_delete(n: int) -> int:
        project = make()
        about = [
            interaction_log(
                office=park_office,
                enterprise=project.enterprise,
                project=project,
                kind="visit",
                occurred_at=datetime(2026, 3, 1, 10, tzinfo=UTC),
                summary="现场考察",
            )
            for _ in range(n)
        ]
        with CaptureQueriesContext(connection) as queries, translation.override("en"):
            project_delete(project=project, actor=actor)
        for interaction in about:
            interaction.refresh_from_db()
            assert (interaction.project_id, interaction.version) == (None, 2)
            assert interaction.history.latest().history_change_reason == "Project deleted"
        return len(queries)

    assert queries_to_delete(3) == queries_to_delete(30)


def test_deleting_a_project_unlinks_interactions_and_tombstones_follow_ups(make, park_office) -> None:  # type: ignore[no-untyped-def]
    actor = UserFactory(office=park_office)
    project = make()
    about = interaction_log(
        office=park_office,
        enterprise=project.enterprise,
        project=project,
        kind="visit",
        occurred_at=datetime(2026, 3, 1, 10, tzinfo=UTC),
        summary="现场考察",
    )
    other = interaction_log(
        office=park_office,
        enterprise=project.enterprise,
        kind="call",
        occurred_at=datetime(2026, 3, 2, 10, tzinfo=UTC),
        summary="电话",
    )
    follow_up_ids = list(project.follow_ups.values_list("pk", flat=True))
    assert follow_up_ids  # the service-level follow-ups of a new lead
    history_rows = about.history.count()

    project_delete(project=project, actor=actor)

    about.refresh_from_db()
    assert (about.project_id, about.version) == (None, 2)
    assert about.history.count() == history_rows + 1
    assert about.history.latest().history_user == actor
    entry = ChangeEntry.objects.get(type="interaction", object_id=about.pk)
    assert entry.op == "upsert"
    assert (entry.data["version"], entry.data["project"]) == (2, None)
    other.refresh_from_db()
    assert other.version == 1
    assert not FollowUp.objects.filter(pk__in=follow_up_ids).exists()
    tombstones = ChangeEntry.objects.filter(type="follow_up", object_id__in=follow_up_ids)
    assert sorted(tombstones.values_list("op", "data")) == [("delete", None)] * len(follow_up_ids)
    assert tombstones.filter(office=park_office).count() == len(follow_up_ids)
    assert ChangeEntry.objects.get(type="project", object_id=project.pk).op == "delete"
