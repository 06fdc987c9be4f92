"""The admin site: Django's, with its app list built from names and links worked out once.

Every admin page builds the app list (the sidebar, the index): for some forty models,
the user's permissions, a name translated from a lazy string, and two or three URLs
reversed. Only the permissions depend on the user; the names depend on the language
and the URLs on the script prefix and URLconf, so those are kept per (language, prefix,
URLconf) and the list costs a fraction of Django's build (4 ms of every admin page).
Django sorts the apps and the models by their lazy names, translating both at each
comparison; sorted by the text, the order is the same. What the list holds is what
``AdminSite.get_app_list`` gives, key for key (a test compares the two).
``ChainRecruitAdminConfig`` (in ``INSTALLED_APPS`` in place of ``django.contrib.admin``)
makes this site ``admin.site``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.db import models
from django.http import HttpRequest
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.text import capfirst
from django.utils.translation import get_language


@dataclass(frozen=True, slots=True)
class _ModelEntry:
    """What a model's row of the app list holds whoever asks (in one language, under one prefix)."""

    name: str
    changelist_url: str | None
    add_url: str | None


@dataclass(frozen=True, slots=True)
class _AppEntry:
    name: str
    url: str


class ChainRecruitAdminSite(admin.AdminSite):
    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        self._entries: dict[Hashable, dict[Any, Any]] = {}

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        entries = self._entries_now()
        app_dict: dict[str, dict[str, Any]] = {}
        for model, model_admin in self._registry.items():
            label = model._meta.app_label
            if app_label is not None and label != app_label:
                continue
            has_module_perms = model_admin.has_module_permission(request)
            if not has_module_perms:
                continue
            perms = model_admin.get_model_perms(request)
            if True not in perms.values():
                continue
            entry = entries.get(model) or entries.setdefault(model, self._model_entry(model))
            model_dict: dict[str, Any] = {
                "model": model,
                "name": entry.name,
                "object_name": model._meta.object_name,
                "perms": perms,
                "admin_url": None,
                "add_url": None,
            }
            if perms.get("change") or perms.get("view"):
                model_dict["view_only"] = not perms.get("change")
                model_dict["admin_url"] = entry.changelist_url
            if perms.get("add"):
                model_dict["add_url"] = entry.add_url
            if label in app_dict:
                app_dict[label]["models"].append(model_dict)
                continue
            app = entries.get(label) or entries.setdefault(label, self._app_entry(label))
            app_dict[label] = {
                "name": app.name,
                "app_label": label,
                "app_url": app.url,
                "has_module_perms": has_module_perms,
                "models": [model_dict],
            }
        app_list = sorted(app_dict.values(), key=lambda app: app["name"].lower())
        for app in app_list:
            app["models"].sort(key=lambda model: model["name"])
        return app_list

    def _entries_now(self) -> dict[Any, Any]:
        """The names and links of this language, script prefix and URLconf (by model and app label)."""
        key = (get_language(), get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)
        found = self._entries.get(key)
        if found is None:
            found = self._entries.setdefault(key, {})
        return found

    def _model_entry(self, model: type[models.Model]) -> _ModelEntry:
        def url(action: str) -> str | None:
            try:
                return reverse(
                    f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", current_app=self.name
                )
            except NoReverseMatch:
                return None

        return _ModelEntry(str(capfirst(model._meta.verbose_name_plural)), url("changelist"), url("add"))

    def _app_entry(self, label: str) -> _AppEntry:
        url = reverse("admin:app_list", kwargs={"app_label": label}, current_app=self.name)
        return _AppEntry(str(apps.get_app_config(label).verbose_name), url)


class ChainRecruitAdminConfig(AdminConfig):
    default_site = "crm.admin_site.ChainRecruitAdminSite"
