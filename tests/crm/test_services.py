import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from crm.changes import changes_after
from crm.models import ChangeEntry, Presence
from crm.records import DuplicateRecord
from crm.services import (
    contact_create,
    contact_delete,
    contact_update,
    enterprise_create,
    interaction_log,
    presence_delete,
    presence_set,
)
from tests.factories import EnterpriseFactory, ParkFactory, StageFactory, valid_credit_code

pytestmark = pytest.mark.django_db


def test_enterprise_create_normalises_code_and_keeps_pinyin(park_office, park_user):
    ent = enterprise_create(
        office=park_office, actor=park_user, name="太原钢铁集团有限公司", credit_code=valid_credit_code(1).lower()
    )
    assert ent.credit_code == valid_credit_code(1)
    assert ent.name_pinyin.startswith("tai yuan gang tie")
    assert ent.name_initials.startswith("tygt")
    assert ent.version == 1
    assert ent.history.count() == 1


def test_duplicate_credit_code_names_the_existing_enterprise(park_office):
    first = enterprise_create(office=park_office, name="甲", credit_code=valid_credit_code(2))
    with pytest.raises(DuplicateRecord) as info:
        enterprise_create(office=park_office, name="乙", credit_code=valid_credit_code(2))
    assert info.value.existing_id == first.pk


def test_invalid_credit_code_is_refused_on_the_field(park_office):
    with pytest.raises(ValidationError) as info:
        enterprise_create(office=park_office, name="甲", credit_code="91110000600037341X")
    assert "credit_code" in info.value.message_dict


def test_negative_capital_is_refused(park_office):
    with pytest.raises(ValidationError) as info:
        enterprise_create(office=park_office, name="甲", registered_capital=-1)
    assert "registered_capital" in info.value.message_dict


@pytest.mark.django_db(transaction=True)
def test_every_write_moves_the_record_in_the_change_feed(park_office):
    ent = enterprise_create(office=park_office, name="甲")
    contact = contact_create(office=park_office, enterprise=ent, name="张三")
    contact_update(contact=contact, name="张三丰")
    assert contact.version == 2
    # The feed shows a change once every older transaction on the server has
    # finished; other databases' transactions can hold it back for a moment.
    deadline = time.monotonic() + 30
    while True:
        rows, _pos = changes_after(after=None, office_ids=None, limit=1000)
        by_type = {(r.type, str(r.object_id)): r for r in rows}
        if ("contact", str(contact.pk)) in by_type or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert by_type[("contact", str(contact.pk))].op == "upsert"
    assert by_type[("contact", str(contact.pk))].data["version"] == 2
    contact_delete(contact=contact)
    assert ChangeEntry.objects.get(object_id=contact.pk).op == "delete"


def test_new_work_on_a_merged_enterprise_is_refused(park_office):
    survivor = enterprise_create(office=park_office, name="存续企业")
    duplicate = enterprise_create(office=park_office, name="重复企业")
    duplicate.merged_into = survivor
    duplicate.save(update_fields=["merged_into"])
    with pytest.raises(ValidationError) as info:
        contact_create(office=park_office, enterprise=duplicate, name="李四")
    assert "enterprise" in info.value.message_dict
    assert "存续企业" in info.value.message_dict["enterprise"][0]


def _queries_to_delete_a_contact_named_by(n, office, actor):  # type: ignore[no-untyped-def]
    ent = enterprise_create(office=office, name=f"企业{n}")
    gone = contact_create(office=office, enterprise=ent, name="张三")
    kept = contact_create(office=office, enterprise=ent, name="李四")
    named = [
        interaction_log(
            office=office,
            enterprise=ent,
            kind="call",
            occurred_at=timezone.now(),
            summary="电话",
            contacts=[gone, kept],
        )
        for _ in range(n)
    ]
    with CaptureQueriesContext(connection) as queries, translation.override("en"):
        contact_delete(contact=gone, actor=actor)
    for interaction in named:
        interaction.refresh_from_db()
        assert (interaction.version, list(interaction.contacts.all())) == (2, [kept])
        latest = interaction.history.latest()
        assert latest.history_change_reason == "Contact deleted"
        assert [c.contact_id for c in latest.contacts.all()] == [kept.pk]
    return len(queries)


def test_deleting_a_contact_costs_the_same_queries_for_3_or_30_interactions(park_office, park_user):
    assert _queries_to_delete_a_contact_named_by(3, park_office, park_user) == _queries_to_delete_a_contact_named_by(
        30, park_office, park_user
    )


def test_deleting_a_contact_takes_it_off_its_interactions_through_the_write_path(park_office, park_user):
    ent = enterprise_create(office=park_office, name="甲")
    gone = contact_create(office=park_office, enterprise=ent, name="张三")
    kept = contact_create(office=park_office, enterprise=ent, name="李四")
    named = interaction_log(
        office=park_office,
        enterprise=ent,
        kind="call",
        occurred_at=timezone.now(),
        summary="电话",
        contacts=[gone, kept],
    )
    untouched = interaction_log(
        office=park_office, enterprise=ent, kind="visit", occurred_at=timezone.now(), summary="拜访", contacts=[kept]
    )
    history_rows = named.history.count()

    contact_delete(contact=gone, actor=park_user)

    named.refresh_from_db()
    assert named.version == 2
    assert list(named.contacts.all()) == [kept]
    # Saving the row and changing its contacts each leave a history row (django-simple-history).
    assert named.history.count() > history_rows
    latest = named.history.latest()
    assert (latest.version, latest.history_user) == (2, park_user)
    assert not latest.contacts.filter(contact_id=gone.pk).exists()
    entry = ChangeEntry.objects.get(type="interaction", object_id=named.pk)
    assert entry.op == "upsert"
    assert (entry.data["version"], entry.data["contacts"]) == (2, [str(kept.pk)])
    untouched.refresh_from_db()
    assert untouched.version == 1
    assert ChangeEntry.objects.get(type="contact", object_id=gone.pk).op == "delete"


def test_presence_removal_is_kept_in_history_with_who_removed_it(provincial_user):
    presence = presence_set(enterprise=EnterpriseFactory(), park=ParkFactory(), stage=StageFactory(), note="在建")
    pk = presence.pk
    same_row_elsewhere = Presence.objects.get(pk=pk)

    presence_delete(presence=presence, actor=provincial_user)
    presence_delete(presence=same_row_elsewhere, actor=provincial_user)  # a second click: nothing more

    assert not Presence.objects.filter(pk=pk).exists()
    rows = Presence.history.filter(id=pk).order_by("history_date")
    assert [(r.history_type, r.history_user, r.note) for r in rows] == [
        ("+", None, "在建"),
        ("-", provincial_user, "在建"),
    ]


def test_presence_set_names_who_changed_it(provincial_user):
    presence = presence_set(enterprise=EnterpriseFactory(), park=ParkFactory(), stage=StageFactory())
    presence_set(
        enterprise=presence.enterprise, park=presence.park, stage=presence.stage, note="二期", actor=provincial_user
    )
    assert presence.history.latest().history_user == provincial_user
