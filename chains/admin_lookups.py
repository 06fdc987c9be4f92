"""Change lists accept only the filters they offer.

Django admin lets a change list be filtered by any lookup on the model's own
fields, reverse relations included: ``?interactions__isnull=False`` on the
enterprise directory, ``?contacts=<id>``, ``?interactions__gt=<id>``. The page
shows none of those rows, but which enterprises remain tells a park user which
ones another office is working with, and comparisons bisect another office's ids.

:class:`OfferedLookupsOnlyMixin` allows a query parameter only when the change
list itself could have produced it: a list filter (its field path with the lookups
Django's field filters use, or a simple filter's parameter), the date hierarchy,
and the few paths a ``ModelAdmin`` declares for the product's own report links
(``extra_lookup_paths``). Anything else is refused the way Django refuses a
lookup it does not allow: ``DisallowedModelAdminLookup``, a 400. The same check
applies to exports of a filtered change list, which build the change list.

It lives in the lowest app so that every app's admin (and the third-party admins,
re-registered by ``operations.admin``) uses the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.admin import ListFilter, SimpleListFilter, widgets
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

# What Django's own field list filters and date hierarchy send, and the comparisons
# report links use on a record's own values (a period, "status is one of").
VALUE_LOOKUPS = frozenset(
    {"exact", "iexact", "in", "isnull", "isempty", "gt", "gte", "lt", "lte", "year", "month", "day"}
)
# Across an offered relation: equality and emptiness only, never an order on ids.
RELATION_LOOKUPS = frozenset({"exact", "in", "isnull", "isempty"})


def _raw_id_popup_lookup(model: type[models.Model], lookup: str, value: Any) -> bool:
    """Django's exception for raw-id popups filtered by a foreign key's ``limit_choices_to``."""
    for fk_lookup in model._meta.related_fkey_lookups:
        if callable(fk_lookup):
            fk_lookup = fk_lookup()
        if (lookup, value) in widgets.url_params_from_lookup_dict(fk_lookup).items():
            return True
    return False


def offered_lookups(list_filters: Iterable[Any], date_hierarchy: str | None, extra: Sequence[str]) -> tuple[set, set]:
    """``(parameter names of simple filters, field paths of field filters)`` a change list offers."""
    params: set[str] = set()
    paths: set[str] = set(extra)
    if date_hierarchy:
        paths.add(date_hierarchy)
    for item in list_filters:
        if isinstance(item, list | tuple):
            paths.add(item[0])
        elif isinstance(item, str):
            paths.add(item)
        elif isinstance(item, type) and issubclass(item, SimpleListFilter):
            params.add(item.parameter_name)
        elif isinstance(item, type) and issubclass(item, ListFilter):
            params.update(getattr(item, "offered_parameters", ()))
    return params, paths


def _suffix_allowed(model: type[models.Model], path: str, rest: Sequence[str]) -> bool:
    try:
        field = get_fields_from_path(model, path)[-1]
    except (FieldDoesNotExist, NotRelationField):  # a path that does not resolve is not offered
        return False
    if not rest:
        return True
    if field.is_relation:
        target = field.related_model._meta.pk.name if field.related_model is not None else None
        names = {target, "pk", getattr(getattr(field, "target_field", None), "name", None)} - {None}
        if rest[0] in names:
            rest = rest[1:]
            return not rest or (len(rest) == 1 and rest[0] in RELATION_LOOKUPS)
        return len(rest) == 1 and rest[0] in RELATION_LOOKUPS
    return len(rest) == 1 and rest[0] in VALUE_LOOKUPS


def lookup_offered(model: type[models.Model], lookup: str, *, params: set[str], paths: set[str]) -> bool:
    """True when ``lookup`` is a simple filter's parameter or an offered path with an allowed suffix."""
    if lookup in params:
        return True
    parts = lookup.split(LOOKUP_SEP)
    for cut in range(len(parts), 0, -1):
        path = LOOKUP_SEP.join(parts[:cut])
        if path in paths:
            return _suffix_allowed(model, path, parts[cut:])
    return False


class OfferedLookupsOnlyMixin:
    """For every ``ModelAdmin``: filter parameters only from the filters the change list offers.

    ``extra_lookup_paths`` names further field paths (not relations to other
    offices' records) that the product's own links filter by, such as a period.
    """

    extra_lookup_paths: Sequence[str] = ()

    def lookup_allowed(self, lookup: str, value: Any, request: HttpRequest | None = None) -> bool:
        model = self.model  # type: ignore[attr-defined]
        if _raw_id_popup_lookup(model, lookup, value):
            return True
        filters = self.get_list_filter(request) if request is not None else self.list_filter  # type: ignore[attr-defined]
        params, paths = offered_lookups(filters, self.date_hierarchy, self.extra_lookup_paths)  # type: ignore[attr-defined]
        return lookup_offered(model, lookup, params=params, paths=paths)
