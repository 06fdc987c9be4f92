"""crm.records_bulk: set-based writes leave the rows, history and feed a save would leave.

Run on both databases: PostgreSQL takes the COPY / one-UPDATE / history-in-SQL way,
SQLite the ORM's bulk_create / bulk_update and simple-history's bulk_history_create.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.forms.models import model_to_dict

from crm.models import ChangeEntry, Contact, Enterprise
from crm.records_bulk import bulk_write
from tests.factories import EnterpriseFactory, OfficeFactory, StageFactory, UserFactory, valid_credit_code

pytestmark = pytest.mark.django_db

TRACKED = [
    "id",
    "external_id",
    "version",
    "name",
    "name_en",
    "credit_code",
    "ownership",
    "province",
    "city",
    "registered_capital",
    "website",
    "source",
    "is_demo",
    "office_id",
    "merged_into_id",
    "created_at",
    "updated_at",
]


def _written(objs, m2m=None, updates=(), fields=(), actor=None):  # type: ignore[no-untyped-def]
    for _step in bulk_write(
        model=Enterprise,
        creates=list(objs),
        updates=list(updates),
        update_fields=fields,
        actor=actor,
        reason="Bulk test",
        m2m=m2m,
    ):
        pass


def test_creates_write_rows_history_m2m_history_and_feed():
    office = OfficeFactory()
    user = UserFactory(office=office)
    first, second = StageFactory(code="s1"), StageFactory(code="s2")
    objs = [
        Enterprise(
            office=office,
            external_id=f"B-{i}",
            name=f"企业{i}",
            credit_code=valid_credit_code(40 + i),
            registered_capital=Decimal("1250000.50"),
            website="https://e.example.cn",
            name_pinyin=f"qi ye {i}",
        )
        for i in range(3)
    ]
    _written(objs, m2m={"stages": {objs[0].pk: [first, second], objs[1].pk: [second]}}, actor=user)

    for obj in objs:
        row = Enterprise.objects.get(pk=obj.pk)
        assert model_to_dict(row, exclude=["stages", "capabilities"]) == model_to_dict(
            obj, exclude=["stages", "capabilities"]
        )
        assert row.name_pinyin == obj.name_pinyin and row.created_at is not None
        (history,) = row.history.all()
        assert history.history_type == "+" and history.history_user_id == user.pk
        assert history.history_change_reason == "Bulk test"
        assert {f: getattr(history, f) for f in TRACKED} == {f: getattr(row, f) for f in TRACKED}
        through = {(t.id, t.stage_id) for t in Enterprise.stages.through.objects.filter(enterprise_id=obj.pk)}
        assert {(m.id, m.stage_id) for m in history.stages.all()} == through
        assert ChangeEntry.objects.get(type="enterprise", object_id=obj.pk).data["version"] == 1
    assert {s.code for s in Enterprise.objects.get(pk=objs[0].pk).stages.all()} == {"s1", "s2"}
    assert not Enterprise.objects.get(pk=objs[2].pk).stages.exists()


def test_updates_bump_versions_replace_m2m_and_write_history():
    office = OfficeFactory()
    first, second = StageFactory(code="s1"), StageFactory(code="s2")
    kept = EnterpriseFactory(office=office, external_id="K", city="太原")
    changed = EnterpriseFactory(office=office, external_id="C", city="太原")
    changed.stages.set([first])
    versions = {e.pk: e.version for e in (kept, changed)}
    changed.city = "忻州"
    changed.registered_capital = Decimal("99.90")
    _written([], updates=[changed], fields=["city", "registered_capital"], m2m={"stages": {changed.pk: [second]}})

    row = Enterprise.objects.get(pk=changed.pk)
    assert (row.city, row.registered_capital, row.version) == ("忻州", Decimal("99.90"), versions[changed.pk] + 1)
    assert [s.code for s in row.stages.all()] == ["s2"]
    latest = row.history.order_by("-history_id").first()
    assert latest.history_type == "~" and latest.city == "忻州" and latest.version == row.version
    assert [m.stage_id for m in latest.stages.all()] == [second.pk]
    assert ChangeEntry.objects.get(type="enterprise", object_id=row.pk).data["city"] == "忻州"
    untouched = Enterprise.objects.get(pk=kept.pk)
    assert (untouched.city, untouched.version) == ("太原", versions[kept.pk])


def test_other_models_keep_their_values():
    office = OfficeFactory()
    enterprise = EnterpriseFactory(office=office)
    contact = Contact(office=office, enterprise=enterprise, external_id="P-1", name="王经理", phone="0351-1234567")
    for _step in bulk_write(model=Contact, creates=[contact], updates=[], update_fields=[], actor=None, reason="r"):
        pass
    row = Contact.objects.get(pk=contact.pk)
    assert model_to_dict(row) == model_to_dict(contact)
    assert row.history.get().history_type == "+"


def test_a_key_taken_meanwhile_is_djangos_integrity_error_and_nothing_is_written():
    from django.db import IntegrityError, transaction

    office = OfficeFactory()
    EnterpriseFactory(credit_code=valid_credit_code(77))
    before = Enterprise.objects.count(), Enterprise.history.count()
    clash = [
        Enterprise(office=office, external_id="X-1", name="甲", credit_code=valid_credit_code(78)),
        Enterprise(office=office, external_id="X-2", name="乙", credit_code=valid_credit_code(77)),
    ]
    with pytest.raises(IntegrityError), transaction.atomic():  # what the API answers 409 to
        _written(clash)
    assert (Enterprise.objects.count(), Enterprise.history.count()) == before


@pytest.mark.postgres
def test_a_large_write_holds_a_bounded_number_of_render_locks():
    """Render locks are striped: writing 3,000 enterprises in one transaction holds at
    most RENDER_LOCK_STRIPES advisory locks, not one per record (a 100,000-row import
    would otherwise exhaust PostgreSQL's shared lock table)."""
    from django.db import connection, transaction

    from crm.changes import RENDER_LOCK_STRIPES

    office = OfficeFactory()
    objs = [Enterprise(office=office, name=f"条纹锁企业{i}", credit_code=None) for i in range(3000)]
    with transaction.atomic():
        _written(objs)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            held = cursor.fetchone()[0]
    assert 0 < held <= RENDER_LOCK_STRIPES
    assert ChangeEntry.objects.filter(type="enterprise").count() == 3000
