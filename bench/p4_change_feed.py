"""P4: draining 100,000 changes from GET /api/v1/changes/ in pages of 1000.

Ours: the full stack through Django's test client, page after page with
``after=<next>`` until an empty page: key, throttle, the keyset query with its
visibility horizon, and the answer spliced from the stored JSON.
Baseline measured in the same run (the limit): the same keyset query with psycopg,
page after page, ``data`` read as psycopg reads jsonb (parsed). Target: ours at
least 0.3x its throughput.

The feed of the bench database is emptied and refilled with 100,000 entries of one
office (contact renderings), written as committed history far below any running
transaction.
"""

from __future__ import annotations

import argparse
import uuid

import orjson

from bench.harness import analyze, row, timeit
from crm.changes import HORIZON_SQL

OFFICE = "bench-p4"
TOTAL = 100_000
PAGE = 1000

KEYSET = f"""
SELECT txid, seq, type, object_id, op, data FROM crm_changeentry
WHERE txid < {HORIZON_SQL}
  AND (txid, seq) > (%s, %s) AND (office_id IS NULL OR office_id IN (%s))
ORDER BY txid, seq LIMIT %s
"""


def _fill(office_id: int, total: int) -> None:
    from django.db import connection, transaction

    sample = {
        "external_id": "C-0",
        "version": 3,
        "created_at": "2026-03-01T02:00:00.000000Z",
        "updated_at": "2026-03-02T08:30:00.123456Z",
        "office": OFFICE,
        "enterprise": str(uuid.uuid4()),
        "name": "张三",
        "title": "总经理",
        "phone": "13800000000",
        "email": "zhang.san@example.cn",
        "wechat": "zhangsan",
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE crm_changeentry")
        cursor.execute(
            """
            INSERT INTO crm_changeentry (type, object_id, office_id, op, data, changed_at, txid, seq)
            SELECT 'contact', id, %s, 'upsert', (%s::jsonb || jsonb_build_object('id', id::text)), now(), 1 + n / 50, n
            FROM (SELECT n, gen_random_uuid() AS id FROM generate_series(1, %s) AS n) AS g
            """,
            [office_id, orjson.dumps(sample).decode(), total],
        )


def _drain_ours(client, auth: dict[str, str]) -> int:  # type: ignore[no-untyped-def]
    seen, after = 0, None
    while True:
        url = f"/api/v1/changes/?limit={PAGE}" + (f"&after={after}" if after else "")
        body = orjson.loads(client.get(url, **auth).content)
        if not body["results"]:
            return seen
        seen += len(body["results"])
        after = body["next"]


def _drain_raw(conn, office_id: int) -> int:  # type: ignore[no-untyped-def]
    seen, position = 0, (-1, -1)
    while True:
        rows = conn.execute(KEYSET, [position[0], position[1], office_id, PAGE]).fetchall()
        if not rows:
            return seen
        seen += len(rows)
        position = (rows[-1][0], rows[-1][1])


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    import psycopg
    from django.db import connection
    from django.test import Client, override_settings

    from api.api_keys import api_key_create
    from crm.models import Office

    total = 20_000 if args.quick else TOTAL
    office, _ = Office.objects.get_or_create(code=OFFICE, defaults={"name": "P4 bench office", "kind": "partner"})
    _fill(office.pk, total)
    analyze()
    key = api_key_create(office=office, label="bench").raw
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    client = Client()
    repeat = 1 if args.quick else 3
    with (
        override_settings(API_THROTTLE_RATE="100000000/min"),
        psycopg.connect(**connection.get_connection_params()) as raw,
    ):
        raw.autocommit = True
        assert _drain_ours(client, auth) == total == _drain_raw(raw, office.pk)
        ours = timeit(lambda: _drain_ours(client, auth), repeat=repeat, warmup=0)
        limit = timeit(lambda: _drain_raw(raw, office.pk), repeat=repeat, warmup=0)
    return [
        row(
            f"P4 drain {total} changes in pages of {PAGE} vs raw keyset query",
            ours,
            limit,
            "keyset",
            ours_rows_per_s=f"{total / ours:.0f}",
            keyset_rows_per_s=f"{total / limit:.0f}",
            throughput_ratio=f"{limit / ours:.2f}",
            target="throughput_ratio>=0.30",
        )
    ]
