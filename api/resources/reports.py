"""``reports/monthly/``: the monthly ledger (月报台账), office-scoped, and its submission.

The figures are ``ledger.selectors``'; a submitted month answers with what was
submitted. A park or partner key reads its own office only (another office's code
answers 404); the provincial office names an office with ``office=`` or gets the
whole province.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.schema import error
from crm.models import Office
from ledger import ledger_rules
from ledger.evidence_views import evidence_for, evidence_response
from ledger.selectors import ledger_month, ledger_public
from ledger.services import ledger_submit

AMOUNT = {"help_text": _("Amount in yuan, as a decimal string.")}


MONTH_PATTERN = r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$"


@extend_schema_field({"type": "string", "pattern": MONTH_PATTERN, "example": "2026-01"})
class MonthField(serializers.Field):
    """A month as ``YYYY-MM`` in, the first day of that month out."""

    def to_internal_value(self, data: Any):  # type: ignore[no-untyped-def]
        if not isinstance(data, str):
            raise serializers.ValidationError(_("A month as YYYY-MM."), code="invalid")
        try:
            return ledger_rules.parse_month(data)
        except ValueError:
            raise serializers.ValidationError(_("A month as YYYY-MM."), code="invalid") from None

    def to_representation(self, value: Any) -> str:
        return f"{value:%Y-%m}"


class MonthlyQuery(serializers.Serializer):
    month = MonthField()
    office = serializers.CharField(required=False, max_length=64)


class MonthlyRowOutput(serializers.Serializer):
    project = serializers.UUIDField()
    signed_amount_counted = serializers.CharField(
        help_text=_("Counted this month: the whole amount in the month of first signing, later only increases.")
    )
    investment_month = serializers.CharField(**AMOUNT)
    investment_cumulative = serializers.CharField(**AMOUNT)
    funds_month = serializers.CharField(help_text=_("Funds in place this month with evidence, in yuan."))
    funds_total = serializers.CharField(help_text=_("Funds in place to date with evidence, in yuan."))
    milestone = serializers.CharField(allow_null=True, help_text=_("The landing milestone reached this month."))
    light = serializers.ChoiceField(choices=["green", "yellow", "red"], allow_null=True)
    evidence_missing = serializers.ListField(
        child=serializers.ChoiceField(choices=["funds_month", "milestone"]),
        help_text=_("The figures of this month with an entry that has no evidence file."),
    )


class MonthlyTotalsOutput(serializers.Serializer):
    new_signed_count = serializers.IntegerField()
    new_signed_amount = serializers.CharField(**AMOUNT)
    investment_month = serializers.CharField(**AMOUNT)
    investment_cumulative = serializers.CharField(**AMOUNT)
    funds_month = serializers.CharField(**AMOUNT)
    funds_total = serializers.CharField(**AMOUNT)


class MonthlyRatesOutput(serializers.Serializer):
    signing = serializers.CharField(allow_null=True, help_text=_("签约率: signed ÷ projects in the pipeline."))
    construction = serializers.CharField(allow_null=True, help_text=_("开工率: started construction ÷ signed."))
    production = serializers.CharField(allow_null=True, help_text=_("投产率: in production ÷ signed."))
    funds_in_place = serializers.CharField(allow_null=True, help_text=_("资金到位率: funds in place ÷ signed amount."))


class MonthlyOutput(serializers.Serializer):
    month = serializers.CharField()
    office = serializers.CharField(allow_null=True, help_text=_("Office code; null for the whole province."))
    submitted_at = serializers.DateTimeField(allow_null=True)
    rows = MonthlyRowOutput(many=True)
    totals = MonthlyTotalsOutput()
    rates = MonthlyRatesOutput()


class SubmitInput(serializers.Serializer):
    month = MonthField()


def _office_for(request: Request, code: str | None) -> Office | None:
    own: Office = request.auth.office
    if own.kind == Office.Kind.PROVINCIAL:
        if not code:
            return None
        office = Office.objects.filter(code=code).first()
        if office is None:
            raise exceptions.ValidationError({"office": [serializers.ErrorDetail(_("Unknown office."), "not_found")]})
        return office
    if code and code != own.code:
        raise exceptions.NotFound()
    return own


class MonthlyReportView(APIView):
    @extend_schema(
        tags=["reports"],
        summary="The monthly ledger (月报台账) of an office or the province",
        parameters=[
            OpenApiParameter("month", str, required=True, pattern=MONTH_PATTERN, description=_("YYYY-MM")),
            OpenApiParameter("office", str, description=_("Office code (provincial office only).")),
        ],
        responses={
            200: MonthlyOutput,
            400: error("A month that is not YYYY-MM, or an unknown office."),
            404: error("Another office's ledger."),
        },
    )
    def get(self, request: Request) -> Response:
        query = MonthlyQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        office = _office_for(request, query.validated_data.get("office"))
        return Response(ledger_public(ledger_month(office=office, month=query.validated_data["month"])))


class MonthlySubmitView(APIView):
    @extend_schema(
        tags=["reports"],
        summary="Submit the office's monthly ledger: stored as it is and the month locked",
        request=SubmitInput,
        responses={
            201: MonthlyOutput,
            400: error("Not a park office, a month not over, or a month already submitted."),
        },
    )
    def post(self, request: Request) -> Response:
        body = SubmitInput(data=request.data)
        body.is_valid(raise_exception=True)
        submission = ledger_submit(office=request.auth.office, month=body.validated_data["month"])
        return Response(ledger_public(submission.snapshot), status=201)


class EvidenceDownloadView(APIView):
    @extend_schema(
        tags=["reports"],
        summary="An evidence file, as a download (only for offices that may see its project)",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description=_("The file, as an attachment.")
            ),
            404: error("No such file, or another office's."),
        },
    )
    def get(self, request: Request, pk: str):  # type: ignore[no-untyped-def]
        try:
            evidence = evidence_for(office=request.auth.office, pk=pk)
        except Http404:
            raise exceptions.NotFound() from None
        return evidence_response(evidence)
