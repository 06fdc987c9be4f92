"""Admin writes through the services, with the services' refusals shown on the form.

Django admin validates the form, then calls ``save_model`` and ``save_related``,
then redirects: by the time a service refuses a write (a duplicate credit code,
a contact of another enterprise, a project with no stage), the view has already
decided the form was valid. So a refusal is raised as :class:`ServiceRefused`
out of ``changeform_view``'s transaction, which rolls back everything written for
that request (the record and any inline rows), and the view runs once more on
the same POST with the refusal attached to the forms, which re-renders them with
the message on the field it names. Nothing is half-saved, and the rules stay in
the services where the API and imports meet them too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from crm.access import EnterpriseChangeRefused
from crm.credit_code import normalize_credit_code
from crm.external_ids import external_id_validate
from crm.records import DuplicateRecord, VersionConflict

_ERRORS_ATTR = "_service_refusals"
MAIN_FORM = ""
# The hidden input of the change form that carries the version the user opened.
LOADED_VERSION_FIELD = "_loaded_version"


class ServiceRefused(Exception):
    """A service refused the write; ``error`` goes onto the form named by ``form_prefix``."""

    def __init__(self, error: ValidationError, *, form_prefix: str = MAIN_FORM) -> None:
        self.error = error
        self.form_prefix = form_prefix
        super().__init__(str(error))


def as_validation_error(exc: Exception) -> ValidationError:
    """The services' refusals as one ``ValidationError`` keyed by field where one is named."""
    if isinstance(exc, ValidationError):
        return exc
    if isinstance(exc, DuplicateRecord):
        return ValidationError({exc.field: str(exc)}, code="duplicate")
    if isinstance(exc, VersionConflict):
        return ValidationError(str(exc), code="version_conflict")
    if isinstance(exc, EnterpriseChangeRefused):
        return ValidationError(str(exc), code=exc.code)
    return ValidationError(str(exc))


SERVICE_ERRORS: tuple[type[Exception], ...] = (
    ValidationError,
    DuplicateRecord,
    VersionConflict,
    EnterpriseChangeRefused,
)


def add_service_error(form: forms.BaseForm, error: ValidationError) -> None:
    """Put ``error`` on the fields it names; errors on fields the form lacks become form errors."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        if field != NON_FIELD_ERRORS and field in form.fields:
            form.add_error(field, errors)
        else:
            label = "" if field == NON_FIELD_ERRORS else f"{field}: "
            form.add_error(None, [f"{label}{message}" for e in errors for message in e.messages])


class ExternalIdFormMixin:
    """The external-id rule of :mod:`crm.external_ids` on an admin form.

    Django's text fields trim what is typed; an external id is never trimmed (the API
    refuses ``" A-1"`` in a body and a URL alike), so the value is kept as typed and
    a new one must follow the rule. A value kept unchanged from before the rule is
    not refused on every later edit of the record.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("external_id")  # type: ignore[attr-defined]
        if isinstance(field, forms.CharField):
            field.strip = False

    def clean_external_id(self) -> str:
        value = self.cleaned_data.get("external_id") or ""  # type: ignore[attr-defined]
        if value != (self.initial.get("external_id") or ""):  # type: ignore[attr-defined]
            external_id_validate(value)
        return value


def https_url_formfield(db_field: models.Field, **kwargs: Any) -> forms.Field | None:
    """A model form's field for ``db_field``, a URL typed without a scheme read as https
    (Django 6's default, chosen now): the ``Meta.formfield_callback`` of a form that may
    build a URL field from its model. A form's declared field is used as it is; the
    admin drops a declared field it shows read-only and builds the model's, first with
    the form's callback, then with its own (the admin's ``formfield_overrides``)."""
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class ServiceErrorsForm(ExternalIdFormMixin, forms.ModelForm):
    """A model form that shows a refusal the service gave on the previous attempt,
    with the external-id rule on its ``external_id`` field."""

    service_errors: dict[str, ValidationError] = {}

    def _post_clean(self) -> None:
        super()._post_clean()
        error = self.service_errors.get(self.prefix or MAIN_FORM)
        if error is not None:
            add_service_error(self, error)


class CreditCodeFormMixin:
    """Typed credit codes are normalised (upper case, no spaces) before validation,
    as the service stores them; otherwise a code typed in lowercase is "invalid"."""

    def clean_credit_code(self) -> str | None:
        return normalize_credit_code(self.cleaned_data.get("credit_code"))  # type: ignore[attr-defined]


def service_errors_for(request: HttpRequest) -> dict[str, ValidationError]:
    return getattr(request, _ERRORS_ATTR, {})


def adopt(target: models.Model, saved: models.Model) -> None:
    """Make the admin's unsaved instance the record the service created.

    Django admin logs and redirects using the instance it passed to
    ``save_model``; the service builds its own, so the admin's copy takes its state.
    """
    for field in saved._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False
    target._state.db = saved._state.db


def form_data(form: forms.ModelForm, fields: Iterable[str], *, only_changed: bool) -> dict[str, Any]:
    """The cleaned values of ``fields`` a service accepts (only the changed ones on update,
    so a service that treats "given" as "set by hand" — the chain role — is not misled)."""
    names = form.changed_data if only_changed else list(form.cleaned_data)
    return {name: form.cleaned_data[name] for name in names if name in fields and name in form.cleaned_data}


class ServiceWriteAdminMixin:
    """For ``ModelAdmin``: create, update and delete through the services.

    Subclasses implement ``service_create``, ``service_update`` and
    ``service_delete``; many-to-many fields are passed to the services by them
    (``save_related`` never calls ``form.save_m2m()``), and inlines that are
    :class:`ServiceInlineMixin` save each row through their own services.
    """

    form = ServiceErrorsForm

    def service_create(self, request: HttpRequest, form: forms.ModelForm) -> models.Model:
        raise NotImplementedError

    def service_update(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm) -> models.Model:
        raise NotImplementedError

    def service_delete(self, request: HttpRequest, obj: models.Model) -> None:
        raise NotImplementedError

    # --- Django admin hooks -------------------------------------------------------
    def get_form(self, request: HttpRequest, obj: models.Model | None = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        form_class = super().get_form(request, obj, change, **kwargs)  # type: ignore[misc]
        form_class.service_errors = service_errors_for(request)
        return form_class

    def save_model(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm, change: bool) -> None:
        try:
            if change:
                self.check_version(request, obj)
                self.service_update(request, obj, form)
            else:
                adopt(obj, self.service_create(request, form))
        except SERVICE_ERRORS as exc:
            raise ServiceRefused(as_validation_error(exc)) from exc

    def check_version(self, request: HttpRequest, obj: models.Model) -> None:
        """Refuse to save over a change made since the form was opened (the admin's If-Match).

        The change form carries the version it showed (``templates/admin/change_form.html``);
        without this, the second of two people editing one record silently undoes the first.
        """
        shown = request.POST.get(LOADED_VERSION_FIELD, "")
        current = getattr(obj, "version", None)
        if current is not None and shown.isdigit() and int(shown) != current:
            raise ValidationError(
                _(
                    "Someone else changed this record while you were editing it (it is now at version "
                    "%(current)s, you opened version %(shown)s). Check the values below and save again."
                )
                % {"current": current, "shown": shown},
                code="version_conflict",
            )

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool) -> None:
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        inline = getattr(formset, "service_inline", None)
        if inline is not None:
            inline.save_rows(request, formset)
        else:
            formset.save()

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        try:
            self.service_delete(request, obj)
        except SERVICE_ERRORS as exc:
            raise ServiceRefused(as_validation_error(exc)) from exc

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        except ServiceRefused as refused:
            # The transaction is rolled back; show the same POST again with the refusal.
            setattr(request, _ERRORS_ATTR, {refused.form_prefix: refused.error})
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        except ServiceRefused as again:
            # The refusal named no form that could show it: say it, and offer the page afresh.
            self._refusal_message(request, again)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)  # type: ignore[misc]
        except ServiceRefused as refused:
            self._refusal_message(request, refused)
            opts = self.model._meta  # type: ignore[attr-defined]
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id]))

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)  # type: ignore[misc]
        except ServiceRefused as refused:
            self._refusal_message(request, refused)
            return HttpResponseRedirect(request.get_full_path())

    def _refusal_message(self, request: HttpRequest, refused: ServiceRefused) -> None:
        for message in refused.error.messages:
            messages.error(request, message)


class ServiceInlineMixin:
    """For ``InlineModelAdmin``: each added, changed or deleted row goes through a service.

    A refusal on a row is shown on that row (the formset's form prefix names it).
    """

    form = ServiceErrorsForm

    def service_create(self, request: HttpRequest, parent: models.Model, form: forms.ModelForm) -> models.Model:
        raise NotImplementedError

    def service_update(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm) -> models.Model:
        raise NotImplementedError

    def service_delete(self, request: HttpRequest, obj: models.Model) -> None:
        raise NotImplementedError

    def get_formset(self, request: HttpRequest, obj: models.Model | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        formset_class = super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
        formset_class.service_inline = self
        formset_class.form.service_errors = service_errors_for(request)
        return formset_class

    def save_rows(self, request: HttpRequest, formset: Any) -> None:
        """Write each row through the services; record what changed as ``formset.save()``
        would, for the admin's change message."""
        parent = formset.instance
        deleted = formset.deleted_forms if formset.can_delete else []
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for form in formset.initial_forms:
            if form.instance.pk is None:
                continue
            try:
                if form in deleted:
                    self.service_delete(request, form.instance)
                    formset.deleted_objects.append(form.instance)
                elif form.has_changed():
                    self.service_update(request, form.instance, form)
                    formset.changed_objects.append((form.instance, form.changed_data))
            except SERVICE_ERRORS as exc:
                raise ServiceRefused(as_validation_error(exc), form_prefix=form.prefix) from exc
        for form in formset.extra_forms:
            if not form.has_changed() or form in deleted:
                continue
            try:
                formset.new_objects.append(self.service_create(request, parent, form))
            except SERVICE_ERRORS as exc:
                raise ServiceRefused(as_validation_error(exc), form_prefix=form.prefix) from exc
