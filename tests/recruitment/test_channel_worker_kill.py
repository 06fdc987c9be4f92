"""A robot notice for a due follow-up arrives once on each enabled channel through a real worker's SIGKILL.

The stack of the reminder process tests (``reminder_processes.py``): ``celery worker``
and ``celery beat`` with the production settings on Redis (``REMINDER_TEST_REDIS_DB``
of TEST_REDIS_URL's server), Django's file mail backend, and the fake WeCom and
DingTalk robots on 127.0.0.1. The worker is killed while a robot holds its request
unanswered; the robot drops a request whose client went away, as a real one that
never completed the exchange.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from crm.sealing import seal
from recruitment.models import OfficeChannel, ReminderDelivery
from tests.factories import FollowUpFactory, UserFactory
from tests.recruitment.reminder_processes import redis_flush, reminder_redis_url, stack, wait_for
from tests.recruitment.robot_servers import DINGTALK_SECRET, robot_servers

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

FAST = {
    "REMINDER_SCAN_SECONDS": 1,
    "REMINDER_SWEEP_SECONDS": 2,
    "REMINDER_REQUEUE_AFTER_SECONDS": 8,
    "REMINDER_LEASE_SECONDS": 10,
    "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1",
}


@pytest.fixture
def redis_db():  # type: ignore[no-untyped-def]
    url = reminder_redis_url()
    assert url, "TEST_REDIS_URL is set by the redis marker's check"
    redis_flush(url)
    yield url
    redis_flush(url)


def test_a_robot_notice_arrives_once_on_each_enabled_channel_through_a_celery_worker_kill(
    park_office, redis_db, tmp_path
):
    with robot_servers() as robots:
        OfficeChannel.objects.create(office=park_office, channel="wecom", url=robots.wecom_url)
        OfficeChannel.objects.create(
            office=park_office, channel="dingtalk", url=robots.dingtalk_url, secret_sealed=seal(DINGTALK_SECRET)
        )
        assignee = UserFactory(office=park_office, is_staff=True, email="zhang.wei@yangqu.example")
        FollowUpFactory(office=park_office, assignee=assignee, due_at=timezone.now() - timedelta(minutes=5))
        robots.hold = threading.Event()
        # The workers open the robot secret this process sealed.
        with stack(tmp_path, redis_db, SEALING_KEYS=",".join(settings.SEALING_KEYS), **FAST) as s:
            s.worker("w1", concurrency=1)
            s.beat("beat")
            assert robots.waiting.wait(120), "no worker reached a robot\n" + s.logs()
            s.kill("w1")  # SIGKILL mid-request: the robot has not answered
            time.sleep(0.5)  # the robot notices its client is gone and drops the request
            robots.hold.set()
            assert robots.posted == []
            s.worker("w2")  # the dead worker's claim runs out; the sweep queues the notice again
            wait_for(
                lambda: (
                    ReminderDelivery.objects.count() == 3
                    and set(ReminderDelivery.objects.values_list("state", flat=True)) == {"sent"}
                ),
                timeout=120,
                what="every channel's notice sent after the restart\n" + s.logs(),
            )
            time.sleep(3)  # a few more scans and sweeps: nothing goes out again
            mails = s.mails_by_delivery()
        assert len(robots.of("wecom")) == 1
        assert len(robots.of("dingtalk")) == 1
    deliveries = dict(ReminderDelivery.objects.values_list("channel", "pk"))
    assert set(deliveries) == {"email", "wecom", "dingtalk"}
    assert mails == {str(deliveries["email"]): 1}
