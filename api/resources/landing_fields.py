"""What landing supervision adds to the API: months, dates, a project's ``plan`` and ``light``.

``plan`` and ``light`` are rendered by the page query itself (one JSON subquery
each), so a page of projects, a detail and the change feed show them at no extra
query.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db import connection
from django.db.models import JSONField
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import Money, _JsonTyped
from api.presenters import Column
from recruitment.landing_models import Color

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2026-03"})
class MonthField(serializers.Field):
    """A month as ``YYYY-MM`` (kept as its first day)."""

    type_message = _("Expected a month as a string, e.g. 2026-03.")

    def to_internal_value(self, data: Any) -> dt.date:
        if isinstance(data, bool) or not isinstance(data, str):
            raise serializers.ValidationError(str(self.type_message), code="invalid_type")
        match = _MONTH.match(data)
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise serializers.ValidationError(str(_("Expected a month as YYYY-MM, e.g. 2026-03.")), code="invalid")
        return dt.date(int(match.group(1)), int(match.group(2)), 1)

    def to_representation(self, value: Any) -> str:
        return value if isinstance(value, str) else f"{value:%Y-%m}"


class DateOnly(_JsonTyped, serializers.DateField):
    type_message = _("Expected a date as a string, e.g. 2026-03-15.")

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("input_formats", ["%Y-%m-%d"])
        super().__init__(**kwargs)


# --- plan -------------------------------------------------------------------------------------------


class PlanInvestmentItem(serializers.Serializer):
    month = MonthField()
    cumulative = Money(required=True, allow_null=False, help_text=_("CNY planned in total by the end of the month."))


def _plan_date(label: str) -> DateOnly:
    return DateOnly(required=False, allow_null=True, help_text=label)


class PlanInput(serializers.Serializer):
    registered = _plan_date(_("Planned registration (注册)."))
    construction = _plan_date(_("Planned construction start (开工)."))
    production = _plan_date(_("Planned production (投产)."))
    at_capacity = _plan_date(_("Planned at capacity (达产)."))
    investment = PlanInvestmentItem(
        many=True,
        required=False,
        help_text=_("The cumulative investment schedule by month; given, it replaces the whole schedule."),
    )

    def to_internal_value(self, data: Any) -> Any:
        unknown = set(data) - set(self.fields) if isinstance(data, dict) else set()
        if unknown:
            raise serializers.ValidationError({name: [_("Unknown field.")] for name in sorted(unknown)}, code="unknown")
        return super().to_internal_value(data)


class PlanOutput(serializers.Serializer):
    registered = serializers.DateField(allow_null=True)
    construction = serializers.DateField(allow_null=True)
    production = serializers.DateField(allow_null=True)
    at_capacity = serializers.DateField(allow_null=True)
    investment = PlanInvestmentItem(many=True)


class LightReason(serializers.Serializer):
    rule = serializers.CharField(help_text=_("The warning rule's code."))
    detail = serializers.CharField(help_text=_("The reason in words."))


class LightOutput(serializers.Serializer):
    color = serializers.ChoiceField(choices=Color.choices, allow_null=True)
    since = serializers.DateField(help_text=_("When this colour began."))
    reasons = LightReason(many=True)


_PLAN_SQL = """
SELECT json_build_object(
  'registered', to_char(pp.registered, 'YYYY-MM-DD'),
  'construction', to_char(pp.construction, 'YYYY-MM-DD'),
  'production', to_char(pp.production, 'YYYY-MM-DD'),
  'at_capacity', to_char(pp.at_capacity, 'YYYY-MM-DD'),
  'investment', COALESCE((
     SELECT json_agg(json_build_object('month', to_char(pi.month, 'YYYY-MM'), 'cumulative', pi.cumulative::text)
                     ORDER BY pi.month)
     FROM recruitment_planinvestment pi WHERE pi.project_id = "recruitment_project"."id"), '[]'::json))
FROM (SELECT 1) AS one
LEFT JOIN recruitment_projectplan pp ON pp.project_id = "recruitment_project"."id"
"""

_LIGHT_SQL = """
SELECT json_build_object(
  'color', l.color,
  'since', to_char(l.since, 'YYYY-MM-DD'),
  'reasons', COALESCE((
     SELECT json_agg(json_build_object('rule', r.item->>'rule', 'detail', r.item->>'detail') ORDER BY r.n)
     FROM jsonb_array_elements(l.reasons) WITH ORDINALITY AS r(item, n)), '[]'::json))
FROM recruitment_projectlight l WHERE l.project_id = "recruitment_project"."id"
"""


# SQLite (the embedded default) builds the same objects with its JSON functions; its
# JSON text is parsed by JSONField, where psycopg already hands PostgreSQL's json over parsed.
_PLAN_SQLITE = """
SELECT json_object(
  'registered', pp.registered,
  'construction', pp.construction,
  'production', pp.production,
  'at_capacity', pp.at_capacity,
  'investment', json(COALESCE((
     SELECT json_group_array(json_object('month', substr(pi.month, 1, 7), 'cumulative', printf('%%.2f', pi.cumulative)))
     FROM (SELECT month, cumulative FROM recruitment_planinvestment
           WHERE project_id = "recruitment_project"."id" ORDER BY month) AS pi), '[]')))
FROM (SELECT 1) AS one
LEFT JOIN recruitment_projectplan pp ON pp.project_id = "recruitment_project"."id"
"""

_LIGHT_SQLITE = """
SELECT json_object(
  'color', l.color,
  'since', l.since,
  'reasons', json(COALESCE((
     SELECT json_group_array(json_object('rule', json_extract(r.value, '$.rule'), 'detail', json_extract(r.value, '$.detail')))
     FROM json_each(l.reasons) AS r), '[]')))
FROM recruitment_projectlight l WHERE l.project_id = "recruitment_project"."id"
"""


def _json_column(pg_sql: str, sqlite_sql: str) -> RawSQL:
    if connection.vendor == "postgresql":
        # jsonb, not json: a filtered list may be DISTINCT, and json has no equality.
        return RawSQL(f"({pg_sql})::jsonb", [], output_field=JSONField())
    return RawSQL(f"({sqlite_sql})", [], output_field=JSONField())


def plan_column() -> Column:
    return Column("plan", "_plan", expression=lambda: _json_column(_PLAN_SQL, _PLAN_SQLITE))


def light_column() -> Column:
    return Column("light", "_light", expression=lambda: _json_column(_LIGHT_SQL, _LIGHT_SQLITE))
