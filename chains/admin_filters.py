"""Admin list filter on stages, shared by every changelist that reaches a stage.

Chains, sectors and parks are filtered with Django's own field filters
(``stages__chain`` and so on), whose parameters the report pages link to. Stages
get a filter of their own: Django's would render each stage's name with a query
for its chain, and would list every stage of every chain at once; this one lists
the stages of the chain chosen in the chain filter, read in one query.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.core.cache import cache
from django.db import models
from django.http import HttpRequest
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from chains.models import Stage

# Reference tables change a few times a year: a filter's choices are read from the
# cache, at most this many seconds old, so a change list's queries do not include them.
CHOICES_CACHE_SECONDS = 60


def cached_choices(key: str, build: Callable[[], list[Any]]) -> list[Any]:
    """A filter's choices under ``key`` (per language), built by ``build`` when not cached."""
    full_key = f"admin-filter-choices:{key}:{get_language()}"
    choices = cache.get(full_key)
    if choices is None:
        choices = [(value, str(label)) for value, label in build()]
        cache.set(full_key, choices, CHOICES_CACHE_SECONDS)
    return choices


class ReferenceListFilter(admin.RelatedFieldListFilter):
    """Django's related-field filter over a reference table (parks, zones, chains,
    sectors), its choices cached (:func:`cached_choices`)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[Any]:
        return cached_choices(
            f"{field.related_model._meta.label}",
            lambda: super(ReferenceListFilter, self).field_choices(field, request, model_admin),
        )


def stage_filter(stage_path: str, *, title: str | None = None) -> type[admin.SimpleListFilter]:
    """A filter ``stage`` for records whose ``stage_path`` (e.g. ``"stages"``) leads to stages.

    Filtering a many-to-many join would repeat a record once per matching stage, so
    the matching ids are selected in a subquery.
    """

    class StageFilter(admin.SimpleListFilter):
        parameter_name = "stage"

        def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
            chain = request.GET.get(f"{stage_path}__chain__id__exact", "")

            def build() -> list[tuple[str, str]]:
                stages = Stage.objects.select_related("chain").order_by("chain__code", "order", "code")
                if chain.isdigit():
                    stages = stages.filter(chain_id=int(chain))
                return [(str(s.pk), f"{s.chain.name} · {s.name}") for s in stages]

            return cached_choices(f"stages:{chain if chain.isdigit() else ''}", build)

        def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
            value = self.value()
            if not value or not value.isdigit():
                return queryset
            ids = queryset.model._default_manager.filter(**{f"{stage_path}__pk": int(value)})
            return queryset.filter(pk__in=ids.values("pk"))

    StageFilter.title = title or _("stage")
    return StageFilter
