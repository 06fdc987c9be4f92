"""Writes on landing supervision: a project's plan and its progress entries.

The plan is written with the project (:func:`project_plan_set`, from the API's
PUT/PATCH/upsert/bulk and from admin). Progress entries are append-only
(:func:`progress_record`): a correction is a new entry naming the one it corrects,
with a reason; :func:`progress_update` and :func:`progress_delete` exist only to
refuse, so every interface gets the same answer. After each write the project's
light is recomputed in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.changes import changes_record
from crm.records import history_actor, record_save, record_validate
from recruitment.landing_models import LANDING_MILESTONES, PlanInvestment, ProgressEntry, ProjectPlan
from recruitment.models import Project, ProjectStatusChange
from recruitment.pipeline import SIGNED_OR_LATER, Status

PLAN_DATE_FIELDS: tuple[str, ...] = tuple(str(m) for m in LANDING_MILESTONES)
PLAN_FIELDS: tuple[str, ...] = (*PLAN_DATE_FIELDS, "investment")
_BEFORE_SIGNING = frozenset({Status.LEAD, Status.SCREENING, Status.NEGOTIATING})


class ProgressImmutable(Exception):
    """Progress entries are never changed or deleted; a correction is a new entry."""

    code = "immutable"

    def __init__(self) -> None:
        super().__init__(
            _("Progress entries are never changed or deleted; record a correction (a new entry with a reason).")
        )


def month_start(value: dt.date) -> dt.date:
    return value.replace(day=1)


def _refuse(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def project_was_signed(project: Project) -> bool:
    """Whether ``project`` is signed or went past signing (a suspended or lost project keeps its landing record)."""
    if project.status in SIGNED_OR_LATER:
        return True
    if project.status in _BEFORE_SIGNING:
        return False
    return ProjectStatusChange.objects.filter(project=project, to_status=Status.SIGNED).exists()


# --- the plan -------------------------------------------------------------------------------------


def plan_read(project: Project) -> dict[str, Any]:
    """The plan as plain values: each date or None, and the investment schedule by month."""
    plan = ProjectPlan.objects.filter(project=project).first()
    out: dict[str, Any] = {name: getattr(plan, name) if plan else None for name in PLAN_DATE_FIELDS}
    out["investment"] = [
        {"month": month, "cumulative": cumulative}
        for month, cumulative in PlanInvestment.objects.filter(project=project)
        .order_by("month")
        .values_list("month", "cumulative")
    ]
    return out


def _clean_investment(rows: Iterable[dict[str, Any]]) -> list[tuple[dt.date, Decimal]]:
    schedule: dict[dt.date, Decimal] = {}
    for i, row in enumerate(rows):
        month, cumulative = row.get("month"), row.get("cumulative")
        if not isinstance(month, dt.date):
            raise _refuse(f"investment.{i}.month", _("A month (YYYY-MM) is required."), "required")
        if cumulative is None or Decimal(cumulative) < 0:
            raise _refuse(
                f"investment.{i}.cumulative", _("A cumulative amount of zero or more is required."), "invalid"
            )
        month = month_start(month)
        if month in schedule:
            raise _refuse(
                f"investment.{i}.month",
                _("The month %(month)s appears twice.") % {"month": f"{month:%Y-%m}"},
                "duplicate",
            )
        schedule[month] = Decimal(cumulative)
    ordered = sorted(schedule.items())
    for (_m0, before), (m1, after) in zip(ordered, ordered[1:], strict=False):
        if after < before:
            raise _refuse(
                "investment",
                _("The schedule is cumulative: %(month)s plans less than the month before.") % {"month": f"{m1:%Y-%m}"},
                "not_cumulative",
            )
    return ordered


def _clean_dates(values: dict[str, Any]) -> None:
    dated = [(name, values[name]) for name in PLAN_DATE_FIELDS if values.get(name) is not None]
    for (_a, first), (b, second) in zip(dated, dated[1:], strict=False):
        if second < first:
            raise _refuse(b, _("Planned milestones follow each other: this date is before the one before it."), "order")


def plan_changes(current: dict[str, Any], plan: dict[str, Any], *, partial: bool) -> bool:
    """Would writing ``plan`` change the plan ``current``?"""
    for name, value in current.items():
        if name not in plan:
            if partial:
                continue
            given = [] if name == "investment" else None
        else:
            given = plan[name]
        if name == "investment":
            given = sorted((row["month"], row["cumulative"]) for row in given)
            value = [(row["month"], row["cumulative"]) for row in value]
        if given != value:
            return True
    return False


@transaction.atomic
def project_plan_set(
    *,
    project: Project,
    plan: dict[str, Any],
    actor=None,  # type: ignore[no-untyped-def]
    partial: bool = False,
    touch: bool = True,
) -> dict[str, Any]:
    """Write ``project``'s landing plan: the dates given and, if given, the whole investment schedule.

    ``partial`` keeps what ``plan`` leaves out (PATCH); otherwise left-out dates are
    cleared and a left-out schedule is emptied (PUT). ``touch`` bumps the project's
    version (a write of the plan alone); a caller that has just saved the project
    passes ``touch=False`` and the project is only re-rendered into the change feed.
    Returns the plan as written.
    """
    unknown = set(plan) - set(PLAN_FIELDS)
    if unknown:
        raise ValidationError({f"plan.{name}": _("Unknown field.") for name in sorted(unknown)})
    current = plan_read(project) if partial else {name: None for name in PLAN_DATE_FIELDS} | {"investment": []}
    values = {name: plan.get(name, current[name]) if partial else plan.get(name) for name in PLAN_DATE_FIELDS}
    _clean_dates(values)
    schedule = _clean_investment(plan["investment"]) if "investment" in plan else None
    if schedule is None and not partial:
        schedule = []
    if any(v is not None for v in values.values()) or schedule:
        if not project_was_signed(project):
            raise _refuse(
                "plan", _("A landing plan is kept from signing on; this project is not signed."), "not_signed"
            )
    row, _created = ProjectPlan.objects.select_for_update().get_or_create(project=project)
    for name, value in values.items():
        setattr(row, name, value)
    row.save()
    if schedule is not None:
        PlanInvestment.objects.filter(project=project).delete()
        PlanInvestment.objects.bulk_create(
            [PlanInvestment(project=project, month=m, cumulative=c) for m, c in schedule]
        )
    if touch:
        record_save(project, actor=actor, created=False, validate=False)
    else:
        changes_record(objects=[project])
    landing_changed(project_ids=[project.pk])
    return plan_read(project)


# --- progress -------------------------------------------------------------------------------------


ProgressHook = Callable[..., Any]  # called as hook(entry=<the ProgressEntry>)
_PROGRESS_HOOKS: dict[str, tuple[ProgressHook | None, ProgressHook | None]] = {}


def progress_hooks_register(
    *, name: str, before: ProgressHook | None = None, after: ProgressHook | None = None
) -> None:
    """Register a higher app's rule on every progress entry (the ledger's locked months), by name.

    :func:`progress_record` is the one path that writes an entry (API single, upsert and
    bulk, admin, seeds, commands), and it calls ``before(entry=…)`` before the entry is
    written (it may refuse with a ``ValidationError``; nothing is written) and
    ``after(entry=…)`` once it is, in the same transaction. An explicit call rather than
    a model signal, so a set-based write can never skip it. Registering a name twice
    replaces the first registration.
    """
    _PROGRESS_HOOKS[name] = (before, after)


@transaction.atomic
def progress_record(
    *,
    project: Project,
    kind: str,
    month: dt.date,
    actor=None,  # type: ignore[no-untyped-def]
    amount: Decimal | None = None,
    milestone: str = "",
    date: dt.date | None = None,
    corrects: ProgressEntry | None = None,
    reason: str = "",
    external_id: str = "",
    now: dt.datetime | None = None,
) -> ProgressEntry:
    """Append a progress entry to a signed project (a correction names the entry it corrects)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    if not project_was_signed(project):
        raise _refuse("project", _("Progress is recorded from signing on; this project is not signed."), "not_signed")
    if month is None:
        raise _refuse("month", _("A month (YYYY-MM) is required."), "required")
    month = month_start(month)
    if month > month_start(today):
        raise _refuse("month", _("Progress cannot be recorded for a month still to come."), "future")
    if kind == ProgressEntry.Kind.MILESTONE:
        if not milestone:
            raise _refuse("milestone", _("Name the milestone reached."), "required")
        if date is None:
            raise _refuse("date", _("Give the date the milestone was reached."), "required")
        if date > today:
            raise _refuse("date", _("A milestone cannot be reached in the future."), "future")
        if amount is not None:
            raise _refuse("amount", _("A milestone entry has no amount."), "not_allowed")
    elif kind in (ProgressEntry.Kind.INVESTMENT, ProgressEntry.Kind.FUNDS):
        if amount is None:
            raise _refuse("amount", _("An amount is required for this kind of entry."), "required")
        if milestone:
            raise _refuse("milestone", _("Only a milestone entry names a milestone."), "not_allowed")
    if corrects is not None:
        corrected = ProgressEntry.objects.select_for_update().get(pk=corrects.pk)
        if corrected.project_id != project.pk:
            raise _refuse("corrects", _("A correction corrects an entry of the same project."), "other_project")
        if corrected.kind != kind:
            raise _refuse("corrects", _("A correction keeps the kind of the entry it corrects."), "other_kind")
        if ProgressEntry.objects.filter(corrects=corrected).exists():
            raise _refuse(
                "corrects", _("This entry has already been corrected; correct the correction instead."), "corrected"
            )
        if not reason.strip():
            raise _refuse("reason", _("A correction needs a reason."), "required")
    entry = ProgressEntry(
        office_id=project.office_id,
        project=project,
        kind=kind,
        month=month,
        amount=amount,
        milestone=milestone or "",
        date=date,
        corrects=corrects,
        reason=reason,
        external_id=external_id,
        recorded_by=history_actor(actor),
        recorded_at=now,
    )
    record_validate(entry)
    for before, _after in list(_PROGRESS_HOOKS.values()):
        if before is not None:
            before(entry=entry)
    try:
        record_save(entry, actor=actor, created=True, validate=False)
    except ValidationError as exc:
        if corrects is not None and "corrects" in str(exc):
            raise _refuse("corrects", _("This entry has already been corrected."), "corrected") from exc
        raise
    except IntegrityError as exc:  # pragma: no cover - record_save turns these into ValidationError
        raise ValidationError(str(exc)) from exc
    for _before, after in list(_PROGRESS_HOOKS.values()):
        if after is not None:
            after(entry=entry)
    landing_changed(project_ids=[project.pk])
    return entry


def progress_update(*, entry: ProgressEntry, **_changes: Any) -> ProgressEntry:
    """Refused: entries are append-only."""
    raise ProgressImmutable()


def progress_delete(*, entry: ProgressEntry, **_changes: Any) -> None:
    """Refused: entries are append-only."""
    raise ProgressImmutable()


def effective_entries(entries: Sequence[ProgressEntry]) -> list[ProgressEntry]:
    """The entries that count: those no later entry corrects. Pure over the given entries."""
    corrected = {e.corrects_id for e in entries if e.corrects_id is not None}
    return [e for e in entries if e.pk not in corrected]


def landing_changed(*, project_ids: Sequence[Any], feed: bool = True) -> None:
    """A project's plan or progress changed: its light is recomputed now, in this transaction
    (``feed=False``: the caller records the projects' feed entries after, see ``lights_recompute``)."""
    from recruitment import lights_service

    lights_service.lights_recompute(project_ids=list(project_ids), feed=feed)
