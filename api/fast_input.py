"""Checking the items of a bulk request without the serializer's per-item machinery.

A serializer spends a few hundred microseconds on an item: per field it looks the
value up, runs the field (empty-value rules, conversion, each validator with its
error wrapping) and stores the result. For 1000 plain, valid items that is most of
a bulk request's time in Python. :class:`FastInput` is built from the serializer
itself and only ever *accepts*: a text, a choice or an amount that is plainly valid
by the field's own rules is taken as the serializer would take it; every other
field is run through its own ``run_validation``; the serializer's ``validate_<field>``
methods run as they would; a field with a ``fast_check`` method (external ids, stage
codes) vouches for its own plain values. Whatever it cannot vouch for (a wrong type, a value a
rule refuses, a missing required field) it hands back as ``None``, and the caller
puts that item through the serializer, which reports the error. So errors always
come from the serializer, and a test holds every accepted item equal to the
serializer's result.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable
from typing import Any

from django.core import validators as django_validators
from rest_framework import fields as drf_fields
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from api.fields import MONEY_RE, Money, StrictInput, Text, Url

# (accepted, value): accepted False means "let the serializer decide".
Check = Callable[[Any], tuple[bool, Any]]
_REFUSE = (False, None)
_CENT = decimal.Decimal("0.01")
# The everyday web address (http or https, ASCII host names, a port, a plain path): a
# strict subset of what Django's URLValidator accepts; any other address goes through it.
_PLAIN_URL = re.compile(
    r"https?://(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?\Z"
)
# Validators CharField adds from its own arguments; the fast text check does their work.
BUILT_IN_TEXT_VALIDATORS = (
    django_validators.MaxLengthValidator,
    django_validators.MinLengthValidator,
    django_validators.ProhibitNullCharactersValidator,
    ProhibitSurrogateCharactersValidator,
)


class FastInput:
    """Validates plain items of ``serializer``'s shape; ``None`` for any other item."""

    def __init__(self, serializer: serializers.Serializer) -> None:
        if type(serializer).validate is not serializers.Serializer.validate or serializer.validators:
            raise TypeError(f"{type(serializer).__name__} has object-level validation; use the serializer")
        self.serializer = serializer
        self.fields = {name: f for name, f in serializer.fields.items() if not f.read_only}
        for name, field in self.fields.items():
            if field.source != name:
                raise TypeError(f"{name}: a field with another source; use the serializer")
        self.checks: dict[str, Check] = {name: _check(f) for name, f in self.fields.items()}
        # A strict serializer refuses any other key; such an item goes to it to be told so.
        self.known = frozenset(self.fields) if isinstance(serializer, StrictInput) else None
        self.methods = {
            name: method
            for name in self.fields
            if (method := getattr(serializer, f"validate_{self.fields[name].field_name}", None)) is not None
        }
        self.required = [name for name, f in self.fields.items() if f.required]
        self.defaults = {
            name: f for name, f in self.fields.items() if not f.required and f.default is not drf_fields.empty
        }

    def validate(self, item: Any) -> dict[str, Any] | None:
        if not isinstance(item, dict):
            return None
        if self.known is not None and not self.known.issuperset(item):
            return None
        out: dict[str, Any] = {}
        for name, check in self.checks.items():
            if name not in item:
                continue
            accepted, value = check(item[name])
            if not accepted:
                return None
            method = self.methods.get(name)
            if method is not None:
                try:
                    value = method(value)
                except serializers.ValidationError:
                    return None
            out[name] = value
        for name in self.required:
            if name not in out:
                return None
        for name, field in self.defaults.items():
            if name not in out:
                out[name] = field.get_default()
        return out


def _plain(field: drf_fields.Field, base: type) -> bool:
    """``field`` converts as ``base`` does (a subclass resolving codes or users does not)."""
    return type(field).to_internal_value is base.to_internal_value and type(field).run_validation is base.run_validation


def _check(field: drf_fields.Field) -> Check:
    # A field may vouch for its plain values itself (``fast_check``: same rules, no machinery).
    own = getattr(field, "fast_check", None)
    if own is not None:
        return own  # type: ignore[no-any-return]
    if isinstance(field, Money) and field.max_value is None and field.min_value == 0:
        return _money_check(field)
    if isinstance(field, Text) and _plain(field, Text):
        return _text_check(field)
    if isinstance(field, Url) and _plain(field, Url):
        return _text_check(field, plainly_valid=_PLAIN_URL)
    if type(field) is drf_fields.ChoiceField:
        return _choice_check(field)
    return _field_check(field)


def _field_check(field: drf_fields.Field) -> Check:
    """Any other field: its own ``run_validation``, refused on any error."""

    def check(value: Any) -> tuple[bool, Any]:
        try:
            return True, field.run_validation(value)
        except serializers.ValidationError:
            return _REFUSE

    return check


def _text_check(field: drf_fields.CharField, plainly_valid: re.Pattern[str] | None = None) -> Check:
    """CharField's rules: a string, trimmed, blank only if allowed, within its length,
    no NUL or lone surrogate; then any further validators of the field, unless the
    value matches ``plainly_valid`` (a shape those validators always accept)."""
    max_length = field.max_length
    min_length = field.min_length or 0
    trim = field.trim_whitespace
    allow_blank = field.allow_blank
    allow_null = field.allow_null
    extra = [v for v in field.validators if not isinstance(v, BUILT_IN_TEXT_VALIDATORS)]

    def check(value: Any) -> tuple[bool, Any]:
        if type(value) is not str:
            return (True, None) if value is None and allow_null else _REFUSE
        if trim:
            value = value.strip()
        if not value:
            return (True, "") if allow_blank else _REFUSE
        if (max_length is not None and len(value) > max_length) or len(value) < min_length or "\x00" in value:
            return _REFUSE
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate
                return _REFUSE
        if plainly_valid is not None and plainly_valid.match(value):
            return True, value
        for validator in extra:
            try:
                validator(value)
            except Exception:  # noqa: BLE001 - any refusal: the serializer will say why
                return _REFUSE
        return True, value

    return check


def _choice_check(field: drf_fields.ChoiceField) -> Check:
    choices = dict(field.choice_strings_to_values)
    allow_null = field.allow_null

    def check(value: Any) -> tuple[bool, Any]:
        if type(value) is str and value in choices:
            return True, choices[value]
        return (True, None) if value is None and allow_null else _REFUSE

    return check


def _money_check(field: Money) -> Check:
    """An amount written as the schema asks ("1250000.00"), quantised to cents."""
    allow_null = field.allow_null

    def check(value: Any) -> tuple[bool, Any]:
        if value is None:
            return (True, None) if allow_null else _REFUSE
        if type(value) is str and value and MONEY_RE.match(value):
            return True, decimal.Decimal(value).quantize(_CENT)
        return _REFUSE

    return check
