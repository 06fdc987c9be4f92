"""The counts the admin index shows a member of staff: their open and overdue follow-ups.

One aggregate query over the user's own open follow-ups (the assignee index
``followup_assignee_idx`` covers it), so the index page costs the same however
many follow-ups exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q
from django.utils import timezone

from crm.access import scope_for_user
from recruitment.models import FollowUp


@dataclass(frozen=True)
class FollowUpCounts:
    open: int
    overdue: int


def followup_counts_for_user(*, user, now: datetime | None = None) -> FollowUpCounts:  # type: ignore[no-untyped-def]
    """Open follow-ups assigned to ``user``, and how many of them are past their due time.

    "Overdue" here is what a user reads on their own list ("my follow-ups", past
    due): the due time has come. The escalation to managers waits longer
    (``RECRUITMENT_OVERDUE_AFTER_HOURS``).
    """
    if user is None or not user.is_authenticated:
        return FollowUpCounts(open=0, overdue=0)
    now = now or timezone.now()
    mine = scope_for_user(FollowUp.objects.filter(assignee=user, status=FollowUp.Status.OPEN), user=user)
    counts = mine.aggregate(open=Count("pk"), overdue=Count("pk", filter=Q(due_at__lte=now)))
    return FollowUpCounts(open=counts["open"], overdue=counts["overdue"])
