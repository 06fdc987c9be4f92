"""Gap-analysis selectors: load plain facts in a fixed number of queries, then let the
pure functions of ``chains.gap_analysis`` decide.

Shared by the admin gap map, the dashboard and the API. Every selector runs the same
number of queries whatever the number of enterprises, presences and projects (no
per-row query).

What a selector loads depends on ``sample``:

* ``sample=None`` (the default): every present enterprise and every listed project
  of every row, counted in Python. Complete lists; the cost grows with the data.
* ``sample=0``: only the numbers, counted by the database in one aggregate query
  (index-only scans on presences, one hash join of projects with their stages);
  the lists are empty. What a map or a summary needs: a zone of 100,000 enterprises
  answers in one small result.
* ``sample=N``: the numbers, plus the N most recently recorded enterprises and the N
  most recently changed projects of each row.

A click on one stage asks :func:`gap_stage_panel` for what its panel shows: every
present enterprise and the first projects of each list the viewer may read, with their
numbers. :func:`gap_stage_detail` gives the same stage with its complete lists.

Gap analysis is readable by every authenticated user. The rows name projects of
every office; ``ProjectRef.office_id`` is there so a caller can hide the titles of
other offices' projects from park and partner staff — that is the caller's job.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import (
    Case,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from chains.gap_analysis import (
    CAPITAL_FLOOR,
    MAX_ADJACENT_STAGES,
    MAX_CAPITAL_SCORE,
    OLDER_DAYS,
    RECENT_DAYS,
    SCORE_OLDER_INTERACTION,
    SCORE_PER_ADJACENT_STAGE,
    SCORE_RECENT_INTERACTION,
    SCORE_SAME_STAGE_IN_ZONE,
    SCORE_SAME_STAGE_OUTSIDE_ZONE,
    Candidate,
    CandidateFacts,
    EnterpriseRef,
    GapCounts,
    GapStatus,
    ParkStageStatus,
    PresenceFact,
    ProjectFact,
    ProjectRef,
    StageFacts,
    StageGap,
    chain_park_gaps,
    gaps_with_status,
    rank_candidates,
    zone_gaps,
)
from chains.models import Chain, ChainPark, Park, Stage, StageEdge, Zone
from chains.selectors import chain_by_code, park_by_code, stage_facts, stage_neighbour_ids
from crm.models import Enterprise, Interaction, Office, Presence
from crm.search import clean_term, enterprise_search_q
from recruitment.models import PipelineTally, Project
from recruitment.pipeline import CLOSED, SIGNED_OR_LATER, Status

__all__ = [
    "Candidate",
    "EnterpriseRef",
    "GapStatus",
    "ParkStageStatus",
    "ProjectRef",
    "ProjectsHead",
    "StageGap",
    "StagePanel",
    "ZoneParks",
    "gap_candidates",
    "gap_map_rows",
    "gap_stage_detail",
    "gap_stage_panel",
    "gap_status_or_error",
    "gaps_for_park",
    "gaps_for_zone",
    "gaps_list",
    "zone_parks",
]

# Projects that appear in a gap row: filling ones (signed or later, at_capacity
# included) and open ones. Only ``lost`` projects never do.
_LISTED_STATUSES = sorted(SIGNED_OR_LATER | (set(Status.values) - CLOSED))


def gap_status_or_error(status: GapStatus | str | None, *, field: str = "status") -> GapStatus | None:
    """``status`` as a GapStatus (None stays None); anything else is a ValidationError on ``field``."""
    if status is None or status == "":
        return None
    try:
        return GapStatus(status)
    except ValueError:
        raise ValidationError(
            {
                field: _("Unknown gap status “%(status)s”; use one of: %(allowed)s.")
                % {"status": status, "allowed": ", ".join(s.value for s in GapStatus)}
            },
            code="invalid_choice",
        ) from None


def _sample_or_error(sample: int | None) -> int | None:
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < 0):
        raise ValueError(f"sample must be None or a non-negative int, not {sample!r}")
    return sample


# --- Loading facts and numbers ---------------------------------------------------------
#
# Parks are passed by id (the caller has read them already) and named by code in the
# facts, so no query joins the park table.


def _placeholders(values: Collection[object]) -> str:
    return ", ".join(["%s"] * len(values))


def _not_merged(alias: str) -> str:
    """SQL: the presence ``alias`` is not of a merged enterprise. Merged enterprises are few:
    an anti-join on them keeps presences on their own index, without reading 100,000
    enterprise rows to check a column that is almost always empty."""
    enterprise = connection.ops.quote_name(Enterprise._meta.db_table)
    return (
        f"NOT EXISTS (SELECT 1 FROM {enterprise} m WHERE m.id = {alias}.enterprise_id AND m.merged_into_id IS NOT NULL)"
    )


def _merged_enterprise() -> Exists:
    return Exists(Enterprise.objects.filter(pk=OuterRef("enterprise_id"), merged_into__isnull=False))


def _counts(*, parks: Mapping[int, str], stage_ids: Sequence[int], zone_distinct: bool) -> GapCounts:
    """Every number of the analysis in one query (three aggregates in a UNION ALL):
    enterprises per park and stage, projects per park, stage and status, and — for zone
    rows — distinct enterprises per stage across ``parks``. Grouped on indexed
    columns (``presence_cell_idx``, ``presence_stage_enterprise_idx``), so the
    presences are read from their indexes alone; the projects come from the pipeline
    tally (``recruitment.tally``)."""
    presence = connection.ops.quote_name(Presence._meta.db_table)
    park_ids, stage_ids = sorted(parks), list(stage_ids)
    in_parks, in_stages, in_statuses = (
        _placeholders(park_ids),
        _placeholders(stage_ids),
        _placeholders(_LISTED_STATUSES),
    )
    scope = f"pr.park_id IN ({in_parks}) AND pr.stage_id IN ({in_stages}) AND {_not_merged('pr')}"
    # Projects per park, stage and status as the pipeline tally keeps them (its "t" rows): a
    # few rows per cell instead of joining every stage link to its project.
    table = connection.ops.quote_name(PipelineTally._meta.db_table)
    projects_sql = (
        f"SELECT 'j', g.park_id, g.ref_id, g.status, SUM(g.n) FROM {table} g "
        f"WHERE g.scope = '' AND g.kind = '{PipelineTally.Kind.STAGE}' AND g.park_id IN ({in_parks}) "
        f"AND g.ref_id IN ({in_stages}) AND g.status IN ({in_statuses}) "
        "GROUP BY g.park_id, g.ref_id, g.status HAVING SUM(g.n) <> 0"
    )
    parts = [
        f"SELECT 'p', pr.park_id, pr.stage_id, NULL, COUNT(*) FROM {presence} pr WHERE {scope} "
        "GROUP BY pr.park_id, pr.stage_id",
        projects_sql,
    ]
    params: list[object] = [*park_ids, *stage_ids, *park_ids, *stage_ids, *_LISTED_STATUSES]
    if zone_distinct:
        parts.append(
            "SELECT 'z', NULL, d.stage_id, NULL, COUNT(*) FROM "
            f"(SELECT DISTINCT pr.stage_id, pr.enterprise_id FROM {presence} pr WHERE {scope}) d "
            "GROUP BY d.stage_id"
        )
        params += [*park_ids, *stage_ids]
    present: dict[tuple[str, int], int] = {}
    projects: dict[tuple[str, int], dict[str, int]] = {}
    zone_present: dict[int, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for kind, park_id, stage_id, status, n in cursor.fetchall():
            if kind == "p":
                present[(parks[park_id], stage_id)] = n
            elif kind == "j":
                projects.setdefault((parks[park_id], stage_id), {})[status] = int(n)
            else:
                zone_present[stage_id] = n
    return GapCounts(present=present, projects=projects, zone_present=zone_present)


def _presences(*, parks: Mapping[int, str], stage_ids: Sequence[int], sample: int | None) -> list[PresenceFact]:
    """Presences at ``stage_ids`` in ``parks``, merged enterprises left out: all of them,
    or the ``sample`` most recently recorded per park and stage.

    One EnterpriseRef per enterprise however many presences it has.
    """
    if sample == 0 or not parks or not stage_ids:
        return []
    if sample is None:
        rows = (
            Presence.objects.filter(
                park_id__in=sorted(parks), stage_id__in=stage_ids, enterprise__merged_into__isnull=True
            )
            .values_list("park_id", "stage_id", "id", "enterprise_id", "enterprise__name")
            .order_by()
        )
    elif connection.vendor == "postgresql":
        rows = _presence_sample_lateral(parks=parks, stage_ids=stage_ids, sample=sample)
    else:
        rows = (
            Presence.objects.filter(park_id__in=sorted(parks), stage_id__in=stage_ids)
            .exclude(_merged_enterprise())
            .annotate(rank=Window(RowNumber(), partition_by=[F("park_id"), F("stage_id")], order_by=F("id").desc()))
            .filter(rank__lte=sample)
            .values_list("park_id", "stage_id", "id", "enterprise_id", "enterprise__name")
            .order_by()
        )
    refs: dict[UUID, EnterpriseRef] = {}
    facts = []
    for park_id, stage_id, presence_id, enterprise_id, name in rows:
        ref = refs.get(enterprise_id)
        if ref is None:
            ref = refs[enterprise_id] = EnterpriseRef(id=enterprise_id, name=name)
        facts.append(PresenceFact(parks[park_id], stage_id, ref, presence_id))
    return facts


def _presence_sample_lateral(
    *, parks: Mapping[int, str], stage_ids: Sequence[int], sample: int
) -> list[tuple[int, int, int, UUID, str]]:
    """PostgreSQL: for each park and stage, the last ``sample`` presences read backwards
    from ``presence_cell_idx`` (a LATERAL subquery with a LIMIT), then their names:
    a few rows per cell are read, whatever the number of presences."""
    presence = connection.ops.quote_name(Presence._meta.db_table)
    enterprise = connection.ops.quote_name(Enterprise._meta.db_table)
    park_ids, stage_ids = sorted(parks), list(stage_ids)
    sql = (
        "SELECT c_park.park_id, c_stage.stage_id, s.id, s.enterprise_id, e.name "
        "FROM unnest(%s::bigint[]) AS c_park(park_id) CROSS JOIN unnest(%s::bigint[]) AS c_stage(stage_id) "
        "CROSS JOIN LATERAL ("
        f"SELECT pr.id, pr.enterprise_id FROM {presence} pr "
        f"WHERE pr.park_id = c_park.park_id AND pr.stage_id = c_stage.stage_id AND {_not_merged('pr')} "
        "ORDER BY pr.id DESC LIMIT %s) s "
        f"JOIN {enterprise} e ON e.id = s.enterprise_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [park_ids, stage_ids, sample])
        return cursor.fetchall()


def _projects(*, parks: Mapping[int, str], stage_ids: Sequence[int], sample: int | None) -> list[ProjectFact]:
    """One fact per (project, target stage) for projects whose target park is in ``parks``:
    all of them, or per park and stage the ``sample`` most recently changed filling
    projects and open ones.

    The sample ranks projects within three groups — open and not yet filling, open
    and filling, filling and closed — so the most recent of "filling" (the last two)
    and of "open" (the first two) are both among the kept rows.
    """
    if sample == 0 or not parks or not stage_ids:
        return []
    through = Project.stages.through
    rows = through.objects.filter(
        project__park_id__in=sorted(parks), stage_id__in=stage_ids, project__status__in=_LISTED_STATUSES
    )
    if sample is not None:
        group = Case(
            When(project__status__in=sorted(SIGNED_OR_LATER - CLOSED), then=Value(1)),
            When(project__status__in=sorted(SIGNED_OR_LATER & CLOSED), then=Value(2)),
            default=Value(0),
            output_field=IntegerField(),
        )
        rows = rows.annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("project__park_id"), F("stage_id"), group],
                order_by=[F("project__updated_at").desc(), F("project_id").desc()],
            )
        ).filter(rank__lte=sample)
    # A complete list needs no recency: reading 10,000 timestamps costs more than the query.
    fields = ["project__park_id", "stage_id", "project_id", "project__title", "project__status", "project__office_id"]
    refs: dict[UUID, ProjectRef] = {}
    facts = []
    for park_id, stage_id, project_id, title, status, office_id, *updated_at in rows.values_list(
        *fields, *(["project__updated_at"] if sample is not None else [])
    ).order_by():
        ref = refs.get(project_id)
        if ref is None:
            ref = refs[project_id] = ProjectRef(id=project_id, title=title, status=status, office_id=office_id)
        facts.append(ProjectFact(parks[park_id], stage_id, ref, updated_at[0].timestamp() if updated_at else 0))
    return facts


class _Loaded:
    """Facts and numbers for the parks ``parks`` and the stages ``stage_ids``."""

    def __init__(
        self, *, parks: Mapping[int, str], stage_ids: Sequence[int], sample: int | None, zone_distinct: bool = False
    ) -> None:
        self.sample = sample
        self.counts: GapCounts | None = None  # complete facts: the pure layer counts them
        if sample is not None:
            self.counts = (
                _counts(parks=parks, stage_ids=stage_ids, zone_distinct=zone_distinct)
                if parks and stage_ids
                else GapCounts()
            )
        self.presences = _presences(parks=parks, stage_ids=stage_ids, sample=sample)
        self.projects = _projects(parks=parks, stage_ids=stage_ids, sample=sample)

    def park_rows(self, *, pairs: Sequence[tuple[str, str]], stages: Sequence[StageFacts]) -> list[StageGap]:
        return chain_park_gaps(
            pairs=pairs,
            stages=stages,
            presences=self.presences,
            projects=self.projects,
            filling_statuses=SIGNED_OR_LATER,
            closed_statuses=CLOSED,
            counts=self.counts,
            sample=self.sample,
        )

    def zone_rows(
        self, *, park_codes: Sequence[str], stages: Sequence[StageFacts], chain_parks: Mapping[str, Collection[str]]
    ) -> list[StageGap]:
        return zone_gaps(
            park_codes=park_codes,
            stages=stages,
            presences=self.presences,
            projects=self.projects,
            filling_statuses=SIGNED_OR_LATER,
            closed_statuses=CLOSED,
            chain_parks=chain_parks,
            counts=self.counts,
            sample=self.sample,
        )


# --- Selectors ----------------------------------------------------------------------------


def gaps_for_park(
    *, park: Park, chain: Chain | None = None, status: GapStatus | str | None = None, sample: int | None = None
) -> list[StageGap]:
    """Stage rows of ``chain`` in ``park`` — or of every chain the park develops (ChainPark).

    Queries whatever the data size: stages with their edges and target map (their
    chains in a subquery), then 2 (complete lists), 1 (``sample=0``) or 3 (a sample).
    """
    wanted = gap_status_or_error(status)
    sample = _sample_or_error(sample)
    chains: QuerySet[Chain] = (
        Chain.objects.filter(pk=chain.pk) if chain is not None else Chain.objects.filter(chain_parks__park=park)
    )
    stages = stage_facts(stages=Stage.objects.filter(chain__in=chains))
    chain_codes = list(dict.fromkeys(s.chain_code for s in stages))
    if chain is not None and chain.code not in chain_codes:
        chain_codes.append(chain.code)
    loaded = _Loaded(parks={park.pk: park.code}, stage_ids=[s.id for s in stages], sample=sample)
    rows = loaded.park_rows(pairs=[(park.code, c) for c in chain_codes], stages=stages)
    return gaps_with_status(rows, wanted)


def _zone_chains(zone: Zone) -> QuerySet[Chain]:
    """Chains of the zone: assigned to it, or developed by one of its parks."""
    return Chain.objects.filter(Q(zone=zone) | Q(chain_parks__park__zone=zone))


@dataclass(frozen=True)
class ZoneParks:
    """A zone's parks and who develops what, as :func:`zone_parks` reads them."""

    parks: list[Park]  # in code order
    chain_parks: dict[str, set[str]]  # chain code → codes of the zone's parks developing it


def zone_parks(*, zone: Zone) -> ZoneParks:
    """The zone's parks (whole rows, in code order) and the parks developing each chain, in one
    query: what a page showing the parks and a map of them (:func:`gap_map_rows`) both need."""
    parks: dict[int, Park] = {}
    chain_parks: dict[str, set[str]] = {}
    # One row per park and chain it develops (a park developing none: one row, no chain).
    for park in Park.objects.filter(zone=zone).annotate(developed=F("chain_parks__chain__code")).order_by("code", "id"):
        parks.setdefault(park.pk, park)
        if park.developed is not None:
            chain_parks.setdefault(park.developed, set()).add(park.code)
    return ZoneParks(parks=list(parks.values()), chain_parks=chain_parks)


def _zone_parks(zone: Zone) -> tuple[dict[int, str], dict[str, set[str]]]:
    """The zone's parks (id → code, in code order) and the parks developing each chain, in one query."""
    read = zone_parks(zone=zone)
    return {p.pk: p.code for p in read.parks}, read.chain_parks


def gaps_for_zone(
    *, zone: Zone, chain: Chain | None = None, status: GapStatus | str | None = None, sample: int | None = None
) -> list[StageGap]:
    """Zone-wide stage rows (``park_code`` None) with the per-park breakdown in ``by_park``.

    A stage's zone status counts the distinct enterprises present at it in any park
    of the zone (see ``chains.gap_analysis``). Queries whatever the data size: parks
    with their chains, stages with edges and target map, then 2 (complete lists),
    1 (``sample=0``: what a map needs) or 3 (a sample).
    """
    wanted = gap_status_or_error(status)
    sample = _sample_or_error(sample)
    chains = Chain.objects.filter(pk=chain.pk) if chain is not None else _zone_chains(zone)
    parks, chain_parks = _zone_parks(zone)
    stages = stage_facts(stages=Stage.objects.filter(chain__in=chains))
    loaded = _Loaded(parks=parks, stage_ids=[s.id for s in stages], sample=sample, zone_distinct=True)
    rows = loaded.zone_rows(park_codes=list(parks.values()), stages=stages, chain_parks=chain_parks)
    return gaps_with_status(rows, wanted)


def gaps_list(
    *,
    park_code: str | None = None,
    chain_code: str | None = None,
    status: GapStatus | str | None = None,
    sample: int | None = None,
) -> list[StageGap]:
    """Park × chain × stage rows for the chains each park develops (ChainPark), ordered
    by park code, chain code and stage order; filtered by park, chain and status codes.

    An unknown code is a ValidationError naming the field (``park``, ``chain``,
    ``status``), so the API can answer 400 with it.
    """
    wanted = gap_status_or_error(status)
    sample = _sample_or_error(sample)
    pairs_qs = ChainPark.objects.all()
    if park_code:
        pairs_qs = pairs_qs.filter(park=park_by_code(park_code, field="park"))
    if chain_code:
        pairs_qs = pairs_qs.filter(chain=chain_by_code(chain_code, field="chain"))
    found = list(pairs_qs.order_by("park__code", "chain__code").values_list("park_id", "park__code", "chain__code"))
    parks = {park_id: code for park_id, code, _c in found}
    stages = stage_facts(stages=Stage.objects.filter(chain__code__in=sorted({c for _i, _p, c in found})))
    loaded = _Loaded(parks=parks, stage_ids=[s.id for s in stages], sample=sample)
    rows = loaded.park_rows(pairs=[(p, c) for _i, p, c in found], stages=stages)
    return gaps_with_status(rows, wanted)


def gap_map_rows(
    *, zone: Zone, chain: Chain, park: Park | None = None, parks_read: ZoneParks | None = None
) -> tuple[list[StageGap], list[StageGap]]:
    """What a chain's map draws, counts only (``sample=0``): the zone-wide rows, and the rows
    of ``park`` (one of the zone's parks; the zone rows again without one).

    The same rows as :func:`gaps_for_zone` and :func:`gaps_for_park` with ``sample=0``, in
    three queries: the park's numbers are among the zone's, counted once. A caller that has
    read the zone's parks already (``parks_read``, :func:`zone_parks` of ``zone``) saves one.
    """
    read = parks_read if parks_read is not None else zone_parks(zone=zone)
    parks, chain_parks = {p.pk: p.code for p in read.parks}, read.chain_parks
    if park is not None and park.pk not in parks:
        raise ValueError(f"park {park.code} is not in zone {zone.code}")
    stages = stage_facts(stages=Stage.objects.filter(chain=chain))
    loaded = _Loaded(parks=parks, stage_ids=[s.id for s in stages], sample=0, zone_distinct=True)
    zone_rows = loaded.zone_rows(park_codes=list(parks.values()), stages=stages, chain_parks=chain_parks)
    if park is None:
        return zone_rows, zone_rows
    return zone_rows, loaded.park_rows(pairs=[(park.code, chain.code)], stages=stages)


@dataclass(frozen=True)
class ProjectsHead:
    """The first projects of a stage's list that a viewer may read, and how many there are."""

    projects: list[ProjectRef]  # at most the ``limit`` asked for, in display order (title, id)
    shown: int  # every project of the list the viewer may read
    hidden: int  # projects of other offices: counted, not named


@dataclass(frozen=True)
class StagePanel:
    """What a click on a stage shows of its gap row (see :func:`gap_stage_panel`)."""

    row: StageGap  # the map's row, with its complete list of enterprises present
    filling: ProjectsHead
    open: ProjectsHead
    # The stages feeding the stage or fed by it, as ``stage_neighbour_ids`` reads them (what
    # :func:`gap_candidates` scores on): None when the panel read nothing (no park).
    neighbour_ids: frozenset[int] | None = None


def gap_stage_panel(
    *, row: StageGap, park_ids: Sequence[int], office_id: int | None, sees_everything: bool, limit: int
) -> StagePanel:
    """The panel of ``row`` (a row of :func:`gap_map_rows` for a park, or a zone row over
    ``park_ids``): every enterprise present, and of each project list the first ``limit``
    the viewer may read with the numbers read and hidden, and the stage's neighbours. One
    query whatever the number of projects.

    Park and partner staff (``sees_everything`` False) read the titles of their own
    office's projects (``office_id``) and only a count of the others', as
    :func:`recruitment.gap_map.split_by_office` splits them; the order is the complete
    list's (title by code point, then id).
    """
    park_ids = sorted(park_ids)
    along = _ReadAlong()
    if sees_everything and park_ids and connection.vendor == "postgresql":
        # Every project is readable: the numbers are the row's, and the heads are walked
        # down the park's projects in title order (``project_park_title_idx``).
        firsts = _project_firsts(stage_id=row.stage_id, park_ids=park_ids, limit=limit, along=along)
        heads = {
            "f": ProjectsHead(projects=firsts["f"], shown=row.filling_count, hidden=0),
            "o": ProjectsHead(projects=firsts["o"], shown=row.open_count, hidden=0),
        }
    else:
        heads = _project_heads(
            stage_id=row.stage_id,
            park_ids=park_ids,
            office_id=office_id,
            sees_everything=sees_everything,
            limit=limit,
            along=along,
        )
    return StagePanel(
        row=replace(row, present=sorted(along.present.values(), key=lambda e: (e.name, e.id))),
        filling=heads["f"],
        open=heads["o"],
        neighbour_ids=frozenset(along.neighbour_ids) if along.ran else None,
    )


def _along_sql(*, parks: str, blanks: int) -> str:
    """SQL of what the panel reads in the same statement as its projects (a round trip fewer
    each), as rows of (kind, id, name, NULL, value) then ``blanks`` - 2 NULLs:

    * "p": the enterprises present at the stage ``%(stage)s`` in the parks ``parks``
      (placeholders), merged ones left out; one row per presence (an enterprise present
      in two parks comes twice);
    * "x": the stages feeding the stage or fed by it (their id the value), one row per edge.
    """
    presence, enterprise, edge = (
        connection.ops.quote_name(m._meta.db_table) for m in (Presence, Enterprise, StageEdge)
    )
    return (
        "SELECT 'p', pr.enterprise_id, e.name" + ", NULL" * blanks + f" FROM {presence} pr "
        f"JOIN {enterprise} e ON e.id = pr.enterprise_id "
        f"WHERE pr.stage_id = %(stage)s AND pr.park_id IN ({parks}) AND e.merged_into_id IS NULL "
        "UNION ALL SELECT 'x', NULL, NULL, NULL, "
        "CASE WHEN se.upstream_id = %(stage)s THEN se.downstream_id ELSE se.upstream_id END"
        + ", NULL" * (blanks - 2)
        + f" FROM {edge} se WHERE se.upstream_id = %(stage)s OR se.downstream_id = %(stage)s"
    )


@dataclass
class _ReadAlong:
    """What :func:`_along_sql` reads, gathered from its rows."""

    present: dict[UUID, EnterpriseRef] = field(default_factory=dict)
    neighbour_ids: set[int] = field(default_factory=set)
    ran: bool = False  # whether the statement ran (a panel of no park reads nothing)

    def take(self, kind: str, pk: Any, name: Any, value: Any) -> bool:
        """Keep a row of ours ("p" or "x"); False for any other (a project's)."""
        if kind == "p":
            enterprise_id = _as_uuid(pk)
            if enterprise_id not in self.present:
                self.present[enterprise_id] = EnterpriseRef(id=enterprise_id, name=name)
            return True
        if kind == "x":
            self.neighbour_ids.add(value)
            return True
        return False


def _as_uuid(value: Any) -> UUID:
    # SQLite returns a UUID as text to a raw cursor; PostgreSQL as a UUID.
    return value if isinstance(value, UUID) else UUID(value)


def _project_firsts(
    *, stage_id: int, park_ids: Sequence[int], limit: int, along: _ReadAlong
) -> dict[str, list[ProjectRef]]:
    """PostgreSQL: the first ``limit`` filling ("f") and open ("o") projects targeting a stage
    in ``park_ids``, in (title by code point, id) order, in one statement, with what the panel
    reads along (``along``: the enterprises present at the stage there, its neighbours).

    Each park's projects are read in that order from ``project_park_title_idx`` and each
    one's link to the stage checked by its key, until ``limit`` are found: a few hundred
    rows for a park of 20,000 projects, not every link of the stage joined to every project
    of the park. Several parks' heads are merged and cut again."""
    q = connection.ops.quote_name
    project, project_stages = q(Project._meta.db_table), q(Project.stages.through._meta.db_table)
    params: dict[str, object] = {"stage": stage_id, "limit": limit}

    def listed(name: str, values: Sequence[object]) -> str:
        params.update({f"{name}{i}": v for i, v in enumerate(values)})
        return ", ".join(f"%({name}{i})s" for i in range(len(values)))

    where = {
        "f": f"p.status IN ({listed('filling', sorted(SIGNED_OR_LATER))})",
        "o": f"p.status NOT IN ({listed('closed', sorted(CLOSED))})",
    }
    first = 'ORDER BY {0}title COLLATE "C", {0}id LIMIT %(limit)s'
    linked = f"EXISTS (SELECT 1 FROM {project_stages} ps WHERE ps.project_id = p.id AND ps.stage_id = %(stage)s)"
    parks = []
    for i, park_id in enumerate(sorted(park_ids)):
        params[f"park{i}"] = park_id
        parks.append(f"%(park{i})s")

    def head(kind: str) -> str:
        per_park = [
            f"SELECT p.id, p.title, p.status, p.office_id FROM {project} p "
            f"WHERE p.park_id = {park} AND {where[kind]} AND {linked} {first.format('p.')}"
            for park in parks
        ]
        merged = " UNION ALL ".join(f"({sql})" for sql in per_park)
        found = per_park[0] if len(per_park) == 1 else f"SELECT * FROM ({merged}) m {first.format('')}"
        return f"SELECT '{kind}', h.* FROM ({found}) h"

    lists: dict[str, list[ProjectRef]] = {"f": [], "o": []}
    with connection.cursor() as cursor:
        cursor.execute(
            f"{head('f')} UNION ALL {head('o')} UNION ALL {_along_sql(parks=', '.join(parks), blanks=2)}", params
        )
        along.ran = True
        for kind, pk, title, status, office in cursor.fetchall():
            if not along.take(kind, pk, title, office):
                lists[kind].append(ProjectRef(id=pk, title=title, status=status, office_id=office))
    return lists


def _project_heads(
    *,
    stage_id: int,
    park_ids: Sequence[int],
    office_id: int | None,
    sees_everything: bool,
    limit: int,
    along: _ReadAlong,
) -> dict[str, ProjectsHead]:
    """The heads of the filling ("f") and open ("o") lists of a stage in ``park_ids``, in one
    statement: the projects targeting the stage, counted by status and visibility, and the
    first ``limit`` visible ones of each list in (title by code point, id) order; and what the
    panel reads along (``along``: the enterprises present at the stage there, its neighbours)."""
    if not park_ids:
        return {kind: ProjectsHead(projects=[], shown=0, hidden=0) for kind in ("f", "o")}
    q = connection.ops.quote_name
    project, project_stages = q(Project._meta.db_table), q(Project.stages.through._meta.db_table)
    postgres = connection.vendor == "postgresql"
    params: dict[str, object] = {"stage": stage_id, "office": office_id, "limit": limit}

    def listed(name: str, values: Sequence[object]) -> str:
        params.update({f"{name}{i}": v for i, v in enumerate(values)})
        return ", ".join(f"%({name}{i})s" for i in range(len(values)))

    filling, closed = sorted(SIGNED_OR_LATER), sorted(CLOSED)
    if sees_everything:
        visible = "1"
    elif office_id is None:
        visible = "0"
    else:
        visible = "CASE WHEN l.office_id = %(office)s THEN 1 ELSE 0 END"
    by_code_point = ' COLLATE "C"' if postgres else ""  # SQLite compares text by code point already
    # PostgreSQL reads the park's listed projects from their covering index and hashes the
    # stage's links; SQLite's index holds no title, so the unary "+" has it start from the
    # stage's links (a few thousand) and read their projects by key, not the park's.
    unindexed = "" if postgres else "+"
    in_filling, not_closed = listed("filling", filling), listed("closed", closed)
    in_parks = listed("park", park_ids)

    def head(kind: str, where: str) -> str:
        return (
            f"SELECT * FROM (SELECT '{kind}' AS kind, l.id, l.title, l.status, l.office_id, 1 AS visible, 0 AS n "
            f"FROM linked l WHERE {where} AND {visible} = 1 ORDER BY l.title{by_code_point}, l.id LIMIT %(limit)s) {kind}"
        )

    sql = (
        "WITH linked AS ("
        f"SELECT p.id, p.title, p.status, p.office_id FROM {project_stages} ps "
        f"JOIN {project} p ON p.id = ps.project_id "
        f"WHERE ps.stage_id = %(stage)s AND {unindexed}p.park_id IN ({in_parks}) "
        f"AND {unindexed}p.status IN ({listed('status', _LISTED_STATUSES)})) "
        f"SELECT 'n', NULL, NULL, l.status, NULL, {visible}, COUNT(*) FROM linked l "
        f"GROUP BY l.status{'' if visible in ('0', '1') else f', {visible}'} "
        f"UNION ALL {head('f', f'l.status IN ({in_filling})')} "
        f"UNION ALL {head('o', f'l.status NOT IN ({not_closed})')} "
        f"UNION ALL {_along_sql(parks=in_parks, blanks=4)}"
    )
    lists: dict[str, list[ProjectRef]] = {"f": [], "o": []}
    shown = {"f": 0, "o": 0}
    hidden = {"f": 0, "o": 0}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        along.ran = True
        for kind, pk, title, status, office, is_visible, n in cursor.fetchall():
            if along.take(kind, pk, title, office):
                continue
            if kind == "n":
                counted = shown if is_visible else hidden
                if status in SIGNED_OR_LATER:
                    counted["f"] += n
                if status not in CLOSED:
                    counted["o"] += n
            else:
                lists[kind].append(ProjectRef(id=_as_uuid(pk), title=title, status=status, office_id=office))
    return {kind: ProjectsHead(projects=lists[kind], shown=shown[kind], hidden=hidden[kind]) for kind in lists}


def gap_stage_detail(*, park_or_zone: Park | Zone, stage: Stage) -> StageGap:
    """One stage in a park or across a zone with its complete lists: what a click on a
    stage of the map shows. Three queries for a park, four for a zone (with the
    per-park breakdown), reading only that stage's presences and projects."""
    if isinstance(park_or_zone, Park):
        park = park_or_zone
        stages = stage_facts(stages=Stage.objects.filter(pk=stage.pk))
        loaded = _Loaded(parks={park.pk: park.code}, stage_ids=[stage.pk], sample=None)
        return loaded.park_rows(pairs=[(park.code, stages[0].chain_code)], stages=stages)[0]
    parks, chain_parks = _zone_parks(park_or_zone)
    stages = stage_facts(stages=Stage.objects.filter(pk=stage.pk))
    loaded = _Loaded(parks=parks, stage_ids=[stage.pk], sample=None)
    return loaded.zone_rows(park_codes=list(parks.values()), stages=stages, chain_parks=chain_parks)[0]


# How many rows past the limit the database returns: its float score may differ from
# the pure layer's rounded one in the last digit, which can swap neighbours at the cut.
_CANDIDATE_MARGIN = 20
# The walk by capital reads this many times the rows asked for (see _ranked_candidate_ids).
_CANDIDATE_WALK = 2


def gap_candidates(
    *,
    park: Park,
    stage: Stage | int,
    office: Office | None,
    limit: int = 50,
    search: str = "",
    neighbour_ids: Collection[int] | None = None,
) -> list[Candidate]:
    """Enterprises that could fill ``stage`` (a stage or its id) in ``park``, best first
    (``candidate_score``).

    Candidates can supply the stage (``Enterprise.stages``), are not merged into
    another record, and have no presence in the park at all (an enterprise already
    in the park is growth, not recruitment). ``courted_by_other_office`` is set when
    an office other than ``office`` has an open project with the enterprise (any
    office when ``office`` is None). The interaction signal uses ``office``'s own
    interactions (every office's for a provincial office).

    The database scores every candidate with the formula of ``candidate_score``
    (:func:`_ranked_candidates`) and returns the best ``limit`` and a few more with
    what the ranking says of them; the pure function ranks those exactly. Three
    queries whatever the number of enterprises (a fourth when the quick ranking
    cannot vouch for its head), one fewer for a caller that read the stage's neighbours
    already (``neighbour_ids``, as ``stage_neighbour_ids`` reads them: a stage panel's).
    ``search`` keeps the candidates the directory search (:mod:`crm.search`) finds for it.
    """
    limit = max(limit, 0)
    if not limit:
        return []
    now = timezone.now()
    stage_id = stage if isinstance(stage, int) else stage.pk
    facts, zone_codes = _ranked_candidates(
        park=park,
        stage_id=stage_id,
        office=office,
        neighbour_ids=sorted(stage_neighbour_ids(stage=stage_id) if neighbour_ids is None else neighbour_ids),
        now=now,
        limit=limit + _CANDIDATE_MARGIN,
        search=search,
    )
    return rank_candidates(facts, now=now, zone_park_codes=zone_codes, limit=limit)


def _searched_sql(search: str, params: dict[str, object], *, column: str) -> str:
    """``AND <column> IN (…)`` for the enterprises the directory search finds ('' without a
    search), its parameters named into ``params``."""
    if not clean_term(search):
        return ""
    sub_sql, sub_params = (
        Enterprise.objects.filter(enterprise_search_q(search)).order_by().values("pk").query.sql_with_params()
    )
    pieces = sub_sql.split("%s")
    named = pieces[0]
    for i, (value, piece) in enumerate(zip(sub_params, pieces[1:], strict=True)):
        params[f"search{i}"] = value
        named += f"%(search{i})s{piece}"
    return f"AND {column} IN ({named}) "


def _converter(model: Any, field_name: str) -> Any:
    """What the ORM does to a column of ``model`` read from the database (SQLite returns text
    for dates and UUIDs, floats for decimals), for values read with a raw cursor."""
    col = model._meta.get_field(field_name).get_col(model._meta.db_table)
    converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)

    def convert(value: Any) -> Any:
        for converter in converters:
            value = converter(value, col, connection)
        return value

    return convert


def _ranked_candidates(
    *,
    park: Park,
    stage_id: int,
    office: Office | None,
    neighbour_ids: list[int],
    now: datetime,
    limit: int,
    search: str = "",
) -> tuple[list[CandidateFacts], set[str]]:
    """The facts of the ``limit`` best candidates by ``candidate_score`` computed in SQL, and
    the codes of the zone's parks among the parks they are present in elsewhere.

    One statement: the capable enterprises joined to three small aggregates (their
    presences at the stage in other parks, their capabilities at the neighbouring
    stages, their latest contact with ``office``), each grouped once rather than
    probed once per candidate; ties are broken by name in code-point order and id, as
    the pure ranking breaks them. Each is scored on the capital its capability row
    carries (``crm.capability_capital``), read with the capability itself, so no
    enterprise row is read to score it. Only ids, scores and counts are sorted: the
    names (on PostgreSQL, of the best ``limit`` and those tied with the last of them),
    the parks they are present in elsewhere and the open projects of other offices are
    read for the winners alone, in the same statement.
    """
    q = connection.ops.quote_name
    enterprise, capabilities = q(Enterprise._meta.db_table), q(Enterprise.stages.through._meta.db_table)
    presence, interaction = q(Presence._meta.db_table), q(Interaction._meta.db_table)
    park_table, project = q(Park._meta.db_table), q(Project._meta.db_table)
    postgres = connection.vendor == "postgresql"
    adapt = connection.ops.adapt_datetimefield_value
    params: dict[str, object] = {
        "stage": stage_id,
        "park": park.pk,
        "zone": park.zone_id,
        "office": office.pk if office is not None else None,
        "in_zone": SCORE_SAME_STAGE_IN_ZONE,
        "outside_zone": SCORE_SAME_STAGE_OUTSIDE_ZONE,
        "max_adjacent": MAX_ADJACENT_STAGES,
        "per_adjacent": SCORE_PER_ADJACENT_STAGE,
        "floor": float(CAPITAL_FLOOR),
        # min(2, log10(capital / floor) / 2) reaches its cap at floor × 10⁴.
        "capital_cap": float(CAPITAL_FLOOR) * 10 ** (2 * MAX_CAPITAL_SCORE),
        "max_capital": MAX_CAPITAL_SCORE,
        "ln10": math.log(10),
        # (now - at).days <= N  ⟺  at > now - (N + 1) days
        "recent_since": adapt(now - timedelta(days=RECENT_DAYS + 1)),
        "recent": SCORE_RECENT_INTERACTION,
        "older_since": adapt(now - timedelta(days=OLDER_DAYS + 1)),
        "older": SCORE_OLDER_INTERACTION,
        "limit": limit,
    }

    def listed(name: str, values: Sequence[object]) -> str:
        params.update({f"{name}{i}": v for i, v in enumerate(values)})
        return ", ".join(f"%({name}{i})s" for i in range(len(values)))

    in_zone = f"park_id IN (SELECT id FROM {park_table} WHERE zone_id = %(zone)s)"
    # The signals other than capital, each for the enterprises capable of the stage only.
    # A capability row carries its enterprise's capital and merge (crm.capability_capital):
    # the capable enterprises, merged ones left out, each with the capital it scores on.
    capable = (
        f"SELECT enterprise_id AS id, enterprise_capital AS capital FROM {capabilities} "
        "WHERE stage_id = %(stage)s AND NOT enterprise_merged"
    )
    if neighbour_ids:
        # On PostgreSQL both sides are read from ``enterprise_stages_stage_ent_idx`` alone
        # (it carries the copy) and merged in enterprise order.
        adjacent_sql = (
            f"SELECT s.enterprise_id, s.enterprise_capital AS capital, COUNT(*) AS n FROM {capabilities} s "
            f"JOIN {capabilities} nb ON nb.enterprise_id = s.enterprise_id "
            f"AND nb.stage_id IN ({listed('neighbour', neighbour_ids)}) "
            "WHERE s.stage_id = %(stage)s AND NOT s.enterprise_merged GROUP BY s.enterprise_id, s.enterprise_capital"
        )
    else:
        adjacent_sql = f"SELECT enterprise_id, enterprise_capital AS capital, 0 AS n FROM {capabilities} WHERE 1 = 0"
    elsewhere_sql = (
        f"SELECT enterprise_id, MAX(CASE WHEN {in_zone} THEN %(in_zone)s ELSE %(outside_zone)s END) AS points "
        f"FROM {presence} WHERE stage_id = %(stage)s AND park_id <> %(park)s GROUP BY enterprise_id"
    )
    own_only = office is not None and not office.sees_everything

    def contact_sql(among: str) -> str:
        # Contacts older than the older window score nothing and say nothing: only later
        # ones are read (the latest of them is the candidate's ``last_interaction_at``).
        return (
            f"SELECT i.enterprise_id, MAX(i.occurred_at) AS at FROM {interaction} i "
            f"WHERE i.occurred_at > %(older_since)s AND i.enterprise_id IN ({among}) "
            + ("AND i.office_id = %(office)s " if own_only else "")
            + "GROUP BY i.enterprise_id"
        )

    adjacent = "COALESCE(adj.n, 0)"
    capital = "CAST(pool.capital AS DOUBLE PRECISION)"

    def capital_points(value: str) -> str:
        return (
            f"CASE WHEN {value} >= %(capital_cap)s THEN %(max_capital)s"
            f" WHEN {value} > %(floor)s THEN LN({value} / %(floor)s) / %(ln10)s / 2.0 ELSE 0.0 END"
        )

    def rounded(score: str) -> str:
        # Rounded as the pure ranking rounds (PostgreSQL rounds decimals of a numeric only).
        return f"ROUND(CAST({score} AS NUMERIC), 3)" if postgres else f"ROUND({score}, 3)"

    score = (
        "COALESCE(pe.points, 0.0)"
        f" + (CASE WHEN {adjacent} > %(max_adjacent)s THEN %(max_adjacent)s ELSE {adjacent} END) * %(per_adjacent)s"
        f" + {capital_points(capital)}"
        " + CASE WHEN lc.at > %(recent_since)s THEN %(recent)s"
        " WHEN lc.at > %(older_since)s THEN %(older)s ELSE 0.0 END"
    )
    by_code_point = ' COLLATE "C"' if postgres else ""  # SQLite compares text by code point already
    not_in_park = f"NOT EXISTS (SELECT 1 FROM {presence} pr WHERE pr.enterprise_id = pool.id AND pr.park_id = %(park)s)"
    searched = _searched_sql(search, params, column="pool.id")

    def scored(source: str, extra: str = "") -> str:
        # ``source`` names the enterprises to score "pool" (id, capital), merged ones left out.
        # The CTE "top": the best ``limit``, ties broken by name and id.
        scoring = (
            f"SELECT pool.id, {adjacent} AS n, lc.at, {rounded(score)} AS score{extra} FROM {source} "
            "LEFT JOIN adj ON adj.enterprise_id = pool.id "
            "LEFT JOIN pe ON pe.enterprise_id = pool.id "
            "LEFT JOIN lc ON lc.enterprise_id = pool.id "
            f"WHERE {not_in_park} {searched}"
        )
        if postgres:
            # Names only for the best and those tied with the last of them.
            return (
                f"tied AS ({scoring}ORDER BY score DESC FETCH FIRST (%(limit)s) ROWS WITH TIES), "
                f"top AS (SELECT tied.* FROM tied JOIN {enterprise} e ON e.id = tied.id "
                f"ORDER BY tied.score DESC, e.name{by_code_point}, e.id LIMIT %(limit)s)"
            )
        return (
            f"top AS (SELECT scored.* FROM ({scoring}) scored JOIN {enterprise} e ON e.id = scored.id "
            "ORDER BY scored.score DESC, e.name, e.id LIMIT %(limit)s)"
        )

    # What the ranking says of the winners: their names, their open projects (of the asking
    # office and of others) and, one row each, the parks they work the stage in elsewhere
    # (one presence per enterprise, park and stage: no pair twice).
    open_project = f"SELECT 1 FROM {project} p WHERE p.enterprise_id = top.id AND p.status NOT IN ({listed('closed', sorted(CLOSED))})"
    if office is None:
        own, other = "1 = 0", f"EXISTS ({open_project})"
    else:
        own = f"EXISTS ({open_project} AND p.office_id = %(office)s)"
        other = f"EXISTS ({open_project} AND p.office_id <> %(office)s)"

    def finished(extra: Sequence[str]) -> str:
        blanks = "".join(", NULL" for _e in extra)
        return (
            "SELECT 'c', top.id, top.n, e.name, e.credit_code, e.registered_capital, top.at, "
            f"CASE WHEN {own} THEN 1 ELSE 0 END, CASE WHEN {other} THEN 1 ELSE 0 END, top.score"
            + "".join(f", top.{name}" for name in extra)
            + f" FROM top JOIN {enterprise} e ON e.id = top.id "
            "UNION ALL "
            "SELECT 'e', pr.enterprise_id, NULL, pk.code, NULL, NULL, NULL, "
            f"CASE WHEN pk.zone_id = %(zone)s THEN 1 ELSE 0 END, NULL, NULL{blanks} "
            f"FROM {presence} pr JOIN {park_table} pk ON pk.id = pr.park_id "
            "WHERE pr.stage_id = %(stage)s AND pr.park_id <> %(park)s AND pr.enterprise_id IN (SELECT id FROM top) "
            "ORDER BY 1, 4"
        )

    signals = f"WITH adj AS ({adjacent_sql}), pe AS ({elsewhere_sql})"
    with connection.cursor() as cursor:
        if not search:
            # Most capable enterprises have no signal but their capital and perhaps a recent
            # contact. Only those capable of an adjacent stage or present at the stage
            # elsewhere are scored, and the best by capital alone: a walk down the stage's
            # capabilities by the capital they carry (``crm.capability_capital``: the stage's
            # capable enterprises alone, from ``enterprise_stages_capital_idx``) that stops
            # after ``walk`` rows (and as many without a capital, which score nothing on it);
            # their contacts are read for them alone. Every enterprise left out scores at
            # most what the walk's last one scores on capital (nothing, without a capital)
            # plus a recent contact; when that is below the last score kept, or the walks
            # left nobody out, the head is the head of the whole ranking. Otherwise (a run of
            # equal capitals, a weak head) every capable enterprise is scored, as below.
            params["walk"] = walk = limit * _CANDIDATE_WALK
            walk_from = (
                f"FROM {capabilities} c WHERE c.stage_id = %(stage)s AND NOT c.enterprise_merged "
                f"AND NOT EXISTS (SELECT 1 FROM {presence} pr WHERE pr.enterprise_id = c.enterprise_id "
                "AND pr.park_id = %(park)s) AND c.enterprise_capital"
            )
            walk_min = "(SELECT MIN(CAST(registered_capital AS DOUBLE PRECISION)) FROM walk)"
            # Those present at the stage elsewhere (a few hundred) are checked capable one by one
            # on PostgreSQL: as a join it merges them with the stage's whole range of
            # capabilities (25,000 rows at 1,000,000 enterprises) a second time.
            one_capability = (
                f"SELECT c.enterprise_capital FROM {capabilities} c WHERE c.enterprise_id = pe.enterprise_id "
                "AND c.stage_id = %(stage)s AND NOT c.enterprise_merged"
            )
            capable_elsewhere = (
                f"CROSS JOIN LATERAL ({one_capability} LIMIT 1) capable"
                if postgres
                else f"JOIN {capabilities} capable ON capable.enterprise_id = pe.enterprise_id "
                "AND capable.stage_id = %(stage)s AND NOT capable.enterprise_merged"
            )
            cursor.execute(
                f"{signals}, "
                f"walk AS (SELECT c.enterprise_id AS id, c.enterprise_capital AS registered_capital {walk_from} "
                "IS NOT NULL ORDER BY c.enterprise_capital DESC, c.enterprise_id LIMIT %(walk)s), "
                f"walk_blank AS (SELECT c.enterprise_id AS id {walk_from} IS NULL "
                "ORDER BY c.enterprise_id LIMIT %(walk)s), "
                # Capable all, with their capital: those of the walks and of adj by their making,
                # those of pe checked.
                "pool AS (SELECT enterprise_id AS id, capital FROM adj "
                f"UNION SELECT pe.enterprise_id, capable.enterprise_capital FROM pe {capable_elsewhere} "
                "UNION SELECT id, registered_capital FROM walk UNION SELECT id, NULL FROM walk_blank), "
                f"lc AS ({contact_sql('SELECT id FROM pool')}), "
                + scored(
                    "pool",
                    ", (SELECT COUNT(*) FROM walk) AS walked, (SELECT COUNT(*) FROM walk_blank) AS walked_blank, "
                    + rounded(f"{capital_points(walk_min)} + %(recent)s")
                    + " AS bound",
                )
                + " "
                + finished(["walked", "walked_blank", "bound"]),
                params,
            )
            rows = cursor.fetchall()
            winners = [r for r in rows if r[0] == "c"]
            if not winners:
                return [], set()
            last = min(r[9] for r in winners)
            walked, walked_blank, bound = winners[0][10], winners[0][11], winners[0][12]
            left_out = walked == walk or walked_blank == walk
            if not left_out or (
                len(winners) == limit
                and (walked < walk or bound < last)
                and (walked_blank < walk or last > SCORE_RECENT_INTERACTION)
            ):
                return _candidate_facts(rows)
        signals += f", lc AS ({contact_sql(f'SELECT id FROM ({capable}) c')})"
        cursor.execute(f"{signals}, {scored(f'({capable}) pool')} " + finished([]), params)
        return _candidate_facts(cursor.fetchall())


def _candidate_facts(rows: Sequence[Sequence[Any]]) -> tuple[list[CandidateFacts], set[str]]:
    """The candidates ("c" rows) and the zone's park codes among where they are present
    elsewhere ("e" rows, in park code order) of a statement of :func:`_ranked_candidates`."""
    uuid, capital, at = (
        _converter(Enterprise, "id"),
        _converter(Enterprise, "registered_capital"),
        _converter(Interaction, "occurred_at"),
    )
    elsewhere: dict[UUID, list[str]] = {}
    zone_codes: set[str] = set()
    for kind, pk, _n, code, *_rest in rows:
        if kind == "e":
            elsewhere.setdefault(uuid(pk), []).append(code)
            if _rest[3]:
                zone_codes.add(code)
    facts = [
        CandidateFacts(
            enterprise_id=(enterprise_id := uuid(pk)),
            name=name,
            credit_code=credit_code,
            registered_capital=capital(amount),
            present_elsewhere=tuple(elsewhere.get(enterprise_id, ())),
            adjacent_stage_count=n,
            last_interaction_at=at(last_contact),
            courted_by_other_office=bool(other),
            courted_by_own_office=bool(own),
        )
        for kind, pk, n, name, credit_code, amount, last_contact, own, other, *_rest in rows
        if kind == "c"
    ]
    return facts, zone_codes
