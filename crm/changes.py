"""The change log behind the partners' change feed: record side and read side.

Every service that writes a synced record (enterprise, contact, interaction,
project, follow-up) calls :func:`changes_record` in the same transaction. The log
keeps one row per record, moved to a new position ``(txid, seq)`` on every write:

* ``txid`` is the writing transaction's id (``pg_current_xact_id()``);
* ``seq`` comes from a sequence, so it orders rows inside one transaction.

A reader only returns rows with ``txid`` below the horizon of its own snapshot
(:data:`HORIZON_SQL`): every transaction of this database with a smaller id has
finished, so no row can ever be added behind a position a client has already
passed, however concurrent writers interleave and in whatever order they commit. (A plain auto-increment or
``updated_at`` cursor fails exactly there: ids are allocated in one order and
committed in another.) On SQLite, writers are serialised by the database lock, so
allocation order is commit order and ``txid`` is 0.

The rendered record (``data``) is stored with the row, rendered by whatever the
API registered for the record's type, so reading the feed is a keyset scan. When
a record's rendering shows another record's fields (a project shows its
enterprise's name), the API registers those dependents too: writing the
enterprise moves its projects' rows as well, so ``data`` never goes stale. Writers
rendering records that share such a dependency serialise on a transaction-level
advisory lock taken *before* they render (``register_render_locks``): the later
writer renders after the earlier one has committed, so a concurrent rename and
project update can never leave a project's ``data`` with an old name or an old field.

Tombstones (``op = delete``) are kept at least 90 days; :func:`changes_purge_tombstones`
removes older ones and returns the highest position it removed, below which a
client's cursor can no longer be trusted to have seen every deletion.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.db import connection, models, transaction
from django.utils import timezone

from crm.models import ChangeEntry
from crm.pg import array_literal, json_rows, recordset

logger = logging.getLogger(__name__)

# model label (e.g. "crm.Contact") -> (feed type, renderer of a list of instances)
Renderer = Callable[[Sequence[models.Model]], list[dict[str, Any]]]
_TYPES: dict[str, str] = {
    "crm.Enterprise": "enterprise",
    "crm.Contact": "contact",
    "crm.Interaction": "interaction",
    "recruitment.Project": "project",
    "recruitment.FollowUp": "follow_up",
    "recruitment.ProgressEntry": "progress",
    "recruitment.SupervisionOrder": "supervision_order",
}
_RENDERERS: dict[str, Renderer] = {}
# model label -> functions returning the records whose rendering shows fields of the given ones
Dependents = Callable[[Sequence[models.Model]], Sequence[models.Model]]
_DEPENDENTS: dict[str, list[Dependents]] = {}
# model label -> functions naming the render locks a write of the given records must hold
RenderLocks = Callable[[Sequence[models.Model]], Iterable[str]]
_RENDER_LOCKS: dict[str, list[RenderLocks]] = {}


# Called after the commit of a transaction that wrote feed rows, once per transaction, with the
# offices whose rows it wrote (None: a row every office reads). Higher apps register them (push
# wakes its deliveries); a listener's failure is logged and never reaches the writer.
CommitListener = Callable[[frozenset[int | None]], None]
_COMMIT_LISTENERS: list[CommitListener] = []


def register_commit_listener(listener: CommitListener) -> None:
    if listener not in _COMMIT_LISTENERS:
        _COMMIT_LISTENERS.append(listener)


class _CommittedOffices:
    """The offices one transaction wrote feed rows for; called once, after its commit."""

    def __init__(self) -> None:
        self.offices: set[int | None] = set()
        self.called = False

    def __call__(self) -> None:
        self.called = True
        offices = frozenset(self.offices)
        for listener in list(_COMMIT_LISTENERS):
            try:
                listener(offices)
            except Exception:  # noqa: BLE001 - the write has committed; a listener only speeds things up
                logger.exception("change feed commit listener failed")


def changes_notify_commit(*, office_ids: Iterable[int | None]) -> None:
    """Tell the commit listeners, after this transaction commits, which offices' feed rows it wrote.

    One callback per transaction however many writes it makes: the callback already
    registered is found among the connection's on-commit callbacks (a rolled-back
    savepoint drops it, and the next write registers a new one).
    """
    if not _COMMIT_LISTENERS:
        return
    pending = getattr(connection, "_feed_committed_offices", None)
    if (
        pending is None
        or pending.called
        or not any(func is pending for _sids, func, _robust in connection.run_on_commit)
    ):
        pending = _CommittedOffices()
        pending.offices.update(office_ids)
        connection._feed_committed_offices = pending  # type: ignore[attr-defined]
        transaction.on_commit(pending)  # outside a transaction: at once
        return
    pending.offices.update(office_ids)


def change_type_for(model: type[models.Model]) -> str:
    return _TYPES[model._meta.label]


def register_renderer(model_label: str, renderer: Renderer) -> None:
    """Register how a record is rendered into the feed (the API registers its serializers)."""
    _RENDERERS[model_label] = renderer


def register_dependents(model_label: str, dependents: Dependents) -> None:
    """Register which records must be re-rendered into the feed when one of ``model_label`` changes."""
    registered = _DEPENDENTS.setdefault(model_label, [])
    if dependents not in registered:
        registered.append(dependents)


def register_render_locks(model_label: str, locks: RenderLocks) -> None:
    """Register the names of the locks to hold while rendering records of ``model_label``.

    Two writers whose renderings read the same record (a project and its enterprise)
    name the same lock; it is held to the end of the transaction (PostgreSQL only).
    """
    registered = _RENDER_LOCKS.setdefault(model_label, [])
    if locks not in registered:
        registered.append(locks)


# Render locks are striped: a name maps to one of this many advisory locks. A write of
# 100,000 records (an import) then holds at most this many locks, not one per record:
# PostgreSQL's lock table (``max_locks_per_transaction`` × connections, shared by every
# database of the server) would otherwise run out ("out of shared memory"). Two writers
# of unrelated records share a stripe once in this many times and then take turns.
RENDER_LOCK_STRIPES = 1024
# The stripes are ``(class, stripe)`` advisory locks: a key space of their own, apart
# from the 64-bit keys of the other advisory locks.
RENDER_LOCK_CLASS = 0x52454E44  # "REND"


def _lock_for_render(objects: Sequence[models.Model]) -> None:
    names = {name for locks in _RENDER_LOCKS.get(objects[0]._meta.label, ()) for name in locks(objects)}
    if not names or not _is_postgres():
        return
    keys = sorted(
        {
            int.from_bytes(hashlib.sha256(f"render:{n}".encode()).digest()[:8], "big") % RENDER_LOCK_STRIPES
            for n in names
        }
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::int[]) AS k ORDER BY k",
            [RENDER_LOCK_CLASS, array_literal(keys)],
        )


def changes_lock_for_render(*, objects: Sequence[models.Model]) -> None:
    """Take the render locks a feed write of ``objects`` will need, before locking anything else.

    A writer that locks other rows first and only then records its changes can
    deadlock against a writer that took a render lock first; taking them early
    keeps the order the same everywhere.
    """
    if objects:
        _lock_for_render(objects)


def _json(data: dict[str, Any] | None) -> str | None:
    if data is None:
        return None
    return orjson.dumps(data, default=str).decode()


def _render(objects: Sequence[models.Model]) -> list[dict[str, Any] | None]:
    if not objects:
        return []
    renderer = _RENDERERS.get(objects[0]._meta.label)
    if renderer is None:
        return [None] * len(objects)
    return list(renderer(objects))


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def changes_record(*, objects: Sequence[models.Model], op: str = ChangeEntry.Op.UPSERT, created: bool = False) -> None:
    """Move the feed rows of ``objects`` (all of one model) to the head of the feed.

    Must run inside the transaction that wrote the objects. For ``delete`` the row
    becomes a tombstone (``data`` null) carrying the office that may see it.
    ``created`` says every object was just inserted: no other record can show one
    yet, so their dependents are not looked for.
    """
    if not objects:
        return
    model = type(objects[0])
    type_name = change_type_for(model)
    if op == ChangeEntry.Op.UPSERT:
        _lock_for_render(objects)
        data = _render(objects)
    else:
        data = [None] * len(objects)
    now = timezone.now()
    offices = [getattr(obj, "office_id", None) if type_name != "enterprise" else None for obj in objects]
    # Stable lock order across writers: always by (type, object_id).
    order = sorted(range(len(objects)), key=lambda i: str(objects[i].pk))
    table = ChangeEntry._meta.db_table
    with connection.cursor() as cursor:
        if _is_postgres():
            # One statement for the batch, the rows as one JSON parameter (crm.pg), in lock order.
            rows = json_rows({"object_id": objects[i].pk, "office_id": offices[i], "data": data[i]} for i in order)
            source = recordset("r", [("object_id", "uuid"), ("office_id", "bigint"), ("data", "json")])
            cursor.execute(
                f"""
                INSERT INTO {table} (type, object_id, office_id, op, data, changed_at, txid, seq)
                SELECT %s, r.object_id, r.office_id, %s, r.data, %s,
                       pg_current_xact_id()::text::bigint, nextval('crm_changeentry_seq')
                FROM {source}
                ON CONFLICT (type, object_id) DO UPDATE SET
                    office_id = EXCLUDED.office_id, op = EXCLUDED.op, data = EXCLUDED.data,
                    changed_at = EXCLUDED.changed_at, txid = EXCLUDED.txid, seq = EXCLUDED.seq
                """,
                [type_name, op, now, rows],
            )
        else:
            cursor.executemany(
                f"""
                INSERT INTO {table} (type, object_id, office_id, op, data, changed_at, txid, seq)
                VALUES (%s, %s, %s, %s, %s, %s, 0,
                        (SELECT COALESCE(MAX(seq), 0) + 1 FROM {table}))
                ON CONFLICT (type, object_id) DO UPDATE SET
                    office_id = excluded.office_id, op = excluded.op, data = excluded.data,
                    changed_at = excluded.changed_at, txid = excluded.txid, seq = excluded.seq
                """,
                [(type_name, str(objects[i].pk).replace("-", ""), offices[i], op, _json(data[i]), now) for i in order],
            )
    changes_notify_commit(office_ids=offices)
    if op == ChangeEntry.Op.UPSERT and not created:
        for dependents in _DEPENDENTS.get(model._meta.label, ()):
            changes_record(objects=list(dependents(objects)))


# The feed's horizon, as one SQL expression: the oldest transaction that was running when
# the statement's snapshot was taken (``pg_snapshot_xip``; ``xmax`` when none was), leaving
# out those that are known to run in *another* database of the server. Transaction ids are
# unique across the server and a transaction writes to one database only, so another
# database's transaction can never add a row here, and a long one there (a report, a backup,
# another application) no longer holds this feed back. A transaction whose database cannot
# be told (it ended meanwhile; a prepared one; a session this role may not see) counts as
# ours: the horizon only ever errs towards waiting, as ``pg_snapshot_xmin`` did.
HORIZON_SQL = """(
    SELECT COALESCE(
        (
            SELECT MIN(x) FROM pg_snapshot_xip(s) AS x
            WHERE x::xid NOT IN (
                SELECT backend_xid FROM pg_stat_activity
                WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database()
            )
        ),
        pg_snapshot_xmax(s)
    )::text::bigint
    FROM pg_current_snapshot() AS s
)"""


def changes_visible_horizon() -> int | None:
    """The ``txid`` below which every transaction of this database has finished (None: no limit, SQLite)."""
    if not _is_postgres():
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {HORIZON_SQL}")
        return int(cursor.fetchone()[0])


@dataclass(frozen=True, slots=True)
class Position:
    txid: int
    seq: int

    def encode(self) -> str:
        return f"{self.txid}.{self.seq}"

    @classmethod
    def decode(cls, raw: str) -> Position:
        txid, _, seq = raw.partition(".")
        return cls(int(txid), int(seq))


def changes_after(
    *, after: Position | None, office_ids: Iterable[int] | None, limit: int
) -> tuple[list[ChangeEntry], Position | None]:
    """Feed rows after ``after`` visible to the given offices (None: all), oldest first.

    Returns the rows and the position to continue from (the last row's, or
    ``after`` unchanged when there is nothing new yet).
    """
    horizon = changes_visible_horizon()
    qs = ChangeEntry.objects.all()
    if horizon is not None:
        qs = qs.filter(txid__lt=horizon)
    if after is not None:
        qs = qs.filter(models.Q(txid__gt=after.txid) | models.Q(txid=after.txid, seq__gt=after.seq))
    if office_ids is not None:
        qs = qs.filter(models.Q(office__isnull=True) | models.Q(office_id__in=list(office_ids)))
    rows = list(qs.order_by("txid", "seq")[:limit])
    if rows:
        return rows, Position(rows[-1].txid, rows[-1].seq)
    return rows, after


# A row of the feed as the API serves it: the JSON of ``data`` stays text, never parsed.
FeedRow = tuple[int, int, str, str, str, str | None]


def _after_filter(after: Position | None, office_ids: Iterable[int] | None) -> tuple[str, list[Any]]:
    """The keyset condition of a feed page: past ``after``, visible to the offices (None: all)."""
    txid, seq = (after.txid, after.seq) if after is not None else (-1, -1)
    if office_ids is None:
        return "(txid, seq) > (%s, %s)", [txid, seq]
    ids = list(office_ids)
    offices = ", ".join(["%s"] * len(ids)) or "NULL"
    return f"(txid, seq) > (%s, %s) AND (office_id IS NULL OR office_id IN ({offices}))", [txid, seq, *ids]


def changes_page(*, after: Position | None, office_ids: Iterable[int] | None, limit: int) -> list[FeedRow]:
    """Feed rows after ``after`` visible to the offices (None: all), oldest first, as
    ``(txid, seq, type, object_id, op, data_json)``.

    One keyset query; the visibility horizon is taken in the same statement, from
    the statement's own snapshot.
    """
    table = ChangeEntry._meta.db_table
    after_sql, params = _after_filter(after, office_ids)
    if _is_postgres():
        sql = f"""
            SELECT txid, seq, type, object_id::text, op, data::text FROM {table}
            WHERE txid < {HORIZON_SQL} AND {after_sql}
            ORDER BY txid, seq LIMIT %s
        """
    else:
        sql = f"""
            SELECT txid, seq, type, object_id, op, data FROM {table}
            WHERE {after_sql}
            ORDER BY txid, seq LIMIT %s
        """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        rows = cursor.fetchall()
    if not _is_postgres():
        rows = [(t, s, ty, str(uuid.UUID(str(oid))), o, d) for (t, s, ty, oid, o, d) in rows]
    return rows


def changes_purge_tombstones(*, before: datetime) -> Position | None:
    """Delete tombstones written before ``before``; the highest position deleted, or None.

    Callers keep tombstones at least 90 days and remember the returned position: a
    client whose cursor is below it may have missed one of the deletions.
    """
    table = ChangeEntry._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        if _is_postgres():
            cursor.execute(
                f"""
                WITH purged AS (
                    DELETE FROM {table} WHERE op = %s AND changed_at < %s RETURNING txid, seq
                )
                SELECT txid, seq FROM purged ORDER BY txid DESC, seq DESC LIMIT 1
                """,
                [ChangeEntry.Op.DELETE, before],
            )
            last = cursor.fetchone()
        else:
            rows = ChangeEntry.objects.filter(op=ChangeEntry.Op.DELETE, changed_at__lt=before)
            last = rows.order_by("-txid", "-seq").values_list("txid", "seq").first()
            rows.delete()
    return Position(int(last[0]), int(last[1])) if last else None


# An enterprise's external_id is its creating office's own (crm.access): the feed row is
# shared by every office, so another office reads it as null. Renderings are stored as
# written, compact and in key order, starting {"id":"<uuid>","external_id":<string or null>;
# only that value is replaced, so the keys keep their order and no JSON is parsed.
_EXTERNAL_ID_VALUE = r'^(\{"id":"[0-9a-f-]{36}","external_id":)(?:"(?:[^"\\]|\\.)*"|null)'
_EXTERNAL_ID_NULL = r"\1null"


def _office_marker(office_code: str) -> str:
    """The text that is in an enterprise's stored rendering exactly when ``office_code`` created it."""
    return ',"office":' + orjson.dumps(office_code).decode() + ","


def _hide_external_id(data: str, office_code: str) -> str:
    """The Python twin of the SQL in :func:`changes_page_json` (SQLite, the embedded default)."""
    if _office_marker(office_code) in data:
        return data
    item = orjson.loads(data)
    item["external_id"] = None
    return orjson.dumps(item).decode()


def changes_page_json(
    *,
    after: Position | None,
    office_ids: Iterable[int] | None,
    limit: int,
    cursor_prefix: str = "",
    reader_office_code: str | None = None,
) -> list[tuple[int, int, bytes]]:
    """Like :func:`changes_page`, each entry already as its JSON object (bytes), built by
    PostgreSQL: ``{"cursor", "type", "id", "op", "data"}`` with ``cursor`` =
    ``<cursor_prefix><txid>.<seq>``. Draining the feed then costs no JSON work in Python.

    With ``reader_office_code`` an enterprise created by another office shows
    ``"external_id": null``.
    """
    if not _is_postgres():

        def data_json(ty: str, d: Any) -> bytes:
            text = d if isinstance(d, str) or d is None else orjson.dumps(d).decode()
            if text is None:
                return b"null"
            if reader_office_code is not None and ty == "enterprise":
                text = _hide_external_id(text, reader_office_code)
            return text.encode()

        return [
            (
                t,
                s,
                orjson.dumps({"cursor": f"{cursor_prefix}{t}.{s}", "type": ty, "id": oid, "op": o})[:-1]
                + b',"data":'
                + data_json(ty, d)
                + b"}",
            )
            for (t, s, ty, oid, o, d) in changes_page(after=after, office_ids=office_ids, limit=limit)
        ]
    sql, params = changes_page_json_sql(
        after=after,
        office_ids=office_ids,
        limit=limit,
        cursor_prefix=cursor_prefix,
        reader_office_code=reader_office_code,
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT txid, seq, convert_to(entry, 'UTF8') FROM ({sql}) AS page", params)
        return [(t, s, bytes(entry)) for t, s, entry in cursor.fetchall()]


def changes_page_json_sql(
    *,
    after: Position | None,
    office_ids: Iterable[int] | None,
    limit: int,
    cursor_prefix: str = "",
    reader_office_code: str | None = None,
) -> tuple[str, list[Any]]:
    """The PostgreSQL query behind :func:`changes_page_json` and its parameters, to embed in a
    larger statement: columns ``txid, seq, type, op, object_id, entry`` (``entry`` as text),
    oldest first.
    """
    table = ChangeEntry._meta.db_table
    after_sql, params = _after_filter(after, office_ids)
    if reader_office_code is None:
        data_sql, data_params = "COALESCE(data::text, 'null')", []
    else:
        # strpos on the office key first: the reader's own enterprises and every other type cost nothing more.
        data_sql = (
            "CASE WHEN type = 'enterprise' AND data IS NOT NULL AND strpos(data::text, %s) = 0 "
            "THEN regexp_replace(data::text, %s, %s) ELSE COALESCE(data::text, 'null') END"
        )
        data_params = [_office_marker(reader_office_code), _EXTERNAL_ID_VALUE, _EXTERNAL_ID_NULL]
    # type and op are fixed words, object_id a uuid and the prefix digits: nothing to escape.
    sql = f"""
        SELECT txid, seq, type, op, object_id,
            '{{"cursor":"' || %s || txid || '.' || seq || '","type":"' || type || '","id":"' || object_id
            || '","op":"' || op || '","data":' || {data_sql} || '}}' AS entry
        FROM {table}
        WHERE txid < {HORIZON_SQL} AND {after_sql}
        ORDER BY txid, seq LIMIT %s
    """
    return sql, [cursor_prefix, *data_params, *params, limit]
