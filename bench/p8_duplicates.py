"""P8 duplicate check on create at 1,000,000 enterprises: ``enterprise_duplicates_of`` against its bare lookups.

What the admin's add form asks before an enterprise is created: live enterprises
with the same credit code, the same normalised name or the same pinyin. Three
kinds of entry, 40 each, drawn from the generated directory (``bench/generate.py``):

* ``existing``: a directory enterprise's own name and credit code (it is found);
* ``renamed``: its name with spaces around it and its legal form written the other
  way (``有限公司`` / ``有限责任公司``), no credit code: found by the normalised name;
* ``new``: a name and a valid credit code nobody has (nothing is found).

``ours`` is the whole call (names normalised and converted to pinyin in Python, one
query, rows read by the ORM); the baseline ``lookups`` is the same three equality
lookups as bare SQL on ids. Median and p95 per kind after a warm-up pass. Target:
p95 <= 50 ms. ``--quick``: 100,000 enterprises.
"""

from __future__ import annotations

import random
import statistics
import time
from argparse import Namespace

SEED = 13
PER_KIND = 40
TARGET_MS = 50.0

LOOKUPS_SQL = """
SELECT id FROM crm_enterprise
WHERE (name_normalized = %s OR name_pinyin = %s OR credit_code = %s) AND merged_into_id IS NULL
LIMIT 10
"""


def _renamed(name: str) -> str:
    for old, new in (("股份有限公司", "股份有限责任公司"), ("有限责任公司", "有限公司"), ("有限公司", "有限责任公司")):
        if name.endswith(old):
            return f" {name[: -len(old)]}{new} "
    return f" {name}（分公司） "


def run(args: Namespace) -> list[dict[str, object]]:
    from django.db import connection

    from bench.generate import credit_code, directory_sample, ensure_directory
    from bench.harness import percentile
    from crm.duplicates import enterprise_duplicates_of
    from crm.names import name_pinyin, normalize_name

    quick = bool(getattr(args, "quick", False))
    n = 100_000 if quick else 1_000_000
    directory = ensure_directory(n_enterprises=n, n_projects=n // 10)
    rng = random.Random(SEED)
    sample = directory_sample("name, credit_code", n=PER_KIND * 2, seed=13, where="AND credit_code IS NOT NULL")
    entries: dict[str, list[tuple[str, str | None]]] = {
        "existing": sample[:PER_KIND],
        "renamed": [(_renamed(name), None) for name, _code in sample[PER_KIND:]],
        "new": [
            # A region code the directory does not use: the credit code is nobody's.
            (f"{name[:2]}新晟{rng.randint(1000, 9999)}精密材料有限公司", credit_code("149999", rng.randrange(10**7)))
            for name, _code in sample[:PER_KIND]
        ],
    }

    def ours(name: str, code: str | None) -> list[object]:
        return list(enterprise_duplicates_of(name=name, credit_code=code))

    def lookups(name: str, code: str | None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(LOOKUPS_SQL, [normalize_name(name), name_pinyin(name), code])
            cursor.fetchall()

    def timed(fn, name: str, code: str | None) -> float:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        fn(name, code)
        return (time.perf_counter() - start) * 1000

    for kind_entries in entries.values():  # warm-up
        for name, code in kind_entries:
            ours(name, code)
            lookups(name, code)
    rows: list[dict[str, object]] = []
    for kind, kind_entries in entries.items():
        ours_ms = [timed(ours, name, code) for name, code in kind_entries]
        bare_ms = [timed(lookups, name, code) for name, code in kind_entries]
        found = sum(1 for name, code in kind_entries if ours(name, code))
        p95 = percentile(ours_ms, 0.95)
        rows.append(
            {
                "case": f"duplicate check, {kind} (x{len(kind_entries)}, e.g. {kind_entries[0][0].strip()!r})",
                "ours_median_ms": f"{statistics.median(ours_ms):.1f}",
                "ours_p95_ms": f"{p95:.1f}",
                "lookups_median_ms": f"{statistics.median(bare_ms):.1f}",
                "lookups_p95_ms": f"{percentile(bare_ms, 0.95):.1f}",
                "found": f"{found}/{len(kind_entries)}",
                "target_p95_ms": f"<= {TARGET_MS:.0f}",
                **({"enterprises": directory.enterprises} if not rows else {}),
            }
        )
    return rows
