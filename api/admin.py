"""API keys in admin: create (the key is shown once, on the page that follows), revoke.

Keys are revoked, never deleted, so history keeps naming the key that made a
change. Staff of a park or partner office manage their own office's keys only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from api.api_keys import api_key_create, api_key_revoke
from api.models import ApiKey
from chains.admin_lookups import OfferedLookupsOnlyMixin
from crm.access import office_sees_everything
from crm.models import Office


def _sees_all_offices(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_authenticated and office_sees_everything(user.office, is_superuser=user.is_superuser))


class ApiKeyCreateForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["office", "label", "read_only"]


@admin.register(ApiKey)
class ApiKeyAdmin(OfferedLookupsOnlyMixin, admin.ModelAdmin):
    list_display = ["prefix", "label", "office", "read_only", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["read_only", ("revoked_at", admin.EmptyFieldListFilter), "office"]
    search_fields = ["prefix", "label", "office__code", "office__name"]
    readonly_fields = [
        "prefix",
        "office",
        "read_only",
        "user",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    fields = [
        "prefix",
        "label",
        "office",
        "read_only",
        "user",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke_keys"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiKey]:
        qs = super().get_queryset(request).select_related("office")
        if _sees_all_offices(request):
            return qs
        office_id = getattr(request.user, "office_id", None)
        return qs.filter(office_id=office_id) if office_id else qs.none()

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
            kwargs["fields"] = ApiKeyCreateForm.Meta.fields
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return self.fields if obj is not None else ApiKeyCreateForm.Meta.fields

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):  # type: ignore[no-untyped-def]
        if db_field.name == "office" and not _sees_all_offices(request):
            kwargs["queryset"] = Office.objects.filter(pk=getattr(request.user, "office_id", None))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        if change:
            obj.save(update_fields=["label", "updated_at"])
            return
        issued = api_key_create(
            office=form.cleaned_data["office"],
            label=form.cleaned_data["label"],
            read_only=form.cleaned_data["read_only"],
            created_by=request.user,
        )
        # Let the admin carry on with the saved key (log entry, redirect)…
        obj.__dict__.update({k: v for k, v in issued.api_key.__dict__.items() if k != "_state"})
        obj._state.adding = False
        obj._state.db = issued.api_key._state.db
        # …and keep the secret only in memory, for the one page that shows it.
        request._issued_api_key = issued.raw  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        raw = getattr(request, "_issued_api_key", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "api_key": obj,
            "raw_key": raw,
            "title": _("API key created"),
        }
        response = TemplateResponse(request, "admin/api/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key)
            count += 1
        self.message_user(
            request,
            ngettext("%(n)d key revoked.", "%(n)d keys revoked.", count) % {"n": count},
            messages.SUCCESS,
        )
