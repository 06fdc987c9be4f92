"""The enterprise's stored search keys (PostgreSQL, migration crm.0009) stay true on every
write path: PostgreSQL computes the generated column whatever writes the row."""

from __future__ import annotations

import pytest
from django.db import connection

from crm.models import Enterprise
from crm.names import pinyin_keys
from crm.records_bulk import bulk_write
from crm.search import search_enterprises
from tests.factories import EnterpriseFactory, valid_credit_code

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _stale() -> list[tuple]:
    """Rows whose stored keys differ from the keys worked out from their columns."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, search_keys, cr_search_keys(name_pinyin, name_initials, name_en) FROM crm_enterprise "
            "WHERE search_keys IS DISTINCT FROM cr_search_keys(name_pinyin, name_initials, name_en)"
        )
        return cursor.fetchall()


def _keys(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT search_keys FROM crm_enterprise WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def _named(name: str, **fields: object) -> Enterprise:
    pinyin, initials = pinyin_keys(name)
    return Enterprise(name=name, name_pinyin=pinyin, name_initials=initials, **fields)


def test_every_write_path_keeps_the_stored_keys_true():
    # A save (what the services do), with an English name.
    saved = EnterpriseFactory(name="太原钢铁（集团）有限公司", name_en="Taiyuan Iron and Steel")
    saved.name_pinyin, saved.name_initials = pinyin_keys(saved.name)
    saved.save()
    pinyin, initials = pinyin_keys(saved.name)
    assert _keys(saved.pk) == f"{pinyin.replace(' ', '')}|{initials}|taiyuanironandsteel"
    # bulk_create, the COPY of set-based writes (imports, the API's bulk) and its UPDATE.
    Enterprise.objects.bulk_create([_named("忻州碳材料有限公司", credit_code=valid_credit_code(4242))])
    copied, changed = _named("晋能控股装备制造集团有限公司"), _named("山西潞安矿业（集团）有限责任公司")
    for _step in bulk_write(
        model=Enterprise, creates=[copied, changed], updates=[], update_fields=[], actor=None, reason="t"
    ):
        pass
    changed.name, changed.name_en = "长治碳纤维有限公司", "Changzhi Carbon Fibre"
    changed.name_pinyin, changed.name_initials = pinyin_keys(changed.name)
    for _step in bulk_write(
        model=Enterprise,
        creates=[],
        updates=[changed],
        update_fields=["name", "name_en", "name_pinyin", "name_initials"],
        actor=None,
        reason="t",
    ):
        pass
    assert "tanxianwei" in _keys(changed.pk) and "changzhicarbonfibre" in _keys(changed.pk)
    # A queryset update (merges, bulk edits) and raw SQL.
    Enterprise.objects.filter(pk=saved.pk).update(name_en="TISCO")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE crm_enterprise SET name_initials = 'zzz' WHERE id = %s", [copied.pk])
    assert _keys(saved.pk).endswith("|tisco") and "|zzz|" in _keys(copied.pk)
    assert Enterprise.objects.count() == 4
    assert _stale() == []
    # And the search reads them: the new English name and pinyin find their enterprises.
    found = set(search_enterprises(Enterprise.objects.all(), "carbonfib").values_list("pk", flat=True))
    assert found == {changed.pk}
    assert set(search_enterprises(Enterprise.objects.all(), "tisco").values_list("pk", flat=True)) == {saved.pk}


def test_the_column_cannot_be_written_by_hand():
    enterprise = EnterpriseFactory()
    with pytest.raises(Exception, match="generated column"), connection.cursor() as cursor:
        cursor.execute("UPDATE crm_enterprise SET search_keys = 'x' WHERE id = %s", [enterprise.pk])
