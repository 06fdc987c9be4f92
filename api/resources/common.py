"""What every synced record has in common: its columns, output fields, input fields and filters."""

from __future__ import annotations

from typing import Any

import django_filters
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from api.fields import Money, Text
from api.filters import StrictFilterSet, UtcDateTimeFilter
from api.presenters import Column
from api.rendering import fmt_datetime, fmt_uuid
from crm.external_ids import EXTERNAL_ID_MAX, EXTERNAL_ID_RULE, external_id_problem

RECORD_COLUMNS = (
    Column("id", "pk", fmt_uuid),
    Column("external_id", "external_id"),
    Column("version", "version"),
    Column("created_at", "created_at", fmt_datetime),
    Column("updated_at", "updated_at", fmt_datetime),
    Column("office", "office__code"),
)

# Limits of the database columns the API writes to (beyond them PostgreSQL would refuse).
MAX_INT = 2_147_483_647


class RecordOutput(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    external_id = serializers.CharField(read_only=True, help_text=_("Your system's id ('' when not given)."))
    version = serializers.IntegerField(read_only=True, help_text=_("+1 on every change; the ETag."))
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    office = serializers.CharField(read_only=True, help_text=_("Code of the office that owns the record."))


class ExternalIdField(Text):
    """The partner's id: the rule of ``crm.external_ids``, the same as in a URL; never trimmed."""

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("max_length", EXTERNAL_ID_MAX)
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault(
            "help_text",
            format_lazy("{} {}", _("Your system's id for the record; unique within your office."), EXTERNAL_ID_RULE),
        )
        super().__init__(**kwargs)

    def fast_check(self, data: Any) -> tuple[bool, Any]:
        """For ``api.fast_input``: accept what :meth:`run_validation` would take unchanged."""
        if type(data) is not str or len(data) > self.max_length:  # type: ignore[operator]
            return False, None
        if data == "" or external_id_problem(data) is None:  # the rule excludes NUL and surrogates
            return (True, data) if (data or self.allow_blank) else (False, None)
        return False, None

    def to_internal_value(self, data):  # type: ignore[no-untyped-def]
        value = super().to_internal_value(data)
        problem = external_id_problem(value) if value != "" else None
        if problem:
            raise serializers.ValidationError(problem, code="invalid")
        return value


def text(max_length: int, **kwargs) -> Text:  # type: ignore[no-untyped-def]
    """An optional text field that may be blank (stored as '')."""
    kwargs.setdefault("required", False)
    kwargs.setdefault("allow_blank", True)
    return Text(max_length=max_length, **kwargs)


def money(**kwargs) -> Money:  # type: ignore[no-untyped-def]
    return Money(**kwargs)


class RecordFilter(StrictFilterSet):
    updated_since = UtcDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", label=_("Changed at or after (ISO 8601).")
    )
    external_id = django_filters.CharFilter(field_name="external_id", label=_("Your system's id."))
