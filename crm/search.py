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

On PostgreSQL each condition has an index (migrations ``crm.0007`` and ``crm.0008``):

* ``cr_name_grams(name)``: the name's single characters and character pairs, lower-cased,
  as a ``text[]`` under a GIN index. A query is looked up by the pairs it is made of
  (its one character when it has one), which every name containing it has; for three
  characters or more the rows found are then checked with ``LIKE``. So one- and
  two-character Chinese queries, which trigram indexes cannot serve, are answered from
  the index alone;
* ``cr_key_grams(cr_search_keys(name_pinyin, name_initials, name_en))``: the pinyin
  without spaces, the initials and the English name, each cut into its runs of three
  and of four letters, under a GIN index. A query of four letters or more is looked up
  by its four-letter runs, one of three by itself, then checked with ``LIKE`` against
  the same keys stored in a generated column (``search_keys``, migration ``crm.0009``);
* the initials and the credit code under btree ``pattern_ops`` indexes for prefixes.

A query is looked up by its *rarest* grams only (the planner's statistics of the
index, ``pg_stats``, say how common each gram is), grams from apart in it first. When
even its rarest gram is in more than :data:`COMMON_SHARE` of the rows and the query
itself is common in the planner's sample of names and keys (:func:`estimated_share`),
the query is common (``有限``, ``jituan``): matches are everywhere, so a plain scan finds
the first hundred after a few thousand rows, where the index would first collect every
match. The condition is then written without the index, and the planner scans and
stops early. A list in an order (the admin's, the API's) keeps the index up to
:data:`ORDERED_COMMON_SHARE`: there a walk of the order's index may have to pass a long
run of rows without a match first. For a term in :data:`WALK_SHARE` of the directory
or more, the enterprise list's page in the name order is walked from a covering index
with a bound (:func:`ordered_page_rows`), and the project list checks each project's
enterprise by its key as it walks its own order (:func:`search_projects`).

The functions are expressions of the columns and the stored keys a generated column,
so no write path has to maintain anything: every insert and update (services,
set-based bulk and COPY, imports, merges, raw SQL) keeps them true. On SQLite (the
embedded default) the same conditions run as plain ``LIKE`` scans, a query of three
characters or more first looked up in FTS5 trigram tables kept by triggers: the keys
(:data:`SQLITE_KEYS_INDEX`), and unless the query is common (:data:`SQLITE_COMMON_SHARE`)
the names and the project titles (:data:`SQLITE_NAME_INDEX`, :data:`SQLITE_TITLE_INDEX`),
with the same results. A searched page of projects is then read by its ids first
(:func:`sqlite_page_rows`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from django.db import connection as default_connection
from django.db.models import (
    BooleanField,
    Expression,
    ExpressionWrapper,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import Left, Lower, Replace

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
    # The runs of three and of four characters of each part of a key string (parts are
    # separated by "|"): what a query of three letters or more is looked up by.
    """
    CREATE OR REPLACE FUNCTION cr_key_grams(keys text) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
    DECLARE
        grams text[] := '{}';
        part text;
    BEGIN
        FOREACH part IN ARRAY string_to_array(keys, '|') LOOP
            FOR i IN 1 .. char_length(part) - 2 LOOP
                grams := grams || substr(part, i, 3);
            END LOOP;
            FOR i IN 1 .. char_length(part) - 3 LOOP
                grams := grams || substr(part, i, 4);
            END LOOP;
        END LOOP;
        RETURN grams;
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


KEYS_SQL = "cr_search_keys(name_pinyin, name_initials, name_en)"
# The indexes the search reads, PostgreSQL only (created by migrations crm.0007/0008 and
# recruitment.0005).
ENTERPRISE_INDEXES = [
    "CREATE INDEX IF NOT EXISTS enterprise_name_grams_idx ON crm_enterprise USING gin (cr_name_grams(name))",
    f"CREATE INDEX IF NOT EXISTS enterprise_key_grams_idx ON crm_enterprise USING gin (cr_key_grams({KEYS_SQL}))",
]
KEYS_STATISTICS = f"CREATE STATISTICS IF NOT EXISTS enterprise_search_keys_stats ON ({KEYS_SQL}) FROM crm_enterprise"
# Until crm.0008 the keys were served by a trigram index, which collects every match
# of a query before the first row is read: tens of milliseconds for common syllables.
TRIGRAM_KEYS_INDEX = (
    f"CREATE INDEX IF NOT EXISTS enterprise_search_keys_idx ON crm_enterprise USING gin ({KEYS_SQL} gin_trgm_ops)"
)
PROJECT_INDEXES = [
    "CREATE INDEX IF NOT EXISTS project_title_grams_idx ON recruitment_project USING gin (cr_name_grams(title))",
]


def _run_on(vendor: str, schema_editor: object, statements: list[str]) -> None:
    """Run a migration step's ``statements`` on ``vendor``'s databases (nothing on others)."""
    if schema_editor.connection.vendor != vendor:  # type: ignore[attr-defined]
        return
    for sql in statements:
        schema_editor.execute(sql)  # type: ignore[attr-defined]


def _on_postgres(schema_editor: object, statements: list[str]) -> None:
    _run_on("postgresql", schema_editor, statements)


def _on_sqlite(schema_editor: object, statements: list[str]) -> None:
    _run_on("sqlite", schema_editor, statements)


def _drops(creates: list[str]) -> list[str]:
    """``DROP INDEX`` for each ``CREATE INDEX IF NOT EXISTS name …``."""
    return [f"DROP INDEX IF EXISTS {sql.split('EXISTS ')[1].split()[0]}" for sql in creates]


def create_search_functions(apps: object, schema_editor: object) -> None:
    """Migration step: the extension and the functions."""
    _on_postgres(schema_editor, ["CREATE EXTENSION IF NOT EXISTS pg_trgm", *SQL_FUNCTIONS, *ENTERPRISE_INDEXES])


def use_key_grams(apps: object, schema_editor: object) -> None:
    """Migration crm.0008: the key grams index in place of the trigram index. The trigram
    index gave the planner statistics of the keys (how many rows a LIKE matches: a scan
    stops early, or a parallel one is not worth starting); extended statistics keep them."""
    _on_postgres(
        schema_editor,
        [*SQL_FUNCTIONS, "DROP INDEX IF EXISTS enterprise_search_keys_idx", *ENTERPRISE_INDEXES, KEYS_STATISTICS],
    )


# Migration crm.0009: the keys in a stored generated column. PostgreSQL computes it on
# every insert and update, whatever writes the row (services, COPY, bulk upserts, imports,
# merges, raw SQL), so a scan reads a plain column instead of working the keys out for
# every row (about three times cheaper). The model does not declare it: Django never
# writes it, and the history tables do not copy it. Its statistics (a histogram of 1,000
# rows, as for the name) say how common a query is (:func:`estimated_share`), and the
# covering index of the name order lets a list in that order be walked from the index
# alone (:func:`ordered_page_rows`).
STORED_KEYS = [
    f"ALTER TABLE crm_enterprise ADD COLUMN IF NOT EXISTS search_keys text GENERATED ALWAYS AS ({KEYS_SQL}) STORED",
    "ALTER TABLE crm_enterprise ALTER COLUMN search_keys SET STATISTICS 1000",
    "ALTER TABLE crm_enterprise ALTER COLUMN name SET STATISTICS 1000",
    "CREATE INDEX IF NOT EXISTS enterprise_name_walk_idx ON crm_enterprise (name, id DESC) INCLUDE (search_keys)",
    "DROP STATISTICS IF EXISTS enterprise_search_keys_stats",
    "ANALYZE crm_enterprise",
]


def store_search_keys(apps: object, schema_editor: object) -> None:
    """Migration crm.0009 (see :data:`STORED_KEYS`)."""
    _on_postgres(schema_editor, STORED_KEYS)


def drop_stored_search_keys(apps: object, schema_editor: object) -> None:
    """Reverse of :func:`store_search_keys`."""
    _on_postgres(
        schema_editor,
        [
            "DROP INDEX IF EXISTS enterprise_name_walk_idx",
            "ALTER TABLE crm_enterprise DROP COLUMN IF EXISTS search_keys",
            "ALTER TABLE crm_enterprise ALTER COLUMN name SET STATISTICS -1",
            KEYS_STATISTICS,
        ],
    )


def use_trigram_keys(apps: object, schema_editor: object) -> None:
    """Reverse of :func:`use_key_grams`."""
    _on_postgres(
        schema_editor,
        [
            "DROP INDEX IF EXISTS enterprise_key_grams_idx",
            "DROP STATISTICS IF EXISTS enterprise_search_keys_stats",
            TRIGRAM_KEYS_INDEX,
        ],
    )


# SQLite (the embedded default): the same keys in an FTS5 table of trigrams, one row per
# enterprise under the enterprise row's own rowid (the id is a UUID, not an integer; a
# VACUUM keeps the rowids of a table that has them), kept true by triggers on the enterprise table,
# so every write path (services, bulk_create, set-based writes, imports, merges,
# queryset updates, raw SQL, deletes) keeps it true without knowing of it. A query of
# three letters or more is looked up in it (a phrase of trigrams: the keys containing
# the query, ASCII case ignored), the rows found then checked with the plain LIKE; one
# or two letters are read by the plain scan. Migration crm.0012.
SQLITE_KEYS_TABLE = "crm_enterprise_search"
_SQLITE_KEYS = (
    "replace(coalesce({t}.name_pinyin, ''), ' ', '') || '|' || coalesce({t}.name_initials, '') || '|' "
    "|| replace(lower(coalesce({t}.name_en, '')), ' ', '')"
)
SQLITE_KEYS_INDEX = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {SQLITE_KEYS_TABLE} USING fts5(keys, tokenize = 'trigram')",
    f"DELETE FROM {SQLITE_KEYS_TABLE}",
    f"INSERT INTO {SQLITE_KEYS_TABLE} (rowid, keys) SELECT rowid, {_SQLITE_KEYS.format(t='crm_enterprise')} "
    "FROM crm_enterprise",
    "CREATE TRIGGER IF NOT EXISTS crm_enterprise_search_insert AFTER INSERT ON crm_enterprise BEGIN "
    f"INSERT INTO {SQLITE_KEYS_TABLE} (rowid, keys) VALUES (new.rowid, {_SQLITE_KEYS.format(t='new')}); END",
    "CREATE TRIGGER IF NOT EXISTS crm_enterprise_search_update "
    "AFTER UPDATE OF name_pinyin, name_initials, name_en ON crm_enterprise BEGIN "
    f"DELETE FROM {SQLITE_KEYS_TABLE} WHERE rowid = old.rowid; "
    f"INSERT INTO {SQLITE_KEYS_TABLE} (rowid, keys) VALUES (new.rowid, {_SQLITE_KEYS.format(t='new')}); END",
    "CREATE TRIGGER IF NOT EXISTS crm_enterprise_search_delete AFTER DELETE ON crm_enterprise BEGIN "
    f"DELETE FROM {SQLITE_KEYS_TABLE} WHERE rowid = old.rowid; END",
]


def create_sqlite_keys_index(apps: object, schema_editor: object) -> None:
    """Migration crm.0012 (see :data:`SQLITE_KEYS_INDEX`); nothing on other databases."""
    _on_sqlite(schema_editor, SQLITE_KEYS_INDEX)


def drop_sqlite_keys_index(apps: object, schema_editor: object) -> None:
    """Reverse of :func:`create_sqlite_keys_index`."""
    _on_sqlite(schema_editor, _sqlite_text_index_drop(SQLITE_KEYS_TABLE))


def _sqlite_text_index(table: str, rows: str, column: str) -> list[str]:
    """An FTS5 trigram ``table`` of the ``column`` of ``rows`` under each row's rowid, filled,
    and the triggers that keep it: on insert, on an update of the column, on delete."""
    insert = f"INSERT INTO {table} (rowid, {column}) VALUES (new.rowid, new.{column}); END"
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5({column}, tokenize = 'trigram')",
        f"DELETE FROM {table}",
        f"INSERT INTO {table} (rowid, {column}) SELECT rowid, {column} FROM {rows}",
        f"CREATE TRIGGER IF NOT EXISTS {table}_insert AFTER INSERT ON {rows} BEGIN {insert}",
        f"CREATE TRIGGER IF NOT EXISTS {table}_update AFTER UPDATE OF {column} ON {rows} BEGIN "
        f"DELETE FROM {table} WHERE rowid = old.rowid; {insert}",
        f"CREATE TRIGGER IF NOT EXISTS {table}_delete AFTER DELETE ON {rows} BEGIN "
        f"DELETE FROM {table} WHERE rowid = old.rowid; END",
    ]


def _sqlite_text_index_drop(table: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {table}_{event}" for event in ("insert", "update", "delete")] + [
        f"DROP TABLE IF EXISTS {table}"
    ]


# The project titles and the enterprise names on SQLite the same way, each in an FTS5
# trigram table of its own kept by triggers (migrations recruitment.0015 and crm.0013).
# A query of three characters or more (the tokenizer counts Unicode characters: 碳纤维 is
# three) is looked up in it, the rows found then checked with the plain LIKE; one or two
# characters, and a query in many rows (:data:`SQLITE_COMMON_SHARE`), are read by the scan.
# With every part of the project search served by an index, SQLite reads the matches
# alone, for the count too, where the scans read every title and every name. A migration
# that has Django rebuild one of these tables on SQLite (most column changes do: a new
# table, the rows copied, the old one dropped) drops its triggers with it and may give
# its rows new rowids: it must run the table's statements here again (they refill it).
SQLITE_TITLE_TABLE = "recruitment_project_search"
SQLITE_TITLE_INDEX = _sqlite_text_index(SQLITE_TITLE_TABLE, "recruitment_project", "title")
SQLITE_NAME_TABLE = "crm_enterprise_name_search"
SQLITE_NAME_INDEX = _sqlite_text_index(SQLITE_NAME_TABLE, "crm_enterprise", "name")
# The text fields a SQLite trigram table serves (the field's name, across a relation or
# not): the table and the table of the rows it indexes.
_SQLITE_TEXT_INDEXES = {
    "title": (SQLITE_TITLE_TABLE, "recruitment_project"),
    "name": (SQLITE_NAME_TABLE, "crm_enterprise"),
}


def create_sqlite_title_index(apps: object, schema_editor: object) -> None:
    """Migration recruitment.0015 (see :data:`SQLITE_TITLE_INDEX`)."""
    _on_sqlite(schema_editor, SQLITE_TITLE_INDEX)


def drop_sqlite_title_index(apps: object, schema_editor: object) -> None:
    _on_sqlite(schema_editor, _sqlite_text_index_drop(SQLITE_TITLE_TABLE))


def create_sqlite_name_index(apps: object, schema_editor: object) -> None:
    """Migration crm.0013 (see :data:`SQLITE_NAME_INDEX`)."""
    _on_sqlite(schema_editor, SQLITE_NAME_INDEX)


def drop_sqlite_name_index(apps: object, schema_editor: object) -> None:
    _on_sqlite(schema_editor, _sqlite_text_index_drop(SQLITE_NAME_TABLE))


def _fts_phrase(text: str) -> str:
    """``text`` as one FTS5 phrase: its characters literal, whatever FTS5's syntax makes of them."""
    return '"' + text.replace('"', '""') + '"'


class TrigramMatch(Expression):
    """The condition "the row's text in the FTS5 trigram ``table`` (under the row's rowid)
    holds the trigrams of ``text`` in a row" (SQLite): a superset of the rows containing
    it (the index folds case as Unicode does), to be checked with the LIKE. ``column`` is
    a column of the row's table (joined if need be), which names the table to the query.

    The row's own rowid is compared, not its id looked up by rowid first: SQLite reads the
    rows found by their rowids directly (a search of 4,000 projects: 39 → 17 ms)."""

    output_field = BooleanField()

    def __init__(self, column: object, table: str, text: str) -> None:
        super().__init__()
        self.column = column
        self.table = table
        self.text = text

    def get_source_expressions(self) -> list:
        return [self.column]

    def set_source_expressions(self, exprs: list) -> None:
        (self.column,) = exprs

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):  # type: ignore[no-untyped-def]
        resolved = self.copy()
        resolved.column = self.column.resolve_expression(query, allow_joins, reuse, summarize, for_save)  # type: ignore[attr-defined]
        return resolved

    def as_sql(self, compiler, connection):  # type: ignore[no-untyped-def]
        alias = compiler.quote_name_unless_alias(self.column.alias)  # type: ignore[attr-defined]
        return f"{alias}.rowid IN (SELECT rowid FROM {self.table} WHERE {self.table} MATCH %s)", [
            _fts_phrase(self.text)
        ]


# A text query found in more than this share of the rows by its trigrams is common: its
# condition is the plain LIKE. With every part of a search served by an index SQLite reads
# the matches alone and sorts them: every match is read, where a walk of the list's order
# finds a page of a common query's matches after a few hundred rows, and a count stops at
# the limit of exact counts either way. At 100,000 projects the page's ids and the count
# of a title query in 11% of them (生产基地) cost about the same either way (49 ms by the
# indexes, 45 by the walk and the scan); of one in 2% (碳纤维), 40 against 142.
SQLITE_COMMON_SHARE = 0.1


def _sqlite_trigrams_rare(table: str, rows: str, text: str, *, using: str) -> bool:
    """Whether ``text`` is found in at most :data:`SQLITE_COMMON_SHARE` of ``rows`` by
    its trigrams (the table's largest rowid standing for the rows; counted up to that share)."""
    from django.db import connections

    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) <= (SELECT coalesce(max(rowid), 0) FROM {rows}) * %s FROM "
            f"(SELECT 1 FROM {table} WHERE {table} MATCH %s "
            f"LIMIT (SELECT CAST(coalesce(max(rowid), 0) * %s AS INTEGER) + 1 FROM {rows}))",
            [SQLITE_COMMON_SHARE, _fts_phrase(text), SQLITE_COMMON_SHARE],
        )
        return bool(cursor.fetchone()[0])


def create_project_search_indexes(apps: object, schema_editor: object) -> None:
    _on_postgres(schema_editor, PROJECT_INDEXES)


def drop_search_indexes(apps: object, schema_editor: object) -> None:
    _on_postgres(schema_editor, _drops(ENTERPRISE_INDEXES))


def drop_project_search_indexes(apps: object, schema_editor: object) -> None:
    _on_postgres(schema_editor, _drops(PROJECT_INDEXES))


class NameGrams(Func):
    """``cr_name_grams(text)`` (PostgreSQL): the single characters and pairs of a text."""

    function = "cr_name_grams"

    def __init__(self, expression: object) -> None:
        from django.contrib.postgres.fields import ArrayField

        super().__init__(expression, output_field=ArrayField(TextField()))


class KeyGrams(Func):
    """``cr_key_grams(keys)`` (PostgreSQL): the runs of three and four letters of each key."""

    function = "cr_key_grams"

    def __init__(self, expression: object) -> None:
        from django.contrib.postgres.fields import ArrayField

        super().__init__(expression, output_field=ArrayField(TextField()))


class SearchKeys(Func):
    """``cr_search_keys(pinyin, initials, name_en)`` (PostgreSQL)."""

    function = "cr_search_keys"
    output_field = TextField()


class StoredKeys(Expression):
    """The enterprise's ``search_keys`` column (PostgreSQL; migration crm.0009), which the
    model does not declare: the keys of the enterprise ``prefix`` names."""

    def __init__(self, prefix: str = "", column: object = None) -> None:
        super().__init__(output_field=TextField())
        self.prefix = prefix
        self.column = column

    def get_source_expressions(self) -> list:
        return [self.column] if self.column is not None else []

    def set_source_expressions(self, exprs: list) -> None:
        if exprs:
            self.column = exprs[0]

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):  # type: ignore[no-untyped-def]
        # The enterprise's table (joined if need be) is found through a declared column;
        # once found it stays (a subquery's conditions are resolved again in the outer query).
        column = self.column if self.column is not None else F(f"{self.prefix}name_pinyin")
        column = column.resolve_expression(query, allow_joins, reuse, summarize, for_save)
        return StoredKeys(self.prefix, column)

    def as_sql(self, compiler, connection):  # type: ignore[no-untyped-def]
        alias = self.column.alias  # type: ignore[attr-defined]
        return f"{compiler.quote_name_unless_alias(alias)}.{connection.ops.quote_name('search_keys')}", []


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


def enterprise_search_q(
    term: str,
    *,
    prefix: str = "",
    vendor: str | None = None,
    any_order: bool = False,
    indexed: bool = True,
    using: str = "default",
) -> Q:
    """The condition "this enterprise matches ``term``" (see the module's text).

    ``prefix`` names the enterprise from another model (``"enterprise__"``).
    ``any_order``: the caller reads the first matches in no particular order (see
    :func:`gram_lookup`). ``indexed=False``: the plain checks only, for rows found
    otherwise (by primary key). ``using``: the database the condition is read from. An
    empty term matches nothing.
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
            # The pinyin keeps a name's ASCII runs as they are, lower-cased, so an ASCII
            # term the name contains is in the pinyin without spaces too: the keys alone
            # decide, in one condition the index answers without checking its grams again.
            return result | _keys_contain_q(prefix, compact, vendor=vendor, any_order=any_order, indexed=indexed)
        initials = Q(**{f"{prefix}name_initials__startswith": compact})
        if vendor == "postgresql" and not any_order and indexed:
            # Initials that start alike come from names that start alike, which sit
            # together in the name order (every ``ty…`` after a third of the directory):
            # a walk of that order would pass them all. The same test written twice the
            # planner takes for a rarer one, and collects and sorts the matches instead.
            initials &= _lookup(Left(F(f"{prefix}name_initials"), len(compact)), "exact", compact)
        result |= initials
    return result | _contains_q(f"{prefix}name", term, vendor=vendor, any_order=any_order, indexed=indexed, using=using)


def _keys_contain_q(prefix: str, compact: str, *, vendor: str, any_order: bool, indexed: bool = True) -> Q:
    """Pinyin without spaces, initials or English name without spaces contain ``compact``."""
    pinyin, initials, name_en = F(f"{prefix}name_pinyin"), F(f"{prefix}name_initials"), F(f"{prefix}name_en")
    if vendor == "postgresql":
        # The LIKE reads the stored keys; the index is of the same keys worked out.
        contains = _lookup(StoredKeys(prefix), "contains", compact)
        lookup = None
        if indexed:
            grams = key_query_grams(compact)
            lookup = gram_lookup(
                grams,
                index=KEY_GRAMS_INDEX,
                any_order=any_order,
                term_share=lambda: estimated_share(compact),
                term=compact,
            )
        if lookup is None:
            return contains
        # The LIKE first: the heap rows the index finds are checked in the written
        # order, and the LIKE settles most of them before the grams are worked out.
        return contains & _lookup(KeyGrams(SearchKeys(pinyin, initials, name_en)), "contains", lookup)
    contains = (
        _lookup(Replace(pinyin, Value(" "), Value(""), output_field=TextField()), "contains", compact)
        | _lookup(initials, "contains", compact)
        | _lookup(Replace(Lower(name_en), Value(" "), Value(""), output_field=TextField()), "contains", compact)
    )
    if vendor != "sqlite" or not indexed:
        return contains
    # The enterprises whose keys hold the query's trigrams in a row (SQLITE_KEYS_INDEX),
    # checked again with the LIKE: the index finds, the LIKE decides.
    return Q(TrigramMatch(pinyin, SQLITE_KEYS_TABLE, compact)) & contains


def key_query_grams(compact: str) -> list[str]:
    """The runs every key containing ``compact`` (three letters or more) has: its runs
    of four letters, or the three letters themselves."""
    if len(compact) <= 3:
        return [compact]
    return sorted({compact[i : i + 4] for i in range(len(compact) - 3)})


def _contains_q(
    field: str, term: str, *, vendor: str, any_order: bool = False, indexed: bool = True, using: str = "default"
) -> Q:
    """``field`` contains ``term`` (ASCII case ignored); on PostgreSQL found through the gram
    index, on SQLite through a trigram table where the field has one (titles, names)."""
    lowered = ascii_lower(term)
    if lowered != term.lower():
        # Letters beyond ASCII that have case: lower() may differ between databases
        # and Python, so only the plain scan is sure to be right.
        return Q(**{f"{field}__icontains": term})
    if vendor == "sqlite":
        # SQLite's LIKE ignores the case of ASCII letters (and only theirs, as its lower()
        # does): the same test without working lower() out for every row of a scan.
        contains = Q(**{f"{field}__contains": lowered})
    elif any("a" <= c <= "z" for c in lowered):
        contains = _lookup(Lower(F(field), output_field=TextField()), "contains", lowered)
    else:
        contains = Q(**{f"{field}__contains": term})
    name = field.rsplit("__", 1)[-1]
    if vendor == "sqlite" and indexed and name in _SQLITE_TEXT_INDEXES and len(term) >= 3:
        table, rows = _SQLITE_TEXT_INDEXES[name]
        if _sqlite_trigrams_rare(table, rows, lowered, using=using):
            # The rows whose text holds the query's trigrams in a row (SQLITE_TITLE_INDEX,
            # SQLITE_NAME_INDEX), checked again with the LIKE: the index finds, the LIKE decides.
            return Q(TrigramMatch(F(field), table, lowered)) & contains
    if vendor != "postgresql" or not indexed:
        return contains
    index = _GRAM_INDEXES.get(name, "")
    share = (lambda: estimated_share(term)) if index == _GRAM_INDEXES["name"] else None
    lookup = gram_lookup(query_grams(term), index=index, any_order=any_order, term_share=share, term=lowered)
    if lookup is None:
        return contains
    grams = _lookup(NameGrams(F(field)), "contains", lookup)
    if any_order and len(lowered) <= 2 and all(c.isascii() or c.lower() == c.upper() for c in term):
        # A text contains a term of one or two characters exactly when its grams hold
        # it: the index alone answers, with one estimate the planner can trust.
        return grams
    # The LIKE first (see _keys_contain_q). In a list in an order the LIKE stays even
    # for one or two characters: the two estimates multiplied make the planner expect
    # few matches, and so sort the matches it collected rather than walk the order's
    # index through what may be a long run of rows without one.
    return contains & grams


_GRAM_INDEXES = {"name": "enterprise_name_grams_idx", "title": "project_title_grams_idx"}
KEY_GRAMS_INDEX = "enterprise_key_grams_idx"
# A query whose rarest gram is in more than this share of the rows is common: it is
# looked up by a scan, not the index (see the module's text). About where a scan that
# stops at a page of matches and an index that first collects every match cost the same.
COMMON_SHARE = 0.01
# The same for a list in an order (the admin's, the API's) or a whole set (a subquery):
# the matches of a common term may sit together in the order (names starting with 太原
# come after every name starting with 上海), so a walk of the order's index can read most
# of the table before a page is full; collecting every match and sorting them costs
# less until they are most of the table.
ORDERED_COMMON_SHARE = 0.3
# In any order, a query of common grams is scanned for when it is estimated in at least
# this share of the rows itself (:func:`estimated_share`; five rows of the planner's
# sample of 1,000): a page of matches is then found within some 20,000 rows.
TERM_COMMON_SHARE = 0.0045
# A query is looked up by at most this many of its rarest grams, none in more than
# LOOKUP_SHARE of the rows: the index intersects them (walking the rarest, skipping
# through the others), and a further or a commoner gram costs more than it removes.
LOOKUP_GRAMS = 3
LOOKUP_SHARE = 0.1
# The shares are the planner's own statistics of the index (pg_stats), read once every
# few minutes per process.
_STATS_SECONDS = 600.0
_common: dict[str, tuple[float, dict[str, float]]] = {}


def gram_lookup(
    grams: list[str],
    *,
    index: str,
    any_order: bool = False,
    term_share: Callable[[], float] | None = None,
    term: str = "",
) -> list[str] | None:
    """The grams to look ``grams`` up by in ``index``: the rarest few; None when even
    the rarest is common (:data:`COMMON_SHARE` of the rows when the caller reads the
    first matches in any order, :data:`ORDERED_COMMON_SHARE` otherwise): a scan is cheaper.

    Common grams can make a rare query (``zhinengyuanyou``: every run of four letters
    in several percent of the directory, the whole in a few hundred rows), which a scan
    would read most of the table for. ``term_share`` estimates the query's own share
    (:func:`estimated_share`): in any order the scan is taken only when that is common too.

    Given the ``term`` the grams are runs of, grams from apart in it come first: runs
    that overlap are found together (``zhin``, ``hine``, ``inen`` are each in every
    name with 智能), so the index would intersect them to little effect."""
    if not index:
        return grams
    shares = _common_grams(index)
    ordered = sorted(grams, key=lambda g: (shares.get(g, 0.0), g))
    rarest = shares.get(ordered[0], 0.0)
    if any_order and term_share is not None:
        # Every gram is in at least the rows the query is in (the statistics list the
        # commonest grams only).
        share = term_share()
        if max(rarest, share) > COMMON_SHARE and share >= TERM_COMMON_SHARE:
            return None
    elif rarest > (COMMON_SHARE if any_order else ORDERED_COMMON_SHARE):
        return None
    usable = [g for g in ordered if shares.get(g, 0.0) <= LOOKUP_SHARE] or ordered[:1]
    if term:
        apart: list[str] = []
        spans: list[tuple[int, int]] = []
        for gram in usable:
            start = term.find(gram)
            # Apart: sharing at most one character with a gram already taken.
            if start >= 0 and all(start + len(gram) - 1 <= a or b - 1 <= start for a, b in spans):
                apart.append(gram)
                spans.append((start, start + len(gram)))
        usable = apart + [g for g in usable if g not in apart]
    return sorted(usable[:LOOKUP_GRAMS])


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
        shares = dict(zip(row[0], row[1], strict=False))
    _common[index] = (now, shares)
    return shares


def _lookup(expression: object, lookup: str, value: object) -> Q:
    if isinstance(expression, F):
        return Q(**{f"{expression.name}__{lookup}": value})
    lookup_class = expression.output_field.get_lookup(lookup)  # type: ignore[attr-defined]
    return Q(lookup_class(expression, value))


def search_enterprises(queryset: QuerySet, term: str) -> QuerySet:
    """Enterprises of ``queryset`` matching ``term``."""
    return queryset.filter(
        enterprise_search_q(term, vendor=_vendor(queryset), any_order=not queryset.ordered, using=queryset.db)
    )


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
    if vendor == "postgresql" and queryset.ordered and estimated_share(term, using=queryset.db) >= WALK_SHARE:
        # A common term in a list in an order: the list's index is walked and each project's
        # enterprise checked by its primary key (a scalar subquery, never hashed): a page is
        # full after a few thousand projects, where the matching enterprises are tens of
        # thousands to collect first.
        check = ExpressionWrapper(enterprise_search_q(term, vendor=vendor, indexed=False), output_field=BooleanField())
        matches = Subquery(
            Enterprise.objects.filter(pk=OuterRef("enterprise_id")).order_by().annotate(_match=check).values("_match"),
            output_field=BooleanField(),
        )
        enterprise = Q(matches)
    else:
        enterprise = Q(
            enterprise_id__in=Enterprise.objects.filter(
                enterprise_search_q(term, vendor=vendor, using=queryset.db)
            ).values("pk")
        )
    external = Q(external_id=term)
    if vendor == "sqlite":
        # The partial index of partner ids (empty ones left out) serves only a condition
        # that says so; with every part of the OR served by an index (the titles' and
        # the enterprises' by their trigram tables) SQLite reads the matches alone, where
        # one unserved part made it scan every project (a count of the search: 82 → 36 ms).
        external &= ~Q(external_id="")
    title = _contains_q("title", term, vendor=vendor, using=queryset.db)
    return queryset.filter(title | enterprise | external)


# A term whose matches are estimated at this share of the directory or more is common
# enough for a list in an order to be walked from its index rather than every match
# collected and sorted (ordered_page_rows, the project search): a page of 50 is full after
# some 5,000 rows, each as dear as a match collected; below it the walk may run long.
WALK_SHARE = 0.01
# The walk reads at most this many entries of the covering index (about 15 ms); a page
# it has not filled by then is read as before.
WALK_ROWS = 100_000
_histograms: dict[tuple[str, str], tuple[float, Any]] = {}


def estimated_share(term: str, *, using: str = "default") -> float:
    """The share of the directory an enterprise search for ``term`` matches, estimated
    from the planner's sample of names and keys (the histograms of ``pg_stats``, 1,000
    rows each); 0.0 where there is none (SQLite, a table not analysed)."""
    term = clean_term(term)
    compact = "".join(ascii_lower(term).split())
    if compact.isascii() and len(compact) >= 3:
        sample, needle = _histogram("search_keys", using), compact
    else:
        sample, needle = _histogram("name", using), ascii_lower(term)
    if not sample or not needle:
        return 0.0
    return sum(needle in value for value in sample) / len(sample)


def _histogram(column: str, using: str) -> list[str]:
    from django.db import connections

    now = time.monotonic()
    cached = _histograms.get((using, column))
    if cached is not None and now - cached[0] < _STATS_SECONDS:
        return cached[1]
    connection = connections[using]
    values: list[str] = []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT s.histogram_bounds::text::text[], c.reltuples FROM pg_stats s "
                "JOIN pg_class c ON c.relname = s.tablename AND c.relkind = 'r' "
                "WHERE s.tablename = 'crm_enterprise' AND s.attname = %s",
                [column],
            )
            row = cursor.fetchone()
        values = [ascii_lower(v) for v in (row[0] if row and row[0] else [])]
        _histograms[(using, "rows")] = (now, float(row[1]) if row else 0.0)
    _histograms[(using, column)] = (now, values)
    return values


def ordered_page_rows(base: QuerySet, term: str, ordered: QuerySet, *, offset: int, limit: int) -> list | None:
    """The rows of a page of the enterprise list searched for a common ``term`` in the name
    order, its ids walked from the covering index of that order (``enterprise_name_walk_idx``:
    name, id and the stored keys, no table row read), or None where the page is read as
    usual (another order, a filter, a rare term, a page the walk did not fill).

    ``base`` is the list before the search, ``ordered`` the searched list in its order.
    The first matches in the order are the page whatever else matches later, so the
    ids are exact; for a term of a few percent of the directory a page is full after
    a few thousand entries, where collecting and sorting every match reads a table row
    for each of tens of thousands.
    """
    from django.db import connections

    connection = connections[ordered.db]
    if connection.vendor != "postgresql" or base.model._meta.label != "crm.Enterprise" or base.query.where:
        return None
    if tuple(ordered.query.order_by) not in (("name", "-pk"), ("name", "-id")):
        return None
    condition = _walk_condition(term, connection)
    if condition is None or estimated_share(term, using=ordered.db) < WALK_SHARE:
        return None
    # The searched list is the base searched, nothing more (no filter, no other condition).
    if str(ordered.order_by().values("pk").query) != str(search_enterprises(base, term).order_by().values("pk").query):
        return None
    sql, params = condition
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.id FROM (SELECT id, name, search_keys FROM crm_enterprise ORDER BY name, id DESC LIMIT %s) e "
            f"WHERE {sql} ORDER BY e.name, e.id DESC LIMIT %s OFFSET %s",
            [WALK_ROWS, *params, limit, offset],
        )
        ids = [row[0] for row in cursor.fetchall()]
    if len(ids) < limit:
        return None
    # The rows by their ids, without the search's conditions (the ids are its matches):
    # checked again, the planner might collect every match of the index first.
    rows = ordered.order_by()
    rows.query.where = base.query.where.clone()
    by_pk = {row.pk: row for row in rows.filter(pk__in=ids)}
    return [by_pk[pk] for pk in ids if pk in by_pk]


def sqlite_page_rows(base: QuerySet, term: str, ordered: QuerySet, *, offset: int, limit: int) -> list | None:
    """The rows of a page of a searched list on SQLite, its ids read first (None elsewhere).

    Where every part of the search is served by an index SQLite reads the matches alone and
    sorts them; read with the page's joins and columns, every match is joined before the
    sort (a search of 4,000 projects: 68 ms), where its ids sort in a few milliseconds.
    The rows of those ids are then read without the search's conditions (the ids are its
    matches), as :func:`ordered_page_rows` does."""
    from django.db import connections

    if connections[ordered.db].vendor != "sqlite":
        return None
    ids = list(ordered.values_list("pk", flat=True)[offset : offset + limit])
    rows = ordered.order_by()
    rows.query.where = base.query.where.clone()
    by_pk = {row.pk: row for row in rows.filter(pk__in=ids)}
    return [by_pk[pk] for pk in ids if pk in by_pk]


def estimated_count(base: QuerySet, term: str) -> int | None:
    """How many enterprises of the directory match ``term`` (no filter, PostgreSQL),
    estimated from the sample of :func:`estimated_share`; None elsewhere."""
    from django.db import connections

    connection = connections[base.db]
    if connection.vendor != "postgresql" or base.model._meta.label != "crm.Enterprise" or base.query.where:
        return None
    share = estimated_share(term, using=base.db)
    if not share:
        return None
    rows = _histograms.get((base.db, "rows"), (0.0, 0.0))[1]
    return round(share * rows) if rows > 0 else None


def _walk_condition(term: str, connection: object) -> tuple[str, list[str]] | None:
    """:func:`enterprise_search_q` on the walk's columns (name, stored keys), or None for
    a term that needs others (credit codes, initials by prefix, case beyond ASCII)."""
    term = clean_term(term)
    if not term or (_CREDIT_PREFIX.fullmatch(term) and any(c.isdigit() for c in term)):
        return None
    like = connection.ops.prep_for_like_query  # type: ignore[attr-defined]
    compact = "".join(ascii_lower(term).split())
    if compact.isascii() and "|" not in compact:
        return ("e.search_keys LIKE %s", [f"%{like(compact)}%"]) if len(compact) >= 3 else None
    lowered = ascii_lower(term)
    if lowered != term.lower():
        return None
    if any("a" <= c <= "z" for c in lowered):
        return "lower(e.name) LIKE %s", [f"%{like(lowered)}%"]
    return "e.name LIKE %s", [f"%{like(term)}%"]


def _vendor(queryset: QuerySet) -> str:
    from django.db import connections

    return connections[queryset.db].vendor
