"""Demo landing supervision: signed projects under every light and an order in every state.

Written through the services after the demo projects (``seeds/demo_loader.py``), with
dates relative to today so the lights mean the same whenever the demo is loaded:

* 红 red: construction four months overdue and investment half behind plan → an
  automatic supervision order, still open;
* 红 red: investment 40 points behind → automatic order, correction plan submitted;
* 黄 yellow: registration overdue this month → an order issued by the park's manager,
  plan submitted and resolved;
* 绿 green: on plan → an order the province issued and closed with a note.

Keyed by external id: a project that exists is left as it is (a second run changes nothing).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from recruitment.landing import progress_record, project_plan_set
from recruitment.lights import month_index, month_of
from recruitment.models import Project, SupervisionOrder
from recruitment.pipeline import Status
from recruitment.services import project_create
from recruitment.supervision import order_create, order_transition
from seeds.upserts import CREATED, UNCHANGED

SPECS: list[dict[str, Any]] = [
    {
        "key": "demo-landing-red",
        "office": "demo-yangqu",
        "owner": "demo-yangqu",
        "enterprise": 6,
        "park": "yangqu",
        "stages": ["cf-end-products"],
        "title": "高模碳纤维扩产项目（示例）",
        "status": Status.REGISTERED,
        "construction_months_ago": 3,
        "pace": Decimal("0.5"),
    },
    {
        "key": "demo-landing-red-plan",
        "office": "demo-zhongbei",
        "owner": "demo-zhongbei",
        "enterprise": 14,
        "park": "zhongbei",
        "stages": ["ss-deep-processing"],
        "title": "不锈钢深加工二期项目（示例）",
        "status": Status.CONSTRUCTION,
        "pace": Decimal("0.6"),
        "order": ["plan_submitted"],
    },
    {
        "key": "demo-landing-yellow",
        "office": "demo-yangqu",
        "owner": "demo-yangqu",
        "enterprise": 9,
        "park": "yangqu",
        "stages": ["pa-yarn"],
        "title": "生物基尼龙纺丝配套项目（示例）",
        "status": Status.SIGNED,
        "registered_days_ago": 1,
        "pace": Decimal("1"),
        "order": ["by_manager", "plan_submitted", "resolved"],
    },
    {
        "key": "demo-landing-green",
        "office": "demo-yangqu",
        "owner": "demo-yangqu",
        "enterprise": 7,
        "park": "yangqu",
        "stages": ["cf-end-products"],
        "title": "复材构件智能产线项目（示例）",
        "status": Status.CONSTRUCTION,
        "pace": Decimal("1"),
        "order": ["by_province", "closed"],
    },
]


def _plan(spec: dict[str, Any], today: dt.date) -> dict[str, Any]:
    this_month = month_of(month_index(today))
    start = month_of(month_index(today) - 6)
    plan: dict[str, Any] = {
        "registered": start + dt.timedelta(days=10),
        "construction": month_of(month_index(today) - spec.get("construction_months_ago", 2)) + dt.timedelta(days=5),
        "production": month_of(month_index(today) + 8),
        "at_capacity": month_of(month_index(today) + 20),
        "investment": [
            {"month": month_of(month_index(start) + i), "cumulative": Decimal(5_000_000 * (i + 1))} for i in range(24)
        ],
    }
    if "registered_days_ago" in spec:
        plan["registered"] = today - dt.timedelta(days=spec["registered_days_ago"])
        plan["construction"] = this_month + dt.timedelta(days=62)
    return plan


def landing_demo_load(demo: Any) -> None:
    """Create the landing demo projects that are missing (``demo`` is the loader with its lookups)."""
    today = timezone.localdate()
    for spec in SPECS:
        office = demo.offices[spec["office"]]
        if Project.objects.filter(office=office, external_id=spec["key"]).exists():
            demo.tally.add("landing project", UNCHANGED)
            continue
        owner = demo.users[spec["owner"]]
        project = project_create(
            office=office,
            actor=owner,
            stages=[demo.stages[c] for c in spec["stages"] if c in demo.stages] or list(demo.stages.values())[:1],
            title=spec["title"],
            enterprise=demo.enterprises[spec["enterprise"]],
            park=demo.parks[spec["park"]],
            owner=owner,
            external_id=spec["key"],
            is_demo=True,
            planned_investment=Decimal(120_000_000),
            status=spec["status"],
        )
        # Progress first, then the plan: the light is computed once from both.
        for i in range(6):
            month = month_of(month_index(today) - 6 + i)
            progress_record(
                project=project, kind="investment", month=month, amount=Decimal(5_000_000) * spec["pace"], actor=owner
            )
        project_plan_set(project=project, plan=_plan(spec, today), actor=owner)
        _orders(demo, project, spec.get("order", []), today=today)
        demo.tally.add("landing project", CREATED)


def _orders(demo: Any, project: Project, steps: list[str], *, today: dt.date) -> None:
    if not steps:
        return
    province = demo.users["demo"]
    manager = demo.users[f"{project.office.code}-manager"]
    staff = demo.users[project.office.code]
    order = SupervisionOrder.objects.filter(project=project, status__in=("open", "plan_submitted")).first()
    issuer = manager
    if steps[0] in ("by_manager", "by_province"):
        issuer = manager if steps[0] == "by_manager" else province
        order = order or order_create(
            project=project,
            actor=issuer,
            responsible=staff,
            leader=manager,
            required="说明进度滞后原因并提交整改方案（示例）",
            plan_due=today + dt.timedelta(days=7),
            resolve_due=today + dt.timedelta(days=30),
        )
        steps = steps[1:]
    for step in steps:
        if order is None:
            return
        if step == "plan_submitted":
            order_transition(order=order, to=step, plan="本月内完成设备招标，下月开工（示例）", actor=staff)
        elif step == "resolved":
            order_transition(order=order, to=step, note="已按方案推进（示例）", actor=issuer)
        elif step == "closed":
            order_transition(order=order, to=step, note="经核实进度正常，撤销督办（示例）", actor=issuer)
