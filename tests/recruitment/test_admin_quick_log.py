"""Quick logging from the enterprise and project pages, and the timeline it feeds."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Enterprise, Interaction
from recruitment.models import FollowUp, Project
from recruitment.services import followup_create, project_create, project_transition
from tests.crm.test_admin_support import admin_url, sign_in, sign_in_manager
from tests.factories import (
    ContactFactory,
    EnterpriseFactory,
    InteractionFactory,
    OfficeFactory,
    ParkFactory,
    StageFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = timezone.make_aware(timezone.datetime(2026, 11, 2, 10, 0))


@pytest.fixture
def other_office(db):  # type: ignore[no-untyped-def]
    return OfficeFactory(code="xinzhou-office", kind="park", name="忻州开发区招商局")


@pytest.fixture
def enterprise(db):  # type: ignore[no-untyped-def]
    return EnterpriseFactory(name="凯赛（太原）生物科技有限公司")


@pytest.fixture
def project(park_office, enterprise, park_user):  # type: ignore[no-untyped-def]
    return project_create(
        office=park_office,
        actor=park_user,
        stages=[StageFactory()],
        title="生物基聚酰胺项目",
        enterprise=enterprise,
        park=ParkFactory(),
    )


@pytest.fixture
def own_contact(park_office, enterprise):  # type: ignore[no-untyped-def]
    return ContactFactory(office=park_office, enterprise=enterprise, name="刘总")


def quick_log(**fields: object) -> dict:
    data = {
        "quick_log-kind": "visit",
        "quick_log-occurred_at": "2026-11-02T09:30",
        "quick_log-summary": "上门拜访，介绍园区政策",
        "quick_log-project": "",
        "quick_log-follow_up_due_at": "",
        "quick_log-follow_up_note": "",
    }
    data.update({f"quick_log-{k}": v if isinstance(v, list) else str(v) for k, v in fields.items()})
    return data


def test_quick_log_from_the_enterprise_page_logs_and_shows_in_the_timeline(
    client, park_user, park_office, enterprise, own_contact
):
    sign_in(client, park_user)
    change_url = admin_url(Enterprise, "change", enterprise.pk)
    page = client.get(change_url).content.decode()
    assert 'id="quick-log-form"' in page and 'id="timeline"' in page

    response = client.post(admin_url(Enterprise, "quick_log", enterprise.pk), quick_log(contacts=[str(own_contact.pk)]))
    assert response.status_code == 302
    assert response["Location"] == f"{change_url}#timeline"
    interaction = Interaction.objects.get()
    assert (interaction.office, interaction.staff, interaction.kind, interaction.version) == (
        park_office,
        park_user,
        "visit",
        1,
    )
    assert list(interaction.contacts.all()) == [own_contact]
    assert {h.history_user for h in interaction.history.all()} == {park_user}

    timeline = client.get(change_url).context["timeline"]
    assert [e.record for e in timeline if e.kind == "interaction"] == [interaction]


def test_quick_log_with_a_follow_up_creates_both(client, park_user, park_office, enterprise, project):
    sign_in(client, park_user)
    response = client.post(
        admin_url(Enterprise, "quick_log", enterprise.pk),
        quick_log(project=project.pk, follow_up_due_at="2026-11-09T09:00", follow_up_note="寄送合作协议草案"),
    )
    assert response.status_code == 302
    interaction = Interaction.objects.get()
    assert interaction.project == project
    follow_up = FollowUp.objects.get(note="寄送合作协议草案")
    assert (follow_up.project, follow_up.assignee, follow_up.office, follow_up.kind) == (
        project,
        park_user,
        park_office,
        "manual",
    )
    assert timezone.localtime(follow_up.due_at).strftime("%Y-%m-%d %H:%M") == "2026-11-09 09:00"
    body = client.get(admin_url(Enterprise, "change", enterprise.pk)).content.decode()
    assert "寄送合作协议草案" in body
    assert "上门拜访" in body


def test_quick_log_from_the_project_page_logs_against_the_project(client, park_user, project, own_contact):
    sign_in(client, park_user)
    change_url = admin_url(Project, "change", project.pk)
    assert 'id="quick-log-form"' in client.get(change_url).content.decode()
    response = client.post(
        admin_url(Project, "quick_log", project.pk),
        quick_log(kind="call", summary="电话确认考察行程", contacts=[str(own_contact.pk)]),
    )
    assert response.status_code == 302
    interaction = Interaction.objects.get()
    assert (interaction.project, interaction.enterprise) == (project, project.enterprise)
    timeline = client.get(change_url).context["timeline"]
    assert interaction in [e.record for e in timeline]


def test_a_follow_up_without_a_project_is_refused_and_nothing_is_logged(client, park_user, enterprise):
    sign_in(client, park_user)
    response = client.post(
        admin_url(Enterprise, "quick_log", enterprise.pk), quick_log(follow_up_due_at="2026-11-09T09:00")
    )
    assert response.status_code == 200
    assert "follow_up_due_at" in response.context["form"].errors
    assert not Interaction.objects.exists()


def test_a_missing_summary_is_shown_on_the_field(client, park_user, enterprise):
    sign_in(client, park_user)
    response = client.post(admin_url(Enterprise, "quick_log", enterprise.pk), quick_log(summary=""))
    assert response.status_code == 200
    assert "summary" in response.context["form"].errors
    assert 'id="quick-log-form"' in response.content.decode()
    assert not Interaction.objects.exists()


def test_quick_log_offers_only_the_users_offices_contacts_and_projects(
    client, park_user, enterprise, own_contact, other_office, project
):
    ContactFactory(office=other_office, enterprise=enterprise, name="别人的联系人")
    theirs = project_create(
        office=other_office, stages=[StageFactory()], title="别人的项目", enterprise=enterprise, park=ParkFactory()
    )
    sign_in(client, park_user)
    form = client.get(admin_url(Enterprise, "quick_log", enterprise.pk)).context["form"]
    assert set(form.fields["contacts"].queryset) == {own_contact}
    assert set(form.fields["project"].queryset) == {project}
    response = client.post(admin_url(Enterprise, "quick_log", enterprise.pk), quick_log(project=theirs.pk))
    assert response.status_code == 200
    assert "project" in response.context["form"].errors
    assert not Interaction.objects.exists()


def test_timeline_shows_only_what_the_user_may_see(client, park_user, enterprise, project, other_office):
    InteractionFactory(office=other_office, enterprise=enterprise, summary="别人的拜访")
    theirs = project_create(
        office=other_office, stages=[StageFactory()], title="别人的项目", enterprise=enterprise, park=ParkFactory()
    )
    project_transition(project=theirs, to="screening")
    mine = InteractionFactory(office=project.office, enterprise=enterprise, project=project, summary="我们的拜访")
    sign_in(client, park_user)
    response = client.get(admin_url(Enterprise, "change", enterprise.pk))
    records = [e.record for e in response.context["timeline"]]
    assert mine in records
    assert all(getattr(r, "office_id", project.office_id) == project.office_id for r in records)
    assert all(e.project in (None, project) for e in response.context["timeline"])
    assert "别人的" not in response.content.decode()


@time_machine.travel(NOW, tick=False)
def test_timeline_lists_interactions_status_changes_and_follow_ups_newest_first(
    client, park_user, park_office, enterprise, project
):
    InteractionFactory(office=park_office, enterprise=enterprise, occurred_at=NOW - timedelta(days=3), summary="旧")
    project_transition(project=project, to="screening", actor=park_user, at=NOW - timedelta(days=2))
    InteractionFactory(office=park_office, enterprise=enterprise, occurred_at=NOW - timedelta(days=1), summary="新")
    followup_create(office=park_office, project=project, due_at=NOW + timedelta(days=5), note="下周回访")
    sign_in(client, park_user)
    timeline = client.get(admin_url(Enterprise, "change", enterprise.pk)).context["timeline"]
    kinds = [e.kind for e in timeline]
    assert {"interaction", "status_change", "follow_up"} <= set(kinds)
    assert [e.at for e in timeline] == sorted((e.at for e in timeline), reverse=True)
    summaries = [e.record.summary for e in timeline if e.kind == "interaction"]
    assert summaries == ["新", "旧"]


def test_provincial_quick_log_on_a_park_project_belongs_to_the_parks_office(
    client, provincial_user, park_office, project
):
    sign_in_manager(client, provincial_user)
    response = client.post(admin_url(Project, "quick_log", project.pk), quick_log())
    assert response.status_code == 302
    assert Interaction.objects.get().office == park_office


def test_enterprise_page_queries_do_not_grow_with_the_timeline(client, park_user, park_office, enterprise, project):
    sign_in(client, park_user)
    url = admin_url(Enterprise, "change", enterprise.pk)

    def count() -> int:
        client.get(url)  # fill the per-process caches first
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    InteractionFactory(office=park_office, enterprise=enterprise, project=project).contacts.add(
        ContactFactory(office=park_office, enterprise=enterprise)
    )
    small = count()
    for _ in range(12):
        contact = ContactFactory(office=park_office, enterprise=enterprise)
        InteractionFactory(office=park_office, enterprise=enterprise, project=project).contacts.add(contact)
        followup_create(office=park_office, project=project, due_at=timezone.now())
    project_transition(project=project, to="screening")
    large = count()
    assert small == large, (small, large)
