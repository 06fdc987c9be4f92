"""Input fields that take only the JSON type the schema names.

DRF is lenient: a CharField takes the number 0 as "0", an IntegerField takes "5",
a UUIDField takes an integer. The schema says string, integer, uuid string; a
partner who sends another type has a bug we should report (400), not guess
around. Money travels as a decimal string, never a binary float.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class _JsonTyped:
    """Refuse a JSON value of another type before the field's own parsing."""

    json_types: ClassVar[tuple[type, ...]] = (str,)
    type_message = _("Expected a string.")

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, self.json_types):
            raise serializers.ValidationError(str(self.type_message), code="invalid_type")
        return super().to_internal_value(data)  # type: ignore[misc]


class Text(_JsonTyped, serializers.CharField):
    pass


class Email(_JsonTyped, serializers.EmailField):
    pass


class Url(_JsonTyped, serializers.URLField):
    pass


class Uuid(_JsonTyped, serializers.UUIDField):
    pass


class DateTime(_JsonTyped, serializers.DateTimeField):
    type_message = _("Expected a date and time as a string, e.g. 2026-03-01T10:00:00+08:00.")


class Integer(_JsonTyped, serializers.IntegerField):
    json_types = (int,)
    type_message = _("Expected a whole number.")


MONEY_PATTERN = r"^([0-9]{1,16}(\.[0-9]{1,2})?)?$"


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": MONEY_PATTERN, "nullable": True, "example": "1250000.00"}
)
class Money(_JsonTyped, serializers.DecimalField):
    """CNY as a decimal string, not negative, at most 16 digits before the point and 2 after.

    An empty string, like null, means no amount.
    """

    type_message = _('Expected the amount as a string, e.g. "1250000.00".')

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(max_digits=18, decimal_places=2, min_value=0, **kwargs)
