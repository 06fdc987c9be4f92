"""Links from a report figure to the admin change list that shows the records behind it.

A figure is only worth linking when the change list can really be filtered that way:
Django admin refuses relational lookups that are not among its list filters (a 400)
and bounces unknown parameters with ``?e=1``. :class:`ChangelistLinker` asks the
registered ``ModelAdmin`` the same questions the change list will ask, and gives no
link rather than a broken one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.filters import SimpleListFilter
from django.contrib.admin.utils import prepare_lookup_value
from django.core.exceptions import FieldError, ValidationError
from django.db import models
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from crm.admin_urls import KeyedUrl


class ChangelistLinker:
    """Turns ``(model, change-list parameters)`` into a URL for this request's user, or None."""

    def __init__(self, request: HttpRequest, site: admin.AdminSite | None = None) -> None:
        self.request = request
        self.site = site or admin.site
        self._simple_params: dict[type[models.Model], set[str]] = {}
        # A report links hundreds of figures with a few dozen distinct parameters: each
        # answer (the model's list URL, one parameter's validity) is worked out once.
        self._urls: dict[type[models.Model], str | None] = {}
        self._params_ok: dict[tuple[type[models.Model], str, str], bool] = {}

    def __call__(self, model: type[models.Model], params: Mapping[str, str]) -> str | None:
        url = self._changelist_url(model)
        if url is None:
            return None
        model_admin = self.site._registry[model]
        simple = self._simple_filter_params(model, model_admin)
        for key, value in params.items():
            if key not in simple and not self._param_ok(model, model_admin, key, value):
                return None
        return f"{url}?{urlencode(sorted(params.items()))}" if params else url

    def _changelist_url(self, model: type[models.Model]) -> str | None:
        """The change list's URL when the model is registered and the user may view it."""
        if model not in self._urls:
            model_admin = self.site._registry.get(model)
            url = None
            if model_admin is not None and model_admin.has_view_permission(self.request):
                try:
                    url = reverse(f"{self.site.name}:{model._meta.app_label}_{model._meta.model_name}_changelist")
                except NoReverseMatch:
                    url = None
            self._urls[model] = url
        return self._urls[model]

    def _param_ok(self, model: type[models.Model], model_admin: admin.ModelAdmin, key: str, value: str) -> bool:
        """Does the change list accept ``key=value``? Parameters resolve one by one, so each
        is asked once: the admin allows the lookup, the field exists and the value converts."""
        cache_key = (model, key, value)
        if cache_key not in self._params_ok:
            self._params_ok[cache_key] = bool(model_admin.lookup_allowed(key, value, self.request)) and _param_resolves(
                model, key, value
            )
        return self._params_ok[cache_key]

    def _simple_filter_params(self, model: type[models.Model], model_admin: admin.ModelAdmin) -> set[str]:
        if model not in self._simple_params:
            self._simple_params[model] = {
                item.parameter_name
                for item in model_admin.get_list_filter(self.request)
                if isinstance(item, type) and issubclass(item, SimpleListFilter)
            }
        return self._simple_params[model]


@functools.lru_cache(maxsize=4096)
def _param_resolves(model: type[models.Model], key: str, value: str) -> bool:
    """Whether ``key=value`` builds a filter on ``model``: the same answer for every request."""
    return _lookups_resolve(model, {key: prepare_lookup_value(key, value)})


def _lookups_resolve(model: type[models.Model], lookups: Mapping[str, object]) -> bool:
    """True when ``filter(**lookups)`` builds: fields exist and values convert (no query is run)."""
    try:
        model._default_manager.filter(**lookups)
    except (FieldError, ValueError, TypeError, ValidationError):
        return False
    return True


class ChangeUrls:
    """Admin change-page URLs by (model, pk), permission checked once per model: callers
    pass rows they already read through the tenancy selectors, and a per-row check could
    cost a query per row.

    A panel links hundreds of records: each model's URL is reversed once
    (:class:`crm.admin_urls.KeyedUrl`), the key quoted as the admin quotes it.
    """

    def __init__(self, request: HttpRequest, site: admin.AdminSite | None = None) -> None:
        self.request = request
        self.site = site or admin.site
        self._allowed: dict[type[models.Model], bool] = {}
        self._urls: dict[type[models.Model], KeyedUrl] = {}

    def __call__(self, model: type[models.Model], pk: object) -> str | None:
        if model not in self._allowed:
            model_admin = self.site._registry.get(model)
            self._allowed[model] = model_admin is not None and model_admin.has_view_permission(self.request)
        if not self._allowed[model]:
            return None
        if model not in self._urls:
            self._urls[model] = KeyedUrl(
                f"{self.site.name}:{model._meta.app_label}_{model._meta.model_name}_change",
                current_app=self.site.name,
            )
        try:
            return self._urls[model](pk)
        except NoReverseMatch:
            return None
