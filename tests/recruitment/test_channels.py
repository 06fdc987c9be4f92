"""Notices on e-mail, WeCom and DingTalk robots: once per channel, retried, visible, per office and person."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.utils import timezone

from crm.sealing import seal
from recruitment import reminders
from recruitment.channels import dingtalk_signed_url
from recruitment.models import ChannelPreference, OfficeChannel, ReminderDelivery
from tests.factories import FollowUpFactory, UserFactory
from tests.recruitment.robot_servers import DINGTALK_SECRET, robot_servers

ROOT = Path(__file__).resolve().parents[2]


class Published(list):
    def __call__(self, ids):  # type: ignore[no-untyped-def]
        self.extend(ids)


@pytest.fixture
def scan(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """The scan as beat runs it, its queued sends recorded once its transactions commit."""

    def run(publish: Published) -> Published:
        with django_capture_on_commit_callbacks(execute=True):
            reminders.reminders_scan(publish=publish)
        return publish

    return run


@pytest.fixture
def robots():  # type: ignore[no-untyped-def]
    with robot_servers() as servers:
        yield servers


@pytest.fixture
def assignee(park_office):  # type: ignore[no-untyped-def]
    return UserFactory(office=park_office, is_staff=True, email="zhang.wei@yangqu.example")


@pytest.fixture
def office_robots(park_office, robots):  # type: ignore[no-untyped-def]
    OfficeChannel.objects.create(office=park_office, channel="wecom", url=robots.wecom_url)
    OfficeChannel.objects.create(
        office=park_office, channel="dingtalk", url=robots.dingtalk_url, secret_sealed=seal(DINGTALK_SECRET)
    )


def _due_followup(park_office, assignee):  # type: ignore[no-untyped-def]
    return FollowUpFactory(office=park_office, assignee=assignee, due_at=timezone.now() - timedelta(minutes=5))


def _send_all(ids) -> list[str]:  # type: ignore[no-untyped-def]
    return [reminders.delivery_send(delivery_id=i) for i in ids]


@pytest.mark.django_db
def test_a_due_follow_up_reaches_each_enabled_channel_once_as_markdown_with_the_admin_link(
    scan, park_office, assignee, office_robots, robots
):
    follow_up = _due_followup(park_office, assignee)
    published = Published()
    scan(published)
    rows = ReminderDelivery.objects.filter(follow_up=follow_up)
    assert sorted(rows.values_list("channel", flat=True)) == ["dingtalk", "email", "wecom"]
    assert _send_all(published) == ["sent"] * 3
    scan(published)  # a second scan claims nothing more
    assert _send_all(published) == ["not_claimed"] * 3
    assert len(mail.outbox) == 1
    (wecom,) = robots.of("wecom")
    (dingtalk,) = robots.of("dingtalk")
    link = f"/admin/recruitment/followup/{follow_up.pk}/change/"
    assert link in wecom["markdown"]["content"] and link in dingtalk["markdown"]["text"]
    assert follow_up.project.title in wecom["markdown"]["content"]
    assert set(rows.values_list("state", flat=True)) == {"sent"}


@pytest.mark.django_db
def test_a_rate_limited_robot_is_retried_and_the_failure_is_visible(scan, park_office, assignee, office_robots, robots):
    robots.queued_errors["wecom"] = [45009]
    robots.queued_errors["dingtalk"] = [130101]
    _due_followup(park_office, assignee)
    published = Published()
    scan(published)
    results = {ReminderDelivery.objects.get(pk=pk).channel: reminders.delivery_send(delivery_id=pk) for pk in published}
    assert results == {"email": "sent", "wecom": "retry", "dingtalk": "retry"}
    wecom = ReminderDelivery.objects.get(channel="wecom")
    assert wecom.state == "pending" and "45009" in wecom.last_error and wecom.next_attempt_at > timezone.now()
    assert "130101" in ReminderDelivery.objects.get(channel="dingtalk").last_error
    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=True):
        again = Published()
        scan(again)
        assert _send_all(again) == ["sent", "sent"]
    assert len(robots.of("wecom")) == len(robots.of("dingtalk")) == 1


@pytest.mark.django_db
def test_a_wrong_dingtalk_secret_fails_visibly_without_retrying(scan, park_office, assignee, office_robots, robots):
    OfficeChannel.objects.filter(channel="dingtalk").update(secret_sealed=seal("SECnot-the-secret"))
    _due_followup(park_office, assignee)
    published = Published()
    scan(published)
    _send_all(published)
    failed = ReminderDelivery.objects.get(channel="dingtalk")
    assert failed.state == "failed" and "310000" in failed.last_error
    assert robots.errors == [("dingtalk", 310000)]


@pytest.mark.django_db
def test_a_person_who_switched_a_channel_off_gets_nothing_there(scan, park_office, assignee, office_robots, robots):
    ChannelPreference.objects.create(user=assignee, channel="wecom", enabled=False)
    follow_up = _due_followup(park_office, assignee)
    scan(Published())
    assert sorted(ReminderDelivery.objects.filter(follow_up=follow_up).values_list("channel", flat=True)) == [
        "dingtalk",
        "email",
    ]


@pytest.mark.django_db
def test_another_office_robot_gets_nothing(scan, park_office, partner_office, assignee, robots):
    OfficeChannel.objects.create(office=partner_office, channel="wecom", url=robots.wecom_url)
    _due_followup(park_office, assignee)
    scan(Published())
    assert list(ReminderDelivery.objects.values_list("channel", flat=True)) == ["email"]


def test_dingtalk_signature_is_the_documented_hmac_of_timestamp_and_secret():
    url = dingtalk_signed_url(
        "https://oapi.dingtalk.com/robot/send?access_token=x", "SECabc", timestamp_ms=1577808000000
    )
    # base64(HMAC-SHA256("SECabc", "1577808000000\nSECabc")), url-encoded
    import base64
    import hashlib
    import hmac
    from urllib.parse import quote_plus

    digest = hmac.new(b"SECabc", b"1577808000000\nSECabc", hashlib.sha256).digest()
    assert url.endswith(f"&timestamp=1577808000000&sign={quote_plus(base64.b64encode(digest).decode())}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_a_robot_message_for_a_due_follow_up_arrives_once_on_each_channel_through_a_worker_kill(
    scan, park_office, assignee, office_robots, robots
):
    import threading

    _due_followup(park_office, assignee)
    published = Published()
    scan(published)
    by_channel = dict(ReminderDelivery.objects.values_list("channel", "pk"))
    robots.hold = threading.Event()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    }
    code = "; ".join(
        [
            "import django",
            "django.setup()",
            "from recruitment.reminders import delivery_send",
            *[f"delivery_send(delivery_id='{by_channel[c]}')" for c in ("wecom", "dingtalk")],
        ]
    )
    worker = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, start_new_session=True)
    try:
        assert robots.waiting.wait(60), "the worker never reached the robot"
        os.killpg(worker.pid, signal.SIGKILL)  # mid-request: the robot has not answered
        worker.wait(10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    robots.hold.set()
    assert ReminderDelivery.objects.get(channel="wecom").state == "sending"  # claimed by the dead worker
    assert robots.posted == []
    with time_machine.travel(timezone.now() + timedelta(minutes=11), tick=True):
        requeued = Published()
        reminders.deliveries_requeue_stuck(publish=requeued)  # the lease ran out: taken back
        scan(requeued)
        _send_all(list(dict.fromkeys(requeued)))
        _send_all(list(dict.fromkeys(requeued)))  # a duplicate message sends nothing
    assert len(robots.of("wecom")) == 1
    assert len(robots.of("dingtalk")) == 1
    assert len(mail.outbox) == 1
    assert set(ReminderDelivery.objects.values_list("state", flat=True)) == {"sent"}
