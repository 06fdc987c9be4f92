"""Reminders, exactly once in effect: claim → send → mark.

The database, not the broker, is the record of what has to go out. Every reminder
is a :class:`~recruitment.models.ReminderDelivery` row, and the broker only carries
"look at delivery <id> now" messages, which may be lost or repeated without harm:

1. **Claim** (the scan, run by beat every minute): in one transaction, find open
   follow-ups that are due (or a day overdue) and insert one delivery per
   follow-up, kind and due time. A unique constraint makes a second scan, a second
   beat or a retry insert nothing. The sending is queued after commit, so a scan
   that rolls back queues nothing and a follow-up that was never committed is never
   seen. No reminder is ever put on the broker with an ETA or countdown: a broker
   that loses its queue loses nothing.
2. **Send** (a task with the delivery id): a conditional UPDATE moves the delivery
   from pending to sending with a lease. Only one worker can win it; a duplicate
   message finds nothing to claim and returns. The reminder is re-checked (done,
   cancelled, rescheduled, project closed → skipped), composed and handed to
   Django's mail backend with a Message-ID fixed per delivery.
3. **Mark**: the delivery becomes sent straight after the hand-off. A transient
   error puts it back to pending with a back-off in ``next_attempt_at``; after the
   last attempt it is failed and shows so in the admin.

The outbox step of every scan queues pending deliveries that nobody queued yet
(large-project notices written by a web request, retries whose back-off is over,
sends whose publishing failed because the broker was down). The sweep re-queues
deliveries stuck pending for too long and takes back sends whose worker died
(lease expired). Web requests never talk to the broker.

What "exactly once" cannot cover: a worker killed in the instant between the mail
system accepting a message and the UPDATE that marks it sent. The lease then
expires and the same message (same Message-ID) is handed over again; a receiving
mail system that deduplicates by Message-ID shows it once. A WeCom or DingTalk
robot keeps no such id: a worker killed between the robot's answer and that
UPDATE makes the group see the notice twice.
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation

from chains.models import new_id
from recruitment import selectors
from recruitment.channels import ChannelError, notice_markdown, office_robots, robot_send
from recruitment.models import ChannelPreference, FollowUp, OfficeChannel, Project, ReminderDelivery
from recruitment.pipeline import CLOSED

logger = logging.getLogger(__name__)

SEND_TASK = "recruitment.send_reminder"
Kind = ReminderDelivery.Kind
State = ReminderDelivery.State
Channel = ReminderDelivery.Channel
Publisher = Callable[[Sequence[uuid.UUID]], None]


# --- Settings, read when used so tests and operators can change them ----------------------


def _seconds(name: str, default: float) -> timedelta:
    return timedelta(seconds=float(getattr(settings, name, default)))


def lease() -> timedelta:
    """How long a worker may take to send before another may take the delivery back."""
    return _seconds("REMINDER_LEASE_SECONDS", 300)


def requeue_after() -> timedelta:
    """How long a queued delivery may wait before the sweep assumes its message was lost."""
    return _seconds("REMINDER_REQUEUE_AFTER_SECONDS", 600)


def max_attempts() -> int:
    return int(getattr(settings, "REMINDER_MAX_ATTEMPTS", 5))


def retry_backoff(attempts: int) -> timedelta:
    """Exponential back-off after the ``attempts``-th failed attempt, capped at an hour."""
    base = float(getattr(settings, "REMINDER_RETRY_BACKOFF_SECONDS", 60))
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600))


def _batch_size() -> int:
    return int(getattr(settings, "REMINDER_SCAN_BATCH", 500))


# --- Publishing: the only place that talks to the broker -------------------------------------


def publish_sends(delivery_ids: Sequence[uuid.UUID]) -> None:
    """Put one send message per delivery on the broker, with no ETA.

    If the broker is unreachable, the deliveries not published are marked
    unqueued again, so the next scan's outbox step queues them once it is back.
    """
    if not delivery_ids:
        return
    from celery import current_app

    published = 0
    try:
        # A connection of its own (not the pool): a scan runs once a minute, and a
        # broker that restarted since the last one is simply reconnected to.
        with current_app.connection_for_write() as broker:
            producer = current_app.amqp.Producer(broker)
            for delivery_id in delivery_ids:
                current_app.send_task(SEND_TASK, args=[str(delivery_id)], producer=producer)
                published += 1
    except Exception as exc:  # noqa: BLE001 - any broker failure: leave the rest to the next scan
        rest = list(delivery_ids[published:])
        logger.warning("broker unavailable, %d reminder send(s) left for the next scan: %s", len(rest), exc)
        ReminderDelivery.objects.filter(pk__in=rest, state=State.PENDING).update(queued_at=None)


def _queue_after_commit(ids: list[uuid.UUID], publish: Publisher) -> None:
    if ids:
        transaction.on_commit(partial(publish, ids))


# --- 1. Claim -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanResult:
    claimed: int
    queued: int


_DELIVERY_TABLE = ReminderDelivery._meta.db_table


def _new_uuid_sql() -> str:
    """A random UUID made by the database, in the form Django stores it on this backend."""
    if connection.vendor == "postgresql":
        return "gen_random_uuid()"
    return "lower(hex(randomblob(16)))"  # SQLite keeps UUIDs as 32 hex characters


def followup_claim_candidates(*, kind: str, now: datetime, limit: int) -> Any:
    """The follow-ups one claim batch takes: due for ``kind``, oldest first (the query the bench explains)."""
    return (
        selectors.followups_due(now=now, kind=kind)
        .values(
            c_id=F("pk"),
            c_project=F("project_id"),
            c_assignee=F("assignee_id"),
            c_due=F("due_at"),
            c_office=F("office_id"),
        )
        .order_by("due_at")[:limit]
    )


def _claim_followup_batch(*, kind: str, now: datetime, limit: int, publish: Publisher) -> list[uuid.UUID]:
    """Record deliveries for up to ``limit`` follow-ups due for ``kind``, one per channel, in one statement.

    ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING id``: the candidates are read
    through the partial index and inserted without a round trip per row. A concurrent
    scan that claimed some of the same follow-ups makes those inserts nothing (the
    unique constraint), so only the rows this scan inserted are returned and queued.
    Each follow-up gets an e-mail row and one row per robot its office switched on,
    less the channels its assignee switched off (``recruitment.channels``).
    """
    robots = OfficeChannel._meta.db_table
    preferences = ChannelPreference._meta.db_table
    select_sql, select_params = followup_claim_candidates(kind=kind, now=now, limit=limit).query.sql_with_params()
    at = connection.ops.adapt_datetimefield_value(now)
    sql = f"""
        INSERT INTO {_DELIVERY_TABLE}
            (id, created_at, updated_at, kind, follow_up_id, project_id, recipient_id, due_at,
             state, attempts, last_error, sent_to, next_attempt_at, queued_at, channel, office_id, note, link)
        SELECT {_new_uuid_sql()}, %s, %s, %s, c.c_id, c.c_project, c.c_assignee, c.c_due,
               %s, 0, '', '', %s, %s, ch.channel, c.c_office, '', ''
        FROM ({select_sql}) c
        JOIN (SELECT 'email' AS channel, NULL AS office_id
              UNION ALL SELECT channel, office_id FROM {robots} WHERE enabled) ch
          ON ch.office_id IS NULL OR ch.office_id = c.c_office
        WHERE NOT EXISTS (SELECT 1 FROM {preferences} p
                          WHERE p.user_id = c.c_assignee AND p.channel = ch.channel AND NOT p.enabled)
        ON CONFLICT DO NOTHING
        RETURNING id
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The select list's parameters come first, then the candidate query's.
            cursor.execute(sql, [at, at, kind, State.PENDING, at, at, *select_params])
            inserted = [ReminderDelivery._meta.pk.to_python(row[0]) for row in cursor.fetchall()]
        _queue_after_commit(inserted, publish)
    return inserted


def followups_claim(*, now: datetime | None = None, publish: Publisher = publish_sends) -> list[uuid.UUID]:
    """Claim every follow-up due or overdue at ``now``; the sends are queued after each batch commits."""
    now = now or timezone.now()
    limit = _batch_size()
    claimed: list[uuid.UUID] = []
    for kind in (Kind.DUE, Kind.OVERDUE):
        for _ in range(1000):  # bounded: a scan never runs away
            inserted = _claim_followup_batch(kind=kind, now=now, limit=limit, publish=publish)
            claimed.extend(inserted)
            if not inserted:
                break
    return claimed


def _queue_where(qs: Any, *, now: datetime, publish: Publisher, reset_claim: bool = False) -> list[uuid.UUID]:
    """Lock a batch of ``qs`` (skipping rows another scan holds), mark it queued, publish after commit."""
    with transaction.atomic():
        ids = list(qs.select_for_update(skip_locked=True).values_list("pk", flat=True)[: _batch_size()])
        if not ids:
            return []
        changes: dict[str, Any] = {"queued_at": now}
        if reset_claim:
            changes.update(state=State.PENDING, claimed_until=None)
        ReminderDelivery.objects.filter(pk__in=ids).update(**changes)
        _queue_after_commit(ids, publish)
        return ids


def outbox_queue(*, now: datetime | None = None, publish: Publisher = publish_sends) -> list[uuid.UUID]:
    """Queue pending deliveries nobody queued yet whose attempt is due (notices, retries, failed publishes)."""
    now = now or timezone.now()
    return _queue_where(selectors.deliveries_unqueued(now=now), now=now, publish=publish)


# --- Supervision orders: the escalation ladder ------------------------------------------------------

# (kind, order states in which the step still applies, the deadline column, the offset's setting and
# its sign, who receives it). Each step reaches each person once (a unique constraint on order, kind
# and recipient), whatever the number of scans, beats or crashes.
_ORDER_STEPS: tuple[tuple[str, tuple[str, ...], str, str, int, str], ...] = (
    (Kind.ORDER_PLAN, ("open",), "plan_due", "SUPERVISION_REMIND_BEFORE_PLAN_HOURS", -1, "responsible"),
    (Kind.ORDER_PLAN_LATE, ("open",), "plan_due", "SUPERVISION_ESCALATE_AFTER_PLAN_HOURS", 1, "managers"),
    (
        Kind.ORDER_UNRESOLVED,
        ("open", "plan_submitted"),
        "resolve_due",
        "SUPERVISION_ESCALATE_AFTER_RESOLVE_HOURS",
        1,
        "province",
    ),
)
ORDER_KINDS = frozenset(step[0] for step in _ORDER_STEPS)
_ORDER_STATES = {step[0]: step[1] for step in _ORDER_STEPS}


def order_deadline(day: Any) -> datetime:
    """A deadline date ends at midnight after it, local time."""
    from datetime import time

    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def _order_recipients_where(who: str) -> str:
    """The condition on ``u`` (crm_user) naming who a step of order ``o`` is for."""
    if who == "responsible":
        return "u.id = o.responsible_id AND u.is_active"
    if who == "managers":
        return "u.office_id = o.office_id AND u.is_manager AND u.is_active"
    return "u.is_manager AND u.is_active AND u.office_id IN (SELECT id FROM crm_office WHERE kind = 'provincial')"


def _order_robots_where(who: str) -> str:
    """The condition on ``r`` (an office's robot) for the group a step of order ``o`` is posted to:
    the order's office for its people, the provincial office for the province."""
    if who == "province":
        return "r.office_id IN (SELECT id FROM crm_office WHERE kind = 'provincial')"
    return "r.office_id = o.office_id"


def orders_claim(*, now: datetime | None = None, publish: Publisher = publish_sends) -> list[uuid.UUID]:
    """Claim every step of the escalation ladder that fell due, on every channel, in one transaction per step.

    A step is due ``offset`` hours before (the reminder) or after (the escalations)
    the end of its deadline day, while the order is still in a state the step is about.
    As for follow-ups (``recruitment.channels``), a step goes by e-mail to each person it
    is for, and once to each robot of the office it concerns that is switched on
    (the order's office; the provincial office for the last step); a person who switched
    a channel off is not reached on it, and a robot is left out when everyone the step
    is for switched it off. Unique constraints (order, kind, recipient, channel) and
    (order, kind, channel, robot's office) make every row once, however many scans run.
    """
    now = now or timezone.now()
    if connection.vendor != "postgresql":  # pragma: no cover - the ladder needs PostgreSQL's time zone maths
        return []
    from recruitment.landing_models import SupervisionOrder

    table = SupervisionOrder._meta.db_table
    robots = OfficeChannel._meta.db_table
    preferences = ChannelPreference._meta.db_table
    at = connection.ops.adapt_datetimefield_value(now)
    claimed: list[uuid.UUID] = []
    for kind, states, column, setting, sign, who in _ORDER_STEPS:
        offset = timedelta(hours=float(getattr(settings, setting))) * sign
        deadline = f"((o.{column} + 1)::timestamp AT TIME ZONE %s)"
        before = f"AND {deadline} > %s" if sign < 0 else ""
        due_where = f"o.status = ANY(%s) AND {deadline} + %s <= %s {before}"
        due_params: list[Any] = [list(states), settings.TIME_ZONE, offset, at]
        if sign < 0:  # a reminder before the deadline is not sent after it (the escalation takes over)
            due_params += [settings.TIME_ZONE, at]
        columns = """(id, created_at, updated_at, kind, supervision_order_id, project_id, recipient_id, due_at,
                      state, attempts, last_error, sent_to, next_attempt_at, queued_at, channel, office_id, note, link)"""
        by_email = f"""
            INSERT INTO {_DELIVERY_TABLE} {columns}
            SELECT gen_random_uuid(), %s, %s, %s, o.id, o.project_id, u.id, {deadline},
                   %s, 0, '', '', %s, %s, %s, NULL, '', ''
            FROM {table} o JOIN crm_user u ON {_order_recipients_where(who)}
            WHERE {due_where}
              AND NOT EXISTS (SELECT 1 FROM {preferences} p
                              WHERE p.user_id = u.id AND p.channel = %s AND NOT p.enabled)
            ON CONFLICT DO NOTHING
            RETURNING id
        """
        email_params = [at, at, kind, settings.TIME_ZONE, State.PENDING, at, at, Channel.EMAIL]
        email_params += [*due_params, Channel.EMAIL]
        by_robot = f"""
            INSERT INTO {_DELIVERY_TABLE} {columns}
            SELECT gen_random_uuid(), %s, %s, %s, o.id, o.project_id, NULL, {deadline},
                   %s, 0, '', '', %s, %s, r.channel, r.office_id, '', ''
            FROM {table} o JOIN {robots} r ON r.enabled AND {_order_robots_where(who)}
            WHERE {due_where}
              AND EXISTS (SELECT 1 FROM crm_user u
                          WHERE {_order_recipients_where(who)}
                            AND NOT EXISTS (SELECT 1 FROM {preferences} p
                                            WHERE p.user_id = u.id AND p.channel = r.channel AND NOT p.enabled))
            ON CONFLICT DO NOTHING
            RETURNING id
        """
        robot_params = [at, at, kind, settings.TIME_ZONE, State.PENDING, at, at, *due_params]
        with transaction.atomic():
            inserted: list[uuid.UUID] = []
            with connection.cursor() as cursor:
                for sql, params in ((by_email, email_params), (by_robot, robot_params)):
                    cursor.execute(sql, params)
                    inserted += [ReminderDelivery._meta.pk.to_python(row[0]) for row in cursor.fetchall()]
            _queue_after_commit(inserted, publish)
        claimed.extend(inserted)
    return claimed


def reminders_scan(*, now: datetime | None = None, publish: Publisher = publish_sends) -> ScanResult:
    """The beat's every-minute scan: claim what fell due, then empty the outbox."""
    now = now or timezone.now()
    claimed = followups_claim(now=now, publish=publish) + orders_claim(now=now, publish=publish)
    queued = outbox_queue(now=now, publish=publish)
    if claimed or queued:
        logger.info("reminder scan: %d claimed, %d queued from the outbox", len(claimed), len(queued))
    return ScanResult(claimed=len(claimed), queued=len(queued))


def deliveries_requeue_stuck(*, now: datetime | None = None, publish: Publisher = publish_sends) -> list[uuid.UUID]:
    """The sweep: re-queue deliveries whose message seems lost, and take back sends whose worker died.

    A send whose lease ran out after the last attempt gives up visibly instead of
    trying for ever (a message that kills its worker every time).
    """
    now = now or timezone.now()
    with transaction.atomic():
        exhausted = ReminderDelivery.objects.filter(
            state=State.SENDING, claimed_until__lte=now, attempts__gte=max_attempts()
        ).update(
            state=State.FAILED,
            claimed_until=None,
            last_error="The worker stopped while sending, on every attempt; the outcome of the last one is unknown.",
            updated_at=now,
        )
    if exhausted:
        logger.error("%d reminder(s) given up after their worker died on every attempt", exhausted)
    requeued: list[uuid.UUID] = []
    for _ in range(100):
        ids = _queue_where(
            selectors.deliveries_stuck(now=now, requeue_after=requeue_after()),
            now=now,
            publish=publish,
            reset_claim=True,
        )
        requeued.extend(ids)
        if len(ids) < _batch_size():
            break
    if requeued:
        logger.warning("reminder sweep: %d stuck deliveries re-queued", len(requeued))
    return requeued


# --- Records written by other services ---------------------------------------------------------


def large_project_notice_record(*, project: Project, now: datetime | None = None) -> bool:
    """Record (once per project) that the provincial office must hear of a large project.

    Called inside the service's transaction; the scan's outbox step sends it, so
    the web request that created the project never talks to the broker.
    """
    return bool(large_project_notices_record(projects=[project], now=now))


def large_project_notices_record(*, projects: Sequence[Project], now: datetime | None = None) -> int:
    """:func:`large_project_notice_record` for many projects in one statement; how many qualify."""
    threshold = settings.RECRUITMENT_LARGE_PROJECT_CNY
    large = [p for p in projects if p.planned_investment is not None and p.planned_investment > threshold]
    if not large:
        return 0
    now = now or timezone.now()
    robots = office_robots(office_ids=selectors.provincial_office_ids())
    rows: list[ReminderDelivery] = []
    for p in large:
        rows.append(ReminderDelivery(kind=Kind.LARGE_PROJECT, project=p, due_at=now, next_attempt_at=now))
        rows += [
            ReminderDelivery(
                kind=Kind.LARGE_PROJECT, project=p, due_at=now, next_attempt_at=now, channel=ch, office_id=office_id
            )
            for office_id, ch in robots
        ]
    ReminderDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(large)


def office_notice_record(*, office_id: int, kind: str, note: str, link: str, now: datetime | None = None) -> int:
    """Record a notice to an office (its managers by e-mail, and its robots), once per office, kind, time
    and link. Called inside the caller's transaction; the scan's outbox step sends it."""
    now = now or timezone.now()
    channels = [Channel.EMAIL.value] + [ch for _o, ch in office_robots(office_ids=[office_id])]
    rows = [
        ReminderDelivery(
            kind=kind, office_id=office_id, due_at=now, next_attempt_at=now, channel=ch, note=note, link=link
        )
        for ch in channels
    ]
    return len(ReminderDelivery.objects.bulk_create(rows, ignore_conflicts=True))


MANAGER_NOTICE_KINDS = frozenset({Kind.LEDGER_DUE})


def manager_notices_claim(
    *,
    kind: str,
    notices: dict[int, tuple[str, str]],
    due_at: datetime,
    now: datetime | None = None,
    publish: Publisher = publish_sends,
) -> list[uuid.UUID]:
    """Record a notice to the managers of offices, once per office, kind and ``due_at``, and queue it.

    ``notices`` maps an office id to the notice's ``(note, link)``. Each active
    manager with an address gets an e-mail unless they switched e-mail off
    (:class:`~recruitment.models.ChannelPreference`), and each robot the office
    switched on gets the notice once. The unique constraints make a second call, a
    second beat or a retry insert nothing; only the rows this call inserted are
    queued, after commit. Whether the notice is still needed is asked again when it
    is sent (:func:`notice_check_register`).
    """
    if kind not in MANAGER_NOTICE_KINDS:
        raise ValueError(f"{kind} is not a notice to managers")
    if not notices:
        return []
    now = now or timezone.now()
    office_ids = list(notices)
    managers = list(
        selectors.managers_of_offices(office_ids=office_ids)
        .exclude(Exists(ChannelPreference.objects.filter(user=OuterRef("pk"), channel=Channel.EMAIL, enabled=False)))
        .order_by("pk")
        .values_list("pk", "office_id")
    )
    rows = [
        ReminderDelivery(
            id=new_id(),
            kind=kind,
            office_id=office_id,
            recipient_id=user_id,
            due_at=due_at,
            next_attempt_at=now,
            queued_at=now,
            channel=Channel.EMAIL,
            note=notices[office_id][0],
            link=notices[office_id][1],
        )
        for user_id, office_id in managers
    ]
    rows += [
        ReminderDelivery(
            id=new_id(),
            kind=kind,
            office_id=office_id,
            due_at=due_at,
            next_attempt_at=now,
            queued_at=now,
            channel=channel,
            note=notices[office_id][0],
            link=notices[office_id][1],
        )
        for office_id, channel in office_robots(office_ids=office_ids)
    ]
    with transaction.atomic():
        ReminderDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        # The rows that conflicted were not written: only this call's own ids are found.
        inserted = list(ReminderDelivery.objects.filter(pk__in=[r.pk for r in rows]).values_list("pk", flat=True))
        _queue_after_commit(inserted, publish)
    return inserted


# A kind recorded for a higher app (the ledger's deadline) is asked again at send time whether
# it is still needed: the higher app registers the question when it is ready (it may not be imported here).
NoticeCheck = Callable[[ReminderDelivery], "str | None"]
_NOTICE_CHECKS: dict[str, NoticeCheck] = {}


def notice_check_register(*, kind: str, check: NoticeCheck) -> None:
    """Register ``check(delivery) -> reason or None``: a reason skips the delivery instead of sending it."""
    _NOTICE_CHECKS[kind] = check


def digest_week_start(now: datetime) -> datetime:
    """Monday 00:00 (local time) of ``now``'s week: the key that makes a digest once a week."""
    local = timezone.localtime(now)
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday


def digests_claim(*, now: datetime | None = None, publish: Publisher = publish_sends) -> list[uuid.UUID]:
    """Record this week's digest for everyone who may have something in it, and queue them.

    Whether a digest has anything to say is decided when it is sent (an empty one is
    skipped), so the claim is a fixed number of queries however many users there are.
    """
    now = now or timezone.now()
    week = digest_week_start(now)
    with transaction.atomic():
        users = list(selectors.digest_recipients(now=now).values_list("pk", "office_id"))
        robots: dict[int, list[str]] = {}
        for office_id, ch in office_robots(office_ids={o for _u, o in users if o is not None}):
            robots.setdefault(office_id, []).append(ch)
        off = set(
            ChannelPreference.objects.filter(user_id__in=[u for u, _o in users], enabled=False).values_list(
                "user_id", "channel"
            )
        )
        deliveries = [
            ReminderDelivery(
                id=new_id(),
                kind=Kind.DIGEST,
                recipient_id=uid,
                due_at=week,
                next_attempt_at=now,
                queued_at=now,
                channel=ch,
                office_id=office_id if ch != Channel.EMAIL else None,
            )
            for uid, office_id in users
            for ch in [Channel.EMAIL.value, *robots.get(office_id, [])]
            if (uid, ch) not in off
        ]
        ReminderDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        inserted = list(ReminderDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).values_list("pk", flat=True))
        _queue_after_commit(inserted, publish)
    return inserted


@transaction.atomic
def delivery_retry(*, delivery: ReminderDelivery) -> ReminderDelivery:
    """Send a failed delivery again (an admin action): back to pending, attempts from zero."""
    ReminderDelivery.objects.filter(pk=delivery.pk, state=State.FAILED).update(
        state=State.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        queued_at=None,
        claimed_until=None,
        updated_at=timezone.now(),
    )
    delivery.refresh_from_db()
    return delivery


# --- 2. Send and 3. mark ---------------------------------------------------------------------------


class Outcome:
    SENT = "sent"
    NOT_CLAIMED = "not_claimed"
    SKIPPED = "skipped"
    RETRY = "retry"
    FAILED = "failed"


def _claim_send(delivery_id: object, now: datetime) -> bool:
    """Take the delivery for one attempt: only one worker can move it from pending to sending."""
    return bool(
        ReminderDelivery.objects.filter(pk=delivery_id, next_attempt_at__lte=now)
        .filter(Q(state=State.PENDING) | Q(state=State.SENDING, claimed_until__lte=now))
        .update(state=State.SENDING, claimed_until=now + lease(), attempts=F("attempts") + 1, updated_at=now)
    )


def _finish(delivery: ReminderDelivery, state: str, **changes: Any) -> None:
    ReminderDelivery.objects.filter(pk=delivery.pk, state=State.SENDING).update(
        state=state, claimed_until=None, updated_at=timezone.now(), **changes
    )


def _load(delivery_id: object) -> ReminderDelivery | None:
    """The delivery with what its e-mail needs, in two small queries (wide joins cost more to compile)."""
    delivery = ReminderDelivery.objects.filter(pk=delivery_id).order_by().first()
    if delivery is None:
        return None
    if delivery.follow_up_id:
        follow_up = (
            FollowUp.objects.select_related("project__enterprise", "project__park", "project__owner", "assignee")
            .filter(pk=delivery.follow_up_id)
            .order_by()
            .first()
        )
        delivery.follow_up = follow_up
        if follow_up is not None:
            delivery.project = follow_up.project
    elif delivery.supervision_order_id:
        from recruitment.landing_models import SupervisionOrder

        order = (
            SupervisionOrder.objects.select_related("project__enterprise", "project__park", "responsible", "leader")
            .filter(pk=delivery.supervision_order_id)
            .order_by()
            .first()
        )
        delivery.supervision_order = order
        if order is not None:
            delivery.project = order.project
    elif delivery.project_id:
        delivery.project = (
            Project.objects.select_related("enterprise", "park", "owner")
            .filter(pk=delivery.project_id)
            .order_by()
            .first()
        )
    return delivery


def _not_needed(delivery: ReminderDelivery) -> str | None:
    """Why this reminder should not go out any more, or None if it should."""
    follow_up = delivery.follow_up
    if delivery.kind in (Kind.DUE, Kind.OVERDUE):
        if follow_up is None:
            return "The follow-up no longer exists."
        if follow_up.status != FollowUp.Status.OPEN:
            return f"The follow-up is {follow_up.status}."
        if follow_up.due_at != delivery.due_at:
            return "The follow-up was rescheduled; the new due time gets its own reminder."
        if follow_up.project.status in CLOSED:
            return "The project is closed."
    if delivery.kind == Kind.LARGE_PROJECT and delivery.project is None:
        return "The project no longer exists."
    if delivery.channel != Channel.EMAIL and _robot(delivery) is None:
        return "The office's robot for this channel was removed or switched off."
    if delivery.kind in MANAGER_NOTICE_KINDS:
        check = _NOTICE_CHECKS.get(delivery.kind)
        reason = check(delivery) if check is not None else None
        if reason:
            return reason
    if delivery.kind in ORDER_KINDS:
        order = delivery.supervision_order
        if order is None:
            return "The supervision order no longer exists."
        if order.status not in _ORDER_STATES[delivery.kind]:
            return f"The supervision order is {order.status}."
    return None


def _robot(delivery: ReminderDelivery) -> OfficeChannel | None:
    return (
        OfficeChannel.objects.filter(office_id=delivery.office_id, channel=delivery.channel, enabled=True)
        .order_by()
        .first()
    )


def _is_transient(exc: BaseException) -> bool:
    """Connection trouble and 4xx SMTP answers are worth retrying; 5xx answers and bugs are not."""
    if isinstance(exc, ChannelError):
        return exc.transient
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, OSError)  # includes socket errors, timeouts and other smtplib errors


def delivery_send(*, delivery_id: object) -> str:
    """Send one delivery if it is still pending and still needed; safe to call any number of times."""
    now = timezone.now()
    if not _claim_send(delivery_id, now):
        return Outcome.NOT_CLAIMED
    delivery = _load(delivery_id)
    if delivery is None:  # deleted with its follow-up in between
        return Outcome.NOT_CLAIMED
    reason = _not_needed(delivery)
    if reason:
        _finish(delivery, State.SKIPPED, last_error=reason)
        return Outcome.SKIPPED
    try:
        message = compose(delivery, now=now)
    except Exception as exc:  # a template or data bug: retrying will not help
        logger.exception("reminder %s could not be composed", delivery.pk)
        _finish(delivery, State.FAILED, last_error=f"{type(exc).__name__}: {exc}")
        return Outcome.FAILED
    if message is None:
        _finish(delivery, State.SKIPPED, last_error="Nothing to report.")
        return Outcome.SKIPPED
    if delivery.channel != Channel.EMAIL:
        return _robot_send(delivery, message)
    if not message.recipients():
        _finish(delivery, State.FAILED, last_error="No recipient has an e-mail address.")
        return Outcome.FAILED
    recipients = ", ".join(message.recipients())
    mark_sent = _mark_sent_statement(delivery, recipients)
    with connection.cursor() as cursor:  # opened before the hand-off, not after it
        try:
            mailer = get_connection(timeout=float(getattr(settings, "REMINDER_SEND_TIMEOUT_SECONDS", 30)))
            mailer.send_messages([message])
        except Exception as exc:  # noqa: BLE001 - classified below
            return _after_send_error(delivery, exc)
        # The instant between the mail system taking the message and this statement
        # reaching the database is the only one in which a crash makes the reminder go
        # out twice (with the same Message-ID): keep it to one prepared statement.
        cursor.execute(*mark_sent)
    logger.info("reminder sent (%s) to %s: %s", delivery.kind, recipients, message.subject)
    return Outcome.SENT


def _robot_send(delivery: ReminderDelivery, message: EmailMessage) -> str:
    """The e-mail's text as markdown to the office's robot; marked sent right after the robot's ``errcode`` 0."""
    robot = _robot(delivery)
    if robot is None:  # switched off since the check a moment ago
        _finish(delivery, State.SKIPPED, last_error="The office's robot for this channel was switched off.")
        return Outcome.SKIPPED
    markdown = notice_markdown(subject=message.subject, body=message.body, link=delivery_link(delivery))
    sent_to = f"{robot.get_channel_display()} ({robot.office})"
    mark_sent = _mark_sent_statement(delivery, sent_to)
    with connection.cursor() as cursor:
        try:
            robot_send(robot=robot, title=message.subject, markdown=markdown)
        except Exception as exc:  # noqa: BLE001 - classified below
            return _after_send_error(delivery, exc)
        cursor.execute(*mark_sent)
    logger.info("reminder sent (%s) to %s: %s", delivery.kind, sent_to, message.subject)
    return Outcome.SENT


def delivery_link(delivery: ReminderDelivery) -> str:
    """The admin page a notice points at (the robots' markdown link)."""
    if delivery.kind in (Kind.DUE, Kind.OVERDUE) and delivery.follow_up is not None:
        return _followup_url(delivery.follow_up)
    if delivery.kind == Kind.LARGE_PROJECT and delivery.project_id:
        return _admin_url("admin:recruitment_project_change", delivery.project_id)
    if delivery.kind == Kind.DIGEST:
        return _admin_url("admin:recruitment_myfollowup_changelist")
    if delivery.kind in ORDER_KINDS and delivery.supervision_order_id:
        return _admin_url("admin:recruitment_supervisionorder_change", delivery.supervision_order_id)
    if delivery.link:
        return settings.SITE_URL + delivery.link if delivery.link.startswith("/") else delivery.link
    return ""


def _mark_sent_statement(delivery: ReminderDelivery, recipients: str) -> tuple[str, list[Any]]:
    """The UPDATE that marks ``delivery`` sent, built before the hand-off so it runs right after it."""
    at = connection.ops.adapt_datetimefield_value(timezone.now())
    pk = ReminderDelivery._meta.pk.get_db_prep_value(delivery.pk, connection)
    return (
        f"UPDATE {_DELIVERY_TABLE} SET state = %s, claimed_until = NULL, updated_at = %s, sent_at = %s, "
        "sent_to = %s, last_error = '' WHERE id = %s AND state = %s",
        [State.SENT, at, at, recipients, pk, State.SENDING],
    )


def _after_send_error(delivery: ReminderDelivery, exc: BaseException) -> str:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    attempts = ReminderDelivery.objects.filter(pk=delivery.pk).values_list("attempts", flat=True).first() or 0
    if _is_transient(exc) and attempts < max_attempts():
        backoff = retry_backoff(attempts)
        logger.warning("reminder %s: attempt %d failed (%s), next in %s", delivery.pk, attempts, error, backoff)
        _finish(
            delivery,
            State.PENDING,
            last_error=error,
            next_attempt_at=timezone.now() + backoff,
            queued_at=None,
        )
        return Outcome.RETRY
    logger.error("reminder %s given up after %d attempt(s): %s", delivery.pk, attempts, error)
    _finish(delivery, State.FAILED, last_error=error)
    return Outcome.FAILED


# --- Composing the bilingual e-mails ------------------------------------------------------------


def _admin_url(name: str, *args: object) -> str:
    try:
        return settings.SITE_URL + reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _followup_url(follow_up: FollowUp) -> str:
    return _admin_url("admin:recruitment_followup_change", follow_up.pk) or _admin_url(
        "admin:recruitment_myfollowup_change", follow_up.pk
    )


def _addresses(users: Iterable[Any]) -> list[str]:
    seen: list[str] = []
    for user in users:
        email = getattr(user, "email", "") or ""
        if email and getattr(user, "is_active", True) and email not in seen:
            seen.append(email)
    return seen


def _followup_recipients(delivery: ReminderDelivery) -> tuple[list[str], list[str]]:
    follow_up = delivery.follow_up
    assert follow_up is not None
    person = follow_up.assignee or follow_up.project.owner
    to = _addresses([person] if person else [])
    if delivery.kind == Kind.OVERDUE or not to:
        # Overdue goes to the office's managers too; a follow-up with nobody to do it goes to them alone.
        managers = selectors.office_managers(office_id=follow_up.office_id)
        cc = [a for a in _addresses(managers) if a not in to]
        if not to:
            return cc, []
        return to, cc
    return to, []


DIGEST_LIGHTS_LIMIT = 50


def _digest_lights(*, user: Any) -> list[dict[str, Any]]:
    """The user's signed projects under a yellow or red light, each with its reasons worded in both languages."""
    from recruitment.lights import reason_text

    projects = list(selectors.projects_lit_for_user(user=user)[:DIGEST_LIGHTS_LIMIT])
    rows = []
    for project in projects:
        light = project.light
        reasons: dict[str, list[str]] = {}
        for language in ("zh-hans", "en"):
            with translation.override(language):
                reasons[language] = [
                    reason_text(r["kind"], r["params"]) if r.get("kind") and "params" in r else str(r.get("detail", ""))
                    for r in light.reasons or []
                ]
        rows.append(
            {
                "project": project,
                "color": light.color,
                "since": light.since,
                "reasons_zh": reasons["zh-hans"],
                "reasons_en": reasons["en"],
                "url": _admin_url("admin:recruitment_project_change", project.pk),
            }
        )
    return rows


def _render(template: str, context: dict[str, Any]) -> str:
    return render_to_string(f"recruitment/email/{template}", context)


def compose(delivery: ReminderDelivery, *, now: datetime | None = None) -> EmailMessage | None:
    """The e-mail for a delivery (Chinese first, then English), or None when a digest would be empty."""
    now = now or timezone.now()
    context: dict[str, Any] = {"delivery": delivery, "now": now, "site_url": settings.SITE_URL}
    if delivery.kind in (Kind.DUE, Kind.OVERDUE):
        follow_up = delivery.follow_up
        assert follow_up is not None
        to, cc = _followup_recipients(delivery)
        context.update(
            follow_up=follow_up,
            project=follow_up.project,
            enterprise=follow_up.project.enterprise,
            park=follow_up.project.park,
            assignee=follow_up.assignee,
            followup_url=_followup_url(follow_up),
            project_url=_admin_url("admin:recruitment_project_change", follow_up.project_id),
            overdue_by=now - follow_up.due_at,
        )
    elif delivery.kind == Kind.DIGEST:
        user = delivery.recipient
        if user is None:
            return None
        followups = list(
            selectors.followups_open_of_user(user=user).select_related("project__enterprise", "project__park")[:50]
        )
        stale = list(selectors.projects_stale_for_user(user=user, now=now)[:50])
        warned = _digest_lights(user=user)
        if not followups and not stale and not warned:
            return None
        late = now - selectors.overdue_after()
        context.update(
            user=user,
            followups=[(f, f.due_at <= now, f.due_at <= late) for f in followups],
            stale_projects=stale,
            stale_days=settings.RECRUITMENT_STALE_AFTER_DAYS,
            warned_projects=warned,
            my_followups_url=_admin_url("admin:recruitment_myfollowup_changelist"),
        )
        to, cc = _addresses([user]), []
    elif delivery.kind == Kind.LARGE_PROJECT:
        project = delivery.project
        assert project is not None
        managers, office_addresses = selectors.provincial_recipients()
        to = list(dict.fromkeys(_addresses(managers) + office_addresses))
        cc = []
        context.update(
            project=project,
            enterprise=project.enterprise,
            park=project.park,
            threshold=settings.RECRUITMENT_LARGE_PROJECT_CNY,
            project_url=_admin_url("admin:recruitment_project_change", project.pk),
        )
    elif delivery.kind == Kind.WEBHOOK_DISABLED:
        office = delivery.office
        if office is None:
            return None
        to = list(
            dict.fromkeys(
                _addresses(selectors.office_managers(office_id=office.pk)) + ([office.email] if office.email else [])
            )
        )
        cc = []
        context.update(link_url=delivery_link(delivery))
    elif delivery.kind in MANAGER_NOTICE_KINDS:
        if delivery.office is None:
            return None
        to, cc = _addresses([delivery.recipient] if delivery.recipient else []), []
        context.update(office=delivery.office, link_url=delivery_link(delivery))
    elif delivery.kind in ORDER_KINDS:
        order = delivery.supervision_order
        assert order is not None and delivery.project is not None
        to, cc = _addresses([delivery.recipient] if delivery.recipient else []), []
        context.update(
            order=order,
            project=delivery.project,
            enterprise=delivery.project.enterprise,
            park=delivery.project.park,
            order_url=_admin_url("admin:recruitment_supervisionorder_change", order.pk),
        )
    else:  # pragma: no cover - the kinds are a closed set
        raise ValueError(f"unknown reminder kind {delivery.kind}")
    subject = " ".join(_render(f"{delivery.kind}_subject.txt", context).split())
    body = _render(f"{delivery.kind}.txt", context)
    return EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
        cc=cc,
        headers={
            "Message-ID": delivery.message_id,
            "X-Chain-Recruit-Delivery": str(delivery.pk),
            "X-Chain-Recruit-Kind": delivery.kind,
            "Auto-Submitted": "auto-generated",
        },
    )
