"""Gap selectors on a real database: statuses for a park and the zone, candidates, query counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from chains.models import ChainPark, Park
from chains.selectors import stage_neighbour_ids
from crm.models import Enterprise, Presence
from crm.services import presence_set
from recruitment.gap_map import split_by_office
from recruitment.gaps import (
    gap_candidates,
    gap_map_rows,
    gap_stage_detail,
    gap_stage_panel,
    gaps_for_park,
    gaps_for_zone,
    gaps_list,
    zone_parks,
)
from recruitment.models import Project
from tests.factories import (
    ChainFactory,
    EnterpriseFactory,
    InteractionFactory,
    OfficeFactory,
    ParkFactory,
    PresenceFactory,
    ProjectFactory,
    StageEdgeFactory,
    StageFactory,
    ZoneFactory,
)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are asserted in English, the language of the code (the site default is zh-hans)."""
    with translation.override("en"):
        yield


pytestmark = pytest.mark.django_db


@pytest.fixture
def world():  # type: ignore[no-untyped-def]
    """A zone with two parks and a three-stage chain a → b → c developed by both.

    The target map wants every stage in ``north`` and only ``a`` in ``south``.
    """
    zone = ZoneFactory()
    north = ParkFactory(code="north", zone=zone)
    south = ParkFactory(code="south", zone=zone)
    chain = ChainFactory(code="ss", zone=zone)
    a = StageFactory(chain=chain, code="ss-a", order=1)
    b = StageFactory(chain=chain, code="ss-b", order=2)
    c = StageFactory(chain=chain, code="ss-c", order=3)
    StageEdgeFactory(upstream=a, downstream=b)
    StageEdgeFactory(upstream=b, downstream=c)
    a.target_parks.set([north, south])
    b.target_parks.set([north])
    c.target_parks.set([north])
    ChainPark.objects.create(chain=chain, park=north)
    ChainPark.objects.create(chain=chain, park=south)
    return type("World", (), {"zone": zone, "north": north, "south": south, "chain": chain, "a": a, "b": b, "c": c})


def by_stage(rows):  # type: ignore[no-untyped-def]
    return {r.stage_code: r for r in rows}


def project_at(park, stage, status, office=None):  # type: ignore[no-untyped-def]
    project = ProjectFactory(park=park, status=status, **({"office": office} if office else {}))
    project.stages.set([stage])
    return project


def test_park_stage_statuses_follow_present_enterprises(world) -> None:  # type: ignore[no-untyped-def]
    tisco, other = EnterpriseFactory(name="太钢"), EnterpriseFactory(name="乙")
    PresenceFactory(enterprise=tisco, park=world.north, stage=world.a)
    PresenceFactory(enterprise=other, park=world.north, stage=world.a)
    PresenceFactory(enterprise=tisco, park=world.north, stage=world.b)
    PresenceFactory(enterprise=other, park=world.south, stage=world.c)
    rows = by_stage(gaps_for_park(park=world.north))
    assert [(code, rows[code].status) for code in ("ss-a", "ss-b", "ss-c")] == [
        ("ss-a", "covered"),
        ("ss-b", "weak"),
        ("ss-c", "missing"),
    ]
    assert {e.name for e in rows["ss-a"].present} == {"太钢", "乙"}
    assert rows["ss-a"].feeds == ["ss-b"] and rows["ss-c"].feeds == []
    assert all(r.park_code == "north" and r.chain_code == "ss" for r in rows.values())


def test_merged_enterprises_do_not_cover_a_stage(world) -> None:  # type: ignore[no-untyped-def]
    kept = EnterpriseFactory(name="保留")
    duplicate = EnterpriseFactory(name="重复", merged_into=kept)
    PresenceFactory(enterprise=kept, park=world.north, stage=world.a)
    PresenceFactory(enterprise=duplicate, park=world.north, stage=world.a)
    row = by_stage(gaps_for_park(park=world.north))["ss-a"]
    assert (row.status, row.present_count, [e.name for e in row.present]) == ("weak", 1, ["保留"])


def test_signed_projects_fill_open_projects_are_listed_lost_ones_are_not(world) -> None:  # type: ignore[no-untyped-def]
    signed = project_at(world.north, world.c, "construction")
    lead = project_at(world.north, world.c, "lead")
    project_at(world.north, world.c, "lost")
    done = project_at(world.north, world.b, "at_capacity")
    project_at(world.south, world.a, "signed")
    rows = by_stage(gaps_for_park(park=world.north))
    c = rows["ss-c"]
    assert c.being_filled and [p.id for p in c.filling_projects] == [signed.pk]
    assert {p.id for p in c.open_projects} == {signed.pk, lead.pk}
    assert c.filling_projects[0].office_id == signed.office_id and c.filling_projects[0].status == "construction"
    assert [p.id for p in rows["ss-b"].filling_projects] == [done.pk]
    assert rows["ss-b"].open_projects == []  # at capacity: filled, closed
    assert not rows["ss-a"].being_filled  # the signed project targets the other park


def test_target_map_and_what_to_recruit(world) -> None:  # type: ignore[no-untyped-def]
    south = by_stage(gaps_for_park(park=world.south))
    assert south["ss-a"].targeted and south["ss-a"].to_recruit
    assert not south["ss-b"].targeted and not south["ss-b"].to_recruit


def test_park_rows_cover_the_chains_the_park_develops_or_the_chain_asked(world) -> None:  # type: ignore[no-untyped-def]
    lonely = ParkFactory(code="lonely", zone=world.zone)
    assert gaps_for_park(park=lonely) == []
    assert [r.stage_code for r in gaps_for_park(park=lonely, chain=world.chain)] == ["ss-a", "ss-b", "ss-c"]


def test_status_filter_and_a_bad_status_names_the_field(world) -> None:  # type: ignore[no-untyped-def]
    PresenceFactory(park=world.north, stage=world.a)
    assert [r.stage_code for r in gaps_for_park(park=world.north, status="weak")] == ["ss-a"]
    assert [r.stage_code for r in gaps_for_park(park=world.north, status="missing")] == ["ss-b", "ss-c"]
    with pytest.raises(ValidationError) as info:
        gaps_for_park(park=world.north, status="gone")
    assert "status" in info.value.message_dict


def test_zone_rows_count_distinct_enterprises_in_any_park(world) -> None:  # type: ignore[no-untyped-def]
    a1, a2 = EnterpriseFactory(), EnterpriseFactory()
    PresenceFactory(enterprise=a1, park=world.north, stage=world.a)
    PresenceFactory(enterprise=a2, park=world.south, stage=world.a)
    PresenceFactory(enterprise=a1, park=world.north, stage=world.b)
    PresenceFactory(enterprise=a1, park=world.south, stage=world.b)
    project_at(world.south, world.c, "signed")
    elsewhere = ParkFactory(code="elsewhere", zone=ZoneFactory(code="other-zone"))  # never counts
    PresenceFactory(park=elsewhere, stage=world.c)
    PresenceFactory(park=elsewhere, stage=world.c)
    rows = by_stage(gaps_for_zone(zone=world.zone))
    a, b, c = rows["ss-a"], rows["ss-b"], rows["ss-c"]
    assert a.park_code is None
    assert (a.status, b.status, c.status) == ("covered", "weak", "missing")
    assert [(p.park_code, p.status) for p in a.by_park] == [("north", "weak"), ("south", "weak")]
    assert c.being_filled and [p.park_code for p in c.by_park if p.being_filled] == ["south"]
    assert [r.stage_code for r in gaps_for_zone(zone=world.zone, status="covered")] == ["ss-a"]


def test_gaps_list_crosses_parks_and_their_chains(world) -> None:  # type: ignore[no-untyped-def]
    other_chain = ChainFactory(code="cf", zone=world.zone)
    StageFactory(chain=other_chain, code="cf-x", order=1)
    ChainPark.objects.create(chain=other_chain, park=world.south)
    rows = gaps_list()
    assert [(r.park_code, r.stage_code) for r in rows] == [
        ("north", "ss-a"),
        ("north", "ss-b"),
        ("north", "ss-c"),
        ("south", "cf-x"),
        ("south", "ss-a"),
        ("south", "ss-b"),
        ("south", "ss-c"),
    ]
    assert [r.stage_code for r in gaps_list(park_code="south", chain_code="cf")] == ["cf-x"]
    assert {r.park_code for r in gaps_list(chain_code="ss")} == {"north", "south"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"park_code": "nowhere"}, "park"), ({"chain_code": "nothing"}, "chain"), ({"status": "x"}, "status")],
)
def test_gaps_list_unknown_code_names_the_field(world, kwargs, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as info:
        gaps_list(**kwargs)
    assert list(info.value.message_dict) == [field]


# --- Counts from the database, samples, the detail of one stage ----------------------


@pytest.fixture
def busy(world):  # type: ignore[no-untyped-def]
    """Enough presences and projects of every kind that a sample of two leaves some out.

    ``a`` in north: five enterprises (one merged away, so four count), recorded in the
    order 甲 乙 丙 丁; one of them also in south. ``c`` in north: projects in every
    listed status, one lost, changed one day apart.
    """
    names = ["甲", "乙", "丙", "丁"]
    enterprises = [EnterpriseFactory(name=n) for n in names]
    for enterprise in enterprises:
        PresenceFactory(enterprise=enterprise, park=world.north, stage=world.a)
    PresenceFactory(
        enterprise=EnterpriseFactory(name="并", merged_into=enterprises[0]), park=world.north, stage=world.a
    )
    PresenceFactory(enterprise=enterprises[1], park=world.south, stage=world.a)
    PresenceFactory(enterprise=EnterpriseFactory(name="戊"), park=world.south, stage=world.a)
    projects = {}
    start = timezone.now() - timedelta(days=30)
    for day, status in enumerate(
        ["lead", "screening", "negotiating", "suspended", "signed", "registered", "construction", "production"]
        + ["at_capacity", "lost"]
    ):
        project = project_at(world.north, world.c, status)
        Project.objects.filter(pk=project.pk).update(updated_at=start + timedelta(days=day))
        projects[status] = project
    project_at(world.south, world.c, "signed")
    return type(
        "Busy", (), {"world": world, "enterprises": dict(zip(names, enterprises, strict=True)), "projects": projects}
    )


def numbers(rows):  # type: ignore[no-untyped-def]
    """What a row says, without its lists."""
    return [
        (
            r.park_code,
            r.stage_code,
            r.status,
            r.present_count,
            r.filling_count,
            r.open_count,
            r.being_filled,
            r.targeted,
            r.to_recruit,
            [
                (p.park_code, p.status, p.present_count, p.filling_count, p.open_count, p.being_filled)
                for p in r.by_park
            ],
        )
        for r in rows
    ]


@pytest.mark.parametrize("sample", [0, 1, 2, 50])
def test_numbers_counted_by_the_database_equal_the_counted_lists(busy, sample) -> None:  # type: ignore[no-untyped-def]
    world = busy.world
    for select in (
        lambda **kw: gaps_for_park(park=world.north, **kw),
        lambda **kw: gaps_for_park(park=world.south, chain=world.chain, **kw),
        lambda **kw: gaps_for_zone(zone=world.zone, **kw),
        lambda **kw: gaps_list(**kw),
    ):
        assert numbers(select(sample=sample)) == numbers(select())
    c = by_stage(gaps_for_park(park=world.north, sample=0))["ss-c"]
    # filling: signed … at capacity; open: everything but at capacity and lost.
    assert (c.filling_count, c.open_count, c.being_filled) == (5, 8, True)
    a = by_stage(gaps_for_zone(zone=world.zone, sample=0))["ss-a"]
    assert (a.present_count, [(p.park_code, p.present_count) for p in a.by_park]) == (5, [("north", 4), ("south", 2)])


@pytest.mark.postgres
def test_projects_per_park_and_stage_from_the_tally_equal_those_counted_from_the_links(  # type: ignore[no-untyped-def]
    busy, monkeypatch
) -> None:
    """On PostgreSQL the projects per park, stage and status come from the pipeline tally's
    stage rows; after moves of park, status and stages, a delete and raw SQL they equal
    what the stage links say (the path SQLite takes)."""
    world, projects = busy.world, busy.projects
    moved = projects["lead"]
    moved.stages.add(world.a, world.b)  # one project, three stages of the chain
    moved.stages.remove(world.c)
    Project.objects.filter(pk=projects["signed"].pk).update(park=world.south)
    Project.objects.filter(pk=projects["screening"].pk).update(status="negotiating")
    projects["construction"].delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO recruitment_project_stages (project_id, stage_id) VALUES (%s, %s)",
            [projects["production"].pk, world.b.pk],
        )

    def counts():  # type: ignore[no-untyped-def]
        return [
            (r.park_code, r.stage_code, r.filling_count, r.open_count, r.being_filled)
            for r in gaps_for_zone(zone=world.zone, sample=0) + gaps_for_park(park=world.north, sample=0)
        ] + [(p.park_code, p.filling_count, p.open_count) for r in gaps_for_zone(zone=world.zone) for p in r.by_park]

    with CaptureQueriesContext(connection) as captured:
        from_tally = counts()
    read = " ".join(q["sql"] for q in captured.captured_queries if "UNION ALL" in q["sql"])
    assert "recruitment_pipelinetally" in read and "recruitment_project_stages" not in read
    assert by_stage(gaps_for_park(park=world.north, sample=0))["ss-b"].open_count == 2
    monkeypatch.setattr("recruitment.tally.available", lambda using="default": False)
    assert from_tally == counts()


def test_counts_only_rows_have_empty_lists_and_say_so(busy) -> None:  # type: ignore[no-untyped-def]
    rows = by_stage(gaps_for_zone(zone=busy.world.zone, sample=0))
    assert rows["ss-a"].present == [] and rows["ss-c"].open_projects == [] and rows["ss-c"].filling_projects == []
    assert not rows["ss-a"].lists_complete and not rows["ss-c"].lists_complete
    assert rows["ss-b"].lists_complete  # nothing there: the empty lists are the whole truth


def test_a_sample_keeps_the_most_recent_in_display_order(busy) -> None:  # type: ignore[no-untyped-def]
    north = by_stage(gaps_for_park(park=busy.world.north, sample=2))
    a, c = north["ss-a"], north["ss-c"]
    assert [e.name for e in a.present] == ["丁", "丙"]  # the last two recorded (merged 并 left out), by name
    assert (a.present_count, a.lists_complete) == (4, False)
    assert {p.status for p in c.filling_projects} == {"production", "at_capacity"}
    assert {p.status for p in c.open_projects} == {"construction", "production"}
    assert all(r == sorted(r, key=lambda p: (p.title, p.id)) for r in (c.filling_projects, c.open_projects))
    complete = by_stage(gaps_for_park(park=busy.world.north, sample=50))
    assert complete["ss-a"].lists_complete and [e.name for e in complete["ss-a"].present] == ["丁", "丙", "乙", "甲"]
    assert complete["ss-c"].lists_complete and len(complete["ss-c"].open_projects) == 8


def test_a_zone_sample_counts_an_enterprise_present_in_two_parks_once(busy) -> None:  # type: ignore[no-untyped-def]
    a = by_stage(gaps_for_zone(zone=busy.world.zone, sample=3))["ss-a"]
    # Recorded last: 乙 again (south), 戊 (south), then 丁 and 丙 (north).
    assert sorted(e.name for e in a.present) == sorted(["乙", "戊", "丁"])
    assert a.present_count == 5


def test_the_detail_of_a_stage_has_complete_lists(busy) -> None:  # type: ignore[no-untyped-def]
    world = busy.world
    in_park = gap_stage_detail(park_or_zone=world.north, stage=world.c)
    full = by_stage(gaps_for_park(park=world.north))["ss-c"]
    assert in_park == full and in_park.lists_complete and len(in_park.open_projects) == 8
    in_zone = gap_stage_detail(park_or_zone=world.zone, stage=world.a)
    full_zone = by_stage(gaps_for_zone(zone=world.zone))["ss-a"]
    assert in_zone == full_zone and [e.name for e in in_zone.present] == ["丁", "丙", "乙", "戊", "甲"]


@pytest.mark.parametrize("viewer", ["provincial", "own office", "no office"])
@pytest.mark.parametrize("where", ["park", "zone"])
def test_the_stage_panel_heads_the_complete_lists(busy, viewer, where) -> None:  # type: ignore[no-untyped-def]
    """The panel's enterprises are the complete detail's; each project list's head is the
    first of the complete list the viewer may read, in its order (titles by code point,
    ties by id), with the numbers read and hidden as ``split_by_office`` counts them."""
    world = busy.world
    mine, theirs = OfficeFactory(), OfficeFactory()
    titles = ["b", "B", "a", "Ä", "乙", "甲", "_", "a", "a", "z"]  # ties on "a" fall to the id
    for i, title in enumerate(titles * 3):
        project = project_at(
            world.north if i % 4 else world.south,
            world.c,
            ["lead", "signed", "at_capacity"][i % 3],
            mine if i % 2 else theirs,
        )
        Project.objects.filter(pk=project.pk).update(title=title)
    office_id, sees_everything = {
        "provincial": (None, True),
        "own office": (mine.pk, False),
        "no office": (None, False),
    }[viewer]
    park_or_zone, park_ids = (
        (world.north, [world.north.pk]) if where == "park" else (world.zone, [world.north.pk, world.south.pk])
    )
    complete = gap_stage_detail(park_or_zone=park_or_zone, stage=world.c)
    counted = gaps_for_park(park=world.north, sample=0) if where == "park" else gaps_for_zone(zone=world.zone, sample=0)
    row = by_stage(counted)["ss-c"]
    for limit in (1, 4, 100):
        panel = gap_stage_panel(
            row=row, park_ids=park_ids, office_id=office_id, sees_everything=sees_everything, limit=limit
        )
        assert panel.row.present == complete.present
        for head, projects in [(panel.filling, complete.filling_projects), (panel.open, complete.open_projects)]:
            shown, hidden = split_by_office(projects, office_id=office_id, sees_everything=sees_everything)
            assert (head.projects, head.shown, head.hidden) == (shown[:limit], len(shown), hidden)
    assert panel.row.status == complete.status and panel.row.being_filled == complete.being_filled


@pytest.mark.parametrize("viewer", ["provincial", "own office"])
@pytest.mark.parametrize("where", ["park", "zone"])
def test_the_stage_panel_reads_its_enterprises_with_its_projects(world, viewer, where) -> None:  # type: ignore[no-untyped-def]
    """One statement reads the panel's projects and the enterprises present: each enterprise
    once however many parks it is present in, merged ones left out, as the complete list
    has them."""
    office = OfficeFactory()
    kept, twice = EnterpriseFactory(name="保留"), EnterpriseFactory(name="两园")
    PresenceFactory(enterprise=kept, park=world.north, stage=world.c)
    PresenceFactory(enterprise=twice, park=world.north, stage=world.c)
    PresenceFactory(enterprise=twice, park=world.south, stage=world.c)
    PresenceFactory(enterprise=EnterpriseFactory(name="已合并", merged_into=kept), park=world.north, stage=world.c)
    PresenceFactory(enterprise=EnterpriseFactory(name="别的环节"), park=world.north, stage=world.b)
    project_at(world.north, world.c, "signed", office)
    park_or_zone, park_ids = (
        (world.north, [world.north.pk]) if where == "park" else (world.zone, [world.north.pk, world.south.pk])
    )
    complete = gap_stage_detail(park_or_zone=park_or_zone, stage=world.c)
    counted = gaps_for_park(park=world.north, sample=0) if where == "park" else gaps_for_zone(zone=world.zone, sample=0)
    office_id, sees_everything = (None, True) if viewer == "provincial" else (office.pk, False)
    with CaptureQueriesContext(connection) as captured:
        panel = gap_stage_panel(
            row=by_stage(counted)["ss-c"],
            park_ids=park_ids,
            office_id=office_id,
            sees_everything=sees_everything,
            limit=5,
        )
    assert len(captured.captured_queries) == 1
    assert panel.row.present == complete.present
    assert [e.name for e in panel.row.present] == sorted(["保留", "两园"])
    assert all(isinstance(e.id, UUID) for e in panel.row.present)
    assert [p.title for p in panel.filling.projects] == [p.title for p in complete.filling_projects]


@pytest.mark.parametrize("viewer", ["provincial", "own office"])
def test_the_stage_panel_reads_the_neighbours_its_candidates_score_on(world, viewer) -> None:  # type: ignore[no-untyped-def]
    """The panel's statement reads the stage's neighbours as ``stage_neighbour_ids`` does (an
    edge from another chain included); handed to ``gap_candidates`` they rank the candidates
    as it ranks them alone, one query fewer."""
    office = OfficeFactory()
    elsewhere = StageFactory(chain=ChainFactory(code="elsewhere"), code="x-a", order=1)
    StageEdgeFactory(upstream=elsewhere, downstream=world.b)
    for i in range(12):
        capable(world.b, *([world.a, world.c, elsewhere][: i % 4]), name=f"企业{i:02d}")
    office_id, sees_everything = (None, True) if viewer == "provincial" else (office.pk, False)
    rows = by_stage(gaps_for_park(park=world.north, sample=0))
    for stage in (world.a, world.b, world.c):
        panel = gap_stage_panel(
            row=rows[stage.code],
            park_ids=[world.north.pk],
            office_id=office_id,
            sees_everything=sees_everything,
            limit=5,
        )
        assert panel.neighbour_ids == stage_neighbour_ids(stage=stage)
    assert panel.neighbour_ids == {world.b.pk}
    panel = gap_stage_panel(
        row=rows["ss-b"], park_ids=[world.north.pk], office_id=office_id, sees_everything=sees_everything, limit=5
    )
    assert panel.neighbour_ids == {world.a.pk, world.c.pk, elsewhere.pk}
    with CaptureQueriesContext(connection) as alone:
        expected = gap_candidates(park=world.north, stage=world.b, office=office, limit=8)
    with CaptureQueriesContext(connection) as given:
        ranked = gap_candidates(
            park=world.north, stage=world.b, office=office, limit=8, neighbour_ids=panel.neighbour_ids
        )
    assert ranked == expected and len(given.captured_queries) == len(alone.captured_queries) - 1
    # Three neighbours count (the other chain's too): the cap of two is reached.
    assert {c.score for c in ranked} >= {1.0, 2.0}
    no_park = gap_stage_panel(
        row=rows["ss-b"], park_ids=[], office_id=office_id, sees_everything=sees_everything, limit=5
    )
    assert no_park.neighbour_ids is None


def test_the_map_reads_the_zones_parks_once_for_a_caller_that_has_them(world) -> None:  # type: ignore[no-untyped-def]
    """``zone_parks`` reads the parks (in code order) with the chains they develop in one query;
    handed to ``gap_map_rows`` it saves the map its own read of them, rows unchanged."""
    ParkFactory(code="east", zone=world.zone)  # develops no chain
    other = ChainFactory(code="other", zone=world.zone)
    ChainPark.objects.create(chain=other, park=world.north)
    PresenceFactory(enterprise=EnterpriseFactory(), park=world.north, stage=world.a)
    with CaptureQueriesContext(connection) as captured:
        read = zone_parks(zone=world.zone)
    assert len(captured.captured_queries) == 1
    assert [p.code for p in read.parks] == ["east", "north", "south"]
    assert read.parks == list(Park.objects.filter(zone=world.zone).order_by("code"))
    assert read.chain_parks == {"ss": {"north", "south"}, "other": {"north"}}
    for park in (None, world.north, world.south):
        with CaptureQueriesContext(connection) as alone:
            expected = gap_map_rows(zone=world.zone, chain=world.chain, park=park)
        with CaptureQueriesContext(connection) as given:
            assert gap_map_rows(zone=world.zone, chain=world.chain, park=park, parks_read=read) == expected
        assert len(given.captured_queries) == len(alone.captured_queries) - 1


@pytest.mark.postgres
def test_the_panels_walks_have_their_indexes(world) -> None:  # type: ignore[no-untyped-def]
    """The heads walk a park's projects in title order by code point, and the candidates walk
    the stage's capabilities by the capital they carry, merged enterprises left out, each from
    an index alone; without them both still answer, reading the park's projects or the
    stage's capabilities."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN (%s, %s, %s)",
            ["project_park_title_idx", "enterprise_stages_capital_idx", "enterprise_stages_stage_ent_idx"],
        )
        found = dict(cursor.fetchall())
    assert (
        'ON public.recruitment_project USING btree (park_id, title COLLATE "C", id) INCLUDE (status, office_id)'
        in (found["project_park_title_idx"])
    )
    assert (
        "ON public.crm_enterprise_stages USING btree (stage_id, enterprise_capital DESC, enterprise_id) "
        "WHERE (NOT enterprise_merged)" in (found["enterprise_stages_capital_idx"])
    )
    # The stage's capable enterprises in enterprise order, each with the capital it scores on.
    assert (
        "ON public.crm_enterprise_stages USING btree (stage_id, enterprise_id) "
        "INCLUDE (enterprise_capital, enterprise_merged)" in (found["enterprise_stages_stage_ent_idx"])
    )
    with connection.cursor() as cursor:  # the enterprises' own capital index has no reader left
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", ["enterprise_capital_walk_idx"])
        assert cursor.fetchone() is None


@pytest.mark.parametrize("sample", [-1, 1.5, True, "3"])
def test_a_sample_must_be_a_non_negative_int(world, sample) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="sample"):
        gaps_for_zone(zone=world.zone, sample=sample)


# --- Candidates ----------------------------------------------------------------------


def capable(stage, *more, **kw):  # type: ignore[no-untyped-def]
    enterprise = EnterpriseFactory(**kw)
    enterprise.stages.set([stage, *more])
    return enterprise


def test_candidates_are_capable_not_present_in_the_park_and_not_merged(world) -> None:  # type: ignore[no-untyped-def]
    office = OfficeFactory()
    plain = capable(world.b, name="可以")
    in_park = capable(world.b, name="已在园")
    PresenceFactory(enterprise=in_park, park=world.north, stage=world.a)  # any presence in the park excludes
    capable(world.b, name="已合并", merged_into=plain)
    incapable = EnterpriseFactory(name="无能力")
    PresenceFactory(enterprise=incapable, park=world.south, stage=world.b)  # works it elsewhere, yet not capable
    names = [c.name for c in gap_candidates(park=world.north, stage=world.b, office=office)]
    assert names == ["可以"]


def test_candidates_rank_zone_producers_then_chain_fit_then_capital(world) -> None:  # type: ignore[no-untyped-def]
    office = OfficeFactory()
    producer = capable(world.b, name="丁-邻园生产")
    PresenceFactory(enterprise=producer, park=world.south, stage=world.b)
    capable(world.b, world.a, world.c, name="丙-上下游")
    capable(world.b, name="乙-资本", registered_capital=Decimal(10_000_000_000))
    capable(world.b, name="甲-无")
    warm = capable(world.b, name="戊-联系", registered_capital=Decimal(100_000_000))
    InteractionFactory(office=office, enterprise=warm, occurred_at=timezone.now() - timedelta(days=5))
    ranked = gap_candidates(park=world.north, stage=world.b, office=office)
    assert [c.name for c in ranked] == ["丁-邻园生产", "丙-上下游", "乙-资本", "戊-联系", "甲-无"]
    assert [c.score for c in ranked] == [3.0, 2.0, 2.0, 2.0, 0.0]
    assert ranked[0].present_elsewhere == ["south"]
    assert ranked[0].credit_code == producer.credit_code
    assert len(gap_candidates(park=world.north, stage=world.b, office=office, limit=2)) == 2


def test_only_the_asking_offices_interactions_warm_a_candidate(world) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = OfficeFactory(), OfficeFactory()
    target = capable(world.b, name="甲")
    InteractionFactory(office=theirs, enterprise=target, occurred_at=timezone.now() - timedelta(days=5))
    [candidate] = gap_candidates(park=world.north, stage=world.b, office=mine)
    assert candidate.score == 0.0
    provincial = OfficeFactory(kind="provincial")
    [candidate] = gap_candidates(park=world.north, stage=world.b, office=provincial)
    assert candidate.score == 1.0


def test_candidate_courted_by_another_office_is_marked_for_everyone_else(world) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = OfficeFactory(), OfficeFactory()
    courted = capable(world.b, name="被追")
    ProjectFactory(office=theirs, enterprise=courted, park=world.south, status="negotiating")
    lost_cause = capable(world.b, name="已终止")
    ProjectFactory(office=theirs, enterprise=lost_cause, park=world.south, status="lost")
    ours = capable(world.b, name="我方")
    ProjectFactory(office=mine, enterprise=ours, park=world.north, status="screening")
    flags = {
        c.name: (c.courted_by_other_office, c.courted_by_own_office)
        for c in gap_candidates(park=world.north, stage=world.b, office=mine)
    }
    assert flags == {"被追": (True, False), "已终止": (False, False), "我方": (False, True)}
    seen_by_them = {
        c.name: c.courted_by_other_office for c in gap_candidates(park=world.north, stage=world.b, office=theirs)
    }
    assert seen_by_them == {"被追": False, "已终止": False, "我方": True}


def test_the_best_candidates_are_the_head_of_the_whole_ranking(world) -> None:  # type: ignore[no-untyped-def]
    """The database picks the best few by the same score and order as the pure ranking:
    asking for fewer gives the head of the full list."""
    office = OfficeFactory()
    now = timezone.now()
    zone_peer = ParkFactory(code="peer", zone=world.zone)
    outside = ParkFactory(code="outside", zone=ZoneFactory(code="far"))
    for i, name in enumerate(["b", "B", "a", "Ä", "甲", "乙", "丙", "丁", "戊", "己", "庚", "辛"]):
        enterprise = capable(
            world.b,
            *([world.a, world.c][: i % 3]),
            name=name,
            registered_capital=Decimal(10 ** (6 + i % 5)) if i % 4 else None,
        )
        if i % 5 == 1:
            PresenceFactory(enterprise=enterprise, park=zone_peer, stage=world.b)
        if i % 5 == 2:
            PresenceFactory(enterprise=enterprise, park=outside, stage=world.b)
        if i % 3 == 1:
            days = [90, 91, 365, 366][i % 4]
            InteractionFactory(office=office, enterprise=enterprise, occurred_at=now - timedelta(days=days, hours=1))
    for n in range(25):  # no signal at all: a long tie at 0 wider than the margin
        capable(world.b, name=f"z{n:02d}")
    everyone = gap_candidates(park=world.north, stage=world.b, office=office, limit=1000)
    assert len(everyone) == 37
    assert [c.score for c in everyone] == sorted((c.score for c in everyone), reverse=True)
    for limit in (1, 3, 5, 12, 14, 30):
        head = gap_candidates(park=world.north, stage=world.b, office=office, limit=limit)
        assert [(c.name, c.score) for c in head] == [(c.name, c.score) for c in everyone[:limit]]


def _ranking_statements(captured) -> list[str]:  # type: ignore[no-untyped-def]
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith("WITH adj AS")]


@pytest.mark.parametrize(
    ("data", "second_statement"),
    [
        # Most enterprises work the stage next door: every head scores 3 or more, above
        # what any enterprise left out can reach (its capital and a contact).
        ("distinct capitals, producers next door", {1: False, 5: False, 20: False}),
        # Few signals: an enterprise left out with a recent contact could beat the cut.
        ("distinct capitals, few signals", {1: True, 5: True, 20: True}),
        # A run of equal capitals at the cut: those left out tie with the last kept.
        ("a run of equal capitals", {1: True, 5: True, 20: True}),
    ],
    ids=["producers next door", "few signals", "a run of equal capitals"],
)
def test_the_walk_by_capital_gives_the_head_of_the_whole_ranking(world, monkeypatch, data, second_statement) -> None:  # type: ignore[no-untyped-def]
    """With many capable enterprises only those with a signal besides capital and contact,
    and the best by capital, are scored; the head must still be the head of the whole
    ranking, and when an enterprise left out could reach the cut everyone is scored."""
    monkeypatch.setattr("recruitment.gaps._CANDIDATE_WALK", 1)  # walks of limit + margin rows
    office = OfficeFactory()
    now = timezone.now()
    peer = ParkFactory(code="peer", zone=world.zone)
    for i in range(70):
        equal = data == "a run of equal capitals"
        capital = Decimal(2_000_000) if equal else Decimal(1_000_000 + 37_000 * i)
        enterprise = capable(world.b, *([world.a] if i % 9 == 0 else []), name=f"企{i:02d}", registered_capital=capital)
        if i % 3 if data == "distinct capitals, producers next door" else i % 11 == 0:
            PresenceFactory(enterprise=enterprise, park=peer, stage=world.b)
        if i % 13 == 0:
            InteractionFactory(office=office, enterprise=enterprise, occurred_at=now - timedelta(days=10))
    for n in range(30):
        warm = capable(world.b, *([world.c] if n % 4 == 0 else []), name=f"无{n:02d}")  # no capital
        if n == 29:  # a contact alone: left out of the walks, it must still rank by it
            InteractionFactory(office=office, enterprise=warm, occurred_at=now - timedelta(days=3))
    everyone = gap_candidates(park=world.north, stage=world.b, office=office, limit=1000)
    assert len(everyone) == 100
    assert {c.name: c.score for c in everyone}["无29"] == 1.0
    for limit in (1, 5, 20):
        with CaptureQueriesContext(connection) as captured:
            head = gap_candidates(park=world.north, stage=world.b, office=office, limit=limit)
        assert [(c.name, c.score) for c in head] == [(c.name, c.score) for c in everyone[:limit]]
        statements = _ranking_statements(captured)
        assert "walk AS" in statements[0]
        assert len(statements) == (2 if second_statement[limit] else 1), (limit, statements)


def test_the_walk_by_capital_follows_capitals_and_merges_changed_after_the_capabilities(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The walk reads the capital and merge each capability carries (``crm.capability_capital``):
    an enterprise whose capital rose, or whose merge was undone, after its capabilities were
    recorded is walked at its place. The head here is trusted without scoring everyone (its
    last scores above what anyone left out could reach), so a stale copy would show in it."""
    monkeypatch.setattr("recruitment.gaps._CANDIDATE_WALK", 1)  # walks of limit + margin rows
    office = OfficeFactory()
    capable(world.b, world.a, world.c, name="甲", registered_capital=Decimal(10**10))  # 2 neighbours + 2: 4
    for i in range(30):  # 2 neighbours, a capital below the floor: 2, more than the margin past the cut
        capable(world.b, world.a, world.c, name=f"企{i:02d}", registered_capital=Decimal(100_000 + 1_000 * i))
    risen = capable(world.b, name="丙-增资", registered_capital=Decimal(1_000))
    revived = capable(world.b, name="丁-复原", registered_capital=Decimal(10**10))
    Enterprise.objects.filter(pk=revived.pk).update(merged_into=risen)
    Enterprise.objects.filter(pk=risen.pk).update(registered_capital=Decimal(10**11))
    Enterprise.objects.filter(pk=revived.pk).update(merged_into=None)
    everyone = gap_candidates(park=world.north, stage=world.b, office=office, limit=1000)
    assert [(c.name, c.score) for c in everyone[:4]] == [("甲", 4.0), ("丁-复原", 2.0), ("丙-增资", 2.0), ("企00", 2.0)]
    with CaptureQueriesContext(connection) as captured:
        head = gap_candidates(park=world.north, stage=world.b, office=office, limit=3)
    assert [c.name for c in head] == ["甲", "丁-复原", "丙-增资"]
    assert len(_ranking_statements(captured)) == 1  # the walk's head, trusted


@pytest.mark.parametrize("search", ["", "企业"])
def test_candidates_score_on_the_capital_and_merge_their_capabilities_carry(world, search) -> None:  # type: ignore[no-untyped-def]
    """Each candidate is scored on the capital its capability row carries (``crm.capability_capital``),
    read with the capability: an enterprise whose capital rose, or which was merged away, after its
    capabilities were recorded ranks by what it is now, whichever way it came to be scored: by
    neighbouring stages or a presence elsewhere beside the walk by capital (no search), or as one
    of all the capable enterprises (a search)."""
    for i in range(50):  # the walk's whole length above them by capital: they are not walked
        capable(world.b, name=f"大户{i:02d}", registered_capital=Decimal(10**11))
    neighbours = [
        capable(world.b, world.a, world.c, name=f"企业-邻{i:02d}", registered_capital=Decimal(1_000)) for i in range(25)
    ]
    elsewhere = capable(world.b, name="企业-外", registered_capital=Decimal(1_000))
    PresenceFactory(enterprise=elsewhere, park=world.south, stage=world.b)
    gone = capable(world.b, world.a, name="企业-并", registered_capital=Decimal(10**10))
    PresenceFactory(enterprise=gone, park=world.south, stage=world.b)
    Enterprise.objects.filter(pk__in=[elsewhere.pk, *(e.pk for e in neighbours)]).update(
        registered_capital=Decimal(10**10)
    )
    Enterprise.objects.filter(pk=gone.pk).update(merged_into=elsewhere)
    with CaptureQueriesContext(connection) as captured:
        best = gap_candidates(park=world.north, stage=world.b, office=None, limit=3, search=search)
    # In the zone at the stage 3 + capital 2; two neighbouring stages 2 + capital 2.
    assert [(c.name, c.score) for c in best] == [("企业-外", 5.0), ("企业-邻00", 4.0), ("企业-邻01", 4.0)]
    # One statement: without a search, the walk's head is trusted (all above the 3 anyone it
    # left out could reach), so what the neighbours and the presences brought is what ranked.
    assert len(_ranking_statements(captured)) == 1


@pytest.mark.postgres
def test_enterprises_present_elsewhere_are_checked_capable_one_by_one(world) -> None:  # type: ignore[no-untyped-def]
    """The few enterprises present at the stage in other parks are each checked capable of it by
    their key: joined as a set, PostgreSQL merges them with the stage's whole range of
    capabilities (25,000 rows at 1,000,000 enterprises) once more."""
    office = OfficeFactory()
    for i in range(60):
        enterprise = capable(world.b, *([world.a] if i % 3 == 0 else []), name=f"企业{i:02d}")
        if i % 4 == 0:
            PresenceFactory(enterprise=enterprise, park=world.south, stage=world.b)
    PresenceFactory(enterprise=EnterpriseFactory(name="不能"), park=world.south, stage=world.b)  # not capable
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_enterprise_stages")
        cursor.execute("ANALYZE crm_presence")
    with CaptureQueriesContext(connection) as captured:
        ranked = gap_candidates(park=world.north, stage=world.b, office=office, limit=5)
    assert len(ranked) == 5 and "不能" not in {c.name for c in ranked}
    statement = _ranking_statements(captured)[0]  # the quick ranking's (walks and signals)
    assert "FROM pe CROSS JOIN LATERAL (SELECT c.enterprise_capital FROM" in statement
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + statement)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # By its key from an index at scale; read in full here (a small table), still one by one.
    assert "enterprise_id = pe.enterprise_id" in plan, plan


@pytest.fixture(params=["database default", "linguistic"])
def name_collation(request):  # type: ignore[no-untyped-def]
    """The enterprise name column under the database's collation, and under a linguistic
    one (ICU, PostgreSQL only) that sorts ``a`` before ``B`` — as a production database
    created with a locale would."""
    if request.param == "linguistic":
        if connection.vendor != "postgresql":
            pytest.skip("collations are PostgreSQL's")
        with connection.cursor() as cursor:
            cursor.execute('ALTER TABLE crm_enterprise ALTER COLUMN name TYPE varchar(200) COLLATE "und-x-icu"')
    return request.param


def test_tied_candidates_come_in_code_point_order_whatever_the_collation(world, name_collation) -> None:  # type: ignore[no-untyped-def]
    # More ties than the margin past the limit, most of them before "B" in a linguistic order.
    for name in ["b", "Ä", "_", "B", *(f"a{n:02d}" for n in range(30))]:
        capable(world.b, name=name)
    best = gap_candidates(park=world.north, stage=world.b, office=None, limit=3)
    assert [c.name for c in best] == ["B", "_", "a00"]  # as Python sorts them; a locale would not


def test_contact_counts_as_recent_up_to_ninety_whole_days(world, time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to("2026-05-01T10:00:00+08:00", tick=False)
    office = OfficeFactory()
    now = timezone.now()
    just = timedelta(hours=23, minutes=59, seconds=59)
    for name, ago in [
        ("甲", timedelta(days=90) + just),
        ("乙", timedelta(days=91)),
        ("丙", timedelta(days=365) + just),
    ]:
        InteractionFactory(office=office, enterprise=capable(world.b, name=name), occurred_at=now - ago)
    InteractionFactory(office=office, enterprise=capable(world.b, name="丁"), occurred_at=now - timedelta(days=366))
    scores = {c.name: c.score for c in gap_candidates(park=world.north, stage=world.b, office=office)}
    assert scores == {"甲": 1.0, "乙": 0.5, "丙": 0.5, "丁": 0.0}


# --- Fixed query counts --------------------------------------------------------------


def grow(world, n: int) -> None:  # type: ignore[no-untyped-def]
    """Add ``n`` enterprises with capabilities, presences, projects and interactions."""
    office = OfficeFactory()
    for i in range(n):
        enterprise = capable(world.b, world.a if i % 2 else world.c)
        park = world.north if i % 3 else world.south
        PresenceFactory(enterprise=enterprise, park=park, stage=world.a if i % 2 else world.c)
        project_at(park, [world.a, world.b, world.c][i % 3], ["lead", "signed", "production"][i % 3], office)
        InteractionFactory(office=office, enterprise=enterprise)


def count_queries(fn) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_selectors_run_the_same_number_of_queries_for_small_and_large_data(world) -> None:  # type: ignore[no-untyped-def]
    office = OfficeFactory()
    selectors = {
        "park": lambda: gaps_for_park(park=world.north),
        "park+chain": lambda: gaps_for_park(park=world.north, chain=world.chain, status="weak"),
        "zone": lambda: gaps_for_zone(zone=world.zone),
        "zone counts": lambda: gaps_for_zone(zone=world.zone, sample=0),
        "zone sample": lambda: gaps_for_zone(zone=world.zone, sample=3),
        "park counts": lambda: gaps_for_park(park=world.north, sample=0),
        "list counts": lambda: gaps_list(sample=0),
        "detail in park": lambda: gap_stage_detail(park_or_zone=world.north, stage=world.a),
        "detail in zone": lambda: gap_stage_detail(park_or_zone=world.zone, stage=world.a),
        "list": lambda: gaps_list(),
        "list+codes": lambda: gaps_list(park_code="north", chain_code="ss", status="missing"),
        "candidates": lambda: gap_candidates(park=world.north, stage=world.b, office=office),
    }
    grow(world, 2)
    small = {name: count_queries(fn) for name, fn in selectors.items()}
    grow(world, 60)
    large = {name: count_queries(fn) for name, fn in selectors.items()}
    assert small == large
    assert small == {
        "park": 3,
        "park+chain": 3,
        "zone": 4,
        "zone counts": 3,
        "zone sample": 5,
        "park counts": 2,
        "list counts": 3,
        "detail in park": 3,
        "detail in zone": 4,
        "list": 4,
        "list+codes": 6,
        "candidates": 2,
    }


# --- Recording presences (what the gap map counts) ----------------------------------


def test_recording_the_same_presence_again_writes_no_history(world) -> None:  # type: ignore[no-untyped-def]
    enterprise = EnterpriseFactory()
    first = presence_set(enterprise=enterprise, park=world.north, stage=world.a, note="一期")
    again = presence_set(enterprise=enterprise, park=world.north, stage=world.a, note="一期")
    assert again.pk == first.pk and first.history.count() == 1
    presence_set(enterprise=enterprise, park=world.north, stage=world.a, note="二期", status="construction")
    assert first.history.count() == 2
    assert by_stage(gaps_for_park(park=world.north))["ss-a"].present_count == 1


@pytest.mark.parametrize(("kwargs", "field"), [({"note": "长" * 301}, "note"), ({"status": "planned"}, "status")])
def test_a_bad_presence_is_refused_on_its_field_and_not_written(world, kwargs, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as info:
        presence_set(enterprise=EnterpriseFactory(), park=world.north, stage=world.a, **kwargs)
    assert list(info.value.message_dict) == [field]
    assert not Presence.objects.exists()


def test_candidate_search_keeps_the_candidates_the_directory_search_finds(world) -> None:  # type: ignore[no-untyped-def]
    office = OfficeFactory()
    capable(world.b, name="太原碳纤维有限公司")
    capable(world.b, name="大同碳材料有限公司")
    capable(world.b, name="晋中精密机械有限公司")

    def found(term: str) -> list[str]:
        return sorted(c.name for c in gap_candidates(park=world.north, stage=world.b, office=office, search=term))

    assert found("碳") == ["大同碳材料有限公司", "太原碳纤维有限公司"]
    assert found("碳纤维") == ["太原碳纤维有限公司"]
    assert found("钛") == []
    assert len(found("")) == 3
