"""Reminders in one process: claim → send → mark, retries, the sweep, digests and notices.

Time is moved with time-machine; the mail backend is Django's in-memory one, so
``mail.outbox`` is what would have gone out. The multi-process guarantees (real
workers on Redis, SIGKILL, two beats, Redis stopped) are in ``test_worker_*.py``.
"""

from __future__ import annotations

import smtplib
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from config.celery import app as celery_app
from config.celery import beat_schedule_sync
from recruitment import reminders, selectors, services, tasks
from recruitment.models import ReminderDelivery
from tests.brokers import use_broker
from tests.factories import (
    EnterpriseFactory,
    FollowUpFactory,
    InteractionFactory,
    OfficeFactory,
    ParkFactory,
    ProjectFactory,
    StageFactory,
    UserFactory,
)
from tests.recruitment.reminder_processes import reminder_redis_url

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Asia/Shanghai


class Published(list):
    """A publisher that records the delivery ids it was asked to queue."""

    def __call__(self, ids):  # type: ignore[no-untyped-def]
        self.extend(ids)


class FailingBackend(BaseEmailBackend):
    """A mail system that refuses every message with ``error``."""

    error: ClassVar[Exception] = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        raise type(self).error


class RejectingBackend(FailingBackend):
    error = smtplib.SMTPRecipientsRefused({"x@example.org": (550, b"No such user")})


@pytest.fixture
def assignee(park_office):  # type: ignore[no-untyped-def]
    return UserFactory(office=park_office, is_staff=True, email="zhang.wei@yangqu.example", display_name="张伟")


@pytest.fixture
def manager(park_office):  # type: ignore[no-untyped-def]
    return UserFactory(office=park_office, is_staff=True, is_manager=True, email="li.na@yangqu.example")


def _followup(office, assignee, due_at, **kw):  # type: ignore[no-untyped-def]
    return FollowUpFactory(office=office, assignee=assignee, due_at=due_at, **kw)


def _scan(now: datetime | None = None) -> Published:
    published = Published()
    reminders.reminders_scan(now=now, publish=published)
    return published


def _scan_committed(django_capture_on_commit_callbacks, now=None) -> Published:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        return _scan(now)


def _send_all(ids) -> list[str]:  # type: ignore[no-untyped-def]
    return [reminders.delivery_send(delivery_id=i) for i in ids]


# --- Claim ------------------------------------------------------------------------------------


def test_scan_records_one_delivery_per_due_followup_and_queues_it_after_commit(
    park_office, assignee, django_capture_on_commit_callbacks
):
    due = _followup(park_office, assignee, T0 - timedelta(minutes=5))
    _followup(park_office, assignee, T0 + timedelta(minutes=5))  # not yet
    _followup(park_office, assignee, T0 - timedelta(minutes=5), status="done")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        published = _scan(T0)
        assert published == []  # nothing goes to the broker before the commit
    for callback in callbacks:
        callback()

    delivery = ReminderDelivery.objects.get()
    assert (delivery.follow_up, delivery.kind, delivery.due_at) == (due, "due", due.due_at)
    assert delivery.recipient == assignee and delivery.state == "pending" and delivery.queued_at == T0
    assert published == [delivery.pk]


def test_a_second_scan_claims_nothing_more(park_office, assignee, django_capture_on_commit_callbacks):
    _followup(park_office, assignee, T0 - timedelta(minutes=5))

    first = _scan_committed(django_capture_on_commit_callbacks, T0)
    second = _scan_committed(django_capture_on_commit_callbacks, T0 + timedelta(minutes=1))

    assert len(first) == 1 and second == []
    assert ReminderDelivery.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_scans_claim_each_followup_exactly_once(park_office, assignee):
    for i in range(120):
        _followup(park_office, assignee, T0 - timedelta(minutes=i % 50 + 1))
    published: list[Published] = [Published() for _ in range(4)]
    barrier = threading.Barrier(4)

    def scan(i: int) -> None:
        try:
            barrier.wait()
            reminders.reminders_scan(now=T0, publish=published[i])
        finally:
            connection.close()

    threads = [threading.Thread(target=scan, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    queued = [pk for p in published for pk in p]
    assert len(queued) == len(set(queued)) == 120
    assert ReminderDelivery.objects.count() == 120
    assert set(queued) == set(ReminderDelivery.objects.values_list("pk", flat=True))


def test_a_followup_created_in_a_transaction_that_rolled_back_never_gets_a_reminder(
    park_office, assignee, django_capture_on_commit_callbacks
):
    project = ProjectFactory(office=park_office)
    with time_machine.travel(T0, tick=False):
        with pytest.raises(RuntimeError), transaction.atomic():
            services.followup_create(
                office=park_office, actor=assignee, project=project, assignee=assignee, due_at=T0, note="回访"
            )
            raise RuntimeError("the request failed after the follow-up was written")

    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        published = _scan_committed(django_capture_on_commit_callbacks)

    assert published == [] and not ReminderDelivery.objects.exists() and mail.outbox == []


def test_a_followup_rescheduled_before_it_fired_gets_one_reminder_for_the_new_time(
    park_office, assignee, django_capture_on_commit_callbacks
):
    follow_up = _followup(park_office, assignee, T0 + timedelta(minutes=10))
    new_time = T0 + timedelta(hours=3)
    with time_machine.travel(T0, tick=False):
        services.followup_update(follow_up=follow_up, actor=assignee, due_at=new_time)

    sent = []
    for minutes in range(0, 4 * 60, 15):  # the beat's scans across the afternoon
        with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False):
            sent += _send_all(_scan_committed(django_capture_on_commit_callbacks))

    assert sent == ["sent"]
    assert list(ReminderDelivery.objects.values_list("due_at", "state")) == [(new_time, "sent")]
    assert len(mail.outbox) == 1


def test_a_followup_rescheduled_after_the_claim_is_skipped_then_reminded_at_the_new_time(
    park_office, assignee, django_capture_on_commit_callbacks
):
    follow_up = _followup(park_office, assignee, T0)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        claimed = _scan_committed(django_capture_on_commit_callbacks)
        services.followup_update(follow_up=follow_up, actor=assignee, due_at=T0 + timedelta(days=2))
        assert _send_all(claimed) == ["skipped"]
    with time_machine.travel(T0 + timedelta(days=2, minutes=1), tick=False):
        assert _send_all(_scan_committed(django_capture_on_commit_callbacks)) == ["sent"]

    assert len(mail.outbox) == 1
    assert dict(ReminderDelivery.objects.values_list("due_at", "state")) == {
        T0: "skipped",
        T0 + timedelta(days=2): "sent",
    }


@pytest.mark.parametrize("finish", ["complete", "cancel", "close_project"])
def test_a_followup_finished_between_claim_and_send_sends_nothing(
    park_office, assignee, django_capture_on_commit_callbacks, finish
):
    follow_up = _followup(park_office, assignee, T0)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        claimed = _scan_committed(django_capture_on_commit_callbacks)
    if finish == "complete":
        services.followup_complete(follow_up=follow_up, actor=assignee)
    elif finish == "cancel":
        services.followup_cancel(follow_up=follow_up, actor=assignee)
    else:
        services.project_transition(project=follow_up.project, to="lost", actor=assignee, reason="企业放弃")

    assert _send_all(claimed) == ["skipped"]
    assert mail.outbox == []
    assert ReminderDelivery.objects.get().last_error


# --- Overdue --------------------------------------------------------------------------------------


def test_an_overdue_followup_reminds_the_assignee_and_the_offices_managers(
    park_office, assignee, manager, django_capture_on_commit_callbacks
):
    other_office_manager = UserFactory(office=OfficeFactory(), is_manager=True, email="boss@elsewhere.example")
    follow_up = _followup(park_office, assignee, T0)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        assert _send_all(_scan_committed(django_capture_on_commit_callbacks)) == ["sent"]
    with time_machine.travel(T0 + timedelta(hours=23), tick=False):
        assert _scan_committed(django_capture_on_commit_callbacks) == []  # not a day late yet
    with time_machine.travel(T0 + timedelta(hours=24, minutes=1), tick=False):
        assert _send_all(_scan_committed(django_capture_on_commit_callbacks)) == ["sent"]

    due_mail, overdue_mail = mail.outbox
    assert due_mail.to == [assignee.email] and due_mail.cc == []
    assert overdue_mail.to == [assignee.email]
    assert overdue_mail.cc == [manager.email]
    assert other_office_manager.email not in overdue_mail.recipients()
    assert "逾期" in overdue_mail.subject and "overdue" in overdue_mail.subject
    assert set(ReminderDelivery.objects.filter(follow_up=follow_up).values_list("kind", flat=True)) == {
        "due",
        "overdue",
    }


def test_a_followup_first_seen_a_day_late_gets_only_the_overdue_reminder(
    park_office, assignee, manager, django_capture_on_commit_callbacks
):
    _followup(park_office, assignee, T0 - timedelta(days=3))

    with time_machine.travel(T0, tick=False):
        _send_all(_scan_committed(django_capture_on_commit_callbacks))

    assert list(ReminderDelivery.objects.values_list("kind", flat=True)) == ["overdue"]
    assert len(mail.outbox) == 1


@override_settings(RECRUITMENT_OVERDUE_AFTER_HOURS=2)
def test_the_overdue_delay_is_a_setting(park_office, assignee, django_capture_on_commit_callbacks):
    _followup(park_office, assignee, T0)

    with time_machine.travel(T0 + timedelta(hours=2, minutes=1), tick=False):
        _scan_committed(django_capture_on_commit_callbacks)

    assert list(ReminderDelivery.objects.values_list("kind", flat=True)) == ["overdue"]


def test_a_followup_nobody_is_assigned_to_reminds_the_project_owner_or_else_the_managers(
    park_office, assignee, manager, django_capture_on_commit_callbacks
):
    owned = FollowUpFactory(office=park_office, assignee=None, due_at=T0, project__owner=assignee)
    orphan = FollowUpFactory(office=park_office, assignee=None, due_at=T0)

    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        _send_all(_scan_committed(django_capture_on_commit_callbacks))

    by_delivery = {m.extra_headers["X-Chain-Recruit-Delivery"]: m for m in mail.outbox}
    owned_mail = by_delivery[str(ReminderDelivery.objects.get(follow_up=owned).pk)]
    orphan_mail = by_delivery[str(ReminderDelivery.objects.get(follow_up=orphan).pk)]
    assert owned_mail.to == [assignee.email]
    assert orphan_mail.to == [manager.email]


# --- Send and mark ---------------------------------------------------------------------------------


def test_sending_a_delivery_twice_sends_one_email(park_office, assignee, django_capture_on_commit_callbacks):
    _followup(park_office, assignee, T0)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        [delivery_id] = _scan_committed(django_capture_on_commit_callbacks)

        assert _send_all([delivery_id, delivery_id]) == ["sent", "not_claimed"]
        assert tasks.send_reminder.run(str(delivery_id)) == "not_claimed"

    assert len(mail.outbox) == 1
    delivery = ReminderDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.sent_to) == ("sent", 1, assignee.email)


def test_the_send_task_returns_quietly_when_the_delivery_is_gone(park_office, assignee):
    assert tasks.send_reminder.run(str(uuid.uuid4())) == "not_claimed"
    assert tasks.send_reminder.run(str(uuid.uuid4()), added_in_a_later_release=True) == "not_claimed"


@override_settings(SITE_URL="https://zhaoshang.example.gov.cn")
def test_the_email_is_bilingual_and_names_the_note_project_enterprise_park_and_admin_page(
    park_office, assignee, django_capture_on_commit_callbacks
):
    park = ParkFactory(name="阳曲产业园区", name_en="Yangqu Industrial Park")
    enterprise = EnterpriseFactory(name="山西钢科碳材料有限公司", name_en="Shanxi Gangke Carbon Materials")
    project = ProjectFactory(office=park_office, title="高性能碳纤维扩产项目", park=park, enterprise=enterprise)
    follow_up = _followup(park_office, assignee, T0, project=project, note="确认第二期用地需求 & 环评进度")

    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        _send_all(_scan_committed(django_capture_on_commit_callbacks))

    [message] = mail.outbox
    body = message.body
    assert message.subject.startswith("【跟进到期】高性能碳纤维扩产项目")
    assert "Follow-up due" in message.subject
    assert body.index("以下跟进已到期") < body.index("This follow-up is due now")  # Chinese first
    for text in ("确认第二期用地需求 & 环评进度", "高性能碳纤维扩产项目", "山西钢科碳材料有限公司", "阳曲产业园区"):
        assert text in body  # no HTML escaping in a text e-mail
    assert "Shanxi Gangke Carbon Materials" in body and "Yangqu Industrial Park" in body
    assert "2026年3月2日 09:00" in body  # local time, Asia/Shanghai
    assert "https://zhaoshang.example.gov.cn/admin/recruitment/" in body
    assert str(follow_up.pk) in body
    delivery = ReminderDelivery.objects.get()
    assert message.extra_headers["Message-ID"] == f"<reminder.{delivery.pk}@chain-recruit>"


@override_settings(
    EMAIL_BACKEND="tests.recruitment.test_reminders.FailingBackend",
    REMINDER_MAX_ATTEMPTS=3,
    REMINDER_RETRY_BACKOFF_SECONDS=60,
)
def test_a_transient_failure_is_retried_with_backoff_from_the_database_not_the_broker(
    park_office, assignee, django_capture_on_commit_callbacks
):
    _followup(park_office, assignee, T0)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        [delivery_id] = _scan_committed(django_capture_on_commit_callbacks)
        assert _send_all([delivery_id]) == ["retry"]

    delivery = ReminderDelivery.objects.get()
    assert delivery.state == "pending" and delivery.attempts == 1 and delivery.queued_at is None
    assert delivery.next_attempt_at == T0 + timedelta(minutes=2)
    assert "SMTPServerDisconnected" in delivery.last_error

    with time_machine.travel(T0 + timedelta(minutes=1, seconds=30), tick=False):
        assert _scan_committed(django_capture_on_commit_callbacks) == []  # backing off
        assert _send_all([delivery_id]) == ["not_claimed"]  # a stray message does not jump the back-off
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        assert _scan_committed(django_capture_on_commit_callbacks) == [delivery_id]
        assert _send_all([delivery_id]) == ["retry"]
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.next_attempt_at == T0 + timedelta(minutes=4)  # doubled


@override_settings(EMAIL_BACKEND="tests.recruitment.test_reminders.FailingBackend", REMINDER_MAX_ATTEMPTS=3)
def test_a_delivery_gives_up_visibly_after_the_last_attempt(park_office, assignee, django_capture_on_commit_callbacks):
    _followup(park_office, assignee, T0)
    outcomes = []
    for minutes in range(1, 30):
        with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False):
            outcomes += _send_all(_scan_committed(django_capture_on_commit_callbacks))

    assert outcomes == ["retry", "retry", "failed"]
    delivery = ReminderDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("failed", 3)
    assert "Connection unexpectedly closed" in delivery.last_error


@override_settings(EMAIL_BACKEND="tests.recruitment.test_reminders.RejectingBackend")
def test_a_permanent_rejection_fails_at_once(park_office, assignee, django_capture_on_commit_callbacks):
    _followup(park_office, assignee, T0)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        assert _send_all(_scan_committed(django_capture_on_commit_callbacks)) == ["failed"]
    assert ReminderDelivery.objects.get().attempts == 1


def test_a_reminder_nobody_can_receive_fails_visibly(park_office, django_capture_on_commit_callbacks):
    no_address = UserFactory(office=park_office, email="")
    _followup(park_office, no_address, T0)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        assert _send_all(_scan_committed(django_capture_on_commit_callbacks)) == ["failed"]
    assert "e-mail address" in ReminderDelivery.objects.get().last_error


# --- Outbox and sweep ------------------------------------------------------------------------------


@override_settings(REMINDER_REQUEUE_AFTER_SECONDS=600)
def test_the_sweep_requeues_a_delivery_whose_message_was_lost(
    park_office, assignee, django_capture_on_commit_callbacks
):
    _followup(park_office, assignee, T0)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        [delivery_id] = _scan_committed(django_capture_on_commit_callbacks)  # ...and the message is lost
    swept = Published()
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            reminders.deliveries_requeue_stuck(publish=swept)
        assert swept == []  # queued recently: give the workers time
    with time_machine.travel(T0 + timedelta(minutes=12), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            reminders.deliveries_requeue_stuck(publish=swept)
        assert swept == [delivery_id]
        assert _send_all(swept) == ["sent"]
    assert len(mail.outbox) == 1


@override_settings(REMINDER_LEASE_SECONDS=300)
def test_the_sweep_takes_back_a_send_whose_worker_died(park_office, assignee, django_capture_on_commit_callbacks):
    _followup(park_office, assignee, T0)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        [delivery_id] = _scan_committed(django_capture_on_commit_callbacks)
        assert reminders._claim_send(delivery_id, reminders.timezone.now())  # a worker takes it, then dies
        assert _send_all([delivery_id]) == ["not_claimed"]  # held while the lease runs
    swept = Published()
    with time_machine.travel(T0 + timedelta(minutes=7), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            reminders.deliveries_requeue_stuck(publish=swept)
        assert swept == [delivery_id]
        assert ReminderDelivery.objects.get().state == "pending"
        assert _send_all(swept) == ["sent"]
    assert ReminderDelivery.objects.get().attempts == 2
    assert len(mail.outbox) == 1


@override_settings(REMINDER_LEASE_SECONDS=60, REMINDER_MAX_ATTEMPTS=2)
def test_the_sweep_gives_up_on_a_reminder_whose_worker_dies_every_time(
    park_office, assignee, django_capture_on_commit_callbacks
):
    _followup(park_office, assignee, T0)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        [delivery_id] = _scan_committed(django_capture_on_commit_callbacks)
    for minutes in (1, 3):
        with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False):
            reminders.deliveries_requeue_stuck(publish=Published())
            assert reminders._claim_send(delivery_id, reminders.timezone.now())
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        swept = Published()
        reminders.deliveries_requeue_stuck(publish=swept)

    delivery = ReminderDelivery.objects.get()
    assert swept == [] and delivery.state == "failed" and "outcome" in delivery.last_error


@pytest.fixture
def broker_at():  # type: ignore[no-untyped-def]
    original = celery_app.conf.broker_url
    yield use_broker
    use_broker(original)


def test_with_the_broker_down_the_scan_leaves_its_claims_to_the_next_scan(
    park_office, assignee, broker_at, django_capture_on_commit_callbacks
):
    _followup(park_office, assignee, T0)
    _followup(park_office, assignee, T0)
    broker_at("redis://127.0.0.1:1/0")  # nothing listens there

    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            result = reminders.reminders_scan()

    assert result.claimed == 2
    assert set(ReminderDelivery.objects.values_list("state", "queued_at")) == {("pending", None)}
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        assert len(_scan_committed(django_capture_on_commit_callbacks)) == 2  # the broker is back


@pytest.mark.redis
def test_no_reminder_is_put_on_the_broker_with_an_eta_or_countdown(
    park_office, assignee, broker_at, redis_url, django_capture_on_commit_callbacks
):
    import json

    import redis

    url = reminder_redis_url()
    client = redis.Redis.from_url(url)
    client.delete("celery")
    broker_at(url)
    _followup(park_office, assignee, T0)
    try:
        with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
            with django_capture_on_commit_callbacks(execute=True):
                reminders.reminders_scan()
        messages = [json.loads(raw) for raw in client.lrange("celery", 0, -1)]
    finally:
        client.delete("celery")

    delivery = ReminderDelivery.objects.get()
    [message] = messages
    assert message["headers"]["task"] == "recruitment.send_reminder"
    assert message["headers"]["eta"] is None and message["headers"].get("countdown") is None
    assert str(delivery.pk) in message["headers"]["argsrepr"]


@pytest.mark.postgres
def test_the_scan_costs_the_same_queries_for_5_or_60_due_followups(park_office, assignee):
    def queries_for(n: int, now: datetime) -> int:
        for _ in range(n):
            _followup(park_office, assignee, now - timedelta(minutes=1))
        with CaptureQueriesContext(connection) as ctx:
            reminders.reminders_scan(now=now, publish=Published())
        return len(ctx.captured_queries)

    assert queries_for(5, T0) == queries_for(60, T0 + timedelta(hours=1))


# --- Digest and large projects ---------------------------------------------------------------------


def test_the_weekly_digest_lists_open_followups_and_stale_projects_once_a_week(
    park_office, assignee, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0 - timedelta(days=60), tick=False):
        stale = ProjectFactory(office=park_office, owner=assignee, title="长链二元酸项目")
        lively = ProjectFactory(office=park_office, owner=assignee, title="戊二胺项目")
    InteractionFactory(
        office=park_office, project=stale, enterprise=stale.enterprise, occurred_at=T0 - timedelta(days=45)
    )
    InteractionFactory(
        office=park_office, project=lively, enterprise=lively.enterprise, occurred_at=T0 - timedelta(days=3)
    )
    _followup(park_office, assignee, T0 - timedelta(days=2), project=lively, note="催办签约材料")
    _followup(park_office, assignee, T0 + timedelta(days=2), project=lively, note="安排考察")

    with time_machine.travel(T0, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            first = reminders.digests_claim(publish=Published())
            again = reminders.digests_claim(publish=Published())  # a second beat, or a retry
        outcomes = _send_all(first)
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        later_same_week = reminders.digests_claim(publish=Published())

    assert outcomes == ["sent"] and again == [] and later_same_week == []
    [message] = mail.outbox
    assert message.to == [assignee.email]
    assert "催办签约材料" in message.body and "安排考察" in message.body and "【已逾期】" in message.body
    assert "长链二元酸项目" in message.body and "戊二胺项目" not in message.body.split("超过")[1].split("\n\n")[0]
    with time_machine.travel(T0 + timedelta(days=7), tick=False):
        assert len(reminders.digests_claim(publish=Published())) == 1  # next week


def test_an_empty_digest_is_not_sent(park_office, manager, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False):
        ids = reminders.digests_claim(publish=Published())
        assert _send_all(ids) == ["skipped"]
    assert mail.outbox == []


def test_a_stale_project_is_one_without_an_interaction_for_30_days(park_office):
    with time_machine.travel(T0 - timedelta(days=40), tick=False):
        never = ProjectFactory(office=park_office)
        old = ProjectFactory(office=park_office)
        recent = ProjectFactory(office=park_office)
        closed = ProjectFactory(office=park_office, status="lost")
    with time_machine.travel(T0 - timedelta(days=10), tick=False):
        young = ProjectFactory(office=park_office)
    InteractionFactory(office=park_office, project=old, enterprise=old.enterprise, occurred_at=T0 - timedelta(days=31))
    InteractionFactory(
        office=park_office, project=recent, enterprise=recent.enterprise, occurred_at=T0 - timedelta(days=29)
    )

    stale = set(selectors.projects_stale(now=T0))

    assert stale == {never, old}
    assert recent not in stale and closed not in stale and young not in stale


@override_settings(RECRUITMENT_LARGE_PROJECT_CNY=500_000_000)
def test_a_large_project_notice_goes_to_the_provincial_managers_and_office_through_the_outbox(
    park_office, provincial_office, provincial_user, assignee, django_capture_on_commit_callbacks
):
    provincial_office.email = "zhaoshang@province.example"
    provincial_office.save()
    provincial_user.email = "director@province.example"
    provincial_user.save()
    with time_machine.travel(T0, tick=False):
        project = services.project_create(
            office=park_office,
            actor=assignee,
            stages=[StageFactory()],
            title="生物基聚酰胺一体化项目",
            enterprise=EnterpriseFactory(),
            park=ParkFactory(),
            owner=assignee,
            planned_investment=Decimal("1200000000"),
        )
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        queued = _scan_committed(django_capture_on_commit_callbacks)
        assert _send_all(queued) == ["sent"]

    [message] = mail.outbox
    assert set(message.to) == {"director@province.example", "zhaoshang@province.example"}
    assert "生物基聚酰胺一体化项目" in message.body and "12.00亿元" in message.body
    assert ReminderDelivery.objects.get(kind="large_project").project == project


# --- Tenancy -------------------------------------------------------------------------------------


def test_deliveries_are_scoped_to_the_office_of_their_followup(park_office, partner_office, provincial_user):
    mine = UserFactory(office=park_office, is_manager=True)
    theirs = UserFactory(office=partner_office, is_manager=True)
    own = ReminderDelivery.objects.create(
        kind="due", follow_up=(f := _followup(park_office, mine, T0)), project=f.project, due_at=T0
    )
    other = ReminderDelivery.objects.create(
        kind="due", follow_up=(g := _followup(partner_office, theirs, T0)), project=g.project, due_at=T0
    )

    assert set(selectors.deliveries_for_user(user=mine)) == {own}
    assert set(selectors.deliveries_for_user(user=theirs)) == {other}
    assert set(selectors.deliveries_for_user(user=provincial_user)) == {own, other}


def test_my_followups_are_my_open_ones_in_my_office(park_office, partner_office, assignee):
    mine = _followup(park_office, assignee, T0)
    _followup(park_office, assignee, T0, status="done")
    _followup(park_office, UserFactory(office=park_office), T0)
    moved = _followup(partner_office, assignee, T0)  # from an office the user no longer belongs to

    result = list(selectors.followups_open_of_user(user=assignee))

    assert result == [mine] and moved not in result


# --- Beat schedule ---------------------------------------------------------------------------------


@override_settings(REMINDER_SCAN_SECONDS=60, REMINDER_SWEEP_SECONDS=300, REMINDER_DIGEST_CRONTAB="0 8 * * 1")
def test_the_beat_schedule_in_code_is_seeded_once_and_admin_edits_survive():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    assert set(beat_schedule_sync()) == {
        "recruitment.scan_reminders",
        "recruitment.sweep_reminders",
        "recruitment.send_weekly_digests",
        "recruitment.recompute_lights",
        "recruitment.compact_pipeline_tally",
        "api.purge_expired",
        "push.dispatch_webhooks",
        "push.purge_webhook_log",
        "ledger.remind_ledger_deadline",
    }
    lights = PeriodicTask.objects.get(name="recruitment.recompute_lights")
    assert (lights.task, lights.crontab.minute, lights.crontab.hour) == ("recruitment.recompute_lights", "30", "1")
    scan = PeriodicTask.objects.get(name="recruitment.scan_reminders")
    assert (scan.task, scan.interval.every, scan.interval.period) == ("recruitment.scan_reminders", 60, "seconds")
    digest = PeriodicTask.objects.get(name="recruitment.send_weekly_digests")
    assert (digest.crontab.minute, digest.crontab.hour, digest.crontab.day_of_week) == ("0", "8", "1")
    assert str(digest.crontab.timezone) == "Asia/Shanghai"

    scan.interval = IntervalSchedule.objects.create(every=30, period="seconds")  # edited in the admin
    scan.save()
    assert beat_schedule_sync() == []
    assert PeriodicTask.objects.get(name="recruitment.scan_reminders").interval.every == 30

    beat_schedule_sync(reset=True)
    assert PeriodicTask.objects.get(name="recruitment.scan_reminders").interval.every == 60


@override_settings(REMINDER_DIGEST_CRONTAB="0 8 * * 1")
def test_the_schedule_sync_survives_what_two_racing_beats_leave_behind():
    """Two beats starting at once may both create a schedule row (nothing makes them
    unique) and both try to create the same named task; the next start must still work."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    for _ in range(2):
        CrontabSchedule.objects.create(
            minute="0", hour="8", day_of_month="*", month_of_year="*", day_of_week="1", timezone="Asia/Shanghai"
        )
        IntervalSchedule.objects.create(every=60, period="seconds")
    beat_schedule_sync()
    beat_schedule_sync(reset=True)
    digest = PeriodicTask.objects.get(name="recruitment.send_weekly_digests")
    assert digest.crontab == CrontabSchedule.objects.order_by("pk").first()


# --- The Message-ID mailbox --------------------------------------------------------------------


def test_the_message_id_mailbox_keeps_one_copy_of_a_message_handed_over_twice(tmp_path, settings):
    from django.core.mail import EmailMessage, get_connection

    settings.EMAIL_BACKEND = "recruitment.email_files.MessageIdFileBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)

    def message(message_id: str, body: str) -> EmailMessage:
        return EmailMessage("提醒", body, "a@example.org", ["b@example.org"], headers={"Message-ID": message_id})

    backend = get_connection()
    assert backend.send_messages([message("<reminder.1@chain-recruit>", "第一次")]) == 1
    assert backend.send_messages([message("<reminder.1@chain-recruit>", "第一次")]) == 1  # a crash, then a resend
    backend.send_messages([message("<reminder.2@chain-recruit>", "另一封")])

    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["reminder.1@chain-recruit.eml", "reminder.2@chain-recruit.eml"]
    assert "Message-ID: <reminder.1@chain-recruit>" in (tmp_path / files[0]).read_text()
