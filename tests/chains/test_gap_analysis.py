"""The pure gap analysis: statuses, filling projects, the target map, zone rows, candidate ranking.

No database: these functions take plain facts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import translation

from chains.gap_analysis import (
    CandidateFacts,
    EnterpriseRef,
    GapCounts,
    GapStatus,
    PresenceFact,
    ProjectFact,
    ProjectRef,
    StageFacts,
    candidate_score,
    chain_park_gaps,
    gap_status,
    gaps_with_status,
    park_gaps,
    rank_candidates,
    zone_gaps,
)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are asserted in English, the language of the code (the site default is zh-hans)."""
    with translation.override("en"):
        yield


FILLING = frozenset({"signed", "registered", "construction", "production", "at_capacity"})
CLOSED = frozenset({"at_capacity", "lost"})
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

SMELT = StageFacts(id=1, code="ss-smelting", chain_code="ss", name="冶炼", name_en="Smelting", order=1,
                   feeds=("ss-steel",), target_parks=frozenset({"zhongbei", "yangqu"}))  # fmt: skip
STEEL = StageFacts(id=2, code="ss-steel", chain_code="ss", name="不锈钢", name_en="Stainless steel", order=2,
                   feeds=("ss-plate",), target_parks=frozenset({"zhongbei"}))  # fmt: skip
PLATE = StageFacts(id=3, code="ss-plate", chain_code="ss", name="冷轧板", name_en="Cold-rolled plate", order=3)
STAGES = [SMELT, STEEL, PLATE]


def ent(name: str) -> EnterpriseRef:
    return EnterpriseRef(id=uuid.uuid5(uuid.NAMESPACE_DNS, name), name=name)


def proj(title: str, status: str, office_id: int = 1) -> ProjectRef:
    return ProjectRef(id=uuid.uuid5(uuid.NAMESPACE_URL, title), title=title, status=status, office_id=office_id)


def rows_by_stage(rows):  # type: ignore[no-untyped-def]
    return {r.stage_code: r for r in rows}


def analyse_park(park: str, presences=(), projects=()):  # type: ignore[no-untyped-def]
    return rows_by_stage(
        park_gaps(
            park_code=park,
            stages=STAGES,
            presences=presences,
            projects=projects,
            filling_statuses=FILLING,
            closed_statuses=CLOSED,
        )
    )


@pytest.mark.parametrize(("count", "status"), [(0, "missing"), (1, "weak"), (2, "covered"), (7, "covered")])
def test_status_follows_the_number_of_present_enterprises(count: int, status: str) -> None:
    assert gap_status(count) == GapStatus(status)


def test_park_rows_count_distinct_enterprises_per_stage() -> None:
    tisco, other = ent("太钢"), ent("乙")
    rows = analyse_park(
        "zhongbei",
        presences=[
            PresenceFact("zhongbei", SMELT.id, tisco),
            PresenceFact("zhongbei", SMELT.id, other),
            PresenceFact("zhongbei", STEEL.id, tisco),
            PresenceFact("zhongbei", STEEL.id, tisco),  # the same enterprise twice is one
            PresenceFact("yangqu", PLATE.id, other),  # another park: ignored here
        ],
    )
    assert [rows[c].status for c in ("ss-smelting", "ss-steel", "ss-plate")] == ["covered", "weak", "missing"]
    assert rows["ss-smelting"].present_count == 2
    assert [e.name for e in rows["ss-smelting"].present] == sorted(["太钢", "乙"])
    assert rows["ss-steel"].present == [tisco]
    assert rows["ss-plate"].present == []


def test_only_signed_or_later_projects_fill_a_stage_and_only_open_ones_are_listed_as_open() -> None:
    lead, signed, done, lost = (
        proj("线索", "lead"),
        proj("签约", "signed"),
        proj("达产", "at_capacity"),
        proj("终止", "lost"),
    )
    rows = analyse_park(
        "zhongbei",
        projects=[ProjectFact("zhongbei", PLATE.id, p) for p in (lead, signed, done, lost)]
        + [ProjectFact("zhongbei", STEEL.id, lead), ProjectFact("yangqu", SMELT.id, signed)],
    )
    plate = rows["ss-plate"]
    assert plate.filling_projects == sorted([signed, done], key=lambda p: p.title)
    assert plate.open_projects == sorted([lead, signed], key=lambda p: p.title)
    assert plate.being_filled is True
    assert rows["ss-steel"].being_filled is False
    assert rows["ss-steel"].open_projects == [lead]
    assert rows["ss-smelting"].being_filled is False  # the signed project targets another park


def test_target_map_marks_what_to_recruit() -> None:
    rows = analyse_park("zhongbei", presences=[PresenceFact("zhongbei", SMELT.id, e) for e in (ent("a"), ent("b"))])
    assert rows["ss-smelting"].targeted and not rows["ss-smelting"].to_recruit  # targeted, covered
    assert rows["ss-steel"].targeted and rows["ss-steel"].to_recruit  # targeted, missing
    assert not rows["ss-plate"].targeted and not rows["ss-plate"].to_recruit  # not in the target map
    yangqu = analyse_park("yangqu")
    assert yangqu["ss-smelting"].targeted and not yangqu["ss-steel"].targeted


def test_rows_carry_the_stage_and_its_downstream_stages() -> None:
    row = analyse_park("zhongbei")["ss-smelting"]
    assert (row.park_code, row.chain_code, row.stage_id, row.stage_name, row.stage_name_en, row.order) == (
        "zhongbei",
        "ss",
        1,
        "冶炼",
        "Smelting",
        1,
    )
    assert row.feeds == ["ss-steel"]
    assert row.by_park == []


def test_zone_status_counts_distinct_enterprises_across_parks() -> None:
    a, b = ent("甲"), ent("乙")
    rows = rows_by_stage(
        zone_gaps(
            park_codes=["xinzhou", "yangqu", "zhongbei"],
            stages=STAGES,
            presences=[
                PresenceFact("zhongbei", SMELT.id, a),
                PresenceFact("yangqu", SMELT.id, b),  # weak in each park, covered in the zone
                PresenceFact("zhongbei", STEEL.id, a),
                PresenceFact("yangqu", STEEL.id, a),  # one enterprise in two parks: still weak
            ],
            projects=[ProjectFact("yangqu", PLATE.id, proj("扩建", "construction"))],
            filling_statuses=FILLING,
            closed_statuses=CLOSED,
            chain_parks={"ss": {"zhongbei", "yangqu"}},
        )
    )
    smelt, steel, plate = rows["ss-smelting"], rows["ss-steel"], rows["ss-plate"]
    assert smelt.park_code is None
    assert (smelt.status, smelt.present_count) == ("covered", 2)
    assert [(p.park_code, p.status) for p in smelt.by_park] == [("yangqu", "weak"), ("zhongbei", "weak")]
    assert (steel.status, steel.present_count) == ("weak", 1)
    assert [p.park_code for p in steel.by_park] == ["yangqu", "zhongbei"]
    assert plate.status == "missing" and plate.being_filled
    assert [(p.park_code, p.being_filled) for p in plate.by_park] == [("yangqu", True), ("zhongbei", False)]
    assert smelt.targeted and steel.targeted and not plate.targeted


def test_zone_breakdown_lists_parks_with_a_target_even_without_the_chain() -> None:
    rows = rows_by_stage(
        zone_gaps(
            park_codes=["xinzhou", "yangqu"],
            stages=STAGES,
            presences=[],
            projects=[],
            filling_statuses=FILLING,
            closed_statuses=CLOSED,
        )
    )
    assert [p.park_code for p in rows["ss-smelting"].by_park] == ["yangqu"]
    assert rows["ss-plate"].by_park == []


def test_chain_park_pairs_give_rows_in_pair_order() -> None:
    other_chain = StageFacts(id=9, code="cf-fibre", chain_code="cf", name="碳纤维", name_en="", order=1)
    rows = chain_park_gaps(
        pairs=[("yangqu", "cf"), ("yangqu", "ss"), ("zhongbei", "ss")],
        stages=[*STAGES, other_chain],
        presences=[],
        projects=[],
        filling_statuses=FILLING,
        closed_statuses=CLOSED,
    )
    assert [(r.park_code, r.stage_code) for r in rows] == [
        ("yangqu", "cf-fibre"),
        ("yangqu", "ss-smelting"),
        ("yangqu", "ss-steel"),
        ("yangqu", "ss-plate"),
        ("zhongbei", "ss-smelting"),
        ("zhongbei", "ss-steel"),
        ("zhongbei", "ss-plate"),
    ]


def test_status_filter_keeps_one_status() -> None:
    rows = list(analyse_park("zhongbei", presences=[PresenceFact("zhongbei", SMELT.id, ent("a"))]).values())
    assert [r.stage_code for r in gaps_with_status(rows, "missing")] == ["ss-steel", "ss-plate"]
    assert [r.stage_code for r in gaps_with_status(rows, GapStatus.WEAK)] == ["ss-smelting"]
    assert len(gaps_with_status(rows, None)) == 3
    with pytest.raises(ValueError):
        gaps_with_status(rows, "half-covered")


# --- Numbers counted elsewhere, samples --------------------------------------------------


def test_rows_count_their_projects_and_say_their_lists_are_complete() -> None:
    plate = analyse_park(
        "zhongbei",
        projects=[ProjectFact("zhongbei", PLATE.id, proj(t, s)) for t, s in [("甲", "lead"), ("乙", "signed")]],
    )["ss-plate"]
    assert (plate.filling_count, plate.open_count, plate.lists_complete) == (1, 2, True)


def test_numbers_given_decide_the_status_whatever_the_lists_hold() -> None:
    counts = GapCounts(
        present={("zhongbei", SMELT.id): 2, ("zhongbei", STEEL.id): 1},
        projects={("zhongbei", PLATE.id): {"lead": 3, "construction": 2, "at_capacity": 1, "lost": 4}},
    )
    rows = rows_by_stage(
        park_gaps(
            park_code="zhongbei",
            stages=STAGES,
            presences=[],
            projects=[],
            filling_statuses=FILLING,
            closed_statuses=CLOSED,
            counts=counts,
            sample=0,
        )
    )
    smelt, steel, plate = rows["ss-smelting"], rows["ss-steel"], rows["ss-plate"]
    assert (smelt.status, smelt.present_count, smelt.present, smelt.lists_complete) == ("covered", 2, [], False)
    assert steel.status == "weak" and steel.to_recruit
    assert (plate.filling_count, plate.open_count, plate.being_filled) == (3, 5, True)
    assert (plate.filling_projects, plate.open_projects) == ([], [])


def test_a_sample_keeps_the_most_recent_and_shows_them_in_name_order() -> None:
    names = ["丁", "甲", "丙", "乙"]  # recorded in this order
    presences = [PresenceFact("zhongbei", SMELT.id, ent(n), recency=i) for i, n in enumerate(names)]
    projects = [
        ProjectFact("zhongbei", PLATE.id, proj(t, "signed"), recency=r)
        for t, r in [("旧", 1.0), ("新", 3.0), ("中", 2.0)]
    ]
    rows = rows_by_stage(
        park_gaps(
            park_code="zhongbei",
            stages=STAGES,
            presences=presences,
            projects=projects,
            filling_statuses=FILLING,
            closed_statuses=CLOSED,
            sample=2,
        )
    )
    smelt, plate = rows["ss-smelting"], rows["ss-plate"]
    assert [e.name for e in smelt.present] == sorted(["丙", "乙"])
    assert smelt.present_count == 4 and not smelt.lists_complete
    assert [p.title for p in plate.filling_projects] == sorted(["新", "中"])
    assert plate.filling_count == 3


def test_a_zone_sample_is_the_most_recent_of_the_parks_samples_each_enterprise_once() -> None:
    a, b, c = ent("甲"), ent("乙"), ent("丙")
    rows = rows_by_stage(
        zone_gaps(
            park_codes=["yangqu", "zhongbei"],
            stages=STAGES,
            presences=[
                PresenceFact("zhongbei", SMELT.id, a, recency=1),
                PresenceFact("zhongbei", SMELT.id, b, recency=2),
                PresenceFact("yangqu", SMELT.id, c, recency=3),
                PresenceFact("yangqu", SMELT.id, a, recency=4),  # 甲 again, more recently
            ],
            projects=[],
            filling_statuses=FILLING,
            closed_statuses=CLOSED,
            counts=GapCounts(present={("zhongbei", SMELT.id): 2, ("yangqu", SMELT.id): 2}, zone_present={SMELT.id: 3}),
            sample=2,
        )
    )
    smelt = rows["ss-smelting"]
    assert [e.name for e in smelt.present] == sorted(["甲", "丙"])
    assert (smelt.status, smelt.present_count) == ("covered", 3)
    assert [(p.park_code, p.present_count) for p in smelt.by_park] == [("yangqu", 2), ("zhongbei", 2)]


# --- Candidates ------------------------------------------------------------------------


def facts(name: str, **kw) -> CandidateFacts:  # type: ignore[no-untyped-def]
    return CandidateFacts(enterprise_id=uuid.uuid5(uuid.NAMESPACE_OID, name), name=name, credit_code=None, **kw)


ZONE = {"yangqu", "zhongbei", "xinzhou", "yuanping"}


def score(f: CandidateFacts) -> float:
    return candidate_score(f, now=NOW, zone_park_codes=ZONE)[0]


def test_a_candidate_without_any_signal_scores_zero() -> None:
    assert candidate_score(facts("甲"), now=NOW, zone_park_codes=ZONE) == (0.0, [])


def test_working_the_stage_in_the_zone_outweighs_working_it_elsewhere() -> None:
    assert score(facts("甲", present_elsewhere=("zhongbei",))) == 3.0
    assert score(facts("甲", present_elsewhere=("suzhou",))) == 2.0
    assert score(facts("甲", present_elsewhere=("suzhou", "zhongbei"))) == 3.0


def test_adjacent_stages_count_up_to_two() -> None:
    assert [score(facts("甲", adjacent_stage_count=n)) for n in (0, 1, 2, 5)] == [0.0, 1.0, 2.0, 2.0]


def test_capital_scores_on_a_log_scale_capped_at_two() -> None:
    assert score(facts("甲", registered_capital=Decimal(500_000))) == 0.0
    assert score(facts("甲", registered_capital=Decimal(100_000_000))) == 1.0  # 1亿元
    assert score(facts("甲", registered_capital=Decimal(10_000_000_000))) == 2.0  # 100亿元
    assert score(facts("甲", registered_capital=Decimal(10**13))) == 2.0


def test_recent_contact_scores_more_than_old_contact() -> None:
    assert score(facts("甲", last_interaction_at=NOW - timedelta(days=10))) == 1.0
    assert score(facts("甲", last_interaction_at=NOW - timedelta(days=200))) == 0.5
    assert score(facts("甲", last_interaction_at=NOW - timedelta(days=800))) == 0.0


def test_being_courted_by_another_office_is_a_flag_not_a_penalty() -> None:
    plain = facts("甲", adjacent_stage_count=1)
    courted = facts("甲", adjacent_stage_count=1, courted_by_other_office=True)
    assert score(plain) == score(courted)
    reasons = candidate_score(courted, now=NOW, zone_park_codes=ZONE)[1]
    assert any("Another office" in r for r in reasons)
    [ranked] = rank_candidates([courted], now=NOW, zone_park_codes=ZONE)
    assert ranked.courted_by_other_office is True


def test_ranking_is_by_score_then_name_and_respects_the_limit() -> None:
    ranked = rank_candidates(
        [
            facts("丙", adjacent_stage_count=1),
            facts("乙", present_elsewhere=("zhongbei",)),
            facts("甲", adjacent_stage_count=1),
            facts("丁"),
        ],
        now=NOW,
        zone_park_codes=ZONE,
    )
    assert [c.name for c in ranked] == ["乙", *sorted(["丙", "甲"]), "丁"]
    assert ranked[0].present_elsewhere == ["zhongbei"]
    assert ranked[0].reasons and "zhongbei" in ranked[0].reasons[0]
    assert len(rank_candidates([facts("甲"), facts("乙")], now=NOW, zone_park_codes=ZONE, limit=1)) == 1
