"""The admin site: Django's, with its app list sorted by plain text.

Every admin page builds the app list (the sidebar, the index). Django sorts the apps
and the models by their lazy names, translating both at each comparison: hundreds
of translations a page. Translated once and sorted by the text, the order is
the same. ``ChainRecruitAdminConfig`` (in ``INSTALLED_APPS`` in place of
``django.contrib.admin``) makes this site ``admin.site``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest


class ChainRecruitAdminSite(admin.AdminSite):
    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        app_dict = self._build_app_dict(request, app_label)
        # The names in the request's language, translated here once (the sort, the
        # sidebar's key and its template read them again).
        for app in app_dict.values():
            app["name"] = str(app["name"])
            for model in app["models"]:
                model["name"] = str(model["name"])
        app_list = sorted(app_dict.values(), key=lambda app: app["name"].lower())
        for app in app_list:
            app["models"].sort(key=lambda model: model["name"])
        return app_list


class ChainRecruitAdminConfig(AdminConfig):
    default_site = "crm.admin_site.ChainRecruitAdminSite"
