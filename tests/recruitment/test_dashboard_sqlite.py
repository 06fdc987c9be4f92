"""The dashboard's overdue list on SQLite walks the open follow-ups' due index.

Checking each follow-up's project by its key lets SQLite stop at the list's 20 rows; with
the projects as an ``IN (SELECT …)`` list it first lists every project of the filter (a
park's 22,000 on the bench data: 75 ms against under 1 ms).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recruitment.dashboard import DashboardFilters, dashboard_build, dashboard_options
from tests.factories import FollowUpFactory, ParkFactory, ProjectFactory, UserFactory


@pytest.mark.django_db
def test_the_overdue_list_of_a_park_walks_the_due_index_on_sqlite(provincial_office) -> None:  # type: ignore[no-untyped-def]
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's plan: the SQLite suite runs this; PostgreSQL's semi-join is planned on its statistics")
    park, other = ParkFactory(), ParkFactory()
    for i in range(30):
        project = ProjectFactory(office=provincial_office, park=(park, other)[i % 2])
        FollowUpFactory(project=project, office=provincial_office, due_at=timezone.now() - timedelta(days=i + 1))
    user = UserFactory(office=provincial_office, is_staff=True, is_superuser=True)
    with CaptureQueriesContext(connection) as queries:
        board = dashboard_build(user=user, filters=DashboardFilters(park=park), options=dashboard_options(user=user))
    assert [f.project.park_id for f in board.overdue.rows] == [park.pk] * 15
    assert [f.due_at for f in board.overdue.rows] == sorted(f.due_at for f in board.overdue.rows)
    (listed,) = [q["sql"] for q in queries.captured_queries if 'ORDER BY "recruitment_followup"."due_at"' in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {listed}")
        plan = "\n".join(str(row) for row in cursor.fetchall())
    assert "followup_open_due_idx" in plan, plan
    assert "LIST SUBQUERY" not in plan and "TEMP B-TREE" not in plan, plan
