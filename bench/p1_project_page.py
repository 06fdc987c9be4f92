"""P1: a page of 100 projects with enterprise and park names (GET /api/v1/projects/?limit=100).

Ours: the full stack (middleware, key, throttle, keyset page, presenter, orjson)
through Django's test client. Baselines measured in the same run:

* ``raw``: one SQL query (joins, stage codes aggregated, timestamps and decimals
  formatted by PostgreSQL) with psycopg, dicts, orjson: the same JSON, the limit.
  Target: ours at most 3x its time.
* ``drf``: what most teams ship: ``ModelSerializer`` + ``ListAPIView`` with
  ``select_related``/``prefetch_related``, DRF's cursor pagination and JSON
  renderer, same authentication, same middleware. Target: ours at least 2x faster.

The data (2,000 projects of one office over 400 enterprises, 4 parks, 1-2 target
stages each) is built once in the bench database and reused.
"""

from __future__ import annotations

import argparse
import uuid
from decimal import Decimal
from typing import Any

import orjson

from bench.harness import analyze, row, timeit

OFFICE = "bench-p1"
PROJECTS = 2000
PAGE = 100


def _data(projects: int) -> None:
    from django.db import transaction

    from chains.models import Chain, Park, Sector, Stage, Zone
    from crm.models import Enterprise, Office
    from recruitment.models import Project

    office, _ = Office.objects.get_or_create(code=OFFICE, defaults={"name": "P1 bench office", "kind": "partner"})
    if Project.objects.filter(office=office).count() >= projects:
        return
    with transaction.atomic():
        zone, _ = Zone.objects.get_or_create(code="bench-zone", defaults={"name": "基准经济区"})
        sector, _ = Sector.objects.get_or_create(code="bench-sector", defaults={"name": "基准领域"})
        chain, _ = Chain.objects.get_or_create(
            code="bench-chain", defaults={"name": "基准产业链", "sector": sector, "zone": zone}
        )
        parks = [
            Park.objects.get_or_create(code=f"bench-park-{i}", defaults={"name": f"基准园区{i}", "zone": zone})[0]
            for i in range(4)
        ]
        stages = [
            Stage.objects.get_or_create(
                chain=chain, code=f"bench-stage-{i}", defaults={"name": f"环节{i}", "order": i}
            )[0]
            for i in range(6)
        ]
        enterprises = Enterprise.objects.bulk_create(
            [Enterprise(office=office, name=f"基准企业{i}有限公司", city="太原") for i in range(projects // 5)]
        )
        rows = Project.objects.bulk_create(
            [
                Project(
                    office=office,
                    title=f"基准项目{i}",
                    enterprise=enterprises[i % len(enterprises)],
                    park=parks[i % len(parks)],
                    planned_investment=Decimal(1_000_000 + i * 1000),
                    expected_jobs=i % 300,
                    chain_role="fill",
                )
                for i in range(projects)
            ]
        )
        through = Project.stages.through
        through.objects.bulk_create(
            [through(project_id=p.pk, stage_id=stages[i % 6].pk) for i, p in enumerate(rows)]
            + [through(project_id=p.pk, stage_id=stages[(i + 1) % 6].pk) for i, p in enumerate(rows) if i % 2]
        )


RAW_SQL = """
SELECT p.id::text, p.external_id, p.version,
       to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       to_char(p.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       o.code, p.title, p.enterprise_id::text, e.name, pk.code, pk.name, p.status,
       to_char(p.status_changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       p.lost_reason, p.chain_role, p.priority,
       p.planned_investment::text, p.signed_amount::text, p.funds_in_place::text,
       p.expected_output_value::text, p.expected_jobs, p.description,
       COALESCE((SELECT array_agg(s.code ORDER BY c.code, s."order", s.code)
                 FROM recruitment_project_stages ps JOIN chains_stage s ON s.id = ps.stage_id
                 JOIN chains_chain c ON c.id = s.chain_id WHERE ps.project_id = p.id), '{}')
FROM recruitment_project p
JOIN crm_office o ON o.id = p.office_id
JOIN crm_enterprise e ON e.id = p.enterprise_id
JOIN chains_park pk ON pk.id = p.park_id
WHERE p.office_id = %s
ORDER BY p.id
LIMIT %s
"""
RAW_KEYS = (
    "id external_id version created_at updated_at office title enterprise enterprise_name park park_name status "
    "status_changed_at lost_reason chain_role priority planned_investment signed_amount funds_in_place "
    "expected_output_value expected_jobs description stages"
).split()


def _raw_page(conn: Any, office_id: int) -> bytes:
    rows = conn.execute(RAW_SQL, [office_id, PAGE + 1]).fetchall()
    items = [dict(zip(RAW_KEYS, r, strict=True)) for r in rows[:PAGE]]
    next_url = f"http://testserver/api/v1/projects/?limit={PAGE}&cursor=…" if len(rows) > PAGE else None
    return orjson.dumps({"results": items, "next": next_url})


def _drf_baseline() -> Any:
    """The plain DRF view most teams would write for the same page."""
    from rest_framework import generics, pagination, renderers, serializers

    from recruitment.models import Project

    class ProjectSerializer(serializers.ModelSerializer):
        office = serializers.SlugRelatedField(slug_field="code", read_only=True)
        enterprise_name = serializers.CharField(source="enterprise.name", read_only=True)
        park = serializers.SlugRelatedField(slug_field="code", read_only=True)
        park_name = serializers.CharField(source="park.name", read_only=True)
        stages = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

        class Meta:
            model = Project
            fields = [
                "id", "external_id", "version", "created_at", "updated_at", "office", "title", "enterprise",
                "enterprise_name", "park", "park_name", "status", "status_changed_at", "lost_reason", "chain_role",
                "priority", "planned_investment", "signed_amount", "funds_in_place", "expected_output_value",
                "expected_jobs", "description", "stages",
            ]  # fmt: skip

    class Page(pagination.CursorPagination):
        page_size = PAGE
        ordering = "id"

    class ProjectList(generics.ListAPIView):
        serializer_class = ProjectSerializer
        pagination_class = Page
        renderer_classes = [renderers.JSONRenderer]
        filter_backends: list = []

        def get_queryset(self):  # type: ignore[no-untyped-def]
            return (
                Project.objects.filter(office=self.request.auth.office)
                .select_related("office", "enterprise", "park")
                .prefetch_related("stages")
            )

    return ProjectList.as_view()


def _urls() -> list:
    from django.urls import include, path

    return [path("api/", include("api.urls")), path("bench/drf-projects/", _drf_baseline())]


urlpatterns: list = []


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    import psycopg
    from django.db import connection
    from django.test import Client, override_settings

    from api.api_keys import api_key_create
    from crm.models import Office

    global urlpatterns
    urlpatterns = _urls()
    projects = 500 if args.quick else PROJECTS
    _data(projects)
    analyze()
    office = Office.objects.get(code=OFFICE)
    key = api_key_create(office=office, label=f"bench {uuid.uuid4().hex[:6]}").raw
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    params = connection.get_connection_params()
    repeat = 5 if args.quick else 30
    with override_settings(ROOT_URLCONF=__name__, API_THROTTLE_RATE="100000000/min"), psycopg.connect(**params) as raw:
        ours_page = client.get(f"/api/v1/projects/?limit={PAGE}", **auth)
        assert ours_page.status_code == 200, ours_page.content[:300]
        raw_items = orjson.loads(_raw_page(raw, office.pk))["results"]
        assert orjson.loads(ours_page.content)["results"] == raw_items, "ours and raw render different JSON"
        drf_page = client.get(f"/bench/drf-projects/?limit={PAGE}", **auth)
        assert drf_page.status_code == 200 and len(orjson.loads(drf_page.content)["results"]) == PAGE

        ours = timeit(lambda: client.get(f"/api/v1/projects/?limit={PAGE}", **auth), repeat=repeat, warmup=3)
        limit = timeit(lambda: _raw_page(raw, office.pk), repeat=repeat, warmup=3)
        drf = timeit(lambda: client.get(f"/bench/drf-projects/?limit={PAGE}", **auth), repeat=repeat, warmup=3)
    return [
        row("P1 page of 100 projects vs raw psycopg+orjson", ours, limit, "raw", target="<=3.00"),
        row(
            "P1 page of 100 projects vs plain DRF",
            ours,
            drf,
            "drf",
            target="<=0.50",
            speedup=f"{drf / ours:.2f}x",
        ),
    ]
