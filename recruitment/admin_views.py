"""Admin pages of the work panel: quick logging and status transitions.

Reached from the enterprise and project change pages (whose compact forms post
here) and usable on their own. The record comes from the model admin's
``get_object``, so another office's project is a 404 here as everywhere; a
refusal from a service is shown on the form, and nothing is written.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from crm.admin_writes import SERVICE_ERRORS, add_service_error, as_validation_error
from crm.models import Enterprise
from recruitment.admin_forms import QuickLogForm, TransitionForm
from recruitment.models import Project
from recruitment.pipeline import IllegalTransition
from recruitment.quick_log import interaction_quick_log
from recruitment.services import project_transition


def may_quick_log(request: HttpRequest) -> bool:
    return request.user.has_perm("crm.add_interaction")


def _context(request: HttpRequest, model_admin: admin.ModelAdmin, obj: models.Model, title: str) -> dict:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "original": obj,
        "title": title,
        "subtitle": str(obj),
    }


def quick_log_page(
    request: HttpRequest,
    *,
    model_admin: admin.ModelAdmin,
    enterprise: Enterprise,
    project: Project | None,
    back_url: str,
) -> HttpResponse:
    """GET: the quick-log form; POST: log the interaction (and follow-up), back to the timeline."""
    if not may_quick_log(request):
        raise PermissionDenied
    form = QuickLogForm(
        request.POST if request.method == "POST" else None, user=request.user, enterprise=enterprise, project=project
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data.get("follow_up_due_at") and not request.user.has_perm("recruitment.add_followup"):
            form.add_error("follow_up_due_at", _("You may not create follow-ups."))
        else:
            try:
                result = interaction_quick_log(
                    actor=request.user,
                    enterprise=enterprise,
                    project=data.get("project"),
                    kind=data["kind"],
                    occurred_at=data["occurred_at"],
                    summary=data["summary"],
                    contacts=data.get("contacts") or [],
                    follow_up_due_at=data.get("follow_up_due_at"),
                    follow_up_note=data.get("follow_up_note") or "",
                )
            except SERVICE_ERRORS as exc:
                add_service_error(form, as_validation_error(exc))
            else:
                if result.follow_up is not None:
                    messages.success(request, _("Interaction logged and follow-up scheduled."))
                else:
                    messages.success(request, _("Interaction logged."))
                return HttpResponseRedirect(f"{back_url}#timeline")
    obj = project or enterprise
    context = {
        **_context(request, model_admin, obj, _("Log an interaction")),
        "form": form,
        "enterprise": enterprise,
        "project": project,
        "back_url": back_url,
    }
    return TemplateResponse(request, "admin/recruitment/quick_log.html", context)


def transition_page(
    request: HttpRequest, *, model_admin: admin.ModelAdmin, project: Project, back_url: str
) -> HttpResponse:
    """GET: the allowed next statuses; POST: move the project through the pipeline."""
    if not model_admin.has_change_permission(request, project):
        raise PermissionDenied
    form = TransitionForm(request.POST if request.method == "POST" else None, project=project)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project_transition(
                project=project, to=data["to"], actor=request.user, note=data["note"], reason=data["reason"]
            )
        except IllegalTransition as exc:
            messages.error(request, exc.message)
            form.add_error("to", exc.message)
        else:
            messages.success(
                request,
                _("The project is now “%(status)s”.") % {"status": project.get_status_display()},
            )
            return HttpResponseRedirect(f"{back_url}#timeline")
    context = {
        **_context(request, model_admin, project, _("Change the status")),
        "form": form,
        "project": project,
        "back_url": back_url,
    }
    return TemplateResponse(request, "admin/recruitment/project/transition.html", context)
