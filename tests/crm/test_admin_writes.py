"""Admin writes go through the services: version, history and change feed move, and a
refusal (bad or duplicate credit code, negative amount, a rule only the service knows)
is shown on the field it names with nothing saved."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from crm.models import ChangeEntry, Contact, Enterprise, Interaction, Presence
from crm.services import interaction_log
from tests.crm.test_admin_support import (
    ENTERPRISE_INLINES,
    admin_url,
    form_errors,
    inlines,
    management,
    sign_in,
    sign_in_manager,
)
from tests.factories import (
    ContactFactory,
    EnterpriseFactory,
    PresenceFactory,
    ProjectFactory,
    UserFactory,
    valid_credit_code,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def enterprise_post(**fields: object) -> dict:
    data = {
        "name": "山西示例新材料有限公司",
        "name_en": "",
        "credit_code": "",
        "ownership": "private",
        "province": "山西省",
        "city": "太原市",
        "registered_capital": "",
        "website": "",
        "source": "",
        **inlines(*ENTERPRISE_INLINES),
    }
    data.update({k: str(v) for k, v in fields.items()})
    return data


def test_enterprise_added_and_changed_in_admin_bumps_version_and_records_history(client, park_user, park_office):
    sign_in(client, park_user)
    response = client.post(admin_url(Enterprise, "add"), enterprise_post(credit_code=valid_credit_code(7)))
    assert response.status_code == 302, form_errors(response)
    enterprise = Enterprise.objects.get()
    assert enterprise.version == 1
    assert enterprise.office == park_office
    assert enterprise.name_pinyin.startswith("shan xi")
    assert ChangeEntry.objects.filter(object_id=enterprise.pk).exists()

    response = client.post(
        admin_url(Enterprise, "change", enterprise.pk),
        enterprise_post(credit_code=valid_credit_code(7), city="忻州市"),
    )
    assert response.status_code == 302, form_errors(response)
    enterprise.refresh_from_db()
    assert (enterprise.version, enterprise.city) == (2, "忻州市")
    history = list(enterprise.history.order_by("history_date"))
    assert len(history) == 2
    assert history[-1].history_user == park_user
    assert history[-1].city == "忻州市"


def test_wrong_check_digit_is_shown_on_the_credit_code_field(client, park_user):
    code = valid_credit_code(8)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    sign_in(client, park_user)
    response = client.post(admin_url(Enterprise, "add"), enterprise_post(credit_code=wrong))
    assert response.status_code == 200
    errors = form_errors(response)
    assert "check digit" in " ".join(errors["credit_code"])
    assert not Enterprise.objects.exists()


def test_credit_code_typed_in_lowercase_is_stored_normalised(client, park_user):
    sign_in(client, park_user)
    response = client.post(admin_url(Enterprise, "add"), enterprise_post(credit_code=valid_credit_code(9).lower()))
    assert response.status_code == 302, form_errors(response)
    assert Enterprise.objects.get().credit_code == valid_credit_code(9)


def test_duplicate_credit_code_is_shown_on_the_field_and_nothing_is_saved(client, park_user):
    EnterpriseFactory(name="先来的企业", credit_code=valid_credit_code(10))
    sign_in(client, park_user)
    response = client.post(
        admin_url(Enterprise, "add"), enterprise_post(name="后来的企业", credit_code=valid_credit_code(10))
    )
    assert response.status_code == 200
    assert "credit_code" in form_errors(response)
    assert Enterprise.objects.count() == 1


def test_negative_registered_capital_is_shown_on_the_field(client, park_user):
    sign_in(client, park_user)
    response = client.post(admin_url(Enterprise, "add"), enterprise_post(registered_capital="-5"))
    assert response.status_code == 200
    assert "registered_capital" in form_errors(response)
    assert not Enterprise.objects.exists()


def test_contact_added_inline_on_the_enterprise_goes_through_the_service(client, park_user, park_office):
    enterprise = EnterpriseFactory()
    sign_in(client, park_user)
    data = enterprise_post(name=enterprise.name, credit_code=enterprise.credit_code)
    data.update(management("contacts", total=1))
    data.update({"contacts-0-name": "赵经理", "contacts-0-title": "总经理", "contacts-0-phone": "0351-1234567"})
    response = client.post(admin_url(Enterprise, "change", enterprise.pk), data)
    assert response.status_code == 302, form_errors(response)
    contact = Contact.objects.get()
    assert (contact.office, contact.enterprise, contact.version) == (park_office, enterprise, 1)
    assert contact.history.get().history_user == park_user
    assert ChangeEntry.objects.filter(object_id=contact.pk).exists()


def test_a_refused_inline_row_rolls_back_the_whole_save(client, park_user):
    """The enterprise is valid, the new contact's e-mail is not: neither is saved."""
    enterprise = EnterpriseFactory(city="太原市")
    sign_in(client, park_user)
    data = enterprise_post(name=enterprise.name, credit_code=enterprise.credit_code, city="忻州市")
    data.update(management("contacts", total=1))
    data.update({"contacts-0-name": "赵经理", "contacts-0-email": "not-an-address"})
    response = client.post(admin_url(Enterprise, "change", enterprise.pk), data)
    assert response.status_code == 200
    enterprise.refresh_from_db()
    assert enterprise.city == "太原市"
    assert not Contact.objects.exists()


def test_a_rule_only_the_service_knows_is_shown_on_the_field(client, park_user, park_office):
    """A contact of another enterprise passes the form (it is the office's own) but not
    ``interaction_log``: the refusal comes back on the contacts field, nothing is written."""
    enterprise = EnterpriseFactory()
    elsewhere = ContactFactory(office=park_office, enterprise=EnterpriseFactory(), name="别家的联系人")
    sign_in(client, park_user)
    response = client.post(
        admin_url(Interaction, "add"),
        {
            "enterprise": str(enterprise.pk),
            "kind": "meeting",
            "occurred_at_0": "2026-11-03",
            "occurred_at_1": "15:00:00",
            "staff": str(park_user.pk),
            "contacts": [str(elsewhere.pk)],
            "summary": "洽谈会",
        },
    )
    assert response.status_code == 200
    assert "another enterprise" in " ".join(form_errors(response)["contacts"])
    assert not Interaction.objects.exists()
    assert not ChangeEntry.objects.filter(type="interaction").exists()


def test_enterprise_with_projects_cannot_be_deleted_and_names_them(client, provincial_user):
    enterprise = EnterpriseFactory()
    ProjectFactory(enterprise=enterprise, title="碳纤维预浸料项目")
    provincial_user.is_superuser = True  # deleting from the directory is for the province's administrators
    provincial_user.save()
    sign_in(client, provincial_user)
    response = client.post(admin_url(Enterprise, "delete", enterprise.pk), {"post": "yes"})
    assert response.status_code == 200
    assert "碳纤维预浸料项目" in response.content.decode()
    assert Enterprise.objects.filter(pk=enterprise.pk).exists()


def test_bulk_delete_goes_through_the_service_and_feeds_the_change_log(client, provincial_user, park_office):
    """Bulk delete of contacts runs through the service inside one transaction."""
    contacts = [ContactFactory(office=park_office), ContactFactory(office=park_office)]
    provincial_user.is_superuser = True
    provincial_user.save()
    sign_in(client, provincial_user)
    response = client.post(
        admin_url(Contact, "changelist"),
        {"action": "delete_selected", "_selected_action": [str(c.pk) for c in contacts], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Contact.objects.exists()
    assert ChangeEntry.objects.filter(op="delete", type="contact").count() == 2
    assert not any(m.level_tag == "error" for m in get_messages(response.wsgi_request))


def test_saving_over_a_newer_change_is_refused_and_says_why(client, park_user):
    from crm.services import enterprise_update

    enterprise = EnterpriseFactory(city="太原市", office=park_user.office)  # the park's own
    sign_in(client, park_user)
    page = client.get(admin_url(Enterprise, "change", enterprise.pk)).content.decode()
    assert 'name="_loaded_version" value="1"' in page
    enterprise_update(enterprise=enterprise, city="阳曲县")  # a colleague saves first: version 2

    stale = enterprise_post(name=enterprise.name, credit_code=enterprise.credit_code, city="忻州市")
    stale["_loaded_version"] = "1"
    response = client.post(admin_url(Enterprise, "change", enterprise.pk), stale)
    assert response.status_code == 200
    assert "Someone else changed this record" in " ".join(form_errors(response)["__all__"])
    assert 'name="_loaded_version" value="2"' in response.content.decode()
    enterprise.refresh_from_db()
    assert (enterprise.city, enterprise.version) == ("阳曲县", 2)

    stale["_loaded_version"] = "2"  # the page shown again carries the new version
    assert client.post(admin_url(Enterprise, "change", enterprise.pk), stale).status_code == 302
    enterprise.refresh_from_db()
    assert (enterprise.city, enterprise.version) == ("忻州市", 3)


def test_deleting_a_contact_in_admin_takes_it_off_its_interactions_in_the_feed(client, park_office):
    manager = UserFactory(office=park_office)
    enterprise = EnterpriseFactory()
    contact = ContactFactory(office=park_office, enterprise=enterprise)
    interaction = interaction_log(
        office=park_office,
        enterprise=enterprise,
        kind="meeting",
        occurred_at=timezone.now(),
        summary="洽谈",
        contacts=[contact],
    )
    history_rows = interaction.history.count()
    sign_in_manager(client, manager)

    response = client.post(admin_url(Contact, "delete", contact.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Contact.objects.filter(pk=contact.pk).exists()
    interaction.refresh_from_db()
    assert interaction.version == 2 and not interaction.contacts.exists()
    # Saving the row and changing its contacts each leave a history row (django-simple-history).
    assert interaction.history.count() > history_rows
    latest = interaction.history.latest()
    assert (latest.version, latest.history_user) == (2, manager)
    assert not latest.contacts.filter(contact_id=contact.pk).exists()
    entry = ChangeEntry.objects.get(type="interaction", object_id=interaction.pk)
    assert (entry.op, entry.data["version"], entry.data["contacts"]) == ("upsert", 2, [])
    assert ChangeEntry.objects.get(type="contact", object_id=contact.pk).op == "delete"


def test_presences_deleted_in_admin_go_through_the_service_and_keep_who_in_history(client, provincial_user):
    one, two, three = (PresenceFactory() for _ in range(3))
    sign_in_manager(client, provincial_user)

    response = client.post(admin_url(Presence, "delete", one.pk), {"post": "yes"})
    assert response.status_code == 302
    response = client.post(
        admin_url(Presence, "changelist"),
        {"action": "delete_selected", "_selected_action": [str(two.pk), str(three.pk)], "post": "yes"},
    )
    assert response.status_code == 302

    assert not Presence.objects.exists()
    removals = Presence.history.filter(history_type="-")
    assert sorted(removals.values_list("id", flat=True)) == sorted([one.pk, two.pk, three.pk])
    assert {r.history_user for r in removals} == {provincial_user}
