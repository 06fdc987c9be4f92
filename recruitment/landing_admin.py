"""Admin for landing supervision: warning rules, valid reasons, progress entries, supervision
orders ("my supervision orders", the office's list, the provincial overview), and what the
project page and list show of a project's light.

Every write goes through :mod:`recruitment.landing` and :mod:`recruitment.supervision`;
rows are scoped by :mod:`crm.admin_tenancy` like every office record.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from crm.admin_tenancy import TenantModelAdminMixin, user_sees_everything
from crm.admin_writes import ExternalIdFormMixin
from crm.models import User
from recruitment import lights
from recruitment.exports import export_csv_action, export_xlsx_action
from recruitment.landing import landing_changed, progress_record
from recruitment.landing_chart import plan_vs_actual_svg
from recruitment.landing_models import (
    OPEN_ORDER_STATUSES,
    MySupervisionOrder,
    OrderStatus,
    ProgressEntry,
    ProjectLight,
    RuleSuspension,
    SupervisionOrder,
    SupervisionOrderMove,
    WarningRule,
)
from recruitment.supervision import (
    MOVES,
    IllegalOrderMove,
    SupervisionNotAllowed,
    order_create,
    order_transition,
    order_update,
)


class LandingMedia:
    css = {"all": ["recruitment/landing.css"]}


def light_badge_html(color: str | None) -> str:
    if not color:
        return "—"
    label = dict(lights_choices()).get(color, color)
    return format_html('<span class="light light-{}">●</span> {}', color, label)


def lights_choices() -> list[tuple[str, Any]]:
    from recruitment.landing_models import Color

    return list(Color.choices)


def reasons_in_words(reasons: list[dict[str, Any]]) -> list[str]:
    """A light's reasons in the language of the request (worded again from their facts)."""
    return [lights.reason_text(r["kind"], r["params"]) if "params" in r else r.get("detail", "") for r in reasons]


class LightFilter(admin.SimpleListFilter):
    """The project list by light (the dashboard links here)."""

    title = _("light")
    parameter_name = "light"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return [*lights_choices(), ("none", _("No light (not signed)"))]

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
        value = self.value()
        if value == "none":
            return queryset.filter(light__isnull=True)
        if value in {"green", "yellow", "red"}:
            return queryset.filter(light__color=value)
        return queryset


def landing_context(project: Any, *, request: HttpRequest) -> dict[str, Any]:
    """What the project page shows of landing: light and reasons, chart, progress, open order."""
    from recruitment.landing import effective_entries, plan_read

    light = ProjectLight.objects.filter(project=project).first()
    plan = plan_read(project)
    entries = list(ProgressEntry.objects.filter(project=project).select_related("recorded_by").order_by("-recorded_at"))
    effective = effective_entries(entries)
    investment = [(e.month, e.amount) for e in effective if e.kind == ProgressEntry.Kind.INVESTMENT]
    chart = plan_vs_actual_svg(
        schedule=[(r["month"], r["cumulative"]) for r in plan["investment"]],
        investment=investment,
        today=timezone.localdate(),
    )
    order = SupervisionOrder.objects.filter(project=project, status__in=OPEN_ORDER_STATUSES).first()
    return {
        "landing_light": light,
        "landing_light_badge": light_badge_html(light.color if light else None),
        "landing_reasons": reasons_in_words(light.reasons) if light else [],
        "landing_plan": plan,
        "landing_chart": mark_safe(chart),  # built by landing_chart from numbers and escaped labels only
        "landing_entries": entries[:20],
        "landing_corrected": {e.corrects_id for e in entries if e.corrects_id},
        "landing_order": order,
        "landing_order_url": reverse("admin:recruitment_supervisionorder_change", args=[order.pk]) if order else "",
    }


# --- rules and valid reasons --------------------------------------------------------------------


@admin.register(WarningRule)
class WarningRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "kind", "yellow_at", "red_at", "enabled", "source"]
    list_filter = ["enabled", "kind"]
    list_editable = ["enabled"]

    def _provincial(self, request: HttpRequest) -> bool:
        return user_sees_everything(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._provincial(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._provincial(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._provincial(request) and super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: WarningRule, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        messages.info(request, _("The lights follow the new rule at the next recompute (nightly, or on demand)."))


@admin.register(RuleSuspension)
class RuleSuspensionAdmin(TenantModelAdminMixin, admin.ModelAdmin):
    scope_through = "project"
    list_display = ["project", "rule", "until", "reason", "recorded_by"]
    list_filter = ["rule"]
    autocomplete_fields = ["project"]
    readonly_fields = ["recorded_by"]

    def save_model(self, request: HttpRequest, obj: RuleSuspension, form: forms.ModelForm, change: bool) -> None:
        if not change:
            obj.recorded_by = request.user
        super().save_model(request, obj, form, change)
        landing_changed(project_ids=[obj.project_id])

    def delete_model(self, request: HttpRequest, obj: RuleSuspension) -> None:
        project_id = obj.project_id
        super().delete_model(request, obj)
        landing_changed(project_ids=[project_id])


# --- progress -----------------------------------------------------------------------------------


class ProgressForm(forms.ModelForm):
    class Meta:
        model = ProgressEntry
        fields = ["project", "month", "kind", "amount", "milestone", "date", "corrects", "reason"]
        help_texts = {"month": _("Any day of the month the entry counts in.")}


@admin.register(ProgressEntry)
class ProgressEntryAdmin(TenantModelAdminMixin, admin.ModelAdmin):
    """Progress is added, never changed: a correction is a new entry naming the one it corrects."""

    form = ProgressForm
    list_display = ["project", "month", "kind", "amount", "milestone", "date", "corrects", "recorded_by", "recorded_at"]
    list_filter = ["kind", "milestone"]
    list_select_related = ["project", "recorded_by", "corrects"]
    actions = [export_xlsx_action, export_csv_action]
    autocomplete_fields = ["project"]
    search_fields = ["project__title"]
    date_hierarchy = "month"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        form_class = super().get_form(request, obj, change, **kwargs)

        class ServiceForm(form_class):  # type: ignore[misc, valid-type]
            def _post_clean(self) -> None:
                if self.errors:
                    return
                data = self.cleaned_data
                try:
                    self.instance = progress_record(
                        project=data["project"],
                        kind=data["kind"],
                        month=data["month"],
                        amount=data.get("amount"),
                        milestone=data.get("milestone") or "",
                        date=data.get("date"),
                        corrects=data.get("corrects"),
                        reason=data.get("reason") or "",
                        actor=request.user,
                    )
                except ValidationError as exc:
                    self._update_errors(exc)

        return ServiceForm

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        """Recorded by the form's service call already (all or nothing with its checks)."""

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        pass

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "corrects" and field is not None:
            field.queryset = field.queryset.filter(corrected_by__isnull=True)
        return field


# --- supervision orders -------------------------------------------------------------------------


class OrderMoveInline(admin.TabularInline):
    model = SupervisionOrderMove
    fields = ["moved_at", "from_status", "to_status", "moved_by", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrderTransitionForm(forms.Form):
    to = forms.ChoiceField(label=_("Move to"), choices=OrderStatus.choices)
    plan = forms.CharField(label=_("Correction plan"), widget=forms.Textarea(attrs={"rows": 4}), required=False)
    note = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args: Any, order: SupervisionOrder, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = MOVES.get(order.status, frozenset())
        self.fields["to"].choices = [(v, label) for v, label in OrderStatus.choices if v in allowed]


class OverdueFilter(admin.SimpleListFilter):
    title = _("deadline")
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return [("plan", _("Correction plan overdue")), ("resolve", _("Resolution overdue"))]

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
        today = timezone.localdate()
        if self.value() == "plan":
            return queryset.filter(status=OrderStatus.OPEN, plan_due__lt=today)
        if self.value() == "resolve":
            return queryset.filter(status__in=OPEN_ORDER_STATUSES, resolve_due__lt=today)
        return queryset


class OrderForm(ExternalIdFormMixin, forms.ModelForm):
    class Meta:
        model = SupervisionOrder
        fields = ["project", "responsible", "leader", "required", "plan_due", "resolve_due", "external_id"]


@admin.register(SupervisionOrder)
class SupervisionOrderAdmin(TenantModelAdminMixin, admin.ModelAdmin):
    """The office's supervision orders (all of them for the provincial office)."""

    Media = LandingMedia

    form = OrderForm
    change_form_template = "admin/recruitment/supervisionorder/change_form.html"
    list_display = ["project", "park", "status", "responsible", "leader", "plan_due", "resolve_due", "overdue", "auto"]
    list_filter = ["status", OverdueFilter, "auto", ("project__park", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["project__park", "responsible", "leader"]
    actions = [export_xlsx_action, export_csv_action]
    autocomplete_fields = ["project"]
    search_fields = ["project__title", "required"]
    inlines = [OrderMoveInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = ["status", "auto", "issued_by", "plan", "note"]
        return [*fields, "project"] if obj is not None else fields

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        base = ["project", "responsible", "leader", "required", "plan_due", "resolve_due"]
        return base + (["status", "auto", "issued_by", "plan", "note"] if obj is not None else [])

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        if db_field.name in ("responsible", "leader"):
            users = User.objects.filter(is_active=True)
            if not user_sees_everything(request):
                users = users.filter(Q(office_id=request.user.office_id) | Q(office__kind="provincial"))
            kwargs["queryset"] = users
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("park"), ordering="project__park__name")
    def park(self, obj: SupervisionOrder) -> Any:
        return obj.project.park

    @admin.display(description=_("overdue"), boolean=True)
    def overdue(self, obj: SupervisionOrder) -> bool:
        today = timezone.localdate()
        return (obj.status == OrderStatus.OPEN and obj.plan_due < today) or (obj.is_open and obj.resolve_due < today)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        form_class = super().get_form(request, obj, change, **kwargs)

        class ServiceForm(form_class):  # type: ignore[misc, valid-type]
            def _post_clean(self) -> None:
                if self.errors:
                    return
                data = {k: v for k, v in self.cleaned_data.items() if k in self.changed_data or obj is None}
                try:
                    if obj is None:
                        self.instance = order_create(actor=request.user, **data)
                    elif data:
                        data.pop("project", None)
                        self.instance = order_update(order=obj, actor=request.user, **data)
                except ValidationError as exc:
                    self._update_errors(exc)
                except SupervisionNotAllowed as exc:
                    self.add_error(None, str(exc))

        return ServiceForm

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        """Written by the form's service call."""

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        pass

    def get_urls(self) -> list:
        opts = self.model._meta
        return [
            path(
                "<path:object_id>/transition/",
                self.admin_site.admin_view(self.transition_view),
                name=f"{opts.app_label}_{opts.model_name}_transition",
            ),
            path(
                "overview/",
                self.admin_site.admin_view(self.overview_view),
                name=f"{opts.app_label}_{opts.model_name}_overview",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):  # type: ignore[no-untyped-def]
        if obj is not None and MOVES.get(obj.status):
            context["order_transition_form"] = OrderTransitionForm(order=obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def transition_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        order = self.get_object(request, unquote(object_id))
        if order is None or request.method != "POST":
            raise PermissionDenied
        back = reverse("admin:recruitment_supervisionorder_change", args=[order.pk])
        form = OrderTransitionForm(request.POST, order=order)
        if not form.is_valid():
            messages.error(request, _("Choose a state the order may move to."))
            return HttpResponseRedirect(back)
        try:
            order_transition(
                order=order,
                to=form.cleaned_data["to"],
                plan=form.cleaned_data["plan"],
                note=form.cleaned_data["note"],
                actor=request.user,
            )
        except (IllegalOrderMove, SupervisionNotAllowed) as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("The order is now “%(status)s”.") % {"status": order.get_status_display()})
        return HttpResponseRedirect(back)

    def overview_view(self, request: HttpRequest) -> HttpResponse:
        """Open and overdue orders by park, in one query (scoped to the user's office)."""
        today = timezone.localdate()
        rows = (
            self.get_queryset(request)
            .filter(status__in=OPEN_ORDER_STATUSES)
            .values("project__park_id", "project__park__name")
            .annotate(
                open=Count("pk"),
                plan_overdue=Count("pk", filter=Q(status=OrderStatus.OPEN, plan_due__lt=today)),
                resolve_overdue=Count("pk", filter=Q(resolve_due__lt=today)),
            )
            .order_by("-resolve_overdue", "-plan_overdue", "project__park__name")
        )
        base = reverse("admin:recruitment_supervisionorder_changelist")
        parks = [
            {
                **row,
                "url": f"{base}?project__park__id__exact={row['project__park_id']}",
                "plan_url": f"{base}?project__park__id__exact={row['project__park_id']}&overdue=plan",
                "resolve_url": f"{base}?project__park__id__exact={row['project__park_id']}&overdue=resolve",
            }
            for row in rows
        ]
        totals = {k: sum(p[k] for p in parks) for k in ("open", "plan_overdue", "resolve_overdue")}
        context = {
            **self.admin_site.each_context(request),
            "title": _("Supervision overview 督办总览"),
            "parks": parks,
            "totals": totals,
            "opts": self.model._meta,
            "changelist_url": base,
        }
        return TemplateResponse(request, "admin/recruitment/supervisionorder/overview.html", context)


@admin.register(MySupervisionOrder)
class MySupervisionOrderAdmin(SupervisionOrderAdmin):
    """The signed-in user's open orders: responsible person or leader."""

    list_filter = ["status", OverdueFilter]

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        return (
            super()
            .get_queryset(request)
            .filter(Q(responsible=request.user) | Q(leader=request.user), status__in=OPEN_ORDER_STATUSES)
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


def light_column(obj: Any) -> str:
    try:
        color = obj.light.color
    except ProjectLight.DoesNotExist:
        color = None
    return light_badge_html(color)


def reasons_html(reasons: list[str]) -> str:
    return format_html_join("", "<li>{}</li>", ((r,) for r in reasons))
