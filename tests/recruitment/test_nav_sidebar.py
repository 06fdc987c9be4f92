"""The report pages' admin sidebar, kept once rendered: the same HTML as Django's include,
for each user's own app list and language."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.roles import MANAGER, STAFF, role_assign
from tests.admin_pages import sidebar_as_django_writes_it
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_each_user_gets_the_sidebar_of_their_own_permissions_and_language(  # type: ignore[no-untyped-def]
    client, provincial_office, park_office
) -> None:
    manager = UserFactory(office=provincial_office)
    role_assign(user=manager, role=MANAGER)
    park_staff = UserFactory(office=park_office)
    role_assign(user=park_staff, role=STAFF)
    url = reverse("reports:dashboard")
    seen = set()

    # The manager's sidebar is kept first: the park's staff must not be given it.
    for user in (manager, park_staff, manager, park_staff):
        for language in ("en", "zh-hans"):
            client.force_login(user)
            page = client.get(url, headers={"accept-language": language}).content.decode()
            expected = sidebar_as_django_writes_it(user, url, language)

            assert expected in page
            assert page.count('id="nav-sidebar"') == 1
            seen.add(expected)

    assert len(seen) == 4  # two app lists in two languages
