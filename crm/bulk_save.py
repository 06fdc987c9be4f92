"""``record_save`` for a whole batch: the rows, versions, history and feed that saving
each record on its own would leave, in a fixed number of statements.

A single save (``crm.records.record_save``) writes the row and its history row,
then sets each many-to-many field, and simple-history writes one more history row
(a ``~`` with the links as they are then) for each step of ``set()`` that changed
links: after the removals, after the additions. :func:`records_save` writes the
same sequence of history rows for a batch, one statement (or one COPY) per step
and not per record, on top of ``crm.records_bulk``'s COPY / one-UPDATE / history
copied in SQL (the ORM's bulk methods and simple-history's bulk history on
SQLite). Validation is the caller's; the database constraints still guard.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connection, models
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from crm.changes import changes_record
from crm.pg import column_type, json_rows, recordset
from crm.records import history_actor
from crm.records_bulk import (
    _pg_history,
    _pg_insert,
    _pg_update,
    chunked,
    current_m2m,
    m2m_history_write,
    many_update,
)

M = TypeVar("M", bound=models.Model)

# Rows per statement: a bulk request's 1000 projects bring 4000 service-level follow-ups.
BATCH = 5000


@dataclass(frozen=True, slots=True)
class Upserted:
    """One item of a bulk upsert: its partner id, its record's id and whether it was created."""

    external_id: str
    id: uuid.UUID
    created: bool


class BulkItemErrors(Exception):
    """Items that cannot be written, by their index in the request; nothing was written."""

    def __init__(self, errors: dict[int, Exception]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} invalid item(s)")


def instance_factory(model: type[M], **common: Any) -> Callable[[], M]:
    """New unsaved instances of ``model``, each as ``model(**common)`` would build it.

    ``Model.__init__`` walks every field (defaults, descriptors, signals) for each
    instance: for a batch of 1000 records of twenty fields that is a noticeable part
    of a bulk request. Here one prototype is built by ``__init__`` and each instance
    copies its field values, with its own state and a fresh primary key. Where that
    would not give what ``__init__`` gives (something listens to the model's init
    signals, or a field other than the key has a callable default that must be
    called per instance) every instance is built by ``__init__``.
    """
    meta = model._meta
    pk = meta.pk
    plain = (
        not pre_init.has_listeners(model)
        and not post_init.has_listeners(model)
        and pk is not None
        and callable(pk.default)
        and not any(f is not pk and f.has_default() and callable(f.default) for f in meta.concrete_fields)
    )
    if not plain:
        return lambda: model(**common)
    prototype = model(**common)
    values = {k: v for k, v in prototype.__dict__.items() if k != "_state"}
    cache = dict(prototype._state.fields_cache)
    attname, default, new = pk.attname, pk.default, model.__new__

    def build() -> M:
        obj = new(model)
        obj.__dict__.update(values)
        state = ModelState()
        state.fields_cache = dict(cache)
        obj._state = state
        obj.__dict__[attname] = default()
        return obj

    return build


def existing_by_external_id(model: type[models.Model], *, office: Any, external_ids: Sequence[str]) -> dict[str, Any]:
    """``office``'s records of ``model`` named by ``external_ids``, locked (no-key) in pk order."""
    found: dict[str, Any] = {}
    for batch in chunked(external_ids):
        for obj in (
            model._default_manager.select_for_update(no_key=True, of=("self",))
            .filter(office=office, external_id__in_array=batch)
            .exclude(external_id="")
            .order_by("pk")
        ):
            found[obj.external_id] = obj
    return found


def values_differ(obj: models.Model, values: dict[str, Any], m2m_now: dict[str, dict[Any, list[Any]]]) -> bool:
    """Would writing ``values`` change ``obj``? Many-to-many values compare as sets of ids
    against ``m2m_now`` ({field: {pk: [related ids]}}), the rest as the API's upsert compares them."""
    for name, value in values.items():
        if name in m2m_now:
            if set(m2m_now[name].get(obj.pk, ())) != {v.pk for v in value}:
                return True
            continue
        current = getattr(obj, name)
        if isinstance(value, models.Model) or isinstance(current, models.Model):
            if getattr(current, "pk", None) != getattr(value, "pk", None):
                return True
        elif current != value:
            return True
    return False


def values_set(obj: models.Model, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(obj, name, value)


def columns_of(items: Sequence[dict[str, Any]], exclude: Sequence[str] = ()) -> list[str]:
    """Every field any item sets (each updated row is written with its own values of them)."""
    names: dict[str, None] = {}
    for item in items:
        names.update(dict.fromkeys(item))
    return [name for name in names if name not in exclude]


def records_save(
    *,
    model: type[models.Model],
    creates: Sequence[Any],
    updates: Sequence[Any],
    update_fields: Iterable[str],
    actor: Any,
    reason: str | None = None,
    m2m: dict[str, dict[Any, list[Any]]] | None = None,
    m2m_now: dict[str, dict[Any, list[Any]]] | None = None,
    now: Any = None,
    feed: bool = True,
    written_as: Mapping[Any, Mapping[str, Any]] | None = None,
) -> None:
    """Insert ``creates`` and update ``updates`` (version +1 each) as ``record_save`` would.

    ``m2m`` maps a many-to-many field to ``{pk: [related…]}``, the sets to give the
    records it names; ``m2m_now`` holds the current sets of the updated records
    ({field: {pk: [related ids]}}). History rows, as one save each would write them:
    the row's ``+`` or ``~``, then for every field whose links change a ``~`` after
    the removals and a ``~`` after the additions, each a copy of the row and its links
    at that point. One change-feed entry per record.

    ``written_as`` ({pk: {attname: value}}, PostgreSQL only) inserts some new rows as the
    caller will leave them by the end of the transaction (a new project's pipeline walk),
    so that they are not updated again: their history rows take those fields from the
    objects in memory, which still hold the state being saved now.
    """
    if not creates and not updates:
        return
    now = now or timezone.now()
    actor = history_actor(actor)
    m2m = m2m or {}
    m2m_now = m2m_now or {}
    tracked = _tracked_m2m(model)
    fields = sorted(set(update_fields) | {"version", "updated_at"})
    for obj in updates:
        obj.version += 1
        obj.updated_at = now
    postgres = connection.vendor == "postgresql"
    written_as = written_as if postgres else None
    overrides = sorted({name for values in written_as.values() for name in values}) if written_as else []
    for batch in chunked(creates, BATCH):
        if postgres:
            _pg_insert(model, batch, now, written_as=written_as)
        else:
            model._default_manager.bulk_create(batch)
    for batch in chunked(updates, BATCH):
        if postgres:
            _pg_update(model, batch, fields)
        else:
            many_update(model, batch, fields)
    _history(model, creates, created=True, actor=actor, reason=reason, now=now, tracked=tracked, overrides=overrides)
    _history(model, updates, created=False, actor=actor, reason=reason, now=now, tracked=tracked)
    by_pk = {obj.pk: obj for obj in [*creates, *updates]}
    for name, wanted in m2m.items():
        current = m2m_now.get(name, {})
        removes: dict[Any, list[Any]] = {}
        adds: dict[Any, list[Any]] = {}
        for pk, related in wanted.items():
            if pk not in by_pk:
                continue
            old = set(current.get(pk, ()))
            new_ids = [r.pk for r in related]
            gone = [r for r in old if r not in set(new_ids)]
            added = [r for r in dict.fromkeys(new_ids) if r not in old]
            if gone:
                removes[pk] = gone
            if added:
                adds[pk] = added
        for changes, write in ((removes, _m2m_remove), (adds, _m2m_add)):
            if changes:
                write(model, name, changes)
                _history(
                    model,
                    [by_pk[pk] for pk in changes],
                    created=False,
                    actor=actor,
                    reason=reason,
                    now=now,
                    tracked=tracked,
                    overrides=overrides,
                )
    for obj in by_pk.values():
        obj.__dict__.pop("_prefetched_objects_cache", None)
    if feed:
        feed_record(creates=creates, updates=updates)


def feed_record(*, creates: Sequence[Any], updates: Sequence[Any]) -> None:
    """The change-feed entries of records just written, in batches. A caller writing the same
    records several times in one transaction (a project walking the pipeline) passes
    ``feed=False`` to :func:`records_save` and records them once at the end: each record
    has one entry, and only the last write's stays."""
    for batch in chunked(creates, BATCH):
        changes_record(objects=batch, created=True)
    for batch in chunked(updates, BATCH):
        changes_record(objects=batch)


def rows_insert(model: type[models.Model], objs: Sequence[Any]) -> None:
    """Insert plain rows (no version, history or feed: a status history row, say) by COPY."""
    now = timezone.now()
    for batch in chunked(objs, BATCH):
        if connection.vendor == "postgresql":
            _pg_insert(model, batch, now)
        else:
            model._default_manager.bulk_create(batch)


def rows_update(model: type[models.Model], objs: Sequence[Any], names: Sequence[str]) -> None:
    """Update the columns ``names`` of rows already written (no version, history or feed), in batches."""
    for batch in chunked(objs, BATCH):
        if connection.vendor == "postgresql":
            _pg_update(model, batch, names)
        else:
            many_update(model, batch, names)


def _tracked_m2m(model: type[models.Model]) -> list[str]:
    """The many-to-many fields simple-history copies into each history row of ``model``."""
    history = model.history  # type: ignore[attr-defined]
    names = getattr(history.model, "_history_m2m_fields", None)
    if names is None:
        return []
    return [f.name for f in names]


def _history(
    model: type[models.Model],
    objs: Sequence[Any],
    *,
    created: bool,
    actor: Any,
    reason: str | None,
    now: Any,
    tracked: list[str],
    overrides: Sequence[str] = (),
) -> None:
    """A history row for each of ``objs``, copied from its row and links as they are now
    (the fields ``overrides`` from the objects in memory; SQLite copies them all from memory)."""
    links = {name: {} for name in tracked}  # names only: the links are read where they are
    for batch in chunked(objs, BATCH):
        if connection.vendor == "postgresql":
            _pg_history(model, batch, links, created=created, actor=actor, reason=reason, now=now, overrides=overrides)
        else:
            rows = model.history.bulk_history_create(  # type: ignore[attr-defined]
                batch, update=not created, default_user=actor, default_change_reason=reason, default_date=now
            )
            m2m_history_write(model, rows, links, batch)


def history_record(
    model: type[models.Model], objs: Sequence[Any], *, actor: Any, now: Any, fields: Sequence[str]
) -> None:
    """A ``~`` history row for each of ``objs`` in a state it passed through without being
    saved in it: its row and links as written, ``fields`` as the objects hold them."""
    _history(
        model,
        objs,
        created=False,
        actor=history_actor(actor),
        reason=None,
        now=now,
        tracked=_tracked_m2m(model),
        overrides=fields,
    )


def _through(model: type[models.Model], name: str) -> tuple[Any, models.Field, models.Field]:
    m2m_field = model._meta.get_field(name)
    through = m2m_field.remote_field.through
    source = through._meta.get_field(m2m_field.m2m_field_name())
    target = through._meta.get_field(m2m_field.m2m_reverse_field_name())
    return through, source, target


def _pairs(changes: dict[Any, list[Any]]) -> list[tuple[Any, Any]]:
    return [(pk, rel) for pk, related in changes.items() for rel in related]


def _m2m_remove(model: type[models.Model], name: str, removes: dict[Any, list[Any]]) -> None:
    through, source, target = _through(model, name)
    pairs = _pairs(removes)
    if connection.vendor == "postgresql":
        qn = connection.ops.quote_name
        table = qn(through._meta.db_table)
        source_rows = recordset("r", [("a", column_type(source)), ("b", column_type(target))])
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} t USING {source_rows} "
                f"WHERE t.{qn(source.column)} = r.a AND t.{qn(target.column)} = r.b",
                [json_rows({"a": a, "b": b} for a, b in pairs)],
            )
        return
    by_owner: dict[Any, list[Any]] = {}
    for a, b in pairs:
        by_owner.setdefault(a, []).append(b)
    for owner, targets in by_owner.items():
        through.objects.filter(**{source.attname: owner, f"{target.attname}__in": targets}).delete()


def _m2m_add(model: type[models.Model], name: str, adds: dict[Any, list[Any]]) -> None:
    through, source, target = _through(model, name)
    pairs = _pairs(adds)
    if connection.vendor == "postgresql":
        qn = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {qn(through._meta.db_table)} ({qn(source.column)}, {qn(target.column)}) "
                f"SELECT r.a, r.b FROM {recordset('r', [('a', column_type(source)), ('b', column_type(target))])}",
                [json_rows({"a": a, "b": b} for a, b in pairs)],
            )
        return
    through.objects.bulk_create([through(**{source.attname: a, target.attname: b}) for a, b in pairs])


def m2m_now(model: type[models.Model], names: Iterable[str], objs: Sequence[Any]) -> dict[str, dict[Any, list[Any]]]:
    """The current many-to-many sets of ``objs`` ({field: {pk: [related ids]}}), one query a field."""
    pks = [obj.pk for obj in objs]
    return {name: current_m2m(model, name, pks) for name in names}
