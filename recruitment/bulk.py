"""Set-based bulk upserts of projects and follow-ups by the partner's id.

The same rules and effects as the services called once per item (what the API's
single upsert does: ``project_create`` / ``project_update`` with
``project_transition``, ``followup_create`` / ``followup_update`` with
``followup_complete`` / ``followup_cancel``), in a number of queries that does not
grow with the number of items. Every item is checked first (pipeline moves
included); only then is anything written, step by step as the single path writes
it, each step for the whole batch:

* projects: the rows (chain role derived from the gap status in one query), their
  history and target stages; the ``lead`` status row; the service-level follow-ups;
  the large-project notice; then, for a project created further along or moved to
  another status, each pipeline move (a version, a history row and a status row
  per move, open follow-ups cancelled on closing), one statement per move for all;
* follow-ups: the rows, then a change of status (completed or cancelled, the next
  periodic report scheduled as ``followup_complete`` does).

What the project service does for each new project beyond the row lives in
:data:`PROJECT_CREATE_STEPS`, one function per effect: a new effect of
``project_create`` is added there once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.bulk_save import (
    BulkItemErrors,
    Upserted,
    columns_of,
    existing_by_external_id,
    feed_record,
    history_record,
    instance_factory,
    m2m_now,
    records_save,
    rows_insert,
    rows_update,
    values_differ,
)
from crm.models import Office
from crm.records import history_actor
from crm.services import enterprise_check_not_merged
from recruitment import reminders
from recruitment.landing import landing_changed, plan_changes, plan_read, project_plan_set
from recruitment.models import FollowUp, Project, ProjectStatusChange
from recruitment.pipeline import CLOSED, MILESTONES, IllegalTransition, Status, check_transition
from recruitment.services import (
    _followups_create_many,
    chain_roles_for,
    followups_cancel_open,
    next_report_build,
    sla_followups_many,
)


@dataclass(slots=True)
class Move:
    """A pipeline move to apply after the save, as ``project_transition`` records it."""

    to: str
    note: str = ""
    reason: str = ""


@dataclass(slots=True)
class ProjectPlan:
    """One item's project: what is written for it and which moves follow."""

    index: int
    project: Project
    created: bool
    item: dict[str, Any]
    target: str  # the status asked for (a new project walks to it)
    moves: list[Move] = field(default_factory=list)


# --- projects ------------------------------------------------------------------------------


@transaction.atomic
def projects_upsert(*, office: Office, actor: Any, items: Sequence[dict[str, Any]]) -> list[Upserted]:
    """Create or update ``office``'s projects by ``external_id``; all or nothing.

    Raises :class:`BulkItemErrors` — a ``ValidationError`` or ``IllegalTransition``
    per bad item — before any write.
    """
    now = timezone.now()
    # The landing plan is written after the rows and moves (a plan needs a signed project),
    # through the one plan service; the rest of an item is the project's own columns.
    items = [dict(item) for item in items]
    landing = {index: item.pop("plan") for index, item in enumerate(items) if item.get("plan") is not None}
    existing = existing_by_external_id(Project, office=office, external_ids=[i["external_id"] for i in items])
    current = m2m_now(Project, ["stages"], list(existing.values()))
    resume = last_milestones([p.pk for p in existing.values() if p.status == Status.SUSPENDED])
    errors: dict[int, Exception] = {}
    plans: list[ProjectPlan] = []
    results: list[Upserted] = []
    for index, item in enumerate(items):
        project = existing.get(item["external_id"])
        if project is not None and not values_differ(project, item, current):
            results.append(Upserted(external_id=item["external_id"], id=project.pk, created=False))
            continue
        try:
            plan = _project_plan(index, item, project, office=office, now=now, resume=resume)
        except (ValidationError, IllegalTransition) as exc:
            errors[index] = exc
            continue
        plans.append(plan)
        results.append(Upserted(external_id=item["external_id"], id=plan.project.pk, created=plan.created))
    if errors:
        raise BulkItemErrors(errors)
    projects_write(
        plans,
        actor=actor,
        now=now,
        current=current,
        update_fields=columns_of(items, exclude=("stages", "status")),
        feed=False,
    )
    _plans_write(plans, existing, items, landing, actor=actor)
    plans_feed_record(plans)  # once each, after the plans and the lights
    return results


def projects_write(
    plans: Sequence[ProjectPlan],
    *,
    actor: Any,
    now: datetime,
    current: dict[str, dict[Any, list[Any]]],
    update_fields: Sequence[str],
    feed: bool = True,
) -> None:
    """Write checked plans as the services would, step by step for the whole batch.

    The rows (a new project's chain role derived first), their history and stages; what
    ``project_create`` writes after a new row (:data:`PROJECT_CREATE_STEPS`); the
    large-project notice of a changed planned investment; then every pipeline move.
    ``current`` holds the updated projects' stage sets as :func:`m2m_now` reads them;
    ``update_fields`` the columns the updates change. The caller moves the lights;
    with ``feed=False`` it also records the projects' feed entries (:func:`plans_feed_record`),
    after the lights (the entry shows the light).
    """
    new = [p for p in plans if p.created]
    # A plan of nothing but moves (an import's row that changes only the status) is not saved first.
    saved = [p for p in plans if not p.created and p.item]
    _chain_roles_derive(new)
    # On PostgreSQL a new project is inserted as its walk will leave it (not updated after).
    ends = {p.project.pk: _walk_end(p, now) for p in new if p.moves} if connection.vendor == "postgresql" else {}
    records_save(
        model=Project,
        creates=[p.project for p in new],
        updates=[p.project for p in saved],
        update_fields=[*update_fields, "chain_role_overridden"],
        actor=actor,
        m2m={"stages": {p.project.pk: list(p.item["stages"]) for p in plans if "stages" in p.item}},
        m2m_now=current,
        now=now,
        feed=False,
        written_as=ends,
    )
    for step in PROJECT_CREATE_STEPS:
        step(new, actor=actor, now=now)
    reminders.large_project_notices_record(projects=[p.project for p in saved if "planned_investment" in p.item])
    _moves_apply(plans, actor=actor, now=now, ends=ends)
    if feed:
        plans_feed_record(plans)


def plans_feed_record(plans: Sequence[ProjectPlan]) -> None:
    """Each project's feed entry once, as its last write left it."""
    feed_record(creates=[p.project for p in plans if p.created], updates=[p.project for p in plans if not p.created])


def _plans_write(
    plans: list[ProjectPlan],
    existing: dict[str, Project],
    items: Sequence[dict[str, Any]],
    landing: dict[int, dict[str, Any]],
    *,
    actor: Any,
) -> None:
    """Landing plans given with the items, then the lights of every project that moved.

    A project whose own columns did not change gets its plan with a version of its own
    (``touch``), as a single upsert does; the others were just saved. Plans are written
    item by item through ``project_plan_set`` (a bulk rarely carries them)."""
    written = {p.index: p.project for p in plans}
    for index, plan in sorted(landing.items()):
        project = written.get(index) or existing[items[index]["external_id"]]
        if index not in written and not plan_changes(plan_read(project), plan, partial=False):
            continue
        project_plan_set(project=project, plan=plan, actor=actor, touch=index not in written)
    moved = [p.project.pk for p in plans if p.moves and p.index not in landing]
    if moved:
        landing_changed(project_ids=moved, feed=False)


def _project_plan(
    index: int,
    item: dict[str, Any],
    project: Project | None,
    *,
    office: Office,
    now: datetime,
    resume: dict[Any, str],
) -> ProjectPlan:
    values = {k: v for k, v in item.items() if k not in ("stages", "status")}
    status = item.get("status")
    if "stages" in item and not item["stages"]:
        raise ValidationError({"stages": _("Choose at least one target stage.")}, code="required")
    if project is None:
        project = Project(office=office)
        for name, value in values.items():
            setattr(project, name, value)
        enterprise_check_not_merged(project.enterprise if project.enterprise_id else None)
        project.chain_role_overridden = bool(project.chain_role)
        project.status = Status.LEAD
        project.status_changed_at = now
        plan = ProjectPlan(index, project, True, item, status or Status.LEAD)
        plan.moves = _walk(plan.target)
        _moves_check(Status.LEAD, plan.moves, resume_at=None)
        return plan
    for name, value in values.items():
        setattr(project, name, value)
    if "chain_role" in item:
        project.chain_role_overridden = bool(item["chain_role"])
    plan = ProjectPlan(index, project, False, item, status or project.status)
    if status is not None and status != project.status:
        plan.moves = [Move(status)]
        _moves_check(project.status, plan.moves, resume_at=resume.get(project.pk))
    return plan


def _walk(status: str) -> list[Move]:
    """The moves ``project_create`` makes to bring a new lead to ``status`` (``_walk_to``)."""
    if status == Status.LEAD:
        return []
    note = _("Imported status.")
    if status in MILESTONES:
        return [Move(step, note=note) for step in MILESTONES[1 : MILESTONES.index(status) + 1]]
    return [Move(status, note=note, reason=note)]


def _moves_check(from_status: str, moves: list[Move], *, resume_at: str | None) -> None:
    for move in moves:
        check_transition(from_status, move.to, reason=move.reason or move.note, resume_at=resume_at)
        from_status = move.to


def last_milestones(project_ids: list[Any]) -> dict[Any, str]:
    """Each suspended project's last milestone (``services._last_milestone``), in one query."""
    found: dict[Any, str] = {}
    if not project_ids:
        return found
    for project_id, to_status in (
        ProjectStatusChange.objects.filter(project_id__in_array=project_ids, to_status__in=MILESTONES)
        .order_by("project_id", "-changed_at", "-created_at")
        .values_list("project_id", "to_status")
    ):
        found.setdefault(project_id, to_status)
    return found


def _chain_roles_derive(plans: list[ProjectPlan]) -> None:
    derive = [p for p in plans if not p.project.chain_role and p.project.park_id]
    roles = chain_roles_for(wanted=[(p.project.park_id, [s.pk for s in p.item["stages"]]) for p in derive])
    for plan, role in zip(derive, roles, strict=True):
        plan.project.chain_role = role


def _status_rows_created(plans: list[ProjectPlan], *, actor: Any, now: datetime) -> None:
    make = instance_factory(
        ProjectStatusChange,
        from_status="",
        to_status=Status.LEAD,
        changed_by=history_actor(actor),
        changed_at=now,
        note=_("Project created."),
    )
    rows_insert(ProjectStatusChange, [_of_project(make(), p.project) for p in plans])


def _of_project(row: Any, project: Project) -> Any:
    """``row.project = project`` without the descriptor's checks (a new row of a project in hand)."""
    row.project_id = project.pk
    row._state.fields_cache["project"] = project
    return row


def _sla_followups(plans: list[ProjectPlan], *, actor: Any, now: datetime) -> None:
    follow_ups = sla_followups_many([(p.project, p.target == Status.LEAD) for p in plans], actor=actor, now=now)
    # As _followups_create_many writes them (version 1, a "+" history row, a feed entry), by COPY.
    records_save(model=FollowUp, creates=follow_ups, updates=[], update_fields=[], actor=actor, now=now)


def _large_project_notices(plans: list[ProjectPlan], *, actor: Any, now: datetime) -> None:
    reminders.large_project_notices_record(projects=[p.project for p in plans], now=now)


# What ``project_create`` writes for a new project after its row, in its order; each
# step takes the batch's new projects (their rows and stages written).
ProjectStep = Callable[..., None]
PROJECT_CREATE_STEPS: list[ProjectStep] = [_status_rows_created, _sla_followups, _large_project_notices]


def _moves_apply(plans: list[ProjectPlan], *, actor: Any, now: datetime, ends: Mapping[Any, Mapping[str, Any]]) -> None:
    """Each pipeline move as ``project_transition`` writes it, one batch per move number."""
    make = instance_factory(ProjectStatusChange, changed_by=history_actor(actor))
    _walks_apply([p for p in plans if p.created and p.moves], actor=actor, now=now, ends=ends, make=make)
    plans = [p for p in plans if not p.created]
    depth = max((len(p.moves) for p in plans), default=0)
    for number in range(depth):
        # Moves of one project keep the order they were made in (the status history is read by time).
        at = now + timedelta(microseconds=number + 1)
        batch = [p for p in plans if len(p.moves) > number]
        rows = [_move(plan, number, at=at, make=make) for plan in batch]
        records_save(
            model=Project,
            creates=[],
            updates=[p.project for p in batch],
            update_fields=["status", "status_changed_at", "lost_reason"],
            actor=actor,
            feed=False,
        )
        rows_insert(ProjectStatusChange, rows)
        closed = [p.project.pk for p in batch if p.project.status in CLOSED]
        if closed:
            followups_cancel_open(project_ids=closed, actor=actor)


def _move(
    plan: ProjectPlan, number: int, *, at: datetime, make: Callable[[], ProjectStatusChange]
) -> ProjectStatusChange:
    """Move ``plan``'s project in memory by its move ``number``; the status row that records it
    (``make`` builds one, its author set)."""
    move = plan.moves[number]
    project = plan.project
    change = _of_project(make(), project)
    change.from_status = project.status
    change.to_status = move.to
    change.changed_at = at
    change.note = move.note or move.reason
    project.status = move.to
    project.status_changed_at = at
    if move.to == Status.LOST:
        project.lost_reason = move.reason or move.note
    return change


# What a move changes in a project's row.
_WALKED = ("status", "status_changed_at", "lost_reason", "version", "updated_at")


def _walk_end(plan: ProjectPlan, now: datetime) -> dict[str, Any]:
    """What :func:`_walks_apply` leaves in a new project's :data:`_WALKED` columns."""
    last = plan.moves[-1]
    at = now + timedelta(microseconds=len(plan.moves))
    project = plan.project
    return {
        "status": last.to,
        "status_changed_at": at,
        "lost_reason": (last.reason or last.note) if last.to == Status.LOST else project.lost_reason,
        "version": project.version + len(plan.moves),
        "updated_at": at,
    }


def _walks_apply(
    plans: list[ProjectPlan],
    *,
    actor: Any,
    now: datetime,
    ends: Mapping[Any, Mapping[str, Any]],
    make: Callable[[], ProjectStatusChange],
) -> None:
    """New projects created further along than ``lead`` (``project_create``'s walk): each
    move's status row and history row (version, status and time as that move left them)
    as ``project_transition`` writes them, and the project's row written once. Only the
    history rows are written per move, from the rows in memory: a new project's row holds
    nothing the database computed that its history keeps. On PostgreSQL the row was
    inserted as the walk ends (``ends``, from :func:`_walk_end`); elsewhere it is updated
    at the end of its walk."""
    if not plans:
        return
    depth = max(len(p.moves) for p in plans)
    changes: list[ProjectStatusChange] = []
    for number in range(depth):
        at = now + timedelta(microseconds=number + 1)
        batch = [p for p in plans if len(p.moves) > number]
        for plan in batch:
            changes.append(_move(plan, number, at=at, make=make))
            plan.project.version += 1
            plan.project.updated_at = at
        history_record(Project, [p.project for p in batch], actor=actor, now=at, fields=_WALKED)
    walked = [p.project for p in plans]
    if ends:
        for project in walked:
            if ends[project.pk] != {name: getattr(project, name) for name in _WALKED}:
                raise RuntimeError(f"project {project.pk} was inserted in another state than its walk ended in")
    else:
        rows_update(Project, walked, _WALKED)
    rows_insert(ProjectStatusChange, changes)
    closed = [p.pk for p in walked if p.status in CLOSED]
    if closed:
        followups_cancel_open(project_ids=closed, actor=actor)


# --- follow-ups ------------------------------------------------------------------------------


@transaction.atomic
def followups_upsert(*, office: Office, actor: Any, items: Sequence[dict[str, Any]]) -> list[Upserted]:
    """Create or update ``office``'s follow-ups by ``external_id``; all or nothing.

    ``status`` ``done`` or ``cancelled`` closes an open follow-up after its fields are
    written (a completed report schedules the next); a closed one is not reopened.
    """
    now = timezone.now()
    existing = existing_by_external_id(FollowUp, office=office, external_ids=[i["external_id"] for i in items])
    errors: dict[int, Exception] = {}
    creates: list[FollowUp] = []
    updates: list[FollowUp] = []
    closing: list[tuple[FollowUp, str]] = []
    results: list[Upserted] = []
    for index, item in enumerate(items):
        values = {k: v for k, v in item.items() if k != "status"}
        status = item.get("status")
        follow_up = existing.get(item["external_id"])
        created = follow_up is None
        if follow_up is None:
            follow_up = FollowUp(office=office)
            for name, value in values.items():
                setattr(follow_up, name, value)
            if follow_up.project_id and follow_up.project.office_id != office.pk:
                errors[index] = ValidationError({"project": _("Not found.")}, code="does_not_exist")
                continue
            creates.append(follow_up)
        else:
            if not values_differ(follow_up, item, {}):
                results.append(Upserted(external_id=item["external_id"], id=follow_up.pk, created=False))
                continue
            if status not in (None, follow_up.status) and follow_up.status != FollowUp.Status.OPEN:
                errors[index] = _closed_error(status)
                continue
            changed = {k: v for k, v in values.items() if values_differ(follow_up, {k: v}, {})}
            if changed:
                for name, value in changed.items():
                    setattr(follow_up, name, value)
                updates.append(follow_up)
        if status is not None and status != follow_up.status:
            if status == FollowUp.Status.OPEN:  # only reachable for a closed one, refused above
                errors[index] = _closed_error(status)
                continue
            closing.append((follow_up, status))
        results.append(Upserted(external_id=item["external_id"], id=follow_up.pk, created=created))
    if errors:
        raise BulkItemErrors(errors)
    records_save(
        model=FollowUp,
        creates=creates,
        updates=updates,
        update_fields=columns_of(items, exclude=("status",)),
        actor=actor,
        now=now,
    )
    _followups_close(closing, actor=actor)
    return results


def _closed_error(status: str) -> ValidationError:
    """The refusal ``_apply_status`` gives for a closed follow-up, by the status asked for."""
    message = {
        FollowUp.Status.DONE: _("Only an open follow-up can be completed."),
        FollowUp.Status.CANCELLED: _("Only an open follow-up can be cancelled."),
    }.get(status, _("A closed follow-up is not reopened; create a new one."))
    return ValidationError({"status": ValidationError(message, code="invalid")})


def _followups_close(closing: list[tuple[FollowUp, str]], *, actor: Any) -> None:
    """``followup_complete`` / ``followup_cancel`` for the batch: a version and a history row
    each, and the next periodic report after a completed report of a project still open."""
    if not closing:
        return
    now = timezone.now()
    for follow_up, status in closing:
        follow_up.status = status
        if status == FollowUp.Status.DONE:
            follow_up.completed_at = now
    records_save(
        model=FollowUp,
        creates=[],
        updates=[f for f, _status in closing],
        update_fields=["status", "completed_at"],
        actor=actor,
    )
    reports = [f for f, status in closing if status == FollowUp.Status.DONE and f.kind == FollowUp.Kind.REPORT]
    if not reports:
        return
    projects = Project.objects.in_bulk([f.project_id for f in reports])
    later = timezone.now()
    following = [next_report_build(f, project=projects[f.project_id], now=later) for f in reports]
    _followups_create_many([f for f in following if f is not None], actor=actor)
