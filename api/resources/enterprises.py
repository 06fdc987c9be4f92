"""``enterprises/``: the shared directory.

Every office reads every enterprise. Changing one is for the office that created
it and for the provincial office (which also curates the reference enterprises
that no office created); another office that wants a correction asks them. An
office may delete an enterprise it created only while no other office's contacts,
interactions or projects refer to it: deleting removes those too.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from api.errors import Conflict
from api.fast_input import FastInput
from api.fields import Text, Url
from api.presenters import Column, ManyColumn, Presenter
from api.record_docs import documented
from api.record_views import RecordViewSet, bulk_item_errors, lock_external_ids
from api.references import StageCodesField
from api.rendering import fmt_decimal
from api.resources.common import RECORD_COLUMNS, ExternalIdField, RecordFilter, RecordOutput, money, text
from crm.bulk import BulkItemErrors, enterprises_upsert
from crm.credit_code import credit_code_error, normalize_credit_code
from crm.models import Contact, Enterprise, Interaction, Office
from crm.search import search_enterprises
from crm.services import enterprise_create, enterprise_delete, enterprise_update

PRESENTER = Presenter(
    Enterprise,
    columns=RECORD_COLUMNS
    + (
        Column("name", "name"),
        Column("name_en", "name_en"),
        Column("credit_code", "credit_code"),
        Column("ownership", "ownership"),
        Column("province", "province"),
        Column("city", "city"),
        Column("registered_capital", "registered_capital", fmt_decimal),
        Column("website", "website"),
    ),
    many=(
        ManyColumn(
            "stages",
            through=lambda: Enterprise.stages.through,
            owner="enterprise_id",
            value="stage__code",
            order=("stage__chain__code", "stage__order", "stage__code"),
        ),
    ),
)


class EnterpriseOutput(RecordOutput):
    office = serializers.CharField(
        read_only=True, allow_null=True, help_text=_("Office that created it; null for reference enterprises.")
    )
    name = serializers.CharField(read_only=True)
    name_en = serializers.CharField(read_only=True)
    credit_code = serializers.CharField(read_only=True, allow_null=True)
    ownership = serializers.ChoiceField(choices=Enterprise.Ownership.choices, read_only=True)
    province = serializers.CharField(read_only=True)
    city = serializers.CharField(read_only=True)
    registered_capital = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True, allow_null=True)
    website = serializers.CharField(read_only=True)
    stages = serializers.ListField(child=serializers.CharField(), read_only=True)


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 40,
        "nullable": True,
        "example": "91140100MA0KTX018Q",
        "description": "统一社会信用代码, 18 characters with a check digit; unique.",
    }
)
class CreditCodeField(Text):
    pass


class EnterpriseInput(serializers.Serializer):
    external_id = ExternalIdField()
    name = Text(max_length=200, help_text=_("Chinese name."))
    name_en = text(200)
    credit_code = CreditCodeField(
        max_length=40,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text=_("统一社会信用代码, 18 characters with a check digit; unique."),
    )
    ownership = serializers.ChoiceField(choices=Enterprise.Ownership.choices, required=False)
    province = text(50)
    city = text(50)
    registered_capital = money(help_text=_("CNY."))
    website = Url(max_length=200, required=False, allow_blank=True)
    stages = StageCodesField(required=False)

    def validate_credit_code(self, value: str | None) -> str | None:
        code = normalize_credit_code(value) if value else None
        if code:
            problem = credit_code_error(code)
            if problem:
                raise serializers.ValidationError(problem, code="invalid_credit_code")
        return code


class EnterpriseFilter(RecordFilter):
    search = django_filters.CharFilter(
        method="filter_search", label=_("Matches the Chinese or English name, its pinyin or initials, a credit code.")
    )
    credit_code = django_filters.CharFilter(method="filter_credit_code", label=_("Credit code."))
    ownership = django_filters.ChoiceFilter(choices=Enterprise.Ownership.choices)
    city = django_filters.CharFilter()
    stage = django_filters.CharFilter(field_name="stages__code", distinct=True, label=_("Capable of this stage."))

    class Meta:
        model = Enterprise
        fields: list[str] = []

    def filter_search(self, queryset: models.QuerySet, name: str, value: str) -> models.QuerySet:
        if not value.strip():
            return queryset
        return search_enterprises(queryset, value)

    def filter_credit_code(self, queryset: models.QuerySet, name: str, value: str) -> models.QuerySet:
        return queryset.filter(credit_code=normalize_credit_code(value))


def _may_change(office: Office, enterprise: Enterprise) -> bool:
    return office.kind == Office.Kind.PROVINCIAL or (
        enterprise.office_id is not None and enterprise.office_id == office.pk
    )


@documented
class EnterpriseViewSet(RecordViewSet):
    basename = "enterprises"
    noun = "enterprise"
    presenter = PRESENTER
    input_serializer = EnterpriseInput
    output_serializer = EnterpriseOutput
    filterset_class = EnterpriseFilter
    many_fields = {"stages": "stages"}

    def get_queryset(self) -> models.QuerySet:
        # The directory is shared: every office reads every enterprise.
        return Enterprise.objects.all()

    def check_write(self, obj: Enterprise) -> None:
        if not _may_change(self.office, obj):
            raise exceptions.PermissionDenied(
                _("Only the office that created this enterprise, or the provincial office, may change it.")
            )

    def perform_create(self, *, office: Office, actor: Any, values: dict[str, Any]) -> Enterprise:
        return enterprise_create(office=office, actor=actor, **values)

    def perform_update(self, *, obj: Enterprise, actor: Any, values: dict[str, Any]) -> Enterprise:
        values = dict(values)
        stages = values.pop("stages", None)
        return enterprise_update(enterprise=obj, actor=actor, stages=stages, **values)

    def _bulk(self) -> Response:
        """Set-based (``crm.bulk``): 1000 enterprises in a few dozen queries, not thousands."""
        items = self.bulk_items(self.request.data)
        context = self.get_serializer_context()
        # Plain valid items are taken by the fast check (api.fast_input); the rest go
        # through the serializer, which also words every error.
        fast = FastInput(EnterpriseInput(context=context))
        checked = [fast.validate(item) for item in items]
        others = [index for index, values in enumerate(checked) if values is None]
        errors: dict[str, Any] = {}
        if others:
            serializer = EnterpriseInput(data=[items[i] for i in others], many=True, context=context)
            if not serializer.is_valid():
                found = serializer.errors  # per item: a list, or {position: …} in newer DRF
                for position, detail in found.items() if isinstance(found, dict) else enumerate(found):
                    errors.update({f"items.{others[int(position)]}.{k}": v for k, v in detail.items()})
                raise serializers.ValidationError(errors)
            for index, validated in zip(others, serializer.validated_data, strict=True):
                checked[index] = validated
        values = [
            {**validated, "external_id": item["external_id"]} for item, validated in zip(items, checked, strict=True)
        ]
        with transaction.atomic():
            lock_external_ids(Enterprise, self.office.pk, [v["external_id"] for v in values])
            try:
                upserted = enterprises_upsert(
                    office=self.office, actor=self.request.user, items=values, fields_checked=True
                )
            except BulkItemErrors as exc:
                for index, error in sorted(exc.errors.items()):
                    errors.update(bulk_item_errors(error, index))
                raise serializers.ValidationError(errors) from None
        return Response(
            {"results": [{"external_id": u.external_id, "id": str(u.id), "created": u.created} for u in upserted]}
        )

    def perform_delete(self, *, obj: Enterprise, actor: Any) -> None:
        if self.office.kind != Office.Kind.PROVINCIAL and _used_by_other_offices(obj, self.office):
            raise Conflict(
                _(
                    "Other offices keep contacts, interactions or projects of this enterprise; ask the provincial office."
                ),
                "protected",
            )
        if obj.projects.exists():
            raise Conflict(_("This enterprise has recruitment projects; close or move them first."), "protected")
        enterprise_delete(enterprise=obj, actor=actor)


def _used_by_other_offices(enterprise: Enterprise, office: Office) -> bool:
    from recruitment.models import Project

    return any(
        model.objects.filter(enterprise=enterprise).exclude(office=office).exists()
        for model in (Contact, Interaction, Project)
    )
