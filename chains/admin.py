"""Admin for the reference data: zones, parks, sectors, chains and their stages.

Everyone signed in reads reference data; only staff who see everything (the
provincial department, superusers) change it, whatever permissions a park
office's group was given. The check reads ``user.office.sees_everything`` without
importing ``crm``: reference data is the bottom of the app stack.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from chains.admin_lookups import OfferedLookupsOnlyMixin
from chains.models import Chain, ChainPark, Park, Sector, Stage, StageEdge, Zone


def may_edit_reference(request: HttpRequest) -> bool:
    user = request.user
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    office = getattr(user, "office", None)
    return bool(office is not None and office.sees_everything)


class ReferenceWriteMixin:
    """Add, change and delete only for staff who may edit reference data (and hold the permission)."""

    def has_add_permission(self, request: HttpRequest, *args) -> bool:  # type: ignore[no-untyped-def]
        return may_edit_reference(request) and super().has_add_permission(request, *args)  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return may_edit_reference(request) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return may_edit_reference(request) and super().has_delete_permission(request, obj)  # type: ignore[misc]


class ReferenceAdmin(OfferedLookupsOnlyMixin, ReferenceWriteMixin, admin.ModelAdmin):
    search_fields = ["code", "name", "name_en"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(Zone)
class ZoneAdmin(ReferenceAdmin):
    list_display = ["name", "name_en", "code", "target_output_value"]
    fields = ["code", "name", "name_en", "target_output_value", "source", "created_at", "updated_at"]


@admin.register(Park)
class ParkAdmin(ReferenceAdmin):
    list_display = ["name", "name_en", "code", "zone", "city"]
    list_filter = ["zone", "city"]
    list_select_related = ["zone"]
    fields = ["code", "name", "name_en", "zone", "city", "source", "created_at", "updated_at"]


@admin.register(Sector)
class SectorAdmin(ReferenceAdmin):
    list_display = ["name", "name_en", "code"]
    fields = ["code", "name", "name_en", "source", "created_at", "updated_at"]


class StageInline(ReferenceWriteMixin, admin.TabularInline):
    model = Stage
    fields = ["order", "code", "name", "name_en"]
    extra = 0
    show_change_link = True
    ordering = ["order", "code"]


class ChainParkInline(ReferenceWriteMixin, admin.TabularInline):
    model = ChainPark
    fields = ["park", "source"]
    extra = 0
    verbose_name = _("park developing this chain")
    verbose_name_plural = _("parks developing this chain")


@admin.register(Chain)
class ChainAdmin(ReferenceAdmin):
    list_display = ["name", "name_en", "code", "sector", "zone", "chain_chief", "owner_enterprise", "stage_count"]
    list_filter = ["sector", "zone"]
    list_select_related = ["sector", "zone", "owner_enterprise"]
    autocomplete_fields = ["owner_enterprise"]
    fieldsets = [
        (None, {"fields": ["code", "name", "name_en", "sector", "zone", "target_output_value"]}),
        (_("Chain leadership"), {"fields": ["chain_chief", "lead_unit", "owner_enterprise"]}),
        (_("Source"), {"fields": ["source", "created_at", "updated_at"]}),
    ]
    inlines = [StageInline, ChainParkInline]

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).annotate(_stage_count=Count("stages"))

    @admin.display(description=_("stages"), ordering="_stage_count")
    def stage_count(self, obj: Chain) -> int:
        return obj._stage_count  # type: ignore[attr-defined]


class FeedsInline(ReferenceWriteMixin, admin.TabularInline):
    model = StageEdge
    fk_name = "upstream"
    fields = ["downstream"]
    extra = 0
    verbose_name = _("feeds (downstream stage)")
    verbose_name_plural = _("feeds (downstream stages)")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        if db_field.name == "downstream":
            kwargs["queryset"] = Stage.objects.select_related("chain")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Stage)
class StageAdmin(ReferenceAdmin):
    list_display = ["name", "name_en", "code", "chain", "order", "feeds_list"]
    list_filter = ["chain", "target_parks"]
    list_select_related = ["chain"]
    search_fields = ["code", "name", "name_en", "chain__name", "chain__code"]
    ordering = ["chain__code", "order", "code"]
    filter_horizontal = ["target_parks"]
    fields = ["chain", "code", "name", "name_en", "order", "target_parks", "created_at", "updated_at"]
    inlines = [FeedsInline]

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).prefetch_related("feeds")

    @admin.display(description=_("feeds"))
    def feeds_list(self, obj: Stage) -> str:
        return ", ".join(s.name for s in obj.feeds.all()) or "—"


@admin.register(StageEdge)
class StageEdgeAdmin(OfferedLookupsOnlyMixin, ReferenceWriteMixin, admin.ModelAdmin):
    list_display = ["upstream", "downstream"]
    list_select_related = ["upstream__chain", "downstream__chain"]
    list_filter = ["upstream__chain"]
    search_fields = ["upstream__name", "downstream__name", "upstream__chain__name"]
    autocomplete_fields = ["upstream", "downstream"]


@admin.register(ChainPark)
class ChainParkAdmin(OfferedLookupsOnlyMixin, ReferenceWriteMixin, admin.ModelAdmin):
    list_display = ["chain", "park"]
    list_filter = ["chain", "park"]
    list_select_related = ["chain", "park"]
    fields = ["chain", "park", "source"]
