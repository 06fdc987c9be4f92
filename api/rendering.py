"""JSON in and out, and the value formats every resource renders with.

Records are rendered to plain JSON values (strings, numbers, lists, dicts) before
they reach any encoder, so the same record renders to the same JSON whether it is
served by its detail endpoint (orjson) or stored in the change feed at write time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import orjson
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer

_UTC = dt.UTC


def fmt_datetime(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with microseconds and ``Z``: one fixed format, sortable as text."""
    if value is None:
        return None
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(_UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def fmt_decimal(value: Decimal | None) -> str | None:
    """Money as a decimal string ("1250000.00"): exact, unlike a JSON float."""
    if value is None:
        return None
    return f"{value:f}"


def fmt_uuid(value: uuid.UUID | str | None) -> str | None:
    if value is None:
        return None
    return str(value)


def sql_format(fmt: Any, path: str) -> Any:
    """The expression that makes PostgreSQL produce what ``fmt`` would from the column
    at ``path`` (a text value, NULL stays NULL), or None when ``fmt`` has no such twin.

    Formatting in the page query spares converting each value to a Python object
    and back to text; a test holds both ways equal on every resource.
    """
    from django.db.models import CharField, F, Func
    from django.db.models.functions import Cast

    if fmt is fmt_datetime:
        return Func(
            F(path),
            template="to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
            output_field=CharField(),
        )
    if fmt is fmt_uuid or fmt is fmt_decimal:
        return Cast(F(path), output_field=CharField())
    return None


def dumps(data: Any) -> bytes:
    return orjson.dumps(data)


class JSONRenderer(BaseRenderer):
    """orjson: several times faster than the standard encoder on a page of records."""

    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_default)


def _default(value: Any) -> Any:
    # Values that slip through unrendered (error details are lazy translation strings).
    if isinstance(value, Decimal):
        return fmt_decimal(value)
    if isinstance(value, dt.datetime):
        return fmt_datetime(value)
    return str(value)


class JSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        raw = stream.read() if stream is not None else b""
        if not raw:
            raise ParseError("Request body is empty; send a JSON document.")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


class ContentNegotiation(DefaultContentNegotiation):
    """A request body must say it is JSON: ``application/json``, optionally ``charset=utf-8``.

    DRF would match any parser against ``*/*``, ``application/*`` or a missing type and
    parse the body as JSON anyway; a partner who sends the wrong type has a bug we
    report (415) instead of guessing.
    """

    def select_parser(self, request: Any, parsers: Any) -> Any:
        content_type = request.content_type or ""
        main, params = parse_header_parameters(content_type) if len(content_type) <= 256 else ("", {})
        charset = params.get("charset", "utf-8").lower()
        if main.lower() == "application/json" and charset in ("utf-8", "utf8"):
            for parser in parsers:
                if parser.media_type == "application/json":
                    return parser
        raise UnsupportedMediaType(
            content_type[:100],
            detail=_("Send the body as JSON with the header Content-Type: application/json (not %(type)s).")
            % {"type": repr(content_type[:100]) if content_type else _("no Content-Type")},
        )
