"""The weekly digest lists each person's signed projects under a yellow or red light: colour, since
when, the reasons in words (in both languages) and the admin link; run through the real tasks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from recruitment import tasks
from recruitment.landing import project_plan_set
from recruitment.lights_service import lights_recompute
from recruitment.models import FollowUp, Project, ReminderDelivery, WarningRule
from recruitment.pipeline import Status
from recruitment.services import project_create, project_transition
from tests.factories import EnterpriseFactory, OfficeFactory, ParkFactory, StageFactory, UserFactory

pytestmark = pytest.mark.django_db


def _signed(office, owner, title: str, *, construction: dt.date | None):  # type: ignore[no-untyped-def]
    project = project_create(
        office=office,
        stages=[StageFactory()],
        title=title,
        enterprise=EnterpriseFactory(),
        park=ParkFactory(),
        status=Status.SIGNED,
        owner=owner,
    )
    project_transition(project=project, to=Status.REGISTERED)
    if construction is not None:
        project_plan_set(project=project, plan={"construction": construction})
    return project


def _run_digest_task() -> dict[str, str]:
    """The beat's weekly task, then the send task for each delivery it recorded; the mails by recipient."""
    claimed = tasks.send_weekly_digests.run()
    ids = list(ReminderDelivery.objects.filter(kind=ReminderDelivery.Kind.DIGEST).values_list("pk", flat=True))
    assert claimed == len(ids)
    for delivery_id in ids:
        tasks.send_reminder.run(str(delivery_id))
    return {message.to[0]: message.body for message in mail.outbox}


def test_the_digest_lists_each_persons_yellow_and_red_projects_with_reasons_since_and_link(
    park_office, time_machine, django_capture_on_commit_callbacks
) -> None:
    WarningRule.objects.exclude(code="milestone-overdue").update(enabled=False)
    other_office = OfficeFactory(kind="park")
    owner = UserFactory(office=park_office, email="wang.fang@yangqu.example")
    colleague = UserFactory(office=park_office, email="zhao.lei@yangqu.example")
    manager = UserFactory(office=park_office, is_manager=True, email="li.na@yangqu.example")
    stranger = UserFactory(office=other_office, is_manager=True, email="chen.jie@xinzhou.example")
    time_machine.move_to("2026-01-10T09:00:00+08:00", tick=False)
    with django_capture_on_commit_callbacks(execute=False):
        red = _signed(park_office, owner, "碳纤维预浸料项目", construction=dt.date(2026, 2, 15))
        yellow = _signed(park_office, owner, "不锈钢冷轧板项目", construction=dt.date(2026, 4, 15))
        green = _signed(park_office, owner, "戊二胺项目", construction=dt.date(2027, 1, 15))
        theirs = _signed(park_office, colleague, "长链二元酸项目", construction=dt.date(2026, 4, 15))
        _signed(other_office, stranger, "砷化镓衬底项目", construction=dt.date(2026, 2, 15))
        time_machine.move_to("2026-04-03T03:00:00+08:00", tick=False)
        lights_recompute()  # red: 3 months overdue
        time_machine.move_to("2026-04-20T03:00:00+08:00", tick=False)
        lights_recompute()  # yellow: 1 month overdue

        time_machine.move_to("2026-04-27T09:00:00+08:00", tick=False)  # a Monday
        mails = _run_digest_task()

    body = mails["wang.fang@yangqu.example"]
    zh, en = body.split("=" * 70)[:2]
    # Red first, with its colour, since when, reasons in words and the admin link.
    assert "亮黄灯、红灯的已签约项目（2 个）" in zh
    assert zh.index("碳纤维预浸料项目") < zh.index("不锈钢冷轧板项目")
    assert "【红灯，自2026年4月3日起】碳纤维预浸料项目" in zh
    assert "【黄灯，自2026年4月20日起】不锈钢冷轧板项目" in zh
    assert "开工计划于 2026-02-15 完成，至今未完成：已连续逾期 3 个月。" in zh
    assert f"/admin/recruitment/project/{red.pk}/change/" in zh
    assert f"/admin/recruitment/project/{yellow.pk}/change/" in zh
    assert "Signed projects under a yellow or red light (2):" in en
    assert "[RED since 2026-04-03] 碳纤维预浸料项目" in en
    assert "[YELLOW since 2026-04-20] 不锈钢冷轧板项目" in en
    assert "Construction start 开工 was planned for 2026-04-15 and has not happened: overdue 1 month(s) running." in en
    assert green.title not in body.split("亮黄灯")[1].split("\n\n")[0]
    assert theirs.title not in body  # a colleague's project is the colleague's
    # The office's manager hears of the office's projects; another office's manager of none of them.
    assert all(p.title in mails[manager.email] for p in (red, yellow, theirs))
    assert "长链二元酸项目" in mails["zhao.lei@yangqu.example"]
    assert red.title not in mails["chen.jie@xinzhou.example"] and "砷化镓衬底项目" in mails["chen.jie@xinzhou.example"]


def test_a_digest_with_only_a_warning_light_is_sent_and_a_green_one_alone_is_not(
    park_office, time_machine, django_capture_on_commit_callbacks
) -> None:
    WarningRule.objects.exclude(code="milestone-overdue").update(enabled=False)
    yellow_owner = UserFactory(office=park_office, email="sun.li@yangqu.example")
    green_owner = UserFactory(office=park_office, email="zhou.min@yangqu.example")
    time_machine.move_to("2026-01-10T09:00:00+08:00", tick=False)
    with django_capture_on_commit_callbacks(execute=False):
        _signed(park_office, yellow_owner, "聚丙烯腈原丝项目", construction=dt.date(2026, 4, 15))
        _signed(park_office, green_owner, "工业丝项目", construction=dt.date(2027, 4, 15))
        time_machine.move_to("2026-04-20T03:00:00+08:00", tick=False)
        lights_recompute()
        # Nothing else to tell either of them: the follow-ups the projects brought are done with.
        FollowUp.objects.update(status=FollowUp.Status.DONE)
        Project.objects.filter(status=Status.REGISTERED).update(status=Status.AT_CAPACITY)
        time_machine.move_to("2026-04-27T09:00:00+08:00", tick=False)
        mails = _run_digest_task()
    assert list(mails) == ["sun.li@yangqu.example"]
    assert "聚丙烯腈原丝项目" in mails["sun.li@yangqu.example"]
