"""P7: importing 10,000 enterprise rows from a generated file, against a raw bulk insert of the same rows.

"Ours" is the whole import as the admin runs it on "Import now": read the file,
check every row (look-ups for the whole file, credit-code check digits, pinyin and
normalised names), then write in one transaction with history rows and change-feed
entries (rendered by whatever the API registered). The baselines insert the same
rows into the enterprise table and nothing else, in the same run: PostgreSQL
``COPY`` and Django's ``bulk_create``. A third row times re-importing the same file
(every row unchanged: nothing is written). The rows carry no capabilities, so both
sides write the same table rows.
"""

from __future__ import annotations

import csv
import io
import os
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from uuid_utils.compat import uuid7

from bench.harness import analyze, row

OWNERSHIP = [("民营", "private"), ("国有", "state"), ("外资", "foreign"), ("合资", "joint_venture"), ("其他", "other")]
CITIES = ["太原市", "忻州市", "原平市", "阳曲县"]
HEADER = ["企业名称", "统一社会信用代码", "企业性质", "省份", "城市", "注册资本（万元）", "网址", "外部编号"]


def _credit_code(n: int) -> str:
    from stdnum.cn import uscc

    body = f"91149900{n:09d}"
    return body + uscc.calc_check_digit(body)


# Digits written as characters, so a name is all Chinese, as real names are: pinyin is
# computed for the whole name, not for a few repeated fragments between digits.
_DIGITS = str.maketrans("0123456789", "零壹贰叁肆伍陆柒捌玖")
_TRADES = ["新材料", "碳纤维", "特钢", "生物科技", "复合材料", "精密制造", "化工", "半导体材料"]


def _name(n: int) -> str:
    return f"山西{f'{n:05d}'.translate(_DIGITS)}{_TRADES[n % len(_TRADES)]}有限公司"


def _rows(count: int) -> list[list[Any]]:
    return [
        [
            _name(n),
            _credit_code(n),
            OWNERSHIP[n % len(OWNERSHIP)][0],
            "山西省",
            CITIES[n % len(CITIES)],
            100 + n % 9000,
            f"http://www.bench{n}.example.cn",
            f"B{n:05d}",
        ]
        for n in range(count)
    ]


def _csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def xlsx(rows: list[list[Any]], header: list[str] = HEADER, title: str = "企业") -> bytes:
    """``rows`` under ``header`` as an .xlsx file, one sheet named ``title``."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append(header)
    for values in rows:
        sheet.append(values)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _setup() -> tuple[Any, Any]:
    from crm.models import Office, User

    office, _ = Office.objects.get_or_create(
        code="bench-p7", defaults={"name": "P7 基准办公室", "kind": Office.Kind.PARK}
    )
    user, _ = User.objects.get_or_create(username="bench-p7", defaults={"office": office, "is_staff": True})
    return office, user


def _cleanup(office: Any) -> None:
    """Remove what the previous run wrote for the bench office: enterprises, their history and feed rows."""
    from django.db import connection

    from crm.models import ChangeEntry, Enterprise

    enterprise = Enterprise._meta.db_table
    history = Enterprise.history.model._meta.db_table
    through = Enterprise.stages.through._meta.db_table
    feed = ChangeEntry._meta.db_table
    ids = f"SELECT id FROM {enterprise} WHERE office_id = %s"
    with connection.cursor() as cursor:
        # Planned on the rows the last run wrote (a server with autovacuum off would still
        # plan on an empty table: each DELETE then scans the enterprises once per row).
        cursor.execute(f"ANALYZE {enterprise}, {history}, {feed}")
        cursor.execute(f"DELETE FROM {history}_stages WHERE enterprise_id IN ({ids})", [office.pk])
        cursor.execute(f"DELETE FROM {history} WHERE id IN ({ids})", [office.pk])
        cursor.execute(f"DELETE FROM {feed} WHERE type = 'enterprise' AND object_id IN ({ids})", [office.pk])
        cursor.execute(f"DELETE FROM {through} WHERE enterprise_id IN ({ids})", [office.pk])
        cursor.execute(f"DELETE FROM {enterprise} WHERE office_id = %s", [office.pk])
        cursor.execute(f"ANALYZE {enterprise}")


def _timed(setup: Callable[[], None], fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        setup()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _copy(rows: list[list[Any]], office: Any) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from crm.models import Enterprise

    now = timezone.now()
    ownership = dict(OWNERSHIP)
    columns = (
        "id, office_id, external_id, version, created_at, updated_at, name, name_en, credit_code, ownership, "
        "province, city, registered_capital, website, name_pinyin, name_initials, name_normalized, source, is_demo"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {Enterprise._meta.db_table} ({columns}) FROM STDIN") as copy:
            for name, code, owner, province, city, wan, website, external in rows:
                copy.write_row(
                    (
                        uuid7(),
                        office.pk,
                        external,
                        1,
                        now,
                        now,
                        name,
                        "",
                        code,
                        ownership[owner],
                        province,
                        city,
                        Decimal(wan) * 10_000,
                        website,
                        "",
                        "",
                        "",
                        "",
                        False,
                    )
                )


def _bulk_create(rows: list[list[Any]], office: Any) -> None:
    from crm.models import Enterprise

    ownership = dict(OWNERSHIP)
    Enterprise.objects.bulk_create(
        [
            Enterprise(
                office=office,
                external_id=external,
                name=name,
                credit_code=code,
                ownership=ownership[owner],
                province=province,
                city=city,
                registered_capital=Decimal(wan) * 10_000,
                website=website,
            )
            for name, code, owner, province, city, wan, website, external in rows
        ],
        batch_size=1000,
    )


def run(args: Any) -> list[dict[str, object]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.enterprise_imports import EnterpriseImporter
    from crm.imports import import_commit, import_preview
    from crm.models import Enterprise

    # BENCH_P7_ROWS=100000 runs the import (and the exports) at the provincial scale, once.
    count = int(os.environ.get("BENCH_P7_ROWS") or (1_000 if getattr(args, "quick", False) else 10_000))
    repeat = 1 if getattr(args, "quick", False) or count > 10_000 else 3
    office, user = _setup()
    rows = _rows(count)
    csv_data, xlsx_data = _csv(rows), xlsx(rows)
    importer = EnterpriseImporter()
    queries: dict[str, int] = {}

    steps: dict[str, int] = {}

    def ours(data: bytes, filename: str) -> Any:
        seen: list[str] = []
        with CaptureQueriesContext(connection) as captured:
            plan = import_commit(
                importer=importer, data=data, filename=filename, user=user, progress=lambda *step: seen.append(step[0])
            )
        if not plan.committed:
            raise RuntimeError(f"the bench file did not import: {plan.errors[:3]}")
        queries[filename] = len(captured)
        steps[filename] = len(seen)
        return plan

    def preview(data: bytes, filename: str) -> Any:
        seen: list[str] = []
        plan = import_preview(
            importer=importer, data=data, filename=filename, user=user, progress=lambda *step: seen.append(step[0])
        )
        if not plan.ok:
            raise RuntimeError(f"the bench file did not check: {plan.errors[:3]}")
        steps[f"preview {filename}"] = len(seen)
        return plan

    def clean() -> None:
        _cleanup(office)

    clean()
    preview_xlsx, _plan = _timed(lambda: None, lambda: preview(xlsx_data, "p7.xlsx"), repeat)
    ours_csv, plan = _timed(clean, lambda: ours(csv_data, "p7.csv"), repeat)
    assert plan.created == count and Enterprise.objects.filter(office=office).count() == count
    reimport, again = _timed(lambda: None, lambda: ours(csv_data, "p7-again.csv"), repeat)
    assert again.unchanged == count and again.created == again.updated == 0
    ours_xlsx, _plan = _timed(clean, lambda: ours(xlsx_data, "p7.xlsx"), repeat)
    memory: dict[str, str] = {}
    analyze()  # the exports are planned on the rows just imported, as autovacuum would have it
    export_csv, _ = _timed(lambda: None, lambda: _export(office, user, "csv", memory), repeat)
    export_xlsx, _ = _timed(lambda: None, lambda: _export(office, user, "xlsx", memory), repeat)
    copy_time, _ = _timed(clean, lambda: _copy(rows, office), repeat)
    bulk_time, _ = _timed(clean, lambda: _bulk_create(rows, office), repeat)
    clean()
    return [
        row(
            f"P7 preview {count} rows from .xlsx",
            preview_xlsx,
            copy_time,
            "copy",
            progress_steps=steps["preview p7.xlsx"],
            target="<= 60 s with the import",
        ),
        row(
            f"P7 import {count} rows from .csv",
            ours_csv,
            copy_time,
            "copy",
            queries=queries["p7.csv"],
            progress_steps=steps["p7.csv"],
        ),
        row(f"P7 import {count} rows from .csv", ours_csv, bulk_time, "bulk_create"),
        row(
            f"P7 import {count} rows from .xlsx",
            ours_xlsx,
            copy_time,
            "copy",
            queries=queries["p7.xlsx"],
            progress_steps=steps["p7.xlsx"],
            preview_plus_import_s=f"{preview_xlsx + ours_xlsx:.1f}",
        ),
        row(f"P7 re-import {count} unchanged rows", reimport, copy_time, "copy", queries=queries["p7-again.csv"]),
        row(
            f"P7 export {count} rows to .csv (streamed)",
            export_csv,
            copy_time,
            "copy",
            peak_rss_growth=memory["csv"],
            target="<= 30 s",
        ),
        row(
            f"P7 export {count} rows to .xlsx (written, then sent)",
            export_xlsx,
            copy_time,
            "copy",
            peak_rss_growth=memory["xlsx"],
            target="<= 30 s",
        ),
    ]


def _peak_rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _reset_peak_rss() -> bool:
    """Start a new peak (Linux: ``5`` into ``clear_refs`` resets VmHWM); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def _export(office: Any, user: Any, fmt: str, memory: dict[str, str]) -> int:
    """The office's enterprises as the admin's export action sends them (the response's
    content consumed as a client would read it); bytes sent. Records in ``memory``
    how much the process's peak resident memory grew while exporting."""
    from crm.exports import export_response, exporter_for_model
    from crm.models import Enterprise

    exporter = exporter_for_model(Enterprise)
    assert exporter is not None
    resettable = _reset_peak_rss()
    before = _peak_rss_kb()
    response = export_response(exporter=exporter, queryset=Enterprise.objects.filter(office=office), user=user, fmt=fmt)
    sent = sum(len(chunk) for chunk in response.streaming_content) if response.streaming else len(response.content)
    response.close()
    grown = _peak_rss_kb() - before
    memory[fmt] = f"{grown / 1024:.0f} MB" if resettable else "n/a"
    return sent
