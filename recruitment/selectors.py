"""Reads on the pipeline that reminders, the admin and the digest share.

Every read of office-owned records goes through :mod:`crm.access`, so a user who
moves to another office stops seeing the follow-ups and projects of the old one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from crm.access import office_sees_everything, scope_for_user
from crm.models import Interaction, Office, User
from recruitment.models import FollowUp, Project, ReminderDelivery
from recruitment.pipeline import CLOSED, SIGNED_OR_LATER


def overdue_after() -> timedelta:
    """How long after its due time an open follow-up counts as overdue (a setting)."""
    return timedelta(hours=settings.RECRUITMENT_OVERDUE_AFTER_HOURS)


def followups_due(*, now: datetime, kind: str = ReminderDelivery.Kind.DUE) -> QuerySet[FollowUp]:
    """Open follow-ups that need a reminder of ``kind`` (due or overdue) and have none yet.

    Both ranges are range scans of the partial index ``followup_open_due_idx``, which
    holds only open follow-ups: the cost follows the number due, not the number ever
    made. A follow-up already a day late when first seen gets only the overdue
    reminder, not both at once.
    """
    late = now - overdue_after()
    qs = FollowUp.objects.filter(status=FollowUp.Status.OPEN)
    if kind == ReminderDelivery.Kind.DUE:
        qs = qs.filter(due_at__lte=now, due_at__gt=late)
    elif kind == ReminderDelivery.Kind.OVERDUE:
        qs = qs.filter(due_at__lte=late)
    else:
        raise ValueError(f"not a follow-up reminder kind: {kind}")
    already = ReminderDelivery.objects.filter(follow_up=OuterRef("pk"), kind=kind, due_at=OuterRef("due_at"))
    return qs.filter(~Exists(already)).order_by("due_at")


def followups_of_user(*, user: User) -> QuerySet[FollowUp]:
    """Follow-ups assigned to ``user`` that their office may see."""
    return scope_for_user(FollowUp.objects.all(), user=user).filter(assignee=user)


def followups_open_of_user(*, user: User) -> QuerySet[FollowUp]:
    return followups_of_user(user=user).filter(status=FollowUp.Status.OPEN).order_by("due_at")


def followup_counts_for_user(*, user: User | None, now: datetime | None = None) -> dict[str, int]:
    """How many open follow-ups ``user`` has (``open``), how many of them are past their due
    time (``due``) and how many overdue, past the escalation delay (``overdue``).

    One aggregate query over the user's own open follow-ups (the assignee index
    ``followup_assignee_idx`` covers it), so the "my follow-ups" page and the admin
    index cost the same however many follow-ups exist. Nobody signed in has none.
    """
    if user is None or not user.is_authenticated:
        return {"open": 0, "due": 0, "overdue": 0}
    now = now or timezone.now()
    open_qs = followups_open_of_user(user=user)
    counts = open_qs.aggregate(
        open=Count("pk"),
        due=Count("pk", filter=Q(due_at__lte=now)),
        overdue=Count("pk", filter=Q(due_at__lte=now - overdue_after())),
    )
    return {key: int(value or 0) for key, value in counts.items()}


def projects_stale(*, now: datetime | None = None, days: int | None = None) -> QuerySet[Project]:
    """Open projects without an interaction for ``days`` (default: the setting, 30).

    A project counts from its creation: a project created yesterday is not stale
    just because nobody has called yet.
    """
    now = now or timezone.now()
    days = settings.RECRUITMENT_STALE_AFTER_DAYS if days is None else days
    cutoff = now - timedelta(days=days)
    last_contact = (
        Interaction.objects.filter(project=OuterRef("pk"))
        .order_by()
        .values("project")
        .annotate(last=Max("occurred_at"))
        .values("last")
    )
    return (
        Project.objects.exclude(status__in=CLOSED)
        .filter(created_at__lte=cutoff)
        .annotate(last_interaction_at=Subquery(last_contact))
        .filter(Q(last_interaction_at__isnull=True) | Q(last_interaction_at__lte=cutoff))
        .select_related("enterprise", "park", "owner")
        .order_by(F("last_interaction_at").asc(nulls_first=True), "created_at")
    )


def projects_stale_for_user(*, user: User, now: datetime | None = None) -> QuerySet[Project]:
    """The stale projects ``user`` should hear about: their own, and for a manager their office's."""
    stale = scope_for_user(projects_stale(now=now), user=user)
    if user.is_manager and user.office_id:
        if office_sees_everything(user.office):
            return stale
        return stale.filter(Q(owner=user) | Q(office_id=user.office_id))
    return stale.filter(owner=user)


WARNING_COLORS = ("red", "yellow")


def projects_lit_for_user(*, user: User) -> QuerySet[Project]:
    """The signed projects with a yellow or red light ``user`` should hear about, red first, longest first.

    The same people as the stale projects: their own, and for a manager their office's
    (every office's for a provincial manager)."""
    lit = scope_for_user(Project.objects.filter(status__in=SIGNED_OR_LATER, light__color__in=WARNING_COLORS), user=user)
    if user.is_manager and user.office_id:
        if not office_sees_everything(user.office):
            lit = lit.filter(Q(owner=user) | Q(office_id=user.office_id))
    else:
        lit = lit.filter(owner=user)
    # "red" sorts before "yellow"
    return lit.select_related("enterprise", "park", "light").order_by("light__color", "light__since", "title", "pk")


LIGHT_ORDER = ("red", "yellow", "green")


def stage_lights(
    *, stage_id: int, park_ids: list[int], user: User, worst: int = 5
) -> tuple[dict[str, int], list[Project]]:
    """The lights of the signed projects ``user`` may see that target a stage in these parks.

    Counts by colour and the ``worst`` red or yellow projects (red first, longest
    first), in two queries whatever the number of projects; one when the counts show no
    red or yellow project (the worst are then none)."""
    targeting = Project.stages.through.objects.filter(stage_id=stage_id).values("project_id")
    signed = scope_for_user(
        Project.objects.filter(status__in=SIGNED_OR_LATER, light__isnull=False, park_id__in=park_ids, pk__in=targeting),
        user=user,
    )
    counts = dict(signed.values_list("light__color").annotate(n=Count("pk")).order_by())
    if worst <= 0 or not any(counts.get(color) for color in WARNING_COLORS):
        return {color: counts.get(color, 0) for color in LIGHT_ORDER}, []
    projects = list(
        signed.filter(light__color__in=WARNING_COLORS)
        .select_related("light", "park")
        .order_by("light__color", "light__since", "title", "pk")[:worst]
    )
    return {color: counts.get(color, 0) for color in LIGHT_ORDER}, projects


def office_managers(*, office_id: object) -> QuerySet[User]:
    """Active managers of an office who have an e-mail address."""
    return User.objects.filter(office_id=office_id, is_manager=True, is_active=True).exclude(email="")


def managers_of_offices(*, office_ids: Iterable[int]) -> QuerySet[User]:
    """Active managers with an e-mail address of any of the offices."""
    return User.objects.filter(office_id__in=list(office_ids), is_manager=True, is_active=True).exclude(email="")


def provincial_office_ids() -> list[int]:
    return list(Office.objects.filter(kind=Office.Kind.PROVINCIAL).values_list("pk", flat=True))


def provincial_recipients() -> tuple[list[User], list[str]]:
    """Who hears of a large project: the provincial offices' managers and the offices' own addresses."""
    managers = list(
        User.objects.filter(office__kind=Office.Kind.PROVINCIAL, is_manager=True, is_active=True).exclude(email="")
    )
    office_addresses = list(
        Office.objects.filter(kind=Office.Kind.PROVINCIAL).exclude(email="").values_list("email", flat=True)
    )
    return managers, office_addresses


def digest_recipients(*, now: datetime) -> QuerySet[User]:
    """Active users with an address who have open follow-ups, own an open project or one under a warning light."""
    has_open_followups = FollowUp.objects.filter(assignee=OuterRef("pk"), status=FollowUp.Status.OPEN)
    owns_open_project = Project.objects.filter(owner=OuterRef("pk")).exclude(status__in=CLOSED)
    owns_warned_project = Project.objects.filter(owner=OuterRef("pk"), light__color__in=WARNING_COLORS)
    return (
        User.objects.filter(is_active=True)
        .exclude(email="")
        .filter(
            Exists(has_open_followups) | Exists(owns_open_project) | Exists(owns_warned_project) | Q(is_manager=True)
        )
        .order_by("pk")
    )


def deliveries_for_user(*, user: User) -> QuerySet[ReminderDelivery]:
    """The deliveries ``user`` may see: tenancy follows the follow-up's or the project's office.

    Deliveries are not office records themselves, so :mod:`crm.access` is applied to
    the records they point at; a delivery addressed to the user is always theirs.
    """
    qs = ReminderDelivery.objects.select_related("follow_up", "project", "recipient")
    if user is None or not user.is_authenticated:
        return qs.none()
    if office_sees_everything(user.office, is_superuser=user.is_superuser):
        return qs
    projects = scope_for_user(Project.objects.all(), user=user).values("pk")
    return qs.filter(Q(project__in=projects) | Q(recipient=user) | Q(project__isnull=True, office=user.office))


def deliveries_unqueued(*, now: datetime) -> QuerySet[ReminderDelivery]:
    """Pending deliveries nobody has put on the broker yet whose (next) attempt is due."""
    return ReminderDelivery.objects.filter(
        state=ReminderDelivery.State.PENDING, queued_at__isnull=True, next_attempt_at__lte=now
    ).order_by("next_attempt_at")


def deliveries_stuck(*, now: datetime, requeue_after: timedelta) -> QuerySet[ReminderDelivery]:
    """Deliveries that should have gone out by now: queued long ago, or claimed by a worker that died."""
    return ReminderDelivery.objects.filter(
        Q(state=ReminderDelivery.State.PENDING, queued_at__lte=now - requeue_after, next_attempt_at__lte=now)
        | Q(state=ReminderDelivery.State.SENDING, claimed_until__lte=now)
    ).order_by("next_attempt_at")
