"""The dashboard filtered by a period reads its projects from indexes alone (PostgreSQL).

Every statement of the page that reads the projects of a period (the grouped totals, the
follow-ups of those projects, the stale list) must find each column it needs in an index:
the range of the status change carries what the dashboard counts, and the creation order
carries the status change and the status for the stale list's walk oldest first. A column
added to one of those statements and not to its index turns an index-only scan into a visit
of the project rows (at 100,000 projects, a heap page per few projects of the period), and
this test says which statement did.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Interaction
from recruitment.dashboard import (
    DashboardFilters,
    PeriodBasis,
    changelist_lookups,
    dashboard_build,
    dashboard_options,
)
from recruitment.models import FollowUp, Project
from tests.factories import EnterpriseFactory, ParkFactory, StageFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

START, END = date(2026, 1, 1), date(2026, 6, 30)
# A scan of the projects' own table (not of its link, light or history tables).
PROJECT_SCAN = re.compile(r"(Index Only Scan|Index Scan|Seq Scan|Bitmap Heap Scan)\b.* on recruitment_project\b(?!_)")


@pytest.fixture
def period_world(provincial_office):  # type: ignore[no-untyped-def]
    """3,000 projects whose status changed over two years (a quarter of them in the period),
    created before it, a third contacted, with stage links and open follow-ups."""
    owner = UserFactory(office=provincial_office)
    park = ParkFactory()
    stages = [StageFactory(), StageFactory()]
    enterprise = EnterpriseFactory(office=provincial_office)
    started = datetime(2025, 1, 1, tzinfo=timezone.get_current_timezone())
    projects = Project.objects.bulk_create(
        [
            Project(
                id=uuid.uuid4(),
                office=provincial_office,
                title=f"项目{i}",
                enterprise=enterprise,
                park=park,
                owner=owner,
                status=["lead", "negotiating", "signed", "lost"][i % 4],
                status_changed_at=started + timedelta(hours=5 * i),
                planned_investment=Decimal(1_000 * i),
            )
            for i in range(3_000)
        ],
        batch_size=1_000,
    )
    for i, project in enumerate(projects):  # created_at is set on insert: backdate it
        project.created_at = started - timedelta(days=30, minutes=i)
    Project.objects.bulk_update(projects, ["created_at"], batch_size=1_000)
    Project.stages.through.objects.bulk_create(
        [Project.stages.through(project=p, stage=stages[i % 2]) for i, p in enumerate(projects)]
    )
    Interaction.objects.bulk_create(
        [
            Interaction(
                office=provincial_office,
                enterprise=enterprise,
                project=p,
                kind="call",
                occurred_at=started - timedelta(days=i % 20),
            )
            for i, p in enumerate(projects)
            if i % 3 == 0
        ]
    )
    FollowUp.objects.bulk_create(
        [
            FollowUp(office=provincial_office, project=p, assignee=owner, due_at=started + timedelta(days=i % 400))
            for i, p in enumerate(projects)
            if i % 5 == 0
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _only_the_period_indexes() -> None:
    """Drop (in the test's transaction) every index of the projects but their key and the two
    the period relies on: on a few thousand rows the planner may take any index as cheap, so
    the test leaves it those two, and sees whether they carry what each statement reads."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid = 'recruitment_project'::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
              AND i.relname NOT IN ('project_status_changed_idx', 'project_created_page_idx')
            """
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')


def _plan(sql: str) -> str:
    # Without sequential and bitmap scans the planner still has the choice between an index
    # scan and an index-only one; it takes the index-only scan whenever the index carries every
    # column the statement reads of the projects.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        try:
            cursor.execute("EXPLAIN " + sql)
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_bitmapscan")


def test_the_period_statements_read_the_projects_from_indexes_alone(provincial_user, period_world):
    options = dashboard_options(user=provincial_user)
    filters = DashboardFilters(start=START, end=END, period_basis=PeriodBasis.STATUS_CHANGED)
    with CaptureQueriesContext(connection) as ctx:
        dashboard = dashboard_build(user=provincial_user, filters=filters, options=options)
    in_range = Project.objects.filter(**changelist_lookups(filters))  # the list the figures link to
    assert 0 < dashboard.figures.total.count == in_range.count() < Project.objects.count()
    assert len(dashboard.stale.rows) == 20
    in_period = [q["sql"] for q in ctx.captured_queries if '"status_changed_at" >=' in q["sql"]]
    # The grouped totals, the workload's follow-ups, the stale list, the overdue follow-ups.
    assert len(in_period) == 4, "\n\n".join(in_period)
    _only_the_period_indexes()
    for sql in in_period:
        plan = _plan(sql)
        for line in plan.splitlines():
            scan = PROJECT_SCAN.search(line)
            if scan is None or "recruitment_project_pkey" in line:
                continue  # the rows shown, read by their key
            assert scan.group(1) == "Index Only Scan", f"{line.strip()}\n\n{sql}\n\n{plan}"
    walk = _plan(next(sql for sql in in_period if "NOT EXISTS" in sql or "NOT (EXISTS" in sql))
    assert "Index Only Scan Backward using project_created_page_idx" in walk or (
        "Index Only Scan using project_status_changed_idx" in walk
    ), walk
