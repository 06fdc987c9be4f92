"""Input fields that take only the JSON type the schema names.

DRF is lenient: a CharField takes the number 0 as "0", an IntegerField takes "5",
a UUIDField takes an integer. The schema says string, integer, uuid string; a
partner who sends another type has a bug we should report (400), not guess
around. Money travels as a decimal string, never a binary float.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, ClassVar

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings


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


# A date, then a time: what a value must start with to be a date and time at all.
_DATE_AND_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


class DateTime(_JsonTyped, serializers.DateTimeField):
    """An ISO 8601 date and time with its UTC offset (``Z`` or ``+08:00``).

    A time without an offset, or a bare date, would have to be guessed at (whose
    midnight? which zone?): both are refused, never read as Asia/Shanghai.
    """

    type_message = _("Expected a date and time as a string, e.g. 2026-03-01T10:00:00+08:00.")

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, bool):
            try:
                parsed = parse_datetime(value) if _DATE_AND_TIME.match(value) else None
            except ValueError:  # well formed, but no such day or time (30 February, minute 99)
                parsed = None
            if parsed is None:
                raise serializers.ValidationError(
                    str(_("Expected a date and a time with its offset, e.g. 2026-03-01T10:00:00+08:00.")),
                    code="invalid",
                )
            if parsed.tzinfo is None:
                raise serializers.ValidationError(
                    str(_("Give the time with its UTC offset, e.g. 2026-03-01T10:00:00+08:00 or …T02:00:00Z.")),
                    code="offset_required",
                )
        return super().to_internal_value(value)

    def fast_check(self, data: Any) -> tuple[bool, Any]:
        """For ``api.fast_input``: a date and time written as ISO 8601 with its offset, taken as
        :meth:`run_validation` takes it (``parse_datetime`` reads it with ``fromisoformat``, then
        DRF's ``enforce_timezone``); anything else is left to it."""
        if (
            type(data) is not str
            or not _PLAIN_DATE_TIME.match(data)
            or self.validators
            or getattr(self, "input_formats", api_settings.DATETIME_INPUT_FORMATS)[:1] != [ISO_8601]
        ):
            return False, None
        try:
            return True, self.enforce_timezone(dt.datetime.fromisoformat(data))
        except (ValueError, OverflowError, serializers.ValidationError):
            return False, None


# What the fast check takes: a full date and time with seconds, optional fraction and an offset.
_PLAIN_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})\Z"
)


class Integer(_JsonTyped, serializers.IntegerField):
    json_types = (int,)
    type_message = _("Expected a whole number.")


MONEY_PATTERN = r"^([0-9]{1,16}(\.[0-9]{1,2})?)?$"
# The same shape for Python (``$`` would also match before a final newline).
MONEY_RE = re.compile(r"(?:[0-9]{1,16}(?:\.[0-9]{1,2})?)?\Z")


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

    def to_internal_value(self, data: Any) -> Any:
        # Python's Decimal also reads "1e5", " 100 " and other scripts' digits ("١٢٣"):
        # none is how the schema writes an amount, so none is guessed at.
        if isinstance(data, str) and not MONEY_RE.match(data.removeprefix("-")):  # "-5": min_value says why
            raise serializers.ValidationError(
                str(_('Write the amount in yuan with the digits 0-9 and at most 2 decimals, e.g. "1250000.00".')),
                code="invalid",
            )
        return super().to_internal_value(data)


class StrictInput(serializers.Serializer):
    """An input serializer that refuses fields it does not have (a typo never drops data).

    Each unknown field is reported under its own name with the code ``unknown_field``;
    read-only fields (``id``, ``version``, …) are unknown to an input too.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            writable = {name for name, f in self.fields.items() if not f.read_only}
            unknown = [name for name in data if name not in writable]
            if unknown:
                raise serializers.ValidationError(
                    {
                        str(name)[:100]: [
                            ErrorDetail(str(_("Unknown field: there is no such input.")), code="unknown_field")
                        ]
                        for name in unknown[:20]
                    }
                )
        return super().to_internal_value(data)
