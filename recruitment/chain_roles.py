"""A project's chain role from the gap status of its target stages. Pure.

* any target stage missing in the target park → fill a gap (补链);
* otherwise any stage weak (one enterprise) → strengthen (强链);
* otherwise every stage is covered: the project adds to a complete link and
  extends the chain's reach (延链).
"""

from __future__ import annotations

from collections.abc import Iterable

from chains.gap_analysis import GapStatus
from recruitment.models import ChainRole


def derive_chain_role(stage_statuses: Iterable[GapStatus | str]) -> str:
    statuses = {GapStatus(s) for s in stage_statuses}
    if not statuses or GapStatus.MISSING in statuses:
        return ChainRole.FILL
    if GapStatus.WEAK in statuses:
        return ChainRole.STRENGTHEN
    return ChainRole.EXTEND
