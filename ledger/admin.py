"""Admin for the ledger: submissions and corrections (read-only), evidence files, assessment schemes."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from crm.access import office_sees_everything
from ledger.models import (
    AssessmentScheme,
    EvidenceFile,
    LedgerCorrection,
    LedgerSubmission,
    SchemeAdjustment,
    SchemeIndicator,
    SchemeValue,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def get_queryset(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        qs = super().get_queryset(request)
        user = request.user
        if office_sees_everything(user.office, is_superuser=user.is_superuser):  # type: ignore[union-attr]
            return qs
        return qs.filter(office=user.office) if user.office_id else qs.none()  # type: ignore[union-attr]


@admin.register(LedgerSubmission)
class LedgerSubmissionAdmin(ReadOnlyAdmin):
    list_display = ("month", "office", "submitted_at", "submitted_by", "deadline", "late", "ledger_link")
    list_filter = ("late", "month")
    exclude = ("snapshot",)

    @admin.display(description=_("ledger"))
    def ledger_link(self, obj: LedgerSubmission) -> str:
        url = reverse("ledger:monthly")
        return format_html(
            '<a href="{}?month={}&office={}">{}</a>', url, obj.month.strftime("%Y-%m"), obj.office.code, _("open")
        )


@admin.register(LedgerCorrection)
class LedgerCorrectionAdmin(ReadOnlyAdmin):
    list_display = ("month", "office", "entry", "reason", "recorded_by", "recorded_at", "reported_in")
    list_filter = ("month",)


@admin.register(EvidenceFile)
class EvidenceFileAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "entry", "office", "size", "uploaded_at")
    exclude = ("file",)


class IndicatorInline(admin.TabularInline):
    model = SchemeIndicator
    extra = 0


class ValueInline(admin.TabularInline):
    model = SchemeValue
    extra = 0


class AdjustmentInline(admin.TabularInline):
    model = SchemeAdjustment
    extra = 0


@admin.register(AssessmentScheme)
class AssessmentSchemeAdmin(admin.ModelAdmin):
    list_display = ("year", "name", "code", "leaderboard_link")
    inlines = (IndicatorInline, ValueInline, AdjustmentInline)

    @admin.display(description=_("leaderboard"))
    def leaderboard_link(self, obj: AssessmentScheme) -> str:
        return format_html('<a href="{}">{}</a>', reverse("ledger:leaderboard", args=[obj.code]), _("open"))

    def _province(self, request: HttpRequest) -> bool:
        return office_sees_everything(request.user.office, is_superuser=request.user.is_superuser)  # type: ignore[union-attr]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._province(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return self._province(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return self._province(request) and super().has_delete_permission(request, obj)
