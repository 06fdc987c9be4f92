"""Importing contacts from .xlsx/.csv (see ``crm.imports`` for how an import runs).

Contacts belong to the importer's office and attach to an enterprise of the
directory named by its id, credit code or exact name. Rows match by our id (within
what the office may see), by the office's external id, or by the same name at the
same enterprise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.imports import (
    CHUNK,
    CREATE,
    KEY_EXTERNAL_ID,
    KEY_ID,
    UNCHANGED,
    UPDATE,
    Column,
    EnterpriseResolver,
    FileDuplicates,
    Importer,
    ImportPlan,
    PlannedRow,
    RowReader,
    Step,
    diff_values,
    fetch_in,
    user_office,
)
from crm.models import Contact
from crm.records_bulk import bulk_write

CONTACT_COLUMNS: tuple[Column, ...] = (
    Column("id", "系统编号", "ID", width=38),
    Column(
        "enterprise_name", "企业名称", "Enterprise", ("企业", "单位", "公司", "所在企业", "enterprise name"), width=36
    ),
    Column(
        "enterprise_credit_code",
        "统一社会信用代码",
        "Enterprise credit code",
        ("企业信用代码", "信用代码", "credit code"),
        width=22,
    ),
    Column("enterprise_id", "企业系统编号", "Enterprise ID", width=38),
    Column("name", "姓名", "Name", ("联系人", "联系人姓名", "contact", "contact name"), required=True),
    Column("title", "职务", "Title", ("职位", "job title", "position")),
    Column("phone", "电话", "Phone", ("手机", "联系电话", "手机号", "mobile", "telephone"), width=18),
    Column("email", "电子邮箱", "E-mail", ("邮箱", "电子邮件", "email", "mail"), width=26),
    Column("wechat", "微信", "WeChat", ("微信号", "wechat id")),
    Column("external_id", "外部编号", "External id", ("外部id", "external"), width=20),
    Column("office", "办公室", "Office", read_only=True),
    Column("version", "版本", "Version", read_only=True, kind="number", width=8),
    Column("updated_at", "更新时间", "Updated at", read_only=True, kind="datetime", width=18),
)

KEY_ENTERPRISE_AND_NAME = gettext_lazy("enterprise and name")
_CONTACT_TEXT = ("name", "title", "phone", "email", "wechat", "external_id")


class ContactImporter(Importer):
    """Contacts of the importer's office, attached to enterprises of the directory."""

    kind = "contacts"
    model = Contact
    verbose_name = gettext_lazy("Contacts 联系人")
    columns = CONTACT_COLUMNS
    change_perms = ("crm.add_contact", "crm.change_contact")

    def check(self, readers: list[RowReader], *, plan: ImportPlan, user: Any, lock: bool) -> Iterator[Step]:
        from crm.access import scope_for_user

        office = user_office(user)
        enterprises = EnterpriseResolver(
            readers, id_key="enterprise_id", code_key="enterprise_credit_code", name_key="enterprise_name"
        )
        parsed = []
        for r in readers:
            values = {name: r.clean(Contact, name, r.text(name)) for name in _CONTACT_TEXT if r.has(name)}
            if not r.has("name"):
                r.error("name", _("The contact's name is required."))
            enterprise = enterprises.resolve(r)
            parsed.append((r, values, r.uuid("id"), enterprise))
            if len(parsed) % CHUNK == 0:
                yield ("read", len(parsed), len(readers))
        scoped = scope_for_user(Contact.objects.all(), user=user)
        found: dict[Any, Contact] = {}
        for c in fetch_in(scoped, "pk", {pk for _r, _v, pk, _e in parsed if pk}, lock=lock):
            found[c.pk] = c
        externals = {v["external_id"] for _r, v, _pk, _e in parsed if v.get("external_id")}
        by_external = {
            c.external_id: c
            for c in fetch_in(Contact.objects.filter(office=office), "external_id", externals, lock=lock)
        }
        natural_enterprises = {e.pk for _r, v, pk, e in parsed if e and not pk and not v.get("external_id")}
        by_natural: dict[tuple[Any, str], list[Contact]] = defaultdict(list)
        for c in fetch_in(Contact.objects.filter(office=office), "enterprise_id", natural_enterprises, lock=lock):
            by_natural[(c.enterprise_id, c.name)].append(c)

        seen = FileDuplicates(
            gettext_lazy("Same %(what)s as row %(row)s: each contact may appear only once in the file.")
        )
        for done, (r, values, pk, enterprise) in enumerate(parsed, start=1):
            external = values.get("external_id")
            seen.seen(r, "id", "id", pk, KEY_ID)
            seen.seen(r, "external_id", "external", external, KEY_EXTERNAL_ID)
            if enterprise and values.get("name"):
                seen.seen(r, "name", "natural", (enterprise.pk, values["name"]), KEY_ENTERPRISE_AND_NAME)
            target = None
            if pk:
                target = found.get(pk)
                if target is None:
                    r.error("id", _("No contact of yours has this id."))
            elif external and external in by_external:
                target = by_external[external]
            elif enterprise and not external and values.get("name"):
                same = by_natural.get((enterprise.pk, values["name"]), [])
                if len(same) > 1:
                    r.error("name", _("Your office has several contacts of this name at this enterprise; give the id."))
                elif same:
                    target = same[0]
            if target and external and external in by_external and by_external[external].pk != target.pk:
                r.error("external_id", _("External id %(id)s already belongs to another contact.") % {"id": external})
            if not r.bad and enterprise is not None:
                values["enterprise_id"] = enterprise.pk
                label = f"{values.get('name') or (target.name if target else '')} · {enterprise.name}"
                if target is None:
                    contact = Contact(office=office, version=1, **values)
                    plan.rows.append(PlannedRow(r.number, CREATE, label, instance=contact))
                else:
                    if (
                        target.office_id != office.pk
                        and values.get("external_id", target.external_id) != target.external_id
                    ):
                        r.warn(
                            "external_id", _("This contact belongs to another office; its external id is not changed.")
                        )
                        values.pop("external_id")
                    changes = diff_values(target, values)
                    plan.rows.append(
                        PlannedRow(r.number, UPDATE if changes else UNCHANGED, label, instance=target, changes=changes)
                    )
            if done % CHUNK == 0 or done == len(parsed):
                yield ("check", done, len(parsed))

    def write(self, plan: ImportPlan, *, user: Any) -> Iterator[Step]:
        creates = [row.instance for row in plan.rows if row.action == CREATE]
        updates, fields = [], set()
        for row in plan.rows:
            if row.action == UPDATE:
                for name, value in row.changes.items():
                    setattr(row.instance, name, value)
                    fields.add("enterprise" if name == "enterprise_id" else name)
                updates.append(row.instance)
        yield from bulk_write(
            model=Contact,
            creates=creates,
            updates=updates,
            update_fields=fields,
            actor=user,
            reason=self.change_reason(plan),
        )
