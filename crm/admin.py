"""Admin for the parties: offices, users, the enterprise directory, presences, contacts,
interactions and the change feed.

Every office record is read through :mod:`crm.admin_tenancy` (another office's row
is a 404 on every path) and written through :mod:`crm.services` by way of
:mod:`crm.admin_writes` (version, history and change feed in one place; a
refusal shown on the field it names). The enterprise page gains its projects,
timeline and quick logging in ``recruitment/admin.py``, the app that knows projects.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Replace
from django.db.models.lookups import IContains
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from chains.admin import ReferenceWriteMixin
from chains.admin_filters import ReferenceListFilter, stage_filter
from chains.admin_lookups import OfferedLookupsOnlyMixin
from crm import services
from crm.access import (
    RecordNotFound,
    enterprise_change_refusal,
    enterprise_external_id_visible,
    office_for_new_record,
    user_may_change_enterprise,
)
from crm.admin_lists import EnterpriseOfficeListFilter, LargeTableAdminMixin, ProvinceListFilter
from crm.admin_tenancy import TenantModelAdminMixin, TenantScopedMixin, scope_users, user_sees_everything
from crm.admin_writes import (
    CreditCodeFormMixin,
    ServiceErrorsForm,
    ServiceInlineMixin,
    ServiceWriteAdminMixin,
    form_data,
    https_url_formfield,
)
from crm.duplicates import enterprise_duplicates_of
from crm.exports import export_csv_action, export_xlsx_action
from crm.models import ChangeEntry, Contact, Enterprise, Interaction, Office, Presence, User
from crm.search import estimated_count, ordered_page_rows, search_enterprises

admin.site.site_header = _("Chain Recruit")
admin.site.site_title = _("Chain Recruit")
admin.site.index_title = _("Recruitment work")
# The product has no public site: the admin is the product.
admin.site.site_url = None

RECORD_FIELDS = ["office", "external_id", "version", "created_at", "updated_at"]
RECORD_READONLY = ["external_id", "version", "created_at", "updated_at"]


def fieldsets_without(fieldsets: Any, name: str) -> list:
    return [(title, {**opts, "fields": [f for f in opts["fields"] if f != name]}) for title, opts in fieldsets]


def money_wan(value: object) -> str:
    """Yuan shown in 万元 for list columns (the unit officials read)."""
    if value is None:
        return "—"
    return f"{float(value) / 10_000:,.2f}"  # type: ignore[arg-type]


class PinyinSearchMixin:
    """Search that also matches pinyin typed without spaces ("taiyuan" finds 太原…).

    Pinyin is stored word by word ("tai yuan gang tie"); Django's search splits the
    term on spaces and matches each word, so "taiyuan" alone would find nothing.
    """

    pinyin_field = "name_pinyin"

    def get_search_results(self, request: HttpRequest, queryset: models.QuerySet, search_term: str):  # type: ignore[no-untyped-def]
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)  # type: ignore[misc]
        compact = "".join(search_term.split()).lower()
        if compact and compact.isascii() and compact.isalpha():
            squeezed = Replace(F(self.pinyin_field), Value(" "), Value(""))
            results = results | queryset.filter(IContains(squeezed, compact))
        return results, may_have_duplicates


def office_under(request: HttpRequest, owner: Office, *, field: str) -> Office:
    """The office of a record the user adds under ``owner``'s record (``field`` names that
    record): ``owner`` itself, where the user may write (``crm.access.office_for_new_record``)."""
    try:
        return office_for_new_record(
            office=getattr(request.user, "office", None), owner=owner, is_superuser=request.user.is_superuser
        )
    except RecordNotFound:
        raise ValidationError({field: _("Not found.")}, code="does_not_exist") from None


class OfficeRecordAdmin(OfferedLookupsOnlyMixin, TenantModelAdminMixin, ServiceWriteAdminMixin, SimpleHistoryAdmin):
    """Base admin of an office-owned record (contact, interaction, project, follow-up).

    The owning office is set from the user's office when they are park or partner
    staff, chosen by staff who see everything, and never changed afterwards.
    """

    def get_readonly_fields(self, request: HttpRequest, obj: models.Model | None = None) -> list[str]:
        fields = [*super().get_readonly_fields(request, obj), *RECORD_READONLY]
        if obj is not None:
            fields.append("office")
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: models.Model | None = None):  # type: ignore[no-untyped-def]
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None and not user_sees_everything(request):
            return fieldsets_without(fieldsets, "office")
        return fieldsets

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("office", getattr(request.user, "office_id", None))
        return initial

    def get_list_display(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        """The office column and filter only for staff who see several offices' records."""
        columns = list(super().get_list_display(request))
        return columns if user_sees_everything(request) else [c for c in columns if c != "office"]

    def get_list_filter(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        filters = list(super().get_list_filter(request))
        if user_sees_everything(request):
            return filters
        return [f for f in filters if not (isinstance(f, tuple | list) and f[0] == "office") and f != "office"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        if db_field.name == "office":
            kwargs["required"] = True
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def office_for_create(self, request: HttpRequest, form: forms.ModelForm) -> Office:
        office = form.cleaned_data.get("office") or getattr(request.user, "office", None)
        if office is None:
            raise ValidationError({"office": _("Choose the office that owns this record.")}, code="required")
        return office


# --- Enterprise directory ------------------------------------------------------------


class EnterpriseForm(CreditCodeFormMixin, ServiceErrorsForm):
    # A website typed without a scheme is read as https (Django 6's default, chosen now).
    website = forms.URLField(label=_("website"), max_length=200, required=False, assume_scheme="https")

    class Meta:
        model = Enterprise
        fields = "__all__"
        formfield_callback = https_url_formfield


class ContactInline(TenantScopedMixin, ServiceInlineMixin, admin.TabularInline):
    """The user's office's contacts at the enterprise, edited in place (through the services)."""

    model = Contact
    fields = ["name", "title", "phone", "email", "wechat"]
    extra = 0
    show_change_link = True

    def service_create(self, request: HttpRequest, parent: models.Model, form: forms.ModelForm) -> Contact:
        office = getattr(request.user, "office", None)
        if office is None:
            raise ValidationError(_("Your account belongs to no office: add the contact from the contacts page."))
        data = form_data(form, services.CONTACT_FIELDS, only_changed=False)
        data["enterprise"] = parent
        return services.contact_create(office=office, actor=request.user, **data)

    def service_update(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm) -> Contact:
        return services.contact_update(
            contact=obj, actor=request.user, **form_data(form, services.CONTACT_FIELDS, only_changed=True)
        )

    def service_delete(self, request: HttpRequest, obj: models.Model) -> None:
        services.contact_delete(contact=obj, actor=request.user)


class ReadOnlyInlineMixin:
    """An inline that lists related rows with a link to each; they are edited on their own page."""

    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


class InteractionInline(TenantScopedMixin, ReadOnlyInlineMixin, admin.TabularInline):
    model = Interaction
    fk_name = "enterprise"
    fields = ["occurred_at", "kind", "summary_short", "staff", "project"]
    readonly_fields = fields
    ordering = ["-occurred_at"]
    verbose_name_plural = _("interactions (your office)")

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        # Each row is named by ``Interaction.__str__``, which names the enterprise.
        return super().get_queryset(request).select_related("staff", "project", "enterprise")

    @admin.display(description=_("summary"))
    def summary_short(self, obj: Interaction) -> str:
        return Truncator(obj.summary).chars(80)


class PresenceInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = Presence
    fields = ["park", "stage", "status", "note"]
    readonly_fields = fields
    verbose_name_plural = _("presences in parks")

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).select_related("enterprise", "park", "stage__chain")


@admin.register(Enterprise)
class EnterpriseAdmin(
    OfferedLookupsOnlyMixin, LargeTableAdminMixin, TenantModelAdminMixin, ServiceWriteAdminMixin, SimpleHistoryAdmin
):
    """The shared directory: everyone reads it; an enterprise is changed or deleted only by
    the office that created it or the provincial office (a reference enterprise only by the
    provincial office). Deleting one removes every office's contacts and interactions
    with it: in the admin only staff who see everything delete.

    Built for a provincial register of millions: indexed search (crm.search), counts
    estimated past a limit, filters from reference tables, sorting by indexed columns.
    """

    search_function = staticmethod(search_enterprises)
    search_page_function = staticmethod(ordered_page_rows)
    search_count_function = staticmethod(estimated_count)

    form = EnterpriseForm
    # As the form's website field (and its callback, for the page that shows it read-only):
    # a URL without a scheme read as https.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = [export_xlsx_action, export_csv_action]
    list_display = ["name", "credit_code", "ownership", "province", "city", "registered_capital_wan", "office"]
    list_filter = [
        "ownership",
        ("stages__chain", ReferenceListFilter),
        stage_filter("stages", title=_("capable at stage")),
        ("presences__park", ReferenceListFilter),
        ProvinceListFilter,
        ("office", EnterpriseOfficeListFilter),
        "is_demo",
    ]
    list_select_related = ["office"]
    sortable_by = ["name", "credit_code", "registered_capital_wan"]
    search_fields = ["name", "name_en", "name_pinyin", "name_initials", "credit_code"]
    search_help_text = _("Chinese or English name, pinyin (with or without spaces), initials or credit code.")
    autocomplete_fields = ["stages"]
    readonly_fields = [
        "office",
        "name_pinyin",
        "name_initials",
        "merged_into",
        "version",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "name_en", "credit_code", "ownership"]}),
        (_("Location and size"), {"fields": ["province", "city", "registered_capital", "website"]}),
        (_("Capabilities"), {"fields": ["stages"]}),
        (_("Source"), {"fields": ["source", "is_demo"]}),
        (
            _("Record"),
            {
                "fields": [
                    "office",
                    "name_pinyin",
                    "name_initials",
                    "merged_into",
                    "external_id",
                    "version",
                    "created_at",
                    "updated_at",
                ],
                "classes": ["collapse"],
            },
        ),
    ]
    inlines = [ContactInline, PresenceInline, InteractionInline]

    @admin.display(description=_("registered capital (万元)"), ordering="registered_capital")
    def registered_capital_wan(self, obj: Enterprise) -> str:
        return money_wan(obj.registered_capital)

    # --- who may change it (crm.access.enterprise_may_change) --------------------------
    # Another office's enterprise (or a reference one) opens with every field of its
    # own read only: the page still serves the user's contacts there, their quick
    # logging and timeline. The services refuse such a write on every path anyway.

    def get_readonly_fields(self, request: HttpRequest, obj: Enterprise | None = None):  # type: ignore[no-untyped-def]
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not user_may_change_enterprise(request.user, obj):
            fields += [f for f in self.own_fields() if f not in fields]
        # The external id is the creating office's own id for the enterprise: that office's only.
        return fields if self._external_id_visible(request, obj) else [f for f in fields if f != "external_id"]

    def own_fields(self) -> list[str]:
        return [name for _title, opts in self.fieldsets for name in opts["fields"]]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        # Deleting removes every office's contacts and interactions at the enterprise, and
        # its confirmation page lists them: in the admin, for staff who see everything only.
        if obj is not None and not user_may_change_enterprise(request.user, obj):
            return False
        return user_sees_everything(request) and super().has_delete_permission(request, obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):  # type: ignore[no-untyped-def]
        if obj is not None and not user_may_change_enterprise(request.user, obj):
            context["enterprise_read_only"] = enterprise_change_refusal()
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm, change: bool) -> None:
        if change and not form.changed_data and not user_may_change_enterprise(request.user, obj):
            # Nothing of the enterprise can change here (its fields are read only): only
            # the user's own inline rows (contacts) are saved, by ``save_related``.
            return
        super().save_model(request, obj, form, change)

    def _external_id_visible(self, request: HttpRequest, obj: Enterprise | None) -> bool:
        office_id = getattr(request.user, "office_id", None)
        if obj is None:  # a new enterprise is the user's office's: its id in that office's system
            return office_id is not None
        return enterprise_external_id_visible(enterprise_office_id=obj.office_id, office_id=office_id)

    def get_fieldsets(self, request: HttpRequest, obj: Enterprise | None = None):  # type: ignore[no-untyped-def]
        """The external id is the creating office's own id for the enterprise: shown to that office only."""
        fieldsets = super().get_fieldsets(request, obj)
        return fieldsets if self._external_id_visible(request, obj) else fieldsets_without(fieldsets, "external_id")

    def service_create(self, request: HttpRequest, form: forms.ModelForm) -> Enterprise:
        enterprise = services.enterprise_create(
            office=getattr(request.user, "office", None),
            actor=request.user,
            stages=form.cleaned_data.get("stages") or [],
            **form_data(form, services.ENTERPRISE_FIELDS, only_changed=False),
        )
        likely = enterprise_duplicates_of(name=enterprise.name, exclude_pk=enterprise.pk, limit=5)
        if likely:
            messages.warning(
                request,
                _("This enterprise may already be in the directory: %(names)s. Check and merge duplicates.")
                % {"names": "、".join(f"{e.name} ({e.credit_code or '—'})" for e in likely)},
            )
        return enterprise

    def service_update(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm) -> Enterprise:
        return services.enterprise_update(
            enterprise=obj,
            actor=request.user,
            stages=form.cleaned_data["stages"] if "stages" in form.changed_data else None,
            **form_data(form, services.ENTERPRISE_FIELDS, only_changed=True),
        )

    def service_delete(self, request: HttpRequest, obj: models.Model) -> None:
        services.enterprise_delete(enterprise=obj, actor=request.user)


# --- Contacts and interactions --------------------------------------------------------


@admin.register(Contact)
class ContactAdmin(PinyinSearchMixin, OfficeRecordAdmin):
    pinyin_field = "enterprise__name_pinyin"
    actions = [export_xlsx_action, export_csv_action]
    list_display = ["name", "enterprise", "title", "phone", "email", "office", "updated_at"]
    list_filter = [("office", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["enterprise", "office"]
    search_fields = [
        "name",
        "phone",
        "email",
        "wechat",
        "enterprise__name",
        "enterprise__name_pinyin",
        "enterprise__name_initials",
        "enterprise__credit_code",
    ]
    autocomplete_fields = ["enterprise"]
    fieldsets = [
        (None, {"fields": ["enterprise", "name", "title"]}),
        (_("How to reach"), {"fields": ["phone", "email", "wechat"]}),
        (_("Record"), {"fields": RECORD_FIELDS, "classes": ["collapse"]}),
    ]

    def service_create(self, request: HttpRequest, form: forms.ModelForm) -> Contact:
        return services.contact_create(
            office=self.office_for_create(request, form),
            actor=request.user,
            **form_data(form, services.CONTACT_FIELDS, only_changed=False),
        )

    def service_update(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm) -> Contact:
        return services.contact_update(
            contact=obj, actor=request.user, **form_data(form, services.CONTACT_FIELDS, only_changed=True)
        )

    def service_delete(self, request: HttpRequest, obj: models.Model) -> None:
        services.contact_delete(contact=obj, actor=request.user)


@admin.register(Interaction)
class InteractionAdmin(PinyinSearchMixin, OfficeRecordAdmin):
    pinyin_field = "enterprise__name_pinyin"
    list_display = ["occurred_at", "kind", "enterprise", "project", "staff", "contact_names", "summary_short", "office"]
    list_filter = [
        "kind",
        ("project__park", admin.RelatedOnlyFieldListFilter),
        ("project__stages__chain", admin.RelatedFieldListFilter),
        ("office", admin.RelatedOnlyFieldListFilter),
        ("staff", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["enterprise", "project", "staff", "office"]
    date_hierarchy = "occurred_at"
    search_fields = [
        "summary",
        "enterprise__name",
        "enterprise__name_pinyin",
        "enterprise__name_initials",
        "enterprise__credit_code",
        "project__title",
        "contacts__name",
    ]
    autocomplete_fields = ["enterprise", "project", "contacts"]
    fieldsets = [
        (None, {"fields": ["enterprise", "project", "kind", "occurred_at", "staff", "contacts", "summary"]}),
        (_("Record"), {"fields": RECORD_FIELDS, "classes": ["collapse"]}),
    ]

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).prefetch_related("contacts")

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("staff", request.user.pk)
        initial.setdefault("occurred_at", timezone.now())
        return initial

    @admin.display(description=_("contacts"))
    def contact_names(self, obj: Interaction) -> str:
        return ", ".join(c.name for c in obj.contacts.all()) or "—"

    @admin.display(description=_("summary"))
    def summary_short(self, obj: Interaction) -> str:
        return Truncator(obj.summary).chars(60)

    def service_create(self, request: HttpRequest, form: forms.ModelForm) -> Interaction:
        # An interaction about a project belongs to the project's office, whoever logs it.
        project = form.cleaned_data.get("project")
        return services.interaction_log(
            office=(
                office_under(request, project.office, field="project")
                if project is not None
                else self.office_for_create(request, form)
            ),
            actor=request.user,
            contacts=form.cleaned_data.get("contacts") or [],
            **form_data(form, services.INTERACTION_FIELDS, only_changed=False),
        )

    def service_update(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm) -> Interaction:
        return services.interaction_update(
            interaction=obj,
            actor=request.user,
            contacts=form.cleaned_data["contacts"] if "contacts" in form.changed_data else None,
            **form_data(form, services.INTERACTION_FIELDS, only_changed=True),
        )

    def service_delete(self, request: HttpRequest, obj: models.Model) -> None:
        services.interaction_delete(interaction=obj, actor=request.user)


# --- Presences (reference facts about who is where) -------------------------------------


@admin.register(Presence)
class PresenceAdmin(
    OfferedLookupsOnlyMixin, ReferenceWriteMixin, TenantModelAdminMixin, ServiceWriteAdminMixin, SimpleHistoryAdmin
):
    """Presences decide gap status, so they change only with the provincial department."""

    list_display = ["enterprise", "park", "stage", "status", "note"]
    list_filter = ["park", "stage__chain", "status"]
    list_select_related = ["enterprise", "park", "stage__chain"]
    search_fields = [
        "enterprise__name",
        "enterprise__name_pinyin",
        "enterprise__name_initials",
        "enterprise__credit_code",
        "stage__name",
        "park__name",
    ]
    autocomplete_fields = ["enterprise", "stage"]
    fields = ["enterprise", "park", "stage", "status", "note", "source", "created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:  # type: ignore[no-untyped-def]
        keys = ["enterprise", "park", "stage"] if obj is not None else []
        return [*keys, "created_at", "updated_at"]

    def _set(self, request: HttpRequest, obj: Presence, form: forms.ModelForm) -> Presence:
        data = form.cleaned_data
        return services.presence_set(
            enterprise=data.get("enterprise", obj.enterprise if obj.enterprise_id else None),
            park=data.get("park", obj.park if obj.park_id else None),
            stage=data.get("stage", obj.stage if obj.stage_id else None),
            status=data["status"],
            note=data.get("note", ""),
            source=data.get("source", ""),
            actor=request.user,
        )

    def service_create(self, request: HttpRequest, form: forms.ModelForm) -> Presence:
        return self._set(request, form.instance, form)

    def service_update(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm) -> Presence:
        return self._set(request, obj, form)

    def service_delete(self, request: HttpRequest, obj: models.Model) -> None:
        services.presence_delete(presence=obj, actor=request.user)


# --- Offices, users and the change feed --------------------------------------------------


@admin.register(Office)
class OfficeAdmin(OfferedLookupsOnlyMixin, ReferenceWriteMixin, admin.ModelAdmin):
    list_display = ["name", "code", "kind", "park", "email", "is_demo"]
    list_filter = ["kind", "is_demo"]
    list_select_related = ["park"]
    search_fields = ["code", "name"]
    fields = ["code", "name", "kind", "park", "email", "is_demo", "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(User)
class StaffUserAdmin(OfferedLookupsOnlyMixin, DjangoUserAdmin):
    """Users of the user's own office only (unless they see everything); only superusers
    grant superuser status or single permissions."""

    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        (_("Office"), {"fields": ("office", "is_manager", "display_name")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "password1", "password2")}),
        (_("Office"), {"fields": ("office", "is_manager", "display_name", "email")}),
    )
    list_display = ["username", "display_name", "email", "office", "is_manager", "is_staff", "is_active"]
    list_filter = ["office", "is_manager", "is_staff", "is_active", "groups"]
    list_select_related = ["office"]
    search_fields = ["username", "display_name", "first_name", "last_name", "email"]

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        return scope_users(super().get_queryset(request), request)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):  # type: ignore[no-untyped-def]
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404
        return obj

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:  # type: ignore[no-untyped-def]
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
            if not user_sees_everything(request):
                fields += ["groups", "office"]
        return fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        if db_field.name == "office" and not user_sees_everything(request):
            kwargs["queryset"] = Office.objects.filter(pk=getattr(request.user, "office_id", None))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(ChangeEntry)
class ChangeEntryAdmin(OfferedLookupsOnlyMixin, admin.ModelAdmin):
    """The partners' change feed, for diagnosing sync problems; read only, provincial only."""

    list_display = ["type", "object_id", "op", "office", "txid", "seq", "changed_at"]
    list_filter = ["type", "op", "office"]
    list_select_related = ["office"]
    search_fields = ["object_id"]
    search_help_text = _("The record's id.")

    def get_search_results(self, request: HttpRequest, queryset: models.QuerySet, search_term: str):  # type: ignore[no-untyped-def]
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(object_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return user_sees_everything(request) and super().has_view_permission(request, obj)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_sees_everything(request) and super().has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
