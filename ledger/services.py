"""Writes of the monthly ledger: submitting a month (snapshot and lock) and marking late corrections."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
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


def _office_share_lock(office_id: int) -> None:
    """Wait for a submission of the office that is under way (it holds the office row FOR UPDATE).

    Without it, an entry checked just before a submission commits would be written for
    the month it locks without the reason a correction needs. FOR KEY SHARE does not
    make entries of the same office wait for each other.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {Office._meta.db_table} WHERE id = %s FOR KEY SHARE", [office_id])


def locked_month_check(*, entry: ProgressEntry) -> None:
    """Refuse an entry for a submitted month that gives no reason (before it is written).

    Called by ``recruitment.landing.progress_record`` (registered in ``LedgerConfig.ready``),
    the one path that writes a progress entry.
    """
    _office_share_lock(entry.office_id)
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


# --- evidence files -------------------------------------------------------------------------------

_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}
EVIDENCE_KINDS = ("funds", "milestone")


def _sniff(head: bytes) -> str | None:
    for content_type, signatures in _SIGNATURES.items():
        if any(head.startswith(sig) for sig in signatures):
            return content_type
    return None


@transaction.atomic
def evidence_attach(
    *,
    entry: ProgressEntry,
    upload,  # type: ignore[no-untyped-def]  # a Django File / UploadedFile
    kind: str,
    actor=None,  # type: ignore[no-untyped-def]
    now: dt.datetime | None = None,
):  # type: ignore[no-untyped-def]
    """Store ``upload`` as evidence of ``entry`` through the evidence storage, within the limits of the settings.

    The file's type is read from its first bytes, not from its name or the client's
    word; only the types in ``EVIDENCE_CONTENT_TYPES`` are kept.
    """
    import uuid

    from ledger.models import EvidenceFile

    if entry.kind not in EVIDENCE_KINDS:
        raise _refuse("entry", _("Evidence is kept for funds-in-place and milestone entries."), "not_evidenced_kind")
    if kind not in EvidenceFile.Kind.values:
        raise _refuse("kind", _("Unknown kind of evidence."), "invalid")
    limit = settings.EVIDENCE_MAX_BYTES
    if upload.size > limit:
        raise _refuse(
            "file",
            _("The file is %(size)s bytes; at most %(limit)s bytes are accepted.")
            % {"size": upload.size, "limit": limit},
            "too_large",
        )
    upload.seek(0)
    content_type = _sniff(upload.read(16))
    upload.seek(0)
    if content_type is None or content_type not in settings.EVIDENCE_CONTENT_TYPES:
        raise _refuse(
            "file",
            _("This type of file is not accepted; send one of: %(types)s.")
            % {"types": ", ".join(settings.EVIDENCE_CONTENT_TYPES)},
            "type_not_allowed",
        )
    name = (getattr(upload, "name", "") or "evidence").rsplit("/", 1)[-1][:200]
    evidence = EvidenceFile(
        id=uuid.uuid4(),
        entry=entry,
        office_id=entry.office_id,
        kind=kind,
        name=name,
        content_type=content_type,
        size=upload.size,
        uploaded_by=actor if getattr(actor, "pk", None) else None,
        uploaded_at=now or timezone.now(),
    )
    evidence.file.save(name, upload, save=False)
    evidence.save()
    return evidence
