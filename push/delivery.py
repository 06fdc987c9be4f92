"""Delivering the change feed to webhook endpoints: never lose, never misorder.

The feed (``crm.changes``) is the source of truth. Each endpoint has its own cursor
and its own queue of messages:

1. **Fill**: under the endpoint's lease, one transaction reads the feed after the
   cursor (what the endpoint's office may read through ``changes/``), records one
   message per subscribed change with the entry exactly as ``changes/`` renders it,
   and moves the cursor. A crash before the commit records nothing and moves nothing.
2. **Deliver** the oldest pending message first, signed (``push.signing``); the next
   one only after it succeeded. A failure keeps the message (and its ``webhook-id``)
   and sets its next attempt by back-off with jitter, or by ``Retry-After``; every
   later message of that endpoint waits behind it, so a receiver never sees a
   record's versions go backwards. ``410 Gone`` disables the endpoint; an endpoint
   failing for ``WEBHOOK_DISABLE_AFTER_DAYS`` (5) is disabled and its office notified.
3. **Mark** successes in batches. A worker killed between a receiver's 2xx and the
   mark sends those messages again with the same ``webhook-id``: a redelivery the
   receiver recognises, never a new event.

One worker at a time holds an endpoint (a lease taken by a conditional UPDATE and
renewed while it works); each endpoint is delivered by its own task with a time
budget and a request timeout, so a slow or dead receiver holds up nobody else.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from api.models import ChangeFeedRetention
from crm.changes import HORIZON_SQL, Position, changes_page_json, changes_page_json_sql
from crm.models import ChangeEntry
from crm.outbound import AddressRefused, Answer, OutboundSession
from push import signing
from push.endpoints import ALL_EVENTS, endpoint_office_ids, endpoint_signing_keys
from push.models import WebhookAttempt, WebhookEndpoint, WebhookMessage

logger = logging.getLogger(__name__)

DELIVER_TASK = "push.deliver_endpoint"
FILL_BATCH = 500
SEND_BATCH = 250
# Seconds before the n-th retry (then the last, repeated): about 17 hours over the first six,
# then every ten hours until the endpoint has failed for WEBHOOK_DISABLE_AFTER_DAYS (5 days).
RETRY_SCHEDULE = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600)
RETRY_AFTER_CAP = 24 * 3600
Publisher = Callable[[Sequence[uuid.UUID]], None]
Pending = WebhookMessage.State.PENDING


def lease() -> timedelta:
    return timedelta(seconds=int(settings.WEBHOOK_LEASE_SECONDS))


def disable_after() -> timedelta:
    return timedelta(days=int(settings.WEBHOOK_DISABLE_AFTER_DAYS))


def retry_delay(attempts: int, *, retry_after: float | None = None) -> float:
    """Seconds before the next try after ``attempts`` failures: the schedule ±20 % jitter, or Retry-After."""
    base = RETRY_SCHEDULE[min(max(attempts, 1), len(RETRY_SCHEDULE)) - 1]
    delay = base * random.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return delay


# --- The lease: one worker per endpoint -----------------------------------------------------------


def endpoint_claim(*, endpoint_id: object, now: datetime) -> uuid.UUID | None:
    token = uuid.uuid4()
    won = (
        WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
        .update(lease_token=token, leased_until=now + lease(), queued_at=None)
    )
    return token if won else None


def _renew(endpoint_id: object, token: uuid.UUID) -> bool:
    return bool(
        WebhookEndpoint.objects.filter(pk=endpoint_id, lease_token=token).update(leased_until=timezone.now() + lease())
    )


def _release(endpoint_id: object, token: uuid.UUID) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id, lease_token=token).update(lease_token=None, leased_until=None)


# --- 1. Fill -------------------------------------------------------------------------------------


def _generation() -> int:
    return ChangeFeedRetention.objects.filter(pk=1).values_list("generation", flat=True).first() or 0


def messages_fill(*, endpoint_id: object, token: uuid.UUID, limit: int = FILL_BATCH) -> int | None:
    """Record the messages for the next feed rows after the endpoint's cursor; how many rows were read.

    None when the lease was lost. The cursor moves in the transaction that records the
    messages, so a row is either turned into a message or still ahead of the cursor.
    Each entry is rendered as ``changes/`` renders it for the endpoint's office.
    """
    with transaction.atomic():
        endpoint = (
            WebhookEndpoint.objects.select_for_update(no_key=True)
            .select_related("office")
            .filter(pk=endpoint_id, lease_token=token)
            .first()
        )
        if endpoint is None:
            return None
        after = Position(endpoint.cursor_txid, endpoint.cursor_seq)
        if connection.vendor == "postgresql":
            return _fill_in_sql(endpoint, after=after, limit=limit)
        rows = changes_page_json(
            after=after,
            office_ids=endpoint_office_ids(endpoint),
            limit=limit,
            cursor_prefix=f"{_generation()}.",
            reader_office_code=endpoint.office.code,
        )
        if not rows:
            return 0
        subscribed = set(endpoint.events)
        everything = ALL_EVENTS in subscribed
        now = timezone.now()
        messages = []
        for txid, seq, entry in rows:
            head = orjson.loads(entry)
            event_type = f"{head['type']}.{head['op']}"
            if everything or event_type in subscribed:
                messages.append(
                    WebhookMessage(
                        endpoint_id=endpoint.pk,
                        txid=txid,
                        seq=seq,
                        event_type=event_type,
                        object_id=head["id"],
                        payload=entry.decode(),
                        next_attempt_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
        WebhookMessage.objects.bulk_create(messages, ignore_conflicts=True)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(cursor_txid=rows[-1][0], cursor_seq=rows[-1][1])
        return len(rows)


def _fill_in_sql(endpoint: WebhookEndpoint, *, after: Position, limit: int) -> int:
    """The fill as one statement: the feed page, its messages and the cursor's move, all in SQL.

    The entries never travel to Python and back: PostgreSQL renders them (the same
    query as ``changes/``, ``crm.changes.changes_page_json_sql``) straight into the messages.
    """
    page_sql, page_params = changes_page_json_sql(
        after=after,
        office_ids=endpoint_office_ids(endpoint),
        limit=limit,
        cursor_prefix=f"{_generation()}.",
        reader_office_code=endpoint.office.code,
    )
    msg, ep = WebhookMessage._meta.db_table, WebhookEndpoint._meta.db_table
    events = [e for e in endpoint.events if e != ALL_EVENTS]
    now = timezone.now()
    sql = f"""
        WITH page AS MATERIALIZED ({page_sql}),
        last AS (SELECT txid, seq FROM page ORDER BY txid DESC, seq DESC LIMIT 1),
        added AS (
            INSERT INTO {msg} (id, endpoint_id, txid, seq, event_type, object_id, payload, state, attempts,
                               next_attempt_at, created_at, updated_at)
            SELECT gen_random_uuid(), %s, txid, seq, type || '.' || op, object_id, entry, 'pending', 0, %s, %s, %s
            FROM page WHERE %s OR (type || '.' || op) = ANY(%s::text[])
            ON CONFLICT (endpoint_id, txid, seq) DO NOTHING
            RETURNING 1
        ),
        moved AS (
            UPDATE {ep} SET cursor_txid = last.txid, cursor_seq = last.seq FROM last WHERE {ep}.id = %s
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM page), (SELECT count(*) FROM added), (SELECT count(*) FROM moved)
    """
    params = [*page_params, endpoint.pk, now, now, now, ALL_EVENTS in endpoint.events, events, endpoint.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        read, _added, _moved = cursor.fetchone()
    return int(read)


# --- 2. Deliver and 3. mark --------------------------------------------------------------------------


@dataclass(slots=True)
class Owed:
    """A pending message as the delivery loop needs it (no model instance per message)."""

    pk: uuid.UUID
    endpoint_id: uuid.UUID
    payload: str
    attempts: int
    next_attempt_at: datetime

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.pk.hex}"


@dataclass
class DeliverResult:
    claimed: bool = True
    delivered: int = 0
    failed: int = 0
    disabled: bool = False
    waiting_until: datetime | None = None
    messages: list[str] = field(default_factory=list)


def _attempt(message: Owed, *, at: datetime, answer: Answer | None, error: str, succeeded: bool) -> WebhookAttempt:
    return WebhookAttempt(
        endpoint_id=message.endpoint_id,
        message_id=message.pk,
        attempted_at=at,
        outcome=WebhookAttempt.Outcome.SUCCEEDED if succeeded else WebhookAttempt.Outcome.FAILED,
        status_code=answer.status if answer else None,
        response_excerpt=answer.excerpt if answer else "",
        error=error[:500],
        duration_ms=answer.elapsed_ms if answer else 0,
    )


_MARK_DELIVERED = f"""
    WITH d AS (
        SELECT * FROM json_to_recordset(%s::json) AS d(id uuid, at timestamptz, status int, ms int, excerpt text)
    ), marked AS (
        UPDATE {WebhookMessage._meta.db_table} w
        SET state = 'delivered', attempts = w.attempts + 1, last_status = d.status, delivered_at = %s,
            updated_at = %s
        FROM d WHERE w.id = d.id AND w.state = 'pending'
    )
    INSERT INTO {WebhookAttempt._meta.db_table}
        (endpoint_id, message_id, attempted_at, outcome, status_code, response_excerpt, error, duration_ms)
    SELECT %s, d.id, d.at, 'succeeded', d.status, d.excerpt, '', d.ms FROM d
"""


# A success as the batch keeps it until marked: the message, when it was sent, what came back.
Done = tuple[Owed, datetime, Answer]


def _mark_delivered(done: list[Done], *, endpoint: WebhookEndpoint) -> None:
    """Log the attempts and mark the messages delivered: one statement for the batch on PostgreSQL."""
    if not done:
        return
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    _MARK_DELIVERED,
                    [
                        # One JSON parameter: psycopg adapts list parameters element by element.
                        orjson.dumps(
                            [
                                {
                                    "id": m.pk,
                                    "at": at,
                                    "status": answer.status,
                                    "ms": answer.elapsed_ms,
                                    "excerpt": answer.excerpt,
                                }
                                for m, at, answer in done
                            ]
                        ).decode(),
                        now,
                        now,
                        endpoint.pk,
                    ],
                )
        else:
            WebhookAttempt.objects.bulk_create(
                [_attempt(m, at=at, answer=answer, error="", succeeded=True) for m, at, answer in done]
            )
            by_status: dict[int | None, list[uuid.UUID]] = {}
            for message, _at, answer in done:
                by_status.setdefault(answer.status, []).append(message.pk)
            for status, ids in by_status.items():
                WebhookMessage.objects.filter(pk__in=ids, state=Pending).update(
                    state=WebhookMessage.State.DELIVERED,
                    attempts=F("attempts") + 1,
                    last_status=status,
                    delivered_at=now,
                    updated_at=now,
                )
        if endpoint.failing_since is not None:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
            endpoint.failing_since = None
    done.clear()


def _record_failure(
    message: Owed, attempt: WebhookAttempt, *, endpoint: WebhookEndpoint, answer: Answer | None, now: datetime
) -> tuple[datetime, bool]:
    """Keep the message for a later try; disable the endpoint on 410 or after days of failure.

    Returns the next attempt's time and whether the endpoint was disabled.
    """
    attempts = message.attempts + 1
    next_at = now + timedelta(seconds=retry_delay(attempts, retry_after=answer.retry_after if answer else None))
    failing_since = endpoint.failing_since or now
    reason = ""
    if answer is not None and answer.status == 410:
        reason = "The receiver answered 410 Gone."
    elif now - failing_since >= disable_after():
        reason = f"Every delivery failed for {disable_after().days} days."
    with transaction.atomic():
        WebhookAttempt.objects.bulk_create([attempt])
        WebhookMessage.objects.filter(pk=message.pk, state=Pending).update(
            attempts=attempts,
            next_attempt_at=next_at,
            last_status=answer.status if answer else None,
            updated_at=now,
        )
        changes: dict[str, object] = {"failing_since": failing_since}
        if reason:
            changes.update(enabled=False, disabled_reason=reason)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(**changes)
        endpoint.failing_since = failing_since
        if reason:
            from push.notices import endpoint_disabled_notice

            endpoint_disabled_notice(endpoint=endpoint, reason=reason, now=now)
    if reason:
        logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason)
    return next_at, bool(reason)


def _send(session: OutboundSession, endpoint: WebhookEndpoint, message: Owed, keys: list[bytes]):  # type: ignore[no-untyped-def]
    """One attempt: (answer or None, error text, succeeded)."""
    body = message.payload.encode()
    headers = signing.headers(keys=keys, msg_id=message.webhook_id, timestamp=int(time.time()), body=body)
    try:
        answer = session.post(endpoint.url, body, headers)
    except AddressRefused as exc:
        return None, f"refused: {exc}", False
    except OSError as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, False
    return answer, "" if 200 <= answer.status < 300 else f"HTTP {answer.status}", 200 <= answer.status < 300


def _deliver_batch(
    session: OutboundSession, endpoint: WebhookEndpoint, batch: list[Owed], result: DeliverResult
) -> bool:
    """Deliver ``batch`` (the oldest pending messages) in order; False when the endpoint must wait or stop."""
    keys = endpoint_signing_keys(endpoint, now=timezone.now())
    done: list[Done] = []
    try:
        for message in batch:
            at = timezone.now()
            if message.next_attempt_at > at:
                result.waiting_until = message.next_attempt_at
                return False
            answer, error, succeeded = _send(session, endpoint, message, keys)
            if succeeded:
                done.append((message, at, answer))
                result.delivered += 1
                continue
            _mark_delivered(done, endpoint=endpoint)
            result.failed += 1
            attempt = _attempt(message, at=at, answer=answer, error=error, succeeded=False)
            next_at, disabled = _record_failure(message, attempt, endpoint=endpoint, answer=answer, now=at)
            result.waiting_until, result.disabled = next_at, disabled
            return False
    finally:
        _mark_delivered(done, endpoint=endpoint)
    return True


def _pending_head(endpoint_id: object, limit: int) -> list[Owed]:
    rows = (
        WebhookMessage.objects.filter(endpoint_id=endpoint_id, state=Pending)
        .order_by("txid", "seq")
        .values_list("id", "endpoint_id", "payload", "attempts", "next_attempt_at")[:limit]
    )
    return [Owed(*r) for r in rows]


def _rows_ahead(endpoint: WebhookEndpoint) -> bool:
    """Whether feed rows the endpoint may read lie past its cursor, visible yet or not."""
    rows = ChangeEntry.objects.filter(
        Q(txid__gt=endpoint.cursor_txid) | Q(txid=endpoint.cursor_txid, seq__gt=endpoint.cursor_seq)
    )
    office_ids = endpoint_office_ids(endpoint)
    if office_ids is not None:
        rows = rows.filter(Q(office__isnull=True) | Q(office_id__in=office_ids))
    return rows.exists()


def _horizon_moving(within: float) -> bool:
    """Whether every transaction holding the feed back (one with an id, anywhere on the server that
    this role may see) began less than ``within`` seconds ago: then the rows ahead show up soon.
    A long transaction holds them for longer than a wake-up should wait; the scan delivers them."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(xact_start)), 0) FROM pg_stat_activity "
            "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
        )
        return float(cursor.fetchone()[0]) < within


def endpoint_deliver(
    *,
    endpoint_id: object,
    budget_seconds: float | None = None,
    session: OutboundSession | None = None,
    linger_seconds: float = 0.0,
) -> DeliverResult:
    """Deliver what an endpoint is owed, in feed order, for at most ``budget_seconds``; safe to call any time.

    ``linger_seconds`` (a wake-up right after a commit): while rows past the cursor are
    not yet visible in the feed (an older transaction is still running, and began less
    than that long ago), look again every 50 ms for that long instead of leaving them to
    the next scan. One task per endpoint lingers at a time (the lease), and not behind a
    long transaction, so lingering never ties up the workers.
    """
    if not endpoint_id:
        return DeliverResult(claimed=False)
    token = endpoint_claim(endpoint_id=endpoint_id, now=timezone.now())
    if token is None:
        return DeliverResult(claimed=False)
    budget = float(budget_seconds if budget_seconds is not None else settings.WEBHOOK_TASK_BUDGET_SECONDS)
    deadline = time.monotonic() + budget
    linger_until = time.monotonic() + linger_seconds
    result = DeliverResult()
    own_session = session is None
    session = session or OutboundSession()
    try:
        while time.monotonic() < deadline:
            endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, lease_token=token, enabled=True).first()
            if endpoint is None:
                break
            batch = _pending_head(endpoint_id, SEND_BATCH)
            if not batch:
                filled = messages_fill(endpoint_id=endpoint_id, token=token)
                if filled is None:
                    break
                if not filled:
                    if time.monotonic() < linger_until and _rows_ahead(endpoint) and _horizon_moving(linger_seconds):
                        time.sleep(0.05)
                        continue
                    break
                continue
            if not _deliver_batch(session, endpoint, batch, result):
                break
            if not _renew(endpoint_id, token):
                break
    finally:
        if own_session:
            session.close()
        _release(endpoint_id, token)
    return result


# --- Which endpoints have work: the dispatcher's scan ----------------------------------------------


def endpoints_with_work(*, now: datetime | None = None, requeue_after: timedelta | None = None) -> list[uuid.UUID]:
    """Enabled endpoints nobody holds that have a due retry or feed rows past their cursor.

    One statement; the feed check is a probe of the feed's (office, txid, seq) index per endpoint
    (scalar subqueries with ORDER BY … LIMIT 1: PostgreSQL drops the LIMIT of an EXISTS and
    may then scan the whole feed).
    """
    now = now or timezone.now()
    requeue_after = requeue_after or lease()
    ep, msg, feed = WebhookEndpoint._meta.db_table, WebhookMessage._meta.db_table, ChangeEntry._meta.db_table
    horizon = f"AND c.txid < {HORIZON_SQL}" if connection.vendor == "postgresql" else ""
    sql = f"""
        SELECT e.id FROM {ep} e JOIN crm_office o ON o.id = e.office_id
        WHERE e.enabled AND (e.leased_until IS NULL OR e.leased_until <= %s)
          AND (e.queued_at IS NULL OR e.queued_at <= %s)
          AND (
            EXISTS (SELECT 1 FROM {msg} m WHERE m.endpoint_id = e.id AND m.state = 'pending'
                    AND m.next_attempt_at <= %s)
            OR (NOT EXISTS (SELECT 1 FROM {msg} m WHERE m.endpoint_id = e.id AND m.state = 'pending')
                AND ((SELECT c.txid FROM {feed} c WHERE c.office_id = e.office_id
                      AND (c.txid, c.seq) > (e.cursor_txid, e.cursor_seq) {horizon}
                      ORDER BY c.office_id, c.txid, c.seq LIMIT 1) IS NOT NULL
                     OR (SELECT c.txid FROM {feed} c WHERE c.office_id IS NULL
                         AND (c.txid, c.seq) > (e.cursor_txid, e.cursor_seq) {horizon}
                         ORDER BY c.office_id, c.txid, c.seq LIMIT 1) IS NOT NULL
                     OR (o.kind = 'provincial' AND (SELECT c.txid FROM {feed} c
                         WHERE (c.txid, c.seq) > (e.cursor_txid, e.cursor_seq) {horizon}
                         ORDER BY c.txid, c.seq LIMIT 1) IS NOT NULL)))
          )
        ORDER BY e.id
    """
    at = connection.ops.adapt_datetimefield_value(now)
    stale = connection.ops.adapt_datetimefield_value(now - requeue_after)
    with connection.cursor() as cursor:
        cursor.execute(sql, [at, stale, at])
        return [WebhookEndpoint._meta.pk.to_python(row[0]) for row in cursor.fetchall()]


def publish_deliveries(endpoint_ids: Sequence[uuid.UUID]) -> None:
    """One ``push.deliver_endpoint`` message per endpoint; a broker failure leaves them for the next scan."""
    if not endpoint_ids:
        return
    from celery import current_app

    published: list[uuid.UUID] = []
    try:
        with current_app.connection_for_write() as broker:
            producer = current_app.amqp.Producer(broker)
            for endpoint_id in endpoint_ids:
                current_app.send_task(DELIVER_TASK, args=[str(endpoint_id)], producer=producer)
                published.append(endpoint_id)
    except Exception as exc:  # noqa: BLE001 - the next scan publishes the rest
        logger.warning("broker unavailable, webhook deliveries left for the next scan: %s", exc)
    finally:
        rest = [e for e in endpoint_ids if e not in published]
        if rest:
            WebhookEndpoint.objects.filter(pk__in=rest).update(queued_at=None)


def webhooks_dispatch(*, now: datetime | None = None, publish: Publisher = publish_deliveries) -> list[uuid.UUID]:
    """The beat's scan: mark endpoints with work as queued and publish one delivery task each."""
    now = now or timezone.now()
    ids = endpoints_with_work(now=now)
    if ids:
        WebhookEndpoint.objects.filter(pk__in=ids).update(queued_at=now)
        publish(ids)
    return ids


def attempts_purge(*, now: datetime | None = None) -> tuple[int, int]:
    """Forget attempts and delivered messages older than ``WEBHOOK_LOG_RETENTION_DAYS`` (30)."""
    before = (now or timezone.now()) - timedelta(days=int(settings.WEBHOOK_LOG_RETENTION_DAYS))
    attempts, _ = WebhookAttempt.objects.filter(attempted_at__lt=before).delete()
    messages, _ = WebhookMessage.objects.filter(state=WebhookMessage.State.DELIVERED, delivered_at__lt=before).delete()
    return attempts, messages
