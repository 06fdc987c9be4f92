"""Projects, follow-ups and status history in the admin: office scoping on every path,
writes through the services, status moves only through the pipeline, fixed query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import ChangeEntry
from recruitment.models import FollowUp, Project, ProjectStatusChange
from recruitment.services import followup_create, project_create, project_transition
from tests.crm.test_admin_support import (
    PROJECT_INLINES,
    admin_url,
    form_errors,
    inlines,
    sign_in,
    sign_in_manager,
)
from tests.factories import (
    ContactFactory,
    EnterpriseFactory,
    InteractionFactory,
    OfficeFactory,
    ParkFactory,
    StageFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def other_office(db):  # type: ignore[no-untyped-def]
    return OfficeFactory(code="xinzhou-office", kind="park", name="忻州开发区招商局")


@pytest.fixture
def park(db):  # type: ignore[no-untyped-def]
    return ParkFactory(code="yangqu", name="阳曲产业园区")


@pytest.fixture
def stage(db):  # type: ignore[no-untyped-def]
    return StageFactory(code="carbon-fibre", name="高性能碳纤维")


def make_project(office, park, stage, *, title: str = "碳纤维项目", actor=None) -> Project:  # type: ignore[no-untyped-def]
    return project_create(
        office=office, actor=actor, stages=[stage], title=title, enterprise=EnterpriseFactory(), park=park
    )


@pytest.fixture
def own_project(park_office, park, stage, park_user):  # type: ignore[no-untyped-def]
    return make_project(park_office, park, stage, title="我们的项目", actor=park_user)


@pytest.fixture
def foreign_project(other_office, park, stage):  # type: ignore[no-untyped-def]
    return make_project(other_office, park, stage, title="别人的项目")


@pytest.fixture
def foreign_follow_up(other_office, foreign_project):  # type: ignore[no-untyped-def]
    return followup_create(office=other_office, project=foreign_project, due_at=timezone.now(), note="别人的跟进")


def project_post(project: Project, **fields: object) -> dict:
    data = {
        "title": project.title,
        "enterprise": str(project.enterprise_id),
        "park": str(project.park_id),
        "stages": [str(s.pk) for s in project.stages.all()],
        "owner": "",
        "priority": project.priority,
        "chain_role": project.chain_role,
        "planned_investment": "",
        "signed_amount": "",
        "funds_in_place": "",
        "expected_output_value": "",
        "expected_jobs": "",
        "description": "",
        **inlines(*PROJECT_INLINES),
    }
    data.update({k: v if isinstance(v, list) else str(v) for k, v in fields.items()})
    return data


# --- tenancy --------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["change", "history", "delete", "transition", "quick_log"])
def test_park_user_gets_404_for_another_offices_project(client, park_user, foreign_project, view):
    sign_in(client, park_user)
    assert client.get(admin_url(Project, view, foreign_project.pk)).status_code == 404


@pytest.mark.parametrize("view", ["transition", "quick_log"])
def test_posting_to_another_offices_project_is_a_404_and_writes_nothing(client, park_user, foreign_project, view):
    sign_in(client, park_user)
    data = {"transition-to": "screening", "quick_log-kind": "call", "quick_log-summary": "x"}
    response = client.post(admin_url(Project, view, foreign_project.pk), data)
    assert response.status_code == 404
    foreign_project.refresh_from_db()
    assert foreign_project.status == "lead"
    assert foreign_project.interactions.count() == 0


@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_park_user_gets_404_for_another_offices_follow_up(client, park_user, foreign_follow_up, view):
    sign_in(client, park_user)
    assert client.get(admin_url(FollowUp, view, foreign_follow_up.pk)).status_code == 404


def test_park_user_lists_only_own_projects_follow_ups_and_status_changes(
    client, park_user, park_office, own_project, foreign_project, foreign_follow_up
):
    followup_create(office=park_office, project=own_project, due_at=timezone.now())
    sign_in(client, park_user)
    projects = client.get(admin_url(Project, "changelist")).context["cl"].result_list
    assert list(projects) == [own_project]
    follow_ups = client.get(admin_url(FollowUp, "changelist")).context["cl"].result_list
    assert follow_ups and {f.project_id for f in follow_ups} == {own_project.pk}
    changes = client.get(admin_url(ProjectStatusChange, "changelist")).context["cl"].result_list
    assert {c.project_id for c in changes} == {own_project.pk}
    other_change = foreign_project.status_changes.get()
    assert client.get(admin_url(ProjectStatusChange, "change", other_change.pk)).status_code == 404


def test_project_autocomplete_offers_only_own_projects(client, park_user, own_project, foreign_project):
    sign_in(client, park_user)
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "recruitment", "model_name": "followup", "field_name": "project", "term": ""},
    )
    assert {row["id"] for row in response.json()["results"]} == {str(own_project.pk)}


def test_provincial_user_sees_and_opens_every_offices_projects(client, provincial_user, own_project, foreign_project):
    sign_in_manager(client, provincial_user)
    projects = client.get(admin_url(Project, "changelist")).context["cl"].result_list
    assert set(projects) == {own_project, foreign_project}
    assert client.get(admin_url(Project, "change", foreign_project.pk)).status_code == 200
    assert client.get(admin_url(Project, "history", foreign_project.pk)).status_code == 200


def test_follow_up_form_cannot_pick_another_offices_project(client, park_user, foreign_project):
    sign_in(client, park_user)
    response = client.post(
        admin_url(FollowUp, "add"),
        {
            "project": str(foreign_project.pk),
            "assignee": str(park_user.pk),
            "kind": "manual",
            "due_at_0": "2026-12-01",
            "due_at_1": "09:00:00",
            "note": "x",
        },
    )
    assert response.status_code == 200
    assert "project" in form_errors(response)
    assert not FollowUp.objects.filter(note="x").exists()


# --- writes ------------------------------------------------------------------------------------


def test_project_added_in_admin_starts_as_a_lead_in_the_users_office(client, park_user, park_office, park, stage):
    enterprise = EnterpriseFactory()
    sign_in(client, park_user)
    data = project_post(
        Project(title="新项目", enterprise=enterprise, park=park, priority="high"), stages=[str(stage.pk)]
    )
    response = client.post(admin_url(Project, "add"), data)
    assert response.status_code == 302, form_errors(response)
    project = Project.objects.get()
    assert (project.office, project.status, project.version) == (park_office, "lead", 1)
    assert project.chain_role == "fill"  # nobody is present at the stage: the project fills a gap
    assert project.status_changes.get().to_status == "lead"
    assert {h.history_user for h in project.history.all()} == {park_user}


def test_project_saved_in_admin_bumps_version_and_records_history(client, park_user, own_project):
    versions_before = own_project.history.count()
    sign_in(client, park_user)
    response = client.post(
        admin_url(Project, "change", own_project.pk), project_post(own_project, planned_investment="500000000")
    )
    assert response.status_code == 302, form_errors(response)
    own_project.refresh_from_db()
    assert own_project.version == 2
    assert own_project.planned_investment == 500_000_000
    assert own_project.history.count() > versions_before
    assert own_project.history.first().history_user == park_user
    assert ChangeEntry.objects.filter(object_id=own_project.pk, op="upsert").exists()


def test_negative_amount_is_shown_on_the_field_and_nothing_is_saved(client, park_user, own_project):
    sign_in(client, park_user)
    response = client.post(
        admin_url(Project, "change", own_project.pk),
        project_post(own_project, signed_amount="-1", title="改过的标题"),
    )
    assert response.status_code == 200
    assert "signed_amount" in form_errors(response)
    own_project.refresh_from_db()
    assert (own_project.version, own_project.title) == (1, "我们的项目")


def test_status_is_not_a_form_field(client, park_user, own_project):
    sign_in(client, park_user)
    response = client.post(admin_url(Project, "change", own_project.pk), project_post(own_project, status="signed"))
    assert response.status_code == 302, form_errors(response)
    own_project.refresh_from_db()
    assert own_project.status == "lead"


def test_provincial_staff_choose_the_owning_office(client, provincial_user, park_office, park, stage):
    sign_in_manager(client, provincial_user)
    form = client.get(admin_url(Project, "add")).context["adminform"].form
    assert "office" in form.fields
    data = project_post(Project(title="省里的项目", enterprise=EnterpriseFactory(), park=park), stages=[str(stage.pk)])
    data["office"] = str(park_office.pk)
    response = client.post(admin_url(Project, "add"), data)
    assert response.status_code == 302, form_errors(response)
    assert Project.objects.get().office == park_office


# --- the status pipeline ----------------------------------------------------------------------------


def test_allowed_transition_writes_the_status_change(client, park_user, own_project):
    sign_in(client, park_user)
    response = client.post(
        admin_url(Project, "transition", own_project.pk),
        {"transition-to": "screening", "transition-note": "初步研判"},
    )
    assert response.status_code == 302
    own_project.refresh_from_db()
    assert own_project.status == "screening"
    assert own_project.version == 2
    change = own_project.status_changes.order_by("-changed_at").first()
    assert (change.from_status, change.to_status, change.changed_by, change.note) == (
        "lead",
        "screening",
        park_user,
        "初步研判",
    )


def test_illegal_transition_is_refused_with_a_message_and_changes_nothing(client, park_user, own_project):
    sign_in(client, park_user)
    response = client.post(admin_url(Project, "transition", own_project.pk), {"transition-to": "at_capacity"})
    assert response.status_code == 200
    errors = response.context["form"].errors["to"]
    assert "cannot move" in errors[0]
    assert any("cannot move" in str(m) for m in get_messages(response.wsgi_request))
    own_project.refresh_from_db()
    assert (own_project.status, own_project.version) == ("lead", 1)
    assert own_project.status_changes.count() == 1


def test_losing_a_project_needs_a_reason(client, park_user, own_project):
    sign_in(client, park_user)
    response = client.post(admin_url(Project, "transition", own_project.pk), {"transition-to": "lost"})
    assert response.status_code == 200
    own_project.refresh_from_db()
    assert own_project.status == "lead"
    response = client.post(
        admin_url(Project, "transition", own_project.pk), {"transition-to": "lost", "transition-reason": "外迁他省"}
    )
    assert response.status_code == 302
    own_project.refresh_from_db()
    assert (own_project.status, own_project.lost_reason) == ("lost", "外迁他省")


def test_change_page_offers_only_the_allowed_next_statuses(client, park_user, own_project):
    sign_in(client, park_user)
    response = client.get(admin_url(Project, "change", own_project.pk))
    body = response.content.decode()
    assert 'id="transition-form"' in body
    offered = {value for value, _label in response.context["transition_form"].fields["to"].widget.choices}
    assert offered == {"screening", "suspended", "lost"}


def test_view_only_user_gets_no_transition_form_and_cannot_post_one(client, park_office, own_project):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    viewer = UserFactory(office=park_office, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_project"))
    client.force_login(viewer)
    response = client.get(admin_url(Project, "change", own_project.pk))
    assert response.status_code == 200
    assert "transition_form" not in response.context
    assert (
        client.post(admin_url(Project, "transition", own_project.pk), {"transition-to": "screening"}).status_code == 403
    )


# --- follow-ups ------------------------------------------------------------------------------------


def test_follow_up_actions_complete_through_the_service(client, park_user, park_office, own_project):
    follow_up = followup_create(office=park_office, project=own_project, due_at=timezone.now(), note="回访")
    sign_in(client, park_user)
    response = client.post(
        admin_url(FollowUp, "changelist"), {"action": "complete_selected", "_selected_action": [str(follow_up.pk)]}
    )
    assert response.status_code == 302
    follow_up.refresh_from_db()
    assert (follow_up.status, follow_up.version) == ("done", 2)
    assert follow_up.completed_at is not None


def test_follow_up_added_inline_on_the_project_goes_through_the_service(client, park_user, park_office, own_project):
    sign_in(client, park_user)
    data = project_post(own_project)
    data.update(
        {
            "follow_ups-TOTAL_FORMS": "1",
            "follow_ups-0-kind": "manual",
            "follow_ups-0-due_at_0": "2026-12-01",
            "follow_ups-0-due_at_1": "09:00:00",
            "follow_ups-0-note": "寄送园区政策",
        }
    )
    response = client.post(admin_url(Project, "change", own_project.pk), data)
    assert response.status_code == 302, form_errors(response)
    follow_up = FollowUp.objects.get(note="寄送园区政策")
    assert (follow_up.office, follow_up.assignee, follow_up.version) == (park_office, park_user, 1)
    assert ChangeEntry.objects.filter(object_id=follow_up.pk).exists()


# --- query counts ---------------------------------------------------------------------------------------


def _populate(office, park, stage, user, n: int) -> list[Project]:  # type: ignore[no-untyped-def]
    projects = []
    for i in range(n):
        project = make_project(office, park, stage, title=f"项目{i}", actor=user)
        project_transition(project=project, to="screening", actor=user)
        contact = ContactFactory(office=office, enterprise=project.enterprise)
        interaction = InteractionFactory(office=office, enterprise=project.enterprise, project=project, staff=user)
        interaction.contacts.add(contact)
        followup_create(office=office, project=project, assignee=user, due_at=timezone.now() + timedelta(days=i))
        projects.append(project)
    return projects


def _queries(client, url: str) -> int:  # type: ignore[no-untyped-def]
    """Queries of one GET of ``url``, after a first GET has filled the per-process caches
    (content types, permissions), so two data sizes compare like with like."""
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_project_changelist_queries_do_not_grow_with_the_data(client, park_user, park_office, park, stage):
    sign_in(client, park_user)
    url = admin_url(Project, "changelist")
    _populate(park_office, park, stage, park_user, 5)
    small = _queries(client, url)
    _populate(park_office, park, stage, park_user, 45)
    large = _queries(client, url)
    assert small == large, (small, large)
    assert large <= 25


def test_project_change_page_queries_do_not_grow_with_the_history(client, park_user, park_office, park, stage):
    sign_in(client, park_user)
    project = _populate(park_office, park, stage, park_user, 1)[0]
    url = admin_url(Project, "change", project.pk)
    small = _queries(client, url)
    for _ in range(10):
        interaction = InteractionFactory(office=park_office, enterprise=project.enterprise, project=project)
        interaction.contacts.add(ContactFactory(office=park_office, enterprise=project.enterprise))
        followup_create(office=park_office, project=project, assignee=park_user, due_at=timezone.now())
    project_transition(project=project, to="negotiating", actor=park_user)
    large = _queries(client, url)
    assert small == large, (small, large)


# --- the filters report pages link with ----------------------------------------------------------


def test_project_list_accepts_the_filters_reports_link_with(
    client, provincial_user, park, stage, own_project, foreign_project
):
    sign_in_manager(client, provincial_user)
    params = {
        "park__id__exact": park.pk,
        "park__zone__id__exact": park.zone_id,
        "stages__chain__id__exact": stage.chain_id,
        "stages__chain__sector__id__exact": stage.chain.sector_id,
        "office__id__exact": own_project.office_id,
        "status__in": "lead,screening",
    }
    response = client.get(admin_url(Project, "changelist"), params)
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [own_project]


def test_stale_filter_lists_open_projects_without_recent_interactions(client, park_user, own_project):
    later = timezone.now() + timedelta(days=45)
    with time_machine.travel(later):
        sign_in(client, park_user)
        response = client.get(admin_url(Project, "changelist"), {"stale": "1"})
        assert list(response.context["cl"].result_list) == [own_project]
        InteractionFactory(office=own_project.office, enterprise=own_project.enterprise, project=own_project)
        response = client.get(admin_url(Project, "changelist"), {"stale": "1"})
        assert list(response.context["cl"].result_list) == []


def test_follow_up_list_filters_by_what_the_project_list_filters_by(
    client, provincial_user, park, stage, own_project, foreign_project
):
    sign_in_manager(client, provincial_user)
    params = {
        "status__exact": "open",
        "project__park__id__exact": park.pk,
        "project__stages__chain__sector__id__exact": stage.chain.sector_id,
        "project__office__id__exact": own_project.office_id,
    }
    response = client.get(admin_url(FollowUp, "changelist"), params)
    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert rows and {f.project_id for f in rows} == {own_project.pk}
    assert client.get(admin_url(FollowUp, "changelist"), {"project__enterprise__name": "x"}).status_code == 400


def test_staff_delete_a_project_through_the_service_with_its_follow_ups(client, park_user, park_office, own_project):
    followup_create(office=park_office, project=own_project, due_at=timezone.now(), note="回访")
    follow_up_ids = list(own_project.follow_ups.values_list("pk", flat=True))
    sign_in(client, park_user)
    confirm = client.get(admin_url(Project, "delete", own_project.pk))
    assert confirm.status_code == 200
    assert not confirm.context["perms_lacking"]
    response = client.post(admin_url(Project, "delete", own_project.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Project.objects.filter(pk=own_project.pk).exists()
    deleted = set(ChangeEntry.objects.filter(op="delete").values_list("object_id", flat=True))
    assert {own_project.pk, *follow_up_ids} <= deleted
