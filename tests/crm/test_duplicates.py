"""Finding likely duplicate enterprises: by normalised name, pinyin and website, in four queries."""

from __future__ import annotations

import pytest

from crm.duplicates import duplicate_groups, website_host
from crm.services import contact_create, enterprise_create
from tests.factories import valid_credit_code

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def names(group) -> set[str]:  # type: ignore[no-untyped-def]
    return {m.name for m in group.members}


def test_same_normalised_name_same_pinyin_and_same_website_make_groups(park_office):
    enterprise_create(office=park_office, name="太原钢铁（集团）有限公司", credit_code=valid_credit_code(1))
    enterprise_create(office=park_office, name="太原钢铁集团")
    enterprise_create(office=park_office, name="凯赛生物科技有限公司")
    enterprise_create(office=park_office, name="楷赛生物科技有限公司")  # homophone typo
    enterprise_create(office=park_office, name="钢科碳材料", website="http://www.gangke.cn")
    enterprise_create(office=park_office, name="山西钢科", website="https://gangke.cn/about")
    enterprise_create(office=park_office, name="无关企业", website="https://mp.weixin.qq.com/s/abc")
    enterprise_create(office=park_office, name="另一无关企业", website="https://mp.weixin.qq.com/s/def")
    groups = {frozenset(names(g)): g for g in duplicate_groups()}
    assert set(groups) == {
        frozenset({"太原钢铁（集团）有限公司", "太原钢铁集团"}),
        frozenset({"凯赛生物科技有限公司", "楷赛生物科技有限公司"}),
        frozenset({"钢科碳材料", "山西钢科"}),
    }
    steel = groups[frozenset({"太原钢铁（集团）有限公司", "太原钢铁集团"})]
    assert [kind for kind, _value in steel.reasons] == ["name"]
    assert steel.suggested_survivor.credit_code == valid_credit_code(1)
    assert [kind for kind, _v in groups[frozenset({"凯赛生物科技有限公司", "楷赛生物科技有限公司"})].reasons] == [
        "pinyin"
    ]
    assert groups[frozenset({"钢科碳材料", "山西钢科"})].reasons == [("domain", "gangke.cn")]


def test_merged_enterprises_are_not_listed(park_office):
    keep = enterprise_create(office=park_office, name="甲公司")
    gone = enterprise_create(office=park_office, name="甲有限公司")
    gone.merged_into = keep
    gone.save()
    assert duplicate_groups() == []


def test_members_with_different_credit_codes_are_flagged(park_office):
    enterprise_create(office=park_office, name="乙公司", credit_code=valid_credit_code(2))
    enterprise_create(office=park_office, name="乙有限公司", credit_code=valid_credit_code(3))
    (group,) = duplicate_groups()
    assert group.codes_conflict


def test_record_counts_are_those_the_user_may_see(park_office, partner_office, park_user):
    a = enterprise_create(office=park_office, name="丙公司")
    enterprise_create(office=park_office, name="丙有限公司")
    contact_create(office=park_office, enterprise=a, name="自己人")
    contact_create(office=partner_office, enterprise=a, name="别人的")
    (group,) = duplicate_groups(user=park_user)
    counted = {m.pk: m.n_contacts for m in group.members}
    assert counted[a.pk] == 1


@pytest.mark.parametrize("pairs", [2, 12])
def test_duplicate_groups_take_four_queries_whatever_the_size(park_office, django_assert_num_queries, pairs):
    for n in range(pairs):
        enterprise_create(office=park_office, name=f"企业{n}号有限公司", website=f"http://e{n}.example.cn")
        enterprise_create(office=park_office, name=f"企业{n}号", website=f"https://www.e{n}.example.cn/")
    with django_assert_num_queries(4):
        groups = duplicate_groups()
        assert len(groups) == pairs
        assert all(len(g.members) == 2 for g in groups)


def test_website_host_ignores_www_and_shared_platforms():
    assert website_host("HTTPS://WWW.Tisco.com.cn/en/") == "tisco.com.cn"
    assert website_host("tisco.com.cn") == "tisco.com.cn"
    assert website_host("https://shop123.1688.com") == ""
    assert website_host("") == ""
