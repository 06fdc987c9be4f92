"""The one place the ledger reads a project's light (the landing supervision's current colour)."""

from __future__ import annotations

LIGHT_FIELD = "light__color"


def light_value(row: dict) -> str | None:  # type: ignore[type-arg]
    """The light colour of a project row read with :data:`LIGHT_FIELD`, or None when it has none."""
    return row.get(LIGHT_FIELD) or None
