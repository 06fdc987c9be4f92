"""Tenancy in one place: what an office may see and change.

Provincial offices (and superusers without an office) see everything. Park and
partner offices see only their own contacts, interactions, projects and
follow-ups. Reference data, the enterprise directory and gap analysis are read by
everyone. Every list, detail, admin page, export and the change feed go through
:func:`scope_for_office`; a record outside the scope is "not found", never
"forbidden", so its existence does not leak.

Writes follow reads for office records: an office writes where it reads, so the
provincial office also writes on every office's projects; what it adds there
(a follow-up, an interaction) belongs to the project's office
(:func:`office_for_new_record`), and the history names who wrote it.

The enterprise directory is shared for reading, not for writing: an enterprise
is changed, merged or deleted only by the office that created it or by the
provincial office, and a reference enterprise (no creating office) only by the
provincial office (:func:`enterprise_may_change`). The services that write
enterprises ask :func:`enterprise_check_change`, so the admin, imports, merge,
the API and commands all meet the same rule; a refusal is
:class:`EnterpriseChangeRefused`.
"""

from __future__ import annotations

from typing import TypeVar

from django.db import models
from django.utils.translation import gettext as _

from crm.models import Enterprise, Office

M = TypeVar("M", bound=models.Model)

# Models whose rows belong to one office (the field that names the office).
OFFICE_FIELD = "office"


class RecordNotFound(Exception):
    """The record does not exist or is not visible to the office; both look the same."""


def is_office_owned(model: type[models.Model]) -> bool:
    """Office-owned records are scoped; the shared enterprise directory is not. A proxy model
    ("my supervision orders") is its table's."""
    return model._meta.concrete_model._meta.label in {
        "crm.Contact",
        "crm.Interaction",
        "recruitment.Project",
        "recruitment.FollowUp",
        "recruitment.ProgressEntry",
        "recruitment.SupervisionOrder",
    }


def office_sees_everything(office: Office | None, *, is_superuser: bool = False) -> bool:
    if office is None:
        return is_superuser
    return office.kind == Office.Kind.PROVINCIAL


def enterprise_external_id_visible(*, enterprise_office_id: int | None, office_id: int | None) -> bool:
    """An enterprise's ``external_id`` is its creating office's own id for it: the directory is
    shared, that id is not. Only the creating office sees it, filters or searches by it, or
    finds the enterprise by it; every other office (the provincial one too) reads null.
    """
    return enterprise_office_id is not None and enterprise_office_id == office_id


def enterprises_by_external_id(
    qs: models.QuerySet[M], *, office_id: int | None, external_id: str
) -> models.QuerySet[M]:
    """The enterprises ``office_id`` created under ``external_id`` (never another office's)."""
    if office_id is None:
        return qs.none()
    return qs.filter(office_id=office_id, external_id=external_id)


def scope_for_office(
    qs: models.QuerySet[M], *, office: Office | None, is_superuser: bool = False
) -> models.QuerySet[M]:
    """``qs`` narrowed to what ``office`` may see (an empty queryset for nobody)."""
    if not is_office_owned(qs.model):
        if office is None and not is_superuser:
            return qs.none()
        return qs
    if office_sees_everything(office, is_superuser=is_superuser):
        return qs
    if office is None:
        return qs.none()
    return qs.filter(**{OFFICE_FIELD: office})


def scope_for_user(qs: models.QuerySet[M], *, user) -> models.QuerySet[M]:  # type: ignore[no-untyped-def]
    if user is None or not user.is_authenticated:
        return qs.none()
    return scope_for_office(qs, office=user.office, is_superuser=user.is_superuser)


def access_record(qs: models.QuerySet[M], *, office: Office | None, pk, is_superuser: bool = False) -> M:  # type: ignore[no-untyped-def]
    """The record ``pk`` if ``office`` may see it; otherwise :class:`RecordNotFound`."""
    try:
        return scope_for_office(qs, office=office, is_superuser=is_superuser).get(pk=pk)
    except (qs.model.DoesNotExist, ValueError, TypeError) as exc:
        raise RecordNotFound(f"{qs.model._meta.verbose_name} not found") from exc
    except Exception as exc:
        # A malformed UUID raises ValidationError from the field conversion.
        from django.core.exceptions import ValidationError

        if isinstance(exc, ValidationError):
            raise RecordNotFound(f"{qs.model._meta.verbose_name} not found") from exc
        raise


def user_can_change_office_records(user) -> bool:  # type: ignore[no-untyped-def]
    return bool(user and user.is_authenticated and (user.is_superuser or user.office_id))


# --- Who may change the shared enterprise directory ------------------------------------


class EnterpriseChangeRefused(Exception):
    """The acting office may read the enterprise but not change it; ``str()`` is the message."""

    code = "permission_denied"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or enterprise_change_refusal())


def enterprise_change_refusal() -> str:
    return _("Only the office that created this enterprise, or the provincial office, may change it.")


def enterprise_may_change(*, office: Office | None, enterprise: Enterprise, is_superuser: bool = False) -> bool:
    """May ``office`` change (or merge, or delete) ``enterprise``?

    The provincial office (and a superuser without an office) may change every
    enterprise; another office only the enterprises it created. A reference
    enterprise (``office`` empty) is the provincial office's alone.
    """
    if office_sees_everything(office, is_superuser=is_superuser):
        return True
    return office is not None and enterprise.office_id is not None and enterprise.office_id == office.pk


def user_may_change_enterprise(user, enterprise: Enterprise) -> bool:  # type: ignore[no-untyped-def]
    """:func:`enterprise_may_change` for a signed-in user (or an API key's service account)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return enterprise_may_change(office=user.office, enterprise=enterprise, is_superuser=user.is_superuser)


def actor_may_change_enterprise(actor, enterprise: Enterprise) -> bool:  # type: ignore[no-untyped-def]
    """May the write's ``actor`` change ``enterprise``?

    ``actor`` is who the write names in its history. A write on nobody's behalf (a
    seed, a migration, a task: ``actor`` None or anonymous) is the system's own and
    is not refused; every request path, import and command passes its user.
    """
    if actor is None or not getattr(actor, "is_authenticated", False):
        return True
    return user_may_change_enterprise(actor, enterprise)


def enterprise_check_change(*, actor, enterprise: Enterprise) -> None:  # type: ignore[no-untyped-def]
    """Raise :class:`EnterpriseChangeRefused` unless ``actor`` may change ``enterprise``."""
    if not actor_may_change_enterprise(actor, enterprise):
        raise EnterpriseChangeRefused()


# --- Writing on another office's records --------------------------------------------------


def office_for_new_record(*, office: Office | None, owner: Office, is_superuser: bool = False) -> Office:
    """The office a record that ``office`` adds under ``owner``'s record belongs to.

    An office writes where it reads: its own records, and for the provincial office
    every office's. A follow-up or interaction added to a project belongs to the
    project's office (``owner``) whoever writes it. Anyone else: :class:`RecordNotFound`.
    """
    if office_sees_everything(office, is_superuser=is_superuser) or (office is not None and office.pk == owner.pk):
        return owner
    raise RecordNotFound(_("Not found."))
