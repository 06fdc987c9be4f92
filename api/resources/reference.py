"""Reference data, read-only: ``parks/``, ``sectors/``, ``chains/`` (with stages and their edges).

Keyed by ``code``; a page renders with a fixed number of queries.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from api.pagination import KeysetPagination
from api.schema import error
from chains.models import Chain, ChainPark, Park, Sector, Stage, StageEdge


class ParkOutput(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    name_en = serializers.CharField(read_only=True)
    zone = serializers.CharField(read_only=True, help_text=_("Zone code."))
    city = serializers.CharField(read_only=True)


class SectorOutput(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    name_en = serializers.CharField(read_only=True)


class StageOutput(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    name_en = serializers.CharField(read_only=True)
    order = serializers.IntegerField(read_only=True)
    feeds = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text=_("Codes of the stages this one supplies.")
    )


class ChainOutput(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    name_en = serializers.CharField(read_only=True)
    sector = serializers.CharField(read_only=True, help_text=_("Sector code."))
    parks = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text=_("Codes of the parks developing it.")
    )
    stages = StageOutput(many=True, read_only=True)


def render_parks(qs: models.QuerySet) -> list[dict[str, Any]]:
    return [
        {"code": code, "name": name, "name_en": name_en, "zone": zone, "city": city}
        for code, name, name_en, zone, city in qs.values_list("code", "name", "name_en", "zone__code", "city")
    ]


def render_sectors(qs: models.QuerySet) -> list[dict[str, Any]]:
    return [
        {"code": code, "name": name, "name_en": name_en}
        for code, name, name_en in qs.values_list("code", "name", "name_en")
    ]


def render_chains(qs: models.QuerySet) -> list[dict[str, Any]]:
    rows = list(qs.values_list("pk", "code", "name", "name_en", "sector__code"))
    ids = [r[0] for r in rows]
    parks: dict[int, list[str]] = {}
    for chain_id, park_code in (
        ChainPark.objects.filter(chain_id__in=ids).order_by("park__code").values_list("chain_id", "park__code")
    ):
        parks.setdefault(chain_id, []).append(park_code)
    feeds: dict[int, list[str]] = {}
    for upstream_id, downstream_code in (
        StageEdge.objects.filter(upstream__chain_id__in=ids)
        .order_by("downstream__order", "downstream__code")
        .values_list("upstream_id", "downstream__code")
    ):
        feeds.setdefault(upstream_id, []).append(downstream_code)
    stages: dict[int, list[dict[str, Any]]] = {}
    for stage_id, chain_id, code, name, name_en, order in (
        Stage.objects.filter(chain_id__in=ids)
        .order_by("order", "code")
        .values_list("pk", "chain_id", "code", "name", "name_en", "order")
    ):
        stages.setdefault(chain_id, []).append(
            {"code": code, "name": name, "name_en": name_en, "order": order, "feeds": feeds.get(stage_id, [])}
        )
    return [
        {
            "code": code,
            "name": name,
            "name_en": name_en,
            "sector": sector,
            "parks": parks.get(pk, []),
            "stages": stages.get(pk, []),
        }
        for pk, code, name, name_en, sector in rows
    ]


class ReferenceViewSet(viewsets.GenericViewSet):
    """List and read by code."""

    model: type[models.Model]
    render: Any
    lookup_field = "code"
    lookup_value_regex = "[^/]+"
    pagination_class = KeysetPagination
    filter_backends: list = []

    def get_queryset(self) -> models.QuerySet:
        return self.model._default_manager.all()

    def list(self, request: Request) -> Response:
        render = type(self).render
        items, next_url = self.paginator.paginate(self.get_queryset(), request, field="code", render=render, key="code")
        return Response({"results": items, "next": next_url})

    def retrieve(self, request: Request, code: str) -> Response:
        items = type(self).render(self.get_queryset().filter(code=code)) if "\x00" not in code else []
        if not items:
            raise exceptions.NotFound()
        return Response(items[0])


def _documented(name: str, output: type[serializers.Serializer]):  # type: ignore[no-untyped-def]
    code_param = OpenApiParameter("code", str, OpenApiParameter.PATH)
    return extend_schema_view(
        list=extend_schema(
            tags=["reference"],
            summary=f"List {name}",
            responses={200: output(many=True), 400: error("Invalid cursor or limit.")},
        ),
        retrieve=extend_schema(
            tags=["reference"],
            summary=f"Read one of the {name} by code",
            parameters=[code_param],
            responses={200: output},
        ),
    )


@_documented("parks", ParkOutput)
class ParkViewSet(ReferenceViewSet):
    model = Park
    render = staticmethod(render_parks)


@_documented("sectors", SectorOutput)
class SectorViewSet(ReferenceViewSet):
    model = Sector
    render = staticmethod(render_sectors)


@_documented("chains", ChainOutput)
class ChainViewSet(ReferenceViewSet):
    model = Chain
    render = staticmethod(render_chains)
