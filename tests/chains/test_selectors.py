"""Reference-data selectors used by the gap analysis and the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from chains.models import Stage
from chains.selectors import stage_by_code, stage_facts, stage_neighbour_ids, zone_by_code
from tests.factories import ChainFactory, ParkFactory, StageEdgeFactory, StageFactory, ZoneFactory


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are asserted in English, the language of the code (the site default is zh-hans)."""
    with translation.override("en"):
        yield


pytestmark = pytest.mark.django_db


@pytest.fixture
def polyamide():  # type: ignore[no-untyped-def]
    """alkane → acid → polyamide → {nylon, fibre, clothing}, the polyamide targeted in two parks."""
    chain = ChainFactory(code="lp")
    stages = {
        code: StageFactory(chain=chain, code=code, order=i)
        for i, code in enumerate(["lp-alkane", "lp-acid", "lp-polyamide", "lp-nylon", "lp-fibre", "lp-clothing"])
    }
    for up, down in [
        ("lp-alkane", "lp-acid"),
        ("lp-acid", "lp-polyamide"),
        ("lp-polyamide", "lp-clothing"),
        ("lp-polyamide", "lp-nylon"),
        ("lp-polyamide", "lp-fibre"),
    ]:
        StageEdgeFactory(upstream=stages[up], downstream=stages[down])
    stages["lp-polyamide"].target_parks.set([ParkFactory(code="yangqu"), ParkFactory(code="zhongbei")])
    return stages


def test_stage_facts_fold_edges_and_target_parks_into_one_row_per_stage(polyamide, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    with django_assert_num_queries(1):
        facts = stage_facts(stages=Stage.objects.filter(chain__code="lp"))
    by_code = {f.code: f for f in facts}
    assert [f.code for f in facts] == ["lp-alkane", "lp-acid", "lp-polyamide", "lp-nylon", "lp-fibre", "lp-clothing"]
    assert by_code["lp-polyamide"].feeds == ("lp-nylon", "lp-fibre", "lp-clothing")  # in stage order
    assert by_code["lp-polyamide"].target_parks == {"yangqu", "zhongbei"}
    assert by_code["lp-alkane"].feeds == ("lp-acid",) and by_code["lp-alkane"].target_parks == frozenset()
    assert by_code["lp-clothing"].feeds == ()
    assert by_code["lp-acid"].chain_code == "lp"


def test_neighbours_are_the_stages_feeding_and_fed(polyamide) -> None:  # type: ignore[no-untyped-def]
    ids = {code: s.pk for code, s in polyamide.items()}
    assert stage_neighbour_ids(stage=polyamide["lp-polyamide"]) == {
        ids["lp-acid"],
        ids["lp-nylon"],
        ids["lp-fibre"],
        ids["lp-clothing"],
    }
    assert stage_neighbour_ids(stage=polyamide["lp-alkane"]) == {ids["lp-acid"]}


def test_stage_by_code_names_the_field_when_unknown(polyamide) -> None:  # type: ignore[no-untyped-def]
    assert stage_by_code("lp-acid") == polyamide["lp-acid"]
    assert stage_by_code("lp/lp-acid") == polyamide["lp-acid"]
    with pytest.raises(ValidationError) as info:
        stage_by_code("lp-unobtainium", field="stage")
    assert "lp-unobtainium" in info.value.message_dict["stage"][0]


def test_zone_by_code_names_the_field_when_unknown() -> None:
    zone = ZoneFactory(code="taixin")
    assert zone_by_code("taixin") == zone
    with pytest.raises(ValidationError) as info:
        zone_by_code("atlantis")
    assert list(info.value.message_dict) == ["zone"]
