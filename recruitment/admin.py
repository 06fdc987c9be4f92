"""Admin for the pipeline: projects, their status history, follow-ups; and the enterprise
page with its projects, timeline and quick logging.

Projects and follow-ups are office records: read through :mod:`crm.admin_tenancy`,
written through :mod:`recruitment.services`. A project's status is never a form
field: it moves only through the transition page, which calls
:func:`recruitment.services.project_transition` like every other interface.
The enterprise admin of ``crm`` is replaced here by a subclass that adds what
only this app knows (projects, status changes, follow-ups), so ``crm`` never
imports ``recruitment``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.db import models
from django.db.models import Count, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from chains.admin_filters import ReferenceListFilter, stage_filter
from chains.admin_lookups import OfferedLookupsOnlyMixin
from chains.models import Stage
from crm import admin as crm_admin
from crm.admin_lists import LargeTableAdminMixin, LargeTableChangeList, OfficeListFilter, UserListFilter
from crm.admin_tenancy import TenantModelAdminMixin, TenantScopedMixin
from crm.admin_writes import SERVICE_ERRORS, ServiceInlineMixin, as_validation_error, form_data
from crm.models import Enterprise, Interaction
from crm.search import search_projects, sqlite_page_rows

# Reminder admin lives in its own module; importing it registers it.
from recruitment import reminders_admin  # noqa: F401
from recruitment.admin_forms import QuickLogForm, TransitionForm
from recruitment.admin_views import may_quick_log, quick_log_page, transition_page
from recruitment.dashboard import stale_projects
from recruitment.exports import export_csv_action, export_xlsx_action
from recruitment.landing_admin import LightFilter, landing_context, light_column
from recruitment.models import FollowUp, Project, ProjectStatusChange, ReminderDelivery
from recruitment.services import (
    FOLLOWUP_FIELDS,
    PROJECT_FIELDS,
    followup_cancel,
    followup_complete,
    followup_create,
    followup_delete,
    followup_update,
    project_create,
    project_delete,
    project_update,
)
from recruitment.timeline import timeline_for_enterprise, timeline_for_project


def _change_url(obj: models.Model) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


class StaleFilter(admin.SimpleListFilter):
    """Open projects with no interaction for the configured period (the dashboard links here)."""

    title = _("stale")
    parameter_name = "stale"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("1", _("No interaction recently"))]

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
        if self.value() == "1":
            return stale_projects(queryset, now=timezone.now())
        return queryset


# --- Inlines on a project ------------------------------------------------------------


class FollowUpInline(TenantScopedMixin, ServiceInlineMixin, admin.TabularInline):
    """The project's follow-ups; new ones are assigned to whoever adds them."""

    model = FollowUp
    fields = ["kind", "due_at", "note", "assignee", "status"]
    readonly_fields = ["assignee", "status"]
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 48})}}
    extra = 0
    show_change_link = True
    ordering = ["due_at"]

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        # The inline shows each row's name (``FollowUp.__str__`` names the project).
        return super().get_queryset(request).select_related("assignee", "project")

    def service_create(self, request: HttpRequest, parent: models.Model, form: forms.ModelForm) -> FollowUp:
        data = form_data(form, ("kind", "due_at", "note"), only_changed=False)
        office = crm_admin.office_under(request, parent.office, field="project")
        return followup_create(office=office, actor=request.user, project=parent, assignee=request.user, **data)

    def service_update(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm) -> FollowUp:
        data = form_data(form, ("kind", "due_at", "note"), only_changed=True)
        return followup_update(follow_up=obj, actor=request.user, **data)

    def service_delete(self, request: HttpRequest, obj: models.Model) -> None:
        followup_delete(follow_up=obj, actor=request.user)


class StatusChangeInline(crm_admin.ReadOnlyInlineMixin, admin.TabularInline):
    model = ProjectStatusChange
    fields = ["changed_at", "from_status", "to_status", "changed_by", "note"]
    readonly_fields = fields
    ordering = ["-changed_at", "-created_at"]
    show_change_link = False
    verbose_name_plural = _("status history")

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).select_related("changed_by", "project")


class ProjectInteractionInline(TenantScopedMixin, crm_admin.ReadOnlyInlineMixin, admin.TabularInline):
    model = Interaction
    fk_name = "project"
    fields = ["occurred_at", "kind", "summary_short", "staff"]
    readonly_fields = fields
    ordering = ["-occurred_at"]

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).select_related("staff", "enterprise")

    @admin.display(description=_("summary"))
    def summary_short(self, obj: Interaction) -> str:
        return Truncator(obj.summary).chars(80)


# --- Projects ----------------------------------------------------------------------------


class WorkPanelMixin:
    """The change page's work panel: quick logging and the timeline (and, on a project, the transition)."""

    def quick_log_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        raise NotImplementedError

    def work_panel_urls(self) -> list:
        opts = self.model._meta  # type: ignore[attr-defined]
        wrap = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [
            path(
                "<path:object_id>/quick-log/",
                wrap(self.quick_log_view),
                name=f"{opts.app_label}_{opts.model_name}_quick_log",
            )
        ]


def add_page_columns(projects: list[Project]) -> None:
    """Interaction count, last interaction and next open follow-up of ``projects``, in one
    query over their ids: a page's worth, never the rows a deep page skips; and their
    target stages' names, in a second one (names only: no stage or chain rows built)."""
    if not projects:
        return
    ids = [p.pk for p in projects]
    stage_names: dict[Any, list[str]] = {}
    # In the stages' own order, as ``project.stages.all()`` lists them.
    for pk, name in (
        Project.stages.through.objects.filter(project_id__in=ids)
        .order_by(*(f"stage__{field}" for field in Stage._meta.ordering))
        .values_list("project_id", "stage__name")
    ):
        stage_names.setdefault(pk, []).append(name)
    of_project = Interaction.objects.filter(project=OuterRef("pk")).order_by()
    open_follow_ups = FollowUp.objects.filter(project=OuterRef("pk"), status=FollowUp.Status.OPEN)
    columns = {
        pk: rest
        for pk, *rest in Project.objects.filter(pk__in=ids)
        .order_by()
        .values_list(
            "pk",
            Coalesce(Subquery(of_project.values("project").annotate(n=Count("pk")).values("n")[:1]), 0),
            Subquery(of_project.order_by("-occurred_at").values("occurred_at")[:1]),
            Subquery(open_follow_ups.order_by("due_at").values("due_at")[:1]),
        )
    }
    for project in projects:
        count, last, next_due = columns.get(project.pk, (0, None, None))
        project._interaction_count = count  # type: ignore[attr-defined]
        project._last_interaction_at = last  # type: ignore[attr-defined]
        project._next_follow_up_at = next_due  # type: ignore[attr-defined]
        project._stage_names = ", ".join(stage_names.get(project.pk, ()))  # type: ignore[attr-defined]


class ProjectChangeList(LargeTableChangeList):
    """The page's rows first, then their computed columns (:func:`add_page_columns`)."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> models.QuerySet:
        # The target stages' names come with the page's columns: no stage rows prefetched.
        return super().get_queryset(request, exclude_parameters).prefetch_related(None)

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.result_list = list(self.result_list)
        add_page_columns(self.result_list)


@admin.register(Project)
class ProjectAdmin(WorkPanelMixin, LargeTableAdminMixin, crm_admin.OfficeRecordAdmin):
    """Every park's pipeline in one list: indexed search (crm.search), counts estimated
    past a limit, filters from reference tables, the computed columns for the page only."""

    search_function = staticmethod(search_projects)
    search_page_function = staticmethod(sqlite_page_rows)
    actions = [export_xlsx_action, export_csv_action]
    change_form_template = "admin/recruitment/project/change_form.html"
    list_display = [
        "title",
        "enterprise",
        "park",
        "stage_names",
        "status",
        "light_badge",
        "priority",
        "owner",
        "planned_investment_wan",
        "signed_amount_wan",
        "interaction_count",
        "last_interaction_at",
        "next_follow_up_at",
        "office",
    ]
    list_filter = [
        "status",
        LightFilter,
        ("park", ReferenceListFilter),
        ("park__zone", ReferenceListFilter),
        ("stages__chain", ReferenceListFilter),
        ("stages__chain__sector", ReferenceListFilter),
        stage_filter("stages"),
        ("office", OfficeListFilter),
        ("owner", UserListFilter),
        StaleFilter,
        "priority",
        "chain_role",
        "is_demo",
    ]
    list_select_related = ["enterprise", "park", "owner", "office", "light"]
    # Each has an index in this order (then newest id first); the computed columns are
    # worked out for the page's rows only, so they do not sort.
    sortable_by = ["title", "status", "priority", "planned_investment_wan", "signed_amount_wan"]
    search_fields = [
        "title",
        "enterprise__name",
        "enterprise__name_en",
        "enterprise__name_pinyin",
        "enterprise__name_initials",
        "enterprise__credit_code",
        "external_id",
    ]
    search_help_text = _("Title, enterprise name, pinyin, initials or credit code.")
    # The dashboard's period links (status changed / created within a period).
    extra_lookup_paths = ("status_changed_at", "created_at")
    autocomplete_fields = ["enterprise", "stages"]
    readonly_fields = ["status", "status_changed_at", "lost_reason", "chain_role_overridden"]
    fieldsets = [
        (None, {"fields": ["title", "enterprise", "park", "stages", "owner", "priority"]}),
        (
            _("Pipeline"),
            {"fields": ["status", "status_changed_at", "lost_reason", "chain_role", "chain_role_overridden"]},
        ),
        (
            _("Figures for government reporting"),
            {
                "fields": [
                    "planned_investment",
                    "signed_amount",
                    "funds_in_place",
                    "expected_output_value",
                    "expected_jobs",
                ]
            },
        ),
        (_("Notes"), {"fields": ["description", "is_demo"]}),
        (_("Record"), {"fields": crm_admin.RECORD_FIELDS, "classes": ["collapse"]}),
    ]
    inlines = [FollowUpInline, StatusChangeInline, ProjectInteractionInline]

    class Media:
        css = {"all": ["recruitment/landing.css"]}

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        """Stages prefetched with their chains (the change page names them); the change
        list reads only their names, with its page's columns (:class:`ProjectChangeList`)."""
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("stages", queryset=Stage.objects.select_related("chain")))
        )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ProjectChangeList

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("owner", request.user.pk)
        return initial

    # --- list columns --------------------------------------------------------------------
    @admin.display(description=_("light"), ordering="light__color")
    def light_badge(self, obj: Project) -> str:
        return light_column(obj)

    @admin.display(description=_("target stages"))
    def stage_names(self, obj: Project) -> str:
        names = getattr(obj, "_stage_names", None)  # the page's, from add_page_columns
        if names is None:
            names = ", ".join(s.name for s in obj.stages.all())
        return names or "—"

    @admin.display(description=_("planned (万元)"), ordering="planned_investment")
    def planned_investment_wan(self, obj: Project) -> str:
        return crm_admin.money_wan(obj.planned_investment)

    @admin.display(description=_("signed (万元)"), ordering="signed_amount")
    def signed_amount_wan(self, obj: Project) -> str:
        return crm_admin.money_wan(obj.signed_amount)

    @admin.display(description=_("interactions"))
    def interaction_count(self, obj: Project) -> int:
        return getattr(obj, "_interaction_count", 0)

    @admin.display(description=_("last interaction"))
    def last_interaction_at(self, obj: Project):  # type: ignore[no-untyped-def]
        return getattr(obj, "_last_interaction_at", None)

    @admin.display(description=_("next follow-up"))
    def next_follow_up_at(self, obj: Project):  # type: ignore[no-untyped-def]
        return getattr(obj, "_next_follow_up_at", None)

    # --- writes through the services -----------------------------------------------------
    def service_create(self, request: HttpRequest, form: forms.ModelForm) -> Project:
        return project_create(
            office=self.office_for_create(request, form),
            actor=request.user,
            stages=form.cleaned_data.get("stages") or [],
            **form_data(form, PROJECT_FIELDS, only_changed=False),
        )

    def service_update(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm) -> Project:
        return project_update(
            project=obj,
            actor=request.user,
            stages=form.cleaned_data["stages"] if "stages" in form.changed_data else None,
            **form_data(form, PROJECT_FIELDS, only_changed=True),
        )

    def service_delete(self, request: HttpRequest, obj: models.Model) -> None:
        project_delete(project=obj, actor=request.user)

    def get_deleted_objects(self, objs, request):  # type: ignore[no-untyped-def]
        """Status history and reminder deliveries go with their project: they are not the
        user's to delete one by one, so their permissions are not asked for."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        system_rows = {str(model._meta.verbose_name) for model in (ProjectStatusChange, ReminderDelivery)}
        return deleted, counts, {p for p in perms_needed if str(p) not in system_rows}, protected

    # --- the work panel -----------------------------------------------------------------
    def get_urls(self) -> list:
        opts = self.model._meta
        transition = path(
            "<path:object_id>/transition/",
            self.admin_site.admin_view(self.transition_view),
            name=f"{opts.app_label}_{opts.model_name}_transition",
        )
        return [transition, *self.work_panel_urls(), *super().get_urls()]

    def transition_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        project = self.get_object(request, unquote(object_id))
        return transition_page(request, model_admin=self, project=project, back_url=_change_url(project))

    def quick_log_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        project = self.get_object(request, unquote(object_id))
        return quick_log_page(
            request, model_admin=self, enterprise=project.enterprise, project=project, back_url=_change_url(project)
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):  # type: ignore[no-untyped-def]
        if obj is not None:
            context["timeline"] = timeline_for_project(project=obj, user=request.user)
            context.update(landing_context(obj, request=request))
            if may_quick_log(request):
                context["quick_log_form"] = QuickLogForm(user=request.user, enterprise=obj.enterprise, project=obj)
            if self.has_change_permission(request, obj):
                context["transition_form"] = TransitionForm(project=obj)
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(ProjectStatusChange)
class ProjectStatusChangeAdmin(OfferedLookupsOnlyMixin, TenantModelAdminMixin, admin.ModelAdmin):
    """The pipeline's record of moves; written only by ``project_transition``."""

    scope_through = "project"
    list_display = ["changed_at", "project", "from_status", "to_status", "changed_by", "note"]
    list_filter = ["to_status", "from_status", ("project__park", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["project", "changed_by"]
    date_hierarchy = "changed_at"
    search_fields = ["project__title", "project__enterprise__name", "note"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


# --- Follow-ups ------------------------------------------------------------------------------


@admin.register(FollowUp)
class FollowUpAdmin(crm_admin.PinyinSearchMixin, crm_admin.OfficeRecordAdmin):
    """Follow-ups belong to their project's office, so the office is never chosen here."""

    pinyin_field = "project__enterprise__name_pinyin"
    list_display = ["due_at", "project", "enterprise", "assignee", "kind", "status", "is_overdue", "note_short"]
    list_filter = [
        "status",
        "kind",
        ("assignee", admin.RelatedOnlyFieldListFilter),
        ("project__park", admin.RelatedOnlyFieldListFilter),
        ("project__stages__chain", admin.RelatedFieldListFilter),
        ("office", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["project__enterprise", "assignee", "office"]
    date_hierarchy = "due_at"
    search_fields = ["note", "project__title", "project__enterprise__name", "project__enterprise__name_initials"]
    autocomplete_fields = ["project"]
    readonly_fields = ["status", "completed_at"]
    fieldsets = [
        (None, {"fields": ["project", "assignee", "kind", "due_at", "note"]}),
        (_("State"), {"fields": ["status", "completed_at"]}),
        (_("Record"), {"fields": crm_admin.RECORD_FIELDS, "classes": ["collapse"]}),
    ]
    actions = ["complete_selected", "cancel_selected"]

    def get_fieldsets(self, request: HttpRequest, obj=None):  # type: ignore[no-untyped-def]
        fieldsets = super().get_fieldsets(request, obj)
        return crm_admin.fieldsets_without(fieldsets, "office") if obj is None else fieldsets

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """Follow-ups filter by whatever their projects' list filters by (park, chain, sector,
        office, period), so a report can link to "the follow-ups behind this figure"."""
        if lookup.startswith("project__"):
            project_admin = self.admin_site.get_model_admin(Project)
            return project_admin.lookup_allowed(lookup.removeprefix("project__"), value, request)
        return super().lookup_allowed(lookup, value, request)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("assignee", request.user.pk)
        return initial

    @admin.display(description=_("enterprise"))
    def enterprise(self, obj: FollowUp) -> Enterprise:
        return obj.project.enterprise

    @admin.display(description=_("overdue"), boolean=True)
    def is_overdue(self, obj: FollowUp) -> bool:
        return obj.status == FollowUp.Status.OPEN and obj.due_at < timezone.now()

    @admin.display(description=_("note"))
    def note_short(self, obj: FollowUp) -> str:
        return Truncator(obj.note).chars(60)

    def service_create(self, request: HttpRequest, form: forms.ModelForm) -> FollowUp:
        project = form.cleaned_data["project"]
        return followup_create(
            office=crm_admin.office_under(request, project.office, field="project"),
            actor=request.user,
            **form_data(form, FOLLOWUP_FIELDS, only_changed=False),
        )

    def service_update(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm) -> FollowUp:
        return followup_update(follow_up=obj, actor=request.user, **form_data(form, FOLLOWUP_FIELDS, only_changed=True))

    def service_delete(self, request: HttpRequest, obj: models.Model) -> None:
        followup_delete(follow_up=obj, actor=request.user)

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:  # type: ignore[no-untyped-def]
        fields = super().get_readonly_fields(request, obj)
        # A follow-up stays with its project; move work by creating a new one.
        return [*fields, "project"] if obj is not None else fields

    def _each(self, request: HttpRequest, queryset: models.QuerySet, service, done_message: str) -> None:  # type: ignore[no-untyped-def]
        done, refused = 0, []
        for follow_up in queryset.select_related("project"):
            try:
                service(follow_up=follow_up, actor=request.user)
                done += 1
            except SERVICE_ERRORS as exc:
                refused.append(f"{follow_up}: {'; '.join(as_validation_error(exc).messages)}")
        if done:
            self.message_user(request, done_message % {"count": done}, messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)

    @admin.action(description=_("Mark selected follow-ups done"), permissions=["change"])
    def complete_selected(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        self._each(request, queryset, followup_complete, _("%(count)d follow-ups marked done."))

    @admin.action(description=_("Cancel selected follow-ups"), permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        self._each(request, queryset, followup_cancel, _("%(count)d follow-ups cancelled."))


# --- The enterprise page, with what the pipeline knows about it ------------------------------------


class ProjectInline(TenantScopedMixin, crm_admin.ReadOnlyInlineMixin, admin.TabularInline):
    model = Project
    fields = ["title", "park", "status", "owner", "planned_investment", "office"]
    readonly_fields = fields
    ordering = ["-created_at"]
    verbose_name_plural = _("recruitment projects (visible to you)")

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).select_related("park", "owner", "office")


admin.site.unregister(Enterprise)


@admin.register(Enterprise)
class EnterpriseAdmin(WorkPanelMixin, crm_admin.EnterpriseAdmin):
    change_form_template = "admin/recruitment/enterprise/change_form.html"
    inlines = [*crm_admin.EnterpriseAdmin.inlines, ProjectInline]

    def get_urls(self) -> list:
        return [*self.work_panel_urls(), *super().get_urls()]

    def quick_log_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        enterprise = self.get_object(request, unquote(object_id))
        return quick_log_page(
            request, model_admin=self, enterprise=enterprise, project=None, back_url=_change_url(enterprise)
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):  # type: ignore[no-untyped-def]
        if obj is not None:
            context["timeline"] = timeline_for_enterprise(enterprise=obj, user=request.user)
            if may_quick_log(request):
                context["quick_log_form"] = QuickLogForm(user=request.user, enterprise=obj)
        return super().render_change_form(request, context, add, change, form_url, obj)
