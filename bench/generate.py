"""A provincial directory for the scale benchmarks: 1,000,000 enterprises, 100,000 projects.

Names read like a commercial register's: a region, a trade name (字号), a trade
(碳纤维, 精密机械, 生物医药 …) and a legal form (有限公司, 股份有限公司 …), now and then
with the region in brackets after the trade name; one in ten has an English name.
Pinyin and initials come from ``crm.names`` (as every write path computes them),
credit codes are valid (check digit from python-stdnum) and unique. A third of the
enterprises have one or two capabilities; projects have one or two target stages,
interactions and follow-ups.

Everything is written with COPY, secondary indexes dropped before and built after
(as a bulk load into a new table would), in one transaction, and reused by every
case: a marker office names the sizes, so a second run finds the data and returns
at once. ``python -m bench.generate [--enterprises N] [--projects N]`` builds it
alone.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from uuid_utils.compat import uuid7

SEED = 14
SOURCE = "bench-directory"

# (region, province, region code of the credit code)
REGIONS = [
    ("太原", "山西省", "140100"),
    ("大同", "山西省", "140200"),
    ("阳泉", "山西省", "140300"),
    ("长治", "山西省", "140400"),
    ("晋城", "山西省", "140500"),
    ("朔州", "山西省", "140600"),
    ("晋中", "山西省", "140700"),
    ("运城", "山西省", "140800"),
    ("忻州", "山西省", "140900"),
    ("临汾", "山西省", "141000"),
    ("吕梁", "山西省", "141100"),
    ("清徐", "山西省", "140121"),
    ("古交", "山西省", "140181"),
    ("孝义", "山西省", "141181"),
    ("介休", "山西省", "140781"),
    ("太谷", "山西省", "140703"),
    ("北京", "北京市", "110000"),
    ("上海", "上海市", "310000"),
    ("天津", "天津市", "120000"),
    ("重庆", "重庆市", "500000"),
    ("石家庄", "河北省", "130100"),
    ("唐山", "河北省", "130200"),
    ("郑州", "河南省", "410100"),
    ("洛阳", "河南省", "410300"),
    ("西安", "陕西省", "610100"),
    ("宝鸡", "陕西省", "610300"),
    ("济南", "山东省", "370100"),
    ("青岛", "山东省", "370200"),
    ("烟台", "山东省", "370600"),
    ("南京", "江苏省", "320100"),
    ("苏州", "江苏省", "320500"),
    ("无锡", "江苏省", "320200"),
    ("常州", "江苏省", "320400"),
    ("杭州", "浙江省", "330100"),
    ("宁波", "浙江省", "330200"),
    ("温州", "浙江省", "330300"),
    ("合肥", "安徽省", "340100"),
    ("芜湖", "安徽省", "340200"),
    ("武汉", "湖北省", "420100"),
    ("长沙", "湖南省", "430100"),
    ("南昌", "江西省", "360100"),
    ("广州", "广东省", "440100"),
    ("深圳", "广东省", "440300"),
    ("东莞", "广东省", "441900"),
    ("佛山", "广东省", "440600"),
    ("成都", "四川省", "510100"),
    ("绵阳", "四川省", "510700"),
    ("昆明", "云南省", "530100"),
    ("贵阳", "贵州省", "520100"),
    ("南宁", "广西壮族自治区", "450100"),
    ("兰州", "甘肃省", "620100"),
    ("银川", "宁夏回族自治区", "640100"),
    ("呼和浩特", "内蒙古自治区", "150100"),
    ("包头", "内蒙古自治区", "150200"),
    ("沈阳", "辽宁省", "210100"),
    ("大连", "辽宁省", "210200"),
    ("长春", "吉林省", "220100"),
    ("哈尔滨", "黑龙江省", "230100"),
    ("福州", "福建省", "350100"),
    ("厦门", "福建省", "350200"),
    ("泉州", "福建省", "350500"),
    ("乌鲁木齐", "新疆维吾尔自治区", "650100"),
]
BRAND_CHARS = (
    "晋泰华鑫盛源恒达隆通宏博安瑞丰德利兴金宇天信诚润康明新成锦辉耀昌荣嘉永中正远海联创汇立峰腾佳凯鼎益"
    "东方光奥卓力合美晟煜琪璟骏驰鹏祥福顺和元亨宝冠豪星辰阳春秋云龙凤虎鹰松柏江河湖山川岳峻岩磊森林"
    "科技精工艺航达普惠众邦国民富强振兴广聚德厚朗睿智捷迅扬帆启航谷禾田洲港湾桥城晶钰铭锐钧铎"
)
# (Chinese trade, English trade)
TRADES = [
    ("碳纤维", "Carbon Fiber"),
    ("新材料", "New Materials"),
    ("精密机械", "Precision Machinery"),
    ("电子科技", "Electronic Technology"),
    ("智能装备", "Intelligent Equipment"),
    ("生物医药", "Biopharmaceutical"),
    ("光伏科技", "Photovoltaic Technology"),
    ("储能科技", "Energy Storage Technology"),
    ("半导体", "Semiconductor"),
    ("汽车零部件", "Auto Parts"),
    ("煤化工", "Coal Chemical"),
    ("钢铁", "Iron and Steel"),
    ("铝业", "Aluminium"),
    ("特钢", "Special Steel"),
    ("不锈钢", "Stainless Steel"),
    ("镁合金", "Magnesium Alloy"),
    ("环保科技", "Environmental Technology"),
    ("信息技术", "Information Technology"),
    ("软件", "Software"),
    ("物流", "Logistics"),
    ("建材", "Building Materials"),
    ("化工", "Chemical"),
    ("能源", "Energy"),
    ("新能源", "New Energy"),
    ("食品", "Food"),
    ("农业科技", "Agricultural Technology"),
    ("医疗器械", "Medical Devices"),
    ("纺织", "Textile"),
    ("机电设备", "Electromechanical Equipment"),
    ("重型机械", "Heavy Machinery"),
    ("电气", "Electric"),
    ("光电", "Optoelectronics"),
    ("网络科技", "Network Technology"),
    ("数据科技", "Data Technology"),
    ("检测技术", "Testing Technology"),
    ("氢能", "Hydrogen Energy"),
    ("陶瓷", "Ceramics"),
    ("玻璃", "Glass"),
    ("铸造", "Foundry"),
    ("锻造", "Forging"),
    ("轴承", "Bearing"),
    ("液压", "Hydraulics"),
    ("泵业", "Pump"),
    ("阀门", "Valve"),
    ("线缆", "Cable"),
    ("煤机装备", "Coal Mining Equipment"),
    ("石墨烯", "Graphene"),
    ("碳基材料", "Carbon-based Materials"),
    ("传感器", "Sensor"),
    ("工业互联网", "Industrial Internet"),
]
# (legal form, weight)
FORMS = [("有限公司", 60), ("有限责任公司", 15), ("股份有限公司", 15), ("集团有限公司", 5), ("科技有限公司", 5)]
PROJECT_KINDS = ["新建", "扩建", "二期", "年产5万吨", "年产10万套", "研发中心", "生产基地", "智能化改造", "总部"]


@dataclass(frozen=True)
class Directory:
    """What the generator built (or found)."""

    enterprises: int
    projects: int
    office_ids: list[int]
    built: bool
    seconds: float


def marker_code(n_enterprises: int, n_projects: int) -> str:
    return f"bench-dir-{n_enterprises}-{n_projects}"


def credit_code(region_code: str, serial: int) -> str:
    """A valid unified social credit code: 9 (market regulator) 1 (company), region, an
    organisation code (8 digits and its GB 11714 check character) and the check digit."""
    from stdnum.cn import uscc

    body = f"{(serial * 7919 + 10_000_019) % 100_000_000:08d}"
    total = sum(int(d) * w for d, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    check = 11 - total % 11
    org = body + ("X" if check == 10 else "0" if check == 11 else str(check))
    first17 = f"91{region_code}{org}"
    return first17 + uscc.calc_check_digit(first17)


def company_name(rng: random.Random) -> tuple[str, str, tuple[str, str, str], tuple[str, str]]:
    """(name, English name or '', region, trade)."""
    region = rng.choice(REGIONS)
    brand = "".join(rng.choice(BRAND_CHARS) for _ in range(rng.choice((2, 2, 2, 3))))
    trade = rng.choice(TRADES)
    form = rng.choices([f for f, _w in FORMS], weights=[w for _f, w in FORMS])[0]
    if rng.random() < 0.1:
        name = f"{brand}{trade[0]}（{region[0]}）{form}"
    else:
        name = f"{region[0]}{brand}{trade[0]}{form}"
    name_en = ""
    if rng.random() < 0.1:
        from crm.names import name_pinyin

        name_en = f"{name_pinyin(region[0]).replace(' ', '').title()} {name_pinyin(brand).replace(' ', '').title()} {trade[1]} Co., Ltd."
    return name, name_en, region, trade


def enterprise_rows(n: int, *, rng: random.Random, office_ids: list[int], now: datetime) -> Iterator[dict[str, Any]]:
    from crm.names import normalize_name, pinyin_keys

    ownerships = ["private"] * 7 + ["state", "foreign", "joint_venture", "other"]
    for i in range(n):
        name, name_en, region, _trade = company_name(rng)
        pinyin, initials = pinyin_keys(name)
        created = now - timedelta(seconds=rng.randrange(0, 5 * 365 * 86400))
        yield {
            "id": uuid.UUID(int=rng.getrandbits(128), version=4),
            "created_at": created,
            "updated_at": created,
            "external_id": "",
            "version": 1,
            # Four in five come from the register (no office); the rest from the offices.
            "office_id": office_ids[i % len(office_ids)] if i % 5 == 0 else None,
            "name": name,
            "name_en": name_en,
            "credit_code": credit_code(region[2], i),
            "ownership": rng.choice(ownerships),
            "province": region[1],
            "city": region[0] + ("市" if len(region[0]) == 2 else ""),
            "registered_capital": Decimal(rng.randrange(10, 100_000)) * 10_000,
            "website": "",
            "name_pinyin": pinyin,
            "name_initials": initials,
            "name_normalized": normalize_name(name),
            "source": SOURCE,
            "is_demo": False,
            "merged_into_id": None,
        }


def _copy_rows(cursor: Any, table: str, columns: list[str], rows: Iterable[list[Any]]) -> int:
    """COPY on PostgreSQL; on SQLite (the embedded default) INSERTs in batches."""
    from django.db import connection

    n = 0
    if connection.vendor != "postgresql":
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        batch: list[list[Any]] = []
        for row in rows:
            batch.append([_sqlite_value(v) for v in row])
            n += 1
            if len(batch) >= 5000:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
        return n
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def _sqlite_value(value: Any) -> Any:
    """Values as Django stores them in SQLite: uuids as 32 hex digits, times in UTC ISO, decimals as text."""
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, Decimal):
        return str(value)
    return value


def _model_copy(cursor: Any, model: Any, rows: Iterable[dict[str, Any]]) -> int:
    fields = [
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and f.get_internal_type() in ("AutoField", "BigAutoField"))
    ]
    columns = [f'"{f.column}"' for f in fields]
    return _copy_rows(
        cursor,
        model._meta.db_table,
        columns,
        ([row[f.attname] if f.attname in row else f.get_default() for f in fields] for row in rows),
    )


def _secondary_indexes(cursor: Any, tables: list[str]) -> list[tuple[str, str]]:
    """(name, definition) of the indexes of ``tables`` that back no constraint."""
    cursor.execute(
        """
        SELECT i.relname, pg_get_indexdef(x.indexrelid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
        WHERE t.relname = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        """,
        [tables],
    )
    return cursor.fetchall()


def _wipe(cursor: Any) -> None:
    """Remove an earlier directory (another size)."""
    cursor.execute("SELECT id FROM crm_office WHERE code LIKE 'bench-dir-%%'")
    offices = [r[0] for r in cursor.fetchall()]
    if not offices:
        return
    from django.db import connection

    if connection.vendor != "postgresql":
        raise RuntimeError("another directory is in this SQLite database: start from a new file")
    for sql in (
        "DELETE FROM recruitment_followup WHERE office_id = ANY(%(o)s)",
        "DELETE FROM crm_interaction WHERE office_id = ANY(%(o)s)",
        "DELETE FROM recruitment_project_stages WHERE project_id IN "
        "(SELECT id FROM recruitment_project WHERE office_id = ANY(%(o)s))",
        "DELETE FROM recruitment_project WHERE office_id = ANY(%(o)s)",
        "DELETE FROM crm_presence WHERE source = %(s)s",
        "DELETE FROM crm_enterprise_stages WHERE enterprise_id IN (SELECT id FROM crm_enterprise WHERE source = %(s)s)",
        "DELETE FROM crm_enterprise WHERE source = %(s)s",
        "DELETE FROM crm_office WHERE id = ANY(%(o)s)",
    ):
        cursor.execute(sql, {"o": offices, "s": SOURCE})


def ensure_directory(*, n_enterprises: int = 1_000_000, n_projects: int = 100_000, verbose: bool = True) -> Directory:
    """Build the directory unless a directory of these sizes is there already."""
    from django.db import connection, transaction
    from django.utils import timezone

    from chains.models import Park, Stage
    from crm import capability_capital
    from crm.models import Enterprise, Interaction, Office, Presence
    from recruitment import tally, tally_sqlite
    from recruitment.models import FollowUp, PipelineTally, Project
    from recruitment.pipeline import Status
    from seeds.reference_loader import load_reference

    started = time.perf_counter()
    code = marker_code(n_enterprises, n_projects)
    found = list(Office.objects.filter(code__startswith=code).order_by("code").values_list("pk", flat=True))
    if found:
        return Directory(n_enterprises, n_projects, found, built=False, seconds=time.perf_counter() - started)
    load_reference()

    def say(message: str) -> None:
        if verbose:
            print(f"   [generate] {time.perf_counter() - started:6.1f}s {message}", flush=True)

    rng = random.Random(SEED)
    now = timezone.now()
    parks = list(Park.objects.values_list("pk", flat=True))
    stages = list(Stage.objects.values_list("pk", flat=True))
    tables = [
        Enterprise._meta.db_table,
        Enterprise.stages.through._meta.db_table,
        Presence._meta.db_table,
        Project._meta.db_table,
        Project.stages.through._meta.db_table,
        Interaction._meta.db_table,
        FollowUp._meta.db_table,
        PipelineTally._meta.db_table,
    ]
    postgres = connection.vendor == "postgresql"
    with transaction.atomic(), connection.cursor() as django_cursor:
        cursor = django_cursor.cursor if postgres else django_cursor
        if not postgres:
            # The tally's triggers would run for every row wiped and written: counted once at the end.
            tally_sqlite.uninstall(cursor)
        _wipe(cursor)
        offices = [
            Office.objects.create(code=f"{code}-{i:02d}", name=f"基准{kind}办公室{i}", kind=kind, park_id=park)
            for i, (kind, park) in enumerate(
                [("provincial", None)] + [("park", parks[i % len(parks)]) for i in range(8)] + [("partner", None)]
            )
        ]
        office_ids = [o.pk for o in offices]
        indexes: list[tuple[str, str]] = []
        if postgres:
            # Deferred checks queued by the wipe would forbid building indexes later.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            indexes = _secondary_indexes(cursor, tables)
            for name, _definition in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            # The rows are consistent by construction: no per-row foreign-key triggers.
            cursor.execute("SET LOCAL session_replication_role = replica")
        say(f"dropped {len(indexes)} secondary indexes; writing enterprises")

        enterprise_ids: list[uuid.UUID] = []

        def enterprises() -> Iterator[dict[str, Any]]:
            for row in enterprise_rows(n_enterprises, rng=rng, office_ids=office_ids, now=now):
                enterprise_ids.append(row["id"])
                yield row

        _model_copy(cursor, Enterprise, enterprises())
        say(f"{n_enterprises} enterprises")
        _copy_rows(
            cursor,
            Enterprise.stages.through._meta.db_table,
            ["enterprise_id", "stage_id"],
            ([pk, s] for pk in enterprise_ids if rng.random() < 0.33 for s in rng.sample(stages, rng.randint(1, 2))),
        )
        presence_keys = {
            (rng.choice(enterprise_ids), rng.choice(parks), rng.choice(stages)) for _ in range(n_enterprises // 50)
        }
        _model_copy(
            cursor,
            Presence,
            (
                {"enterprise_id": e, "park_id": p, "stage_id": s, "status": "operating", "source": SOURCE}
                | {"created_at": now, "updated_at": now}
                for e, p, s in sorted(presence_keys)
            ),
        )
        say("capabilities and presences")

        statuses = Status.values
        projects: list[tuple[uuid.UUID, uuid.UUID, int, datetime]] = []

        def project_rows() -> Iterator[dict[str, Any]]:
            for i in range(n_projects):
                pk = uuid.UUID(int=rng.getrandbits(128), version=4)
                enterprise = rng.choice(enterprise_ids)
                office = office_ids[i % len(office_ids)]
                created = now - timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
                projects.append((pk, enterprise, office, created))
                region = rng.choice(REGIONS)[0]
                yield {
                    "id": pk,
                    "created_at": created,
                    "updated_at": created,
                    "office_id": office,
                    "external_id": "",
                    "version": 1,
                    "title": f"{region}{rng.choice(BRAND_CHARS)}{rng.choice(BRAND_CHARS)}{rng.choice(TRADES)[0]}"
                    f"{rng.choice(PROJECT_KINDS)}项目",
                    "enterprise_id": enterprise,
                    "park_id": rng.choice(parks),
                    "status": rng.choice(statuses),
                    "status_changed_at": created,
                    "priority": rng.choice(["low", "normal", "normal", "high"]),
                    "planned_investment": Decimal(rng.randrange(100, 500_000)) * 10_000,
                    "signed_amount": None,
                }

        _model_copy(cursor, Project, project_rows())
        _copy_rows(
            cursor,
            Project.stages.through._meta.db_table,
            ["project_id", "stage_id"],
            ([p[0], s] for p in projects for s in rng.sample(stages, rng.randint(1, 2))),
        )
        say(f"{n_projects} projects")
        kinds = [k for k, _label in Interaction.Kind.choices]

        def interactions() -> Iterator[dict[str, Any]]:
            for pk, enterprise, office, created in projects:
                for _ in range(rng.randint(0, 4)):
                    when = created + timedelta(seconds=rng.randrange(0, 300 * 86400))
                    yield {
                        "id": uuid7(),
                        "created_at": when,
                        "updated_at": when,
                        "office_id": office,
                        "external_id": "",
                        "version": 1,
                        "enterprise_id": enterprise,
                        "project_id": pk,
                        "kind": rng.choice(kinds),
                        "occurred_at": when,
                        "summary": "电话沟通项目进展",
                    }

        _model_copy(cursor, Interaction, interactions())

        def follow_ups() -> Iterator[dict[str, Any]]:
            for pk, _enterprise, office, created in projects:
                if rng.random() < 0.6:
                    due = now + timedelta(days=rng.randrange(-30, 60))
                    yield {
                        "id": uuid7(),
                        "created_at": created,
                        "updated_at": created,
                        "office_id": office,
                        "external_id": "",
                        "version": 1,
                        "project_id": pk,
                        "due_at": due,
                        "status": "open" if rng.random() < 0.7 else "done",
                        "kind": "manual",
                        "note": "",
                    }

        _model_copy(cursor, FollowUp, follow_ups())
        say("interactions and follow-ups; building indexes")
        if postgres:
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for _name, definition in indexes:
                cursor.execute(definition)
            say(f"{len(indexes)} indexes built")
            # The load bypassed the triggers that keep the dashboard's tally, each
            # project's last touch and each capability's capital: compute them as the
            # triggers would have.
            from recruitment.tally import TOUCH_FILL, compact

            cursor.execute(TOUCH_FILL)
            capability_capital.fill(cursor)
            cursor.execute("SELECT recruitment_tally_rebuild()")
            compact()  # the dated rows of days long past folded
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
            say("last touches and the pipeline tally")
        else:
            tally.sqlite_install(cursor)
            say("last touches and the pipeline tally")
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}" if postgres else f"ANALYZE {table}")
    say("analysed")
    return Directory(n_enterprises, n_projects, office_ids, built=True, seconds=time.perf_counter() - started)


def directory_sample(columns: str, *, n: int, seed: int, where: str = "") -> list[tuple[Any, ...]]:
    """``n`` rows (``columns``) of the generated enterprises, the same ones every run:
    a 1% block sample with a fixed seed (PostgreSQL)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM crm_enterprise TABLESAMPLE SYSTEM (1) REPEATABLE ({int(seed)}) "
            f"WHERE source = %s {where} LIMIT %s",
            [SOURCE, n],
        )
        return cursor.fetchall()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate")
    parser.add_argument("--enterprises", type=int, default=1_000_000)
    parser.add_argument("--projects", type=int, default=100_000)
    args = parser.parse_args(argv)
    from bench.harness import setup_django

    setup_django()
    built = ensure_directory(n_enterprises=args.enterprises, n_projects=args.projects)
    print(
        f"{'built' if built.built else 'found'} {built.enterprises} enterprises, {built.projects} projects "
        f"in {built.seconds:.1f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
