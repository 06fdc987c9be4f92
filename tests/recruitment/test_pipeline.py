"""The status pipeline through ``project_transition``: every allowed move works and is
recorded; refused moves raise IllegalTransition with a clear message and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine
from django.utils import translation

from recruitment.models import Project, ProjectStatusChange
from recruitment.pipeline import ALLOWED, MILESTONES, IllegalTransition, Status, check_transition
from recruitment.services import project_create, project_transition
from tests.factories import EnterpriseFactory, ParkFactory, StageFactory, UserFactory


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are asserted in English, the language of the code (the site default is zh-hans)."""
    with translation.override("en"):
        yield


pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 11, 9, 30, tzinfo=UTC)
ALLOWED_MOVES = sorted((src, dst) for src, targets in ALLOWED.items() for dst in targets)


@pytest.fixture
def staff(park_office):  # type: ignore[no-untyped-def]
    return UserFactory(office=park_office, is_staff=True)


def new_project(office, actor) -> Project:  # type: ignore[no-untyped-def]
    return project_create(
        office=office,
        actor=actor,
        stages=[StageFactory()],
        title="碳纤维项目",
        enterprise=EnterpriseFactory(),
        park=ParkFactory(),
    )


def walk(project: Project, *statuses: str, actor=None) -> None:  # type: ignore[no-untyped-def]
    for status in statuses:
        project_transition(project=project, to=status, actor=actor, note="walk", reason="walk")


def project_in(status: str, *, office, actor, resume_at: str = Status.LEAD) -> Project:  # type: ignore[no-untyped-def]
    """A project in ``status``; a suspended one was suspended after reaching ``resume_at``."""
    project = new_project(office, actor)
    if status in MILESTONES:
        walk(project, *MILESTONES[1 : MILESTONES.index(status) + 1], actor=actor)
    elif status == Status.SUSPENDED:
        walk(project, *MILESTONES[1 : MILESTONES.index(resume_at) + 1], Status.SUSPENDED, actor=actor)
    elif status == Status.LOST:
        walk(project, Status.LOST, actor=actor)
    return project


def state(project: Project) -> tuple:
    """Everything a refused move must leave untouched."""
    project = Project.objects.get(pk=project.pk)
    return (
        project.status,
        project.version,
        project.lost_reason,
        project.status_changed_at,
        project.status_changes.count(),
        project.history.count(),
    )


@pytest.mark.parametrize(("from_status", "to_status"), ALLOWED_MOVES, ids=[f"{a}->{b}" for a, b in ALLOWED_MOVES])
def test_every_allowed_move_succeeds_and_records_from_to_who_when_and_note(
    from_status: str, to_status: str, park_office, staff
) -> None:  # type: ignore[no-untyped-def]
    resume_at = to_status if from_status == Status.SUSPENDED and to_status in MILESTONES else Status.LEAD
    project = project_in(from_status, office=park_office, actor=staff, resume_at=resume_at)
    version = project.version
    earlier = set(project.status_changes.values_list("pk", flat=True))
    with time_machine.travel(NOW, tick=False):
        change = project_transition(
            project=project,
            to=to_status,
            actor=staff,
            note="经领导同意",
            reason="企业放弃" if to_status == "lost" else "",
        )
    stored = Project.objects.get(pk=project.pk)
    assert (stored.status, stored.status_changed_at, stored.version) == (to_status, NOW, version + 1)
    [latest] = stored.status_changes.exclude(pk__in=earlier)
    assert latest == change
    assert (latest.from_status, latest.to_status, latest.changed_by, latest.changed_at, latest.note) == (
        from_status,
        to_status,
        staff,
        NOW,
        "经领导同意",
    )
    assert project.status == to_status  # the caller's instance follows
    if to_status == Status.LOST:
        assert stored.lost_reason == "企业放弃"


def test_project_creation_records_the_first_status(park_office, staff) -> None:  # type: ignore[no-untyped-def]
    with time_machine.travel(NOW, tick=False):
        project = new_project(park_office, staff)
    [change] = ProjectStatusChange.objects.filter(project=project)
    assert (project.status, change.from_status, change.to_status, change.changed_by, change.changed_at) == (
        Status.LEAD,
        "",
        Status.LEAD,
        staff,
        NOW,
    )


REFUSED = [
    pytest.param(Status.LEAD, Status.SIGNED, {}, "Allowed next statuses", id="lead->signed"),
    pytest.param(Status.SCREENING, Status.PRODUCTION, {}, "Allowed next statuses", id="screening->production"),
    pytest.param(Status.SIGNED, Status.NEGOTIATING, {}, "Allowed next statuses", id="signed->negotiating"),
    pytest.param(Status.PRODUCTION, Status.LOST, {"reason": "x"}, "Allowed next statuses", id="production->lost"),
    pytest.param(Status.LEAD, Status.LEAD, {}, "already", id="lead->lead"),
    pytest.param(Status.LEAD, "won", {}, "not a status", id="lead->unknown"),
    pytest.param(Status.NEGOTIATING, Status.LOST, {}, "reason is required", id="lost-without-reason"),
    pytest.param(Status.SCREENING, Status.LOST, {"reason": "   "}, "reason is required", id="lost-blank-reason"),
]


@pytest.mark.parametrize(("from_status", "to_status", "kwargs", "message"), REFUSED)
def test_refused_moves_raise_a_clear_error_and_change_nothing(
    from_status: str, to_status: str, kwargs: dict, message: str, park_office, staff
) -> None:  # type: ignore[no-untyped-def]
    project = project_in(from_status, office=park_office, actor=staff)
    before = state(project)
    with pytest.raises(IllegalTransition, match=message) as info:
        project_transition(project=project, to=to_status, actor=staff, **kwargs)
    assert (info.value.from_status, info.value.to_status) == (from_status, to_status)
    assert state(project) == before


@pytest.mark.parametrize("closed", [Status.AT_CAPACITY, Status.LOST])
@pytest.mark.parametrize("target", Status.values)
def test_closed_projects_never_move_again(closed: str, target: str, park_office, staff) -> None:  # type: ignore[no-untyped-def]
    project = project_in(closed, office=park_office, actor=staff)
    before = state(project)
    with pytest.raises(IllegalTransition) as info:
        project_transition(project=project, to=target, actor=staff, reason="again")
    if target != closed:
        assert "Allowed next statuses: none" in str(info.value)
    assert state(project) == before


def test_a_suspended_project_cannot_resume_past_its_milestone(park_office, staff) -> None:  # type: ignore[no-untyped-def]
    project = project_in(Status.SUSPENDED, office=park_office, actor=staff, resume_at=Status.NEGOTIATING)
    before = state(project)
    with pytest.raises(IllegalTransition, match="resumes at “negotiating” or earlier, not at “signed”"):
        project_transition(project=project, to=Status.SIGNED, actor=staff)
    assert state(project) == before
    project_transition(project=project, to=Status.SCREENING, actor=staff)  # earlier is fine
    assert Project.objects.get(pk=project.pk).status == Status.SCREENING


def test_a_project_suspended_in_production_cannot_be_lost(park_office, staff) -> None:  # type: ignore[no-untyped-def]
    project = project_in(Status.SUSPENDED, office=park_office, actor=staff, resume_at=Status.PRODUCTION)
    before = state(project)
    with pytest.raises(IllegalTransition, match="reached “production” cannot be marked lost"):
        project_transition(project=project, to=Status.LOST, actor=staff, reason="企业关停")
    assert state(project) == before


def test_the_milestone_counts_from_the_latest_suspension(park_office, staff) -> None:  # type: ignore[no-untyped-def]
    project = project_in(Status.SUSPENDED, office=park_office, actor=staff, resume_at=Status.SIGNED)
    walk(project, Status.SCREENING, Status.SUSPENDED, actor=staff)  # resumed earlier, suspended again
    with pytest.raises(IllegalTransition, match="resumes at “screening”"):
        project_transition(project=project, to=Status.NEGOTIATING, actor=staff)


def test_the_pure_check_agrees_with_the_table() -> None:
    for from_status in Status.values:
        for to_status in Status.values:
            allowed = to_status in ALLOWED[from_status]
            try:
                check_transition(from_status, to_status, reason="r")
            except IllegalTransition:
                assert not allowed, (from_status, to_status)
            else:
                assert allowed, (from_status, to_status)


def test_every_status_can_be_reached_and_closed_ones_are_dead_ends() -> None:
    reachable = {Status.LEAD}
    frontier = [Status.LEAD]
    while frontier:
        for nxt in ALLOWED[frontier.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(Status.values)
    assert ALLOWED[Status.AT_CAPACITY] == ALLOWED[Status.LOST] == frozenset()
