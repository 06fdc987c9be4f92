"""Cursor pagination: ``{"results": [...], "next": <url or null>}``, ``limit`` up to 500.

A keyset on one unique column (``id`` for records, ``code`` for reference data):
a page costs the same at the millionth record as at the first, and records added
or deleted while a client pages never shift what it sees.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def page_limit(request: Request, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise serializers.ValidationError(
            {"limit": [_("Give a whole number from 1 to %(max)d.") % {"max": maximum}]}, code="invalid"
        )
    return value


def _encode(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _decode(raw: str) -> str:
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise serializers.ValidationError({"cursor": [_("This cursor is not valid.")]}, code="invalid") from None


class KeysetPagination(BasePagination):
    """Pages a queryset ordered by ``view.keyset_field`` (unique); rendering is the view's."""

    def paginate(
        self,
        queryset: models.QuerySet,
        request: Request,
        *,
        field: str,
        render: Callable[[models.QuerySet], Sequence[dict[str, Any]]],
        key: str,
    ) -> tuple[list[dict[str, Any]], str | None]:
        limit = page_limit(request)
        raw = request.query_params.get("cursor")
        qs = queryset.order_by(field)
        if raw:
            after = _decode(raw)
            if field in ("id", "pk"):
                try:
                    after = str(uuid.UUID(after))
                except ValueError:
                    raise serializers.ValidationError(
                        {"cursor": [_("This cursor is not valid.")]}, code="invalid"
                    ) from None
            elif "\x00" in after:
                raise serializers.ValidationError({"cursor": [_("This cursor is not valid.")]}, code="invalid")
            qs = qs.filter(**{f"{field}__gt": after})
        items = list(render(qs[: limit + 1]))
        next_url = None
        if len(items) > limit:
            items = items[:limit]
            next_url = replace_query_param(request.build_absolute_uri(), "cursor", _encode(str(items[-1][key])))
        return items, next_url

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "The next page, or null on the last page.",
                },
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        return [
            {
                "name": "cursor",
                "required": False,
                "in": "query",
                "description": "Opaque position from the previous page's `next`.",
                "schema": {"type": "string"},
            },
            {
                "name": "limit",
                "required": False,
                "in": "query",
                "description": f"Items per page (1–{MAX_LIMIT}, default {DEFAULT_LIMIT}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            },
        ]


def paginate_list(items: Sequence[dict[str, Any]], request: Request) -> tuple[list[dict[str, Any]], str | None]:
    """The same contract for a list computed in memory (gap analysis): the cursor is an offset."""
    limit = page_limit(request)
    raw = request.query_params.get("cursor")
    start = 0
    if raw:
        decoded = _decode(raw)
        if not decoded.isdigit() or len(decoded) > 9:
            raise serializers.ValidationError({"cursor": [_("This cursor is not valid.")]}, code="invalid")
        start = int(decoded)
    page = list(items[start : start + limit])
    next_url = None
    if start + limit < len(items):
        next_url = replace_query_param(request.build_absolute_uri(), "cursor", _encode(str(start + limit)))
    return page, next_url
