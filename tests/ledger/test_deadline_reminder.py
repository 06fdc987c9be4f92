"""The reminder before the ledger's deadline: through the reminder outbox, once, to offices that have not submitted.

The month of January 2026 is due on 5 February (``LEDGER_DEADLINE_DAY``); its reminder
may go from 3 February (``LEDGER_REMINDER_DAYS_BEFORE`` = 2) until the 5th.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.test import override_settings

from config.celery import app as celery_app
from config.celery import beat_schedule
from ledger import reminders as ledger_reminders
from ledger import tasks
from ledger.services import ledger_submit
from recruitment import reminders
from recruitment.models import ChannelPreference, OfficeChannel, ReminderDelivery
from tests.factories import OfficeFactory, UserFactory
from tests.ledger.conftest import at
from tests.recruitment.robot_servers import robot_servers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_deadline_settings")]

JAN = dt.date(2026, 1, 1)


@pytest.fixture
def _deadline_settings(settings):  # type: ignore[no-untyped-def]
    settings.LEDGER_DEADLINE_DAY = 5
    settings.LEDGER_REMINDER_DAYS_BEFORE = 2


class Published(list):
    def __call__(self, ids):  # type: ignore[no-untyped-def]
        self.extend(ids)


@pytest.fixture
def robots():  # type: ignore[no-untyped-def]
    with robot_servers() as servers:
        yield servers


@pytest.fixture
def offices(robots):  # type: ignore[no-untyped-def]
    """A park that submitted, a silent park with two managers (one reads no e-mail), a silent park with a robot."""
    done = OfficeFactory(code="done-park", name="已报园区")
    silent = OfficeFactory(code="silent-park", name="未报园区")
    robot = OfficeFactory(code="robot-park", name="机器人园区")
    province = OfficeFactory(code="province", kind="provincial", name="省厅")
    people = {
        "done": UserFactory(office=done, is_manager=True, email="boss@done.example"),
        "silent": UserFactory(office=silent, is_manager=True, email="boss@silent.example"),
        "silent_no_mail": UserFactory(office=silent, is_manager=True, email="quiet@silent.example"),
        "silent_staff": UserFactory(office=silent, is_manager=False, email="staff@silent.example"),
        "robot": UserFactory(office=robot, is_manager=True, email="boss@robot.example"),
        "province": UserFactory(office=province, is_manager=True, email="boss@province.example"),
    }
    ChannelPreference.objects.create(user=people["silent_no_mail"], channel="email", enabled=False)
    OfficeChannel.objects.create(office=robot, channel="wecom", url=robots.wecom_url)
    ledger_submit(office=done, month=JAN, now=at(2026, 2, 2))
    return {"done": done, "silent": silent, "robot": robot, "people": people}


def _claim(django_capture_on_commit_callbacks, when: dt.datetime) -> Published:  # type: ignore[no-untyped-def]
    published = Published()
    with django_capture_on_commit_callbacks(execute=True):
        ledger_reminders.ledger_reminders_claim(now=when, publish=published)
    return published


def _send(ids, when: dt.datetime) -> list[str]:  # type: ignore[no-untyped-def]
    with time_machine.travel(when, tick=False):
        return [reminders.delivery_send(delivery_id=i) for i in ids]


def test_the_reminder_goes_once_to_the_managers_and_robots_of_offices_that_have_not_submitted(
    offices, robots, django_capture_on_commit_callbacks
) -> None:
    assert _claim(django_capture_on_commit_callbacks, at(2026, 2, 2, 9)) == []  # not yet: the window opens on the 3rd

    published = _claim(django_capture_on_commit_callbacks, at(2026, 2, 3, 9))
    rows = ReminderDelivery.objects.filter(kind="ledger_due")
    assert sorted((r.office.code, r.channel, r.recipient.email if r.recipient else None) for r in rows) == [
        ("robot-park", "email", "boss@robot.example"),
        ("robot-park", "wecom", None),
        ("silent-park", "email", "boss@silent.example"),
    ]
    assert sorted(published) == sorted(r.pk for r in rows)
    assert (
        _send(
            published,
            at(
                2026,
                2,
                3,
                9,
            ),
        )
        == ["sent"] * 3
    )

    assert sorted(m.to[0] for m in mail.outbox) == ["boss@robot.example", "boss@silent.example"]
    message = next(m for m in mail.outbox if m.to == ["boss@silent.example"])
    assert "2026-01" in message.subject and "2026-02-05" in message.subject and "未报园区" in message.subject
    assert "月报台账尚未报送" in message.body and "has not been submitted" in message.body
    assert "/admin/ledger/monthly/?month=2026-01" in message.body
    (wecom,) = robots.of("wecom")
    assert "2026-01" in wecom["markdown"]["content"] and "month=2026-01" in wecom["markdown"]["content"]

    # The next days' runs, a second beat, the task itself: nothing more is recorded or sent.
    assert _claim(django_capture_on_commit_callbacks, at(2026, 2, 4, 9)) == []
    assert _claim(django_capture_on_commit_callbacks, at(2026, 2, 5, 9)) == []
    with time_machine.travel(at(2026, 2, 5, 10), tick=False):
        assert tasks.remind_ledger_deadline.run() == 0
    assert _send(published, at(2026, 2, 5, 9)) == ["not_claimed"] * 3
    assert len(mail.outbox) == 2 and len(robots.of("wecom")) == 1
    assert ReminderDelivery.objects.filter(kind="ledger_due").count() == 3


def test_no_reminder_after_the_deadline_or_for_a_submitted_month(offices, django_capture_on_commit_callbacks) -> None:
    assert _claim(django_capture_on_commit_callbacks, at(2026, 2, 6, 9)) == []  # late: the overview shows it
    for office in (offices["silent"], offices["robot"]):
        ledger_submit(office=office, month=JAN, now=at(2026, 2, 2, 12))
    assert _claim(django_capture_on_commit_callbacks, at(2026, 2, 3, 9)) == []
    assert not ReminderDelivery.objects.filter(kind="ledger_due").exists()


def test_an_office_that_submits_between_claim_and_send_is_not_reminded(
    offices, django_capture_on_commit_callbacks
) -> None:
    published = _claim(django_capture_on_commit_callbacks, at(2026, 2, 3, 9))
    ledger_submit(
        office=offices["silent"],
        month=JAN,
        now=at(
            2026,
            2,
            3,
            9,
        ),
    )
    outcomes = dict(zip(published, _send(published, at(2026, 2, 3, 10)), strict=True))
    by_office = {d.pk: d.office.code for d in ReminderDelivery.objects.filter(pk__in=published)}
    assert {by_office[pk]: o for pk, o in outcomes.items() if by_office[pk] == "silent-park"} == {
        "silent-park": "skipped"
    }
    assert [m.to for m in mail.outbox] == [["boss@robot.example"]]
    skipped = ReminderDelivery.objects.get(office=offices["silent"])
    assert skipped.state == "skipped" and "2026-01" in skipped.last_error


@override_settings(REMINDER_LEASE_SECONDS=300, REMINDER_REQUEUE_AFTER_SECONDS=600)
def test_a_crash_between_claim_and_send_neither_loses_nor_doubles_the_reminder(
    offices, robots, django_capture_on_commit_callbacks
) -> None:
    OfficeChannel.objects.filter(office=offices["robot"]).delete()
    ledger_submit(office=offices["robot"], month=JAN, now=at(2026, 2, 2, 12))
    # The claim commits and its message is lost (the broker or the beat died right after).
    [delivery_id] = _claim(django_capture_on_commit_callbacks, at(2026, 2, 3, 9))
    # A second run the next hour finds the reminder recorded and records nothing more.
    assert _claim(django_capture_on_commit_callbacks, at(2026, 2, 3, 10)) == []
    # A worker takes it and dies before sending; while its lease runs nobody else sends it.
    with time_machine.travel(at(2026, 2, 3, 10) + dt.timedelta(minutes=1), tick=False):
        assert reminders._claim_send(delivery_id, reminders.timezone.now())
    assert _send([delivery_id], at(2026, 2, 3, 10) + dt.timedelta(minutes=2)) == ["not_claimed"]
    # The sweep takes it back once the lease is over; it is sent once.
    swept = Published()
    with time_machine.travel(at(2026, 2, 3, 10) + dt.timedelta(minutes=10), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            reminders.deliveries_requeue_stuck(publish=swept)
    assert swept == [delivery_id]
    assert _send(swept, at(2026, 2, 3, 10) + dt.timedelta(minutes=11)) == ["sent"]
    assert _send(swept, at(2026, 2, 3, 10) + dt.timedelta(minutes=12)) == ["not_claimed"]
    assert [m.to for m in mail.outbox] == [["boss@silent.example"]]
    assert ReminderDelivery.objects.get().attempts == 2


def test_the_reminder_window_is_a_setting(settings) -> None:
    settings.LEDGER_DEADLINE_DAY = 10
    settings.LEDGER_REMINDER_DAYS_BEFORE = 0
    assert ledger_reminders.months_to_remind(dt.date(2026, 2, 9)) == []
    assert ledger_reminders.months_to_remind(dt.date(2026, 2, 10)) == [JAN]
    settings.LEDGER_REMINDER_DAYS_BEFORE = 12  # opens before the month is over: reminds of the running month too
    assert ledger_reminders.months_to_remind(dt.date(2026, 1, 30)) == [JAN]
    assert ledger_reminders.months_to_remind(dt.date(2026, 2, 1)) == [dt.date(2026, 1, 1)]


def test_beat_runs_the_reminder_from_the_one_schedule() -> None:
    entry = beat_schedule()["ledger.remind_ledger_deadline"]
    assert entry["task"] == "ledger.remind_ledger_deadline" and entry["crontab"] == "0 9 * * *"
    assert "ledger.remind_ledger_deadline" in celery_app.tasks
