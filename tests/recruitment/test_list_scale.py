"""Change lists, search and the dashboard at scale: query counts that do not grow with the
rows, plans that use an index on PostgreSQL, counts estimated past a limit."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bench.generate import company_name, credit_code
from crm.admin_lists import EstimatedCountPaginator
from crm.models import Enterprise, Interaction
from crm.names import pinyin_keys
from recruitment.models import FollowUp, Project
from tests.crm.test_admin_support import sign_in_manager
from tests.factories import EnterpriseFactory, OfficeFactory, ParkFactory, StageFactory, UserFactory

# The dashboard's query counts hold on SQLite too; the rest reads PostgreSQL's planner.
pytestmark = pytest.mark.django_db

PROJECTS = reverse("admin:recruitment_project_changelist")
ENTERPRISES = reverse("admin:crm_enterprise_changelist")


def _enterprises(n: int, *, office=None, seed: int = 1) -> list[Enterprise]:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        name, name_en, region, _trade = company_name(rng)
        pinyin, initials = pinyin_keys(name)
        rows.append(
            Enterprise(
                name=name,
                name_en=name_en,
                name_pinyin=pinyin,
                name_initials=initials,
                credit_code=credit_code(region[2], seed * 1_000_000 + i),
                province=region[1],
                registered_capital=rng.randrange(1, 1000) * 10_000,
                office=office if i % 3 == 0 else None,
            )
        )
    return Enterprise.objects.bulk_create(rows, batch_size=2000)


def _projects(n: int, *, office, enterprises, park, stages) -> list[Project]:  # type: ignore[no-untyped-def]
    now = timezone.now()
    projects = Project.objects.bulk_create(
        [
            Project(
                id=uuid.uuid4(),
                office=office,
                title=f"碳纤维项目{i}",
                enterprise=enterprises[i % len(enterprises)],
                park=park,
                status=["lead", "screening", "negotiating", "signed"][i % 4],
                created_at=now - timedelta(minutes=i),
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    Project.stages.through.objects.bulk_create(
        [Project.stages.through(project=p, stage=s) for p in projects for s in stages]
    )
    Interaction.objects.bulk_create(
        [
            Interaction(office=office, enterprise=p.enterprise, project=p, kind="call", occurred_at=now, summary="电话")
            for p in projects
        ]
    )
    FollowUp.objects.bulk_create([FollowUp(office=office, project=p, due_at=now) for p in projects])
    return projects


@pytest.fixture
def world(provincial_office):  # type: ignore[no-untyped-def]
    park = ParkFactory()
    return {"office": provincial_office, "park": park, "stages": [StageFactory(), StageFactory()]}


def _queries(client, url: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "url",
    [
        PROJECTS,
        PROJECTS + "?q=碳纤维",
        PROJECTS + "?o=1",
        PROJECTS + "?status__exact=lead",
        ENTERPRISES,
        ENTERPRISES + "?q=有限",
        reverse("reports:dashboard"),
    ],
)
@pytest.mark.postgres
def test_query_count_is_the_same_for_10_and_1000_rows(client, provincial_user, world, url):
    sign_in_manager(client, provincial_user)
    enterprises = _enterprises(10)
    _projects(10, office=world["office"], enterprises=enterprises, park=world["park"], stages=world["stages"])
    client.get(url)  # reference choices cached, as after any first visit
    small = _queries(client, url)
    more = _enterprises(990, seed=2)
    _projects(990, office=world["office"], enterprises=enterprises + more, park=world["park"], stages=world["stages"])
    assert _queries(client, url) == small
    assert small <= 10


@pytest.mark.parametrize("narrow", ["none", "park", "chain", "sector", "period"])
def test_the_dashboard_costs_at_most_10_queries_filtered_or_not_for_10_and_1000_projects(
    client, provincial_user, world, narrow
):
    """Unfiltered, by park, chain or sector (from the pipeline tally) or by a period (counted
    from the projects): the same statements for 10 and 1,000 projects, owners and
    follow-ups, and no more than ten of them."""
    sign_in_manager(client, provincial_user)
    stage = world["stages"][0]
    today = timezone.localdate().isoformat()
    url = (
        reverse("reports:dashboard")
        + {
            "none": "",
            "park": f"?park={world['park'].code}",
            "chain": f"?chain={stage.chain.code}",
            "sector": f"?sector={stage.chain.sector.code}",
            "period": f"?start={today}&end={today}&basis=created",
        }[narrow]
    )
    owners = [UserFactory(office=world["office"]) for _ in range(3)]

    def add(n: int, seed: int) -> None:
        projects = _projects(
            n, office=world["office"], enterprises=_enterprises(10, seed=seed), park=world["park"], stages=[stage]
        )
        Project.objects.filter(pk__in=[p.pk for p in projects]).update(owner=owners[seed % 3])
        FollowUp.objects.filter(project__in=projects).update(assignee=owners[(seed + 1) % 3])

    add(10, seed=1)
    client.get(url)  # caches that are not per request (content types, filter choices)
    small = _queries(client, url)
    add(990, seed=2)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert len(ctx.captured_queries) == small <= 10, [q["sql"][:120] for q in ctx.captured_queries]
    assert response.context["board"].figures.total.count == 1000


@pytest.mark.postgres
def test_the_page_shows_each_projects_own_interaction_count_and_follow_up(client, provincial_user, world):
    sign_in_manager(client, provincial_user)
    [one, other] = _projects(
        2, office=world["office"], enterprises=_enterprises(2), park=world["park"], stages=world["stages"]
    )
    Interaction.objects.create(
        office=world["office"],
        enterprise=one.enterprise,
        project=one,
        kind="call",
        occurred_at=timezone.now(),
        summary="再次",
    )
    response = client.get(PROJECTS)
    rows = {p.pk: p for p in response.context["cl"].result_list}
    assert rows[one.pk]._interaction_count == 2
    assert rows[other.pk]._interaction_count == 1
    assert rows[one.pk]._next_follow_up_at is not None


@pytest.mark.postgres
def test_a_large_list_shows_an_estimated_count_and_the_exact_one_on_demand(client, provincial_user, settings):
    settings.ADMIN_EXACT_COUNT_LIMIT = 50
    sign_in_manager(client, provincial_user)
    _enterprises(120)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_enterprise")
    response = client.get(ENTERPRISES)
    assert response.context["cl"].paginator.estimated
    assert "exact=1" in response.content.decode()
    exact = client.get(ENTERPRISES + "?exact=1")
    assert not exact.context["cl"].paginator.estimated
    assert exact.context["cl"].result_count == 120


@pytest.mark.postgres
def test_a_small_list_is_counted_exactly():
    EnterpriseFactory.create_batch(3)
    paginator = EstimatedCountPaginator(Enterprise.objects.order_by("name"), 100)
    with CaptureQueriesContext(connection) as ctx:
        assert paginator.count == 3
    assert len(ctx.captured_queries) == 2  # the planner's estimate, then the count
    assert not paginator.estimated


@pytest.mark.postgres
def test_a_deep_page_reads_its_ids_first_in_the_lists_order(settings):
    enterprises = _enterprises(1_250)
    expected = sorted(enterprises, key=lambda e: (e.name, -e.pk.int))[1_100:1_200]
    paginator = EstimatedCountPaginator(Enterprise.objects.order_by("name", "-pk"), 100)
    with CaptureQueriesContext(connection) as ctx:
        page = list(paginator.page(12).object_list)
    assert [e.pk for e in page] == [e.pk for e in expected]
    assert "OFFSET 1100" in ctx.captured_queries[-2]["sql"] and "LIMIT" not in ctx.captured_queries[-1]["sql"]


# --- plans -------------------------------------------------------------------------------


@pytest.fixture
def big(world):  # type: ignore[no-untyped-def]
    office = OfficeFactory(kind="park")
    enterprises = _enterprises(20_000, office=office, seed=5)
    _projects(3_000, office=world["office"], enterprises=enterprises, park=world["park"], stages=world["stages"][:1])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"office": office, "enterprises": enterprises}


def _page_plan(client, url: str) -> str:  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 200
    cl = response.context["cl"]
    return cl.queryset[:100].explain()


@pytest.mark.postgres
def test_each_change_list_query_uses_an_index(client, provincial_user, big):
    sign_in_manager(client, provincial_user)
    rare = big["enterprises"][123]
    short = rare.name[2:5]  # the trade name and a character: a rare substring
    cases = {
        ENTERPRISES: "enterprise_name_page_idx",
        ENTERPRISES + "?o=6": "enterprise_capital_page_idx",
        ENTERPRISES + f"?office__id__exact={big['office'].pk}": "enterprise_office_name_idx",
        ENTERPRISES + f"?q={short}": "enterprise_name_grams_idx",
        ENTERPRISES + f"?q={rare.name_pinyin.replace(' ', '')[3:12]}": "enterprise_key_grams_idx",
        ENTERPRISES + f"?q={rare.credit_code[:12]}": "enterprise_code_prefix_idx",
        PROJECTS: "project_created_page_idx",
        PROJECTS + "?o=1": "project_title_page_idx",
        PROJECTS + f"?q={short}": "enterprise_name_grams_idx",
    }
    for url, index in cases.items():
        plan = _page_plan(client, url)
        assert index in plan, f"{url}\n{plan}"
        assert "Seq Scan on crm_enterprise" not in plan, f"{url}\n{plan}"


@pytest.mark.postgres
def test_the_duplicate_check_on_create_uses_indexes(big):
    from crm.duplicates import enterprise_duplicates_of

    rare = big["enterprises"][77]
    with CaptureQueriesContext(connection) as ctx:
        found = enterprise_duplicates_of(name=rare.name, credit_code=rare.credit_code)
    assert rare in found
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + ctx.captured_queries[0]["sql"])
        plan = "\n".join(r[0] for r in cursor.fetchall())
    assert "Seq Scan" not in plan, plan


def _stale_projects(n: int, *, world, enterprises, start: int = 0) -> list[Project]:  # type: ignore[no-untyped-def]
    """``n`` open projects two months old: one in three never contacted, the others
    last contacted between 40 and 59 days ago."""
    now = timezone.now()
    projects = Project.objects.bulk_create(
        [
            Project(
                id=uuid.uuid4(),
                office=world["office"],
                title=f"沉寂项目{start + i}",
                enterprise=enterprises[i % len(enterprises)],
                park=world["park"],
                status="negotiating",
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    for i, p in enumerate(projects):  # created_at is set on insert: backdate it
        p.created_at = now - timedelta(days=60, minutes=start + i)
    Project.objects.bulk_update(projects, ["created_at"], batch_size=1000)
    Interaction.objects.bulk_create(
        [
            Interaction(
                office=world["office"],
                enterprise=p.enterprise,
                project=p,
                kind="call",
                occurred_at=now - timedelta(days=40 + (start + i) % 20),
                summary="电话",
            )
            for i, p in enumerate(projects)
            if i % 3
        ]
    )
    return projects


def test_the_dashboards_stale_list_costs_the_same_queries_for_10_and_1000_stale_projects(
    client, provincial_user, world
):
    """The stale list, its total and each owner's stale count: the same statements
    whether 10 or 1,000 projects are stale (no count or list query per project)."""
    sign_in_manager(client, provincial_user)
    url = reverse("reports:dashboard")
    enterprises = _enterprises(10)
    _stale_projects(10, world=world, enterprises=enterprises)
    client.get(url)
    small = _queries(client, url)
    _stale_projects(990, world=world, enterprises=enterprises, start=10)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert len(ctx.captured_queries) == small
    board = response.context["board"]
    assert board.stale.total == 1000
    # Never contacted first, oldest first; the list has its limit.
    rows = board.stale.rows
    assert len(rows) == 20
    assert all(r.last_interaction_at is None for r in rows)
    assert [r.created_at for r in rows] == sorted(r.created_at for r in rows)


def test_the_stale_list_goes_on_with_the_longest_silent_when_few_were_never_contacted(provincial_user, world):
    from recruitment.dashboard import stale_list

    enterprises = _enterprises(3)
    projects = _stale_projects(30, world=world, enterprises=enterprises)
    never = [p for i, p in enumerate(projects) if i % 3 == 0]
    rows = stale_list(Project.objects.all(), now=timezone.now())
    assert [r.pk for r in rows[:10]] == [p.pk for p in sorted(never, key=lambda p: p.created_at)]
    contacted = rows[10:]
    assert len(contacted) == 10
    lasts = [r.last_interaction_at for r in contacted]
    assert None not in lasts and lasts == sorted(lasts)
    # The ten oldest last contacts of the twenty contacted projects.
    all_lasts = sorted(Interaction.objects.values_list("occurred_at", flat=True))
    assert lasts == all_lasts[:10]


def test_the_stale_list_is_the_same_over_a_distinct_scope_and_none_over_an_empty_one(provincial_user, world):
    from recruitment.dashboard import stale_list

    enterprises = _enterprises(3)
    projects = _stale_projects(30, world=world, enterprises=enterprises)
    now = timezone.now()
    plain = [(r.pk, r.last_interaction_at) for r in stale_list(Project.objects.all(), now=now)]
    assert len(plain) == 20 and {pk for pk, _ in plain} <= {p.pk for p in projects}
    # A scope joined to another table and made DISTINCT (its parts then select their order's columns).
    joined = Project.objects.filter(enterprise__name__isnull=False).distinct()
    assert [(r.pk, r.last_interaction_at) for r in stale_list(joined, now=now)] == plain
    assert stale_list(Project.objects.none(), now=now) == []
