"""What the change feed stores for each record: its detail rendering, with version.

Registered once at start-up (``ApiConfig.ready``). A project shows its
enterprise's name, so writing an enterprise re-renders its projects into the feed,
and both kinds of write serialise on the enterprise's render lock (see
``crm.changes``) so that concurrent writers never store a stale rendering.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models

from crm.changes import register_dependents, register_render_locks, register_renderer


def _projects_of(enterprises: Sequence[models.Model]) -> list[models.Model]:
    from recruitment.models import Project

    return list(Project.objects.filter(enterprise_id__in_array=[e.pk for e in enterprises]).order_by("pk"))


def register_feed_renderers() -> None:
    from api.resources import contacts, enterprises, follow_ups, interactions, progress, projects, supervision_orders

    for module in (enterprises, contacts, interactions, projects, follow_ups, progress, supervision_orders):
        presenter = module.PRESENTER
        register_renderer(presenter.model._meta.label, presenter.render_objects)
    # A project's rendering reads its enterprise's name: writes of either take the
    # enterprise's render lock before rendering, and an enterprise's write re-renders its projects.
    register_render_locks("crm.Enterprise", lambda objs: [f"enterprise:{o.pk}" for o in objs])
    register_render_locks("recruitment.Project", lambda objs: [f"enterprise:{o.enterprise_id}" for o in objs])
    register_dependents("crm.Enterprise", _projects_of)
