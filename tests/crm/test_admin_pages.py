"""Every admin page renders for a park user and for provincial staff (no 500 anywhere)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch

from recruitment.services import followup_create, project_create
from tests.crm.test_admin_support import admin_url, sign_in, sign_in_manager
from tests.factories import (
    ContactFactory,
    EnterpriseFactory,
    InteractionFactory,
    ParkFactory,
    PresenceFactory,
    StageFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def some_data(park_office, park_user):  # type: ignore[no-untyped-def]
    from django.utils import timezone

    enterprise = EnterpriseFactory()
    stage = StageFactory()
    PresenceFactory(enterprise=enterprise, stage=stage)
    contact = ContactFactory(office=park_office, enterprise=enterprise)
    InteractionFactory(office=park_office, enterprise=enterprise).contacts.add(contact)
    project = project_create(
        office=park_office, actor=park_user, stages=[stage], title="项目", enterprise=enterprise, park=ParkFactory()
    )
    followup_create(office=park_office, project=project, due_at=timezone.now())


def _pages(model) -> list[str]:  # type: ignore[no-untyped-def]
    urls = [admin_url(model, "changelist")]
    try:
        urls.append(admin_url(model, "add"))
    except NoReverseMatch:
        pass
    obj = model._default_manager.first()
    if obj is not None:
        urls += [admin_url(model, "change", obj.pk), admin_url(model, "history", obj.pk)]
    return urls


@pytest.mark.parametrize("who", ["park", "provincial"])
def test_every_admin_page_renders(client, who, park_user, provincial_user, some_data):
    if who == "park":
        sign_in(client, park_user)
    else:
        provincial_user.is_superuser = True
        provincial_user.save()
        sign_in_manager(client, provincial_user)
    failures = []
    for model in admin.site._registry:
        for url in _pages(model):
            status = client.get(url).status_code
            if status not in (200, 403, 404):
                failures.append((url, status))
    assert not failures


def test_index_renders_for_a_park_user(client, park_user, some_data):
    sign_in(client, park_user)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert 'id="work-summary"' in response.content.decode()
