"""Office scoping on every admin path for contacts and interactions: another office's
record is a 404 (never a 403), absent from lists, autocomplete and form choices."""

from __future__ import annotations

import pytest

from crm.models import Contact, Enterprise, Interaction
from tests.crm.test_admin_support import admin_url, sign_in, sign_in_manager
from tests.factories import ContactFactory, EnterpriseFactory, InteractionFactory, OfficeFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def other_office(db):  # type: ignore[no-untyped-def]
    return OfficeFactory(code="xinzhou-office", kind="park", name="忻州开发区招商局")


@pytest.fixture
def enterprise(db):  # type: ignore[no-untyped-def]
    return EnterpriseFactory(name="太原钢铁集团有限公司")


@pytest.fixture
def own_contact(park_office, enterprise):  # type: ignore[no-untyped-def]
    return ContactFactory(office=park_office, enterprise=enterprise, name="王自己")


@pytest.fixture
def foreign_contact(other_office, enterprise):  # type: ignore[no-untyped-def]
    return ContactFactory(office=other_office, enterprise=enterprise, name="李别人")


@pytest.fixture
def foreign_interaction(other_office, enterprise, foreign_contact):  # type: ignore[no-untyped-def]
    interaction = InteractionFactory(office=other_office, enterprise=enterprise, summary="别人的拜访记录")
    interaction.contacts.add(foreign_contact)
    return interaction


@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_park_user_gets_404_for_another_offices_contact(client, park_user, foreign_contact, view):
    sign_in(client, park_user)
    response = client.get(admin_url(Contact, view, foreign_contact.pk))
    assert response.status_code == 404


@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_park_user_gets_404_for_another_offices_interaction(client, park_user, foreign_interaction, view):
    sign_in(client, park_user)
    response = client.get(admin_url(Interaction, view, foreign_interaction.pk))
    assert response.status_code == 404


def test_park_user_cannot_delete_another_offices_contact_by_post(client, park_user, foreign_contact):
    sign_in(client, park_user)
    response = client.post(admin_url(Contact, "delete", foreign_contact.pk), {"post": "yes"})
    assert response.status_code == 404
    assert Contact.objects.filter(pk=foreign_contact.pk).exists()


def test_park_user_cannot_read_a_past_version_of_another_offices_contact(client, park_user, foreign_contact):
    sign_in(client, park_user)
    version = foreign_contact.history.first()
    if version is None:  # factories write without the services; give it a version to ask for
        foreign_contact.name = "李别人二"
        foreign_contact.save()
        version = foreign_contact.history.first()
    url = admin_url(Contact, "simple_history", foreign_contact.pk, version.history_id)
    assert client.get(url).status_code == 404


def test_park_user_gets_404_for_a_malformed_id(client, park_user):
    sign_in(client, park_user)
    assert client.get(admin_url(Contact, "change", "not-a-uuid")).status_code == 404


def test_park_user_changelist_lists_only_own_contacts(client, park_user, own_contact, foreign_contact):
    sign_in(client, park_user)
    response = client.get(admin_url(Contact, "changelist"))
    assert response.status_code == 200
    shown = {c.pk for c in response.context["cl"].result_list}
    assert shown == {own_contact.pk}
    assert "李别人" not in response.content.decode()


def test_park_user_autocomplete_offers_only_own_contacts(client, park_user, own_contact, foreign_contact):
    sign_in(client, park_user)
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "crm", "model_name": "interaction", "field_name": "contacts", "term": ""},
    )
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {str(own_contact.pk)}


def test_provincial_user_sees_every_offices_contacts(client, provincial_user, own_contact, foreign_contact):
    sign_in_manager(client, provincial_user)
    response = client.get(admin_url(Contact, "changelist"))
    assert {c.pk for c in response.context["cl"].result_list} == {own_contact.pk, foreign_contact.pk}
    assert client.get(admin_url(Contact, "change", foreign_contact.pk)).status_code == 200


def test_interaction_form_offers_only_own_contacts_and_staff(
    client, park_user, park_office, own_contact, foreign_contact, other_office
):
    colleague = UserFactory(office=park_office, username="colleague")
    stranger = UserFactory(office=other_office, username="stranger")
    sign_in(client, park_user)
    response = client.get(admin_url(Interaction, "add"))
    form = response.context["adminform"].form
    assert set(form.fields["contacts"].queryset) == {own_contact}
    staff_choices = set(form.fields["staff"].queryset)
    assert colleague in staff_choices and park_user in staff_choices
    assert stranger not in staff_choices
    assert "office" not in form.fields


def test_posting_another_offices_contact_is_refused_on_the_field(
    client, park_user, enterprise, own_contact, foreign_contact
):
    sign_in(client, park_user)
    response = client.post(
        admin_url(Interaction, "add"),
        {
            "enterprise": str(enterprise.pk),
            "kind": "call",
            "occurred_at_0": "2026-11-02",
            "occurred_at_1": "10:00:00",
            "staff": str(park_user.pk),
            "contacts": [str(foreign_contact.pk)],
            "summary": "电话沟通",
        },
    )
    assert response.status_code == 200
    assert "contacts" in response.context["adminform"].form.errors
    assert not Interaction.objects.exists()


def test_interaction_added_by_park_user_belongs_to_their_office(
    client, park_user, park_office, enterprise, own_contact
):
    sign_in(client, park_user)
    response = client.post(
        admin_url(Interaction, "add"),
        {
            "enterprise": str(enterprise.pk),
            "kind": "visit",
            "occurred_at_0": "2026-11-02",
            "occurred_at_1": "10:00:00",
            "staff": str(park_user.pk),
            "contacts": [str(own_contact.pk)],
            "summary": "上门拜访",
            # An office smuggled into the POST is ignored: the field is not on the form.
            "office": str(OfficeFactory(code="elsewhere").pk),
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    interaction = Interaction.objects.get()
    assert interaction.office == park_office
    assert interaction.version == 1
    assert list(interaction.contacts.all()) == [own_contact]
    assert interaction.history.first().history_user == park_user


def test_enterprise_directory_is_shared_and_readable_by_every_office(client, park_user, other_office):
    theirs = EnterpriseFactory(office=other_office, name="别人的企业")
    sign_in(client, park_user)
    assert client.get(admin_url(Enterprise, "change", theirs.pk)).status_code == 200
    response = client.get(admin_url(Enterprise, "changelist"))
    assert theirs in response.context["cl"].result_list


def test_enterprise_page_shows_only_own_offices_contacts(client, park_user, enterprise, own_contact, foreign_contact):
    sign_in(client, park_user)
    response = client.get(admin_url(Enterprise, "change", enterprise.pk))
    body = response.content.decode()
    assert "王自己" in body
    assert "李别人" not in body


def test_park_user_cannot_delete_from_the_shared_directory(client, park_user, enterprise):
    sign_in_manager(client, park_user)
    response = client.post(admin_url(Enterprise, "delete", enterprise.pk), {"post": "yes"})
    assert response.status_code == 403
    assert Enterprise.objects.filter(pk=enterprise.pk).exists()


def test_enterprise_search_matches_pinyin_without_spaces_and_initials(client, park_user):
    from crm.services import enterprise_create

    found = enterprise_create(office=park_user.office, name="太原钢铁集团有限公司")
    enterprise_create(office=park_user.office, name="忻州碳材料有限公司")
    sign_in(client, park_user)
    for term in ("taiyuan", "tai yuan gang", "tygt", "太原钢铁"):
        response = client.get(admin_url(Enterprise, "changelist"), {"q": term})
        assert list(response.context["cl"].result_list) == [found], term


def test_park_user_reads_the_history_of_own_records_but_cannot_revert(client, park_user, own_contact):
    from crm.services import contact_update

    contact_update(contact=own_contact, actor=park_user, name="王自己改")
    sign_in(client, park_user)
    assert client.get(admin_url(Contact, "history", own_contact.pk)).status_code == 200
    version = own_contact.history.last()
    url = admin_url(Contact, "simple_history", own_contact.pk, version.history_id)
    assert client.get(url).status_code == 200
    assert client.post(url, {"name": "回滚"}).status_code == 405
    own_contact.refresh_from_db()
    assert own_contact.name == "王自己改"
