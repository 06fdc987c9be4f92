"""Importing the shared enterprise directory from .xlsx/.csv (see ``crm.imports`` for how an import runs).

Rows match an existing enterprise by our id, by the office's external id or by the
credit code; a row with none of these matches the one enterprise of the same
normalised name, if there is exactly one. New enterprises belong to the importer's
office. A matched enterprise that has been merged stands for its survivor.

A row that would change an enterprise the importer's office may not change
(``crm.access.enterprise_may_change``: another office's, or a reference one below
the provincial office) is a row error, so nothing is imported; a row that matches
one and changes nothing is fine.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.access import EnterpriseChangeRefused, actor_may_change_enterprise
from crm.credit_code import credit_code_error, normalize_credit_code
from crm.imports import (
    CHUNK,
    CREATE,
    KEY_EXTERNAL_ID,
    KEY_ID,
    UNCHANGED,
    UPDATE,
    Column,
    FileDuplicates,
    Importer,
    ImportPlan,
    PlannedRow,
    RowIssue,
    RowReader,
    StageResolver,
    Step,
    diff_values,
    fetch_in,
    labels_in_every_language,
    user_office,
)
from crm.models import Enterprise, Office
from crm.names import normalize_name
from crm.records_bulk import bulk_write, current_m2m
from crm.services import enterprise_name_keys_set
from crm.spreadsheets import header_key

_OWNERSHIP_WORDS = {
    Enterprise.Ownership.STATE: ("国有", "国企", "国有企业", "央企", "state-owned", "soe"),
    Enterprise.Ownership.PRIVATE: ("民营", "私营", "民营企业", "民企", "私营企业"),
    Enterprise.Ownership.FOREIGN: ("外资", "外商投资", "外商独资", "外资企业", "foreign-invested"),
    Enterprise.Ownership.JOINT: ("合资", "中外合资", "合资企业", "joint venture", "jv"),
    Enterprise.Ownership.OTHER: ("其他", "其它"),
}


def ownership_words() -> dict[str, str]:
    """Every way a file may say an ownership — its code, its label in each site language, a
    common Chinese word — mapped to the code. Built once per file, not per row."""
    words: dict[str, str] = {}
    for value, label in [(v, v) for v, _l in Enterprise.Ownership.choices] + labels_in_every_language(
        Enterprise.Ownership.choices
    ):
        words.setdefault(header_key(label), value)
    for value, synonyms in _OWNERSHIP_WORDS.items():
        for word in synonyms:
            words.setdefault(header_key(word), value)
    return words


def ownership_from_text(text: str, words: dict[str, str] | None = None) -> str | None:
    """The ownership code ``text`` stands for, or None."""
    return (words if words is not None else ownership_words()).get(header_key(text))


DUPLICATE_MESSAGE = gettext_lazy("Same %(what)s as row %(row)s: each enterprise may appear only once in the file.")
KEY_CREDIT_CODE = gettext_lazy("credit code")
KEY_ENTERPRISE = gettext_lazy("enterprise")

OWNERSHIP_HELP = gettext_lazy("state 国有, private 民营, foreign 外资, joint_venture 合资, other 其他")

ENTERPRISE_COLUMNS: tuple[Column, ...] = (
    Column(
        "id",
        "系统编号",
        "ID",
        help=gettext_lazy("Leave blank for a new enterprise; an exported file carries it."),
        width=38,
    ),
    Column("name", "企业名称", "Name", ("名称", "企业", "company name"), required=True, width=36),
    Column("name_en", "英文名称", "English name", ("name (english)",), width=30),
    Column(
        "credit_code",
        "统一社会信用代码",
        "Credit code",
        ("信用代码", "社会信用代码", "unified social credit code", "uscc"),
        help=gettext_lazy("18 characters with a check digit; an existing enterprise with this code is updated."),
        width=22,
    ),
    Column("ownership", "企业性质", "Ownership", ("所有制", "企业类型", "所有制性质"), help=OWNERSHIP_HELP),
    Column("province", "省份", "Province", ("省",)),
    Column("city", "城市", "City", ("市", "地市")),
    Column(
        "registered_capital",
        "注册资本（元）",
        "Registered capital (CNY)",
        ("注册资本", "registered capital"),
        kind="money",
        width=20,
    ),
    Column(
        "registered_capital_wan",
        "注册资本（万元）",
        "Registered capital (10k CNY)",
        ("registered capital (万元)", "registered capital (wan)"),
        kind="money",
        help=gettext_lazy("Used only when the CNY column is blank."),
        width=20,
    ),
    Column("website", "网址", "Website", ("官网", "网站", "url"), width=28),
    Column(
        "capabilities",
        "可供环节",
        "Capabilities",
        ("环节", "能力", "stages", "capability stages"),
        help=gettext_lazy("Stage codes separated by commas (chain/stage when a code is in several chains)."),
        width=30,
    ),
    Column("external_id", "外部编号", "External id", ("外部id", "external"), width=20),
    Column("source", "来源", "Source", width=30),
    Column("office", "创建办公室", "Created by office", read_only=True),
    Column("version", "版本", "Version", read_only=True, kind="number", width=8),
    Column("updated_at", "更新时间", "Updated at", read_only=True, kind="datetime", width=18),
)

_ENTERPRISE_TEXT = ("name", "name_en", "province", "city", "website", "source")


class EnterpriseImporter(Importer):
    """The shared enterprise directory: created with the importer's office, matched by id, external id or code."""

    kind = "enterprises"
    model = Enterprise
    verbose_name = gettext_lazy("Enterprises 企业")
    columns = ENTERPRISE_COLUMNS
    needs_office = False
    change_perms = ("crm.add_enterprise", "crm.change_enterprise")

    def _values(self, r: RowReader, stages: StageResolver, ownerships: dict[str, str]) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        for name in _ENTERPRISE_TEXT:
            if r.has(name):
                text = r.text(name)
                if name == "website" and not re.match(r"^[a-z][a-z0-9+.\-]*://", text, re.I):
                    text = "http://" + text
                values[name] = r.clean(Enterprise, name, text)
        if not r.has("name"):
            r.error("name", _("The enterprise name is required."))
        if r.has("credit_code"):
            code = normalize_credit_code(r.text("credit_code"))
            error = credit_code_error(code) if code else None
            if error:
                r.error("credit_code", _("Credit code %(code)s: %(error)s.") % {"code": code, "error": error})
            else:
                values["credit_code"] = code
        if r.has("ownership"):
            ownership = ownership_from_text(r.text("ownership"), ownerships)
            if ownership is None:
                r.error(
                    "ownership",
                    _("Unknown ownership “%(value)s”; use one of: %(choices)s.")
                    % {"value": r.text("ownership"), "choices": OWNERSHIP_HELP},
                )
            values["ownership"] = ownership
        capital = r.amount("registered_capital", wan_key="registered_capital_wan")
        if capital is not None:
            key = "registered_capital" if r.has("registered_capital") else "registered_capital_wan"
            values["registered_capital"] = r.clean(Enterprise, "registered_capital", capital, key=key)
        if r.has("external_id"):
            values["external_id"] = r.clean(Enterprise, "external_id", r.text("external_id"))
        if r.has("capabilities"):
            resolved = stages.resolve(r, "capabilities")
            if resolved is not None:
                values["stages"] = resolved
        return None if r.bad else values

    def check(self, readers: list[RowReader], *, plan: ImportPlan, user: Any, lock: bool) -> Iterator[Step]:
        office = user_office(user)
        stages = StageResolver(code for r in readers for code in r.codes("capabilities"))
        ownerships = ownership_words()
        parsed: list[tuple[RowReader, dict[str, Any] | None, uuid.UUID | None]] = []
        for r in readers:
            parsed.append((r, self._values(r, stages, ownerships), r.uuid("id")))
            if len(parsed) % CHUNK == 0:
                yield ("read", len(parsed), len(readers))
        # Everything the rows could match, a few queries for the whole file.
        ids = {pk for _r, _v, pk in parsed if pk}
        codes = {v["credit_code"] for _r, v, _pk in parsed if v and v.get("credit_code")}
        externals = {v["external_id"] for _r, v, _pk in parsed if v and v.get("external_id")} if office else set()
        names = {
            normalize_name(v["name"])
            for _r, v, pk in parsed
            if v and v.get("name") and not pk and not v.get("credit_code") and not v.get("external_id")
        }
        base = Enterprise.objects.all()
        found: dict[Any, Enterprise] = {}
        for e in fetch_in(base, "pk", ids, lock=lock):
            found[e.pk] = e
        for e in fetch_in(base, "credit_code", codes, lock=lock):
            found[e.pk] = e
        if office:
            for e in fetch_in(base.filter(office=office), "external_id", externals, lock=lock):
                found[e.pk] = e
        for e in fetch_in(base.filter(merged_into__isnull=True), "name_normalized", names, lock=lock):
            found[e.pk] = e
        survivors = {e.merged_into_id for e in found.values() if e.merged_into_id} - set(found)
        for e in fetch_in(base, "pk", survivors, lock=lock):
            found[e.pk] = e
        by_code = {e.credit_code: e for e in found.values() if e.credit_code}
        by_external = {
            e.external_id: e for e in found.values() if office and e.office_id == office.pk and e.external_id
        }
        by_name: dict[str, list[Enterprise]] = defaultdict(list)
        for e in found.values():
            if not e.merged_into_id:
                by_name[e.name_normalized].append(e)
        current_stages = current_m2m(Enterprise, "stages", list(found))

        seen = FileDuplicates(DUPLICATE_MESSAGE)
        names_seen: dict[str, tuple[int, str | None]] = {}
        for done, (r, values, pk) in enumerate(parsed, start=1):
            if values is not None:
                self._plan_row(r, values, pk, plan, office, found, by_code, by_external, by_name, seen, names_seen)
            if done % CHUNK == 0 or done == len(parsed):
                yield ("check", done, len(parsed))
        self._stage_changes(plan, current_stages)
        self._check_may_change(plan, user)

    def _plan_row(
        self,
        r: RowReader,
        values: dict[str, Any],
        pk: uuid.UUID | None,
        plan: ImportPlan,
        office: Office | None,
        found: dict[Any, Enterprise],
        by_code: dict[str, Enterprise],
        by_external: dict[str, Enterprise],
        by_name: dict[str, list[Enterprise]],
        seen: FileDuplicates,
        names_seen: dict[str, tuple[int, str | None]],
    ) -> None:
        code = values.get("credit_code")
        external = values.get("external_id") if office else None
        if values.get("external_id") and not office:
            r.warn("external_id", _("Your account belongs to no office, so the external id is not stored."))
            values.pop("external_id")
        repeated = seen.seen(r, "id", "id", pk, KEY_ID)
        repeated |= seen.seen(r, "credit_code", "code", code, KEY_CREDIT_CODE)
        repeated |= seen.seen(r, "external_id", "external", external, KEY_EXTERNAL_ID)
        key = normalize_name(values.get("name") or "")
        first = names_seen.get(key)
        # Two rows of one name are one enterprise twice, unless two different credit codes say otherwise.
        if key and first and not repeated and not (code and first[1] and code != first[1]):
            r.error(
                "name",
                _("Same name as row %(row)s: each enterprise may appear only once in the file.") % {"row": first[0]},
            )
        if key:
            names_seen.setdefault(key, (r.number, code))

        # Which existing enterprise the row means; keys that disagree are an error.
        candidates: dict[str, Enterprise] = {}
        if pk:
            if pk in found:
                candidates["id"] = found[pk]
            else:
                r.error("id", _("No enterprise has this id."))
        if external and external in by_external:
            candidates["external_id"] = by_external[external]
        if code and code in by_code:
            candidates["credit_code"] = by_code[code]
        targets = {e.pk for e in candidates.values()}
        if len(targets) > 1:
            described = ", ".join(f"{r.headers.get(k, k)} → {e.name}" for k, e in candidates.items())
            r.error(
                next(iter(candidates)),
                _("The row's keys point at different enterprises: %(which)s.") % {"which": described},
            )
        target = next(iter(candidates.values()), None)
        matched_by_name = False
        if target is None and not pk and not code and not external:
            same_name = by_name.get(key, [])
            if len(same_name) > 1:
                r.error("name", _("Several enterprises are named like this; give the credit code or id."))
            elif same_name:
                target, matched_by_name = same_name[0], True
        if target is not None and target.merged_into_id:
            survivor = found[target.merged_into_id]
            r.warn(
                "name",
                _("“%(old)s” was merged into “%(new)s”; the row updates “%(new)s”.")
                % {"old": target.name, "new": survivor.name},
            )
            target = survivor
        if target is not None:
            seen.seen(r, "name", "target", target.pk, KEY_ENTERPRISE)
            if code and code in by_code and by_code[code].pk != target.pk:
                r.error(
                    "credit_code",
                    _("Credit code %(code)s already belongs to “%(name)s”.")
                    % {"code": code, "name": by_code[code].name},
                )
            if external and external in by_external and by_external[external].pk != target.pk:
                r.error(
                    "external_id",
                    _("External id %(id)s already belongs to “%(name)s”.")
                    % {"id": external, "name": by_external[external].name},
                )
            if matched_by_name:
                r.warn("name", _("Matched the existing enterprise by name."))
        if r.bad:
            return
        stages = values.pop("stages", None)
        label = values.get("name") or ""
        if target is None:
            enterprise = Enterprise(office=office, version=1, **values)
            enterprise_name_keys_set(enterprise)
            row = PlannedRow(r.number, CREATE, label, instance=enterprise)
            if stages is not None:
                row.m2m["stages"] = stages
            plan.rows.append(row)
            return
        if values.get("external_id") and target.office_id != (office.pk if office else None):
            if target.external_id != values["external_id"]:
                r.warn(
                    "external_id", _("This enterprise was created by another office; its external id is not changed.")
                )
            values.pop("external_id")
        changes = diff_values(target, values)
        row = PlannedRow(r.number, UPDATE if changes else UNCHANGED, label, instance=target, changes=changes)
        if stages is not None:
            row.m2m["stages"] = stages
        # The column through which the row found its enterprise, for a refusal to name.
        matched_key = "name" if matched_by_name or not candidates else next(iter(candidates))
        row.extra["matched_column"] = r.headers.get(matched_key, matched_key)
        plan.rows.append(row)

    def _stage_changes(self, plan: ImportPlan, current: dict[Any, list[Any]]) -> None:
        for row in plan.rows:
            if row.action == CREATE or "stages" not in row.m2m:
                continue
            wanted = {s.pk for s in row.m2m["stages"]}
            if wanted == set(current.get(row.instance.pk, [])):
                del row.m2m["stages"]
            else:
                row.changes["stages"] = row.m2m["stages"]
                row.action = UPDATE

    def _check_may_change(self, plan: ImportPlan, user: Any) -> None:
        """A row that would change an enterprise the importer may not change is a row error."""
        for row in plan.rows:
            if row.action == UPDATE and not actor_may_change_enterprise(user, row.instance):
                plan.errors.append(
                    RowIssue(
                        row.row,
                        row.extra.get("matched_column", ""),
                        _(
                            "“%(name)s” may be changed only by the office that created it or by the provincial "
                            "office; leave this row out or ask them."
                        )
                        % {"name": row.instance.name},
                    )
                )

    def write(self, plan: ImportPlan, *, user: Any) -> Iterator[Step]:
        creates = [row.instance for row in plan.rows if row.action == CREATE]
        updates = []
        fields: set[str] = set()
        for row in plan.rows:
            if row.action != UPDATE:
                continue
            if not actor_may_change_enterprise(user, row.instance):
                raise EnterpriseChangeRefused()  # the plan refuses such rows; never written
            for name, value in row.changes.items():
                if name != "stages":
                    setattr(row.instance, name, value)
                    fields.add(name)
            if "name" in row.changes:
                enterprise_name_keys_set(row.instance)
                fields |= {"name_pinyin", "name_initials", "name_normalized"}
            updates.append(row.instance)
        stage_sets = {row.instance.pk: row.m2m["stages"] for row in plan.rows if "stages" in row.m2m}
        # A credit code moving from one row's enterprise to another's would clash mid-way;
        # the plan refuses that, so the unique index only guards against concurrent writers.
        yield from bulk_write(
            model=Enterprise,
            creates=creates,
            updates=updates,
            update_fields=fields,
            actor=user,
            reason=self.change_reason(plan),
            m2m={"stages": stage_sets} if stage_sets else None,
        )
