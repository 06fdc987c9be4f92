"""Reads of reference data shared by admin, API, services and seeds."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from chains.gap_analysis import StageFacts
from chains.models import Chain, Park, Stage, StageEdge, Zone


def park_by_code(code: str, *, field: str = "park") -> Park:
    try:
        return Park.objects.get(code=code)
    except Park.DoesNotExist:
        raise ValidationError(
            {field: _("Unknown park code “%(code)s”.") % {"code": code}}, code="unknown_park"
        ) from None


def chain_by_code(code: str, *, field: str = "chain") -> Chain:
    try:
        return Chain.objects.get(code=code)
    except Chain.DoesNotExist:
        raise ValidationError(
            {field: _("Unknown chain code “%(code)s”.") % {"code": code}}, code="unknown_chain"
        ) from None


def stages_by_codes(codes: Iterable[str], *, field: str = "stages") -> list[Stage]:
    """Resolve stage codes, in the order given. ``chain/stage`` disambiguates a code
    used in two chains; an unknown or ambiguous code is a ValidationError on ``field``."""
    wanted = [c.strip() for c in codes]
    plain = {c for c in wanted if "/" not in c}
    qualified = {tuple(c.split("/", 1)) for c in wanted if "/" in c}
    found: dict[str, list[Stage]] = {}
    if plain:
        for stage in Stage.objects.filter(code__in=plain).select_related("chain"):
            found.setdefault(stage.code, []).append(stage)
    for chain_code, stage_code in qualified:
        stage = Stage.objects.filter(chain__code=chain_code, code=stage_code).select_related("chain").first()
        if stage:
            found[f"{chain_code}/{stage_code}"] = [stage]
    result: list[Stage] = []
    errors: list[str] = []
    for code in wanted:
        matches = found.get(code, [])
        if not matches:
            errors.append(_("Unknown stage code “%(code)s”.") % {"code": code})
        elif len(matches) > 1:
            errors.append(
                _("Stage code “%(code)s” is used in several chains; write it as chain/stage.") % {"code": code}
            )
        elif matches[0] not in result:
            result.append(matches[0])
    if errors:
        raise ValidationError({field: errors}, code="unknown_stage")
    return result


def stage_by_code(code: str, *, field: str = "stage") -> Stage:
    """One stage by its code (``chain/stage`` also accepted); ValidationError on ``field``."""
    return stages_by_codes([code], field=field)[0]


def zone_by_code(code: str, *, field: str = "zone") -> Zone:
    try:
        return Zone.objects.get(code=code)
    except Zone.DoesNotExist:
        raise ValidationError(
            {field: _("Unknown zone code “%(code)s”.") % {"code": code}}, code="unknown_zone"
        ) from None


def stage_facts(*, stages: QuerySet[Stage]) -> list[StageFacts]:
    """Plain facts about ``stages`` for the gap analysis, in one query whatever their number.

    Ordered by chain code, stage order and code. ``feeds`` lists downstream stage
    codes in stage order; ``target_parks`` the park codes of the target map. Edges
    and target parks come through outer joins: a stage's rows are the product of
    its few edges and few target parks, folded back here.
    """
    rows = stages.order_by("chain__code", "order", "code", "id").values_list(
        "id",
        "code",
        "chain__code",
        "name",
        "name_en",
        "order",
        "out_edges__downstream__code",
        "out_edges__downstream__order",
        "target_parks__code",
    )
    heads: dict[int, tuple[str, str, str, str, int]] = {}
    feeds: dict[int, dict[str, int]] = {}
    targets: dict[int, set[str]] = {}
    for sid, code, chain_code, name, name_en, order, feed_code, feed_order, park_code in rows:
        heads.setdefault(sid, (code, chain_code, name, name_en, order))
        fed = feeds.setdefault(sid, {})
        if feed_code is not None:
            fed[feed_code] = feed_order
        parks = targets.setdefault(sid, set())
        if park_code is not None:
            parks.add(park_code)
    return [
        StageFacts(
            id=sid,
            code=code,
            chain_code=chain_code,
            name=name,
            name_en=name_en,
            order=order,
            feeds=tuple(sorted(feeds[sid], key=lambda c, fed=feeds[sid]: (fed[c], c))),  # type: ignore[misc]
            target_parks=frozenset(targets[sid]),
        )
        for sid, (code, chain_code, name, name_en, order) in heads.items()
    ]


def stage_neighbour_ids(*, stage: Stage | int) -> set[int]:
    """Ids of the stages feeding ``stage`` (a stage or its id) or fed by it (one query)."""
    stage_id = stage if isinstance(stage, int) else stage.pk
    neighbours: set[int] = set()
    for upstream_id, downstream_id in (
        StageEdge.objects.filter(Q(upstream_id=stage_id) | Q(downstream_id=stage_id))
        .values_list("upstream_id", "downstream_id")
        .order_by()
    ):
        neighbours.update((upstream_id, downstream_id))
    neighbours.discard(stage_id)
    return neighbours
