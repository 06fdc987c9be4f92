"""The change-list export actions: scoped to the user's office whatever is selected."""

import csv
import io

import pytest

from crm.models import Contact
from tests.factories import ContactFactory, EnterpriseFactory, OfficeFactory

pytestmark = pytest.mark.django_db


def _rows(response) -> list[list[str]]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_contact_csv_export_holds_only_the_users_office(client, park_user):
    from crm.roles import STAFF, role_assign

    role_assign(user=park_user, role=STAFF)
    other = OfficeFactory(kind="partner")
    enterprise = EnterpriseFactory()
    mine = ContactFactory(office=park_user.office, enterprise=enterprise, name="本办联系人")
    theirs = ContactFactory(office=other, enterprise=enterprise, name="他办联系人")
    client.force_login(park_user)
    response = client.post(
        "/admin/crm/contact/",
        {"action": "export_csv", "_selected_action": [str(mine.pk), str(theirs.pk)]},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    text = "\n".join(",".join(r) for r in _rows(response))
    assert "本办联系人" in text
    assert "他办联系人" not in text
    assert Contact.objects.count() == 2
