"""Webhook endpoints, deliveries and attempts in the admin: an office's managers manage their own.

Writes go through :mod:`push.endpoints` (the same URL and events checks as the API);
the secret is shown once, in the message after saving a new endpoint or rotating.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from chains.admin_lookups import OfferedLookupsOnlyMixin
from crm.models import Office
from push import endpoints as services
from push.models import WebhookAttempt, WebhookEndpoint, WebhookMessage


def _is_manager(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and (user.is_superuser or getattr(user, "is_manager", False)))


def _scoped(qs: QuerySet, request: HttpRequest, office_path: str) -> QuerySet:
    if request.user.is_superuser:
        return qs
    office_id = getattr(request.user, "office_id", None)
    return qs.filter(**{office_path: office_id}) if office_id else qs.none()


class EndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"),
        choices=[(services.ALL_EVENTS, _("All events"))] + [(e, e) for e in services.EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("office", "url", "events", "description", "enabled")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name, check in (("url", services.url_clean), ("events", services.events_clean)):
            if name in data:
                try:
                    data[name] = check(data[name] if name == "url" else list(data[name]))
                except ValidationError as exc:
                    self.add_error(name, exc.error_dict.get(name, exc.messages))
        return data


class ReplayActionForm(ActionForm):
    since = forms.SplitDateTimeField(
        label=_("since"), required=False, widget=admin.widgets.AdminSplitDateTime, help_text=_("For “replay since”.")
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(OfferedLookupsOnlyMixin, admin.ModelAdmin):
    form = EndpointForm
    action_form = ReplayActionForm
    list_display = ("url", "office", "enabled", "failing_since", "disabled_reason", "description", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("url", "description")
    readonly_fields = ("disabled_reason", "failing_since", "version", "created_at", "updated_at")
    actions = ["rotate_secret", "replay_since"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return _scoped(super().get_queryset(request).select_related("office"), request, "office_id")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = ["url", "events", "description", "enabled", *self.readonly_fields]
        return (["office"] if request.user.is_superuser else []) + fields

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "office" and not request.user.is_superuser:
            kwargs["queryset"] = Office.objects.filter(pk=getattr(request.user, "office_id", None))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_manager(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_manager(request)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission  # type: ignore[assignment]

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        values = {k: form.cleaned_data[k] for k in ("url", "events", "description", "enabled")}
        if change:
            services.endpoint_update(endpoint=obj, **values)
            return
        office = form.cleaned_data.get("office") if request.user.is_superuser else request.user.office
        endpoint, secret = services.endpoint_create(office=office, **values)
        obj.pk = endpoint.pk
        self.message_user(
            request,
            _("Signing secret (shown this once, copy it now): %(s)s") % {"s": secret},
            messages.WARNING,
        )

    def delete_model(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        services.endpoint_delete(endpoint=obj)

    @admin.action(description=_("Rotate the signing secret (the old one stays valid for the grace period)"))
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            _endpoint, secret = services.endpoint_rotate_secret(endpoint=endpoint)
            self.message_user(
                request,
                _("New signing secret of %(url)s (shown this once): %(s)s") % {"url": endpoint.url, "s": secret},
                messages.WARNING,
            )

    @admin.action(description=_("Replay every delivery since the time given"))
    def replay_since(self, request: HttpRequest, queryset: QuerySet) -> None:
        raw = [request.POST.get("since_0", ""), request.POST.get("since_1", "")]
        try:
            since = ReplayActionForm.base_fields["since"].clean(raw)
        except ValidationError:
            since = None
        if since is None:
            self.message_user(request, _("Give the date and time to replay from."), messages.ERROR)
            return
        total = sum(services.endpoint_replay_since(endpoint=e, since=since) for e in queryset)
        self.message_user(
            request,
            ngettext("%(n)d delivery will be sent again.", "%(n)d deliveries will be sent again.", total)
            % {"n": total},
            messages.SUCCESS,
        )


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("attempted_at", "outcome", "status_code", "response_excerpt", "error", "duration_ms")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookMessage)
class WebhookMessageAdmin(OfferedLookupsOnlyMixin, admin.ModelAdmin):
    list_display = (
        "webhook_id",
        "endpoint",
        "event_type",
        "object_id",
        "state",
        "attempts",
        "last_status",
        "created_at",
    )
    list_filter = ("state", "event_type")
    search_fields = ("object_id", "endpoint__url")
    date_hierarchy = "created_at"
    list_select_related = ("endpoint",)
    fields = (
        "endpoint",
        "event_type",
        "object_id",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status",
        "delivered_at",
        "created_at",
        "payload",
    )
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["replay"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return _scoped(super().get_queryset(request), request, "endpoint__office_id")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_manager(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_manager(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return _is_manager(request)

    @admin.action(description=_("Replay the selected deliveries (same webhook-id)"), permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = sum(services.message_replay(message=m) for m in queryset)
        self.message_user(
            request,
            ngettext("%(n)d delivery will be sent again.", "%(n)d deliveries will be sent again.", count)
            % {"n": count},
            messages.SUCCESS,
        )
