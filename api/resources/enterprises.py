"""``enterprises/``: the shared directory.

Every office reads every enterprise. Changing one is for the office that created
it and for the provincial office (which also curates the reference enterprises
that no office created); another office that wants a correction asks them. The
rule is ``crm.access.enterprise_may_change``, which the services apply on every
path; here a refusal is a 403. An office may delete an enterprise it created only
while no other office's contacts, interactions or projects refer to it (the
service's rule; a 409 here): deleting removes those too.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from api.errors import Conflict
from api.fast_input import FastInput
from api.fields import StrictInput, Text, Url
from api.presenters import Column, ManyColumn, Presenter
from api.record_docs import documented
from api.record_views import RecordViewSet, bulk_item_errors, lock_external_ids
from api.references import StageCodesField
from api.rendering import fmt_decimal
from api.resources.common import RECORD_COLUMNS, ExternalIdField, RecordFilter, RecordOutput, money, text
from crm.access import enterprise_may_change, enterprises_by_external_id
from crm.bulk import BulkItemErrors, enterprises_upsert
from crm.credit_code import credit_code_error, normalize_credit_code
from crm.models import Enterprise, Office
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


class ReaderPresenter:
    """The enterprise presenter as one office reads it: another office's ``external_id`` is null.

    An enterprise's ``external_id`` is the id its creating office gave it
    (``crm.access.enterprise_external_id_visible``); the rest of the record is shared.
    Keys keep their order; only the value is replaced, after the page is rendered.
    """

    def __init__(self, presenter: Presenter, *, office: Office) -> None:
        self.presenter = presenter
        self.model = presenter.model
        self.office_code = office.code

    def _hide(self, items: list[Any]) -> list[Any]:
        code = self.office_code
        for item in items:
            if item is not None and item["office"] != code:
                item["external_id"] = None
        return items

    def render(self, queryset: models.QuerySet) -> list[dict[str, Any]]:
        return self._hide(self.presenter.render(queryset))

    def render_objects(self, objects: Any) -> list[dict[str, Any] | None]:
        return self._hide(self.presenter.render_objects(objects))

    def render_one(self, obj: models.Model) -> dict[str, Any]:
        return self._hide([self.presenter.render_one(obj)])[0]


class EnterpriseOutput(RecordOutput):
    external_id = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text=_("Your system's id ('' when not given); null on enterprises another office created."),
    )
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


class EnterpriseInput(StrictInput):
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
    external_id = django_filters.CharFilter(
        method="filter_external_id", label=_("Your system's id: only enterprises your office created.")
    )
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

    def filter_external_id(self, queryset: models.QuerySet, name: str, value: str) -> models.QuerySet:
        office = getattr(getattr(self.request, "auth", None), "office", None)
        return enterprises_by_external_id(queryset, office_id=office.pk if office else None, external_id=value)

    def filter_credit_code(self, queryset: models.QuerySet, name: str, value: str) -> models.QuerySet:
        return queryset.filter(credit_code=normalize_credit_code(value))


@documented
class EnterpriseViewSet(RecordViewSet):
    basename = "enterprises"
    noun = "enterprise"
    presenter = PRESENTER  # replaced per request by the reader's view (see ``initial``)
    input_serializer = EnterpriseInput
    output_serializer = EnterpriseOutput
    filterset_class = EnterpriseFilter
    many_fields = {"stages": "stages"}

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # After authentication: every rendering of this request hides other offices' external ids.
        self.presenter = ReaderPresenter(PRESENTER, office=self.office)  # type: ignore[assignment]

    def get_queryset(self) -> models.QuerySet:
        # The directory is shared: every office reads every enterprise.
        return Enterprise.objects.all()

    def check_write(self, obj: Enterprise) -> None:
        # Asked before the body is validated (a refusal is 403 whatever the body);
        # the services ask the same rule again.
        if not enterprise_may_change(office=self.office, enterprise=obj):
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
        try:
            enterprise_delete(enterprise=obj, actor=actor)
        except DjangoValidationError as exc:
            if any(error.code == "protected" for error in _errors(exc)):
                raise Conflict(" ".join(exc.messages), "protected") from None
            raise


def _errors(exc: DjangoValidationError) -> list[DjangoValidationError]:
    if hasattr(exc, "error_dict"):
        return [e for errors in exc.error_dict.values() for e in errors]
    return list(exc.error_list)
