"""Tenancy in one place: what an office may see and change.

Provincial offices (and superusers without an office) see everything. Park and
partner offices see only their own contacts, interactions, projects and
follow-ups. Reference data, the enterprise directory and gap analysis are read by
everyone. Every list, detail, admin page, export and the change feed go through
:func:`scope_for_office`; a record outside the scope is "not found", never
"forbidden", so its existence does not leak.
"""

from __future__ import annotations

from typing import TypeVar

from django.db import models

from crm.models import Office

M = TypeVar("M", bound=models.Model)

# Models whose rows belong to one office (the field that names the office).
OFFICE_FIELD = "office"


class RecordNotFound(Exception):
    """The record does not exist or is not visible to the office; both look the same."""


def is_office_owned(model: type[models.Model]) -> bool:
    """Office-owned records are scoped; the shared enterprise directory is not."""
    return model._meta.label in {
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
