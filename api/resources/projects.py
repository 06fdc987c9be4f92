"""``projects/``: recruitment projects; status changes go through the pipeline.

A different ``status`` in a PUT/PATCH, like ``POST projects/<id>/transition/``,
is applied by ``project_transition``: an illegal move is a 400 naming the allowed
next statuses, and every move is recorded in the project's status history.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api import schema as docs
from api.errors import validation_error_from
from api.fields import Integer, StrictInput, Text
from api.idempotency import idempotent
from api.presenters import Column, ManyColumn, Presenter
from api.record_docs import documented
from api.record_views import RecordViewSet
from api.references import ParkCodeField, RecordRefField, StageCodesField
from api.rendering import fmt_datetime, fmt_decimal, fmt_uuid
from api.resources.common import MAX_INT, RECORD_COLUMNS, ExternalIdField, RecordFilter, RecordOutput, money, text
from api.resources.landing_fields import LightOutput, PlanInput, PlanOutput, light_column, plan_column
from crm.bulk_save import Upserted
from crm.models import Office
from crm.search import search_projects
from recruitment.bulk import projects_upsert
from recruitment.landing import plan_changes, plan_read, project_plan_set
from recruitment.models import ChainRole, Color, Priority, Project
from recruitment.pipeline import IllegalTransition, Status
from recruitment.services import project_create, project_delete, project_transition, project_update

PRESENTER = Presenter(
    Project,
    columns=RECORD_COLUMNS
    + (
        Column("title", "title"),
        Column("enterprise", "enterprise_id", fmt_uuid),
        Column("enterprise_name", "enterprise__name"),
        Column("park", "park__code"),
        Column("park_name", "park__name"),
        Column("status", "status"),
        Column("status_changed_at", "status_changed_at", fmt_datetime),
        Column("lost_reason", "lost_reason"),
        Column("chain_role", "chain_role"),
        Column("priority", "priority"),
        Column("planned_investment", "planned_investment", fmt_decimal),
        Column("signed_amount", "signed_amount", fmt_decimal),
        Column("funds_in_place", "funds_in_place", fmt_decimal),
        Column("expected_output_value", "expected_output_value", fmt_decimal),
        Column("expected_jobs", "expected_jobs"),
        Column("description", "description"),
        plan_column(),
        light_column(),
    ),
    many=(
        ManyColumn(
            "stages",
            through=lambda: Project.stages.through,
            owner="project_id",
            value="stage__code",
            order=("stage__chain__code", "stage__order", "stage__code"),
        ),
    ),
)

_MONEY = {"max_digits": 18, "decimal_places": 2, "read_only": True, "allow_null": True}


class ProjectOutput(RecordOutput):
    title = serializers.CharField(read_only=True)
    enterprise = serializers.UUIDField(read_only=True)
    enterprise_name = serializers.CharField(read_only=True)
    park = serializers.CharField(read_only=True, help_text=_("Park code."))
    park_name = serializers.CharField(read_only=True)
    stages = serializers.ListField(child=serializers.CharField(), read_only=True)
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    status_changed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    lost_reason = serializers.CharField(read_only=True)
    chain_role = serializers.ChoiceField(choices=ChainRole.choices, allow_blank=True, read_only=True)
    priority = serializers.ChoiceField(choices=Priority.choices, read_only=True)
    planned_investment = serializers.DecimalField(**_MONEY)
    signed_amount = serializers.DecimalField(**_MONEY)
    funds_in_place = serializers.DecimalField(**_MONEY)
    expected_output_value = serializers.DecimalField(**_MONEY)
    expected_jobs = Integer(read_only=True, allow_null=True)
    description = serializers.CharField(read_only=True)
    plan = PlanOutput(
        read_only=True, help_text=_("The landing plan: planned dates and the cumulative investment schedule.")
    )
    light = LightOutput(
        read_only=True, allow_null=True, help_text=_("The warning light (三色预警); null before signing.")
    )


class ProjectInput(StrictInput):
    external_id = ExternalIdField()
    title = Text(max_length=200)
    enterprise = RecordRefField(model_label="crm.Enterprise", scoped=False, help_text=_("Enterprise id."))
    park = ParkCodeField()
    stages = StageCodesField(min_length=1, help_text=_("Target stage codes (at least one)."))
    status = serializers.ChoiceField(
        choices=Status.choices,
        required=False,
        help_text=_("A new project walks the milestones up to this status; a change goes through the pipeline."),
    )
    chain_role = serializers.ChoiceField(
        choices=ChainRole.choices,
        required=False,
        allow_blank=True,
        help_text=_("Leave out to derive it from the gap status of the stages."),
    )
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    planned_investment = money(help_text=_("CNY (拟投金额)."))
    signed_amount = money(help_text=_("CNY (签约额)."))
    funds_in_place = money(help_text=_("CNY (到位资金)."))
    expected_output_value = money(help_text=_("CNY per year."))
    expected_jobs = Integer(min_value=0, max_value=MAX_INT, required=False, allow_null=True)
    description = text(20_000)
    plan = PlanInput(
        required=False,
        help_text=_(
            "The landing plan (from signing on). PATCH keeps the dates left out; a given `investment` replaces the schedule."
        ),
    )


class TransitionInput(StrictInput):
    to = serializers.ChoiceField(choices=Status.choices)
    note = Text(
        max_length=20_000, required=False, allow_blank=True, help_text=_("Required when moving to `lost` (the reason).")
    )


class ProjectFilter(RecordFilter):
    status = django_filters.ChoiceFilter(choices=Status.choices)
    park = django_filters.CharFilter(field_name="park__code", label=_("Park code."))
    chain = django_filters.CharFilter(field_name="stages__chain__code", distinct=True, label=_("Chain code."))
    stage = django_filters.CharFilter(field_name="stages__code", distinct=True, label=_("Stage code."))
    enterprise = django_filters.UUIDFilter(field_name="enterprise_id")
    priority = django_filters.ChoiceFilter(choices=Priority.choices)
    light = django_filters.ChoiceFilter(field_name="light__color", choices=Color.choices, label=_("Light colour."))
    search = django_filters.CharFilter(
        method="filter_search", label=_("Matches the title, or the enterprise's name, pinyin, initials or credit code.")
    )

    class Meta:
        model = Project
        fields: list[str] = []

    def filter_search(self, queryset: models.QuerySet, name: str, value: str) -> models.QuerySet:
        if not value.strip():
            return queryset
        return search_projects(queryset, value)


@documented
class ProjectViewSet(RecordViewSet):
    basename = "projects"
    noun = "project"
    presenter = PRESENTER
    input_serializer = ProjectInput
    output_serializer = ProjectOutput
    filterset_class = ProjectFilter
    many_fields = {"stages": "stages"}

    def perform_create(self, *, office: Office, actor: Any, values: dict[str, Any]) -> Project:
        values = dict(values)
        plan = values.pop("plan", None)
        project = project_create(office=office, actor=actor, **values)
        if plan:
            project_plan_set(project=project, plan=plan, actor=actor, touch=False)
        return project

    def perform_update(self, *, obj: Project, actor: Any, values: dict[str, Any]) -> Project:
        values = dict(values)
        plan = values.pop("plan", None)
        stages = values.pop("stages", None)
        status = values.pop("status", None)
        project = project_update(project=obj, actor=actor, stages=stages, status=status, **values)
        if plan is not None:
            partial = self.request.method == "PATCH"
            project_plan_set(project=project, plan=plan, actor=actor, partial=partial, touch=False)
        return project

    def has_changes(self, obj: Project, values: dict[str, Any]) -> bool:
        values = dict(values)
        plan = values.pop("plan", None)
        if plan is not None and plan_changes(plan_read(obj), plan, partial=self.request.method == "PATCH"):
            return True
        return super().has_changes(obj, values)

    def bulk_upsert(self, values: list[dict[str, Any]]) -> list[Upserted]:
        return projects_upsert(office=self.office, actor=self.request.user, items=values)

    def perform_delete(self, *, obj: Project, actor: Any) -> None:
        # The service also unlinks its interactions (each moves in the feed) and tombstones its follow-ups.
        project_delete(project=obj, actor=actor)

    @docs.move_schema(
        tag="projects", summary="Move a project to another status", request=TransitionInput, output=ProjectOutput
    )
    @action(detail=True, methods=["post"], url_path="transition")
    def transition(self, request: Request, pk: str) -> Response:
        return idempotent(request, lambda: self.move_response(pk, TransitionInput, self._move))

    def _move(self, project: Project, values: dict[str, Any]) -> None:
        note = values.get("note", "")
        try:
            project_transition(project=project, to=values["to"], note=note, reason=note, actor=self.request.user)
        except IllegalTransition as exc:
            raise validation_error_from(exc, status_field="to") from None
