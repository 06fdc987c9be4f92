"""Set-based writes of synced records with the same effects as ``crm.records.record_save``.

``record_save`` costs several queries per record (validation, insert, history,
many-to-many, change feed). An import of 10,000 rows or a bulk request of 1000
cannot afford that, so this module writes batches: the rows, their history rows
(with the many-to-many history simple-history writes on a save), the version
bumped by one on every updated record, and the change feed moved for the whole
batch. Validation is the caller's job (the importers and the API check every item
first); the database constraints still guard.

On PostgreSQL a batch costs a fixed handful of statements whatever its size: new
rows are COPYed in, changed rows are updated from arrays in one ``UPDATE … FROM
unnest(…)``, and the history is copied from the rows just written by one
``INSERT … SELECT`` that also writes the many-to-many history (so no row travels
back to Python). Elsewhere (SQLite) the ORM's ``bulk_create``, one prepared
``UPDATE`` run for every changed row (:func:`many_update`) and simple-history's
``bulk_history_create`` do the same. Tests hold both paths to
the rows and history that ``bulk_create`` and simple-history write.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from django.apps import apps
from django.db import connection, models
from django.utils import timezone

from crm.changes import changes_lock_for_render, changes_record
from crm.pg import array_literal, column_type, json_rows, recordset
from crm.records import history_actor

BATCH = 1000
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
    a history row (``actor`` if signed in, reason, time) and its change-feed entry, in batches.
    ``m2m`` maps a many-to-many field to ``{pk: [related…]}``: those sets replace
    the current ones, and their history is written with the row's history.
    """
    now = timezone.now()
    actor = history_actor(actor)
    history = model.history  # type: ignore[attr-defined]
    m2m = m2m or {}
    total = len(creates) + len(updates)
    done = 0
    fields = sorted(set(update_fields) | {"version", "updated_at"})
    for obj in updates:
        obj.version += 1
        obj.updated_at = now
    postgres = connection.vendor == "postgresql"
    # Every render lock the batches will need, at once and in key order: taken batch by
    # batch, two large writers could each hold a part the other's next batch needs.
    changes_lock_for_render(objects=[*creates, *updates])
    for batch, created in [(b, True) for b in chunked(creates, BATCH)] + [(b, False) for b in chunked(updates, BATCH)]:
        if postgres:
            if created:
                _pg_insert(model, batch, now)
            else:
                _pg_update(model, batch, fields)
            _write_m2m(model, batch, m2m, created=created)
            _pg_history(model, batch, m2m, created=created, actor=actor, reason=reason, now=now)
        else:
            if created:
                model._default_manager.bulk_create(batch)
            else:
                many_update(model, batch, fields)
            _write_m2m(model, batch, m2m, created=created)
            rows = history.bulk_history_create(
                batch, update=not created, default_user=actor, default_change_reason=reason, default_date=now
            )
            m2m_history_write(model, rows, m2m, batch)
        for obj in batch:
            obj.__dict__.pop("_prefetched_objects_cache", None)
        changes_record(objects=batch, created=created)
        done += len(batch)
        yield ("write", done, total)


# Field types whose Python values psycopg sends as they are (what ``get_db_prep_save``
# returns for them on PostgreSQL); any other field's values go through it.
_AS_IS = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "EmailField",
        "ForeignKey",
        "IntegerField",
        "OneToOneField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SlugField",
        "SmallIntegerField",
        "TextField",
        "URLField",
        "UUIDField",
    }
)


def _getters(fields: Sequence[models.Field]) -> list[Any]:
    def prepared(field: models.Field) -> Any:
        return lambda obj: field.get_db_prep_save(getattr(obj, field.attname), connection)

    def timestamp(field: models.Field) -> Any:
        # An aware datetime is what get_db_prep_save returns it as; anything else goes through it.
        def get(obj: Any) -> Any:
            value = getattr(obj, field.attname)
            if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
                return value
            return field.get_db_prep_save(value, connection)

        return get

    def decimal(field: models.Field) -> Any:
        # A Decimal goes as it is (to_python gives it back, adapt_decimalfield_value too).
        def get(obj: Any) -> Any:
            value = getattr(obj, field.attname)
            if value is None or isinstance(value, Decimal):
                return value
            return field.get_db_prep_save(value, connection)

        return get

    getters = []
    for f in fields:
        kind = f.get_internal_type()
        if kind in _AS_IS:
            getters.append(lambda obj, attname=f.attname: getattr(obj, attname))
        elif kind == "DateTimeField":
            getters.append(timestamp(f))
        elif kind == "DecimalField":
            getters.append(decimal(f))
        else:
            getters.append(prepared(f))
    return getters


def _row_getter(fields: Sequence[models.Field]) -> Callable[[Any], Sequence[Any]]:
    """The values of ``fields`` of an object as :func:`_getters` gives them, read at once by
    ``attrgetter`` (most fields go as they are) and the others prepared one by one."""
    getters = _getters(fields)
    read = attrgetter(*(f.attname for f in fields))
    prepared = [
        (i, get) for i, (f, get) in enumerate(zip(fields, getters, strict=True)) if f.get_internal_type() not in _AS_IS
    ]
    if len(fields) == 1:
        return lambda obj: [get(obj) for get in getters]
    if not prepared:
        return read

    def row(obj: Any) -> list[Any]:
        values = list(read(obj))
        for i, get in prepared:
            values[i] = get(obj)
        return values

    return row


def _pg_insert(
    model: type[models.Model], batch: list[Any], now: Any, *, written_as: Mapping[Any, Mapping[str, Any]] | None = None
) -> None:
    """COPY new rows in, with what ``bulk_create``'s ``pre_save`` would set (auto_now times).

    ``written_as`` gives some rows other values than their objects hold ({pk: {attname: value}}):
    the objects keep theirs."""
    fields = [f for f in model._meta.concrete_fields if not f.generated]
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for obj in batch:
                setattr(obj, field.attname, now)
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    row = _row_getter(fields)
    # COPY runs on psycopg's own cursor: its errors (a unique key taken by a concurrent
    # writer) become Django's (IntegrityError) only inside wrap_database_errors.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.copy(f"COPY {qn(model._meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for obj in batch:
            values = written_as.get(obj.pk) if written_as else None
            if values:
                held = {name: getattr(obj, name) for name in values}
                for name, value in values.items():
                    setattr(obj, name, value)
                copy.write_row(row(obj))
                for name, value in held.items():
                    setattr(obj, name, value)
            else:
                copy.write_row(row(obj))
    for obj in batch:
        obj._state.adding = False
        obj._state.db = connection.alias


def _pg_update(model: type[models.Model], batch: list[Any], names: Iterable[str]) -> None:
    """One ``UPDATE … FROM json_to_recordset(…)`` for the batch: each row's own values of ``names``."""
    pk = model._meta.pk
    fields = [pk, *(model._meta.get_field(name) for name in names)]
    qn = connection.ops.quote_name
    getters = _getters(fields)
    rows = json_rows({f.column: get(obj) for f, get in zip(fields, getters, strict=True)} for obj in batch)
    sets = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in fields[1:])
    table = qn(model._meta.db_table)
    source = recordset("v", [(f.column, column_type(f)) for f in fields])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {sets} FROM {source} WHERE {table}.{qn(pk.column)} = v.{qn(pk.column)}", [rows]
        )


def many_update(model: type[models.Model], batch: list[Any], names: Iterable[str]) -> None:
    """Each row's own values of ``names``, one prepared ``UPDATE`` run for the whole batch
    (SQLite; ``bulk_update``'s ``CASE WHEN`` grows with the batch in every column)."""
    pk = model._meta.pk
    fields = [model._meta.get_field(name) for name in names]
    qn = connection.ops.quote_name
    sets = ", ".join(f"{qn(f.column)} = %s" for f in fields)
    sql = f"UPDATE {qn(model._meta.db_table)} SET {sets} WHERE {qn(pk.column)} = %s"
    rows = [
        [
            *(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields),
            pk.get_db_prep_save(obj.pk, connection),
        ]
        for obj in batch
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _pg_history(
    model: type[models.Model],
    batch: list[Any],
    m2m: dict[str, dict[Any, list[Any]]],
    *,
    created: bool,
    actor: Any,
    reason: str | None,
    now: Any,
    overrides: Sequence[str] = (),
) -> None:
    """The batch's history rows copied from the rows just written, and the copies of
    their many-to-many rows tied to them, in one statement. The fields ``overrides``
    are taken from the objects in memory instead (a state the row passed through in
    this transaction without being written in it)."""
    history_model = model.history.model  # type: ignore[attr-defined]
    qn = connection.ops.quote_name
    tracked = [f.column for f in history_model._meta.concrete_fields if not f.name.startswith("history_")]
    columns = ", ".join(qn(c) for c in tracked)
    table = qn(model._meta.db_table)
    pk = qn(model._meta.pk.column)
    ids = array_literal(o.pk for o in batch)
    where = f"WHERE {table}.{pk} = ANY(%s::{model._meta.pk.db_type(connection)}[])"
    params: list[Any] = [now, reason, "+" if created else "~", getattr(actor, "pk", None)]
    source, selected = table, columns
    if overrides:
        fields = [model._meta.pk, *(model._meta.get_field(name) for name in overrides)]
        taken = {f.column for f in fields[1:]}
        selected = ", ".join(f"v.{qn(c)}" if c in taken else f"{table}.{qn(c)}" for c in tracked)
        source = f"{table} JOIN {recordset('v', [(f.column, column_type(f)) for f in fields])} ON v.{pk} = {table}.{pk}"
        getters = _getters(fields)
        params.append(json_rows({f.column: get(obj) for f, get in zip(fields, getters, strict=True)} for obj in batch))
        where = ""  # the join names the rows
    else:
        params.append(ids)
    sql = [
        f"""WITH h AS (
            INSERT INTO {qn(history_model._meta.db_table)}
                ({columns}, history_date, history_change_reason, history_type, history_user_id)
            SELECT {selected}, %s, %s, %s, %s FROM {source}
            {where}
            RETURNING history_id, {pk} AS owner
        )"""
    ]
    for index, name in enumerate(m2m):
        m2m_field = model._meta.get_field(name)
        through = m2m_field.remote_field.through
        m2m_history = apps.get_model(history_model._meta.app_label, f"{history_model.__name__}_{name}")
        source = through._meta.get_field(m2m_field.m2m_field_name()).column
        target = through._meta.get_field(m2m_field.m2m_reverse_field_name()).column
        sql.append(
            f""", m{index} AS (
            INSERT INTO {qn(m2m_history._meta.db_table)} (id, {qn(source)}, history_id, {qn(target)})
            SELECT t.id, t.{qn(source)}, h.history_id, t.{qn(target)}
            FROM h JOIN {qn(through._meta.db_table)} t ON t.{qn(source)} = h.owner
            WHERE t.{qn(source)} = ANY(%s::{model._meta.pk.db_type(connection)}[])
        )"""
        )
        # The batch's ids again: the through rows are found by their index, not by
        # hashing the whole through table (which grows with the directory).
        params.append(ids)
    sql.append(" SELECT count(*) FROM h")
    with connection.cursor() as cursor:
        cursor.execute("".join(sql), params)


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
        pairs = [(pk, rel.pk) for pk in pks for rel in wanted[pk]]
        if connection.vendor == "postgresql":
            qn = connection.ops.quote_name
            a, b = through._meta.get_field(source), through._meta.get_field(target)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {qn(through._meta.db_table)} ({qn(a.column)}, {qn(b.column)}) "
                    f"SELECT r.a, r.b FROM {recordset('r', [('a', column_type(a)), ('b', column_type(b))])}",
                    [json_rows({"a": x, "b": y} for x, y in pairs)],
                )
        else:
            through.objects.bulk_create([through(**{f"{source}_id": a, f"{target}_id": b}) for a, b in pairs])


def m2m_history_write(
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
        for src, dst in through.objects.filter(**{f"{source}_id__in_array": batch}).values_list(
            f"{source}_id", f"{target}_id"
        ):
            result[src].append(dst)
    return result
