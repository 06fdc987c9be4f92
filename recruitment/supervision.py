"""Supervision orders (督办单): who may issue them, the table of moves, automatic orders.

States run open → plan_submitted → resolved; the issuer (for an automatic order,
the office's managers or the provincial office) may close an open order with a
note. Every move is recorded. At most one order per project is open at a time: a
partial unique constraint holds it even when two recomputes race, and automatic
orders are inserted with ``ON CONFLICT DO NOTHING`` under it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.changes import changes_record
from crm.models import Office
from crm.records import history_actor, record_save, record_validate
from recruitment.landing_models import OPEN_ORDER_STATUSES, OrderStatus, SupervisionOrder, SupervisionOrderMove
from recruitment.models import Project

MOVES: dict[str, frozenset[str]] = {
    OrderStatus.OPEN: frozenset({OrderStatus.PLAN_SUBMITTED, OrderStatus.CLOSED}),
    # A plan found wanting goes back to open; a resolved order is done.
    OrderStatus.PLAN_SUBMITTED: frozenset({OrderStatus.RESOLVED, OrderStatus.OPEN, OrderStatus.CLOSED}),
    OrderStatus.RESOLVED: frozenset(),
    OrderStatus.CLOSED: frozenset(),
}


class SupervisionNotAllowed(Exception):
    """The user may not do this to a supervision order; ``str()`` says why."""

    code = "not_allowed"


class IllegalOrderMove(Exception):
    code = "illegal_transition"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def is_provincial(user: Any) -> bool:
    return bool(
        user is not None and (user.is_superuser or (user.office_id and user.office.kind == Office.Kind.PROVINCIAL))
    )


def _manager_of(user: Any, office_id: Any, *, as_office: bool) -> bool:
    """A manager of the office; ``as_office``: the caller speaks for its office (an API key)."""
    return bool((user.is_manager or as_office) and user.office_id == office_id)


def may_issue(user: Any, project: Project, *, as_office: bool = False) -> bool:
    """The provincial office on any park's project; a park manager on their own office's projects."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if is_provincial(user):
        return True
    return _manager_of(user, project.office_id, as_office=as_office)


def _may_oversee(user: Any, order: SupervisionOrder, *, as_office: bool = False) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if is_provincial(user) or (order.issued_by_id and order.issued_by_id == user.pk):
        return True
    return _manager_of(user, order.office_id, as_office=as_office)


def _may_submit(user: Any, order: SupervisionOrder, *, as_office: bool = False) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return (
        user.pk in (order.responsible_id, order.leader_id)
        or user.office_id == order.office_id
        or _may_oversee(user, order, as_office=as_office)
    )


def _check_people(order: SupervisionOrder) -> None:
    for name in ("responsible", "leader"):
        person = getattr(order, name)
        if person is not None and person.office_id not in (order.office_id, None) and not is_provincial(person):
            raise ValidationError(
                {name: ValidationError(_("Choose someone of the project's office."), code="other_office")}
            )


@transaction.atomic
def order_create(
    *,
    project: Project,
    actor: Any,
    required: str,
    plan_due: dt.date,
    resolve_due: dt.date,
    responsible: Any = None,
    leader: Any = None,
    external_id: str = "",
    now: dt.datetime | None = None,
    as_office: bool = False,
) -> SupervisionOrder:
    """Issue an order by hand (the provincial office, or a manager of the project's office)."""
    if not may_issue(actor, project, as_office=as_office):
        raise SupervisionNotAllowed(
            _("Supervision orders are issued by the provincial office or a manager of the project's office.")
        )
    now = now or timezone.now()
    order = SupervisionOrder(
        office_id=project.office_id,
        project=project,
        issued_by=history_actor(actor),
        responsible=responsible if responsible is not None else project.owner,
        leader=leader,
        required=required,
        plan_due=plan_due,
        resolve_due=resolve_due,
        external_id=external_id,
    )
    _check_people(order)
    if SupervisionOrder.objects.filter(project=project, status__in=OPEN_ORDER_STATUSES).exists():
        raise ValidationError(
            {"project": ValidationError(_("This project already has an open supervision order."), code="open_order")}
        )
    record_validate(order)
    record_save(order, actor=actor, created=True, validate=False)
    SupervisionOrderMove.objects.create(
        order=order,
        from_status="",
        to_status=OrderStatus.OPEN,
        moved_by=history_actor(actor),
        moved_at=now,
        note=_("Order issued."),
    )
    return order


@transaction.atomic
def order_update(*, order: SupervisionOrder, actor: Any, as_office: bool = False, **data: Any) -> SupervisionOrder:
    """Change what an open order asks, who is on it and its deadlines (those who oversee it)."""
    allowed = {"required", "plan_due", "resolve_due", "responsible", "leader", "external_id"}
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError({name: _("Unknown field.") for name in sorted(unknown)})
    if not _may_oversee(actor, order):
        raise SupervisionNotAllowed(
            _("Only the issuer, the office's managers or the provincial office change an order.")
        )
    if not order.is_open and set(data) - {"external_id"}:
        raise ValidationError({"status": ValidationError(_("A finished order is not changed."), code="finished")})
    for name, value in data.items():
        setattr(order, name, value)
    _check_people(order)
    return record_save(order, actor=actor, created=False)


@transaction.atomic
def order_transition(
    *,
    order: SupervisionOrder,
    to: str,
    actor: Any,
    note: str = "",
    plan: str = "",
    now: dt.datetime | None = None,
    as_office: bool = False,
) -> SupervisionOrder:
    """Move ``order`` to ``to`` if the table allows it and ``actor`` may; the move is recorded."""
    now = now or timezone.now()
    current = order.status
    if to not in OrderStatus.values:
        raise IllegalOrderMove(_("“%(to)s” is not a state of a supervision order.") % {"to": to})
    if to not in MOVES.get(current, frozenset()):
        allowed = ", ".join(sorted(MOVES.get(current, ()))) or _("none")
        raise IllegalOrderMove(
            _("An order cannot move from “%(from)s” to “%(to)s”. Allowed: %(allowed)s.")
            % {"from": current, "to": to, "allowed": allowed}
        )
    if to == OrderStatus.PLAN_SUBMITTED:
        if not _may_submit(actor, order, as_office=as_office):
            raise SupervisionNotAllowed(_("The correction plan is submitted by the project's office."))
        if not plan.strip():
            raise ValidationError({"plan": ValidationError(_("Write the correction plan."), code="required")})
        order.plan = plan
    elif to == OrderStatus.CLOSED:
        closer_ok = (
            (order.issued_by_id and order.issued_by_id == getattr(actor, "pk", None))
            or (not order.issued_by_id and _may_oversee(actor, order))
            or is_provincial(actor)
        )
        if not closer_ok:
            raise SupervisionNotAllowed(_("An order is closed by the one who issued it."))
        if not note.strip():
            raise ValidationError({"note": ValidationError(_("Say why the order is closed."), code="required")})
        order.note = note
    else:
        if not _may_oversee(actor, order):
            raise SupervisionNotAllowed(
                _("Only the issuer, the office's managers or the provincial office decide this.")
            )
        if note:
            order.note = note
    order.status = to
    record_save(order, actor=actor, created=False, validate=False)
    SupervisionOrderMove.objects.create(
        order=order, from_status=current, to_status=to, moved_by=history_actor(actor), moved_at=now, note=note or plan
    )
    return order


def _required_text(reasons: Sequence[Mapping[str, Any]]) -> str:
    lines = [str(r.get("detail", "")) for r in reasons if r.get("color") == "red"] or [
        str(r.get("detail", "")) for r in reasons
    ]
    head = _("The project's light turned red. Submit a correction plan that answers:")
    return "\n".join([head, *(f"- {line}" for line in lines)])


def orders_open_automatically(
    *, projects: Sequence[Project], reasons: Mapping[Any, Sequence[Mapping[str, Any]]], today: dt.date, now: dt.datetime
) -> list[Any]:
    """Open an order for each project that turned red, unless one is open; the ids of those opened.

    One INSERT … ON CONFLICT DO NOTHING under the one-open-order constraint: a
    concurrent recompute that opened one first wins, and this one adds nothing.
    """
    if not projects:
        return []
    plan_due = today + dt.timedelta(days=settings.SUPERVISION_PLAN_DAYS)
    resolve_due = today + dt.timedelta(days=max(settings.SUPERVISION_RESOLVE_DAYS, settings.SUPERVISION_PLAN_DAYS))
    with translation.override(settings.LANGUAGE_CODE):
        orders = [
            SupervisionOrder(
                office_id=p.office_id,
                project_id=p.pk,
                responsible_id=p.owner_id,
                required=_required_text(reasons.get(p.pk, ())),
                plan_due=plan_due,
                resolve_due=resolve_due,
                auto=True,
            )
            for p in projects
        ]
        note = _("Opened automatically: the light turned red.")
    with transaction.atomic():
        SupervisionOrder.objects.bulk_create(orders, ignore_conflicts=True)
        created = set(SupervisionOrder.objects.filter(pk__in=[o.pk for o in orders]).values_list("pk", flat=True))
        made = [o for o in orders if o.pk in created]
        SupervisionOrderMove.objects.bulk_create(
            [
                SupervisionOrderMove(order=o, from_status="", to_status=OrderStatus.OPEN, moved_at=now, note=note)
                for o in made
            ]
        )
        changes_record(objects=made)
    return [o.pk for o in made]
