"""Writes on the pipeline: projects, status transitions and follow-ups.

Every status change goes through :func:`project_transition`, which applies the
table in ``pipeline.py``, records the change and refuses illegal moves with
:class:`~recruitment.pipeline.IllegalTransition`, whatever the interface.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from chains.gap_analysis import gap_status
from chains.models import Park, Stage
from crm.bulk_save import instance_factory, records_save
from crm.changes import changes_record
from crm.models import Interaction, Office, Presence
from crm.records import history_actor, record_delete, record_lock, record_save
from crm.services import enterprise_check_not_merged, interactions_rewrite
from recruitment import reminders
from recruitment.chain_roles import derive_chain_role
from recruitment.landing import landing_changed
from recruitment.models import FollowUp, Project, ProjectStatusChange
from recruitment.pipeline import CLOSED, MILESTONES, SIGNED_OR_LATER, IllegalTransition, Status, check_transition

PROJECT_FIELDS = (
    "title",
    "enterprise",
    "park",
    "owner",
    "priority",
    "chain_role",
    "planned_investment",
    "signed_amount",
    "funds_in_place",
    "expected_output_value",
    "expected_jobs",
    "description",
    "external_id",
    "is_demo",
)
FOLLOWUP_FIELDS = ("project", "assignee", "kind", "due_at", "note", "external_id")


def _apply(obj: Any, fields: Iterable[str], data: dict[str, Any]) -> None:
    unknown = set(data) - set(fields)
    if unknown:
        raise ValidationError({name: _("Unknown field.") for name in sorted(unknown)})
    for name, value in data.items():
        setattr(obj, name, value)


def chain_role_for(*, park: Park, stages: Iterable[Stage]) -> str:
    """The role a project at ``stages`` in ``park`` plays, from today's presences.

    Counted as the gap map counts them (``recruitment.gaps``): distinct enterprises,
    merged duplicates left out, so the role always matches the status staff see.
    """
    return chain_roles_for(wanted=[(park.pk, [s.pk for s in stages])])[0]


def chain_roles_for(*, wanted: Sequence[tuple[Any, Sequence[Any]]]) -> list[str]:
    """:func:`chain_role_for` of many projects, each given as (park id, stage ids), in one query."""
    if not wanted:
        return []
    parks = {park for park, _stages in wanted}
    stage_ids = {sid for _park, stages in wanted for sid in stages}
    counts = {
        (park, stage): n
        for park, stage, n in Presence.objects.filter(
            park_id__in=parks, stage_id__in=stage_ids, enterprise__merged_into__isnull=True
        )
        .values("park_id", "stage_id")
        .annotate(n=Count("enterprise", distinct=True))
        .values_list("park_id", "stage_id", "n")
    }
    return [derive_chain_role(gap_status(counts.get((park, sid), 0)) for sid in stages) for park, stages in wanted]


def _check_stages(stages: list[Stage]) -> None:
    if not stages:
        raise ValidationError({"stages": _("Choose at least one target stage.")}, code="required")


@transaction.atomic
def project_create(
    *,
    office: Office,
    actor=None,
    stages: Iterable[Stage],
    status: str = Status.LEAD,
    note: str = "",
    **data: Any,  # type: ignore[no-untyped-def]
) -> Project:
    """Create a project; its chain role follows from its stages' gap status unless given.

    A project created further along than ``lead`` walks there, each move noted with
    ``note`` (else "Imported status.")."""
    stages = list(stages)
    _check_stages(stages)
    project = Project(office=office)
    _apply(project, PROJECT_FIELDS, data)
    enterprise_check_not_merged(project.enterprise if project.enterprise_id else None)
    if project.chain_role:
        project.chain_role_overridden = True
    elif project.park_id:
        project.chain_role = chain_role_for(park=project.park, stages=stages)
    now = timezone.now()
    project.status = Status.LEAD
    project.status_changed_at = now
    record_save(project, actor=actor, created=True, m2m={"stages": stages})
    ProjectStatusChange.objects.create(
        project=project,
        from_status="",
        to_status=Status.LEAD,
        changed_by=history_actor(actor),
        changed_at=now,
        note=_("Project created."),
    )
    _sla_followups_create(project, actor=actor, now=now, new_lead=status == Status.LEAD)
    reminders.large_project_notice_record(project=project, now=now)
    if status != Status.LEAD:
        # A partner importing a project that is already further along walks the path,
        # so the status history stays a true record of milestones.
        _walk_to(project, status, actor=actor, note=note)
    return project


def _sla_hours(kind: str) -> float:
    return float(
        {
            FollowUp.Kind.RESPOND: settings.RECRUITMENT_SLA_RESPOND_HOURS,
            FollowUp.Kind.ASSESS: settings.RECRUITMENT_SLA_ASSESS_HOURS,
            FollowUp.Kind.FEEDBACK: settings.RECRUITMENT_SLA_FEEDBACK_HOURS,
            FollowUp.Kind.REPORT: settings.RECRUITMENT_SLA_REPORT_HOURS,
        }[kind]
    )


def _sla_note(kind: str) -> str:
    return {
        FollowUp.Kind.RESPOND: _("Service level: respond to the new lead."),
        FollowUp.Kind.ASSESS: _("Service level: assess the lead (研判)."),
        FollowUp.Kind.FEEDBACK: _("Service level: give the enterprise feedback."),
        FollowUp.Kind.REPORT: _("Service level: report on the project's progress."),
    }[kind]


def _followups_create_many(follow_ups: list[FollowUp], *, actor) -> list[FollowUp]:  # type: ignore[no-untyped-def]
    """Insert follow-ups the service built itself: one statement each for rows, history and change feed.

    The same guarantees as ``record_save`` (version 1, history naming the actor, a
    change-feed entry in the same transaction) without a validation round-trip per
    row, so creating a project stays a handful of queries.
    """
    if not follow_ups:
        return []
    created = bulk_create_with_history(follow_ups, FollowUp, default_user=history_actor(actor))
    changes_record(objects=follow_ups)
    return created


def _sla_followups_create(project: Project, *, actor, now: datetime, new_lead: bool) -> list[FollowUp]:  # type: ignore[no-untyped-def]
    """The service-level follow-ups of a new project: respond, assess, feedback, then the periodic report.

    A project imported further along the pipeline gets only the periodic report:
    responding to a lead it no longer is would be noise.
    """
    return _followups_create_many(sla_followups_build(project, actor=actor, now=now, new_lead=new_lead), actor=actor)


def sla_followups_build(project: Project, *, actor, now: datetime, new_lead: bool) -> list[FollowUp]:  # type: ignore[no-untyped-def]
    """The unsaved service-level follow-ups of a new project (see :func:`_sla_followups_create`)."""
    return sla_followups_many([(project, new_lead)], actor=actor, now=now)


_SLA_KINDS = (FollowUp.Kind.RESPOND, FollowUp.Kind.ASSESS, FollowUp.Kind.FEEDBACK, FollowUp.Kind.REPORT)


def sla_followups_many(projects: Sequence[tuple[Project, bool]], *, actor, now: datetime) -> list[FollowUp]:  # type: ignore[no-untyped-def]
    """:func:`sla_followups_build` for many new projects, ``(project, new_lead)`` each: the
    same follow-ups, each copied from one built per kind (``instance_factory``)."""
    fallback = history_actor(actor)
    makers = {
        kind: instance_factory(
            FollowUp,
            kind=kind,
            due_at=now + timedelta(hours=_sla_hours(kind)),
            note=_sla_note(kind),
            created_at=now,
            updated_at=now,
        )
        for kind in _SLA_KINDS
    }
    built: list[FollowUp] = []
    for project, new_lead in projects:
        assignee = project.owner if project.owner_id else fallback
        for kind in _SLA_KINDS if new_lead else _SLA_KINDS[-1:]:
            follow_up = makers[kind]()
            follow_up.office_id = project.office_id
            follow_up.project_id = project.pk
            follow_up.assignee_id = getattr(assignee, "pk", None)
            cache = follow_up._state.fields_cache
            cache["project"], cache["assignee"] = project, assignee
            built.append(follow_up)
    return built


def _followups_cancel_open(project: Project, *, actor) -> int:  # type: ignore[no-untyped-def]
    """Cancel every open follow-up of a project that has closed (lost or at capacity)."""
    return followups_cancel_open(project_ids=[project.pk], actor=actor)


def followups_cancel_open(*, project_ids: Sequence[Any], actor) -> int:  # type: ignore[no-untyped-def]
    """:func:`_followups_cancel_open` for many projects at once (a fixed number of queries)."""
    open_ = list(
        FollowUp.objects.filter(project_id__in_array=list(project_ids), status=FollowUp.Status.OPEN)
        .select_for_update()
        .order_by("pk")
    )
    if not open_:
        return 0
    for follow_up in open_:
        follow_up.status = FollowUp.Status.CANCELLED
    # Each a version, a history row and its feed entry, as a save of each would write them.
    records_save(model=FollowUp, creates=[], updates=open_, update_fields=["status"], actor=actor)
    return len(open_)


def _walk_to(project: Project, status: str, *, actor, note: str = "") -> None:  # type: ignore[no-untyped-def]
    note = note or _("Imported status.")
    if status in MILESTONES:
        for step in MILESTONES[1 : MILESTONES.index(status) + 1]:
            project_transition(project=project, to=step, actor=actor, note=note)
    else:
        project_transition(project=project, to=status, actor=actor, note=note, reason=note)


@transaction.atomic
def project_update(
    *,
    project: Project,
    actor=None,
    stages: Iterable[Stage] | None = None,
    status: str | None = None,  # type: ignore[no-untyped-def]
    **data: Any,
) -> Project:
    """Update a project's fields; a different ``status`` goes through the pipeline."""
    _apply(project, PROJECT_FIELDS, data)
    if "chain_role" in data:
        project.chain_role_overridden = bool(data["chain_role"])
    m2m = None
    if stages is not None:
        stages = list(stages)
        _check_stages(stages)
        m2m = {"stages": stages}
    record_save(project, actor=actor, created=False, m2m=m2m)
    if "planned_investment" in data:
        reminders.large_project_notice_record(project=project)
    if status is not None and status != project.status:
        project_transition(project=project, to=status, actor=actor)
    return project


def _last_milestone(project: Project) -> str | None:
    for change in project.status_changes.order_by("-changed_at", "-created_at").values_list("to_status", flat=True):
        if change in MILESTONES:
            return change
    return None


@transaction.atomic
def project_transition(
    *,
    project: Project,
    to: str,
    actor=None,
    note: str = "",
    reason: str = "",  # type: ignore[no-untyped-def]
    at: datetime | None = None,
) -> ProjectStatusChange:
    """Move ``project`` to status ``to`` or raise :class:`IllegalTransition`.

    The row is locked first, so two concurrent moves of one project serialise and
    the second is judged against the status the first left.
    """
    locked = record_lock(Project.objects.all(), pk=project.pk)
    from_status = locked.status
    resume_at = _last_milestone(locked) if from_status == Status.SUSPENDED else None
    check_transition(from_status, to, reason=reason or note, resume_at=resume_at)
    now = at or timezone.now()
    locked.status = to
    locked.status_changed_at = now
    if to == Status.LOST:
        locked.lost_reason = reason or note
    record_save(locked, actor=actor, created=False, validate=False)
    change = ProjectStatusChange.objects.create(
        project=locked,
        from_status=from_status,
        to_status=to,
        changed_by=history_actor(actor),
        changed_at=now,
        note=note or reason,
    )
    if to in CLOSED:
        # A closed project needs no more follow-ups: their reminders stop with them.
        _followups_cancel_open(locked, actor=actor)
    if to in SIGNED_OR_LATER or from_status in SIGNED_OR_LATER:
        # Signing gives the project a light; leaving the landing path takes it away.
        landing_changed(project_ids=[locked.pk])
    # Keep the caller's instance in step with the database.
    project.status, project.status_changed_at, project.version = locked.status, locked.status_changed_at, locked.version
    project.lost_reason = locked.lost_reason
    return change


@transaction.atomic
def project_delete(*, project: Project, actor=None) -> None:  # type: ignore[no-untyped-def]
    """Delete a project, its follow-ups, and its link from the interactions about it.

    Interactions keep their record with ``project`` emptied as
    :func:`~crm.services.interaction_update` would (version +1, history, change feed),
    not by the database's ``SET NULL``, which partners would never hear of; each
    follow-up leaves a tombstone in the feed rather than vanishing in a cascade.
    The project is locked first, so an interaction or follow-up naming it that
    commits later fails its foreign-key check, and one that committed earlier is found below.
    """
    list(Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True))
    interactions = list(
        Interaction.objects.filter(project=project).select_for_update(no_key=True, of=("self",)).order_by("pk")
    )
    for interaction in interactions:
        interaction.project = None
    interactions_rewrite(interactions, actor=actor, reason=_("Project deleted"), fields=["project"])
    for follow_up in project.follow_ups.select_for_update().order_by("pk"):
        record_delete(follow_up, actor=actor)
    record_delete(project, actor=actor)


@transaction.atomic
def followup_create(*, office: Office, actor=None, **data: Any) -> FollowUp:  # type: ignore[no-untyped-def]
    follow_up = FollowUp(office=office)
    _apply(follow_up, FOLLOWUP_FIELDS, data)
    if follow_up.project_id and follow_up.project.office_id != office.pk:
        raise ValidationError({"project": _("Not found.")}, code="does_not_exist")
    return record_save(follow_up, actor=actor, created=True)


@transaction.atomic
def followup_update(*, follow_up: FollowUp, actor=None, **data: Any) -> FollowUp:  # type: ignore[no-untyped-def]
    _apply(follow_up, FOLLOWUP_FIELDS, data)
    return record_save(follow_up, actor=actor, created=False)


@transaction.atomic
def followup_complete(*, follow_up: FollowUp, actor=None) -> FollowUp:  # type: ignore[no-untyped-def]
    if follow_up.status != FollowUp.Status.OPEN:
        raise ValidationError({"status": _("Only an open follow-up can be completed.")}, code="invalid")
    follow_up.status = FollowUp.Status.DONE
    follow_up.completed_at = timezone.now()
    record_save(follow_up, actor=actor, created=False)
    if follow_up.kind == FollowUp.Kind.REPORT:
        _next_report_create(follow_up, actor=actor)
    return follow_up


def _next_report_create(done: FollowUp, *, actor) -> FollowUp | None:  # type: ignore[no-untyped-def]
    """Schedule the next periodic report of an open project, keeping the cadence.

    The next report is due one period after the one just done; if that is already
    past (the report was late), the cadence moves on to the first future slot, so
    completing a late report never creates one that is due at once.
    """
    project = Project.objects.get(pk=done.project_id)
    follow_up = next_report_build(done, project=project, now=timezone.now())
    if follow_up is not None:
        _followups_create_many([follow_up], actor=actor)
    return follow_up


def next_report_build(done: FollowUp, *, project: Project, now: datetime) -> FollowUp | None:
    """The unsaved next periodic report after ``done`` (None once ``project`` is closed)."""
    if project.status in CLOSED:
        return None
    period = timedelta(hours=_sla_hours(FollowUp.Kind.REPORT))
    due = done.due_at + period
    if due <= now:
        due += period * ((now - due) // period + 1)
    return FollowUp(
        office_id=project.office_id,
        project=project,
        assignee_id=done.assignee_id or project.owner_id,
        kind=FollowUp.Kind.REPORT,
        due_at=due,
        note=_sla_note(FollowUp.Kind.REPORT),
        created_at=now,
        updated_at=now,
    )


@transaction.atomic
def followup_cancel(*, follow_up: FollowUp, actor=None) -> FollowUp:  # type: ignore[no-untyped-def]
    if follow_up.status != FollowUp.Status.OPEN:
        raise ValidationError({"status": _("Only an open follow-up can be cancelled.")}, code="invalid")
    follow_up.status = FollowUp.Status.CANCELLED
    return record_save(follow_up, actor=actor, created=False)


@transaction.atomic
def followup_delete(*, follow_up: FollowUp, actor=None) -> None:  # type: ignore[no-untyped-def]
    record_delete(follow_up, actor=actor)


__all__ = [
    "IllegalTransition",
    "chain_role_for",
    "project_create",
    "project_update",
    "project_transition",
    "project_delete",
    "followup_create",
    "followup_update",
    "followup_complete",
    "followup_cancel",
    "followup_delete",
]
