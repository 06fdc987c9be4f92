"""Gap-analysis selectors: load plain facts in a fixed number of queries, then let the
pure functions of ``chains.gap_analysis`` decide.

Shared by the admin gap map, the dashboard and the API. Every selector runs the same
number of queries whatever the number of enterprises, presences and projects (no
per-row query): stages with their edges and target map (``chains.selectors.stage_facts``),
then one query for presences and one for projects.

Gap analysis is readable by every authenticated user. The rows name projects of
every office; ``ProjectRef.office_id`` is there so a caller can hide the titles of
other offices' projects from park and partner staff — that is the caller's job.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from chains.gap_analysis import (
    Candidate,
    CandidateFacts,
    EnterpriseRef,
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
from chains.models import Chain, ChainPark, Park, Stage, Zone
from chains.selectors import chain_by_code, park_by_code, stage_facts, stage_neighbour_ids
from crm.models import Enterprise, Interaction, Office, Presence
from recruitment.models import Project
from recruitment.pipeline import CLOSED, SIGNED_OR_LATER, Status

__all__ = [
    "Candidate",
    "EnterpriseRef",
    "GapStatus",
    "ParkStageStatus",
    "ProjectRef",
    "StageGap",
    "gap_candidates",
    "gap_status_or_error",
    "gaps_for_park",
    "gaps_for_zone",
    "gaps_list",
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


def _presences(*, stage_ids: list[int], parks: Q) -> list[PresenceFact]:
    """Presences at ``stage_ids`` in the parks ``parks`` selects; merged enterprises left out.

    One EnterpriseRef per enterprise however many presences it has; rows come in
    display order so the pure layer's sort is a single linear pass.
    """
    rows = (
        Presence.objects.filter(parks, stage_id__in=stage_ids, enterprise__merged_into__isnull=True)
        .values_list("park__code", "stage_id", "enterprise_id", "enterprise__name")
        .order_by("enterprise__name", "enterprise_id")
    )
    refs: dict[UUID, EnterpriseRef] = {}
    facts = []
    for park, stage, enterprise_id, name in rows:
        ref = refs.get(enterprise_id)
        if ref is None:
            ref = refs[enterprise_id] = EnterpriseRef(id=enterprise_id, name=name)
        facts.append(PresenceFact(park, stage, ref))
    return facts


def _projects(*, stage_ids: list[int], parks: Q) -> list[ProjectFact]:
    """One fact per (project, target stage) for projects whose target park ``parks`` selects."""
    rows = (
        Project.stages.through.objects.filter(parks, stage_id__in=stage_ids, project__status__in=_LISTED_STATUSES)
        .values_list(
            "project__park__code", "stage_id", "project_id", "project__title", "project__status", "project__office_id"
        )
        .order_by("project__title", "project_id")
    )
    refs: dict[UUID, ProjectRef] = {}
    facts = []
    for park, stage, project_id, title, status, office_id in rows:
        ref = refs.get(project_id)
        if ref is None:
            ref = refs[project_id] = ProjectRef(id=project_id, title=title, status=status, office_id=office_id)
        facts.append(ProjectFact(park, stage, ref))
    return facts


def _park_rows(
    *, pairs: list[tuple[str, str]], stages: list[StageFacts], parks_presence: Q, parks_project: Q
) -> list[StageGap]:
    ids = [s.id for s in stages]
    return chain_park_gaps(
        pairs=pairs,
        stages=stages,
        presences=_presences(stage_ids=ids, parks=parks_presence),
        projects=_projects(stage_ids=ids, parks=parks_project),
        filling_statuses=SIGNED_OR_LATER,
        closed_statuses=CLOSED,
    )


def gaps_for_park(*, park: Park, chain: Chain | None = None, status: GapStatus | str | None = None) -> list[StageGap]:
    """Stage rows of ``chain`` in ``park`` — or of every chain the park develops (ChainPark).

    Three queries whatever the data size: stages with their edges and target map
    (their chains in a subquery), presences, projects.
    """
    wanted = gap_status_or_error(status)
    chains: QuerySet[Chain] = (
        Chain.objects.filter(pk=chain.pk) if chain is not None else Chain.objects.filter(chain_parks__park=park)
    )
    stages = stage_facts(stages=Stage.objects.filter(chain__in=chains))
    chain_codes = list(dict.fromkeys(s.chain_code for s in stages))
    if chain is not None and chain.code not in chain_codes:
        chain_codes.append(chain.code)
    rows = _park_rows(
        pairs=[(park.code, c) for c in chain_codes],
        stages=stages,
        parks_presence=Q(park=park),
        parks_project=Q(project__park=park),
    )
    return gaps_with_status(rows, wanted)


def _zone_chains(zone: Zone) -> QuerySet[Chain]:
    """Chains of the zone: assigned to it, or developed by one of its parks."""
    return Chain.objects.filter(Q(zone=zone) | Q(chain_parks__park__zone=zone))


def gaps_for_zone(*, zone: Zone, chain: Chain | None = None, status: GapStatus | str | None = None) -> list[StageGap]:
    """Zone-wide stage rows (``park_code`` None) with the per-park breakdown in ``by_park``.

    A stage's zone status counts the distinct enterprises present at it in any park
    of the zone (see ``chains.gap_analysis``). Four queries whatever the data size:
    parks with their chains, stages with edges and target map, presences, projects.
    """
    wanted = gap_status_or_error(status)
    chains = Chain.objects.filter(pk=chain.pk) if chain is not None else _zone_chains(zone)
    # The zone's parks and the chains each develops, in one outer-joined query.
    park_codes: list[str] = []
    chain_parks: dict[str, set[str]] = {}
    for park_code, chain_code in (
        Park.objects.filter(zone=zone).order_by("code").values_list("code", "chain_parks__chain__code")
    ):
        if not park_codes or park_codes[-1] != park_code:
            park_codes.append(park_code)
        if chain_code is not None:
            chain_parks.setdefault(chain_code, set()).add(park_code)
    stages = stage_facts(stages=Stage.objects.filter(chain__in=chains))
    ids = [s.id for s in stages]
    rows = zone_gaps(
        park_codes=park_codes,
        stages=stages,
        presences=_presences(stage_ids=ids, parks=Q(park__zone=zone)),
        projects=_projects(stage_ids=ids, parks=Q(project__park__zone=zone)),
        filling_statuses=SIGNED_OR_LATER,
        closed_statuses=CLOSED,
        chain_parks=chain_parks,
    )
    return gaps_with_status(rows, wanted)


def gaps_list(
    *, park_code: str | None = None, chain_code: str | None = None, status: GapStatus | str | None = None
) -> list[StageGap]:
    """Park × chain × stage rows for the chains each park develops (ChainPark), ordered
    by park code, chain code and stage order; filtered by park, chain and status codes.

    An unknown code is a ValidationError naming the field (``park``, ``chain``,
    ``status``), so the API can answer 400 with it.
    """
    wanted = gap_status_or_error(status)
    pairs_qs = ChainPark.objects.all()
    if park_code:
        pairs_qs = pairs_qs.filter(park=park_by_code(park_code, field="park"))
    if chain_code:
        pairs_qs = pairs_qs.filter(chain=chain_by_code(chain_code, field="chain"))
    pairs = list(pairs_qs.order_by("park__code", "chain__code").values_list("park__code", "chain__code"))
    park_codes = sorted({p for p, _c in pairs})
    stages = stage_facts(stages=Stage.objects.filter(chain__code__in=sorted({c for _p, c in pairs})))
    rows = _park_rows(
        pairs=pairs,
        stages=stages,
        parks_presence=Q(park__code__in=park_codes),
        parks_project=Q(project__park__code__in=park_codes),
    )
    return gaps_with_status(rows, wanted)


def gap_candidates(*, park: Park, stage: Stage, office: Office | None, limit: int = 50) -> list[Candidate]:
    """Enterprises that could fill ``stage`` in ``park``, best first (``candidate_score``).

    Candidates can supply the stage (``Enterprise.stages``), are not merged into
    another record, and have no presence in the park at all (an enterprise already
    in the park is growth, not recruitment). ``courted_by_other_office`` is set when
    an office other than ``office`` has an open project with the enterprise (any
    office when ``office`` is None). The interaction signal uses ``office``'s own
    interactions (every office's for a provincial office). Seven queries whatever
    the number of enterprises.
    """
    now = timezone.now()
    zone_park_codes = set(Park.objects.filter(zone_id=park.zone_id).values_list("code", flat=True))
    neighbours = stage_neighbour_ids(stage=stage)
    capable = Enterprise.objects.filter(stages=stage, merged_into__isnull=True).exclude(presences__park=park)
    capable_ids = capable.values("pk")
    base = {
        pk: (name, code, capital)
        for pk, name, code, capital in capable.values_list("pk", "name", "credit_code", "registered_capital")
    }
    adjacent: dict[UUID, int] = dict(
        Enterprise.stages.through.objects.filter(enterprise_id__in=capable_ids, stage_id__in=sorted(neighbours))
        .values("enterprise_id")
        .annotate(n=Count("stage_id"))
        .values_list("enterprise_id", "n")
        .order_by()
    )
    elsewhere: dict[UUID, list[str]] = {}
    for enterprise_id, park_code in (
        Presence.objects.filter(stage=stage, enterprise_id__in=capable_ids)
        .exclude(park=park)
        .order_by("park__code")
        .values_list("enterprise_id", "park__code")
        .distinct()
    ):
        elsewhere.setdefault(enterprise_id, []).append(park_code)
    interactions = Interaction.objects.filter(enterprise_id__in=capable_ids)
    if office is not None and not office.sees_everything:
        interactions = interactions.filter(office=office)
    last_contact = dict(
        interactions.values("enterprise_id")
        .annotate(at=Max("occurred_at"))
        .values_list("enterprise_id", "at")
        .order_by()
    )
    own: set[UUID] = set()
    other: set[UUID] = set()
    for enterprise_id, office_id in (
        Project.objects.filter(enterprise_id__in=capable_ids)
        .exclude(status__in=CLOSED)
        .values_list("enterprise_id", "office_id")
        .distinct()
        .order_by()
    ):
        if office is not None and office_id == office.pk:
            own.add(enterprise_id)
        else:
            other.add(enterprise_id)
    facts: Iterable[CandidateFacts] = (
        CandidateFacts(
            enterprise_id=pk,
            name=name,
            credit_code=code,
            registered_capital=capital,
            present_elsewhere=tuple(elsewhere.get(pk, ())),
            adjacent_stage_count=adjacent.get(pk, 0),
            last_interaction_at=last_contact.get(pk),
            courted_by_other_office=pk in other,
            courted_by_own_office=pk in own,
        )
        for pk, (name, code, capital) in base.items()
    )
    return rank_candidates(facts, now=now, zone_park_codes=zone_park_codes, limit=max(limit, 0))
