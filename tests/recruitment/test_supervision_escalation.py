"""The supervision order escalation ladder: each step due at its offset from a deadline, each
recipient once; with real Celery workers killed mid-run, each step is e-mailed exactly once."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.core import mail
from django.utils import timezone

from crm.models import Office
from crm.sealing import seal
from recruitment import reminders
from recruitment.models import ChannelPreference, OfficeChannel, ReminderDelivery, SupervisionOrder
from recruitment.pipeline import Status
from recruitment.supervision import order_transition
from tests.factories import OfficeFactory, ProjectFactory, UserFactory
from tests.recruitment.reminder_processes import redis_flush, reminder_redis_url, stack, wait_for
from tests.recruitment.robot_servers import DINGTALK_SECRET, robot_servers

Kind = ReminderDelivery.Kind


def _people(office: Office) -> dict[str, object]:
    province = OfficeFactory(kind="provincial")
    return {
        "responsible": UserFactory(office=office, email="zeren@yangqu.example"),
        "manager": UserFactory(office=office, is_manager=True, email="zhuren@yangqu.example"),
        "province": UserFactory(office=province, is_manager=True, email="ducha@province.example"),
    }


def _orders(office: Office, responsible, n: int, *, plan_due: dt.date, resolve_due: dt.date) -> list[SupervisionOrder]:  # type: ignore[no-untyped-def]
    projects = [ProjectFactory(office=office, status=Status.SIGNED, title=f"督办项目{i}") for i in range(n)]
    return SupervisionOrder.objects.bulk_create(
        [
            SupervisionOrder(
                office=office,
                project=p,
                responsible=responsible,
                required="提交整改方案",
                plan_due=plan_due,
                resolve_due=resolve_due,
            )
            for p in projects
        ]
    )


def _claimed() -> list[tuple[str, str]]:
    return sorted(ReminderDelivery.objects.values_list("kind", "recipient__email"))


@pytest.mark.postgres  # the ladder's deadlines are PostgreSQL time-zone arithmetic
@pytest.mark.django_db
def test_each_step_falls_due_at_its_offset_and_reaches_each_person_once(settings, time_machine) -> None:  # type: ignore[no-untyped-def]
    settings.TIME_ZONE = "Asia/Shanghai"
    settings.SUPERVISION_REMIND_BEFORE_PLAN_HOURS = 48
    settings.SUPERVISION_ESCALATE_AFTER_PLAN_HOURS = 0
    settings.SUPERVISION_ESCALATE_AFTER_RESOLVE_HOURS = 24
    office = OfficeFactory(kind="park")
    people = _people(office)
    (order,) = _orders(
        office, people["responsible"], 1, plan_due=dt.date(2026, 5, 10), resolve_due=dt.date(2026, 6, 10)
    )
    steps = [
        ("2026-05-08T23:59:00+08:00", []),
        ("2026-05-09T00:00:00+08:00", [("order_plan", "zeren@yangqu.example")]),
        ("2026-05-10T23:00:00+08:00", [("order_plan", "zeren@yangqu.example")]),
        (
            "2026-05-11T00:00:00+08:00",
            [("order_plan", "zeren@yangqu.example"), ("order_plan_late", "zhuren@yangqu.example")],
        ),
        (
            "2026-06-11T23:59:00+08:00",
            [("order_plan", "zeren@yangqu.example"), ("order_plan_late", "zhuren@yangqu.example")],
        ),
        (
            "2026-06-12T00:00:00+08:00",
            [
                ("order_plan", "zeren@yangqu.example"),
                ("order_plan_late", "zhuren@yangqu.example"),
                ("order_unresolved", "ducha@province.example"),
            ],
        ),
    ]
    for when, expected in steps:
        time_machine.move_to(when, tick=False)
        reminders.orders_claim(publish=lambda ids: None)
        reminders.orders_claim(publish=lambda ids: None)  # a second scan adds nothing
        assert _claimed() == expected, when
    # Sending: each delivery is composed for its recipient, bilingual, with the order's facts.
    for delivery in ReminderDelivery.objects.all():
        assert reminders.delivery_send(delivery_id=delivery.pk) == reminders.Outcome.SENT
    by_kind = {m.extra_headers["X-Chain-Recruit-Kind"]: m for m in mail.outbox}
    assert by_kind["order_unresolved"].to == ["ducha@province.example"]
    assert "督办" in by_kind["order_plan"].subject and "提交整改方案" in by_kind["order_plan"].body
    assert order.project.title in by_kind["order_plan_late"].body


@pytest.mark.postgres  # the ladder's deadlines are PostgreSQL time-zone arithmetic
@pytest.mark.django_db
def test_a_step_no_longer_needed_is_skipped(settings, time_machine) -> None:  # type: ignore[no-untyped-def]
    office = OfficeFactory(kind="park")
    people = _people(office)
    (order,) = _orders(
        office, people["responsible"], 1, plan_due=dt.date(2026, 5, 10), resolve_due=dt.date(2026, 6, 10)
    )
    time_machine.move_to("2026-05-12T09:00:00+08:00", tick=False)
    reminders.orders_claim(publish=lambda ids: None)
    order_transition(order=order, to="plan_submitted", plan="月底前开工", actor=people["responsible"])
    late = ReminderDelivery.objects.get(kind=Kind.ORDER_PLAN_LATE)
    assert reminders.delivery_send(delivery_id=late.pk) == reminders.Outcome.SKIPPED
    assert mail.outbox == []


def _claims(kind: str) -> list[tuple[str, str | None, str | None]]:
    """(channel, recipient's e-mail, robot's office code) of the deliveries of one step."""
    return sorted(
        ReminderDelivery.objects.filter(kind=kind).values_list("channel", "recipient__email", "office__code"),
        key=lambda row: (row[0], row[1] or "", row[2] or ""),
    )


@pytest.mark.postgres  # the ladder's deadlines are PostgreSQL time-zone arithmetic
@pytest.mark.django_db
def test_each_step_reaches_every_enabled_channel_once_per_office_and_preference(
    settings, time_machine, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    settings.SUPERVISION_REMIND_BEFORE_PLAN_HOURS = 48
    settings.SUPERVISION_ESCALATE_AFTER_PLAN_HOURS = 0
    settings.SUPERVISION_ESCALATE_AFTER_RESOLVE_HOURS = 0
    office = OfficeFactory(kind="park", code="yangqu-office")
    people = _people(office)
    province = people["province"].office
    province.code = "province"
    province.save(update_fields=["code"])
    UserFactory(office=office, is_manager=True, email="fu.zhuren@yangqu.example")
    stranger = OfficeFactory(kind="park", code="xinzhou-office")
    with robot_servers() as robots:
        OfficeChannel.objects.create(office=office, channel="wecom", url=robots.wecom_url)
        OfficeChannel.objects.create(
            office=office, channel="dingtalk", url=robots.dingtalk_url, secret_sealed=seal(DINGTALK_SECRET)
        )
        OfficeChannel.objects.create(office=province, channel="wecom", url=robots.wecom_url)
        OfficeChannel.objects.create(office=stranger, channel="wecom", url=robots.wecom_url)  # not concerned
        OfficeChannel.objects.create(office=province, channel="dingtalk", url=robots.dingtalk_url, enabled=False)
        # The responsible person reads nothing on WeCom; one manager switched DingTalk off, the other
        # did not; the province's only manager switched e-mail off.
        ChannelPreference.objects.create(user=people["responsible"], channel="wecom", enabled=False)
        ChannelPreference.objects.create(user=people["manager"], channel="dingtalk", enabled=False)
        ChannelPreference.objects.create(user=people["province"], channel="email", enabled=False)
        (order,) = _orders(
            office, people["responsible"], 1, plan_due=dt.date(2026, 5, 10), resolve_due=dt.date(2026, 6, 10)
        )
        published: list = []  # type: ignore[type-arg]
        for when in ("2026-05-09T09:00:00+08:00", "2026-05-11T09:00:00+08:00", "2026-06-11T09:00:00+08:00"):
            time_machine.move_to(when, tick=False)
            for _scan in range(2):  # a second scan, a second beat: nothing more
                with django_capture_on_commit_callbacks(execute=True):
                    reminders.reminders_scan(publish=published.extend)
        assert _claims("order_plan") == [
            ("dingtalk", None, "yangqu-office"),
            ("email", "zeren@yangqu.example", None),
        ]
        assert _claims("order_plan_late") == [
            ("dingtalk", None, "yangqu-office"),  # once for the office, not once per manager
            ("email", "fu.zhuren@yangqu.example", None),
            ("email", "zhuren@yangqu.example", None),
            ("wecom", None, "yangqu-office"),
        ]
        assert _claims("order_unresolved") == [("wecom", None, "province")]
        assert sorted(published) == sorted(ReminderDelivery.objects.values_list("pk", flat=True))

        outcomes = [reminders.delivery_send(delivery_id=pk) for pk in published]
        assert outcomes == ["sent"] * 7
        assert [reminders.delivery_send(delivery_id=pk) for pk in published] == ["not_claimed"] * 7
        link = f"/admin/recruitment/supervisionorder/{order.pk}/change/"
        wecom = [body["markdown"]["content"] for body in robots.of("wecom")]
        dingtalk = [body["markdown"]["text"] for body in robots.of("dingtalk")]
        assert len(wecom) == 2 and len(dingtalk) == 2
        assert all(link in text and order.project.title in text and "提交整改方案" in text for text in wecom + dingtalk)
        assert sorted(m.to[0] for m in mail.outbox) == [
            "fu.zhuren@yangqu.example",
            "zeren@yangqu.example",
            "zhuren@yangqu.example",
        ]


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_robot_is_left_out_when_everyone_the_step_is_for_switched_it_off(settings, time_machine) -> None:  # type: ignore[no-untyped-def]
    settings.SUPERVISION_ESCALATE_AFTER_PLAN_HOURS = 0
    office = OfficeFactory(kind="park")
    people = _people(office)
    OfficeChannel.objects.create(office=office, channel="wecom", url="http://127.0.0.1:9/cgi-bin/webhook/send?key=k")
    ChannelPreference.objects.create(user=people["manager"], channel="wecom", enabled=False)
    _orders(office, people["responsible"], 1, plan_due=dt.date(2026, 5, 10), resolve_due=dt.date(2026, 6, 10))
    time_machine.move_to("2026-05-12T09:00:00+08:00", tick=False)
    reminders.orders_claim(publish=lambda ids: None)
    assert _claims("order_plan_late") == [("email", "zhuren@yangqu.example", None)]


@pytest.fixture
def redis_db() -> str:
    url = reminder_redis_url()
    assert url
    redis_flush(url)
    yield url
    redis_flush(url)


FAST = {
    "REMINDER_SCAN_SECONDS": 1,
    "REMINDER_SWEEP_SECONDS": 2,
    "REMINDER_REQUEUE_AFTER_SECONDS": 8,
    "REMINDER_LEASE_SECONDS": 10,
}


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_ladder_is_emailed_exactly_once_while_workers_are_killed(tmp_path, redis_db) -> None:  # type: ignore[no-untyped-def]
    office = OfficeFactory(kind="park")
    people = _people(office)
    today = timezone.localdate()
    orders = _orders(
        office,
        people["responsible"],
        150,
        plan_due=today - dt.timedelta(days=5),
        resolve_due=today - dt.timedelta(days=2),
    )
    expected = len(orders) * 2  # plan overdue → the manager; resolution overdue → the province

    def sent() -> int:
        return ReminderDelivery.objects.filter(state=ReminderDelivery.State.SENT).count()

    mailbox = {"EMAIL_BACKEND": "recruitment.email_files.MessageIdFileBackend"}
    with stack(tmp_path, redis_db, **FAST, **mailbox) as s:
        s.worker("w1")
        s.worker("w2")
        s.beat("beat")
        kills = 0
        for threshold in (40, 120, 200):
            wait_for(lambda t=threshold: sent() >= t, timeout=120, what=lambda t=threshold: f"{t} sent\n{s.logs()}")
            victim = ("w1", "w2")[kills % 2]
            s.kill(victim)
            kills += 1
            s.worker(victim)
        wait_for(lambda: sent() == expected, timeout=180, what=lambda: f"all sent\n{s.logs()}")
        time.sleep(FAST["REMINDER_REQUEUE_AFTER_SECONDS"] + 2)
    deliveries = list(ReminderDelivery.objects.values_list("pk", "kind", "state"))
    assert len(deliveries) == expected
    assert {(k, st) for _, k, st in deliveries} == {("order_plan_late", "sent"), ("order_unresolved", "sent")}
    mails = s.mails_by_delivery()
    assert not {d: n for d, n in mails.items() if n > 1}
    assert set(mails) == {str(pk) for pk, _, _ in deliveries}


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_ladder_reaches_each_robot_exactly_once_while_workers_are_killed(tmp_path, redis_db, settings) -> None:  # type: ignore[no-untyped-def]
    # The workers open the DingTalk secret with the key it was sealed with.
    settings.SEALING_KEYS = ["ladder-robots-test-key"]

    def _states() -> str:
        from django.db.models import Count

        return str(
            list(
                ReminderDelivery.objects.values("kind", "channel", "state", "last_error")
                .annotate(n=Count("pk"))
                .order_by()
            )
        )

    office = OfficeFactory(kind="park")
    people = _people(office)
    province = people["province"].office
    today = timezone.localdate()
    orders = _orders(
        office,
        people["responsible"],
        100,
        plan_due=today - dt.timedelta(days=5),
        resolve_due=today - dt.timedelta(days=2),
    )
    # plan overdue → the manager by e-mail and the office's WeCom robot; resolution overdue → the
    # province by e-mail and its DingTalk robot
    expected = len(orders) * 4

    def sent() -> int:
        return ReminderDelivery.objects.filter(state=ReminderDelivery.State.SENT).count()

    mailbox = {
        "EMAIL_BACKEND": "recruitment.email_files.MessageIdFileBackend",
        "SEALING_KEYS": settings.SEALING_KEYS[0],
    }
    with robot_servers() as robots:
        OfficeChannel.objects.create(office=office, channel="wecom", url=robots.wecom_url)
        OfficeChannel.objects.create(
            office=province, channel="dingtalk", url=robots.dingtalk_url, secret_sealed=seal(DINGTALK_SECRET)
        )
        with stack(tmp_path, redis_db, **FAST, **mailbox) as s:
            s.worker("w1")
            s.worker("w2")
            s.beat("beat")
            kills = 0
            for threshold in (60, 160, 260):  # of 400
                wait_for(lambda t=threshold: sent() >= t, timeout=120, what=f"{threshold} sent\n{_states()}")
                victim = ("w1", "w2")[kills % 2]
                s.kill(victim)
                kills += 1
                s.worker(victim)
            wait_for(lambda: sent() == expected, timeout=240, what=f"all sent\n{_states()}\n{s.logs()[-6000:]}")
            time.sleep(FAST["REMINDER_REQUEUE_AFTER_SECONDS"] + 2)
        posted = {
            "wecom": [body["markdown"]["content"] for body in robots.of("wecom")],
            "dingtalk": [body["markdown"]["text"] for body in robots.of("dingtalk")],
        }
    assert ReminderDelivery.objects.count() == expected
    assert set(ReminderDelivery.objects.values_list("state", flat=True)) == {"sent"}
    retaken = {
        (channel, str(order)): attempts
        for channel, order, attempts in ReminderDelivery.objects.values_list("channel", "supervision_order", "attempts")
    }
    for channel, texts in posted.items():
        links = [text.split("/admin/recruitment/supervisionorder/")[1].split("/")[0] for text in texts]
        assert set(links) == {str(o.pk) for o in orders}, channel  # every order reached its robot
        # A robot keeps no Message-ID to drop a repeat by: a worker killed between the robot's
        # answer and the statement marking the delivery sent sends it again once its lease runs
        # out (documented in recruitment/reminders.py). A repeat is only ever such a send: its
        # delivery was taken again after a kill, and no kill of a two-process worker repeats more
        # than two.
        repeats = [link for link in set(links) for _ in range(links.count(link) - 1)]
        assert all(retaken[(channel, link)] >= 2 for link in repeats), (channel, repeats)
        assert len(repeats) <= kills * 2, (channel, repeats)
    mails = s.mails_by_delivery()
    assert not {d: n for d, n in mails.items() if n > 1}
    assert len(mails) == len(orders) * 2
