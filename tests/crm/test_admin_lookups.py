"""Change lists accept only the filters they offer: no reverse lookups that reveal which
enterprises another office works with, no comparisons that bisect its record ids."""

from __future__ import annotations

import uuid

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from chains.admin_lookups import OfferedLookupsOnlyMixin
from crm.roles import STAFF, role_assign
from tests.factories import (
    ContactFactory,
    EnterpriseFactory,
    FollowUpFactory,
    InteractionFactory,
    OfficeFactory,
    PresenceFactory,
    ProjectFactory,
    StageFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db]

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def changelist(model) -> str:  # type: ignore[no-untyped-def]
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def refused_lookups(model) -> list[str]:  # type: ignore[no-untyped-def]
    """Lookups no change list offers: an order on the primary key, and every reverse relation."""
    found = [f"{model._meta.pk.name}__gt"]
    for field in model._meta.get_fields():
        if field.auto_created and not field.concrete and field.is_relation:
            found += [f"{field.name}__isnull", f"{field.name}", f"{field.name}__gt"]
    return found


@pytest.fixture
def superuser(provincial_office):  # type: ignore[no-untyped-def]
    return UserFactory(office=provincial_office, is_staff=True, is_superuser=True, is_manager=True)


@pytest.fixture
def records(provincial_office, park_office):  # type: ignore[no-untyped-def]
    stage = StageFactory()
    PresenceFactory(stage=stage)
    for office in (provincial_office, park_office):
        project = ProjectFactory(office=office)
        project.stages.add(stage)
        contact = ContactFactory(office=office, enterprise=project.enterprise)
        InteractionFactory(office=office, enterprise=project.enterprise, project=project)
        FollowUpFactory(office=office, project=project)
    return contact


def test_every_registered_change_list_uses_the_rule():
    assert [m._meta.label for m, a in REGISTERED if not isinstance(a, OfferedLookupsOnlyMixin)] == []


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=[m._meta.label for m, _a in REGISTERED])
def test_change_list_refuses_lookups_it_does_not_offer(client, superuser, records, model, model_admin):
    client.force_login(superuser)
    url = changelist(model)
    assert client.get(url).status_code == 200
    offered = {getattr(f, "parameter_name", None) for f in model_admin.list_filter if isinstance(f, type)}
    for lookup in refused_lookups(model):
        if lookup in offered:  # a filter of the list's own (the light colour) takes this name
            continue
        value = "False" if lookup.endswith("isnull") else str(uuid.uuid4()) if "pk" not in lookup else "0"
        response = client.get(url, {lookup: value})
        assert response.status_code == 400, (lookup, response.status_code)


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=[m._meta.label for m, _a in REGISTERED])
def test_change_list_accepts_every_filter_choice_it_offers(client, superuser, records, model, model_admin):
    client.force_login(superuser)
    url = changelist(model)
    request = RequestFactory().get(url)
    request.user = superuser
    cl = model_admin.get_changelist_instance(request)
    tried = 0
    for spec in cl.filter_specs:
        for choice in list(spec.choices(cl))[:4]:
            response = client.get(url + choice["query_string"])
            assert response.status_code == 200, (choice["query_string"], response.status_code)
            assert "?e=1" not in response.get("Location", "")
            tried += 1
    if model_admin.date_hierarchy:
        field = model_admin.date_hierarchy
        assert client.get(url, {f"{field}__year": "2026", f"{field}__month": "1"}).status_code == 200
    assert tried >= len(cl.filter_specs)


@pytest.fixture
def park_staff(park_office):  # type: ignore[no-untyped-def]
    user = UserFactory(office=park_office, is_staff=True)
    role_assign(user=user, role=STAFF)
    return user


@pytest.mark.parametrize(
    "query",
    [
        {"interactions__isnull": "False"},
        {"contacts__isnull": "False"},
        {"projects__isnull": "False"},
        {"contacts": "CONTACT"},
        {"contacts__id__exact": "CONTACT"},
        {"interactions__gt": "00000000-0000-0000-0000-000000000000"},
        {"interactions__office__code": "OTHER"},
        {"contacts__name__startswith": "a"},
        {"office__id__gt": "0"},
        {"external_id": "x"},
        {"external_id__startswith": "x"},
    ],
)
def test_park_user_cannot_probe_other_offices_work_through_the_enterprise_list(client, park_staff, query):
    other = OfficeFactory(kind="partner")
    enterprise = EnterpriseFactory()
    contact = ContactFactory(office=other, enterprise=enterprise)
    InteractionFactory(office=other, enterprise=enterprise)
    params = {k: v.replace("CONTACT", str(contact.pk)).replace("OTHER", other.code) for k, v in query.items()}
    client.force_login(park_staff)
    response = client.get(changelist(enterprise.__class__), params)
    assert response.status_code == 400
    assert enterprise.name not in response.content.decode()


def test_park_user_cannot_export_the_enterprise_list_under_a_lookup_it_does_not_offer(client, park_staff):
    other = OfficeFactory(kind="partner")
    enterprise = EnterpriseFactory()
    InteractionFactory(office=other, enterprise=enterprise)
    client.force_login(park_staff)
    response = client.post(
        changelist(enterprise.__class__) + "?interactions__isnull=False",
        {"action": "export_xlsx_action", "select_across": "1", "index": "0", "_selected_action": [str(enterprise.pk)]},
    )
    assert response.status_code == 400


def test_the_offered_filters_still_filter_the_enterprise_list(client, park_staff):
    kept = EnterpriseFactory(ownership="private")
    other = EnterpriseFactory(ownership="state")
    client.force_login(park_staff)
    response = client.get(changelist(kept.__class__), {"ownership__exact": "private"})
    assert response.status_code == 200
    body = response.content.decode()
    assert kept.name in body and other.name not in body


def test_dashboard_links_to_the_change_lists_keep_working(client, superuser, records):
    from recruitment.models import FollowUp, Project
    from recruitment.report_links import ChangelistLinker

    client.force_login(superuser)
    request = RequestFactory().get("/")
    request.user = superuser
    link = ChangelistLinker(request)
    project_params = [
        {"status__exact": "lead"},
        {"status__in": "signed,registered"},
        {"park__id__exact": "1"},
        {"stages__chain__id__exact": "1", "stages__chain__sector__id__exact": "1"},
        {"office__id__exact": "1", "owner__id__exact": "1", "owner__isnull": "True"},
        {"status_changed_at__gte": "2026-01-01T00:00:00+08:00", "created_at__lt": "2026-02-01T00:00:00+08:00"},
        {"stale": "1", "stage": "1"},
    ]
    for params in project_params:
        url = link(Project, params)
        assert url is not None, params
        assert client.get(url).status_code == 200, params
    follow_up_params = {
        "status__exact": "open",
        "assignee__id__exact": "1",
        "due_at__lt": "2026-01-01T00:00:00+08:00",
        "project__park__id__exact": "1",
        "project__stages__chain__sector__id__exact": "1",
    }
    url = link(FollowUp, follow_up_params)
    assert url is not None
    assert client.get(url).status_code == 200
