"""The chain role (补链 / 强链 / 延链): the pure derivation, and project_create deriving it
from the real presences in the target park, unless it is given."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import translation

from chains.gap_analysis import GapStatus
from recruitment.chain_roles import derive_chain_role
from recruitment.gaps import gaps_for_park
from recruitment.models import ChainRole
from recruitment.services import project_create
from tests.factories import ChainFactory, EnterpriseFactory, ParkFactory, PresenceFactory, StageFactory


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are asserted in English, the language of the code (the site default is zh-hans)."""
    with translation.override("en"):
        yield


COVERED, WEAK, MISSING = GapStatus.COVERED, GapStatus.WEAK, GapStatus.MISSING


@pytest.mark.parametrize(
    ("statuses", "role"),
    [
        ([MISSING], ChainRole.FILL),
        ([COVERED, MISSING], ChainRole.FILL),
        ([WEAK, MISSING, COVERED], ChainRole.FILL),
        ([WEAK], ChainRole.STRENGTHEN),
        ([COVERED, WEAK], ChainRole.STRENGTHEN),
        ([COVERED], ChainRole.EXTEND),
        ([COVERED, COVERED], ChainRole.EXTEND),
        ([], ChainRole.FILL),
        (["weak", "covered"], ChainRole.STRENGTHEN),
    ],
)
def test_role_follows_the_weakest_target_stage(statuses: list, role: str) -> None:
    assert derive_chain_role(statuses) == role


def test_an_unknown_gap_status_is_refused() -> None:
    with pytest.raises(ValueError):
        derive_chain_role(["half"])


# --- project_create ----------------------------------------------------------------------


@pytest.fixture
def park(db):  # type: ignore[no-untyped-def]
    return ParkFactory(code="yangqu")


def present(park, stage, n: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        PresenceFactory(park=park, stage=stage)


def create(office, park, stages, **data):  # type: ignore[no-untyped-def]
    return project_create(office=office, stages=stages, title="项目", enterprise=EnterpriseFactory(), park=park, **data)


@pytest.mark.django_db
@pytest.mark.parametrize(("present_count", "role"), [(0, "fill"), (1, "strengthen"), (2, "extend"), (3, "extend")])
def test_project_create_derives_the_role_from_presences_in_the_target_park(
    present_count: int, role: str, park, park_office
) -> None:  # type: ignore[no-untyped-def]
    stage = StageFactory()
    present(park, stage, present_count)
    project = create(park_office, park, [stage])
    assert (project.chain_role, project.chain_role_overridden) == (role, False)


@pytest.mark.django_db
def test_the_weakest_of_several_target_stages_decides(park, park_office) -> None:  # type: ignore[no-untyped-def]
    covered, weak, missing = StageFactory(), StageFactory(), StageFactory()
    present(park, covered, 2)
    present(park, weak, 1)
    assert create(park_office, park, [covered, weak]).chain_role == ChainRole.STRENGTHEN
    assert create(park_office, park, [covered, weak, missing]).chain_role == ChainRole.FILL


@pytest.mark.django_db
def test_presences_in_other_parks_do_not_count(park, park_office) -> None:  # type: ignore[no-untyped-def]
    stage = StageFactory()
    present(ParkFactory(), stage, 2)
    assert create(park_office, park, [stage]).chain_role == ChainRole.FILL


@pytest.mark.django_db
def test_one_enterprise_at_a_stage_is_one_however_it_is_recorded(park, park_office) -> None:  # type: ignore[no-untyped-def]
    stage = StageFactory()
    kept = EnterpriseFactory()
    PresenceFactory(enterprise=kept, park=park, stage=stage)
    PresenceFactory(enterprise=EnterpriseFactory(merged_into=kept), park=park, stage=stage)  # a merged duplicate
    assert create(park_office, park, [stage]).chain_role == ChainRole.STRENGTHEN


@pytest.mark.django_db
def test_a_given_role_overrides_the_derivation(park, park_office) -> None:  # type: ignore[no-untyped-def]
    stage = StageFactory()
    project = create(park_office, park, [stage], chain_role=ChainRole.EXTEND)
    assert (project.chain_role, project.chain_role_overridden) == (ChainRole.EXTEND, True)


@pytest.mark.django_db
def test_the_role_is_fixed_when_the_project_is_created(park, park_office) -> None:  # type: ignore[no-untyped-def]
    stage = StageFactory()
    project = create(park_office, park, [stage])
    present(park, stage, 2)
    project.refresh_from_db()
    assert project.chain_role == ChainRole.FILL


@pytest.mark.django_db
def test_the_derivation_agrees_with_the_gap_map(park, park_office) -> None:  # type: ignore[no-untyped-def]
    chain = ChainFactory()
    stages = [StageFactory(chain=chain, order=i) for i in range(3)]
    present(park, stages[0], 2)
    present(park, stages[1], 1)
    gap_map = {row.stage_id: row.status for row in gaps_for_park(park=park, chain=chain)}
    for chosen in ([stages[0]], stages[:2], stages):
        expected = derive_chain_role(gap_map[s.pk] for s in chosen)
        assert create(park_office, park, chosen).chain_role == expected
    assert [gap_map[s.pk] for s in stages] == ["covered", "weak", "missing"]
