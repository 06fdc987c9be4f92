"""The admin's app list, sorted by plain text, in the order Django's own sort gives."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.test import RequestFactory
from django.utils import translation

from crm.admin_site import ChainRecruitAdminSite
from crm.roles import STAFF, role_assign
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _order(app_list) -> list[tuple[str, list[str]]]:  # type: ignore[no-untyped-def]
    return [(app["app_label"], [model["object_name"] for model in app["models"]]) for app in app_list]


def test_the_admin_site_is_ours():
    assert admin.site.name == "admin"  # the lazy default site, set up
    assert isinstance(admin.site._wrapped, ChainRecruitAdminSite)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("who", ["superuser", "park staff"])
def test_the_app_list_is_in_djangos_order(park_office, language, who):
    user = UserFactory(office=park_office, is_staff=True, is_superuser=who == "superuser")
    if who != "superuser":
        role_assign(user=user, role=STAFF)
    request = RequestFactory().get("/admin/")
    request.user = user
    with translation.override(language):
        ours = admin.site.get_app_list(request)
        djangos = AdminSite.get_app_list(admin.site, request)
        assert _order(ours) == _order(djangos)
        assert [str(app["name"]) for app in ours] == [str(app["name"]) for app in djangos]
        assert [str(m["name"]) for app in ours for m in app["models"]] == [
            str(m["name"]) for app in djangos for m in app["models"]
        ]
        assert len(ours) > 3 and sum(len(app["models"]) for app in ours) > 10
        one_app = admin.site.get_app_list(request, "recruitment")
        assert _order(one_app) == _order(AdminSite.get_app_list(admin.site, request, "recruitment"))
