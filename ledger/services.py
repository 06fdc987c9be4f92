"""Writes of the monthly ledger: submitting a month (snapshot and lock) and marking late corrections."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Office
from ledger import ledger_rules as rules
from ledger.models import LedgerCorrection, LedgerSubmission
from ledger.selectors import ledger_compute
from recruitment.landing_models import ProgressEntry


def _refuse(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def submission_deadline(month: dt.date) -> dt.date:
    return rules.deadline_for(rules.month_of(month), day=settings.LEDGER_DEADLINE_DAY)


@transaction.atomic
def ledger_submit(
    *,
    office: Office,
    month: dt.date,
    actor=None,  # type: ignore[no-untyped-def]
    now: dt.datetime | None = None,
) -> LedgerSubmission:
    """Submit ``office``'s ledger of ``month``: store it as it is now and lock the month.

    Corrections of earlier locked months not yet reported are reported in this one.
    """
    now = now or timezone.now()
    month = rules.month_of(month)
    if office.kind != Office.Kind.PARK:
        raise _refuse("office", _("Only a park office submits a monthly ledger."), "not_park")
    if month >= rules.month_of(timezone.localdate(now)):
        raise _refuse("month", _("A month is submitted once it is over."), "not_over")
    # One submission per office at a time; entries recorded meanwhile wait for it.
    Office.objects.select_for_update().get(pk=office.pk)
    if LedgerSubmission.objects.filter(office=office, month=month).exists():
        raise _refuse(
            "month", _("The ledger of %(month)s has already been submitted.") % {"month": f"{month:%Y-%m}"}, "submitted"
        )
    deadline = submission_deadline(month)
    snapshot = ledger_compute(office=office, month=month)
    snapshot["submitted_at"] = now.isoformat()
    submission = LedgerSubmission.objects.create(
        office=office,
        month=month,
        submitted_at=now,
        submitted_by=actor if getattr(actor, "pk", None) else None,
        deadline=deadline,
        late=timezone.localdate(now) > deadline,
        snapshot=snapshot,
    )
    LedgerCorrection.objects.filter(office=office, month__lt=month, reported_in__isnull=True).update(reported_in=month)
    return submission


def locked_month_check(*, entry: ProgressEntry) -> None:
    """Refuse an entry for a submitted month that gives no reason (before it is written)."""
    if entry.reason.strip():
        return
    if LedgerSubmission.objects.filter(office_id=entry.office_id, month=rules.month_of(entry.month)).exists():
        raise _refuse(
            "reason",
            _("The ledger of %(month)s has been submitted: an entry for it is a correction and needs a reason.")
            % {"month": f"{entry.month:%Y-%m}"},
            "locked_month",
        )


def locked_month_mark(*, entry: ProgressEntry) -> LedgerCorrection | None:
    """Mark an entry written for a submitted month as a correction of that locked month."""
    submission = LedgerSubmission.objects.filter(office_id=entry.office_id, month=rules.month_of(entry.month)).first()
    if submission is None:
        return None
    return LedgerCorrection.objects.create(
        entry=entry,
        office_id=entry.office_id,
        month=submission.month,
        submission=submission,
        reason=entry.reason,
        recorded_by_id=entry.recorded_by_id,
        recorded_at=entry.recorded_at,
    )
