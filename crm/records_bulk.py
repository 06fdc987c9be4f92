"""Set-based writes of synced records with the same effects as ``crm.records.record_save``.

``record_save`` costs several queries per record (validation, insert, history,
many-to-many, change feed). An import of 10,000 rows cannot afford that, so this
module writes batches: ``bulk_create``/``bulk_update``, history rows in bulk
(simple-history's ``bulk_history_create``, with the many-to-many history it would
write on a save), the version bumped by one on every updated record, and the
change feed moved for the whole batch. Validation is the caller's job (the
importers check every row first); the database constraints still guard.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Generator, Iterable, Sequence
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import prefetch_related_objects
from django.utils import timezone

from crm.changes import changes_record

BATCH = 500
LOOKUP_CHUNK = 1000


def chunked(values: Iterable[Any], size: int = LOOKUP_CHUNK) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def bulk_write(
    *,
    model: type[models.Model],
    creates: list[Any],
    updates: list[Any],
    update_fields: Iterable[str],
    actor: Any,
    reason: str,
    m2m: dict[str, dict[Any, list[Any]]] | None = None,
) -> Generator[tuple[str, int, int], None, None]:
    """Insert ``creates`` and update ``updates`` with what ``record_save`` would also do.

    Each updated instance's version is bumped by one here; every written row gets
    a history row (user, reason, time) and its change-feed entry, in batches.
    ``m2m`` maps a many-to-many field to ``{pk: [related…]}``: those sets replace
    the current ones, and their history is written with the row's history.
    """
    now = timezone.now()
    history = model.history  # type: ignore[attr-defined]
    m2m = m2m or {}
    total = len(creates) + len(updates)
    done = 0
    fields = sorted(set(update_fields) | {"version", "updated_at"})
    for obj in updates:
        obj.version += 1
        obj.updated_at = now
    for batch, created in [(b, True) for b in chunked(creates, BATCH)] + [(b, False) for b in chunked(updates, BATCH)]:
        if created:
            model._default_manager.bulk_create(batch)
        else:
            model._default_manager.bulk_update(batch, fields)
        _write_m2m(model, batch, m2m, created=created)
        rows = history.bulk_history_create(
            batch, update=not created, default_user=actor, default_change_reason=reason, default_date=now
        )
        _write_m2m_history(model, rows, m2m, batch)
        for obj in batch:
            obj.__dict__.pop("_prefetched_objects_cache", None)
        if m2m:
            prefetch_related_objects(batch, *m2m.keys())
        changes_record(objects=batch)
        done += len(batch)
        yield ("write", done, total)


def _write_m2m(
    model: type[models.Model], batch: list[Any], m2m: dict[str, dict[Any, list[Any]]], *, created: bool
) -> None:
    for name, wanted in m2m.items():
        m2m_field = model._meta.get_field(name)
        through = m2m_field.remote_field.through
        source = m2m_field.m2m_field_name()
        target = m2m_field.m2m_reverse_field_name()
        pks = [obj.pk for obj in batch if obj.pk in wanted]
        if not pks:
            continue
        if not created:
            through.objects.filter(**{f"{source}__in": pks}).delete()
        through.objects.bulk_create(
            [through(**{f"{source}_id": pk, f"{target}_id": rel.pk}) for pk in pks for rel in wanted[pk]]
        )


def _write_m2m_history(
    model: type[models.Model], rows: Sequence[Any], m2m: dict[str, dict[Any, list[Any]]], batch: list[Any]
) -> None:
    """History rows of the many-to-many sets, as simple-history writes them on a save:
    a copy of each through row (its id included) tied to the new history row."""
    if not m2m or not rows:
        return
    history_model = model.history.model  # type: ignore[attr-defined]
    pks = [obj.pk for obj in batch]
    for name in m2m:
        m2m_history = apps.get_model(history_model._meta.app_label, f"{history_model.__name__}_{name}")
        m2m_field = model._meta.get_field(name)
        through = m2m_field.remote_field.through
        source = m2m_field.m2m_field_name()
        target = m2m_field.m2m_reverse_field_name()
        current: dict[Any, list[tuple[Any, Any]]] = defaultdict(list)
        for through_id, src, dst in through.objects.filter(**{f"{source}_id__in": pks}).values_list(
            "id", f"{source}_id", f"{target}_id"
        ):
            current[src].append((through_id, dst))
        items = [
            m2m_history(**{"history": row, "id": through_id, f"{source}_id": row.id, f"{target}_id": dst})
            for row in rows
            if row.pk is not None  # a database that does not return ids from bulk inserts
            for through_id, dst in current.get(row.id, [])
        ]
        m2m_history.objects.bulk_create(items)


def current_m2m(model: type[models.Model], name: str, pks: list[Any]) -> dict[Any, list[Any]]:
    if not pks:
        return {}
    m2m_field = model._meta.get_field(name)
    through = m2m_field.remote_field.through
    source = m2m_field.m2m_field_name()
    target = m2m_field.m2m_reverse_field_name()
    result: dict[Any, list[Any]] = defaultdict(list)
    for batch in chunked(pks):
        for src, dst in through.objects.filter(**{f"{source}_id__in": batch}).values_list(
            f"{source}_id", f"{target}_id"
        ):
            result[src].append(dst)
    return result
