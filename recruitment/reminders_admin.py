"""Admin for reminders: each user's own follow-ups, and the deliveries for managers.

"My follow-ups" lists the signed-in user's open follow-ups (overdue first in the
filter) with the last reminder each received, so a reminder shows in the admin as
well as by e-mail. The deliveries page shows managers what was sent, what failed
and why, and lets them send a failed one again. Both read through
``recruitment.selectors``, which apply ``crm.access``: nobody sees another office's
follow-ups or reminders. Neither page writes except through the services, and
neither talks to the broker: a delivery sent again is picked up by the next scan.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from chains.admin_lookups import OfferedLookupsOnlyMixin
from crm.admin_writes import add_service_error
from crm.models import Office
from recruitment import channel_settings, reminders, selectors, services
from recruitment.models import ChannelPreference, FollowUp, MyFollowUp, OfficeChannel, ReminderDelivery


def _is_staff(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff)


def _is_manager(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and (user.is_superuser or getattr(user, "is_manager", False)))


class ReadOnlyPageMixin:
    """For a ``ModelAdmin`` that only shows rows (an action it offers writes through a service).

    Who may open the page is one rule, :meth:`may_view`; nobody adds, changes or
    deletes a row here; and a row outside the page's queryset (another user's or
    office's) is a 404, as everywhere else, never a redirect saying it exists.
    """

    def may_view(self, request: HttpRequest) -> bool:
        raise NotImplementedError

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is None:
            raise Http404
        return obj

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.may_view(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.may_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TimelinessFilter(admin.SimpleListFilter):
    title = _("due")
    parameter_name = "due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("overdue", _("Past due")),
            ("escalated", _("Overdue, managers told")),
            ("upcoming", _("Not yet due")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "overdue":
            return queryset.filter(due_at__lte=now)
        if self.value() == "escalated":
            return queryset.filter(due_at__lte=now - selectors.overdue_after())
        if self.value() == "upcoming":
            return queryset.filter(due_at__gt=now)
        return queryset


@admin.register(MyFollowUp)
class MyFollowUpAdmin(OfferedLookupsOnlyMixin, ReadOnlyPageMixin, admin.ModelAdmin):
    """The signed-in user's open follow-ups; read-only but for "mark done"."""

    list_display = ("due_at", "timeliness", "kind", "project", "enterprise", "park", "note", "last_reminder")
    list_display_links = ("due_at",)
    list_filter = (TimelinessFilter, "kind")
    search_fields = ("note", "project__title", "project__enterprise__name")
    list_select_related = ("project__enterprise", "project__park")
    ordering = ("due_at",)
    actions = ["mark_done"]
    fields = ("project", "kind", "due_at", "note", "status", "assignee")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        mine = selectors.followups_open_of_user(user=request.user).values("pk")  # type: ignore[arg-type]
        last_sent = (
            ReminderDelivery.objects.filter(follow_up=OuterRef("pk"), state=ReminderDelivery.State.SENT)
            .order_by("-sent_at")
            .values("sent_at")[:1]
        )
        return (
            MyFollowUp.objects.filter(pk__in=mine)
            .select_related("project__enterprise", "project__park")
            .annotate(last_reminder_at=Subquery(last_sent))
        )

    def may_view(self, request: HttpRequest) -> bool:
        return _is_staff(request)

    def has_complete_permission(self, request: HttpRequest) -> bool:
        return _is_staff(request) and request.user.has_perm("recruitment.change_followup")

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        counts = selectors.followup_counts_for_user(user=request.user)  # type: ignore[arg-type]
        title = _("My follow-ups 我的跟进: %(open)d open, %(due)d past due, %(overdue)d overdue") % counts
        return super().changelist_view(request, {**(extra_context or {}), "title": title})

    @admin.display(description=_("due state"))
    def timeliness(self, obj: MyFollowUp) -> str:
        now = timezone.now()
        if obj.due_at <= now - selectors.overdue_after():
            return format_html('<strong style="color:#ba2121">{}</strong>', _("Overdue"))
        if obj.due_at <= now:
            return format_html('<strong style="color:#c05600">{}</strong>', _("Due"))
        return str(_("Upcoming"))

    @admin.display(description=_("enterprise"), ordering="project__enterprise__name")
    def enterprise(self, obj: MyFollowUp) -> Any:
        return obj.project.enterprise

    @admin.display(description=_("park"), ordering="project__park__name")
    def park(self, obj: MyFollowUp) -> Any:
        return obj.project.park

    @admin.display(description=_("last reminder"), ordering="last_reminder_at")
    def last_reminder(self, obj: MyFollowUp) -> Any:
        return obj.last_reminder_at or "—"  # type: ignore[attr-defined]

    @admin.action(description=_("Mark selected follow-ups done"), permissions=["complete"])
    def mark_done(self, request: HttpRequest, queryset: QuerySet) -> None:
        done = 0
        # Through the service, on the concrete model (history, version and change feed).
        for follow_up in FollowUp.objects.filter(pk__in=queryset.values("pk")).order_by("pk"):
            try:
                services.followup_complete(follow_up=follow_up, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{follow_up}: {'; '.join(exc.messages)}", messages.WARNING)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                ngettext("%(n)d follow-up marked done.", "%(n)d follow-ups marked done.", done) % {"n": done},
                messages.SUCCESS,
            )


@admin.register(ReminderDelivery)
class ReminderDeliveryAdmin(OfferedLookupsOnlyMixin, ReadOnlyPageMixin, admin.ModelAdmin):
    """What was sent, to whom, and what failed and why. Managers only; their office's deliveries."""

    list_display = (
        "due_at",
        "kind",
        "channel",
        "state",
        "recipient",
        "follow_up_link",
        "project",
        "attempts",
        "sent_at",
        "error",
    )
    list_filter = ("state", "kind", "channel")
    search_fields = ("project__title", "recipient__username", "sent_to", "last_error")
    date_hierarchy = "due_at"
    list_select_related = ("follow_up", "project", "recipient")
    actions = ["send_again"]
    fields = (
        "kind",
        "channel",
        "state",
        "office",
        "note",
        "follow_up",
        "project",
        "recipient",
        "due_at",
        "sent_to",
        "sent_at",
        "attempts",
        "last_error",
        "next_attempt_at",
        "queued_at",
        "claimed_until",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return selectors.deliveries_for_user(user=request.user)  # type: ignore[arg-type]

    def may_view(self, request: HttpRequest) -> bool:
        return _is_manager(request)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return _is_manager(request)

    @admin.display(description=_("follow-up"))
    def follow_up_link(self, obj: ReminderDelivery) -> Any:
        if obj.follow_up_id is None:
            return "—"
        try:
            url = reverse("admin:recruitment_followup_change", args=[obj.follow_up_id])
        except NoReverseMatch:
            return obj.follow_up
        return format_html('<a href="{}">{}</a>', url, obj.follow_up)

    @admin.display(description=_("last error"))
    def error(self, obj: ReminderDelivery) -> str:
        text = obj.last_error or ""
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.action(description=_("Send the selected failed reminders again"), permissions=["retry"])
    def send_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        failed = list(queryset.filter(state=ReminderDelivery.State.FAILED))
        for delivery in failed:
            reminders.delivery_retry(delivery=delivery)
        self.message_user(
            request,
            ngettext(
                "%(n)d reminder will be sent again with the next scan.",
                "%(n)d reminders will be sent again with the next scan.",
                len(failed),
            )
            % {"n": len(failed)},
            messages.SUCCESS if failed else messages.WARNING,
        )


class OfficeChannelForm(forms.ModelForm):
    """The robot form; its checks are the service's (``recruitment.channel_settings``), shown on their fields."""

    url = forms.URLField(label=_("robot webhook URL"), max_length=1000, assume_scheme="https")
    secret = forms.CharField(
        label=_("signing secret"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("DingTalk robots with signing (加签): the SEC… secret. Leave empty to keep the current one."),
    )
    actor: Any = None  # the user saving, set by the admin

    class Meta:
        model = OfficeChannel
        fields = ("office", "channel", "url", "enabled")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        try:
            data["url"] = channel_settings.office_channel_check(
                actor=self.actor,
                office=data.get("office"),
                channel=data.get("channel", ""),
                url=data.get("url"),
                secret=data.get("secret", ""),
                robot=self.instance if self.instance.pk else None,
            )
        except PermissionDenied as exc:
            self.add_error("office", str(exc))
        except ValidationError as exc:
            add_service_error(self, exc)
        return data


@admin.register(OfficeChannel)
class OfficeChannelAdmin(OfferedLookupsOnlyMixin, admin.ModelAdmin):
    """An office's chat robots (WeCom, DingTalk); its managers set them up."""

    form = OfficeChannelForm
    list_display = ("office", "channel", "enabled", "updated_at")
    list_filter = ("channel", "enabled")

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        # Another person's or office's row is "not found", as everywhere (never a redirect saying it exists).
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404
        return obj

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request).select_related("office")
        if request.user.is_superuser:
            return qs
        return qs.filter(office_id=getattr(request.user, "office_id", None))

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "office" and not request.user.is_superuser:
            kwargs["queryset"] = Office.objects.filter(pk=getattr(request.user, "office_id", None))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_manager(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_manager(request)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission  # type: ignore[assignment]

    def save_model(self, request: HttpRequest, obj: OfficeChannel, form: Any, change: bool) -> None:
        data = form.cleaned_data
        robot = channel_settings.office_channel_save(
            actor=request.user,
            office=data["office"],
            channel=data["channel"],
            url=data["url"],
            secret=data.get("secret", ""),
            enabled=data.get("enabled", False),
            robot=obj if change else None,
        )
        obj.pk = robot.pk

    def delete_model(self, request: HttpRequest, obj: OfficeChannel) -> None:
        channel_settings.office_channel_delete(actor=request.user, robot=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for robot in queryset.select_related("office"):
            channel_settings.office_channel_delete(actor=request.user, robot=robot)


class ChannelPreferenceForm(forms.ModelForm):
    """A person's channel choice; the service's checks shown on their fields."""

    actor: Any = None

    class Meta:
        model = ChannelPreference
        fields = ("channel", "enabled")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        user = self.instance.user if self.instance.pk else self.actor
        try:
            channel_settings.channel_preference_clean(
                actor=self.actor,
                user=user,
                channel=data.get("channel", ""),
                preference=self.instance if self.instance.pk else None,
            )
        except PermissionDenied as exc:
            self.add_error(None, str(exc))
        except ValidationError as exc:
            add_service_error(self, exc)
        return data


@admin.register(ChannelPreference)
class ChannelPreferenceAdmin(OfferedLookupsOnlyMixin, admin.ModelAdmin):
    """Each person chooses the channels of their own reminders (no row: yes)."""

    form = ChannelPreferenceForm
    list_display = ("user", "channel", "enabled")
    list_filter = ("channel", "enabled")
    fields = ("channel", "enabled")

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        # Another person's or office's row is "not found", as everywhere (never a redirect saying it exists).
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404
        return obj

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request).select_related("user")
        return qs if request.user.is_superuser else qs.filter(user=request.user)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_staff(request)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission  # type: ignore[assignment]

    def save_model(self, request: HttpRequest, obj: ChannelPreference, form: Any, change: bool) -> None:
        saved = channel_settings.channel_preference_set(
            actor=request.user,
            user=obj.user if change else request.user,
            channel=form.cleaned_data["channel"],
            enabled=form.cleaned_data.get("enabled", False),
            preference=obj if change else None,
        )
        obj.pk, obj.user = saved.pk, saved.user

    def delete_model(self, request: HttpRequest, obj: ChannelPreference) -> None:
        channel_settings.channel_preference_delete(actor=request.user, preference=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for preference in queryset.select_related("user"):
            channel_settings.channel_preference_delete(actor=request.user, preference=preference)
