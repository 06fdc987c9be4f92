"""Exporting recruitment projects, and the list of every kind the export page offers.

The machinery (tenancy, file formats, the admin change list's filters, admin
actions) is ``crm.exports``; this module adds the project layout and registers it,
so the shared admin actions export projects too.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from crm import exports as crm_exports
from crm.exports import Exporter, choice_label, register_exporter, related_rows, stage_codes, wan
from recruitment.imports import PROJECT_COLUMNS
from recruitment.landing_exports import LANDING_EXPORTERS
from recruitment.models import Project


def _money(name: str) -> dict:
    return {name: lambda p: getattr(p, name), f"{name}_wan": lambda p: wan(getattr(p, name))}


PROJECT_EXPORTER = Exporter(
    kind="projects",
    model=Project,
    verbose_name=gettext_lazy("Recruitment projects 招商项目"),
    columns=PROJECT_COLUMNS,
    values={
        "id": lambda p: str(p.pk),
        "title": lambda p: p.title,
        "enterprise_name": lambda p: p.enterprise.name,
        "enterprise_credit_code": lambda p: p.enterprise.credit_code,
        "enterprise_id": lambda p: str(p.enterprise_id),
        "park": lambda p: p.park.code,
        "park_name": lambda p: p.park.name,
        "stages": lambda p: stage_codes(related_rows(p, "stages")),
        "stage_names": lambda p: ", ".join(s.name for s in related_rows(p, "stages")),
        "owner": lambda p: p.owner.username if p.owner else "",
        "status": choice_label(Project, "status"),
        "status_note": lambda p: p.lost_reason,
        "priority": choice_label(Project, "priority"),
        "chain_role": choice_label(Project, "chain_role"),
        "chain_role_set_by_hand": lambda p: "✓" if p.chain_role_overridden else "",
        **_money("planned_investment"),
        **_money("signed_amount"),
        **_money("funds_in_place"),
        **_money("expected_output_value"),
        "expected_jobs": lambda p: p.expected_jobs,
        "description": lambda p: p.description,
        "external_id": lambda p: p.external_id,
        "status_changed_at": lambda p: p.status_changed_at,
        "office": lambda p: p.office.code,
        "version": lambda p: p.version,
        "updated_at": lambda p: p.updated_at,
    },
    select_related=("enterprise", "park", "owner", "office"),
    prefetch_related=("stages__chain",),
)
register_exporter(PROJECT_EXPORTER)

EXPORTERS: dict[str, Exporter] = {
    **crm_exports.EXPORTERS,
    PROJECT_EXPORTER.kind: PROJECT_EXPORTER,
    **LANDING_EXPORTERS,
}
"""Every kind of record the export page offers, by the ``kind`` in its URL."""

# The admin actions, for ``actions = [...]`` of the enterprise, contact and project admins.
export_xlsx_action = crm_exports.export_xlsx_action
export_csv_action = crm_exports.export_csv_action
