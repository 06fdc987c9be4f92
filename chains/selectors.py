"""Reads of reference data shared by admin, API, services and seeds."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from chains.models import Chain, Park, Stage


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
