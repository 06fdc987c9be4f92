"""Merging duplicate enterprises: everything moves, history says so, concurrent merges neither deadlock nor lose rows."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.utils.translation import gettext

from crm.models import ChangeEntry, Contact, Enterprise, Interaction, Presence
from crm.services import contact_create, enterprise_create, interaction_log
from recruitment.merge import HANDLED_RELATIONS, MergeRefused, _locked, _short, enterprise_merge, merge_allowed
from recruitment.models import Project
from recruitment.services import project_create
from tests.crm.row_locks import lock_would_wait
from tests.factories import ChainFactory, ParkFactory, PresenceFactory, StageFactory, UserFactory, valid_credit_code

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def places():  # type: ignore[no-untyped-def]
    park = ParkFactory(code="zhongbei")
    chain = ChainFactory(code="stainless")
    return park, StageFactory(chain=chain, code="smelting"), StageFactory(chain=chain, code="cold-rolled")


def test_merge_moves_every_record_and_records_history(places, park_office, partner_office, provincial_user):
    park, smelting, rolled = places
    keep = enterprise_create(
        office=park_office, name="太原钢铁（集团）有限公司", credit_code=valid_credit_code(1), stages=[rolled]
    )
    drop = enterprise_create(
        office=park_office,
        name="太钢集团",
        website="http://www.tisco.com.cn",
        name_en="TISCO",
        external_id="T-1",
        ownership=Enterprise.Ownership.STATE,
        stages=[smelting],
    )
    mine = contact_create(office=park_office, enterprise=drop, name="张伟")
    theirs = contact_create(office=partner_office, enterprise=drop, name="李娜")
    talk = interaction_log(
        office=park_office, enterprise=drop, kind="call", occurred_at="2024-03-01T10:00+08:00", summary="通话"
    )
    project = project_create(office=park_office, stages=[rolled], title="冷轧项目", enterprise=drop, park=park)
    Presence.objects.create(enterprise=keep, park=park, stage=smelting)
    Presence.objects.create(enterprise=drop, park=park, stage=smelting, note="2022年资料")
    Presence.objects.create(enterprise=drop, park=park, stage=rolled)
    chain = smelting.chain
    chain.owner_enterprise = drop
    chain.save()
    seq_before = {row.object_id: row.seq for row in ChangeEntry.objects.all()}

    result = enterprise_merge(survivor=keep, duplicate=drop, actor=provincial_user)
    moved_reason = gettext("Moved: %(dup)s merged into %(keep)s") % {"dup": _short(drop), "keep": _short(keep)}

    assert result.moved == {"contacts": 2, "interactions": 1, "projects": 1, "presences": 1}
    assert result.presences_dropped == 1
    for record in (mine, theirs, talk, project):
        record.refresh_from_db()
        assert record.enterprise_id == keep.pk
        assert record.version == 2 if not isinstance(record, Project) else record.version >= 2
        latest = record.history.first()
        assert latest.history_change_reason == moved_reason
        assert latest.history_user == provincial_user
        assert ChangeEntry.objects.get(object_id=record.pk).seq > seq_before[record.pk]
    assert set(Presence.objects.filter(enterprise=keep).values_list("stage__code", flat=True)) == {
        "smelting",
        "cold-rolled",
    }
    assert Presence.objects.get(enterprise=keep, stage=smelting).note == "2022年资料"
    assert not Presence.objects.filter(enterprise=drop).exists()
    keep.refresh_from_db()
    drop.refresh_from_db()
    assert set(keep.stages.values_list("code", flat=True)) == {"smelting", "cold-rolled"}
    assert (keep.name, keep.credit_code) == ("太原钢铁（集团）有限公司", valid_credit_code(1))
    assert (keep.website, keep.name_en, keep.ownership, keep.external_id) == (
        "http://www.tisco.com.cn",
        "TISCO",
        "state",
        "T-1",
    )
    assert keep.history.first().history_change_reason == gettext("Merged from %(dup)s") % {"dup": _short(drop)}
    assert drop.merged_into == keep
    assert drop.external_id == ""
    assert drop.history.first().history_change_reason == gettext("Merged into %(keep)s") % {"keep": _short(keep)}
    assert drop.version == 2
    chain.refresh_from_db()
    assert chain.owner_enterprise == keep


def test_survivor_takes_the_duplicates_credit_code_when_it_has_none(park_office):
    keep = enterprise_create(office=park_office, name="凯赛生物")
    drop = enterprise_create(office=park_office, name="凯赛（太原）生物科技有限公司", credit_code=valid_credit_code(2))
    enterprise_merge(survivor=keep, duplicate=drop)
    keep.refresh_from_db()
    drop.refresh_from_db()
    assert keep.credit_code == valid_credit_code(2)
    assert drop.credit_code is None


def test_different_credit_codes_are_not_merged(park_office):
    keep = enterprise_create(office=park_office, name="甲", credit_code=valid_credit_code(3))
    drop = enterprise_create(office=park_office, name="甲公司", credit_code=valid_credit_code(4))
    contact_create(office=park_office, enterprise=drop, name="张伟")
    with pytest.raises(MergeRefused, match=valid_credit_code(4)):
        enterprise_merge(survivor=keep, duplicate=drop)
    assert Contact.objects.get().enterprise_id == drop.pk


def test_merging_into_a_merged_enterprise_is_refused(park_office):
    a = enterprise_create(office=park_office, name="甲")
    b = enterprise_create(office=park_office, name="乙")
    c = enterprise_create(office=park_office, name="丙")
    enterprise_merge(survivor=b, duplicate=a)
    with pytest.raises(MergeRefused):
        enterprise_merge(survivor=a, duplicate=c)
    with pytest.raises(MergeRefused):
        enterprise_merge(survivor=c, duplicate=a)
    with pytest.raises(MergeRefused):
        enterprise_merge(survivor=a, duplicate=a)


def test_earlier_merges_follow_the_duplicate_to_the_survivor(park_office):
    a = enterprise_create(office=park_office, name="甲")
    b = enterprise_create(office=park_office, name="乙")
    c = enterprise_create(office=park_office, name="丙")
    enterprise_merge(survivor=b, duplicate=a)
    enterprise_merge(survivor=c, duplicate=b)
    a.refresh_from_db()
    assert a.merged_into == c


def test_merging_again_sweeps_records_that_arrived_late(park_office):
    keep = enterprise_create(office=park_office, name="甲")
    drop = enterprise_create(office=park_office, name="甲公司")
    enterprise_merge(survivor=keep, duplicate=drop)
    late = contact_create(office=park_office, enterprise=drop, name="迟到的联系人")
    result = enterprise_merge(survivor=keep, duplicate=drop)
    assert result.already_merged and result.moved["contacts"] == 1
    late.refresh_from_db()
    assert late.enterprise_id == keep.pk


def test_only_managers_and_provincial_staff_may_merge(park_office, provincial_user):
    staff = UserFactory(office=park_office, is_staff=True)
    manager = UserFactory(office=park_office, is_staff=True, is_manager=True)
    assert not merge_allowed(staff)
    assert merge_allowed(manager)
    assert merge_allowed(provincial_user)
    keep = enterprise_create(office=park_office, name="甲")
    drop = enterprise_create(office=park_office, name="甲公司")
    with pytest.raises(MergeRefused):
        enterprise_merge(survivor=keep, duplicate=drop, actor=staff)


def test_every_relation_to_an_enterprise_is_handled_by_the_merge():
    relations = {r.name for r in Enterprise._meta.related_objects}
    assert relations <= HANDLED_RELATIONS, f"teach recruitment.merge about: {relations - HANDLED_RELATIONS}"


def _run_in_threads(*jobs):  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(len(jobs))
    outcomes: list[object] = [None] * len(jobs)

    def run(index, job):  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            outcomes[index] = job()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_duplicates_merged_into_one_survivor_at_once_lose_nothing(places, park_office):
    park, smelting, rolled = places
    keep = enterprise_create(office=park_office, name="太钢")
    dups = [enterprise_create(office=park_office, name=f"太钢{i}") for i in range(2)]
    for dup in dups:
        for n in range(5):
            contact_create(office=park_office, enterprise=dup, name=f"{dup.name}-{n}")
        Presence.objects.create(enterprise=dup, park=park, stage=smelting)
        Presence.objects.create(enterprise=dup, park=park, stage=rolled)
    outcomes = _run_in_threads(*(lambda d=d: enterprise_merge(survivor=keep, duplicate=d) for d in dups))
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert Contact.objects.filter(enterprise=keep).count() == 10
    assert Presence.objects.filter(enterprise=keep).count() == 2
    assert Enterprise.objects.filter(merged_into=keep).count() == 2


@pytest.mark.django_db(transaction=True)
def test_crossing_merges_do_not_deadlock_and_exactly_one_wins(park_office):
    a = enterprise_create(office=park_office, name="甲")
    b = enterprise_create(office=park_office, name="甲公司")
    for ent in (a, b):
        for n in range(5):
            contact_create(office=park_office, enterprise=ent, name=f"{ent.name}-{n}")
        interaction_log(
            office=park_office, enterprise=ent, kind="call", occurred_at="2024-03-01T10:00+08:00", summary="通话"
        )
    outcomes = _run_in_threads(
        lambda: enterprise_merge(survivor=a, duplicate=b), lambda: enterprise_merge(survivor=b, duplicate=a)
    )
    refused = [o for o in outcomes if isinstance(o, MergeRefused)]
    others = [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, MergeRefused)]
    assert not others, others
    assert len(refused) == 1
    (winner,) = Enterprise.objects.filter(merged_into__isnull=True)
    assert Contact.objects.filter(enterprise=winner).count() == 10
    assert Interaction.objects.filter(enterprise=winner).count() == 2


@pytest.mark.django_db(transaction=True)
def test_merge_locks_leave_foreign_key_checks_free_except_on_presences_it_may_delete() -> None:
    enterprise = enterprise_create(office=None, name="被锁企业")
    presence = PresenceFactory(enterprise=enterprise)
    with transaction.atomic():
        assert _locked(Enterprise.objects.filter(pk=enterprise.pk)) == [enterprise]
        assert lock_would_wait(Enterprise, enterprise.pk, mode="NO KEY UPDATE")
        assert not lock_would_wait(Enterprise, enterprise.pk, mode="KEY SHARE")
        assert _locked(Presence.objects.filter(pk=presence.pk), deleting=True) == [presence]
        assert lock_would_wait(Presence, presence.pk, mode="KEY SHARE")
