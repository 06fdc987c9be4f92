"""Sending many rows to PostgreSQL in one parameter.

psycopg adapts a list parameter element by element in Python: five arrays of 1000
values cost more than the statement that uses them. A batch of rows sent as one
JSON document and unpacked by ``json_to_recordset`` costs one string; PostgreSQL
parses it and applies each column type's own input (uuid, numeric, timestamptz).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from django.db import connection, models


def json_rows(rows: Iterable[dict[str, Any]]) -> str:
    """Rows as one JSON array (UUIDs, times and decimals as their text)."""
    return orjson.dumps(list(rows), default=str).decode()


def recordset(alias: str, columns: Sequence[tuple[str, str]]) -> str:
    """``json_to_recordset(%s::json) AS alias(col type, …)`` for a FROM clause."""
    qn = connection.ops.quote_name
    return f"json_to_recordset(%s::json) AS {alias}({', '.join(f'{qn(c)} {t}' for c, t in columns)})"


def column_type(field: models.Field) -> str:
    """The column's type as a record definition names it (a foreign key: its target's)."""
    return field.db_type(connection) or field.rel_db_type(connection)


def json_values(values: Sequence[Any], cast: str = "") -> Any:
    """The right-hand side of an ``__in`` lookup for a long list of values.

    On PostgreSQL, one JSON parameter unpacked by the server (``cast`` names the
    column type for non-text columns, e.g. ``uuid``) instead of a placeholder per
    value: 1000 placeholders cost more to send than the lookup itself. Elsewhere
    the list as it is.
    """
    if connection.vendor != "postgresql":
        return list(values)
    from django.db.models.expressions import RawSQL

    element = f"json_array_elements_text(%s::json){'::' + cast if cast else ''}"
    return RawSQL(f"SELECT {element}", [orjson.dumps(list(values), default=str).decode()])
