"""Gap analysis (缺链分析): pure functions over plain data, no database.

The staff's method is a current-state map (现状图) held against a target map
(远景图); the difference is what to recruit. These functions compute both sides
from plain facts that selectors (``recruitment.gaps``) load in a fixed number of
queries, so the rules can be read and tested without a database.

Definitions
-----------
* **Park status** of a stage: ``covered`` with two or more distinct enterprises
  present at the stage in the park, ``weak`` with one, ``missing`` with none.
* **Zone status** of a stage: the same thresholds applied to the number of
  *distinct* enterprises present at the stage in *any* park of the zone. One
  enterprise present in two parks counts once (the zone has one supplier, not
  two), so a stage is covered in the zone as soon as two different enterprises
  work it somewhere in the zone. The per-park statuses are kept alongside
  (``StageGap.by_park``) so a screen can show where the coverage is.
* **Being filled**: a project in one of the *filling* statuses (signed or later;
  the caller passes ``recruitment.pipeline.SIGNED_OR_LATER``) targets the stage
  in the park (zone row: in any park of the zone).
* **Targeted**: the park is in the stage's target map (``Stage.target_parks``);
  the zone row is targeted when any of its parks is.
* **To recruit**: targeted and not yet covered — the difference between the
  target map and the current map.

Counts and lists
----------------
Every row carries exact numbers (``present_count``, ``filling_count``,
``open_count``) and lists of the enterprises and projects behind them. Given only
facts, the functions count the facts, so the lists are complete. At the scale of a
zone the selectors instead pass the numbers counted by the database
(:class:`GapCounts`) and a *sample* of facts — or none — so that a zone-wide map
does not load every presence and project: the lists then hold at most ``sample``
items each, the most recently recorded (``lists_complete`` is False when a list is
shorter than its count).

Candidate ranking (:func:`rank_candidates`) is documented on :func:`candidate_score`.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple
from uuid import UUID

from django.utils.translation import gettext as _


class GapStatus(StrEnum):
    COVERED = "covered"
    WEAK = "weak"
    MISSING = "missing"


def gap_status(present_count: int) -> GapStatus:
    if present_count >= 2:
        return GapStatus.COVERED
    if present_count == 1:
        return GapStatus.WEAK
    return GapStatus.MISSING


# --- Plain facts in, rows out ------------------------------------------------------


@dataclass(frozen=True)
class EnterpriseRef:
    id: UUID
    name: str


@dataclass(frozen=True)
class ProjectRef:
    id: UUID
    title: str
    status: str
    office_id: int


@dataclass(frozen=True)
class StageFacts:
    """What the analysis needs to know about a stage."""

    id: int
    code: str
    chain_code: str
    name: str
    name_en: str
    order: int
    feeds: tuple[str, ...] = ()
    target_parks: frozenset[str] = frozenset()


class PresenceFact(NamedTuple):
    """An enterprise present at a stage in a park (merged enterprises already left out).

    Facts are named tuples, not dataclasses: a zone holds tens of thousands of them
    and they are built on every call. ``recency`` orders a sample (larger: recorded
    later; the selectors pass the presence's id).
    """

    park_code: str
    stage_id: int
    enterprise: EnterpriseRef
    recency: float = 0


class ProjectFact(NamedTuple):
    """A project targeting a stage in a park (one fact per target stage).

    ``recency`` orders a sample (larger: changed later; the selectors pass the
    project's ``updated_at`` as a timestamp).
    """

    park_code: str
    stage_id: int
    project: ProjectRef
    recency: float = 0


CellKey = tuple[str, int]  # (park code, stage id)


@dataclass(frozen=True)
class GapCounts:
    """Exact numbers counted by the database, for when the facts are only a sample.

    Without them every number is the length of a list of facts, which means loading
    every presence and project of the zone; with them the facts can be a few per
    row (or none) and the statuses stay exact.
    """

    present: Mapping[CellKey, int] = field(default_factory=dict)  # enterprises present in the park
    projects: Mapping[CellKey, Mapping[str, int]] = field(default_factory=dict)  # status → projects
    zone_present: Mapping[int, int] = field(default_factory=dict)  # stage id → distinct enterprises in the zone


@dataclass(frozen=True)
class ParkStageStatus:
    """One park's share of a zone row."""

    park_code: str
    status: GapStatus
    present_count: int
    targeted: bool
    being_filled: bool
    filling_count: int = 0
    open_count: int = 0


@dataclass(frozen=True)
class StageGap:
    """One stage in a park (or across the zone): its status, the numbers behind it and
    lists of who is there and who is working on it.

    The counts are always exact. The lists are complete unless the selector was asked
    for a sample (``lists_complete`` False): then each holds at most that many items,
    the most recently recorded or changed, in display order.
    """

    park_code: str | None  # None for the zone-wide row
    chain_code: str
    stage_code: str
    stage_id: int
    stage_name: str
    stage_name_en: str
    order: int
    status: GapStatus
    present_count: int
    present: list[EnterpriseRef]
    filling_projects: list[ProjectRef]  # signed or later, targeting this stage in this park (zone: any park)
    open_projects: list[ProjectRef]  # every open project targeting it
    targeted: bool  # in the park's target map (zone row: targeted in any park)
    being_filled: bool  # a filling project exists (filling_count > 0)
    feeds: list[str]  # downstream stage codes
    to_recruit: bool = False  # targeted and not covered: the target map minus the current map
    by_park: list[ParkStageStatus] = field(default_factory=list)  # zone rows only
    filling_count: int = 0  # every filling project, whether or not the list shows it
    open_count: int = 0  # every open project, whether or not the list shows it
    lists_complete: bool = True  # the three lists hold every item their count counts


# --- Park and zone rows --------------------------------------------------------------


def _enterprise_order(fact: PresenceFact) -> tuple[str, UUID]:
    return (fact.enterprise.name, fact.enterprise.id)


def _project_order(fact: ProjectFact) -> tuple[str, UUID]:
    return (fact.project.title, fact.project.id)


def _enterprise_recency(fact: PresenceFact) -> tuple[float, UUID]:
    return (fact.recency, fact.enterprise.id)


def _project_recency(fact: ProjectFact) -> tuple[float, UUID]:
    return (fact.recency, fact.project.id)


def _pick(facts: Collection[Any], *, sample: int | None, recency: Any, order: Any) -> list[Any]:
    """Every fact in display order, or the ``sample`` most recent ones in display order."""
    if sample is not None and len(facts) > sample:
        facts = heapq.nlargest(sample, facts, key=recency)
    return sorted(facts, key=order)


class _Cells:
    """Presences and projects grouped by (park, stage), and by stage across the zone's parks.

    One fact per enterprise (per project) and cell; across parks an enterprise present
    in two parks is one fact, the more recent one.
    """

    def __init__(
        self,
        presences: Iterable[PresenceFact],
        projects: Iterable[ProjectFact],
        *,
        filling_statuses: Collection[str],
        closed_statuses: Collection[str],
        parks: Collection[str] | None = None,
    ) -> None:
        self.present: dict[CellKey, dict[UUID, PresenceFact]] = defaultdict(dict)
        self.filling: dict[CellKey, dict[UUID, ProjectFact]] = defaultdict(dict)
        self.open: dict[CellKey, dict[UUID, ProjectFact]] = defaultdict(dict)
        # Across the parks in ``parks`` (the zone rows); keyed by stage id.
        self.zone_present: dict[int, dict[UUID, PresenceFact]] = defaultdict(dict)
        self.zone_filling: dict[int, dict[UUID, ProjectFact]] = defaultdict(dict)
        self.zone_open: dict[int, dict[UUID, ProjectFact]] = defaultdict(dict)
        in_zone = set(parks) if parks is not None else set()
        for fact in presences:
            self.present[(fact.park_code, fact.stage_id)][fact.enterprise.id] = fact
            if fact.park_code in in_zone:
                known = self.zone_present[fact.stage_id]
                earlier = known.get(fact.enterprise.id)
                if earlier is None or earlier.recency < fact.recency:
                    known[fact.enterprise.id] = fact
        for fact in projects:
            filling = fact.project.status in filling_statuses
            open_ = fact.project.status not in closed_statuses
            key = (fact.park_code, fact.stage_id)
            if filling:
                self.filling[key][fact.project.id] = fact
            if open_:
                self.open[key][fact.project.id] = fact
            if fact.park_code in in_zone:
                if filling:
                    self.zone_filling[fact.stage_id][fact.project.id] = fact
                if open_:
                    self.zone_open[fact.stage_id][fact.project.id] = fact


class _Numbers:
    """The exact numbers of a cell or a zone row: from ``GapCounts`` when given, else the
    lengths of the (then complete) fact lists."""

    def __init__(
        self,
        counts: GapCounts | None,
        cells: _Cells,
        *,
        filling_statuses: Collection[str],
        closed_statuses: Collection[str],
    ) -> None:
        self.counts = counts
        self.cells = cells
        self.filling_statuses = filling_statuses
        self.closed_statuses = closed_statuses

    def present(self, key: CellKey) -> int:
        if self.counts is None:
            return len(self.cells.present.get(key, _EMPTY))
        return self.counts.present.get(key, 0)

    def projects(self, key: CellKey) -> tuple[int, int]:
        """(filling, open) projects of a cell."""
        if self.counts is None:
            return len(self.cells.filling.get(key, _EMPTY)), len(self.cells.open.get(key, _EMPTY))
        by_status = self.counts.projects.get(key, _EMPTY)
        filling = sum(n for status, n in by_status.items() if status in self.filling_statuses)
        open_ = sum(n for status, n in by_status.items() if status not in self.closed_statuses)
        return filling, open_

    def zone_present(self, stage_id: int) -> int:
        if self.counts is None:
            return len(self.cells.zone_present.get(stage_id, _EMPTY))
        return self.counts.zone_present.get(stage_id, 0)


_EMPTY: dict = {}


def _row(
    *,
    park_code: str | None,
    stage: StageFacts,
    present_count: int,
    filling_count: int,
    open_count: int,
    present: Collection[PresenceFact],
    filling: Collection[ProjectFact],
    open_: Collection[ProjectFact],
    sample: int | None,
    targeted: bool,
    by_park: list[ParkStageStatus] | None = None,
) -> StageGap:
    status = gap_status(present_count)
    present_list = [
        f.enterprise for f in _pick(present, sample=sample, recency=_enterprise_recency, order=_enterprise_order)
    ]
    filling_list = [f.project for f in _pick(filling, sample=sample, recency=_project_recency, order=_project_order)]
    open_list = [f.project for f in _pick(open_, sample=sample, recency=_project_recency, order=_project_order)]
    return StageGap(
        park_code=park_code,
        chain_code=stage.chain_code,
        stage_code=stage.code,
        stage_id=stage.id,
        stage_name=stage.name,
        stage_name_en=stage.name_en,
        order=stage.order,
        status=status,
        present_count=present_count,
        present=present_list,
        filling_projects=filling_list,
        open_projects=open_list,
        targeted=targeted,
        being_filled=filling_count > 0,
        feeds=list(stage.feeds),
        to_recruit=targeted and status != GapStatus.COVERED,
        by_park=by_park or [],
        filling_count=filling_count,
        open_count=open_count,
        lists_complete=(len(present_list), len(filling_list), len(open_list))
        == (present_count, filling_count, open_count),
    )


def chain_park_gaps(
    *,
    pairs: Sequence[tuple[str, str]],
    stages: Sequence[StageFacts],
    presences: Iterable[PresenceFact],
    projects: Iterable[ProjectFact],
    filling_statuses: Collection[str],
    closed_statuses: Collection[str],
    counts: GapCounts | None = None,
    sample: int | None = None,
) -> list[StageGap]:
    """Rows for each (park code, chain code) pair: one per stage of the chain, in the
    order of ``pairs`` then of ``stages``. Facts about other parks are ignored.

    ``counts``: exact numbers when the facts are a sample (else the facts are counted).
    ``sample``: keep at most this many items in each list, the most recent.
    """
    cells = _Cells(presences, projects, filling_statuses=filling_statuses, closed_statuses=closed_statuses)
    numbers = _Numbers(counts, cells, filling_statuses=filling_statuses, closed_statuses=closed_statuses)
    by_chain: dict[str, list[StageFacts]] = defaultdict(list)
    for stage in stages:
        by_chain[stage.chain_code].append(stage)
    rows = []
    for park_code, chain_code in pairs:
        for stage in by_chain.get(chain_code, ()):
            key = (park_code, stage.id)
            filling_count, open_count = numbers.projects(key)
            rows.append(
                _row(
                    park_code=park_code,
                    stage=stage,
                    present_count=numbers.present(key),
                    filling_count=filling_count,
                    open_count=open_count,
                    present=cells.present.get(key, _EMPTY).values(),
                    filling=cells.filling.get(key, _EMPTY).values(),
                    open_=cells.open.get(key, _EMPTY).values(),
                    sample=sample,
                    targeted=park_code in stage.target_parks,
                )
            )
    return rows


def park_gaps(
    *,
    park_code: str,
    stages: Sequence[StageFacts],
    presences: Iterable[PresenceFact],
    projects: Iterable[ProjectFact],
    filling_statuses: Collection[str],
    closed_statuses: Collection[str],
    counts: GapCounts | None = None,
    sample: int | None = None,
) -> list[StageGap]:
    """One row per stage for one park, in the order of ``stages``."""
    chains = list(dict.fromkeys(s.chain_code for s in stages))
    return chain_park_gaps(
        pairs=[(park_code, c) for c in chains],
        stages=stages,
        presences=presences,
        projects=projects,
        filling_statuses=filling_statuses,
        closed_statuses=closed_statuses,
        counts=counts,
        sample=sample,
    )


def zone_gaps(
    *,
    park_codes: Sequence[str],
    stages: Sequence[StageFacts],
    presences: Iterable[PresenceFact],
    projects: Iterable[ProjectFact],
    filling_statuses: Collection[str],
    closed_statuses: Collection[str],
    chain_parks: Mapping[str, Collection[str]] | None = None,
    counts: GapCounts | None = None,
    sample: int | None = None,
) -> list[StageGap]:
    """One zone-wide row per stage over the parks ``park_codes`` (the zone's parks).

    Status from the distinct enterprises present in any of the parks (see the module
    docstring). ``by_park`` lists, in the order of ``park_codes``, every park that
    develops the stage's chain (``chain_parks``: chain code → park codes), is
    targeted for the stage, or has a presence or a project there.

    ``counts`` and ``sample`` as for :func:`chain_park_gaps`. A zone sample is drawn
    from the parks' samples: the most recent items of the zone are among the most
    recent of the park they are in, so samples per park of the same size suffice.
    """
    cells = _Cells(
        presences, projects, filling_statuses=filling_statuses, closed_statuses=closed_statuses, parks=park_codes
    )
    numbers = _Numbers(counts, cells, filling_statuses=filling_statuses, closed_statuses=closed_statuses)
    chain_parks = chain_parks or {}
    rows = []
    for stage in stages:
        breakdown = []
        zone_filling = zone_open = 0
        for park in park_codes:
            key = (park, stage.id)
            present_here = numbers.present(key)
            filling_here, open_here = numbers.projects(key)
            zone_filling += filling_here
            zone_open += open_here
            relevant = (
                park in chain_parks.get(stage.chain_code, ())
                or park in stage.target_parks
                or present_here
                or filling_here
                or open_here
            )
            if relevant:
                breakdown.append(
                    ParkStageStatus(
                        park_code=park,
                        status=gap_status(present_here),
                        present_count=present_here,
                        targeted=park in stage.target_parks,
                        being_filled=filling_here > 0,
                        filling_count=filling_here,
                        open_count=open_here,
                    )
                )
        rows.append(
            _row(
                park_code=None,
                stage=stage,
                present_count=numbers.zone_present(stage.id),
                # A project has one target park: the zone's projects are the parks' projects.
                filling_count=zone_filling,
                open_count=zone_open,
                present=cells.zone_present.get(stage.id, _EMPTY).values(),
                filling=cells.zone_filling.get(stage.id, _EMPTY).values(),
                open_=cells.zone_open.get(stage.id, _EMPTY).values(),
                sample=sample,
                targeted=any(p in stage.target_parks for p in park_codes),
                by_park=breakdown,
            )
        )
    return rows


def gaps_with_status(gaps: Iterable[StageGap], status: GapStatus | str | None) -> list[StageGap]:
    """Keep the rows of one status (all rows when ``status`` is None)."""
    if status is None:
        return list(gaps)
    wanted = GapStatus(status)
    return [g for g in gaps if g.status == wanted]


# --- Candidates for a gap ------------------------------------------------------------

# Scoring weights; see candidate_score.
SCORE_SAME_STAGE_IN_ZONE = 3.0
SCORE_SAME_STAGE_OUTSIDE_ZONE = 2.0
SCORE_PER_ADJACENT_STAGE = 1.0
MAX_ADJACENT_STAGES = 2
CAPITAL_FLOOR = Decimal(1_000_000)  # 100万元: below this, capital adds nothing
MAX_CAPITAL_SCORE = 2.0
SCORE_RECENT_INTERACTION = 1.0
SCORE_OLDER_INTERACTION = 0.5
RECENT_DAYS = 90
OLDER_DAYS = 365


class CandidateFacts(NamedTuple):
    """What is known about one enterprise capable of the gap's stage (not present in the park).

    A named tuple: a stage can have thousands of capable enterprises.
    """

    enterprise_id: UUID
    name: str
    credit_code: str | None
    registered_capital: Decimal | None = None
    present_elsewhere: tuple[str, ...] = ()  # parks (not the gap's) where it works the stage
    adjacent_stage_count: int = 0  # stages next to the gap (feeding it or fed by it) it can supply
    last_interaction_at: datetime | None = None  # the asking office's latest contact with it
    courted_by_other_office: bool = False  # another office has an open project with it
    courted_by_own_office: bool = False  # the asking office already has an open project with it


@dataclass(frozen=True)
class Candidate:
    enterprise_id: UUID
    name: str
    credit_code: str | None
    score: float
    reasons: list[str]
    courted_by_other_office: bool
    present_elsewhere: list[str]  # park codes
    courted_by_own_office: bool = False


def _yi(amount: Decimal) -> str:
    """CNY in 亿元 (10⁸) or 万元 (10⁴), as Chinese readers expect."""
    if amount >= 100_000_000:
        return _("%(n)s 亿元") % {"n": f"{amount / 100_000_000:.2f}".rstrip("0").rstrip(".")}
    return _("%(n)s 万元") % {"n": f"{amount / 10_000:.0f}"}


def _points(facts: CandidateFacts, *, now: datetime, zone_park_codes: Collection[str]) -> float:
    """The score alone (see :func:`candidate_score`): cheap enough to run on every candidate."""
    score = 0.0
    if facts.present_elsewhere:
        in_zone = any(p in zone_park_codes for p in facts.present_elsewhere)
        score += SCORE_SAME_STAGE_IN_ZONE if in_zone else SCORE_SAME_STAGE_OUTSIDE_ZONE
    score += min(facts.adjacent_stage_count, MAX_ADJACENT_STAGES) * SCORE_PER_ADJACENT_STAGE
    capital = facts.registered_capital
    if capital is not None and capital > CAPITAL_FLOOR:
        score += min(MAX_CAPITAL_SCORE, math.log10(float(capital) / float(CAPITAL_FLOOR)) / 2)
    if facts.last_interaction_at is not None:
        days = (now - facts.last_interaction_at).days
        if days <= RECENT_DAYS:
            score += SCORE_RECENT_INTERACTION
        elif days <= OLDER_DAYS:
            score += SCORE_OLDER_INTERACTION
    return round(score, 3)


def _reasons(facts: CandidateFacts, *, now: datetime, zone_park_codes: Collection[str]) -> list[str]:
    """Why a candidate scores what it does, best signal first, then the courting flags."""
    reasons: list[str] = []
    in_zone = [p for p in facts.present_elsewhere if p in zone_park_codes]
    if in_zone:
        reasons.append(_("Already works this stage in the zone (%(parks)s).") % {"parks": ", ".join(in_zone)})
    elif facts.present_elsewhere:
        reasons.append(
            _("Already works this stage elsewhere (%(parks)s).") % {"parks": ", ".join(facts.present_elsewhere)}
        )
    if facts.adjacent_stage_count:
        reasons.append(_("Can also supply %(n)d adjacent stage(s) of the chain.") % {"n": facts.adjacent_stage_count})
    capital = facts.registered_capital
    if capital is not None and capital > CAPITAL_FLOOR:
        reasons.append(_("Registered capital %(amount)s.") % {"amount": _yi(capital)})
    if facts.last_interaction_at is not None:
        days = (now - facts.last_interaction_at).days
        if days <= RECENT_DAYS:
            reasons.append(_("In contact within the last %(n)d days.") % {"n": RECENT_DAYS})
        elif days <= OLDER_DAYS:
            reasons.append(_("In contact within the last year."))
    if facts.courted_by_own_office:
        reasons.append(_("Your office already has an open project with it."))
    if facts.courted_by_other_office:
        reasons.append(_("Another office already has an open project with it: coordinate before approaching."))
    return reasons


def candidate_score(
    facts: CandidateFacts, *, now: datetime, zone_park_codes: Collection[str]
) -> tuple[float, list[str]]:
    """The score of a candidate (0 to 8) and the reasons behind it, best signal first.

    * +3 if it already works the gap's stage in another park of the same zone (a
      proven producer next door: the cheapest to bring over), else +2 if it works
      the stage in a park outside the zone;
    * +1 per adjacent stage (one feeding the gap or fed by it) it can also supply,
      at most 2: it fits the chain, not just the stage;
    * up to +2 for registered capital: ``log10(capital / 1,000,000) / 2``, so
      1亿元 gives 1 and 100亿元 or more gives 2 (capacity to invest);
    * +1 if the asking office was in contact within 90 days, +0.5 within a year
      (a warm relationship).

    Being courted by another office does not change the score: it is shown as a
    flag so staff coordinate instead of competing (避免内部竞争), and the ranking
    stays the same for every office.
    """
    return (
        _points(facts, now=now, zone_park_codes=zone_park_codes),
        _reasons(facts, now=now, zone_park_codes=zone_park_codes),
    )


def rank_candidates(
    candidates: Iterable[CandidateFacts],
    *,
    now: datetime,
    zone_park_codes: Collection[str],
    limit: int | None = None,
) -> list[Candidate]:
    """Candidates best first: by score, then name, then id (a stable order for paging).

    Every candidate is scored; only the ones returned get their reasons written.
    """
    scored = sorted(
        ((_points(f, now=now, zone_park_codes=zone_park_codes), f) for f in candidates),
        key=lambda pair: (-pair[0], pair[1].name, pair[1].enterprise_id),
    )
    if limit is not None:
        scored = scored[:limit]
    return [
        Candidate(
            enterprise_id=facts.enterprise_id,
            name=facts.name,
            credit_code=facts.credit_code,
            score=score,
            reasons=_reasons(facts, now=now, zone_park_codes=zone_park_codes),
            courted_by_other_office=facts.courted_by_other_office,
            present_elsewhere=list(facts.present_elsewhere),
            courted_by_own_office=facts.courted_by_own_office,
        )
        for score, facts in scored
    ]
