"""The monthly ledger's deadline reminder, sent through recruitment's reminder outbox.

A month's ledger is due on ``LEDGER_DEADLINE_DAY`` of the next month. From
``LEDGER_REMINDER_DAYS_BEFORE`` days before that day until the day itself, the beat's
run (``ledger.remind_ledger_deadline``) records a reminder for every manager, and
every chat robot, of each park office that has not submitted the month
(:func:`recruitment.reminders.manager_notices_claim`). The outbox's unique
constraints keep it to one per person (and robot), office and deadline however
often the run repeats, two beats run it or a worker dies; the sending is claim →
send → mark like every reminder. When it is sent, a reminder whose office has
submitted in the meantime is skipped (:func:`reminder_still_needed`, registered in
``LedgerConfig.ready``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from crm.models import Office
from ledger import ledger_rules as rules
from ledger.models import LedgerSubmission
from recruitment.models import ReminderDelivery
from recruitment.reminders import Publisher, manager_notices_claim, publish_sends

logger = logging.getLogger(__name__)

KIND = ReminderDelivery.Kind.LEDGER_DUE


def reminder_window(month: dt.date) -> tuple[dt.date, dt.date]:
    """The days (first, last) on which the reminder of ``month``'s ledger may go out."""
    deadline = rules.deadline_for(rules.month_of(month), day=settings.LEDGER_DEADLINE_DAY)
    return deadline - dt.timedelta(days=int(settings.LEDGER_REMINDER_DAYS_BEFORE)), deadline


def months_to_remind(today: dt.date) -> list[dt.date]:
    """The months whose reminder window contains ``today`` (the last month, usually; none after its deadline)."""
    this = rules.month_of(today)
    candidates = (rules.previous_month(this), this)
    return [m for m in candidates if reminder_window(m)[0] <= today <= reminder_window(m)[1]]


def _deadline_at(deadline: dt.date) -> dt.datetime:
    """The outbox's key for a deadline: the start of the deadline day, local time."""
    return timezone.make_aware(dt.datetime.combine(deadline, dt.time.min))


def _link(month: dt.date) -> str:
    try:
        return f"{reverse('ledger:monthly')}?month={month:%Y-%m}"
    except NoReverseMatch:  # pragma: no cover - the ledger's pages are always mounted
        return ""


def offices_not_submitted(*, month: dt.date) -> list[int]:
    """Park offices that have not submitted ``month``'s ledger (one query)."""
    return list(
        Office.objects.filter(kind=Office.Kind.PARK)
        .exclude(Exists(LedgerSubmission.objects.filter(office=OuterRef("pk"), month=rules.month_of(month))))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def ledger_reminders_claim(*, now: dt.datetime | None = None, publish: Publisher = publish_sends) -> list[uuid.UUID]:
    """Record (once) and queue the deadline reminders that are due at ``now``; the ids recorded by this call."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    claimed: list[uuid.UUID] = []
    for month in months_to_remind(today):
        offices = offices_not_submitted(month=month)
        note, link = f"{month:%Y-%m}", _link(month)
        _first, deadline = reminder_window(month)
        claimed += manager_notices_claim(
            kind=KIND,
            notices={office_id: (note, link) for office_id in offices},
            due_at=_deadline_at(deadline),
            now=now,
            publish=publish,
        )
    if claimed:
        logger.info("ledger deadline: %d reminder(s) recorded", len(claimed))
    return claimed


def reminder_still_needed(delivery: ReminderDelivery) -> str | None:
    """Why a deadline reminder should not go out any more (the month was submitted), or None."""
    try:
        month = rules.parse_month(delivery.note)
    except ValueError:
        return "The reminder names no month."
    if LedgerSubmission.objects.filter(office_id=delivery.office_id, month=month).exists():
        return f"The ledger of {month:%Y-%m} has been submitted."
    return None
