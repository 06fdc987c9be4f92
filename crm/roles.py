"""Staff roles as Django groups: which admin permissions staff and managers get.

Row-level access (which office's records) is not a permission: it is decided by
``crm.access`` on every path. These groups only say which kinds of record a role
may view or change at all.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

STAFF = "staff"
MANAGER = "manager"
# Keeps the reference data (parks, chains, stages, presences, offices). The admin lets
# only staff who see everything use it (see ``chains.admin.may_edit_reference``).
REFERENCE_EDITOR = "reference_editor"

_STAFF_CHANGE = {
    "crm": ["enterprise", "contact", "interaction"],
    "recruitment": ["project", "followup", "progressentry", "supervisionorder", "mysupervisionorder", "rulesuspension"],
}
_STAFF_VIEW = {
    "chains": ["zone", "park", "sector", "chain", "chainpark", "stage", "stageedge"],
    "crm": ["office", "presence", "enterprise", "contact", "interaction"],
    "recruitment": [
        "project",
        "projectstatuschange",
        "followup",
        "reminderdelivery",
        "progressentry",
        "supervisionorder",
        "mysupervisionorder",
        "rulesuspension",
        "warningrule",
    ],
    "ledger": ["ledgersubmission", "ledgercorrection", "evidencefile", "assessmentscheme"],
}
_MANAGER_EXTRA_CHANGE = {"crm": ["presence"]}
_REFERENCE_CHANGE = {
    "chains": ["zone", "park", "sector", "chain", "chainpark", "stage", "stageedge"],
    "ledger": ["assessmentscheme", "schemeindicator", "schemevalue", "schemeadjustment"],
    "crm": ["office", "presence"],
    "recruitment": ["warningrule"],
}


def _perms(actions: list[str], spec: dict[str, list[str]]) -> list[Permission]:
    codenames = [f"{action}_{model}" for models in spec.values() for model in models for action in actions]
    return list(Permission.objects.filter(content_type__app_label__in=list(spec), codename__in=codenames))


@transaction.atomic
def roles_ensure() -> dict[str, Group]:
    """Create or refresh the staff, manager and reference-editor groups (idempotent)."""
    staff, _ = Group.objects.get_or_create(name=STAFF)
    manager, _ = Group.objects.get_or_create(name=MANAGER)
    reference_editor, _ = Group.objects.get_or_create(name=REFERENCE_EDITOR)
    staff_perms = _perms(["view"], _STAFF_VIEW) + _perms(["add", "change", "delete"], _STAFF_CHANGE)
    staff.permissions.set(staff_perms)
    manager.permissions.set(staff_perms + _perms(["add", "change", "delete"], _MANAGER_EXTRA_CHANGE))
    reference_editor.permissions.set(_perms(["view", "add", "change", "delete"], _REFERENCE_CHANGE))
    return {STAFF: staff, MANAGER: manager, REFERENCE_EDITOR: reference_editor}


def role_assign(*, user, role: str) -> None:  # type: ignore[no-untyped-def]
    """Put ``user`` in the group for ``role`` and let them into the admin.

    A manager is also staff; a manager of an office that sees everything (the
    provincial department) also keeps the reference data.
    """
    groups = roles_ensure()
    user.groups.add(groups[role])
    if role == MANAGER:
        user.groups.add(groups[STAFF])
        user.is_manager = True
        if user.office is not None and user.office.sees_everything:
            user.groups.add(groups[REFERENCE_EDITOR])
    user.is_staff = True
    user.save(update_fields=["is_staff", "is_manager"])
