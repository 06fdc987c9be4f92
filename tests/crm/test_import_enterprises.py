"""Importing enterprises: every bad row listed, nothing written while one is bad, re-import changes nothing."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils.translation import gettext
from openpyxl import Workbook
from stdnum.cn import uscc

from crm.enterprise_imports import EnterpriseImporter
from crm.imports import fetch_in, import_commit, import_preview
from crm.models import ChangeEntry, Enterprise
from crm.services import enterprise_create
from tests.crm.row_locks import lock_would_wait
from tests.factories import EnterpriseFactory, StageFactory, valid_credit_code

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

IMPORTER = EnterpriseImporter()
HEADER = ["企业名称", "统一社会信用代码", "企业性质", "城市", "注册资本（万元）", "网址", "外部编号"]


def csv_bytes(rows: list[list[object]], *, encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for values in rows:
        sheet.append(values)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def good_rows() -> list[list[object]]:
    return [
        HEADER,
        ["太原钢铁（集团）有限公司", valid_credit_code(101), "国有", "太原", 668000, "www.tisco.com.cn", "E-1"],
        ["山西钢科碳材料有限公司", valid_credit_code(102), "民营", "太原", "5,000", "", "E-2"],
        ["凯赛（太原）生物科技有限公司", "", "合资", "太原", "", "https://cathaybiotech.com", "E-3"],
    ]


def written_counts() -> tuple[int, int, int]:
    return (
        Enterprise.objects.count(),
        Enterprise.history.count(),
        ChangeEntry.objects.filter(type="enterprise").count(),
    )


def test_every_bad_row_is_listed_with_its_excel_row_number_and_nothing_is_written(park_user):
    EnterpriseFactory(name="已有企业", credit_code=valid_credit_code(5))
    rows = [
        HEADER,
        ["好企业", valid_credit_code(1), "民营", "太原", 100, "", ""],  # row 2: fine
        ["坏代码企业", "91140100000000001X", "民营", "太原", 100, "", ""],  # row 3: bad check digit
        ["", valid_credit_code(2), "民营", "太原", 100, "", ""],  # row 4: no name
        ["负资本企业", valid_credit_code(3), "民营", "太原", -5, "", ""],  # row 5: negative capital
        ["重复代码企业", valid_credit_code(1), "民营", "太原", 1, "", ""],  # row 6: same code as row 2
        [],  # row 7: blank, skipped but counted
        ["怪性质企业", valid_credit_code(4), "宇宙", "太原", 1, "", ""],  # row 8: unknown ownership
        ["好企业", "", "", "", "", "", ""],  # row 9: same name as row 2
    ]
    before = written_counts()
    plan = import_commit(importer=IMPORTER, data=xlsx_bytes(rows), filename="ents.xlsx", user=park_user)
    assert not plan.committed
    by_row = {row: {i.column for i in issues} for row, issues in plan.errors_by_row()}
    assert by_row == {
        3: {"统一社会信用代码"},
        4: {"企业名称"},
        5: {"注册资本（万元）"},
        6: {"统一社会信用代码"},
        8: {"企业性质"},
        9: {"企业名称"},
    }
    messages = {i.row: i.message for i in plan.errors}
    expected_digit = uscc.calc_check_digit("91140100000000001")
    assert messages[3].rstrip("。.").endswith(expected_digit)
    assert re.search(r"\b2\b", messages[6])  # names the row it repeats
    assert written_counts() == before


def test_a_good_file_imports_every_row_with_history_and_change_feed(park_user, park_office):
    plan = import_commit(importer=IMPORTER, data=csv_bytes(good_rows()), filename="ents.csv", user=park_user)
    assert plan.committed, plan.errors
    assert (plan.created, plan.updated, plan.unchanged) == (3, 0, 0)
    tisco = Enterprise.objects.get(credit_code=valid_credit_code(101))
    assert tisco.office == park_office
    assert tisco.ownership == Enterprise.Ownership.STATE
    assert tisco.registered_capital == Decimal("6680000000")
    assert tisco.website == "http://www.tisco.com.cn"
    assert tisco.name_normalized == "太原钢铁"
    assert tisco.version == 1
    record = tisco.history.get()
    assert record.history_user == park_user
    assert record.history_change_reason == gettext("Imported from %(file)s") % {"file": "ents.csv"}
    assert ChangeEntry.objects.filter(type="enterprise", object_id=tisco.pk).exists()
    assert Enterprise.objects.get(external_id="E-3").credit_code is None


def test_reimporting_the_same_file_creates_nothing_and_bumps_no_version(park_user):
    data = csv_bytes(good_rows())
    import_commit(importer=IMPORTER, data=data, filename="ents.csv", user=park_user)
    before = written_counts()
    versions = dict(Enterprise.objects.values_list("pk", "version"))
    plan = import_commit(importer=IMPORTER, data=data, filename="ents.csv", user=park_user)
    assert plan.committed
    assert (plan.created, plan.updated, plan.unchanged) == (0, 0, 3)
    assert written_counts() == before
    assert dict(Enterprise.objects.values_list("pk", "version")) == versions


def test_a_changed_row_updates_the_match_by_credit_code_and_bumps_its_version_once(provincial_user, partner_office):
    existing = enterprise_create(
        office=partner_office, name="山西钢科碳材料有限公司", credit_code=valid_credit_code(102)
    )
    rows = [
        ["企业名称", "统一社会信用代码", "城市", "外部编号"],
        ["山西钢科碳材料有限公司", valid_credit_code(102), "阳曲", "P-9"],
    ]
    # The provincial office may change any office's enterprise (crm.access.enterprise_may_change).
    plan = import_commit(importer=IMPORTER, data=csv_bytes(rows), filename="upd.csv", user=provincial_user)
    assert plan.committed, plan.errors
    assert (plan.created, plan.updated) == (0, 1)
    existing.refresh_from_db()
    assert existing.city == "阳曲"
    assert existing.version == 2
    # Created by another office: the importer's external id is not written onto it.
    assert existing.external_id == ""
    assert [w.column for w in plan.warnings] == ["外部编号"]
    assert existing.history.first().history_change_reason == gettext("Imported from %(file)s") % {"file": "upd.csv"}


def test_a_row_without_keys_matches_the_enterprise_of_the_same_name(park_user):
    existing = enterprise_create(office=park_user.office, name="阳曲新材料有限公司")
    rows = [["企业名称", "城市"], ["阳曲新材料股份有限公司", "阳曲"]]
    plan = import_commit(importer=IMPORTER, data=csv_bytes(rows), filename="n.csv", user=park_user)
    assert plan.committed
    assert plan.updated == 1
    existing.refresh_from_db()
    assert existing.city == "阳曲"
    assert existing.name == "阳曲新材料股份有限公司"


def test_blank_cells_do_not_erase_existing_values(park_user):
    existing = EnterpriseFactory(name="甲公司", city="太原", credit_code=valid_credit_code(7))
    rows = [["企业名称", "统一社会信用代码", "城市"], ["甲公司", valid_credit_code(7), ""]]
    plan = import_commit(importer=IMPORTER, data=csv_bytes(rows), filename="b.csv", user=park_user)
    assert plan.unchanged == 1
    existing.refresh_from_db()
    assert existing.city == "太原"


def test_english_headers_gbk_csv_and_capabilities(park_user):
    stage = StageFactory(code="carbon-fibre")
    rows = [
        ["Name", "Credit code", "Ownership", "Capabilities"],
        ["甲碳纤维公司", valid_credit_code(8), "private", "carbon-fibre"],
    ]
    plan = import_commit(importer=IMPORTER, data=csv_bytes(rows, encoding="gb18030"), filename="e.csv", user=park_user)
    assert plan.committed, plan.errors
    enterprise = Enterprise.objects.get(credit_code=valid_credit_code(8))
    assert list(enterprise.stages.all()) == [stage]
    assert list(enterprise.history.first().stages.values_list("stage_id", flat=True)) == [stage.pk]


def test_unknown_stage_code_and_missing_required_column_are_reported(park_user):
    StageFactory(code="known")
    plan = import_preview(
        importer=IMPORTER,
        data=csv_bytes([["企业名称", "可供环节"], ["甲", "known, nope"]]),
        filename="s.csv",
        user=park_user,
    )
    assert [(i.row, i.column) for i in plan.errors] == [(2, "可供环节")]
    assert "nope" in plan.errors[0].message
    plan = import_preview(importer=IMPORTER, data=csv_bytes([["城市"], ["太原"]]), filename="s.csv", user=park_user)
    assert [(i.row, i.column) for i in plan.errors] == [(1, "企业名称")]


def test_keys_pointing_at_two_enterprises_are_refused(park_user, park_office):
    a = enterprise_create(office=park_office, name="甲", credit_code=valid_credit_code(11), external_id="A")
    enterprise_create(office=park_office, name="乙", credit_code=valid_credit_code(12), external_id="B")
    rows = [["企业名称", "统一社会信用代码", "外部编号"], ["甲", valid_credit_code(12), "A"]]
    plan = import_preview(importer=IMPORTER, data=csv_bytes(rows), filename="k.csv", user=park_user)
    assert plan.bad_rows == 1
    assert a.name in plan.errors[0].message


def test_preview_writes_nothing(park_user):
    before = written_counts()
    plan = import_preview(importer=IMPORTER, data=csv_bytes(good_rows()), filename="p.csv", user=park_user)
    assert plan.ok and plan.created == 3
    assert written_counts() == before


def test_not_a_spreadsheet_is_a_file_level_error(park_user):
    plan = import_preview(importer=IMPORTER, data=b"\x00\x01", filename="x.xls", user=park_user)
    assert plan.errors[0].row == 1
    assert ".xlsx" in plan.errors[0].message


@pytest.mark.django_db(transaction=True)
def test_the_same_file_imported_twice_at_once_creates_each_enterprise_once(park_user):
    import threading

    from django.db import connection

    rows = [["企业名称", "城市"]] + [[f"无代码企业{n}", "太原"] for n in range(30)]
    data = csv_bytes(rows)
    barrier = threading.Barrier(2)
    plans = []

    def run() -> None:
        try:
            barrier.wait()
            plans.append(import_commit(importer=IMPORTER, data=data, filename="twice.csv", user=park_user))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(p.committed for p in plans) and len(plans) == 2
    assert sorted((p.created, p.unchanged) for p in plans) == [(0, 30), (30, 0)]
    assert Enterprise.objects.count() == 30


@pytest.mark.django_db(transaction=True)
def test_rows_an_import_locks_still_take_new_references() -> None:
    """The import's lock queues other writers of the row, not foreign-key checks of rows naming it."""
    enterprise = EnterpriseFactory()
    with transaction.atomic():
        assert fetch_in(Enterprise.objects.all(), "pk", [enterprise.pk], lock=True) == [enterprise]
        assert lock_would_wait(Enterprise, enterprise.pk, mode="NO KEY UPDATE")
        assert not lock_would_wait(Enterprise, enterprise.pk, mode="KEY SHARE")


@pytest.mark.django_db(transaction=True)
def test_an_import_that_postgresql_aborts_to_break_a_deadlock_says_try_again(park_user, partner_office):
    """Another writer holds one matched row and then asks for one the import holds:
    PostgreSQL aborts the import (it waited first); the user gets a row-1 message, nothing is written."""
    import threading
    import time

    import psycopg
    from django.db import connection

    low, high = sorted(
        (
            enterprise_create(office=partner_office, name=f"死锁测试企业{n}", credit_code=valid_credit_code(300 + n))
            for n in range(2)
        ),
        key=lambda e: str(e.pk),
    )
    rows = [["企业名称", "统一社会信用代码", "城市"]] + [[e.name, e.credit_code, "阳曲"] for e in (low, high)]
    plans = []

    def run() -> None:
        try:
            plans.append(import_commit(importer=IMPORTER, data=csv_bytes(rows), filename="dl.csv", user=park_user))
        finally:
            connection.close()

    with psycopg.connect(**connection.get_connection_params()) as other:
        other.execute("SELECT 1 FROM crm_enterprise WHERE id = %s FOR UPDATE", [high.pk])
        importer = threading.Thread(target=run)
        importer.start()
        deadline = time.monotonic() + 30
        # pg_stat_activity is a snapshot per transaction: clear it before each look.
        while not (
            other.execute("SELECT pg_stat_clear_snapshot()")
            and other.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()[0]
        ):
            assert time.monotonic() < deadline, "the import never waited for the held row"
            time.sleep(0.05)
        # The import holds `low` and waits for `high`; asking for `low` closes the cycle.
        other.execute("SELECT 1 FROM crm_enterprise WHERE id = %s FOR UPDATE", [low.pk])
        other.rollback()
    importer.join(timeout=60)
    (plan,) = plans
    assert not plan.committed
    assert [issue.row for issue in plan.errors] == [1]
    assert all(e.version == 1 and e.city != "阳曲" for e in Enterprise.objects.filter(pk__in=[low.pk, high.pk]))


def test_the_cycle_collector_is_paused_while_a_file_is_checked_and_written_and_back_after(park_user):
    import gc

    from crm.imports import import_commit_steps, import_preview_steps

    data = csv_bytes(good_rows())
    assert gc.isenabled()
    for make in (import_preview_steps, import_commit_steps):
        steps = make(importer=IMPORTER, data=data, filename="ents.csv", user=park_user)
        seen = []
        with transaction.atomic():
            try:
                while True:
                    next(steps)
                    seen.append(gc.isenabled())
            except StopIteration as stop:
                plan = stop.value
            transaction.set_rollback(True)
        assert plan.ok and seen and not any(seen), make.__name__
        assert gc.isenabled(), make.__name__
    # A consumer that stops early (a closed browser) gets the collector back as well.
    steps = import_commit_steps(importer=IMPORTER, data=data, filename="ents.csv", user=park_user)
    next(steps)
    assert not gc.isenabled()
    steps.close()
    assert gc.isenabled()
    # A collector someone else had turned off stays off.
    gc.disable()
    try:
        import_preview(importer=IMPORTER, data=data, filename="ents.csv", user=park_user)
        assert not gc.isenabled()
    finally:
        gc.enable()
