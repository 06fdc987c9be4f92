"""Service-level follow-ups: created with a project, renewed when reported, cancelled on close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from config.celery import app as celery_app
from crm.models import ChangeEntry
from recruitment import services
from recruitment.models import FollowUp, ReminderDelivery
from recruitment.pipeline import Status
from tests.brokers import use_broker
from tests.factories import EnterpriseFactory, ParkFactory, StageFactory, UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Asia/Shanghai


def _project(office, owner=None, **data):  # type: ignore[no-untyped-def]
    return services.project_create(
        office=office,
        actor=owner,
        stages=[StageFactory()],
        title=data.pop("title", "碳纤维预浸料项目"),
        enterprise=EnterpriseFactory(office=office),
        park=ParkFactory(),
        owner=owner,
        **data,
    )


def _sla(project) -> dict[str, FollowUp]:  # type: ignore[no-untyped-def]
    return {f.kind: f for f in project.follow_ups.filter(status=FollowUp.Status.OPEN)}


@time_machine.travel(T0, tick=False)
def test_creating_a_project_creates_respond_assess_feedback_and_report_followups(park_office, park_user):
    project = _project(park_office, park_user)

    follow_ups = _sla(project)
    assert {k: f.due_at - T0 for k, f in follow_ups.items()} == {
        "respond": timedelta(days=1),
        "assess": timedelta(days=3),
        "feedback": timedelta(weeks=1),
        "report": timedelta(weeks=2),
    }
    assert all(f.assignee == park_user and f.office == park_office for f in follow_ups.values())
    assert all(f.note for f in follow_ups.values())


@time_machine.travel(T0, tick=False)
@override_settings(RECRUITMENT_SLA_RESPOND_HOURS=2, RECRUITMENT_SLA_REPORT_HOURS=24 * 30)
def test_service_level_periods_come_from_settings(park_office, park_user):
    follow_ups = _sla(_project(park_office, park_user))

    assert follow_ups["respond"].due_at == T0 + timedelta(hours=2)
    assert follow_ups["report"].due_at == T0 + timedelta(days=30)


def test_service_level_followups_have_history_and_reach_the_change_feed(park_office, park_user):
    project = _project(park_office, park_user)

    ids = [f.pk for f in project.follow_ups.all()]
    assert len(ids) == 4
    assert ChangeEntry.objects.filter(type="follow_up", object_id__in=ids, office=park_office).count() == 4
    assert FollowUp.history.filter(id__in=ids, history_type="+", history_user=park_user).count() == 4


def test_a_project_without_owner_assigns_its_followups_to_whoever_created_it(park_office, park_user):
    project = _project(park_office, None)
    assert set(project.follow_ups.values_list("assignee", flat=True)) == {None}

    project = services.project_create(
        office=park_office,
        actor=park_user,
        stages=[StageFactory()],
        title="无负责人项目",
        enterprise=EnterpriseFactory(office=park_office),
        park=ParkFactory(),
    )
    assert set(project.follow_ups.values_list("assignee", flat=True)) == {park_user.pk}


def test_a_project_imported_past_the_lead_stage_gets_only_the_periodic_report(park_office, park_user):
    project = _project(park_office, park_user, status=Status.NEGOTIATING)

    assert set(_sla(project)) == {"report"}


def test_completing_a_report_schedules_the_next_one_a_period_later(park_office, park_user):
    with time_machine.travel(T0, tick=False):
        project = _project(park_office, park_user)
    report = _sla(project)["report"]

    with time_machine.travel(report.due_at - timedelta(hours=3), tick=False):
        services.followup_complete(follow_up=report, actor=park_user)

    nxt = _sla(project)["report"]
    assert nxt.pk != report.pk
    assert nxt.due_at == report.due_at + timedelta(weeks=2)
    assert nxt.assignee == park_user


def test_completing_a_late_report_keeps_the_cadence_and_never_schedules_one_already_due(park_office, park_user):
    with time_machine.travel(T0, tick=False):
        project = _project(park_office, park_user)
    report = _sla(project)["report"]
    late = report.due_at + timedelta(weeks=3)  # one full period and a week late

    with time_machine.travel(late, tick=False):
        services.followup_complete(follow_up=report, actor=park_user)

    nxt = _sla(project)["report"]
    assert nxt.due_at == report.due_at + timedelta(weeks=4)
    assert nxt.due_at > late


def test_completing_other_followups_schedules_nothing(park_office, park_user):
    project = _project(park_office, park_user)
    before = project.follow_ups.count()

    services.followup_complete(follow_up=_sla(project)["respond"], actor=park_user)

    assert project.follow_ups.count() == before


@pytest.mark.parametrize("closing", ["lost", "at_capacity"])
def test_closing_a_project_cancels_its_open_followups(park_office, park_user, closing):
    project = _project(park_office, park_user)
    manual = services.followup_create(
        office=park_office, actor=park_user, project=project, assignee=park_user, due_at=T0, note="回访"
    )
    services.followup_complete(follow_up=_sla(project)["respond"], actor=park_user)

    if closing == "lost":
        services.project_transition(project=project, to=Status.LOST, actor=park_user, reason="企业另选他处")
    else:
        for step in ("screening", "negotiating", "signed", "registered", "construction", "production", "at_capacity"):
            services.project_transition(project=project, to=step, actor=park_user)

    statuses = dict(project.follow_ups.values_list("kind", "status"))
    assert statuses["respond"] == "done"  # what was done stays done
    assert not project.follow_ups.filter(status="open").exists()
    manual.refresh_from_db()
    assert manual.status == "cancelled" and manual.version == 2
    assert ChangeEntry.objects.get(type="follow_up", object_id=manual.pk).op == "upsert"
    assert FollowUp.history.filter(id=manual.pk, history_type="~", status="cancelled").exists()


def test_suspending_a_project_keeps_its_followups(park_office, park_user):
    project = _project(park_office, park_user)

    services.project_transition(project=project, to=Status.SUSPENDED, actor=park_user, note="企业内部调整")

    assert len(_sla(project)) == 4


def test_a_closed_project_gets_no_next_report(park_office, park_user):
    project = _project(park_office, park_user)
    report = _sla(project)["report"]
    services.project_transition(project=project, to=Status.LOST, actor=park_user, reason="放弃")
    report.refresh_from_db()

    assert report.status == "cancelled"
    assert not project.follow_ups.filter(status="open").exists()


@override_settings(RECRUITMENT_LARGE_PROJECT_CNY=500_000_000)
def test_a_project_over_the_threshold_records_one_notice_for_the_provincial_office(park_office, park_user):
    project = _project(park_office, park_user, planned_investment=Decimal("800000000"))

    notices = ReminderDelivery.objects.filter(project=project, kind="large_project")
    assert notices.count() == 1
    assert notices.get().state == "pending" and notices.get().queued_at is None

    services.project_update(project=project, actor=park_user, planned_investment=Decimal("900000000"))
    assert notices.count() == 1


@override_settings(RECRUITMENT_LARGE_PROJECT_CNY=500_000_000)
def test_a_project_at_or_below_the_threshold_records_no_notice_until_it_grows(park_office, park_user):
    project = _project(park_office, park_user, planned_investment=Decimal("500000000"))
    assert not ReminderDelivery.objects.filter(project=project).exists()

    services.project_update(project=project, actor=park_user, planned_investment=Decimal("500000001"))

    assert ReminderDelivery.objects.filter(project=project, kind="large_project").count() == 1


@pytest.fixture
def broker_down():  # type: ignore[no-untyped-def]
    """Point the Celery app at a port where nothing listens, then restore it."""
    original = celery_app.conf.broker_url
    use_broker("redis://127.0.0.1:1/0")
    yield
    use_broker(original)


def test_project_and_followup_writes_never_talk_to_the_broker(
    park_office, park_user, broker_down, django_capture_on_commit_callbacks, monkeypatch
):
    from push import wakeup

    published: list = []
    monkeypatch.setattr(wakeup, "_publish", published.append)  # what would reach the broker
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        project = _project(park_office, park_user, planned_investment=Decimal("900000000"))
        follow_up = services.followup_create(
            office=park_office, actor=park_user, project=project, assignee=park_user, due_at=T0, note="电话回访"
        )
        services.followup_update(follow_up=follow_up, actor=park_user, due_at=T0 + timedelta(days=1))
        services.followup_complete(follow_up=_sla(project)["report"], actor=park_user)
        services.project_transition(project=project, to=Status.LOST, actor=park_user, reason="放弃")

    # After the commit, the change feed tells its listeners once (webhook wake-ups): with no
    # webhook endpoint that may read these rows, nothing is published.
    assert [type(c).__name__ for c in callbacks] == ["_CommittedOffices"]
    assert published == []
    assert ReminderDelivery.objects.filter(queued_at__isnull=False).count() == 0


def test_the_four_service_level_followups_are_written_in_bulk_not_saved_one_by_one(park_office):
    owner = UserFactory(office=park_office)
    stage, park, enterprise = StageFactory(), ParkFactory(), EnterpriseFactory(office=park_office)

    with CaptureQueriesContext(connection) as ctx:
        project = services.project_create(
            office=park_office,
            actor=owner,
            stages=[stage],
            title="查询数",
            enterprise=enterprise,
            park=park,
            owner=owner,
        )

    follow_up_queries = [q["sql"] for q in ctx.captured_queries if "followup" in q["sql"]]
    # The rows, their history and (when the API registered one) the change feed's
    # rendering: one statement each for all four, not four saves with validation.
    assert len(follow_up_queries) <= 3, follow_up_queries
    assert project.follow_ups.count() == 4
