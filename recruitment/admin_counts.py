"""The counts the admin index shows a member of staff: their open and overdue follow-ups.

Counted by ``recruitment.selectors.followup_counts_for_user`` (one aggregate query),
the same count the "my follow-ups" page shows in its title, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from recruitment import selectors


@dataclass(frozen=True)
class FollowUpCounts:
    open: int
    overdue: int


def followup_counts_for_user(*, user, now: datetime | None = None) -> FollowUpCounts:  # type: ignore[no-untyped-def]
    """Open follow-ups assigned to ``user``, and how many of them are past their due time.

    "Overdue" here is what a user reads on their own list ("my follow-ups", past
    due): the due time has come. The escalation to managers waits longer
    (``RECRUITMENT_OVERDUE_AFTER_HOURS``), which the selector counts as ``overdue``.
    """
    counts = selectors.followup_counts_for_user(user=user, now=now)
    return FollowUpCounts(open=counts["open"], overdue=counts["due"])
