"""The dashboard with lights keeps a constant number of queries from a few to 10,000 signed projects.

The 10,000 are copied from one factory-made project in SQL (projects, their stages, their lights),
so the test costs a few seconds (not marked slow); the counts on the page are checked against the rows made."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.roles import MANAGER, role_assign
from recruitment.models import Project, ProjectLight
from tests.factories import ChainFactory, ParkFactory, ProjectFactory, StageFactory, UserFactory, ZoneFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

COLORS = ("green", "yellow", "red")


def _copies(template: Project, n: int, *, parks: list[int], owners: list[int], stages: list[int]) -> None:
    """``n`` signed projects like ``template``, spread over parks, owners and stages, each with a light."""
    project_table = Project._meta.db_table
    columns = [f.column for f in Project._meta.concrete_fields]
    chosen = {
        "id": "gen_random_uuid()",
        "title": "'签约项目' || g",
        "status": "(ARRAY['signed','registered','construction','production'])[g %% 4 + 1]",
        "park_id": f"(ARRAY{parks})[g %% {len(parks)} + 1]",
        "owner_id": f"(ARRAY{owners})[g %% {len(owners)} + 1]",
        "external_id": "''",
    }
    select = ", ".join(chosen.get(c, f"t.{c}") for c in columns)
    through = Project.stages.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {project_table} ({', '.join(columns)}) "
            f"SELECT {select} FROM {project_table} t, generate_series(1, %s) g WHERE t.id = %s",
            [n, template.pk],
        )
        cursor.execute(
            f"INSERT INTO {through} (project_id, stage_id) "
            f"SELECT p.id, (ARRAY{stages})[abs(hashtext(p.title)) %% {len(stages)} + 1] "
            f"FROM {project_table} p WHERE p.id <> %s AND NOT EXISTS (SELECT 1 FROM {through} s WHERE s.project_id = p.id)",
            [template.pk],
        )
        cursor.execute(
            f"INSERT INTO {ProjectLight._meta.db_table} (project_id, color, since, reasons, computed_at) "
            "SELECT p.id, (ARRAY['green','yellow','red'])[abs(hashtext(p.title)) %% 3 + 1], "
            "DATE '2026-03-01', '[]'::jsonb, now() "
            f"FROM {project_table} p WHERE p.id <> %s "
            f"AND NOT EXISTS (SELECT 1 FROM {ProjectLight._meta.db_table} l WHERE l.project_id = p.id)",
            [template.pk],
        )


def test_the_dashboard_with_lights_keeps_its_query_count_from_a_few_to_10000_signed_projects(
    client, provincial_office, park_office
) -> None:  # type: ignore[no-untyped-def]
    manager = UserFactory(office=provincial_office)
    role_assign(user=manager, role=MANAGER)
    zone = ZoneFactory()
    parks = [ParkFactory(zone=zone).pk for _ in range(4)]
    stages = [
        StageFactory(chain=chain).pk for chain in (ChainFactory(zone=zone), ChainFactory(zone=zone)) for _ in range(2)
    ]
    owners = [UserFactory(office=park_office).pk for _ in range(12)]
    template = ProjectFactory(office=park_office, status="signed", title="模板")  # no light: not counted
    url = reverse("reports:dashboard")
    client.force_login(manager)

    _copies(template, 5, parks=parks, owners=owners, stages=stages)
    client.get(url)  # caches that are not per request (content types, filter choices)
    with CaptureQueriesContext(connection) as few:
        small = client.get(url)
    _copies(template, 10_000 - 5, parks=parks, owners=owners, stages=stages)
    with CaptureQueriesContext(connection) as many:
        large = client.get(url)

    assert small.status_code == large.status_code == 200
    lights = large.context["board"].lights
    expected = dict(
        ProjectLight.objects.filter(project__title__startswith="签约项目")
        .values_list("color")
        .annotate(n=Count("pk"))
        .order_by()
    )
    assert sum(expected.values()) == 10_000 and set(expected) == set(COLORS)
    assert lights.totals.counts == expected
    assert len(lights.by_owner) == 12 and len(lights.by_park) == 4
    assert sum(small.context["board"].lights.totals.counts.values()) == 5
    assert len(few.captured_queries) == len(many.captured_queries), [q["sql"] for q in many.captured_queries]
    assert len(many.captured_queries) <= 10, [q["sql"][:120] for q in many.captured_queries]
