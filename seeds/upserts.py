"""Idempotent writes for seed data: write only what differs, count what happened.

Running a seed twice must change nothing — no new rows, no history rows, no
change-feed moves, not even a new ``updated_at``. So every seed write first reads
the row by its natural key and saves only the fields that differ.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from django.core.management.base import CommandError
from django.db import models

M = TypeVar("M", bound=models.Model)

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


@dataclass
class SeedTally:
    """What a seed run did, per kind of record: created / updated / unchanged."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, kind: str, outcome: str) -> None:
        self.counts[(kind, outcome)] += 1

    def changed(self) -> int:
        return sum(n for (_kind, outcome), n in self.counts.items() if outcome != UNCHANGED)

    def lines(self) -> list[str]:
        kinds = sorted({kind for kind, _outcome in self.counts})
        return [
            f"{kind}: "
            + ", ".join(
                f"{self.counts[(kind, o)]} {o}" for o in (CREATED, UPDATED, UNCHANGED) if self.counts[(kind, o)]
            )
            for kind in kinds
        ]


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a seed data file; a missing or malformed file is a CommandError naming it."""
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise CommandError(f"Seed data file not found: {path.name}") from None
    except yaml.YAMLError as exc:
        raise CommandError(f"Seed data file {path.name} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CommandError(f"Seed data file {path.name} must hold a mapping at the top level.")
    return data


def differing(obj: models.Model, values: dict[str, Any]) -> list[str]:
    """Names of the fields of ``obj`` whose value differs from ``values``."""
    return [name for name, value in values.items() if getattr(obj, name) != value]


def upsert(model: type[M], *, key: dict[str, Any], values: dict[str, Any], tally: SeedTally) -> M:
    """Get the row by ``key`` and bring it to ``values``, saving only when something differs.

    For reference models without history or change feed (zones, parks, chains…).
    Foreign keys are given as ``<name>_id`` so comparing them costs no query.
    """
    kind = model._meta.model_name
    obj = model.objects.filter(**key).first()
    if obj is None:
        obj = model(**key, **values)
        obj.full_clean()
        obj.save()
        tally.add(kind, CREATED)
        return obj
    changed = differing(obj, values)
    if not changed:
        tally.add(kind, UNCHANGED)
        return obj
    for name in changed:
        setattr(obj, name, values[name])
    obj.full_clean()
    update_fields = changed + (["updated_at"] if any(f.name == "updated_at" for f in model._meta.fields) else [])
    obj.save(update_fields=update_fields)
    tally.add(kind, UPDATED)
    return obj


def add_missing(manager: Any, objs: list[models.Model], *, kind: str, tally: SeedTally) -> None:
    """Add the related objects missing from a many-to-many ``manager``; never removes any.

    Seeds add to the reference graph but do not delete what staff added by hand.
    """
    present = set(manager.values_list("pk", flat=True))
    missing = [o for o in objs if o.pk not in present]
    if missing:
        manager.add(*missing)
    for obj in objs:
        tally.add(kind, CREATED if obj in missing else UNCHANGED)
