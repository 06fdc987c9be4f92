"""crm.capability_capital: every capability carries its enterprise's capital and merge, on
every write path (services, bulk writes, imports, merges, queryset updates, raw SQL), on
PostgreSQL and SQLite."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.db import connection, transaction

from crm import capability_capital
from crm.enterprise_imports import EnterpriseImporter
from crm.imports import import_commit
from crm.models import Enterprise
from crm.records_bulk import bulk_write
from crm.services import enterprise_create, enterprise_update
from recruitment.merge import enterprise_merge
from tests.crm.row_locks import lock_would_wait
from tests.factories import EnterpriseFactory, OfficeFactory, StageFactory, valid_credit_code

pytestmark = pytest.mark.django_db

Through = Enterprise.stages.through


def csv_bytes(rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def copies(enterprise: Enterprise) -> set[tuple[int, Decimal | None, bool]]:
    """(stage id, capital, merged) of each capability of ``enterprise`` as the table holds them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT stage_id, enterprise_capital, enterprise_merged FROM crm_enterprise_stages WHERE enterprise_id = %s",
            [Through._meta.get_field("enterprise").get_db_prep_value(enterprise.pk, connection)],
        )
        return {
            (stage_id, None if capital is None else Decimal(str(capital)).quantize(Decimal("0.01")), bool(merged))
            for stage_id, capital, merged in cursor.fetchall()
        }


@pytest.fixture
def stages():  # type: ignore[no-untyped-def]
    return StageFactory(code="s1"), StageFactory(code="s2")


def test_a_capability_added_carries_its_enterprises_capital(stages) -> None:  # type: ignore[no-untyped-def]
    first, second = stages
    enterprise = enterprise_create(
        office=OfficeFactory(), name="甲", registered_capital=Decimal("1250000.50"), stages=[first]
    )
    enterprise.stages.add(second)
    assert copies(enterprise) == {(first.pk, Decimal("1250000.50"), False), (second.pk, Decimal("1250000.50"), False)}
    blank = EnterpriseFactory(registered_capital=None)
    blank.stages.set([first])
    assert copies(blank) == {(first.pk, None, False)}
    assert capability_capital.differences() == 0


def test_a_capital_changed_on_any_path_is_copied_to_every_capability(stages) -> None:  # type: ignore[no-untyped-def]
    first, second = stages
    office = OfficeFactory()
    enterprise = enterprise_create(office=office, name="乙", registered_capital=Decimal(100), stages=[first, second])
    enterprise_update(enterprise=enterprise, registered_capital=Decimal(200))
    assert {c for _s, c, _m in copies(enterprise)} == {Decimal(200)}
    Enterprise.objects.filter(pk=enterprise.pk).update(registered_capital=Decimal(300))
    assert {c for _s, c, _m in copies(enterprise)} == {Decimal(300)}
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE crm_enterprise SET registered_capital = NULL WHERE id = %s",
            [Enterprise._meta.pk.get_db_prep_value(enterprise.pk, connection)],
        )
    assert {c for _s, c, _m in copies(enterprise)} == {None}
    enterprise.refresh_from_db()
    enterprise.registered_capital = Decimal("400.25")
    enterprise.save()
    assert {c for _s, c, _m in copies(enterprise)} == {Decimal("400.25")}
    assert capability_capital.differences() == 0


def test_a_copy_written_wrong_by_hand_is_read_again_from_the_enterprise(stages) -> None:  # type: ignore[no-untyped-def]
    enterprise = EnterpriseFactory(registered_capital=Decimal(500))
    enterprise.stages.set(stages)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE crm_enterprise_stages SET enterprise_capital = 1, enterprise_merged = %s", [True])
    assert {(c, m) for _s, c, m in copies(enterprise)} == {(Decimal(500), False)}
    assert capability_capital.differences() == 0


def test_bulk_writes_and_imports_copy_the_capital(stages, park_user) -> None:  # type: ignore[no-untyped-def]
    first, second = stages
    office = OfficeFactory()
    created = [
        Enterprise(office=office, name=f"企业{i}", credit_code=valid_credit_code(60 + i), registered_capital=Decimal(i))
        for i in range(1, 4)
    ]
    changed = EnterpriseFactory(office=office, registered_capital=Decimal(7))
    changed.stages.set([first])
    changed.registered_capital = Decimal(8)
    m2m = {"stages": {created[0].pk: [first, second], created[2].pk: [second], changed.pk: [second]}}
    for _step in bulk_write(
        model=Enterprise,
        creates=created,
        updates=[changed],
        update_fields=["registered_capital"],
        actor=None,
        reason="bulk",
        m2m=m2m,
    ):
        pass
    assert copies(created[0]) == {(first.pk, Decimal(1), False), (second.pk, Decimal(1), False)}
    assert copies(changed) == {(second.pk, Decimal(8), False)}
    rows = [["Name", "Credit code", "Ownership", "Registered capital (CNY)", "Capabilities"]]
    rows.append(["丙公司", valid_credit_code(70), "private", "2500000", "s1"])
    plan = import_commit(importer=EnterpriseImporter(), data=csv_bytes(rows), filename="e.csv", user=park_user)
    assert plan.committed, plan.errors
    assert copies(Enterprise.objects.get(credit_code=valid_credit_code(70))) == {(first.pk, Decimal(2500000), False)}
    assert capability_capital.differences() == 0


def test_a_merge_marks_the_duplicates_capabilities_and_a_cleared_merge_unmarks_them(stages) -> None:  # type: ignore[no-untyped-def]
    first, _second = stages
    office = OfficeFactory()
    survivor = EnterpriseFactory(office=office, name="丁")
    duplicate = EnterpriseFactory(office=office, name="丁公司", credit_code=None, registered_capital=Decimal(900))
    duplicate.stages.set([first])
    enterprise_merge(survivor=survivor, duplicate=duplicate)
    assert copies(duplicate) == {(first.pk, Decimal(900), True)}
    Enterprise.objects.filter(pk=duplicate.pk).update(merged_into=None)
    assert copies(duplicate) == {(first.pk, Decimal(900), False)}
    assert capability_capital.differences() == 0


def test_a_fill_repairs_copies_a_load_left_without_them(stages) -> None:  # type: ignore[no-untyped-def]
    enterprise = EnterpriseFactory(registered_capital=Decimal(42))
    enterprise.stages.set(stages)
    with connection.cursor() as cursor:
        capability_capital.uninstall_triggers(cursor, connection.vendor)
        cursor.execute("UPDATE crm_enterprise_stages SET enterprise_capital = NULL")
        assert capability_capital.differences() == 2
        capability_capital.fill(cursor)
        capability_capital.install_triggers(cursor, connection.vendor)
    assert capability_capital.differences() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_capability_being_added_holds_off_a_change_of_its_enterprises_capital(stages) -> None:  # type: ignore[no-untyped-def]
    """The copy is read under a share lock of the enterprise row: a transaction changing the
    capital meanwhile waits for the capability's to commit, then rewrites its copy (a foreign
    key's lock alone would let it through, and the capability would keep the old capital)."""
    enterprise = EnterpriseFactory(registered_capital=Decimal(1))
    with transaction.atomic():
        enterprise.stages.add(stages[0])
        assert lock_would_wait(Enterprise, enterprise.pk, mode="NO KEY UPDATE")


def test_every_trigger_of_the_copy_is_there_after_the_migrations() -> None:
    """A later migration that makes Django rebuild ``crm_enterprise`` or its capabilities'
    table on SQLite drops their triggers (and the copy's columns): it must install them again."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        present = {name for (name,) in cursor.fetchall()}
    expected = set(capability_capital.triggers(connection.vendor))
    assert expected <= present, sorted(expected - present)
