"""P2: 10,000 enterprises upserted through POST /api/v1/enterprises/bulk/ in 10 requests of 1000.

Ours: the full stack through Django's test client: validation of every item,
credit codes, pinyin, set-based insert, history rows (many-to-many included),
versions and change-feed entries, one transaction per request.
Baseline measured in the same run (the limit): the same 10,000 rows COPYed into a
staging table and moved with ``INSERT … ON CONFLICT`` in raw SQL, in 10 batches of
1000, one transaction each; it writes the enterprise rows only (no stages, no
history, no feed). Target: ours at most 3x its time.

Every repetition creates 10,000 new enterprises (fresh external ids and credit codes)
with names as partners send them: Chinese characters only (one run for pinyin to
segment), drawn from a few hundred thousand combinations.
"""

from __future__ import annotations

import argparse
import itertools
import random
import uuid
from typing import Any

import orjson

from bench.harness import analyze, row, timeit

OFFICE = "bench-p2"
TOTAL = 10_000
BATCH = 1000
_counter = itertools.count()
_OWNERSHIP = ["state", "private", "foreign", "joint_venture", "other"]
_CITIES = ["太原", "忻州", "原平", "阳曲"]
_WORDS = "华晋泰鑫源丰恒盛达宏兴隆昌瑞祥德信诚安康明辉光耀金锦绣嘉和天宇龙凤腾飞远航海川河岳峰林森博创智汇通联合力佳美润泽永益"
_TRADES = ["新材料科技", "特钢制品", "碳纤维复合材料", "生物基聚酰胺", "精密机械", "化工", "装备制造", "新能源"]
_rng = random.Random(2022)


def _name(n: int) -> str:
    pick = _rng.choice
    return f"山西{_CITIES[n % 4]}{pick(_WORDS)}{pick(_WORDS)}{pick(_WORDS)}{pick(_TRADES)}有限公司"


def _credit_code(n: int) -> str:
    from stdnum.cn import uscc

    body = f"91140100{n:09d}"[:17]
    return body + uscc.calc_check_digit(body)


def _items(total: int, stage_codes: list[str]) -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]
    items = []
    for _ in range(total):
        n = next(_counter)
        items.append(
            {
                "external_id": f"p2-{run}-{n}",
                "name": _name(n),
                "credit_code": _credit_code(int(run, 16) % 10**6 * 1000 + n),
                "ownership": _OWNERSHIP[n % 5],
                "province": "山西",
                "city": _CITIES[n % 4],
                "registered_capital": f"{1_000_000 + n}.00",
                "website": f"https://e{n}.example.cn",
                "stages": [stage_codes[n % len(stage_codes)]],
            }
        )
    return items


def _ours(client: Any, auth: dict[str, str], items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), BATCH):
        body = orjson.dumps({"items": items[start : start + BATCH]})
        r = client.post("/api/v1/enterprises/bulk/", data=body, content_type="application/json", **auth)
        assert r.status_code == 200, r.content[:500]


COLUMNS = [
    "id", "office_id", "external_id", "version", "created_at", "updated_at", "name", "name_en", "credit_code",
    "ownership", "province", "city", "registered_capital", "website", "name_pinyin", "name_initials",
    "name_normalized", "source", "is_demo",
]  # fmt: skip


def _raw(conn: Any, office_id: int, items: list[dict[str, Any]]) -> None:
    cols = ", ".join(COLUMNS)
    for start in range(0, len(items), BATCH):
        with conn.transaction():
            conn.execute("CREATE TEMP TABLE staging (LIKE crm_enterprise INCLUDING DEFAULTS) ON COMMIT DROP")
            with conn.cursor().copy(f"COPY staging ({cols}) FROM STDIN") as copy:
                for item in items[start : start + BATCH]:
                    copy.write_row(
                        [
                            uuid.uuid4(), office_id, item["external_id"], 1, "now", "now", item["name"], "",
                            item["credit_code"], item["ownership"], item["province"], item["city"],
                            item["registered_capital"], item["website"], "", "", "", "", False,
                        ]
                    )  # fmt: skip
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[6:14])
            conn.execute(
                f"""
                INSERT INTO crm_enterprise ({cols}) SELECT {cols} FROM staging
                ON CONFLICT (office_id, external_id) WHERE external_id <> ''
                DO UPDATE SET {updates}, version = crm_enterprise.version + 1, updated_at = now()
                """
            )


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    import psycopg
    from django.db import connection
    from django.test import Client, override_settings

    from api.api_keys import api_key_create
    from bench.p1_project_page import _data as p1_data
    from chains.models import Stage
    from crm.models import Office

    p1_data(500)  # reference stages to name
    office, _ = Office.objects.get_or_create(code=OFFICE, defaults={"name": "P2 bench office", "kind": "partner"})
    key = api_key_create(office=office, label="bench").raw
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    stage_codes = list(Stage.objects.filter(code__startswith="bench-stage-").values_list("code", flat=True))
    analyze()
    total = 2000 if args.quick else TOTAL
    repeat = 1 if args.quick else 3
    client = Client()
    with (
        override_settings(API_THROTTLE_RATE="100000000/min"),
        psycopg.connect(**connection.get_connection_params()) as raw,
    ):
        ours = timeit(lambda: _ours(client, auth, _items(total, stage_codes)), repeat=repeat, warmup=1)
        limit = timeit(lambda: _raw(raw, office.pk, _items(total, stage_codes)), repeat=repeat, warmup=1)
    per_item = 1000 * ours / total
    return [
        row(
            f"P2 {total} enterprises via bulk/ ({total // BATCH} x {BATCH}) vs COPY + INSERT ON CONFLICT",
            ours,
            limit,
            "copy",
            target="<=3.00",
            ours_ms_per_1000=f"{per_item * 1000:.0f}",
        )
    ]
