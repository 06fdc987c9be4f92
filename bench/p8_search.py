"""P8 search at 1,000,000 enterprises: crm.search against the bare index query and an ILIKE scan.

200 queries drawn from the generated directory (``bench/generate.py``), 40 of each
kind: one or two characters of a name, three to six characters of a name, pinyin
typed without spaces (part of a name's pinyin), initials (part of them), a credit
code's prefix. Each query asks for the first 100 matching rows:

* ``ours``: ``search_enterprises`` (the service the admin, the API and the
  candidate search call), the ids of the first 100 matches: what the limit reads,
  so the two differ by the search alone (its choice of index or scan, its checks);
* ``rows``: the same with the whole rows as the ORM builds them (the model
  instances cost about 15 µs each in Python whatever found them), for information;
* ``limit``: the bare index query: only the indexed condition of the same kind
  (``cr_name_grams(name) @> …``, ``cr_key_grams(…) @> …``, the prefix ``LIKE``), ids only,
  nothing verified — what the index alone costs;
* ``ilike``: the scan the index replaces (``name ILIKE '%…%' OR …`` over every
  column), on ten queries of each kind (a scan of a million rows costs seconds).

Median and p95 per kind, after one warm-up pass. Target: p95 ≤ 30 ms for one or
two characters, ≤ 10 ms otherwise, and ≤ 2× the limit. ``--quick``: 100,000
enterprises.
"""

from __future__ import annotations

import random
import statistics
import time
from argparse import Namespace
from collections.abc import Callable

SEED = 8
PER_KIND = 40
BASELINE_PER_KIND = 10


def draw_queries(rng: random.Random, rows: list[tuple[str, str, str, str]]) -> dict[str, list[str]]:
    """Queries of every kind from sample rows (name, pinyin, initials, credit code)."""
    kinds: dict[str, list[str]] = {"1-2 chars": [], "3+ chars": [], "pinyin": [], "initials": [], "credit prefix": []}
    for i, (name, pinyin, initials, code) in enumerate(rows[: PER_KIND * 5]):
        kind = list(kinds)[i % 5]
        if kind == "1-2 chars":
            n = 1 + (i // 5) % 2
            start = rng.randrange(0, len(name) - n + 1)
            kinds[kind].append(name[start : start + n])
        elif kind == "3+ chars":
            n = rng.randint(3, min(6, len(name)))
            start = rng.randrange(0, len(name) - n + 1)
            kinds[kind].append(name[start : start + n])
        elif kind == "pinyin":
            syllables = pinyin.split()
            start = rng.randrange(0, max(1, len(syllables) - 2))
            kinds[kind].append("".join(syllables[start : start + rng.randint(2, 4)]))
        elif kind == "initials":
            n = min(len(initials), rng.randint(3, 5))
            start = rng.randrange(0, len(initials) - n + 1)
            kinds[kind].append(initials[start : start + n])
        else:
            kinds[kind].append(code[: rng.randint(6, 12)])
    return kinds


def _bare_sql(kind: str, term: str) -> tuple[str, list[object]]:
    from crm.search import KEY_GRAMS_INDEX, KEYS_SQL, ascii_lower, gram_lookup, key_query_grams, query_grams

    if kind in ("1-2 chars", "3+ chars"):
        return "SELECT id FROM crm_enterprise WHERE cr_name_grams(name) @> %s::text[] LIMIT 100", [query_grams(term)]
    if kind in ("pinyin", "initials"):
        grams = key_query_grams(ascii_lower(term))
        return (
            f"SELECT id FROM crm_enterprise WHERE cr_key_grams({KEYS_SQL}) @> %s::text[] LIMIT 100",
            [gram_lookup(grams, index=KEY_GRAMS_INDEX, any_order=True) or grams],
        )
    return "SELECT id FROM crm_enterprise WHERE credit_code LIKE %s LIMIT 100", [f"{term}%"]


ILIKE_SQL = """
SELECT id FROM crm_enterprise
WHERE name ILIKE %(c)s OR name_en ILIKE %(c)s OR name_pinyin ILIKE %(c)s
   OR REPLACE(name_pinyin, ' ', '') ILIKE %(c)s OR name_initials ILIKE %(c)s OR credit_code ILIKE %(p)s
LIMIT 100
"""


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(args: Namespace) -> list[dict[str, object]]:
    from django.db import connection

    from bench.generate import directory_sample, ensure_directory
    from bench.harness import percentile
    from crm.models import Enterprise
    from crm.search import search_enterprises

    quick = bool(getattr(args, "quick", False))
    n = 100_000 if quick else 1_000_000
    directory = ensure_directory(n_enterprises=n, n_projects=n // 10)
    rng = random.Random(SEED)
    sample = directory_sample("name, name_pinyin, name_initials, credit_code", n=PER_KIND * 5, seed=8)
    queries = draw_queries(rng, sample)

    def ours(term: str) -> Callable[[], object]:
        return lambda: list(search_enterprises(Enterprise.objects.order_by(), term).values_list("pk", flat=True)[:100])

    def whole(term: str) -> Callable[[], object]:
        return lambda: list(search_enterprises(Enterprise.objects.order_by(), term)[:100])

    def bare(kind: str, term: str) -> Callable[[], object]:
        sql, params = _bare_sql(kind, term)

        def go() -> None:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                cursor.fetchall()

        return go

    def ilike(term: str) -> Callable[[], object]:
        def go() -> None:
            with connection.cursor() as cursor:
                cursor.execute(ILIKE_SQL, {"c": f"%{term}%", "p": f"{term}%"})
                cursor.fetchall()

        return go

    for kind, terms in queries.items():  # warm-up
        for term in terms:
            ours(term)()
            whole(term)()
            bare(kind, term)()
    rows: list[dict[str, object]] = []
    for kind, terms in queries.items():
        ours_ms = [_time(ours(t)) * 1000 for t in terms]
        rows_ms = [_time(whole(t)) * 1000 for t in terms]
        bare_ms = [_time(bare(kind, t)) * 1000 for t in terms]
        scan_ms = [_time(ilike(t)) * 1000 for t in terms[:BASELINE_PER_KIND]]
        hits = statistics.median(len(search_enterprises(Enterprise.objects.order_by(), t)[:100]) for t in terms)
        target = 30 if kind == "1-2 chars" else 10
        p95, limit_p95 = percentile(ours_ms, 0.95), percentile(bare_ms, 0.95)
        rows.append(
            {
                "case": f"search {kind} (x{len(terms)}, e.g. {terms[0]!r})",
                "ours_median_ms": f"{statistics.median(ours_ms):.1f}",
                "ours_p95_ms": f"{p95:.1f}",
                "limit_median_ms": f"{statistics.median(bare_ms):.1f}",
                "limit_p95_ms": f"{limit_p95:.1f}",
                "rows_median_ms": f"{statistics.median(rows_ms):.1f}",
                "rows_p95_ms": f"{percentile(rows_ms, 0.95):.1f}",
                "ilike_median_ms": f"{statistics.median(scan_ms):.1f}",
                "ilike_p95_ms": f"{percentile(scan_ms, 0.95):.1f}",
                "p95_vs_limit": f"{p95 / limit_p95:.2f}" if limit_p95 else "n/a",
                "target_p95_ms": f"<= {target}",
                "median_hits": hits,
                **({"enterprises": directory.enterprises} if not rows else {}),
            }
        )
    return rows
