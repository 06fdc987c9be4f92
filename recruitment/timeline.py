"""The timeline of an enterprise or a project: interactions, status changes and follow-ups, newest first.

Read with a fixed number of queries (one per kind of entry, plus one for the
interactions' contacts) whatever the number of entries, and scoped with
:mod:`crm.access`: a park user's timeline of a shared enterprise shows only their
office's interactions, projects and follow-ups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import models
from django.utils import timezone

from crm.access import scope_for_user
from crm.models import Enterprise, Interaction
from recruitment.models import FollowUp, Project, ProjectStatusChange

# Each kind is cut at this many recent entries; a page with thousands would not be read.
TIMELINE_LIMIT = 200


class EntryKind:
    INTERACTION = "interaction"
    STATUS_CHANGE = "status_change"
    FOLLOW_UP = "follow_up"


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    record: models.Model
    project: Project | None

    @property
    def is_future(self) -> bool:
        return self.at > timezone.now()


def _follow_up_moment(follow_up: FollowUp) -> datetime:
    """A done follow-up happened when it was done; any other is placed at its due time
    (so open ones still to come stand at the top of the timeline)."""
    if follow_up.status == FollowUp.Status.DONE and follow_up.completed_at is not None:
        return follow_up.completed_at
    return follow_up.due_at


def _merge(
    interactions: models.QuerySet[Interaction],
    changes: models.QuerySet[ProjectStatusChange],
    follow_ups: models.QuerySet[FollowUp],
    limit: int,
) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(at=i.occurred_at, kind=EntryKind.INTERACTION, record=i, project=i.project)
        for i in interactions.select_related("staff", "project")
        .prefetch_related("contacts")
        .order_by("-occurred_at")[:limit]
    ]
    entries += [
        TimelineEntry(at=c.changed_at, kind=EntryKind.STATUS_CHANGE, record=c, project=c.project)
        for c in changes.select_related("project", "changed_by").order_by("-changed_at", "-created_at")[:limit]
    ]
    entries += [
        TimelineEntry(at=_follow_up_moment(f), kind=EntryKind.FOLLOW_UP, record=f, project=f.project)
        for f in follow_ups.select_related("project", "assignee").order_by("-due_at")[:limit]
    ]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries


def timeline_for_enterprise(*, enterprise: Enterprise, user, limit: int = TIMELINE_LIMIT) -> list[TimelineEntry]:  # type: ignore[no-untyped-def]
    projects = scope_for_user(Project.objects.filter(enterprise=enterprise), user=user)
    return _merge(
        scope_for_user(Interaction.objects.filter(enterprise=enterprise), user=user),
        ProjectStatusChange.objects.filter(project__in=projects.values("pk")),
        scope_for_user(FollowUp.objects.filter(project__enterprise=enterprise), user=user),
        limit,
    )


def timeline_for_project(*, project: Project, user, limit: int = TIMELINE_LIMIT) -> list[TimelineEntry]:  # type: ignore[no-untyped-def]
    visible = scope_for_user(Project.objects.filter(pk=project.pk), user=user)
    return _merge(
        scope_for_user(Interaction.objects.filter(project=project), user=user),
        ProjectStatusChange.objects.filter(project__in=visible.values("pk")),
        scope_for_user(FollowUp.objects.filter(project=project), user=user),
        limit,
    )
