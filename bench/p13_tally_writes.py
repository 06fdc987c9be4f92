"""P13: what the pipeline tally's triggers add to a write, against the same writes without them.

On the P9 directory (``ensure_directory``; ``BENCH_P13_SIZES="100000,100000"`` for other
sizes, as SQLite is measured), in one transaction that is rolled back at the end:
status changes, amount changes and new stage links, one row per statement, on open
projects, first with the triggers (the tally's and the last touch's), then, with the
triggers dropped (SQLite) or disabled (PostgreSQL) inside the same transaction, the
same writes on other projects of the same kind. Nothing is left behind. ``--quick``:
a fifth of the writes.
"""

from __future__ import annotations

import os
import time
from argparse import Namespace
from collections.abc import Callable
from typing import Any

# The tables whose triggers keep the tally and the last touch.
TRIGGER_TABLES = ("recruitment_project", "recruitment_project_stages")


def _timed(write: Callable[[Any], None], ids: list[Any]) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for pk in ids:
            write(cursor, pk)
    return time.perf_counter() - started


def _triggers_off(cursor: Any) -> None:
    from django.db import connection

    from recruitment import tally_sqlite

    if connection.vendor == "sqlite":
        tally_sqlite.uninstall(cursor)
    else:
        # The deferred foreign-key checks of the writes so far run now: a table with pending
        # trigger events cannot be altered. The foreign keys stay checked without the triggers.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in TRIGGER_TABLES:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")


def run(args: Namespace) -> list[dict[str, object]]:
    from django.db import connection, transaction

    from bench.generate import ensure_directory
    from bench.harness import row
    from recruitment.pipeline import CLOSED

    quick = bool(getattr(args, "quick", False))
    n = 1_000 if quick else 5_000
    sizes = os.environ.get("BENCH_P13_SIZES")
    n_enterprises, n_projects = (int(v) for v in sizes.split(",")) if sizes else (1_000_000, 100_000)
    ensure_directory(n_enterprises=n_enterprises, n_projects=n_projects)
    closed = ", ".join(f"'{status}'" for status in sorted(CLOSED))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM recruitment_project WHERE status NOT IN ({closed}) AND status <> 'screening' "
            "ORDER BY id LIMIT %s",
            [4 * n],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
        cursor.execute("SELECT MAX(id) FROM chains_stage")
        (stage,) = cursor.fetchone()
    # The two halves of each kind of write: with the triggers, then without.
    with_, without = ids[0::2], ids[1::2]

    def status(cursor: Any, pk: Any) -> None:
        cursor.execute("UPDATE recruitment_project SET status = 'screening' WHERE id = %s", [pk])

    def amount(cursor: Any, pk: Any) -> None:
        cursor.execute(
            "UPDATE recruitment_project SET planned_investment = COALESCE(planned_investment, 0) + 1 WHERE id = %s",
            [pk],
        )

    def link(cursor: Any, pk: Any) -> None:
        cursor.execute(
            "INSERT INTO recruitment_project_stages (project_id, stage_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            [pk, stage],
        )

    cases = [("status changes", status), ("amount changes", amount), ("stage links", link)]
    timings: dict[str, tuple[float, float]] = {}
    with transaction.atomic():
        on = {name: _timed(write, with_[:n]) for name, write in cases}
        with connection.cursor() as cursor:
            _triggers_off(cursor)
        off = {name: _timed(write, without[:n]) for name, write in cases}
        timings = {name: (on[name], off[name]) for name, _write in cases}
        transaction.set_rollback(True)
    rows = []
    for name, (ours, base) in timings.items():
        rows.append(
            row(
                f"{n} {name}",
                ours,
                base,
                "without_triggers",
                us_per_write=f"{ours / n * 1e6:.0f}",
                **({"data": f"{n_projects} projects on {connection.vendor}"} if not rows else {}),
            )
        )
    return rows
