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
