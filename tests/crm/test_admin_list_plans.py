"""Change lists filtered on SQLite read their pages from indexes: the enterprise list's office
filter from its expression index, the project list by a status from its status-and-order index.

PostgreSQL's plans are held in ``tests/recruitment/test_list_scale.py``. SQLite matches
an expression index only to the same expression written in the SQL, literals included:
a bound parameter in place of the index's ``0`` leaves the filter to a scan.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connections

from crm.admin_lists import enterprises_of_offices
from crm.models import Enterprise

SQLITE = "sqlite" if "sqlite" in settings.DATABASES else "default"


@pytest.mark.django_db(databases=sorted({"default", SQLITE}))
def test_the_office_filter_reads_the_office_name_index_on_sqlite() -> None:
    assert connections[SQLITE].vendor == "sqlite"
    page = enterprises_of_offices(Enterprise.objects.using(SQLITE), [7, 9]).order_by("name", "-id")[:50]
    plan = page.explain()
    assert "enterprise_office_name_idx" in plan, plan


@pytest.mark.django_db(databases=sorted({"default", SQLITE}))
def test_the_project_list_filtered_by_a_status_reads_its_page_from_an_index_on_sqlite() -> None:
    """Without ``project_status_created_idx`` SQLite reads every project of the status
    (a tenth of them) and sorts them for a page of 50."""
    from recruitment.models import Project

    page = (
        Project.objects.using(SQLITE)
        .select_related("enterprise", "park", "owner", "office")
        .filter(status="signed")
        .order_by("-created_at", "-id")[:50]
    )
    plan = page.explain()
    assert "project_status_created_idx" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
