"""P7: importing 10,000 project rows from a generated .xlsx file, against a bulk insert of the same rows.

"Ours" is the project import as the admin runs it: read the file, check every row
(enterprises by credit code, parks, stages, owners, pipeline moves, duplicates in
the file), then write set-based in one transaction what the pipeline services write:
the rows and their history, stage links, status history (a project imported as
signed walks lead → screening → negotiating → signed), service-level follow-ups,
large-project notices, lights, change-feed entries and the pipeline tally's triggers.
The baseline, in the same run, is Django's ``bulk_create`` of the same project rows
and their stage links and nothing else. A third row re-imports the same file (every
row unchanged: nothing is written).

Each import and the baseline run in a transaction that is rolled back afterwards, so
the bench database keeps its size from run to run; what runs only at commit (the
large-project notices published to the broker, the feed's listeners) is not timed.
``BENCH_P7_ROWS=100000`` runs it at the import's maximum.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bench.harness import row
from bench.p7_import import xlsx

HEADER = ["项目名称", "统一社会信用代码", "目标园区", "目标环节", "状态", "状态说明", "拟投金额（万元）", "外部编号"]
STATUSES = ["线索", "研判", "洽谈", "签约", "注册落地", "投产", "中止", "终止"]
ENTERPRISES = 2_000


class _Rollback(Exception):
    pass


def _credit_code(n: int) -> str:
    from stdnum.cn import uscc

    body = f"91149800{n:09d}"
    return body + uscc.calc_check_digit(body)


def _setup() -> tuple[Any, Any, Any, list[Any]]:
    """The bench office, its user, a park and three stages, and the enterprises the rows name."""
    from django.db.models import Count

    from chains.models import Chain, Park, Stage
    from crm.models import Enterprise, Office, User
    from crm.services import enterprise_name_keys_set
    from seeds.reference_loader import load_reference

    office, _ = Office.objects.get_or_create(
        code="bench-p7-projects", defaults={"name": "P7 项目基准办公室", "kind": Office.Kind.PARK}
    )
    user, _ = User.objects.get_or_create(username="bench-p7-projects", defaults={"office": office, "is_staff": True})
    load_reference()  # the parks and chains, as on every installation
    park = Park.objects.order_by("code").first()
    chain = Chain.objects.annotate(n=Count("stages")).filter(n__gte=3).order_by("code").first()
    if park is None or chain is None:
        raise RuntimeError("the bench database has no park or no chain of three stages")
    stages = list(Stage.objects.filter(chain=chain).order_by("order")[:3])
    codes = [_credit_code(n) for n in range(ENTERPRISES)]
    have = set(Enterprise.objects.filter(credit_code__in=codes).values_list("credit_code", flat=True))
    missing = []
    for n, code in enumerate(codes):
        if code not in have:
            enterprise = Enterprise(name=f"山西基准项目企业{n}有限公司", credit_code=code)
            enterprise_name_keys_set(enterprise)
            missing.append(enterprise)
    Enterprise.objects.bulk_create(missing, batch_size=1000)
    return office, user, park, stages


def _rows(count: int, park: Any, stages: list[Any]) -> list[list[Any]]:
    codes = [s.code if list(s.chain.stages.filter(code=s.code)) == [s] else f"{s.chain.code}/{s.code}" for s in stages]
    return [
        [
            f"基准项目{n}",
            _credit_code(n % ENTERPRISES),
            park.code,
            codes[n % 3] if n % 4 else f"{codes[0]},{codes[2]}",
            STATUSES[n % len(STATUSES)],
            "企业转投他省" if STATUSES[n % len(STATUSES)] == "终止" else "",
            60_000 if n % 1000 == 0 else 100 + n % 9000,
            f"P7P{n:06d}",
        ]
        for n in range(count)
    ]


def _rolled_back(fns: list[Callable[[], Any]]) -> list[float]:
    """Run ``fns`` one after another in one transaction, timing each, then roll it all back."""
    from django.db import transaction

    times: list[float] = []
    try:
        with transaction.atomic():
            for fn in fns:
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            raise _Rollback
    except _Rollback:
        pass
    return times


def _bulk_create(rows: list[list[Any]], office: Any, park: Any, stages: list[Any]) -> None:
    from crm.models import Enterprise
    from recruitment.models import Project

    enterprises = dict(Enterprise.objects.filter(credit_code__in={r[1] for r in rows}).values_list("credit_code", "pk"))
    projects = [
        Project(
            office=office,
            title=title,
            enterprise_id=enterprises[code],
            park=park,
            planned_investment=Decimal(wan) * 10_000,
            external_id=external,
        )
        for title, code, _park, _stages, _status, _note, wan, external in rows
    ]
    Project.objects.bulk_create(projects, batch_size=1000)
    through = Project.stages.through
    links = [
        through(project_id=p.pk, stage_id=s.pk)
        for n, p in enumerate(projects)
        for s in ([stages[n % 3]] if n % 4 else [stages[0], stages[2]])
    ]
    through.objects.bulk_create(links, batch_size=1000)


def run(args: Any) -> list[dict[str, object]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.imports import import_commit, import_preview
    from recruitment.imports import IMPORTERS
    from recruitment.models import Project

    count = int(os.environ.get("BENCH_P7_ROWS") or (1_000 if getattr(args, "quick", False) else 10_000))
    repeat = 1 if getattr(args, "quick", False) or count > 10_000 else 3
    office, user, park, stages = _setup()
    rows = _rows(count, park, stages)
    data = xlsx(rows, HEADER, "项目")
    importer = IMPORTERS["projects"]
    queries: dict[str, int] = {}
    steps: dict[str, int] = {}

    def preview() -> None:
        seen: list[str] = []
        plan = import_preview(
            importer=importer, data=data, filename="p7.xlsx", user=user, progress=lambda *s: seen.append(s[0])
        )
        if not plan.ok:
            raise RuntimeError(f"the bench file did not check: {plan.errors[:3]}")
        steps["preview"] = len(seen)

    def ours(name: str, created: int) -> Callable[[], None]:
        def go() -> None:
            seen: list[str] = []
            with CaptureQueriesContext(connection) as captured:
                plan = import_commit(
                    importer=importer, data=data, filename="p7.xlsx", user=user, progress=lambda *s: seen.append(s[0])
                )
            if not plan.committed or plan.created != created:
                raise RuntimeError(f"the bench file did not import: {plan.errors[:3]}")
            queries[name], steps[name] = len(captured), len(seen)

        return go

    def baseline() -> None:
        _bulk_create(rows, office, park, stages)

    times: dict[str, list[float]] = {"preview": [], "import": [], "again": [], "bulk": []}
    for _ in range(repeat):
        start = time.perf_counter()
        preview()
        times["preview"].append(time.perf_counter() - start)
        imported, again = _rolled_back([ours("import", count), ours("again", 0)])
        times["import"].append(imported)
        times["again"].append(again)
        times["bulk"].extend(_rolled_back([baseline]))
    if Project.objects.filter(office=office).exists():
        raise RuntimeError("the bench office's projects were not rolled back")
    median = {name: statistics.median(values) for name, values in times.items()}
    return [
        row(
            f"P7 preview {count} project rows from .xlsx",
            median["preview"],
            median["bulk"],
            "bulk_create",
            progress_steps=steps["preview"],
        ),
        row(
            f"P7 import {count} project rows from .xlsx",
            median["import"],
            median["bulk"],
            "bulk_create",
            queries=queries["import"],
            progress_steps=steps["import"],
            preview_plus_import_s=f"{median['preview'] + median['import']:.1f}",
            target="<= 60 s with the preview",
        ),
        row(
            f"P7 re-import {count} unchanged project rows",
            median["again"],
            median["bulk"],
            "bulk_create",
            queries=queries["again"],
        ),
    ]
