"""``progress/``: landing progress entries of signed projects, append-only.

An entry is created, never changed: PUT, PATCH and DELETE answer 405. A correction
is a new entry naming the one it ``corrects``, with a ``reason``; the corrected
entry stays as it was and no longer counts.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.fields import Text
from api.presenters import Column, Presenter
from api.record_docs import documented
from api.record_views import RecordViewSet
from api.references import RecordRefField
from api.rendering import fmt_datetime, fmt_decimal, fmt_uuid
from api.resources.common import RECORD_COLUMNS, ExternalIdField, RecordFilter, RecordOutput, money
from api.resources.landing_fields import DateOnly, MonthField
from crm.models import Office
from recruitment.landing import ProgressImmutable, progress_record
from recruitment.models import Milestone, ProgressEntry


def _fmt_month(value: Any) -> str | None:
    return None if value is None else f"{value:%Y-%m}"


def _fmt_date(value: Any) -> str | None:
    return None if value is None else value.isoformat()


PRESENTER = Presenter(
    ProgressEntry,
    columns=RECORD_COLUMNS
    + (
        Column("project", "project_id", fmt_uuid),
        Column("month", "month", _fmt_month),
        Column("kind", "kind"),
        Column("amount", "amount", fmt_decimal),
        Column("milestone", "milestone"),
        Column("date", "date", _fmt_date),
        Column("corrects", "corrects_id", fmt_uuid),
        Column("reason", "reason"),
        Column("recorded_by", "recorded_by__username"),
        Column("recorded_at", "recorded_at", fmt_datetime),
    ),
)


class ProgressOutput(RecordOutput):
    project = serializers.UUIDField(read_only=True)
    month = MonthField(read_only=True)
    kind = serializers.ChoiceField(choices=ProgressEntry.Kind.choices, read_only=True)
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True, allow_null=True)
    milestone = serializers.ChoiceField(choices=Milestone.choices, allow_blank=True, read_only=True)
    date = serializers.DateField(read_only=True, allow_null=True)
    corrects = serializers.UUIDField(read_only=True, allow_null=True)
    reason = serializers.CharField(read_only=True)
    recorded_by = serializers.CharField(read_only=True, allow_null=True, help_text=_("Username."))
    recorded_at = serializers.DateTimeField(read_only=True)


class ProgressInput(serializers.Serializer):
    external_id = ExternalIdField()
    project = RecordRefField(model_label="recruitment.Project", scoped=True, help_text=_("Id of a signed project."))
    month = MonthField(help_text=_("The month the entry counts in (YYYY-MM)."))
    kind = serializers.ChoiceField(choices=ProgressEntry.Kind.choices)
    amount = money(help_text=_("CNY: for `investment` (completed in the month) and `funds` (in place)."))
    milestone = serializers.ChoiceField(
        choices=Milestone.choices, required=False, allow_blank=True, help_text=_("For kind `milestone`.")
    )
    date = DateOnly(required=False, allow_null=True, help_text=_("For kind `milestone`: when it was reached."))
    corrects = RecordRefField(
        model_label="recruitment.ProgressEntry",
        scoped=True,
        required=False,
        allow_null=True,
        help_text=_("The id of the entry this one corrects, or null."),
    )
    reason = Text(max_length=20_000, required=False, allow_blank=True, help_text=_("Required for a correction."))


class ProgressFilter(RecordFilter):
    project = django_filters.UUIDFilter(field_name="project_id")
    kind = django_filters.ChoiceFilter(choices=ProgressEntry.Kind.choices)
    month = django_filters.CharFilter(method="filter_month", label=_("Month (YYYY-MM)."))

    class Meta:
        model = ProgressEntry
        fields: list[str] = []

    def filter_month(self, queryset: Any, name: str, value: str) -> Any:
        try:
            month = MonthField().to_internal_value(value)
        except serializers.ValidationError as exc:
            raise exceptions.ValidationError({"month": exc.detail}) from None
        return queryset.filter(month=month)


def _not_allowed(method: str) -> exceptions.MethodNotAllowed:
    return exceptions.MethodNotAllowed(
        method, detail=str(_("Progress entries are never changed; record a correction (a new entry with a reason)."))
    )


@extend_schema_view(
    update=extend_schema(exclude=True),
    partial_update=extend_schema(exclude=True),
    destroy=extend_schema(exclude=True),
)
@documented
class ProgressViewSet(RecordViewSet):
    basename = "progress"
    noun = "progress entry"
    presenter = PRESENTER
    input_serializer = ProgressInput
    output_serializer = ProgressOutput
    filterset_class = ProgressFilter
    refused_actions = ("update", "partial_update", "destroy")

    def perform_create(self, *, office: Office, actor: Any, values: dict[str, Any]) -> ProgressEntry:
        values = dict(values)
        values.setdefault("milestone", "")
        values["milestone"] = values["milestone"] or ""
        return progress_record(actor=actor, **values)

    def perform_update(self, *, obj: ProgressEntry, actor: Any, values: dict[str, Any]) -> ProgressEntry:
        raise ProgressImmutable()

    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        raise _not_allowed(request.method or "PUT")

    def partial_update(self, request: Request, pk: str) -> Response:
        raise _not_allowed(request.method or "PATCH")

    def destroy(self, request: Request, pk: str) -> Response:
        raise _not_allowed(request.method or "DELETE")
