"""``gaps/`` and ``gaps/candidates/``: gap analysis, read by every office.

The analysis itself is ``recruitment.gaps``. Rows name the projects filling a
stage; another office's projects are private, so a row shows their number
(``filling_project_count``) and lists only the caller's own (every project for
the provincial office).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.pagination import paginate_list
from api.references import ParkIndex, StageIndex
from api.schema import error
from chains.gap_analysis import GapStatus
from crm.models import Office
from recruitment.gaps import gap_candidates, gaps_list

CANDIDATES_MAX = 500


class ProjectRefOutput(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    status = serializers.CharField()


class EnterpriseRefOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class GapOutput(serializers.Serializer):
    park = serializers.CharField(help_text=_("Park code."))
    chain = serializers.CharField(help_text=_("Chain code."))
    stage = serializers.CharField(help_text=_("Stage code."))
    stage_name = serializers.CharField()
    stage_name_en = serializers.CharField()
    order = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[s.value for s in GapStatus])
    present_count = serializers.IntegerField()
    present = EnterpriseRefOutput(many=True, help_text=_("Enterprises present at the stage in the park."))
    targeted = serializers.BooleanField(help_text=_("In the park's target map (远景图)."))
    to_recruit = serializers.BooleanField(help_text=_("Targeted and not covered."))
    being_filled = serializers.BooleanField(help_text=_("A signed-or-later project targets it."))
    filling_project_count = serializers.IntegerField(help_text=_("Signed-or-later projects of every office."))
    filling_projects = ProjectRefOutput(many=True, help_text=_("The filling projects you may see (your own)."))
    feeds = serializers.ListField(child=serializers.CharField())


class CandidateOutput(serializers.Serializer):
    enterprise = serializers.UUIDField()
    name = serializers.CharField()
    credit_code = serializers.CharField(allow_null=True)
    score = serializers.FloatField()
    reasons = serializers.ListField(child=serializers.CharField())
    courted_by_other_office = serializers.BooleanField()
    courted_by_own_office = serializers.BooleanField()
    present_elsewhere = serializers.ListField(child=serializers.CharField(), help_text=_("Park codes."))


class GapQuery(serializers.Serializer):
    park = serializers.CharField(required=False, max_length=64)
    chain = serializers.CharField(required=False, max_length=64)
    status = serializers.ChoiceField(choices=[s.value for s in GapStatus], required=False)


class CandidateQuery(serializers.Serializer):
    park = serializers.CharField(max_length=64)
    stage = serializers.CharField(max_length=130)
    search = serializers.CharField(max_length=200, required=False)


def _page_params() -> list[OpenApiParameter]:
    return [
        OpenApiParameter("cursor", str, description=_("Opaque position from the previous page's `next`.")),
        OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
    ]


def _paged(name: str, item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    return type(
        name,
        (serializers.Serializer,),
        {"results": item(many=True), "next": serializers.URLField(allow_null=True)},
    )


class GapListView(APIView):
    @extend_schema(
        tags=["gaps"],
        summary="Gap analysis: park × chain × stage",
        parameters=[
            OpenApiParameter("park", str, description=_("Park code.")),
            OpenApiParameter("chain", str, description=_("Chain code.")),
            OpenApiParameter("status", str, enum=[s.value for s in GapStatus]),
            *_page_params(),
        ],
        responses={
            200: _paged("PaginatedGapList", GapOutput),
            400: error("Unknown park, chain or status; invalid cursor or limit."),
        },
    )
    def get(self, request: Request) -> Response:
        query = GapQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        params = query.validated_data
        office: Office = request.auth.office
        sees_all = office.kind == Office.Kind.PROVINCIAL
        rows = gaps_list(park_code=params.get("park"), chain_code=params.get("chain"), status=params.get("status"))
        items = [
            {
                "park": row.park_code,
                "chain": row.chain_code,
                "stage": row.stage_code,
                "stage_name": row.stage_name,
                "stage_name_en": row.stage_name_en,
                "order": row.order,
                "status": str(row.status),
                "present_count": row.present_count,
                "present": [{"id": str(e.id), "name": e.name} for e in row.present],
                "targeted": row.targeted,
                "to_recruit": row.to_recruit,
                "being_filled": row.being_filled,
                "filling_project_count": row.filling_count,
                "filling_projects": [
                    {"id": str(p.id), "title": p.title, "status": p.status}
                    for p in row.filling_projects
                    if sees_all or p.office_id == office.pk
                ],
                "feeds": list(row.feeds),
            }
            for row in rows
        ]
        page, next_url = paginate_list(items, request)
        return Response({"results": page, "next": next_url})


class GapCandidatesView(APIView):
    @extend_schema(
        tags=["gaps"],
        summary="Candidate enterprises for a gap, best first",
        parameters=[
            OpenApiParameter("park", str, required=True, description=_("Park code.")),
            OpenApiParameter("stage", str, required=True, description=_("Stage code.")),
            OpenApiParameter(
                "search", str, description=_("Only candidates whose name, pinyin, initials or credit code match.")
            ),
            *_page_params(),
        ],
        responses={
            200: _paged("PaginatedCandidateList", CandidateOutput),
            400: error("Missing or unknown park or stage; invalid cursor or limit."),
        },
    )
    def get(self, request: Request) -> Response:
        query = CandidateQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        errors: dict[str, Any] = {}
        park = stage = None
        try:
            park = ParkIndex().resolve(query.validated_data["park"])
        except serializers.ValidationError as exc:
            errors["park"] = exc.detail
        try:
            stage = StageIndex().resolve([query.validated_data["stage"]])[0]
        except serializers.ValidationError as exc:
            errors["stage"] = exc.detail
        if errors:
            raise serializers.ValidationError(errors)
        candidates = gap_candidates(
            park=park,
            stage=stage,
            office=request.auth.office,
            limit=CANDIDATES_MAX,
            search=query.validated_data.get("search", ""),
        )
        items = [
            {
                "enterprise": str(c.enterprise_id),
                "name": c.name,
                "credit_code": c.credit_code,
                "score": float(c.score),
                "reasons": [str(r) for r in c.reasons],
                "courted_by_other_office": c.courted_by_other_office,
                "courted_by_own_office": c.courted_by_own_office,
                "present_elsewhere": list(c.present_elsewhere),
            }
            for c in candidates
        ]
        page, next_url = paginate_list(items, request)
        return Response({"results": page, "next": next_url})
