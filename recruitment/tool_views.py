"""Admin tool pages: import with preview, export, duplicate enterprises and merging.

Views only translate HTTP: the work is in ``crm.imports`` / ``recruitment.imports``
(checking and writing files), ``crm.exports`` (files out), ``crm.duplicates`` and
``recruitment.merge``. ``tools_urls.py`` wraps every view in
``admin.site.admin_view``: only active staff reach them.

Progress of a long import: the preview and the import run in the request, in
chunks, inside one transaction, and the page is streamed — the top of the page
first, then a progress line after each chunk of rows, then the result — so the
user watches the rows being checked and written without any JavaScript, and the
request never touches the Celery broker. (A background task would need the broker
from inside the request, or a polling worker; 10,000 enterprise rows take seconds
this way, see ``bench/p7_import.py``.) Closing the page mid-import rolls it back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.formats import number_format
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.access import enterprise_external_id_visible, scope_for_user
from crm.exports import changelist_queryset, export_response
from crm.imports import (
    CREATE,
    UNCHANGED,
    UPDATE,
    Importer,
    ImportPlan,
    Steps,
    import_commit_steps,
    import_max_rows,
    import_max_upload_bytes,
    import_preview_steps,
    import_template,
)
from crm.models import Contact, Enterprise, Interaction
from crm.services import ENTERPRISE_DATA_FIELDS
from crm.spreadsheets import CONTENT_TYPES, CSV, FORMATS, XLSX, SheetError, format_for, too_large_message
from recruitment.exports import EXPORTERS
from recruitment.import_uploads import StagedUpload, upload_discard, upload_get, upload_stage
from recruitment.imports import IMPORTERS
from recruitment.merge import (
    MergeRefused,
    duplicate_groups_for,
    enterprise_merge,
    merge_allowed,
    merge_fills,
    merge_problem,
    merge_refusal,
)
from recruitment.models import Project

logger = logging.getLogger(__name__)

PROGRESS_SLOT = "<!--progress-->"
PREVIEW_SAMPLE = 200
COMPARED = (*ENTERPRISE_DATA_FIELDS, "external_id", "source")
PHASES = {
    "open": gettext_lazy("Reading the file…"),
    "read": gettext_lazy("Reading rows: %(done)s of %(total)s"),
    "check": gettext_lazy("Checking rows: %(done)s of %(total)s"),
    "write": gettext_lazy("Writing records: %(done)s of %(total)s"),
}


def _context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, "can_merge": merge_allowed(request.user), **extra}


def _admin_url(name: str, *args: Any) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _changelist_url(model: type) -> str | None:
    return _admin_url(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


# --- Import ---------------------------------------------------------------------------


def importers_for(user: Any) -> dict[str, Importer]:
    """The kinds ``user`` may import (add and change permission on the model)."""
    return {kind: imp for kind, imp in IMPORTERS.items() if user.has_perms(imp.change_perms)}


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("What the file holds"), widget=forms.RadioSelect)
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy("An Excel workbook (.xlsx) or a CSV file (UTF-8 or GB18030); the header is row 1."),
    )

    def __init__(self, *args: Any, importers: dict[str, Importer], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(kind, imp.verbose_name) for kind, imp in importers.items()]

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > import_max_upload_bytes():
            raise forms.ValidationError(too_large_message(import_max_upload_bytes()))
        try:
            format_for(upload.name)
        except SheetError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return upload


def import_upload(request: HttpRequest) -> HttpResponse:
    """Choose the kind, upload the file; the file is kept and the preview opens."""
    importers = importers_for(request.user)
    if not importers:
        raise PermissionDenied
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES, importers=importers)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            staged = upload_stage(
                user=request.user, kind=form.cleaned_data["kind"], filename=upload.name, data=upload.read()
            )
            return redirect("tools:import-preview", token=staged.token)
    else:
        kind = request.GET.get("kind")
        form = ImportForm(initial={"kind": kind if kind in importers else next(iter(importers))}, importers=importers)
    return TemplateResponse(
        request,
        "recruitment/tools/import.html",
        _context(
            request,
            _("Import from Excel or CSV"),
            tool="import",
            form=form,
            importers=importers,
            max_rows=import_max_rows(),
            max_mb=f"{import_max_upload_bytes() / (1024 * 1024):g}",
        ),
    )


def import_template_download(request: HttpRequest, kind: str, fmt: str) -> HttpResponse:
    importer = importers_for(request.user).get(kind)
    if importer is None or fmt not in FORMATS:
        raise Http404
    response = HttpResponse(import_template(importer=importer, fmt=fmt), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = content_disposition_header(True, f"{kind}-template.{fmt}")
    return response


def _staged(request: HttpRequest, token: str) -> tuple[StagedUpload, Importer]:
    upload = upload_get(user=request.user, token=token)
    if upload is None:
        raise Http404(_("This upload has expired or does not exist; upload the file again."))
    importer = importers_for(request.user).get(upload.kind)
    if importer is None:
        raise PermissionDenied
    return upload, importer


def import_preview(request: HttpRequest, token: str) -> HttpResponse:
    """GET: check the kept file and show every problem. POST: import it (all or nothing)."""
    upload, importer = _staged(request, token)
    committing = request.method == "POST"
    data = upload.read()
    steps = (import_commit_steps if committing else import_preview_steps)(
        importer=importer, data=data, filename=upload.filename, user=request.user
    )
    context = _context(
        request,
        _("Import %(kind)s: %(file)s") % {"kind": importer.verbose_name, "file": upload.filename},
        tool="import",
        upload=upload,
        importer=importer,
        committing=committing,
        changelist_url=_changelist_url(importer.model),
    )

    def finished(plan: ImportPlan) -> None:
        if plan.committed:
            upload_discard(upload)

    return _streamed_page(
        request,
        template="recruitment/tools/import_preview.html",
        result_template="recruitment/tools/_import_result.html",
        context=context,
        steps=steps,
        finished=finished,
    )


def _progress_line(step: tuple[str, int, int]) -> str:
    phase, done, total = step
    label = PHASES["open" if not total else phase if phase in PHASES else "check"] % {
        "done": number_format(done, force_grouping=True),
        "total": number_format(total, force_grouping=True),
    }
    bar = f'<progress max="{total}" value="{done}"></progress>' if total else "<progress></progress>"
    # Each line hides the one before it (CSS in the template): a live bar without JavaScript.
    return f'<div class="cr-progress" role="status">{bar} <span>{label}</span></div>\n'


def _streamed_page(
    request: HttpRequest,
    *,
    template: str,
    result_template: str,
    context: dict[str, Any],
    steps: Steps,
    finished: Any,
) -> StreamingHttpResponse:
    get_token(request)  # the result's form needs the CSRF cookie set with these headers
    page = render_to_string(template, {**context, "progress_slot": mark_safe(PROGRESS_SLOT)}, request=request)
    head, tail = page.split(PROGRESS_SLOT, 1)

    def body() -> Iterator[str]:
        yield head
        plan: ImportPlan | None = None
        try:
            while True:
                try:
                    step = next(steps)
                except StopIteration as stop:
                    plan = stop.value
                    break
                yield _progress_line(step)
        except Exception:
            logger.exception("import of %s failed", context["upload"].filename)
        finally:
            # Also when the page is closed mid-way (the browser gone): the import ends here and
            # now, its transaction rolled back and the cycle collector back on, not whenever
            # the generator happens to be freed.
            steps.close()
        if plan is not None:
            finished(plan)
        yield render_to_string(
            result_template, {**context, **_plan_context(plan, context["importer"])}, request=request
        )
        yield tail

    response = StreamingHttpResponse(body(), content_type="text/html; charset=utf-8")
    response["X-Accel-Buffering"] = "no"  # let a proxy pass each progress line on at once
    return response


ACTIONS = {CREATE: gettext_lazy("new"), UPDATE: gettext_lazy("update")}


def _plan_context(plan: ImportPlan | None, importer: Importer) -> dict[str, Any]:
    if plan is None:
        return {"plan": None, "failed": True}
    changed = [r for r in plan.rows if r.action != UNCHANGED]
    headers = {c.key: c.header() for c in importer.columns}
    headers.update({"stages": headers.get("capabilities", headers.get("stages", "stages"))})
    sample = [
        {
            "row": r.row,
            "action": ACTIONS.get(r.action, r.action),
            "label": r.label,
            "fields": [
                headers.get(name.removesuffix("_id"), headers.get(f"{name.removesuffix('_id')}_name", name))
                for name in r.changes
            ]
            if r.action == UPDATE
            else [],
        }
        for r in changed[:PREVIEW_SAMPLE]
    ]
    return {
        "plan": plan,
        "failed": False,
        "errors_by_row": plan.errors_by_row(),
        "sample": sample,
        "sample_more": max(0, len(changed) - PREVIEW_SAMPLE),
        "can_import": plan.ok and not plan.committed and bool(changed),
    }


# --- Export -----------------------------------------------------------------------------


def _exporters_for(user: Any) -> dict[str, Any]:
    return {
        kind: exporter
        for kind, exporter in EXPORTERS.items()
        if user.has_perm(f"{exporter.model._meta.app_label}.view_{exporter.model._meta.model_name}")
    }


def export(request: HttpRequest) -> HttpResponseBase:
    """With ``kind`` and ``format``: the file. Otherwise a form to choose them.

    ``_changelist_filters`` carries the admin change list's query string (as the
    admin passes it to its change form): the export then holds exactly the rows
    the list shows. Tenancy applies on top, always.
    """
    exporters = _exporters_for(request.user)
    if not exporters:
        raise PermissionDenied
    kind = request.GET.get("kind", "")
    fmt = request.GET.get("format", "")
    filters = request.GET.get("_changelist_filters", "")
    if kind in exporters and fmt in FORMATS:
        exporter = exporters[kind]
        queryset: QuerySet | None = None
        if filters:
            try:
                queryset = changelist_queryset(request, exporter.model, filters)
            except IncorrectLookupParameters:
                messages.error(
                    request, _("The list's filters could not be applied; export without them or change them.")
                )
                return redirect(f"{reverse('tools:export')}?kind={kind}")
        return export_response(exporter=exporter, queryset=queryset, user=request.user, fmt=fmt)
    return TemplateResponse(
        request,
        "recruitment/tools/export.html",
        _context(
            request,
            _("Export to Excel or CSV"),
            tool="export",
            exporters=exporters,
            kind=kind if kind in exporters else next(iter(exporters)),
            formats=[(XLSX, _("Excel workbook (.xlsx)")), (CSV, _("CSV (UTF-8, opens in Excel)"))],
            filters=filters,
        ),
    )


# --- Duplicates and merging ------------------------------------------------------------


def _require_merger(request: HttpRequest) -> None:
    if not merge_allowed(request.user):
        raise PermissionDenied


def duplicates(request: HttpRequest) -> HttpResponse:
    """Groups of likely duplicate enterprises, each with a suggested survivor, for a manager."""
    _require_merger(request)
    groups = []
    for group, merges in duplicate_groups_for(actor=request.user):
        group.merges = merges  # type: ignore[attr-defined]
        for member in group.members:
            member.admin_url = _admin_url("admin:crm_enterprise_change", member.pk)
            member.merge_refusal = merges.refused.get(member.pk, "")
        groups.append(group)
    return TemplateResponse(
        request,
        "recruitment/tools/duplicates.html",
        _context(request, _("Duplicate enterprises 重复企业"), tool="duplicates", groups=groups),
    )


def _visible_counts(enterprise: Enterprise, user: Any) -> dict[str, int]:
    return {
        "contacts": scope_for_user(Contact.objects.filter(enterprise=enterprise), user=user).count(),
        "interactions": scope_for_user(Interaction.objects.filter(enterprise=enterprise), user=user).count(),
        "projects": scope_for_user(Project.objects.filter(enterprise=enterprise), user=user).count(),
        "presences": enterprise.presences.count(),
    }


def merge(request: HttpRequest) -> HttpResponse:
    """GET: the two enterprises side by side and what will move. POST: merge them."""
    _require_merger(request)
    params = request.POST if request.method == "POST" else request.GET
    survivor = _enterprise(params.get("survivor"))
    duplicate = _enterprise(params.get("duplicate"))
    problem = None
    if request.method == "POST":
        try:
            result = enterprise_merge(survivor=survivor, duplicate=duplicate, actor=request.user)
        except MergeRefused as exc:
            problem = str(exc)
        else:
            messages.success(
                request,
                _("“%(dup)s” was merged into “%(keep)s”: %(n)d records moved.")
                % {"dup": duplicate.name, "keep": survivor.name, "n": result.moved_total},
            )
            return redirect(_admin_url("admin:crm_enterprise_change", survivor.pk) or reverse("tools:duplicates"))
    problem = (
        problem
        or merge_refusal(actor=request.user, survivor=survivor, duplicate=duplicate)
        or merge_problem(survivor=survivor, duplicate=duplicate)
    )
    fills = merge_fills(survivor=survivor, duplicate=duplicate)
    fields = [
        {
            "label": Enterprise._meta.get_field(name).verbose_name,
            "survivor": _shown(survivor, name, office_id=request.user.office_id),
            "duplicate": _shown(duplicate, name, office_id=request.user.office_id),
            "taken": name in fills,
        }
        for name in COMPARED
    ]
    return TemplateResponse(
        request,
        "recruitment/tools/merge.html",
        _context(
            request,
            _("Merge duplicate enterprises 合并重复企业"),
            tool="duplicates",
            survivor=survivor,
            duplicate=duplicate,
            fields=fields,
            moves=_visible_counts(duplicate, request.user),
            problem=problem,
            survivor_url=_admin_url("admin:crm_enterprise_change", survivor.pk),
            duplicate_url=_admin_url("admin:crm_enterprise_change", duplicate.pk),
        ),
    )


def _shown(enterprise: Enterprise, name: str, *, office_id: int | None = None) -> Any:
    if name == "external_id" and not enterprise_external_id_visible(
        enterprise_office_id=enterprise.office_id, office_id=office_id
    ):
        return ""  # another office's own id for the enterprise (crm.access)
    display = getattr(enterprise, f"get_{name}_display", None)
    return display() if display else getattr(enterprise, name)


def _enterprise(pk: Any) -> Enterprise:
    try:
        return Enterprise.objects.select_related("office", "merged_into").get(pk=pk)
    except (Enterprise.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404(_("Enterprise not found.")) from exc
