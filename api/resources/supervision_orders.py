"""``supervision-orders/``: supervision orders (督办单) on signed projects.

Created by the provincial office (on any park's project) or a park office (on its
own); an API key speaks for its office. ``status`` moves only through
``POST supervision-orders/<id>/transition/`` (open → plan_submitted → resolved, or
closed by the issuer with a note); every move is recorded. Orders are never
deleted (DELETE answers 405).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api import schema as docs
from api.fields import Text
from api.idempotency import idempotent
from api.presenters import Column, Presenter
from api.record_docs import documented
from api.record_views import RecordViewSet
from api.references import RecordRefField
from api.rendering import fmt_uuid
from api.resources.common import RECORD_COLUMNS, ExternalIdField, RecordFilter, RecordOutput
from api.resources.follow_ups import AssigneeField
from api.resources.landing_fields import DateOnly
from crm.models import Office
from recruitment.landing_models import OrderStatus
from recruitment.models import SupervisionOrder
from recruitment.supervision import order_create, order_transition, order_update


def _fmt_date(value: Any) -> str | None:
    return None if value is None else value.isoformat()


PRESENTER = Presenter(
    SupervisionOrder,
    columns=RECORD_COLUMNS
    + (
        Column("project", "project_id", fmt_uuid),
        Column("issued_by", "issued_by__username"),
        Column("responsible", "responsible__username"),
        Column("leader", "leader__username"),
        Column("required", "required"),
        Column("plan_due", "plan_due", _fmt_date),
        Column("resolve_due", "resolve_due", _fmt_date),
        Column("status", "status"),
        Column("auto", "auto"),
        Column("plan", "plan"),
        Column("note", "note"),
    ),
)


class OrderOutput(RecordOutput):
    project = serializers.UUIDField(read_only=True)
    issued_by = serializers.CharField(read_only=True, allow_null=True, help_text=_("Username; null when automatic."))
    responsible = serializers.CharField(read_only=True, allow_null=True, help_text=_("Username (责任人)."))
    leader = serializers.CharField(read_only=True, allow_null=True, help_text=_("Username (责任领导)."))
    required = serializers.CharField(read_only=True)
    plan_due = serializers.DateField(read_only=True)
    resolve_due = serializers.DateField(read_only=True)
    status = serializers.ChoiceField(choices=OrderStatus.choices, read_only=True)
    auto = serializers.BooleanField(read_only=True, help_text=_("Opened automatically when the light turned red."))
    plan = serializers.CharField(read_only=True, help_text=_("The correction plan submitted."))
    note = serializers.CharField(read_only=True, help_text=_("The note of the last decision (closing, resolving)."))


def _person(help_text: str) -> AssigneeField:
    return AssigneeField(max_length=150, required=False, allow_null=True, allow_blank=True, help_text=help_text)


class OrderInput(serializers.Serializer):
    external_id = ExternalIdField()
    project = RecordRefField(model_label="recruitment.Project", scoped=True, help_text=_("Id of a signed project."))
    responsible = _person(_("Username of the responsible person; the project's owner when left out."))
    leader = _person(_("Username of the responsible leader."))
    required = Text(max_length=20_000, help_text=_("What is required."))
    plan_due = DateOnly(help_text=_("Deadline for a correction plan."))
    resolve_due = DateOnly(help_text=_("Deadline for resolution."))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance = self.context.get("instance")
        if instance is not None and "project" in attrs and attrs["project"].pk != instance.project_id:
            raise serializers.ValidationError({"project": [_("An order stays with its project.")]}, code="invalid")
        return attrs


class OrderTransitionInput(serializers.Serializer):
    to = serializers.ChoiceField(choices=OrderStatus.choices)
    note = Text(max_length=20_000, required=False, allow_blank=True, help_text=_("Required to close."))
    plan = Text(max_length=20_000, required=False, allow_blank=True, help_text=_("Required for `plan_submitted`."))


class OrderFilter(RecordFilter):
    project = django_filters.UUIDFilter(field_name="project_id")
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)
    responsible = django_filters.CharFilter(field_name="responsible__username", label=_("Username."))

    class Meta:
        model = SupervisionOrder
        fields: list[str] = []


@extend_schema_view(destroy=extend_schema(exclude=True))
@documented
class SupervisionOrderViewSet(RecordViewSet):
    basename = "supervision-orders"
    noun = "supervision order"
    presenter = PRESENTER
    input_serializer = OrderInput
    output_serializer = OrderOutput
    filterset_class = OrderFilter
    refused_actions = ("destroy",)

    def perform_create(self, *, office: Office, actor: Any, values: dict[str, Any]) -> SupervisionOrder:
        return order_create(actor=actor, as_office=True, **values)

    def perform_update(self, *, obj: SupervisionOrder, actor: Any, values: dict[str, Any]) -> SupervisionOrder:
        values = {k: v for k, v in values.items() if k != "project"}
        return order_update(order=obj, actor=actor, as_office=True, **values)

    def destroy(self, request: Request, pk: str) -> Response:
        raise exceptions.MethodNotAllowed(
            request.method or "DELETE", detail=str(_("Supervision orders are kept; close one instead."))
        )

    @docs.move_schema(
        tag="supervision-orders",
        summary="Move a supervision order to another state",
        request=OrderTransitionInput,
        output=OrderOutput,
    )
    @action(detail=True, methods=["post"], url_path="transition")
    def transition(self, request: Request, pk: str) -> Response:
        return idempotent(request, lambda: self.move_response(pk, OrderTransitionInput, self._move))

    def _move(self, order: SupervisionOrder, values: dict[str, Any]) -> None:
        order_transition(
            order=order,
            to=values["to"],
            note=values.get("note", ""),
            plan=values.get("plan", ""),
            actor=self.request.user,
            as_office=True,
        )
