"""One search over the enterprise directory (and the projects naming it), served by indexes.

What a query matches, on every database:

* the Chinese (or any) name containing it, case-insensitively for ASCII letters —
  down to a single character (``钢`` finds 太原钢铁);
* the English name containing it (three characters or more);
* the pinyin without spaces containing it (``tanxianwei``, three characters or more);
* the pinyin initials containing it (three or more), or starting with it (one or two: ``ty``);
* the credit code starting with it (two characters or more, digits and letters, at least one digit);
  a query that reads as a code's beginning (six or more, a digit first, four digits
  in all) matches credit codes only.

On PostgreSQL each condition has an index (migration ``crm.0007_search_indexes``):

* ``cr_name_grams(name)``: the name's single characters and character pairs, lower-cased,
  as a ``text[]`` under a GIN index. A query is looked up by the pairs it is made of
  (its one character when it has one), which every name containing it has; the rows
  found are then checked with ``LIKE`` — so one- and two-character Chinese queries,
  which trigram indexes cannot serve, are answered from the index;
* ``cr_search_keys(name_pinyin, name_initials, name_en)``: the pinyin without spaces,
  the initials and the English name in one string under a trigram (pg_trgm) GIN index;
* the initials and the credit code under btree ``pattern_ops`` indexes for prefixes.

The functions are expressions of the columns, so no write path has to maintain
anything: every insert and update (services, set-based bulk, imports, merges) keeps
the indexes true. On SQLite (the embedded default) the same conditions run as plain
``LIKE`` scans, with the same results.
"""

from __future__ import annotations

import re
import time

from django.db import connection as default_connection
from django.db.models import F, Func, Q, QuerySet, TextField, Value
from django.db.models.functions import Lower, Replace

# Queries longer than this are cut (no name is longer than the field).
MAX_QUERY = 200
_CREDIT_PREFIX = re.compile(r"[0-9A-Za-z]{2,18}")
# Six or more characters, a digit first (and four digits in all): a credit code's
# beginning, looked up by prefix alone.
_LOOKS_LIKE_CODE = re.compile(r"[0-9][0-9A-Za-z]{5,17}")
_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

SQL_FUNCTIONS = [
    # Single characters and character pairs of a text, lower-cased (a pair may repeat:
    # the index keeps each once). PL/pgSQL: several times faster per call than a SQL
    # function with a subquery, which matters when a page's rows are checked again.
    """
    CREATE OR REPLACE FUNCTION cr_name_grams(t text) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
    DECLARE
        l text := lower(t);
        grams text[] := string_to_array(lower(t), NULL);
    BEGIN
        FOR i IN 1 .. char_length(l) - 1 LOOP
            grams := grams || substr(l, i, 2);
        END LOOP;
        RETURN coalesce(grams, '{}'::text[]);
    END
    $$
    """,
    # The ASCII keys of an enterprise in one string: pinyin without spaces, initials, English name.
    """
    CREATE OR REPLACE FUNCTION cr_search_keys(pinyin text, initials text, name_en text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT replace(coalesce(pinyin, ''), ' ', '') || '|' || coalesce(initials, '') || '|'
               || replace(lower(coalesce(name_en, '')), ' ', '')
    $$
    """,
]


# The indexes the search reads, PostgreSQL only (created by migration crm.0007 and
# recruitment.0005 through :func:`create_search_indexes`).
ENTERPRISE_INDEXES = [
    "CREATE INDEX IF NOT EXISTS enterprise_name_grams_idx ON crm_enterprise USING gin (cr_name_grams(name))",
    "CREATE INDEX IF NOT EXISTS enterprise_search_keys_idx ON crm_enterprise "
    "USING gin (cr_search_keys(name_pinyin, name_initials, name_en) gin_trgm_ops)",
]
PROJECT_INDEXES = [
    "CREATE INDEX IF NOT EXISTS project_title_grams_idx ON recruitment_project USING gin (cr_name_grams(title))",
]


def create_search_functions(apps: object, schema_editor: object) -> None:
    """Migration step: the extension and the functions (nothing on other databases)."""
    if schema_editor.connection.vendor != "postgresql":  # type: ignore[attr-defined]
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")  # type: ignore[attr-defined]
    for sql in SQL_FUNCTIONS:
        schema_editor.execute(sql)  # type: ignore[attr-defined]
    for sql in ENTERPRISE_INDEXES:
        schema_editor.execute(sql)  # type: ignore[attr-defined]


def create_project_search_indexes(apps: object, schema_editor: object) -> None:
    if schema_editor.connection.vendor != "postgresql":  # type: ignore[attr-defined]
        return
    for sql in PROJECT_INDEXES:
        schema_editor.execute(sql)  # type: ignore[attr-defined]


def drop_search_indexes(apps: object, schema_editor: object) -> None:
    if schema_editor.connection.vendor != "postgresql":  # type: ignore[attr-defined]
        return
    for sql in ENTERPRISE_INDEXES:
        name = sql.split("EXISTS ")[1].split()[0]
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")  # type: ignore[attr-defined]


def drop_project_search_indexes(apps: object, schema_editor: object) -> None:
    if schema_editor.connection.vendor != "postgresql":  # type: ignore[attr-defined]
        return
    for sql in PROJECT_INDEXES:
        name = sql.split("EXISTS ")[1].split()[0]
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")  # type: ignore[attr-defined]


class NameGrams(Func):
    """``cr_name_grams(text)`` (PostgreSQL): the single characters and pairs of a text."""

    function = "cr_name_grams"

    def __init__(self, expression: object) -> None:
        from django.contrib.postgres.fields import ArrayField

        super().__init__(expression, output_field=ArrayField(TextField()))


class SearchKeys(Func):
    """``cr_search_keys(pinyin, initials, name_en)`` (PostgreSQL)."""

    function = "cr_search_keys"
    output_field = TextField()


def ascii_lower(value: str) -> str:
    """Lower-case ASCII letters only: what every database's ``lower()`` agrees on."""
    return value.translate(_ASCII_UPPER)


def query_grams(term: str) -> list[str]:
    """The grams every text containing ``term`` has: its pairs, or its one character."""
    term = ascii_lower(term)
    if len(term) == 1:
        return [term]
    return sorted({term[i : i + 2] for i in range(len(term) - 1)})


def clean_term(term: str) -> str:
    return " ".join((term or "").split())[:MAX_QUERY]


def enterprise_search_q(term: str, *, prefix: str = "", vendor: str | None = None) -> Q:
    """The condition "this enterprise matches ``term``" (see the module's text).

    ``prefix`` names the enterprise from another model (``"enterprise__"``).
    An empty term matches nothing.
    """
    term = clean_term(term)
    if not term:
        return Q(pk__in=[])
    vendor = vendor or default_connection.vendor
    credit = Q(**{f"{prefix}credit_code__startswith": term.upper()})
    if _LOOKS_LIKE_CODE.fullmatch(term) and sum(c.isdigit() for c in term) >= 4:
        return credit
    # Cheap conditions first: where the rows found are checked again, the first
    # condition that holds decides, and the name's grams are the dearest to work out.
    result = Q()
    if _CREDIT_PREFIX.fullmatch(term) and any(c.isdigit() for c in term):
        result |= credit
    compact = "".join(ascii_lower(term).split())
    if compact.isascii() and "|" not in compact:
        if len(compact) >= 3:
            result |= _keys_contain_q(prefix, compact, vendor=vendor)
        else:
            result |= Q(**{f"{prefix}name_initials__startswith": compact})
    return result | _contains_q(f"{prefix}name", term, vendor=vendor)


def _keys_contain_q(prefix: str, compact: str, *, vendor: str) -> Q:
    """Pinyin without spaces, initials or English name without spaces contain ``compact``."""
    pinyin, initials, name_en = F(f"{prefix}name_pinyin"), F(f"{prefix}name_initials"), F(f"{prefix}name_en")
    if vendor == "postgresql":
        return _lookup(SearchKeys(pinyin, initials, name_en), "contains", compact)
    return (
        _lookup(Replace(pinyin, Value(" "), Value(""), output_field=TextField()), "contains", compact)
        | _lookup(initials, "contains", compact)
        | _lookup(Replace(Lower(name_en), Value(" "), Value(""), output_field=TextField()), "contains", compact)
    )


def _contains_q(field: str, term: str, *, vendor: str) -> Q:
    """``field`` contains ``term`` (ASCII case ignored); on PostgreSQL found through the gram index."""
    lowered = ascii_lower(term)
    if lowered != term.lower():
        # Letters beyond ASCII that have case: lower() may differ between databases
        # and Python, so only the plain scan is sure to be right.
        return Q(**{f"{field}__icontains": term})
    if any("a" <= c <= "z" for c in lowered):
        contains = _lookup(Lower(F(field), output_field=TextField()), "contains", lowered)
    else:
        # No letters with case: the column itself, whose statistics tell the planner
        # how common the term is (a scan for 有限, the index for 碳纤维).
        contains = Q(**{f"{field}__contains": term})
    if vendor != "postgresql":
        return contains
    # The LIKE first: when the planner scans instead of using the index (a common
    # term, a few rows wanted), the cheap test runs on every row, the grams on matches only.
    grams = telling_grams(query_grams(term), index=_GRAM_INDEXES.get(field.rsplit("__", 1)[-1], ""))
    return contains & _lookup(NameGrams(F(field)), "contains", grams)


_GRAM_INDEXES = {"name": "enterprise_name_grams_idx", "title": "project_title_grams_idx"}
# Grams in more than this share of the rows tell the index little (有限, 公司): a query
# is looked up by its other grams when it has any. The shares are the planner's own
# statistics of the index (pg_stats), read once every few minutes per process.
COMMON_GRAM_SHARE = 0.05
_STATS_SECONDS = 600.0
_common: dict[str, tuple[float, dict[str, float]]] = {}


def telling_grams(grams: list[str], *, index: str) -> list[str]:
    """``grams`` without those common in ``index`` (the rarest one kept when all are common)."""
    if not index or len(grams) < 2:
        return grams
    shares = _common_grams(index)
    rare = [g for g in grams if shares.get(g, 0.0) <= COMMON_GRAM_SHARE]
    return rare or [min(grams, key=lambda g: shares.get(g, 0.0))]


def _common_grams(index: str) -> dict[str, float]:
    now = time.monotonic()
    cached = _common.get(index)
    if cached is not None and now - cached[0] < _STATS_SECONDS:
        return cached[1]
    shares: dict[str, float] = {}
    with default_connection.cursor() as cursor:
        cursor.execute(
            "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
            "WHERE tablename = %s AND most_common_elems IS NOT NULL",
            [index],
        )
        row = cursor.fetchone()
    if row:
        shares = {g: f for g, f in zip(row[0], row[1], strict=False) if f > COMMON_GRAM_SHARE}
    _common[index] = (now, shares)
    return shares


def _lookup(expression: object, lookup: str, value: object) -> Q:
    if isinstance(expression, F):
        return Q(**{f"{expression.name}__{lookup}": value})
    lookup_class = expression.output_field.get_lookup(lookup)  # type: ignore[attr-defined]
    return Q(lookup_class(expression, value))


def search_enterprises(queryset: QuerySet, term: str) -> QuerySet:
    """Enterprises of ``queryset`` matching ``term``."""
    return queryset.filter(enterprise_search_q(term, vendor=_vendor(queryset)))


def search_projects(queryset: QuerySet, term: str) -> QuerySet:
    """Projects of ``queryset`` whose title or enterprise matches ``term``, or whose
    partner id is ``term``.

    The enterprise is matched as a subquery (``enterprise_id IN (…)``), answered from
    the enterprise indexes, not through a join every project row would go through.
    """
    from crm.models import Enterprise

    term = clean_term(term)
    if not term:
        return queryset.none()
    vendor = _vendor(queryset)
    enterprises = Enterprise.objects.filter(enterprise_search_q(term, vendor=vendor)).values("pk")
    return queryset.filter(
        _contains_q("title", term, vendor=vendor) | Q(enterprise_id__in=enterprises) | Q(external_id=term)
    )


def _vendor(queryset: QuerySet) -> str:
    from django.db import connections

    return connections[queryset.db].vendor
