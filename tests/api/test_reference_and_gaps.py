"""Reference data and gap analysis, read by every office; other offices' projects stay private."""

from __future__ import annotations

import pytest

from chains.models import ChainPark, StageEdge
from recruitment.services import project_create, project_transition
from tests.factories import ChainFactory, EnterpriseFactory, ParkFactory, PresenceFactory, StageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def carbon_chain(park):  # type: ignore[no-untyped-def]
    chain = ChainFactory(code="carbon-fibre", name="高端碳纤维", name_en="High-end carbon fibre")
    ChainPark.objects.create(chain=chain, park=park)
    acn = StageFactory(chain=chain, code="acn", name="丙烯腈", order=1)
    pan = StageFactory(chain=chain, code="pan", name="聚丙烯腈原丝", order=2)
    fibre = StageFactory(chain=chain, code="fibre", name="高性能碳纤维", order=3)
    StageEdge.objects.create(upstream=acn, downstream=pan)
    StageEdge.objects.create(upstream=pan, downstream=fibre)
    return chain


def test_parks_sectors_and_chains_by_code(api_b, park, carbon_chain):
    parks = api_b.get("parks/").json()["results"]
    assert parks == [
        {
            "code": "yangqu",
            "name": "阳曲产业园区",
            "name_en": "Yangqu Industrial Park",
            "zone": park.zone.code,
            "city": "",
        }
    ]
    chain = api_b.get("chains/carbon-fibre/").json()
    assert chain["parks"] == ["yangqu"] and chain["sector"] == carbon_chain.sector.code
    assert [(s["code"], s["feeds"]) for s in chain["stages"]] == [("acn", ["pan"]), ("pan", ["fibre"]), ("fibre", [])]
    assert api_b.get("sectors/").json()["results"][0]["code"] == carbon_chain.sector.code
    assert api_b.get("chains/nope/").status_code == 404


def test_gap_rows_hide_other_offices_projects_but_count_them(api_a, api_b, api_province, office_a, park, carbon_chain):
    PresenceFactory(park=park, stage=carbon_chain.stages.get(code="acn"))
    enterprise = EnterpriseFactory()
    project = project_create(
        office=office_a,
        title="A的保密项目",
        enterprise=enterprise,
        park=park,
        stages=[carbon_chain.stages.get(code="pan")],
    )
    for step in ("screening", "negotiating", "signed"):
        project_transition(project=project, to=step)
    rows = {r["stage"]: r for r in api_b.get("gaps/", park="yangqu", chain="carbon-fibre").json()["results"]}
    assert (rows["acn"]["status"], rows["acn"]["present_count"]) == ("weak", 1)
    assert rows["fibre"]["status"] == "missing"
    pan = rows["pan"]
    assert pan["being_filled"] and pan["filling_project_count"] == 1 and pan["filling_projects"] == []
    assert "A的保密项目" not in api_b.get("gaps/").content.decode()
    own = {r["stage"]: r for r in api_a.get("gaps/", park="yangqu").json()["results"]}["pan"]
    assert own["filling_projects"] == [{"id": str(project.pk), "title": "A的保密项目", "status": "signed"}]
    missing = api_province.get("gaps/", status="missing").json()["results"]
    assert {r["stage"] for r in missing} == {"pan", "fibre"}


def test_gap_filters_are_validated(api_b, park, carbon_chain):
    assert api_b.get("gaps/", park="nowhere").json()["errors"][0]["attr"] == "park"
    assert api_b.get("gaps/", status="bad").status_code == 400


def test_gap_candidates_are_ranked_enterprises_capable_of_the_stage(api_b, park, carbon_chain):
    fibre = carbon_chain.stages.get(code="fibre")
    capable = EnterpriseFactory(name="钢科碳材料")
    capable.stages.set([fibre])
    elsewhere = ParkFactory(zone=park.zone, code="xinzhou")
    PresenceFactory(enterprise=capable, park=elsewhere, stage=fibre)
    EnterpriseFactory(name="无关企业")
    r = api_b.get("gaps/candidates/", park="yangqu", stage="fibre")
    assert r.status_code == 200, r.content
    results = r.json()["results"]
    assert [c["name"] for c in results] == ["钢科碳材料"]
    assert results[0]["present_elsewhere"] == ["xinzhou"] and results[0]["reasons"]
    r = api_b.get("gaps/candidates/", park="yangqu")
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "stage"
    r = api_b.get("gaps/candidates/", park="yangqu", stage="nope")
    assert r.json()["errors"][0]["code"] == "unknown_stage"
