"""The history tables keep the indexes their readers use and no more: each index is a
write more for every history row, and an import of 100,000 projects writes some 300,000."""

from __future__ import annotations

import pytest
from django.db import connection

from recruitment.models import FollowUp, Project

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _indexed_columns(table: str) -> set[tuple[str, ...]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {tuple(c["columns"]) for c in constraints.values() if c["index"] or c["primary_key"]}


@pytest.mark.parametrize("model", [Project, FollowUp], ids=["project", "follow-up"])
def test_a_history_is_indexed_by_record_office_date_and_author_only(model) -> None:  # type: ignore[no-untyped-def]
    table = model.history.model._meta.db_table
    # The record's own history page (id), the ledger (office, date), a user's deletion (author).
    assert _indexed_columns(table) == {
        ("history_id",),
        ("id",),
        ("office_id",),
        ("history_date",),
        ("history_user_id",),
    }


def test_the_ledger_reads_an_offices_project_history_through_an_index() -> None:
    from crm.models import Office

    office = Office.objects.create(code="history-index", name="历史索引", kind=Office.Kind.PARK)
    qs = Project.history.filter(office=office).values_list("id", "history_date")  # type: ignore[attr-defined]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = qs.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "office_id" in plan and "Index" in plan, plan
