"""Shared machinery for the benchmark cases: Django set-up on a bench database, timing."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    os.environ["DATABASE_URL"] = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chain_recruit_bench"
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        _ensure_database()
    call_command("migrate", verbosity=0)


def _ensure_database() -> None:
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    name = connection.settings_dict["NAME"]
    params["dbname"] = "postgres"
    with psycopg.connect(**params, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def analyze() -> None:
    """Refresh the planner's statistics of the bench database after building its data.

    In production autovacuum does this in the background; a server with autovacuum
    off (some CI machines) would otherwise plan every query on empty statistics.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # SQLite too: its planner reads sqlite_stat1


def timeit(fn: Callable[[], object], *, repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn`` in seconds over ``repeat`` runs after ``warmup``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def percentile(values: list[float], p: float) -> float:
    """The value at ``p`` (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def row(case: str, ours: float, baseline: float, baseline_name: str, **extra: object) -> dict[str, object]:
    return {
        "case": case,
        "ours_ms": f"{ours * 1000:.1f}",
        f"{baseline_name}_ms": f"{baseline * 1000:.1f}",
        "ratio": f"{ours / baseline:.2f}" if baseline else "n/a",
        **extra,
    }
