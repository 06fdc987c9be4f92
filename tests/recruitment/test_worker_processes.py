"""Exactly once in effect, with real processes: Celery workers and beats on Redis and PostgreSQL.

These start ``celery worker`` and ``celery beat`` as the deployed stack does (the
production settings, Django's file-based mail backend) and check the mail files
they write. Scan, sweep, lease and re-queue periods are shortened through the
environment so the tests take seconds, not minutes; nothing else differs.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone

from api.api_keys import api_key_create
from recruitment.models import FollowUp, ReminderDelivery
from tests.factories import EnterpriseFactory, OfficeFactory, ParkFactory, ProjectFactory, StageFactory, UserFactory
from tests.recruitment.reminder_processes import (
    RedisServer,
    free_port,
    redis_flush,
    reminder_redis_url,
    stack,
    wait_for,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

FAST = {
    "REMINDER_SCAN_SECONDS": 1,
    "REMINDER_SWEEP_SECONDS": 2,
    "REMINDER_REQUEUE_AFTER_SECONDS": 8,
    "REMINDER_LEASE_SECONDS": 10,
}


@pytest.fixture
def redis_db() -> str:
    url = reminder_redis_url()
    assert url, "TEST_REDIS_URL is set by the redis marker's check"
    redis_flush(url)
    yield url
    redis_flush(url)


def _due_followups(n: int, *, minutes_ago: int = 2) -> list[FollowUp]:
    office = OfficeFactory(kind="park")
    assignee = UserFactory(office=office, email="zhaoshang@yangqu.example")
    project = ProjectFactory(office=office, owner=assignee)
    due = timezone.now() - timedelta(minutes=minutes_ago)
    return FollowUp.objects.bulk_create(
        [FollowUp(office=office, project=project, assignee=assignee, due_at=due, note=f"回访 #{i}") for i in range(n)]
    )


def _sent() -> int:
    return ReminderDelivery.objects.filter(state=ReminderDelivery.State.SENT).count()


def _assert_exactly_once(s, follow_ups: list[FollowUp]) -> None:  # type: ignore[no-untyped-def]
    deliveries = list(ReminderDelivery.objects.values_list("pk", "follow_up_id", "kind", "state"))
    assert len(deliveries) == len(follow_ups), "one delivery per follow-up"
    assert {f for _, f, _, _ in deliveries} == {f.pk for f in follow_ups}
    assert {(k, st) for _, _, k, st in deliveries} == {("due", "sent")}
    mails = s.mails_by_delivery()
    duplicates = {d: n for d, n in mails.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} reminders e-mailed more than once"
    assert set(mails) == {str(pk) for pk, _, _, _ in deliveries}, "every delivery e-mailed"
    assert sum(mails.values()) == len(follow_ups)


def test_1000_due_followups_get_exactly_one_email_each_while_workers_are_killed(tmp_path, redis_db):
    """SIGKILL lands anywhere, also between the hand-off and the mark: the mailbox keeps one copy per Message-ID.

    The mailbox is ``MessageIdFileBackend`` (one file per Message-ID), standing for
    a receiving mail system that recognises a message it already has; how many
    messages were handed over a second time is counted from the workers' logs and
    printed, and can only be one per in-flight send of a killed worker.
    """
    follow_ups = _due_followups(1000)

    started = time.monotonic()
    timeline = []
    mailbox = {"EMAIL_BACKEND": "recruitment.email_files.MessageIdFileBackend"}
    with stack(tmp_path, redis_db, **FAST, **mailbox) as s:
        s.worker("w1")
        s.worker("w2")
        s.beat("beat")
        kills = 0
        for threshold in (100, 300, 500, 700):
            wait_for(lambda t=threshold: _sent() >= t, timeout=90, what=lambda t=threshold: f"{t} sent\n{s.logs()}")
            victim = ("w1", "w2")[kills % 2]
            s.kill(victim)  # SIGKILL to the worker and its pool children, mid-run
            kills += 1
            timeline.append(f"{time.monotonic() - started:.0f}s: killed {victim} at {_sent()} sent")
            s.worker(victim)
        wait_for(lambda: _sent() == 1000, timeout=120, what=lambda: f"all 1000 sent\n{s.logs()}")
        timeline.append(f"{time.monotonic() - started:.0f}s: all sent")
        time.sleep(FAST["REMINDER_REQUEUE_AFTER_SECONDS"] + 2)  # a late duplicate would show now

    assert kills == 4
    _assert_exactly_once(s, follow_ups)
    retaken = ReminderDelivery.objects.filter(attempts__gt=1).count()
    handed_twice = s.log_count("handed over again")
    assert handed_twice <= kills * 2  # at most the sends in flight in the killed workers (concurrency 2)
    print(
        f"\n1000 reminders, {kills} SIGKILLs, {retaken} sends taken back after a killed attempt, "
        f"{handed_twice} of them handed to the mail system a second time (same Message-ID, one copy kept);",
        timeline,
    )


def test_two_beats_at_once_send_no_duplicate(tmp_path, redis_db):
    follow_ups = _due_followups(200)

    with stack(tmp_path, redis_db, **FAST) as s:
        s.beat("beat1")
        s.beat("beat2")
        s.worker("w1")
        s.worker("w2")
        wait_for(lambda: _sent() == 200, timeout=90, what=lambda: f"all 200 sent\n{s.logs()}")
        # Both beats keep scanning; nothing more may go out.
        time.sleep(5)
        assert "recruitment.scan_reminders" in s.logs("beat1") and "recruitment.scan_reminders" in s.logs("beat2")

    _assert_exactly_once(s, follow_ups)


def test_with_redis_stopped_api_and_admin_keep_answering_and_missed_reminders_go_out_after(tmp_path, redis_db):
    office = OfficeFactory(kind="park", code="yangqu-office")
    staff = UserFactory(office=office, is_staff=True, email="staff@yangqu.example", username="wang")
    key = api_key_create(office=office, label="outage test").raw
    project = ProjectFactory(office=office, owner=staff)
    stage, park, enterprise = StageFactory(), ParkFactory(), EnterpriseFactory()
    redis = RedisServer(tmp_path)
    redis.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = {"Authorization": f"Bearer {key}"}
    try:
        with stack(tmp_path, redis.url, DJANGO_SECURE_SSL_REDIRECT=0, DJANGO_SECURE_COOKIES=0, **FAST) as s:
            s.manage("collectstatic", "--noinput", "-v", "0")
            s.web("web", port)
            s.worker("w1")
            s.beat("beat")
            wait_for(lambda: _ok(f"{base}/readyz"), timeout=60, what=lambda: f"web ready\n{s.logs()}")

            # Committed before the outage, falling due during it.
            before = FollowUp.objects.bulk_create(
                [
                    FollowUp(
                        office=office, project=project, assignee=staff, due_at=timezone.now() + timedelta(seconds=3)
                    )
                    for _ in range(3)
                ]
            )
            redis.stop()
            outage_started = time.monotonic()
            assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
            ready = requests.get(f"{base}/readyz", timeout=20)
            assert ready.status_code == 503 and ready.json()["checks"]["broker"] != "ok"

            created = []
            for i in range(3):
                response = requests.post(
                    f"{base}/api/v1/follow-ups/",
                    json={
                        "project": str(project.pk),
                        "due_at": (timezone.now() - timedelta(minutes=1)).isoformat(),
                        "note": f"断网期间录入 #{i}",
                        "assignee": "wang",
                    },
                    headers=api,
                    timeout=20,
                )
                assert response.status_code == 201, response.text
                created.append(response.json()["id"])
            response = requests.post(
                f"{base}/api/v1/projects/",
                json={
                    "title": "断网期间的新项目",
                    "enterprise": str(enterprise.pk),
                    "park": park.code,
                    "stages": [stage.code],
                },
                headers=api,
                timeout=20,
            )
            assert response.status_code == 201, response.text
            admin = requests.Session()
            page = admin.get(f"{base}/admin/login/", timeout=20)
            assert page.status_code == 200 and "csrftoken" in admin.cookies, (
                page.status_code,
                page.headers,
                s.logs("web"),
            )
            # The web process runs the production hashers (the tests use a fast MD5 one).
            hasher = PBKDF2PasswordHasher()
            staff.password = hasher.encode("outage-test-password-1", hasher.salt(), iterations=1000)
            staff.save()
            login = admin.post(
                f"{base}/admin/login/?next=/admin/recruitment/myfollowup/",
                data={
                    "username": "wang",
                    "password": "outage-test-password-1",
                    "csrfmiddlewaretoken": admin.cookies["csrftoken"],
                },
                headers={"Referer": f"{base}/admin/login/"},
                timeout=20,
            )
            assert login.status_code == 200 and "断网期间录入" in login.text, re.findall(
                r'class="errornote">(.*?)<|<li>(.*?)</li>', login.text, re.S
            )[:5]
            assert time.monotonic() - outage_started < 60, "every request answered promptly"
            time.sleep(5)  # the beat keeps trying to scan meanwhile
            assert s.mails_by_delivery() == {}

            redis.start()  # an empty Redis: whatever was queued before is gone
            back = time.monotonic()
            due = list(before) + list(FollowUp.objects.filter(pk__in=created))
            restarts: list[str] = []

            def all_sent() -> bool:
                # Celery's worker may give up on a broker connection lost mid-ack and exit; the
                # deployed stack restarts it (docker-compose ``restart: unless-stopped``), so does this.
                restarts.extend(s.restart_exited("w1", "beat"))
                return ReminderDelivery.objects.filter(follow_up__in=due, state="sent").count() == len(due)

            wait_for(
                all_sent,
                timeout=120,
                what=lambda: f"missed reminders sent (restarted: {restarts})\n{s.logs('w1')}\n{s.logs('beat')}",
            )
            took = time.monotonic() - back
            time.sleep(3)
    finally:
        redis.stop()

    mails = s.mails_by_delivery()
    sent = {str(pk) for pk in ReminderDelivery.objects.filter(follow_up__in=due).values_list("pk", flat=True)}
    assert {d: mails[d] for d in sent} == dict.fromkeys(sent, 1)
    print(f"\nmissed reminders went out {took:.1f}s after Redis came back")


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False
