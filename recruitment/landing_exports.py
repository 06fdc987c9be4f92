"""Exporting progress entries and supervision orders, through the shared export machinery.

Tenancy, file formats, the admin change list's filters and the admin actions are
``crm.exports``'s: these layouts are registered with it, so the export page and the
admin actions of the progress list and of every supervision order list offer them,
and a park user's file never holds another office's rows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy

from crm.exports import Exporter, register_exporter, wan
from crm.imports import Column
from recruitment.landing_models import MySupervisionOrder, ProgressEntry, SupervisionOrder


def _col(key: str, zh: str, en: str, kind: str = "text", width: int = 16) -> Column:
    return Column(key, zh, en, read_only=True, kind=kind, width=width)


def _user(user: Any) -> str:
    return user.username if user is not None else ""


def _corrected(entry: ProgressEntry) -> str:
    try:
        return str(entry.corrected_by.pk)
    except ProgressEntry.DoesNotExist:
        return ""


PROGRESS_COLUMNS = (
    _col("id", "进展记录ID", "Entry ID", width=38),
    _col("project", "项目", "Project", width=30),
    _col("project_id", "项目ID", "Project ID", width=38),
    _col("park", "园区", "Park"),
    _col("month", "月份", "Month", width=10),
    _col("kind", "类型", "Kind", width=24),
    _col("amount", "金额（元）", "Amount (CNY)", "money"),
    _col("amount_wan", "金额（万元）", "Amount (10k CNY)", "money"),
    _col("milestone", "节点", "Milestone"),
    _col("date", "节点日期", "Milestone date", "date", 12),
    _col("corrects", "更正的记录ID", "Corrects entry", width=38),
    _col("corrected_by", "被更正为", "Corrected by", width=38),
    _col("reason", "更正原因", "Reason", width=30),
    _col("recorded_by", "记录人", "Recorded by"),
    _col("recorded_at", "记录时间", "Recorded at", "datetime", 18),
    _col("external_id", "外部ID", "External ID"),
    _col("office", "办公室", "Office"),
    _col("version", "版本", "Version", "number", 8),
)

PROGRESS_EXPORTER = Exporter(
    kind="progress",
    model=ProgressEntry,
    verbose_name=gettext_lazy("Progress entries 项目进展"),
    columns=PROGRESS_COLUMNS,
    values={
        "id": lambda e: str(e.pk),
        "project": lambda e: e.project.title,
        "project_id": lambda e: str(e.project_id),
        "park": lambda e: e.project.park.code,
        "month": lambda e: f"{e.month:%Y-%m}",
        "kind": lambda e: e.get_kind_display(),
        "amount": lambda e: e.amount,
        "amount_wan": lambda e: wan(e.amount),
        "milestone": lambda e: e.get_milestone_display() if e.milestone else "",
        "date": lambda e: e.date,
        "corrects": lambda e: str(e.corrects_id) if e.corrects_id else "",
        "corrected_by": _corrected,
        "reason": lambda e: e.reason,
        "recorded_by": lambda e: _user(e.recorded_by),
        "recorded_at": lambda e: e.recorded_at,
        "external_id": lambda e: e.external_id,
        "office": lambda e: e.office.code,
        "version": lambda e: e.version,
    },
    select_related=("project__park", "recorded_by", "office", "corrected_by"),
)


ORDER_COLUMNS = (
    _col("id", "督办单ID", "Order ID", width=38),
    _col("project", "项目", "Project", width=30),
    _col("project_id", "项目ID", "Project ID", width=38),
    _col("park", "园区", "Park"),
    _col("status", "状态", "State"),
    _col("overdue", "逾期", "Overdue", width=8),
    _col("auto", "自动督办", "Issued automatically", width=8),
    _col("issued_by", "督办人", "Issued by"),
    _col("responsible", "责任人", "Responsible person"),
    _col("leader", "责任领导", "Responsible leader"),
    _col("required", "督办要求", "What is required", width=40),
    _col("plan_due", "整改方案期限", "Correction plan due", "date", 12),
    _col("resolve_due", "办结期限", "Resolution due", "date", 12),
    _col("plan", "整改方案", "Correction plan", width=40),
    _col("note", "备注", "Note", width=30),
    _col("external_id", "外部ID", "External ID"),
    _col("office", "办公室", "Office"),
    _col("version", "版本", "Version", "number", 8),
    _col("created_at", "创建时间", "Created at", "datetime", 18),
    _col("updated_at", "更新时间", "Updated at", "datetime", 18),
)


def _overdue(order: SupervisionOrder) -> str:
    """✓ for an unfinished order past a deadline it still answers to (the plan's while open)."""
    today = timezone.localdate()
    if order.status == "open" and order.plan_due < today:
        return "✓"
    return "✓" if order.status in ("open", "plan_submitted") and order.resolve_due < today else ""


ORDER_EXPORTER = Exporter(
    kind="supervision-orders",
    model=SupervisionOrder,
    verbose_name=gettext_lazy("Supervision orders 督办单"),
    columns=ORDER_COLUMNS,
    values={
        "id": lambda o: str(o.pk),
        "project": lambda o: o.project.title,
        "project_id": lambda o: str(o.project_id),
        "park": lambda o: o.project.park.code,
        "status": lambda o: o.get_status_display(),
        "overdue": _overdue,
        "auto": lambda o: "✓" if o.auto else "",
        "issued_by": lambda o: _user(o.issued_by),
        "responsible": lambda o: _user(o.responsible),
        "leader": lambda o: _user(o.leader),
        "required": lambda o: o.required,
        "plan_due": lambda o: o.plan_due,
        "resolve_due": lambda o: o.resolve_due,
        "plan": lambda o: o.plan,
        "note": lambda o: o.note,
        "external_id": lambda o: o.external_id,
        "office": lambda o: o.office.code,
        "version": lambda o: o.version,
        "created_at": lambda o: o.created_at,
        "updated_at": lambda o: o.updated_at,
    },
    select_related=("project__park", "issued_by", "responsible", "leader", "office"),
)

register_exporter(PROGRESS_EXPORTER)
register_exporter(ORDER_EXPORTER)
# "My supervision orders" is the same table seen through a proxy model: the same layout.
register_exporter(replace(ORDER_EXPORTER, model=MySupervisionOrder))

LANDING_EXPORTERS: dict[str, Exporter] = {e.kind: e for e in (PROGRESS_EXPORTER, ORDER_EXPORTER)}
