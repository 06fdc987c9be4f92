"""Tenancy on every admin path: changelists, change/delete/history views, autocomplete,
inlines and the choices of every related field.

Django admin reads rows through ``get_queryset`` on most paths, but not on all of
them: a foreign-key widget takes its choices from the related model's default
manager, a missing object answers with a redirect (which tells the user the id
exists somewhere), and django-simple-history's history views fall back to the
history table when the live row is not found. This module closes each of those
paths with :mod:`crm.access`, so another office's record is "not found" (404)
whichever URL is tried, and a park user can never pick another office's contact
or project in a form.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed

from crm.access import office_sees_everything, scope_for_user


def user_sees_everything(request: HttpRequest) -> bool:
    """Provincial staff (and superusers without an office) see every office's records."""
    user = request.user
    return bool(
        user.is_authenticated and office_sees_everything(user.office, is_superuser=user.is_superuser)  # type: ignore[union-attr]
    )


def scope_users(qs: models.QuerySet, request: HttpRequest) -> models.QuerySet:
    """Staff that a user may pick as owner, assignee or "our staff": their own office's people.

    Users are not office records, so :mod:`crm.access` does not scope them; naming
    another office's staff in a form would assign work across offices.
    """
    if user_sees_everything(request):
        return qs
    office_id = getattr(request.user, "office_id", None)
    return qs.filter(office_id=office_id) if office_id else qs.none()


def scope_related(qs: models.QuerySet, request: HttpRequest) -> models.QuerySet:
    """The rows of a related model that ``request.user`` may choose in a form."""
    if issubclass(qs.model, get_user_model()):
        return scope_users(qs, request)
    return scope_for_user(qs, user=request.user)


class TenantScopedMixin:
    """For ``ModelAdmin`` and ``InlineModelAdmin``: rows and related choices scoped to the user.

    ``scope_through`` names a foreign key through which a model without an office
    of its own is scoped (a status change is visible when its project is).
    """

    scope_through: str | None = None

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        qs = super().get_queryset(request)  # type: ignore[misc]
        if self.scope_through:
            related = qs.model._meta.get_field(self.scope_through).related_model
            visible = scope_for_user(related._default_manager.all(), user=request.user)
            return qs.filter(**{f"{self.scope_through}__in": visible.values("pk")})
        return scope_for_user(qs, user=request.user)

    def formfield_for_foreignkey(self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any):  # type: ignore[no-untyped-def]
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]
        if formfield is not None and getattr(formfield, "queryset", None) is not None:
            formfield.queryset = scope_related(formfield.queryset, request)
        return formfield

    def formfield_for_manytomany(self, db_field: models.ManyToManyField, request: HttpRequest, **kwargs: Any):  # type: ignore[no-untyped-def]
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]
        if formfield is not None and getattr(formfield, "queryset", None) is not None:
            formfield.queryset = scope_related(formfield.queryset, request)
        return formfield


class TenantModelAdminMixin(TenantScopedMixin):
    """``TenantScopedMixin`` plus the object views: a record outside the scope is a 404.

    Django admin would redirect to the index with "doesn't exist. Perhaps it was
    deleted?"; a 404 is what DESIGN.md asks for and tells nothing either way.
    """

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):  # type: ignore[no-untyped-def]
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is None:
            raise Http404
        return obj

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        # simple-history falls back to the history table when the live row is not
        # found: only staff who see everything may read a deleted record's history.
        if not user_sees_everything(request):
            self.get_object(request, unquote(object_id))
        return super().history_view(request, object_id, extra_context)  # type: ignore[misc]

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        """A past version, read only: reverting would write around the services."""
        if not user_sees_everything(request):
            self.get_object(request, unquote(object_id))
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        return super().history_form_view(request, object_id, version_id, extra_context)  # type: ignore[misc]

    def revert_disabled(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return True
