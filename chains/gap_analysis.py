"""Gap analysis (缺链分析): pure functions over plain data, no database.

A stage is ``covered`` in a park with two or more present enterprises, ``weak`` with
one and ``missing`` with none. Selectors feed these functions with plain tuples.
"""

from __future__ import annotations

from enum import StrEnum


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
