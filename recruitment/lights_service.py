"""Recomputing lights: reads plans, progress, rules and history set-based, writes what changed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def lights_recompute(*, project_ids: Sequence[Any] | None = None, today: Any = None) -> int:
    """Recompute the lights of ``project_ids`` (all signed projects when None); the number changed."""
    return 0
