"""Quick logging: an interaction and, optionally, the next follow-up, in one unit of work.

Staff log contacts many times a day from an enterprise or a project page; the
interaction and its follow-up are written by the same services the API uses
(:func:`crm.services.interaction_log`, :func:`recruitment.services.followup_create`)
in one transaction, so a refused follow-up leaves no interaction behind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm.access import RecordNotFound, office_for_new_record
from crm.models import Contact, Enterprise, Interaction, Office
from crm.services import interaction_log
from recruitment.models import FollowUp, Project
from recruitment.services import followup_create


@dataclass(frozen=True)
class QuickLogResult:
    interaction: Interaction
    follow_up: FollowUp | None


def quick_log_office(*, actor, project: Project | None) -> Office | None:  # type: ignore[no-untyped-def]
    """The office that owns what is logged: the project's office when there is a project
    (a provincial officer's visit to a park's lead belongs in the park's pipeline:
    ``crm.access.office_for_new_record``), otherwise the officer's own."""
    office = getattr(actor, "office", None)
    if project is None:
        return office
    try:
        return office_for_new_record(
            office=office, owner=project.office, is_superuser=getattr(actor, "is_superuser", False)
        )
    except RecordNotFound:
        raise ValidationError({"project": _("Not found.")}, code="does_not_exist") from None


@transaction.atomic
def interaction_quick_log(
    *,
    actor,  # type: ignore[no-untyped-def]
    enterprise: Enterprise,
    project: Project | None,
    kind: str,
    occurred_at: datetime,
    summary: str,
    contacts: Iterable[Contact] = (),
    follow_up_due_at: datetime | None = None,
    follow_up_note: str = "",
) -> QuickLogResult:
    """Log the interaction and create the follow-up (assigned to the actor) when a due time is given."""
    if project is not None and project.enterprise_id != enterprise.pk:
        raise ValidationError({"project": _("This project is with another enterprise.")}, code="invalid")
    office = quick_log_office(actor=actor, project=project)
    if office is None:
        raise ValidationError(
            _("Your account belongs to no office: choose a project to log against."), code="no_office"
        )
    interaction = interaction_log(
        office=office,
        actor=actor,
        contacts=contacts,
        enterprise=enterprise,
        project=project,
        kind=kind,
        occurred_at=occurred_at,
        summary=summary,
        staff=actor,
    )
    follow_up = None
    if follow_up_due_at is not None:
        if project is None:
            raise ValidationError(
                {"follow_up_due_at": _("A follow-up belongs to a project: choose the project.")}, code="required"
            )
        follow_up = followup_create(
            office=office,
            actor=actor,
            project=project,
            assignee=actor,
            kind=FollowUp.Kind.MANUAL,
            due_at=follow_up_due_at,
            note=follow_up_note or summary,
        )
    return QuickLogResult(interaction=interaction, follow_up=follow_up)
