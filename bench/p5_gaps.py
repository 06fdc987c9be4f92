"""Gap analysis at scale: zone-wide gaps for every chain and the park × chain list, 100k enterprises.

Builds (once; reused when present with the same size) 100,000 enterprises with one
to three capabilities, 10,000 presences in the Taixin parks and 10,000 projects
with one or two target stages, written with COPY on the bench database, then
VACUUM ANALYZE (the steady state autovacuum keeps: statistics fresh, visibility map
set for index-only scans). Times the zone-wide analysis as a map needs it (exact
counts, ``sample=0``: the P5 target), with a sample of ten per row and with
complete lists; per chain; the park × chain list (counts, and complete as the API
reads it); one park; the detail of one stage; the candidates for one gap — with
their query counts. The baseline is one raw SQL aggregate over the same tables
that computes only the counts per park and stage (no lists, no Python rows).
``--quick``: a tenth.

On a shared machine wall times follow the load (printed with the first row).
``cpu_ms`` is less sensitive: the CPU time of one call in this process plus the
PostgreSQL backend serving it, read from /proc (parallel query workers not
included; "n/a" when the server is not on this machine).
"""

from __future__ import annotations

import os
import random
import uuid
from argparse import Namespace
from collections.abc import Callable, Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

TARGET_MS = 50.0
SEED = 5  # fixed: the same data on every build


def _copy(model: Any, rows: Iterable[dict[str, Any]]) -> int:
    """COPY ``rows`` (attname → value) into ``model``'s table; missing columns get the field default."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    n = 0
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[f.attname] if f.attname in row else f.get_default() for f in fields])
                n += 1
    return n


def _office_code(n_enterprises: int) -> str:
    return f"bench-p5-{n_enterprises}"


def _wipe() -> None:
    """Remove any earlier p5 data set (another size), in dependency order, with plain SQL."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM crm_office WHERE code LIKE 'bench-p5-%%'")
        office_ids = [r[0] for r in cursor.fetchall()]
        if not office_ids:
            return
        statements = [
            "DELETE FROM recruitment_project_stages WHERE project_id IN "
            "(SELECT id FROM recruitment_project WHERE office_id = ANY(%s))",
            "DELETE FROM recruitment_project WHERE office_id = ANY(%s)",
            "DELETE FROM crm_presence WHERE enterprise_id IN (SELECT id FROM crm_enterprise WHERE office_id = ANY(%s))",
            "DELETE FROM crm_enterprise_stages WHERE enterprise_id IN "
            "(SELECT id FROM crm_enterprise WHERE office_id = ANY(%s))",
            "DELETE FROM crm_enterprise WHERE office_id = ANY(%s)",
            "DELETE FROM crm_office WHERE id = ANY(%s)",
        ]
        for sql in statements:
            cursor.execute(sql, [office_ids])


def ensure_data(*, n_enterprises: int, n_projects: int, n_presences: int) -> dict[str, int]:
    """Build the data set unless it is already there; returns its sizes."""
    from django.db import connection, transaction
    from django.utils import timezone

    from chains.models import Park, Stage
    from crm.models import Enterprise, Office, Presence
    from recruitment.models import Project
    from recruitment.pipeline import Status
    from seeds.reference_loader import load_reference

    load_reference()
    code = _office_code(n_enterprises)
    office = Office.objects.filter(code=code).first()
    if office is not None and Project.objects.filter(office__code__startswith="bench-p5-").count() == n_projects:
        return {"enterprises": n_enterprises, "projects": n_projects, "presences": n_presences, "built": 0}

    rng = random.Random(SEED)
    now = timezone.now()
    with transaction.atomic():
        _wipe()
        offices = [
            Office.objects.create(code=f"{code}-{i}" if i else code, name=f"基准办公室{i}", kind=kind)
            for i, kind in enumerate(["provincial", "park", "park", "partner", "partner"])
        ]
        stages = list(Stage.objects.values_list("id", "chain_id"))
        parks = list(Park.objects.filter(zone__code="taixin").values_list("id", flat=True))
        ownerships = [c for c, _label in Enterprise.Ownership.choices]

        enterprise_ids = []

        def enterprises():  # type: ignore[no-untyped-def]
            for i in range(n_enterprises):
                pk = uuid.UUID(int=rng.getrandbits(128), version=4)
                enterprise_ids.append(pk)
                yield {
                    "id": pk,
                    "office_id": offices[i % len(offices)].pk,
                    "external_id": f"bench-{i}",
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                    "name": f"基准企业{i:06d}有限公司",
                    "ownership": ownerships[i % len(ownerships)],
                    "registered_capital": Decimal(rng.randrange(1, 10_000)) * 1_000_000,
                    "name_pinyin": f"ji zhun qi ye {i:06d}",
                    "name_normalized": f"基准企业{i:06d}",
                }

        _copy(Enterprise, enterprises())

        through = Enterprise.stages.through

        with connection.cursor() as cursor:
            # The through table's id is a serial: let the database number the rows.
            with cursor.cursor.copy(f"COPY {through._meta.db_table} (enterprise_id, stage_id) FROM STDIN") as copy:
                for pk in enterprise_ids:
                    for stage_id, _chain in rng.sample(stages, rng.randint(1, 3)):
                        copy.write_row([pk, stage_id])

        seen: set[tuple[Any, int, int]] = set()

        def presences():  # type: ignore[no-untyped-def]
            while len(seen) < n_presences:
                key = (rng.choice(enterprise_ids), rng.choice(parks), rng.choice(stages)[0])
                if key in seen:
                    continue
                seen.add(key)
                yield {
                    "enterprise_id": key[0],
                    "park_id": key[1],
                    "stage_id": key[2],
                    "status": "operating",
                    "created_at": now,
                    "updated_at": now,
                }

        presence_fields = [f for f in Presence._meta.concrete_fields if f.attname != "id"]
        with connection.cursor() as cursor:
            cols = ", ".join(f.column for f in presence_fields)
            with cursor.cursor.copy(f"COPY {Presence._meta.db_table} ({cols}) FROM STDIN") as copy:
                for row in presences():
                    copy.write_row([row.get(f.attname, f.get_default()) for f in presence_fields])

        statuses = Status.values
        project_ids = []

        def projects():  # type: ignore[no-untyped-def]
            for i in range(n_projects):
                pk = uuid.UUID(int=rng.getrandbits(128), version=4)
                project_ids.append(pk)
                yield {
                    "id": pk,
                    "office_id": offices[i % len(offices)].pk,
                    "external_id": f"bench-{i}",
                    "version": 1,
                    "created_at": now - timedelta(days=rng.randrange(0, 700)),
                    "updated_at": now,
                    "title": f"基准项目{i:05d}",
                    "enterprise_id": rng.choice(enterprise_ids),
                    "park_id": rng.choice(parks),
                    "status": statuses[i % len(statuses)],
                    "status_changed_at": now,
                    "priority": "normal",
                }

        _copy(Project, projects())
        with connection.cursor() as cursor:
            table = Project.stages.through._meta.db_table
            with cursor.cursor.copy(f"COPY {table} (project_id, stage_id) FROM STDIN") as copy:
                for pk in project_ids:
                    for stage_id, _chain in rng.sample(stages, rng.randint(1, 2)):
                        copy.write_row([pk, stage_id])
        with connection.cursor() as cursor:
            for table in (
                "chains_park",
                "chains_stage",
                "chains_chainpark",
                "crm_enterprise",
                "crm_enterprise_stages",
                "crm_presence",
                "recruitment_project",
                "recruitment_project_stages",
            ):
                cursor.execute(f"ANALYZE {table}")
    return {"enterprises": n_enterprises, "projects": n_projects, "presences": n_presences, "built": 1}


def _vacuum() -> None:
    """VACUUM ANALYZE the tables the analysis reads (outside any transaction)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (
            "crm_enterprise",
            "crm_enterprise_stages",
            "crm_presence",
            "crm_interaction",
            "recruitment_project",
            "recruitment_project_stages",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")


BASELINE_SQL = """
WITH pres AS (
    SELECT pr.park_id, pr.stage_id, COUNT(DISTINCT pr.enterprise_id) AS n
    FROM crm_presence pr
    JOIN crm_enterprise e ON e.id = pr.enterprise_id AND e.merged_into_id IS NULL
    JOIN chains_park pk ON pk.id = pr.park_id AND pk.zone_id = %(zone)s
    GROUP BY pr.park_id, pr.stage_id
), proj AS (
    SELECT p.park_id, ps.stage_id,
           COUNT(*) FILTER (WHERE p.status = ANY(%(filling)s)) AS filling,
           COUNT(*) FILTER (WHERE NOT p.status = ANY(%(closed)s)) AS open
    FROM recruitment_project_stages ps
    JOIN recruitment_project p ON p.id = ps.project_id
    JOIN chains_park pk ON pk.id = p.park_id AND pk.zone_id = %(zone)s
    GROUP BY p.park_id, ps.stage_id
)
SELECT s.id, pk.id, COALESCE(pres.n, 0), COALESCE(proj.filling, 0), COALESCE(proj.open, 0)
FROM chains_stage s
CROSS JOIN chains_park pk
LEFT JOIN pres ON pres.stage_id = s.id AND pres.park_id = pk.id
LEFT JOIN proj ON proj.stage_id = s.id AND proj.park_id = pk.id
WHERE pk.zone_id = %(zone)s
"""


def _cpu_ms(fn: Callable[[], object]) -> str:
    """Mean CPU milliseconds of one call: this process plus its database backend."""
    import time

    from django.db import connection

    connection.ensure_connection()
    if connection.vendor != "postgresql":  # SQLite runs in this process: its time is ours

        def backend() -> float:
            return 0.0
    else:
        path = f"/proc/{connection.connection.info.backend_pid}/stat"
        if not os.path.exists(path):
            return "n/a"
        tick = os.sysconf("SC_CLK_TCK")

        def backend() -> float:
            return _proc_cpu(path, tick)

    # Clock ticks are 10 ms: enough calls for the sum to mean something.
    calls, started = 0, time.perf_counter()
    before = backend() + time.process_time()
    while calls < 5 or (calls < 50 and time.perf_counter() - started < 2.0):
        fn()
        calls += 1
    return f"{(backend() + time.process_time() - before) / calls * 1000:.1f}"


def _proc_cpu(path: str, tick: int) -> float:
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick  # utime + stime


def _queries(fn: Callable[[], object]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def run(args: Namespace) -> list[dict[str, object]]:
    from django.db import connection

    from bench.harness import row, timeit
    from chains.models import Chain, Park, Stage, Zone
    from crm.models import Office
    from recruitment.gaps import gap_candidates, gap_stage_detail, gaps_for_park, gaps_for_zone, gaps_list
    from recruitment.pipeline import CLOSED, SIGNED_OR_LATER

    quick = bool(getattr(args, "quick", False))
    n_enterprises = 10_000 if quick else 100_000
    sizes = ensure_data(
        n_enterprises=n_enterprises,
        n_projects=1_000 if quick else 10_000,
        n_presences=1_000 if quick else 10_000,
    )
    _vacuum()
    zone = Zone.objects.get(code="taixin")
    chains = list(Chain.objects.filter(zone=zone))
    park = Park.objects.get(code="zhongbei")
    stage = Stage.objects.get(code="ss-deep-processing")
    office = Office.objects.get(code=_office_code(n_enterprises))

    def baseline() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                BASELINE_SQL, {"zone": zone.pk, "filling": sorted(SIGNED_OR_LATER), "closed": sorted(CLOSED)}
            )
            cursor.fetchall()

    def zone_every_chain() -> None:
        for chain in chains:
            gaps_for_zone(zone=zone, chain=chain, sample=0)

    cases: list[tuple[str, Callable[[], object]]] = [
        ("gaps_for_zone all chains, counts (sample=0)", lambda: gaps_for_zone(zone=zone, sample=0)),
        (f"gaps_for_zone per chain, counts (x{len(chains)})", zone_every_chain),
        ("gaps_for_zone all chains, sample=10", lambda: gaps_for_zone(zone=zone, sample=10)),
        ("gaps_for_zone all chains, complete lists", lambda: gaps_for_zone(zone=zone)),
        ("gaps_list all parks, counts (sample=0)", lambda: gaps_list(sample=0)),
        ("gaps_list all parks, complete lists", lambda: gaps_list()),
        ("gaps_for_park zhongbei, counts (sample=0)", lambda: gaps_for_park(park=park, sample=0)),
        ("gap_stage_detail zone/ss-deep-processing", lambda: gap_stage_detail(park_or_zone=zone, stage=stage)),
        ("gap_stage_detail zhongbei/ss-deep-processing", lambda: gap_stage_detail(park_or_zone=park, stage=stage)),
        ("gap_candidates zhongbei/ss-deep-processing", lambda: gap_candidates(park=park, stage=stage, office=office)),
    ]
    base = timeit(baseline, repeat=7)
    rows = []
    for name, fn in cases:
        ours = timeit(fn, repeat=7)
        rows.append(
            row(
                name,
                ours,
                base,
                "raw_sql_aggregate",
                queries=_queries(fn),
                cpu_ms=_cpu_ms(fn),
                **(
                    {
                        "target_ms": f"<= {TARGET_MS:.0f}",
                        "data": "{enterprises} ent / {projects} proj / {presences} pres".format(**sizes),
                        "load_avg": f"{os.getloadavg()[0]:.1f}",
                    }
                    if not rows
                    else {}
                ),
            )
        )
    return rows
