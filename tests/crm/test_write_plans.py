"""The plan of a batch's lookup when the planner's statistics lag behind the data.

Statistics are refreshed by autovacuum only after a share of a table has changed, so
an office that syncs thousands of records between two refreshes is, to the planner,
an office with no rows. A lookup that the planner may answer by walking "the office's
rows" then reads every one of them for each request; this test takes statistics
while the office is empty, writes its rows, and checks that the lookup still probes
an index by the ids it was given.
"""

from __future__ import annotations

import pytest
from django.db import connection

from crm.models import Enterprise
from tests.factories import OfficeFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _insert_rows(office, n: int, prefix: str) -> None:  # type: ignore[no-untyped-def]
    """``n`` enterprises of ``office`` (each capable of the first stage), written in SQL: quick at 20,000."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO crm_enterprise (id, created_at, updated_at, external_id, version, name, name_en,
                ownership, province, city, website, name_pinyin, name_initials, name_normalized, source,
                is_demo, office_id)
            SELECT gen_random_uuid(), now(), now(), %s || g, 1, 'E' || g, '', 'other', '', '', '', '', '', '',
                '', false, %s
            FROM generate_series(1, %s) AS g
            """,
            [f"{prefix}-", office.pk, n],
        )


def _stale_statistics_then(office, rows: int):  # type: ignore[no-untyped-def]
    """Statistics taken while ``office`` has no rows; then its ``rows`` rows are written."""
    _insert_rows(OfficeFactory(), 500, "other")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_enterprise")
    _insert_rows(office, rows, "mine")


def _plan(sql: str, params) -> str:  # type: ignore[no-untyped-def]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_lookup_by_partner_ids_probes_the_index_for_each_id():
    office = OfficeFactory()
    _stale_statistics_then(office, 20_000)
    wanted = [f"mine-{i}" for i in range(1, 20_000, 400)]
    # The lookup crm.bulk.enterprises_upsert makes for a batch.
    query = (
        Enterprise.objects.select_for_update(no_key=True, of=("self",))
        .filter(office=office, external_id__in_array=wanted)
        .exclude(external_id="")
        .order_by("pk")
    )
    sql, params = query.query.sql_with_params()

    plan = _plan(sql, params)

    condition = next(line for line in plan.splitlines() if "Index Cond" in line)
    assert "external_id" in condition, plan
    assert len(list(query)) == len(wanted)
