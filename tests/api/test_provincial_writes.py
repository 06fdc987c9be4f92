"""The provincial office coordinates: it writes on any office's project exactly where it reads.

A follow-up or interaction the provincial office adds to a park's project belongs
to the project's office, and its history names the provincial writer. A park's key
still finds nothing of another park's.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from api.api_keys import api_key_create
from crm.models import Interaction
from recruitment.models import FollowUp, Project
from tests.api.conftest import Api
from tests.crm.test_admin_support import admin_url, inlines, sign_in
from tests.factories import ContactFactory, EnterpriseFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def park_project(office_b):  # type: ignore[no-untyped-def]
    return ProjectFactory(office=office_b, title="碳纤维预浸料项目")


@pytest.fixture
def province_key(province):  # type: ignore[no-untyped-def]
    return api_key_create(office=province, label="tests")


def test_a_provincial_key_adds_a_follow_up_to_a_parks_project(province_key, park_project, office_b):
    api = Api(province_key.raw)
    assert api.get(f"projects/{park_project.pk}/").status_code == 200
    r = api.post("follow-ups/", {"project": str(park_project.pk), "due_at": "2026-06-01T10:00:00Z", "note": "督办"})
    assert r.status_code == 201, r.content
    assert r.json()["office"] == office_b.code
    follow_up = FollowUp.objects.get(pk=r.json()["id"])
    assert follow_up.office == office_b and follow_up.project == park_project
    assert follow_up.history.get().history_user == province_key.api_key.user
    # The park sees it as its own.
    assert Api(api_key_create(office=office_b).raw).get(f"follow-ups/{follow_up.pk}/").status_code == 200


def test_a_provincial_key_logs_an_interaction_on_a_parks_project(province_key, park_project, office_b):
    contact = ContactFactory(office=office_b, enterprise=park_project.enterprise)
    r = Api(province_key.raw).post(
        "interactions/",
        {
            "enterprise": str(park_project.enterprise_id),
            "project": str(park_project.pk),
            "kind": "visit",
            "occurred_at": "2026-03-01T10:00:00Z",
            "summary": "省厅陪同考察",
            "contacts": [str(contact.pk)],
        },
    )
    assert r.status_code == 201, r.content
    interaction = Interaction.objects.get(pk=r.json()["id"])
    assert interaction.office == office_b and r.json()["office"] == office_b.code
    assert set(interaction.history.values_list("history_user", flat=True)) == {province_key.api_key.user_id}


def test_a_provincial_key_updates_a_parks_project_and_its_follow_ups(province_key, park_project, office_b):
    api = Api(province_key.raw)
    r = api.patch(f"projects/{park_project.pk}/", {"priority": "high"})
    assert r.status_code == 200, r.content
    assert r.json()["office"] == office_b.code
    follow_up = FollowUp.objects.create(office=office_b, project=park_project, due_at="2026-06-01T10:00Z")
    r = api.patch(f"follow-ups/{follow_up.pk}/", {"external_id": "P-1", "status": "done"})
    assert r.status_code == 200, r.content
    follow_up.refresh_from_db()
    assert (follow_up.office, follow_up.status, follow_up.external_id) == (office_b, "done", "P-1")
    assert Project.objects.get(pk=park_project.pk).history.first().history_user == province_key.api_key.user


def test_a_provincial_upsert_by_its_external_id_does_not_create_for_a_park(province_key, park_project):
    """The provincial office's external ids would not find a park's record again: it creates with POST."""
    api = Api(province_key.raw)
    body = {"project": str(park_project.pk), "due_at": "2026-06-01T10:00:00Z"}
    r = api.put("follow-ups/external/F-1/", body)
    assert r.status_code == 400 and r.json()["errors"][0] == {
        "attr": "project",
        "code": "other_office",
        "detail": r.json()["errors"][0]["detail"],
    }
    r = api.post("follow-ups/bulk/", {"items": [{"external_id": "F-1", **body}]})
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "items.0.project"
    assert not FollowUp.objects.exists()


def test_a_park_key_still_finds_nothing_of_another_park(api_a, park_project):
    assert api_a.get(f"projects/{park_project.pk}/").status_code == 404
    assert api_a.patch(f"projects/{park_project.pk}/", {"priority": "high"}).status_code == 404
    r = api_a.post("follow-ups/", {"project": str(park_project.pk), "due_at": "2026-06-01T10:00:00Z"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["attr"] == "project" and r.json()["errors"][0]["code"] == "does_not_exist"
    r = api_a.post(
        "interactions/",
        {
            "enterprise": str(park_project.enterprise_id),
            "project": str(park_project.pk),
            "kind": "call",
            "occurred_at": "2026-03-01T10:00:00Z",
            "summary": "x",
        },
    )
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "project"
    assert not FollowUp.objects.exists() and not Interaction.objects.exists()


# --- The same in the admin ------------------------------------------------------------------


def test_provincial_staff_add_an_interaction_to_a_parks_project_in_the_admin(client, province, office_b):
    project = ProjectFactory(office=office_b, enterprise=EnterpriseFactory(office=None))
    user = UserFactory(office=province)
    sign_in(client, user)
    data = {
        "office": str(province.pk),  # the form's default: the user's own office
        "enterprise": str(project.enterprise_id),
        "project": str(project.pk),
        "kind": "visit",
        "occurred_at_0": "2026-03-01",
        "occurred_at_1": "10:00:00",
        "staff": str(user.pk),
        "summary": "省厅督导",
        **inlines(),
    }
    response = client.post(admin_url(Interaction, "add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    interaction = Interaction.objects.get()
    assert interaction.office == office_b
    assert interaction.history.get().history_user == user


def test_provincial_staff_add_a_follow_up_to_a_parks_project_in_the_admin(client, province, office_b):
    project = ProjectFactory(office=office_b)
    user = UserFactory(office=province)
    sign_in(client, user)
    data = {
        "project": str(project.pk),
        "assignee": str(user.pk),
        "kind": "manual",
        "due_at_0": "2026-06-01",
        "due_at_1": "10:00:00",
        "note": "督办",
    }
    response = client.post(admin_url(FollowUp, "add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    follow_up = FollowUp.objects.get()
    assert follow_up.office == office_b
    assert follow_up.history.get().history_user == user


def test_a_park_user_cannot_pick_another_parks_project_in_the_admin(client, office_a, office_b):
    project = ProjectFactory(office=office_b)
    user = UserFactory(office=office_a)
    sign_in(client, user)
    response = client.post(
        admin_url(FollowUp, "add"),
        {"project": str(project.pk), "kind": "manual", "due_at_0": "2026-06-01", "due_at_1": "10:00:00"},
    )
    assert response.status_code == 200
    assert "project" in response.context["adminform"].form.errors
    assert not FollowUp.objects.exists()
    assert client.get(reverse("admin:recruitment_project_change", args=[project.pk])).status_code == 404
