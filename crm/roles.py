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

_STAFF_CHANGE = {
    "crm": ["enterprise", "contact", "interaction"],
    "recruitment": ["project", "followup"],
}
_STAFF_VIEW = {
    "chains": ["zone", "park", "sector", "chain", "chainpark", "stage", "stageedge"],
    "crm": ["office", "presence", "enterprise", "contact", "interaction"],
    "recruitment": ["project", "projectstatuschange", "followup", "reminderdelivery"],
}
_MANAGER_EXTRA_CHANGE = {"crm": ["presence"]}


def _perms(actions: list[str], spec: dict[str, list[str]]) -> list[Permission]:
    codenames = [f"{action}_{model}" for models in spec.values() for model in models for action in actions]
    return list(Permission.objects.filter(content_type__app_label__in=list(spec), codename__in=codenames))


@transaction.atomic
def roles_ensure() -> dict[str, Group]:
    """Create or refresh the staff and manager groups (idempotent)."""
    staff, _ = Group.objects.get_or_create(name=STAFF)
    manager, _ = Group.objects.get_or_create(name=MANAGER)
    staff_perms = _perms(["view"], _STAFF_VIEW) + _perms(["add", "change", "delete"], _STAFF_CHANGE)
    staff.permissions.set(staff_perms)
    manager.permissions.set(staff_perms + _perms(["add", "change", "delete"], _MANAGER_EXTRA_CHANGE))
    return {STAFF: staff, MANAGER: manager}


def role_assign(*, user, role: str) -> None:  # type: ignore[no-untyped-def]
    """Put ``user`` in the group for ``role`` (staff or manager) and let them into the admin."""
    groups = roles_ensure()
    user.groups.add(groups[role])
    if role == MANAGER:
        user.groups.add(groups[STAFF])
        user.is_manager = True
    user.is_staff = True
    user.save(update_fields=["is_staff", "is_manager"])
