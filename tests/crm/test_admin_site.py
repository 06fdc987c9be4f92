"""The admin's app list: what Django's own gives, key for key, in the same order."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.test import RequestFactory
from django.urls import set_script_prefix
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


def _plain(app_list) -> list[dict]:  # type: ignore[no-untyped-def]
    """Every key of the list, lazy names as text (Django's are lazy, ours are text)."""
    return [
        {**app, "name": str(app["name"]), "models": [{**m, "name": str(m["name"])} for m in app["models"]]}
        for app in app_list
    ]


def test_the_app_list_holds_what_djangos_holds_in_each_language_and_under_each_prefix(park_office):
    staff = UserFactory(office=park_office, is_staff=True)
    role_assign(user=staff, role=STAFF)
    superuser = UserFactory(office=park_office, is_staff=True, is_superuser=True)
    try:
        # Alternating, so that a name or a link kept from an earlier language or prefix would show.
        for prefix in ("/", "/chain-recruit/", "/"):
            set_script_prefix(prefix)
            for language in ("zh-hans", "en", "zh-hans"):
                for user in (staff, superuser):
                    request = RequestFactory().get("/admin/")
                    request.user = user
                    with translation.override(language):
                        ours = _plain(admin.site.get_app_list(request))
                        assert ours == _plain(AdminSite.get_app_list(admin.site, request))
                        assert ours == _plain(admin.site.get_app_list(request))  # kept, the same
                        one = _plain(admin.site.get_app_list(request, "crm"))
                        assert one == _plain(AdminSite.get_app_list(admin.site, request, "crm"))
                    urls = [m["admin_url"] for app in ours for m in app["models"]]
                    assert all(url.startswith(f"{prefix}admin/") for url in urls if url)
                    assert [app["app_url"].startswith(prefix) for app in ours] == [True] * len(ours)
        staff_list = _plain(admin.site.get_app_list(request))  # the superuser's, last
        request.user = staff
        assert _plain(admin.site.get_app_list(request)) != staff_list  # permissions are per user
    finally:
        set_script_prefix("/")
