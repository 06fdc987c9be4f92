"""``interactions/``: calls, visits, meetings… with an enterprise (owned by an office)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from api.fields import DateTime, StrictInput, Text
from api.filters import UtcDateTimeFilter
from api.presenters import Column, ManyColumn, Presenter
from api.record_docs import documented
from api.record_views import RecordViewSet
from api.references import RecordRefField, RecordRefsField
from api.rendering import fmt_datetime, fmt_uuid
from api.resources.common import RECORD_COLUMNS, ExternalIdField, RecordFilter, RecordOutput
from crm.bulk_records import interactions_upsert
from crm.bulk_save import Upserted
from crm.models import Interaction, Office
from crm.services import interaction_delete, interaction_log, interaction_update

PRESENTER = Presenter(
    Interaction,
    columns=RECORD_COLUMNS
    + (
        Column("enterprise", "enterprise_id", fmt_uuid),
        Column("project", "project_id", fmt_uuid),
        Column("kind", "kind"),
        Column("occurred_at", "occurred_at", fmt_datetime),
        Column("summary", "summary"),
    ),
    many=(
        ManyColumn(
            "contacts",
            through=lambda: Interaction.contacts.through,
            owner="interaction_id",
            value="contact_id",
            order=("contact_id",),
            fmt=fmt_uuid,
        ),
    ),
)


class InteractionOutput(RecordOutput):
    enterprise = serializers.UUIDField(read_only=True)
    project = serializers.UUIDField(read_only=True, allow_null=True)
    kind = serializers.ChoiceField(choices=Interaction.Kind.choices, read_only=True)
    occurred_at = serializers.DateTimeField(read_only=True)
    summary = serializers.CharField(read_only=True)
    contacts = serializers.ListField(child=serializers.UUIDField(), read_only=True)


class InteractionInput(StrictInput):
    external_id = ExternalIdField()
    enterprise = RecordRefField(model_label="crm.Enterprise", scoped=False, help_text=_("Enterprise id."))
    project = RecordRefField(
        model_label="recruitment.Project",
        scoped=True,
        required=False,
        allow_null=True,
        help_text=_("Id of one of your projects."),
    )
    kind = serializers.ChoiceField(choices=Interaction.Kind.choices)
    occurred_at = DateTime()
    summary = Text(max_length=20_000)
    contacts = RecordRefsField(
        model_label="crm.Contact", required=False, help_text=_("Ids of your contacts at this enterprise.")
    )


class InteractionFilter(RecordFilter):
    enterprise = django_filters.UUIDFilter(field_name="enterprise_id")
    project = django_filters.UUIDFilter(field_name="project_id")
    kind = django_filters.ChoiceFilter(choices=Interaction.Kind.choices)
    occurred_after = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Interaction
        fields: list[str] = []


@documented
class InteractionViewSet(RecordViewSet):
    basename = "interactions"
    noun = "interaction"
    presenter = PRESENTER
    input_serializer = InteractionInput
    output_serializer = InteractionOutput
    filterset_class = InteractionFilter
    owner_field = "project"
    many_fields = {"contacts": "contacts"}

    def perform_create(self, *, office: Office, actor: Any, values: dict[str, Any]) -> Interaction:
        return interaction_log(office=office, actor=actor, **values)

    def perform_update(self, *, obj: Interaction, actor: Any, values: dict[str, Any]) -> Interaction:
        values = dict(values)
        contacts = values.pop("contacts", None)
        return interaction_update(interaction=obj, actor=actor, contacts=contacts, **values)

    def bulk_upsert(self, values: list[dict[str, Any]]) -> list[Upserted]:
        return interactions_upsert(office=self.office, actor=self.request.user, items=values)

    def perform_delete(self, *, obj: Interaction, actor: Any) -> None:
        interaction_delete(interaction=obj, actor=actor)
