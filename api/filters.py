"""Query-parameter filters that refuse what they cannot honour, with a 400 naming the parameter.

django-filter reads an empty typed parameter (``?updated_since=``) as "no filter";
a partner who sent it meant something, so here it is an error, as is a time whose
offset PostgreSQL cannot store (times are compared in UTC).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend


class UtcIsoDateTimeField(IsoDateTimeField):
    def clean(self, value: Any) -> dt.datetime | None:
        parsed = super().clean(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:
            raise ValidationError(_("This time is out of range."), code="overflow") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class StrictFilterSet(django_filters.FilterSet):
    """A FilterSet whose typed parameters (times, ids, choices) may not be sent empty."""

    def get_form_class(self) -> type[forms.Form]:
        # The form depends only on the filter set's declared filters: build it once per class.
        cached = type(self).__dict__.get("_strict_form_class")
        if cached is not None:
            return cached
        form_class = self._build_form_class()
        type(self)._strict_form_class = form_class
        return form_class

    def _build_form_class(self) -> type[forms.Form]:
        base = super().get_form_class()
        typed = [
            name
            for name, f in self.filters.items()
            if not isinstance(f, django_filters.CharFilter) or isinstance(f, django_filters.ChoiceFilter)
        ]

        class StrictForm(base):  # type: ignore[misc,valid-type]
            def clean(self) -> dict[str, Any]:
                cleaned = super().clean()
                for name in typed:
                    if self.data.get(name) == "":
                        self.add_error(
                            name, ValidationError(_("Give a value or leave the parameter out."), code="blank")
                        )
                return cleaned

        return StrictForm


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, which leaves a list alone when none of its filters is asked for.

    A filter set copies every declared filter and builds a form on each request;
    for the plain "next page" request of a sync client that was a tenth of the
    request's time, to filter by nothing.
    """

    def filter_queryset(self, request: Any, queryset: Any, view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and not any(
            name in request.query_params for name in filterset_class.base_filters
        ):
            return queryset
        return super().filter_queryset(request, queryset, view)
