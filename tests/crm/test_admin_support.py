"""Helpers for the admin tests: signing staff in with their role, and building admin POST data.

Holds no tests itself; the admin test modules of every app import it.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.test import Client
from django.urls import reverse

from crm.roles import MANAGER, STAFF, role_assign


def sign_in(client: Client, user, *, role: str = STAFF) -> Client:  # type: ignore[no-untyped-def]
    """Give ``user`` the role's admin permissions and sign them in (English UI for readable assertions)."""
    role_assign(user=user, role=role)
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def sign_in_manager(client: Client, user) -> Client:  # type: ignore[no-untyped-def]
    return sign_in(client, user, role=MANAGER)


def admin_url(model: type[Model] | Model, view: str, *args: Any) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def management(prefix: str, *, total: int = 0, initial: int = 0) -> dict[str, str]:
    """An inline formset's management form: ``total`` rows posted, ``initial`` of them existing."""
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def inlines(*prefixes: str) -> dict[str, str]:
    """Empty management forms for inlines the test leaves alone."""
    data: dict[str, str] = {}
    for prefix in prefixes:
        data.update(management(prefix))
    return data


def form_errors(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """The main admin form's errors, by field (``__all__`` for form-wide ones)."""
    form = response.context["adminform"].form
    return {name: [str(m) for m in errors] for name, errors in form.errors.items()}


ENTERPRISE_INLINES = ("contacts", "presences", "interactions", "projects")
PROJECT_INLINES = ("follow_ups", "status_changes", "interactions")
