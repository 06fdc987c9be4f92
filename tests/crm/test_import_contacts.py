"""Importing contacts: attached to directory enterprises, owned by the importer's office, re-import is a no-op."""

from __future__ import annotations

import csv
import io

import pytest

from crm.contact_imports import ContactImporter
from crm.imports import import_commit, import_preview
from crm.models import ChangeEntry, Contact
from crm.services import contact_create, enterprise_create
from tests.factories import valid_credit_code

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

IMPORTER = ContactImporter()


def csv_bytes(rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8-sig")


@pytest.fixture
def enterprise(park_office):  # type: ignore[no-untyped-def]
    return enterprise_create(office=park_office, name="山西钢科碳材料有限公司", credit_code=valid_credit_code(31))


def test_contacts_import_by_enterprise_code_or_name_and_reimport_changes_nothing(park_user, park_office, enterprise):
    rows = [
        ["统一社会信用代码", "企业名称", "姓名", "职务", "电话", "电子邮箱"],
        [valid_credit_code(31), "", "张伟", "总经理", "+86 351 1234567", "zw@example.cn"],
        ["", "山西钢科碳材料", "李娜", "办公室主任", "13800138000", ""],
    ]
    data = csv_bytes(rows)
    plan = import_commit(importer=IMPORTER, data=data, filename="c.csv", user=park_user)
    assert plan.committed, plan.errors
    assert plan.created == 2
    contacts = Contact.objects.order_by("name")
    assert {c.enterprise_id for c in contacts} == {enterprise.pk}
    assert {c.office_id for c in contacts} == {park_office.pk}
    assert Contact.objects.get(name="张伟").phone == "+86 351 1234567"
    feed = ChangeEntry.objects.filter(type="contact").count()
    again = import_commit(importer=IMPORTER, data=data, filename="c.csv", user=park_user)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert Contact.objects.count() == 2
    assert ChangeEntry.objects.filter(type="contact").count() == feed


def test_bad_contact_rows_are_listed_and_nothing_is_written(park_user, enterprise):
    rows = [
        ["企业名称", "姓名", "电子邮箱", "外部编号"],
        ["山西钢科碳材料有限公司", "张伟", "not-an-email", "C1"],  # row 2: bad e-mail
        ["不存在的企业", "李娜", "", "C2"],  # row 3: unknown enterprise
        ["山西钢科碳材料有限公司", "", "", "C3"],  # row 4: no name
        ["山西钢科碳材料有限公司", "王强", "", "C1"],  # row 5: external id repeated
        ["山西钢科碳材料有限公司", "赵敏", "", "C5"],  # row 6: fine
    ]
    plan = import_commit(importer=IMPORTER, data=csv_bytes(rows), filename="c.csv", user=park_user)
    assert not plan.committed
    assert [(row, sorted({i.column for i in issues})) for row, issues in plan.errors_by_row()] == [
        (2, ["电子邮箱"]),
        (3, ["企业名称"]),
        (4, ["姓名"]),
        (5, ["外部编号"]),
    ]
    assert Contact.objects.count() == 0


def test_a_contact_of_another_office_cannot_be_updated_by_id(park_user, partner_office, enterprise):
    other = contact_create(office=partner_office, enterprise=enterprise, name="外办联系人")
    rows = [["系统编号", "企业名称", "姓名"], [str(other.pk), enterprise.name, "改名"]]
    plan = import_preview(importer=IMPORTER, data=csv_bytes(rows), filename="c.csv", user=park_user)
    assert [(i.row, i.column) for i in plan.errors] == [(2, "系统编号")]
    other.refresh_from_db()
    assert other.name == "外办联系人"


def test_updating_by_external_id_bumps_the_version_once_and_writes_history(park_user, park_office, enterprise):
    contact = contact_create(office=park_office, enterprise=enterprise, name="张伟", external_id="X1")
    rows = [["外部编号", "企业名称", "姓名", "职务"], ["X1", enterprise.name, "张伟", "董事长"]]
    plan = import_commit(importer=IMPORTER, data=csv_bytes(rows), filename="c.csv", user=park_user)
    assert plan.updated == 1
    contact.refresh_from_db()
    assert (contact.title, contact.version) == ("董事长", 2)
    latest = contact.history.first()
    assert (latest.title, latest.history_user, latest.history_type) == ("董事长", park_user, "~")


def test_a_user_without_office_cannot_import_contacts(enterprise):
    from tests.factories import UserFactory

    user = UserFactory(office=None, is_staff=True)
    plan = import_preview(
        importer=IMPORTER,
        data=csv_bytes([["企业名称", "姓名"], [enterprise.name, "张伟"]]),
        filename="c.csv",
        user=user,
    )
    assert not plan.ok
