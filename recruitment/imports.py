"""Importing recruitment projects from .xlsx and .csv, and the list of every kind that can be imported.

Projects use the machinery of ``crm.imports`` (row numbers, every problem listed,
all or nothing) and are written set-based, as the API's bulk upsert writes them
(:func:`recruitment.bulk.projects_write`): the same rows, versions, history, status
history, service-level follow-ups, large-project notices and lights as the pipeline
services called once per row, in a number of queries that does not grow with the
file. Every rule those services apply is checked for every row first, pipeline moves
included (a suspended project resumes at its last milestone or before), so a refused
row is reported with its number and nothing is written.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chains.models import Park
from crm.access import scope_for_user
from crm.bulk_save import instance_factory, m2m_now
from crm.contact_imports import ContactImporter
from crm.enterprise_imports import EnterpriseImporter
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
    StageResolver,
    Step,
    fetch_in,
    labels_in_every_language,
    user_office,
)
from crm.models import User
from crm.records import history_actor
from crm.records_bulk import current_m2m
from crm.spreadsheets import header_key
from recruitment import tally
from recruitment.bulk import Move, ProjectPlan, last_milestones, plans_feed_record, projects_write
from recruitment.landing import landing_changed
from recruitment.models import ChainRole, Priority, Project
from recruitment.pipeline import MILESTONES, IllegalTransition, Status, check_transition


def _money_columns(key: str, zh: str, en: str, aliases: tuple[str, ...] = ()) -> tuple[Column, Column]:
    return (
        Column(key, f"{zh}（元）", f"{en} (CNY)", (zh, en, *aliases), kind="money", width=20),
        Column(
            f"{key}_wan",
            f"{zh}（万元）",
            f"{en} (10k CNY)",
            (f"{en} (万元)", f"{en} (wan)"),
            kind="money",
            help=gettext_lazy("Used only when the CNY column is blank."),
            width=20,
        ),
    )


PROJECT_COLUMNS: tuple[Column, ...] = (
    Column("id", "系统编号", "ID", width=38),
    Column("title", "项目名称", "Title", ("项目", "project", "project name", "项目标题"), required=True, width=36),
    Column("enterprise_name", "企业名称", "Enterprise", ("企业", "公司", "投资方", "enterprise name"), width=36),
    Column(
        "enterprise_credit_code",
        "统一社会信用代码",
        "Enterprise credit code",
        ("企业信用代码", "信用代码", "credit code"),
        width=22,
    ),
    Column("enterprise_id", "企业系统编号", "Enterprise ID", width=38),
    Column(
        "park",
        "目标园区",
        "Target park",
        ("园区", "园区代码", "park", "park code"),
        help=gettext_lazy("The park's code (or its exact name)."),
    ),
    Column("park_name", "园区名称", "Park name", read_only=True, width=24),
    Column(
        "stages",
        "目标环节",
        "Target stages",
        ("环节", "环节代码", "stage codes"),
        help=gettext_lazy("Stage codes separated by commas (chain/stage when a code is in several chains)."),
        width=30,
    ),
    Column("stage_names", "环节名称", "Stage names", read_only=True, width=30),
    Column("owner", "负责人", "Owner", ("项目负责人", "负责人账号", "owner username"), help=gettext_lazy("User name.")),
    Column("status", "状态", "Status", ("项目状态", "进展"), width=12),
    Column("status_note", "状态说明", "Status note", ("终止原因", "lost reason", "reason"), width=24),
    Column("priority", "优先级", "Priority", width=10),
    Column("chain_role", "链条作用", "Chain role", ("补链强链延链", "role"), width=12),
    *_money_columns("planned_investment", "拟投金额", "Planned investment", ("计划投资", "投资额")),
    *_money_columns("signed_amount", "签约额", "Signed amount", ("签约金额",)),
    *_money_columns("funds_in_place", "到位资金", "Funds in place", ("资金到位",)),
    *_money_columns("expected_output_value", "预计年产值", "Expected annual output value", ("年产值", "预计产值")),
    Column("expected_jobs", "预计就业人数", "Expected jobs", ("预计就业", "就业人数", "jobs"), kind="number", width=10),
    Column("description", "项目描述", "Description", ("描述", "项目简介", "简介"), width=40),
    Column("external_id", "外部编号", "External id", ("外部id", "external"), width=20),
    Column("chain_role_set_by_hand", "链条作用人工设定", "Chain role set by hand", read_only=True, width=10),
    Column("status_changed_at", "状态变更时间", "Status changed at", read_only=True, kind="datetime", width=18),
    Column("office", "办公室", "Office", read_only=True),
    Column("version", "版本", "Version", read_only=True, kind="number", width=8),
    Column("updated_at", "更新时间", "Updated at", read_only=True, kind="datetime", width=18),
)

KEY_PROJECT = gettext_lazy("project")
_TEXT = ("title", "description", "external_id")
_MONEY = ("planned_investment", "signed_amount", "funds_in_place", "expected_output_value")
_EXTRA_STATUS_WORDS = {
    Status.NEGOTIATING: ("在谈", "洽谈中"),
    Status.REGISTERED: ("注册", "落地"),
    Status.SUSPENDED: ("暂停", "暂缓"),
    Status.LOST: ("放弃", "失败"),
}
_PRIORITY_WORDS = {Priority.HIGH: ("高", "重点"), Priority.NORMAL: ("中", "普通", "一般"), Priority.LOW: ("低",)}


def _choice_words(choices: list[tuple[str, Any]], extra: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Words a user may write for a choice: its code, its label, the label's English and Chinese halves."""
    words: dict[str, str] = {}
    for value, label in [(v, v) for v, _l in choices] + labels_in_every_language(choices):
        text = str(label)
        parts = [value, text, *re.split(r"\s+(?=[\u4e00-\u9fff])", text)]
        for part in parts + list(extra.get(value, ())):
            words.setdefault(header_key(part), value)
    return words


def _choice(r: RowReader, key: str, words: dict[str, str], choices: list[tuple[str, Any]]) -> str | None:
    value = words.get(header_key(r.text(key)))
    if value is None:
        allowed = ", ".join(f"{v} ({label})" for v, label in choices)
        r.error(
            key, _("Unknown value “%(value)s”; use one of: %(allowed)s.") % {"value": r.text(key), "allowed": allowed}
        )
    return value


class ProjectImporter(Importer):
    """Projects of the importer's office, created and changed through the pipeline services."""

    kind = "projects"
    model = Project
    verbose_name = gettext_lazy("Recruitment projects 招商项目")
    columns = PROJECT_COLUMNS
    change_perms = ("recruitment.add_project", "recruitment.change_project")

    def check(self, readers: list[RowReader], *, plan: ImportPlan, user: Any, lock: bool) -> Iterator[Step]:
        office = user_office(user)
        # ``.choices`` builds its list on every read: once here, not once a row.
        status_choices, priority_choices, role_choices = Status.choices, Priority.choices, ChainRole.choices
        statuses = _choice_words(status_choices, _EXTRA_STATUS_WORDS)
        priorities = _choice_words(priority_choices, _PRIORITY_WORDS)
        roles = _choice_words(role_choices, {})
        enterprises = EnterpriseResolver(
            readers, id_key="enterprise_id", code_key="enterprise_credit_code", name_key="enterprise_name"
        )
        stage_resolver = StageResolver(code for r in readers for code in r.codes("stages"))
        parks: dict[str, Park] = {}
        for park in Park.objects.all():
            for word in (park.code, park.name, park.name_en):
                if word:
                    parks.setdefault(header_key(word), park)
        owners_qs = User.objects.all() if office.sees_everything else User.objects.filter(office=office)
        usernames = {r.text("owner") for r in readers if r.has("owner")}
        owners = {u.username: u for u in fetch_in(owners_qs, "username", usernames, lock=False)}

        parsed = []
        for r in readers:
            values: dict[str, Any] = {}
            for name in _TEXT:
                if r.has(name):
                    values[name] = r.clean(Project, name, r.text(name))
            if not r.has("title"):
                r.error("title", _("The project title is required."))
            for name in _MONEY:
                amount = r.amount(name, wan_key=f"{name}_wan")
                if amount is not None:
                    key = name if r.has(name) else f"{name}_wan"
                    values[name] = r.clean(Project, name, amount, key=key)
            if r.has("expected_jobs"):
                values["expected_jobs"] = r.clean(Project, "expected_jobs", r.integer("expected_jobs"))
            if r.has("priority"):
                values["priority"] = _choice(r, "priority", priorities, priority_choices)
            if r.has("chain_role"):
                values["chain_role"] = _choice(r, "chain_role", roles, role_choices)
            if r.has("park"):
                park = parks.get(header_key(r.text("park")))
                if park is None:
                    r.error("park", _("Unknown park code “%(code)s”.") % {"code": r.text("park")})
                values["park"] = park
            if r.has("owner"):
                owner = owners.get(r.text("owner"))
                if owner is None:
                    r.error("owner", _("No user “%(name)s” in your office.") % {"name": r.text("owner")})
                values["owner"] = owner
            stages = stage_resolver.resolve(r, "stages") if r.has("stages") else None
            status = _choice(r, "status", statuses, status_choices) if r.has("status") else None
            note = r.text("status_note")
            enterprise = None
            if any(r.has(k) for k in ("enterprise_id", "enterprise_credit_code", "enterprise_name")):
                enterprise = enterprises.resolve(r)
                values["enterprise"] = enterprise
            parsed.append((r, values, r.uuid("id"), stages, status, note))
            if len(parsed) % CHUNK == 0:
                yield ("read", len(parsed), len(readers))

        scoped = scope_for_user(Project.objects.all(), user=user)
        found = {p.pk: p for p in fetch_in(scoped, "pk", {pk for _r, _v, pk, *_ in parsed if pk}, lock=lock)}
        externals = {v["external_id"] for _r, v, *_ in parsed if v.get("external_id")}
        own = Project.objects.filter(office=office)
        by_external = {p.external_id: p for p in fetch_in(own, "external_id", externals, lock=lock)}
        natural_enterprises = {
            v["enterprise"].pk
            for _r, v, pk, *_ in parsed
            if v.get("enterprise") and not pk and not v.get("external_id")
        }
        by_natural: dict[tuple[Any, str], list[Project]] = defaultdict(list)
        for p in fetch_in(own, "enterprise_id", natural_enterprises, lock=lock):
            by_natural[(p.enterprise_id, p.title)].append(p)
        matched = set(found) | {p.pk for p in by_external.values()} | {p.pk for ps in by_natural.values() for p in ps}
        current_stages = current_m2m(Project, "stages", list(matched))
        suspended = {p.pk for p in [*found.values(), *by_external.values()] if p.status == Status.SUSPENDED}
        suspended |= {p.pk for ps in by_natural.values() for p in ps if p.status == Status.SUSPENDED}
        resume = last_milestones(list(suspended))

        seen = FileDuplicates(
            gettext_lazy("Same %(what)s as row %(row)s: each project may appear only once in the file.")
        )
        for done, (r, values, pk, stages, status, note) in enumerate(parsed, start=1):
            external = values.get("external_id")
            enterprise = values.get("enterprise")
            seen.seen(r, "id", "id", pk, KEY_ID)
            seen.seen(r, "external_id", "external", external, KEY_EXTERNAL_ID)
            target = None
            if pk:
                target = found.get(pk)
                if target is None:
                    r.error("id", _("No project of yours has this id."))
            elif external and external in by_external:
                target = by_external[external]
            elif enterprise and not external and values.get("title"):
                same = by_natural.get((enterprise.pk, values["title"]), [])
                if len(same) > 1:
                    r.error(
                        "title", _("Your office has several projects of this title for this enterprise; give the id.")
                    )
                elif same:
                    target = same[0]
            if target is not None:
                seen.seen(r, "title", "target", target.pk, KEY_PROJECT)
                if external and external in by_external and by_external[external].pk != target.pk:
                    r.error(
                        "external_id", _("External id %(id)s already belongs to another project.") % {"id": external}
                    )
            else:
                if enterprise is None and not r.bad:
                    r.error("enterprise_name", _("Name the enterprise (its name, credit code or id)."))
                if not values.get("park") and not r.bad:
                    r.error("park", _("A new project needs its target park."))
                if not stages and not r.bad:
                    r.error("stages", _("A new project needs at least one target stage."))
            if status == Status.LOST and not note and (target is None or target.status != Status.LOST):
                # As the API and the admin ask for it: a project is never marked lost without a reason.
                r.error("status_note", _("A reason is required to mark a project as lost."))
            if not r.bad:
                self._plan_row(r, plan, target, values, stages, status, note, office, current_stages, resume)
            if done % CHUNK == 0 or done == len(parsed):
                yield ("check", done, len(parsed))

    def _plan_row(
        self,
        r: RowReader,
        plan: ImportPlan,
        target: Project | None,
        values: dict[str, Any],
        stages: list[Any] | None,
        status: str | None,
        note: str,
        office: Any,
        current_stages: dict[Any, list[Any]],
        resume: dict[Any, str],
    ) -> None:
        label = values.get("title") or (target.title if target else "")
        if target is None:
            if status and status != Status.LEAD:
                try:
                    _check_move(Status.LEAD, status, note)
                except IllegalTransition as exc:
                    r.error("status", exc.message)
                    return
            row = PlannedRow(r.number, CREATE, label, changes=values)
            row.m2m["stages"] = stages or []
            row.extra = {"status": status or Status.LEAD, "note": note}
            plan.rows.append(row)
            return
        if values.get("external_id") and target.office_id != office.pk and values["external_id"] != target.external_id:
            r.warn("external_id", _("This project belongs to another office; its external id is not changed."))
            values.pop("external_id")
        changes = {
            name: value
            for name, value in values.items()
            if (getattr(target, f"{name}_id") if name in ("enterprise", "park", "owner") else getattr(target, name))
            != (value.pk if name in ("enterprise", "park", "owner") and value is not None else value)
        }
        row = PlannedRow(r.number, UNCHANGED, label, instance=target, changes=changes)
        if stages is not None and {s.pk for s in stages} != set(current_stages.get(target.pk, [])):
            row.m2m["stages"] = stages
            row.changes["stages"] = stages
        if status and status != target.status:
            try:
                _check_move(target.status, status, note, resume_at=resume.get(target.pk))
            except IllegalTransition as exc:
                r.error("status", exc.message)
                return
            row.extra = {"status": status, "note": note}
            row.changes["status"] = status
        if row.changes:
            row.action = UPDATE
        plan.rows.append(row)

    def write(self, plan: ImportPlan, *, user: Any) -> Iterator[Step]:
        """The checked rows, set-based, a batch at a time (the progress moves by batch)."""
        office = user_office(user)
        actor = history_actor(user)
        now = timezone.now()
        todo = [row for row in plan.rows if row.action != UNCHANGED]
        yield ("write", 0, len(todo))
        # The dashboard's tally counts the file's projects once at the end, not at every write
        # (the projects to update were row-locked by the check).
        with tally.deferred(updating=[row.instance.pk for row in todo if row.action == UPDATE]) as created:
            yield from self._write_batches(todo, office=office, actor=actor, now=now, created=created)

    def _write_batches(
        self, todo: list[PlannedRow], *, office: Any, actor: Any, now: Any, created: list[Any]
    ) -> Iterator[Step]:
        make = instance_factory(Project, office=office)
        imported = _("Imported status.")
        for start in range(0, len(todo), WRITE_BATCH):
            batch = [
                _project_plan(index, row, make=make, now=now, imported=imported)
                for index, row in enumerate(todo[start : start + WRITE_BATCH], start)
            ]
            updated = [p.project for p in batch if not p.created]
            fields = {name for p in batch if not p.created for name in p.item if name not in ("stages", "status")}
            projects_write(
                batch,
                actor=actor,
                now=now,
                current=m2m_now(Project, ["stages"], updated),
                update_fields=sorted(fields),
                feed=False,
            )
            moved = [p.project.pk for p in batch if p.moves]
            if moved:
                landing_changed(project_ids=moved, feed=False)
            plans_feed_record(batch)  # once each, after the lights
            for p in batch:
                todo[p.index].instance = p.project
            created.extend(p.project.pk for p in batch if p.created)
            yield ("write", start + len(batch), len(todo))


WRITE_BATCH = 5_000
"""Rows written per step of the progress bar: each a handful of set-based statements."""


def _project_plan(index: int, row: PlannedRow, *, make: Callable[[], Project], now: Any, imported: str) -> ProjectPlan:
    """A checked row as the bulk write takes it (``make`` builds a new project of the office);
    moves carry the row's note, else ``imported`` ("Imported status.")."""
    note = row.extra.get("note") or imported
    status = row.extra.get("status")
    if row.action == CREATE:
        project = make()
        for name, value in row.changes.items():
            setattr(project, name, value)
        project.chain_role_overridden = bool(project.chain_role)
        project.status = Status.LEAD
        project.status_changed_at = now
        item = {**row.changes, "stages": row.m2m["stages"]}
    else:
        project = row.instance
        item = {k: v for k, v in row.changes.items() if k != "status"}
        for name, value in item.items():
            if name != "stages":
                setattr(project, name, value)
        if "chain_role" in item:
            project.chain_role_overridden = bool(item["chain_role"])
    plan = ProjectPlan(index, project, row.action == CREATE, item, status or project.status)
    if status and status != project.status:
        plan.moves = [Move(step, note=note, reason=note) for step in _path(project.status, status)]
    return plan


def _path(current: str, target: str) -> list[str]:
    """Forward along the milestones one step at a time (the status history stays true); else one move."""
    if current in MILESTONES and target in MILESTONES and MILESTONES.index(target) > MILESTONES.index(current):
        return list(MILESTONES[MILESTONES.index(current) + 1 : MILESTONES.index(target) + 1])
    return [target]


def _check_move(current: str, target: str, note: str, *, resume_at: str | None = None) -> None:
    previous = current
    for step in _path(current, target):
        check_transition(previous, step, reason=note or "imported", resume_at=resume_at)
        previous = step


IMPORTERS: dict[str, Importer] = {
    importer.kind: importer for importer in (EnterpriseImporter(), ContactImporter(), ProjectImporter())
}
"""Every kind of record the import page offers, by the ``kind`` in its URL."""


def importer_for(kind: str) -> Importer | None:
    return IMPORTERS.get(kind)
