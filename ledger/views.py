"""Admin pages of the monthly ledger: the month (submit, export), the provincial overview, leaderboards.

Views only translate: they read the month and office from the query string, call
``ledger.selectors`` / ``ledger.services`` / ``ledger.assessment`` and render inside
the admin. A park user sees and submits their own office's ledger; the provincial
office chooses an office or the whole province. Another office answers 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.access import office_sees_everything
from crm.models import Office
from ledger import ledger_rules as rules
from ledger.assessment import FACTS, assessment_people, assessment_scores
from ledger.exports import ledger_pdf, ledger_xlsx
from ledger.models import AssessmentScheme
from ledger.selectors import ledger_month, submissions_overview
from ledger.services import ledger_submit


def _month(request: HttpRequest) -> dt.date:
    text = request.GET.get("month") or request.POST.get("month")
    if not text:
        return rules.previous_month(rules.month_of(timezone.localdate()))
    try:
        return rules.parse_month(text)
    except ValueError:
        raise Http404(_("A month as YYYY-MM.")) from None


def _office(request: HttpRequest) -> Office | None:
    user = request.user
    code = request.GET.get("office") or request.POST.get("office")
    if office_sees_everything(user.office, is_superuser=user.is_superuser):  # type: ignore[union-attr]
        return get_object_or_404(Office, code=code) if code else None
    if user.office is None or (code and code != user.office.code):  # type: ignore[union-attr]
        raise Http404
    return user.office  # type: ignore[union-attr,return-value]


def monthly(request: HttpRequest) -> HttpResponse:
    month, office = _month(request), _office(request)
    ledger = ledger_month(office=office, month=month)
    context: dict[str, Any] = {
        "title": _("Monthly ledger 月报台账"),
        "ledger": ledger,
        "month": f"{month:%Y-%m}",
        "office": office,
        "can_submit": bool(
            office is not None
            and office.kind == Office.Kind.PARK
            and not ledger["submitted_at"]
            and getattr(request.user, "is_manager", False)
            and request.user.office_id == office.pk  # type: ignore[union-attr]
        ),
        "query": request.GET.urlencode(),
    }
    return TemplateResponse(request, "ledger/monthly.html", context)


@require_POST
def submit(request: HttpRequest) -> HttpResponse:
    month, office = _month(request), _office(request)
    if office is None or not getattr(request.user, "is_manager", False) or request.user.office_id != office.pk:  # type: ignore[union-attr]
        raise PermissionDenied
    try:
        ledger_submit(office=office, month=month, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The ledger of %(month)s is submitted and locked.") % {"month": f"{month:%Y-%m}"})
    return HttpResponseRedirect(f"{reverse('ledger:monthly')}?month={month:%Y-%m}")


def export(request: HttpRequest, fmt: str) -> HttpResponse:
    month, office = _month(request), _office(request)
    ledger = ledger_month(office=office, month=month)
    name = f"ledger-{office.code if office else 'province'}-{month:%Y-%m}"
    if fmt == "xlsx":
        body, ctype = ledger_xlsx(ledger), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body, ctype = ledger_pdf(ledger), "application/pdf"
    response = HttpResponse(body, content_type=ctype)
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


def overview(request: HttpRequest) -> HttpResponse:
    if not office_sees_everything(request.user.office, is_superuser=request.user.is_superuser):  # type: ignore[union-attr]
        raise PermissionDenied
    month = _month(request)
    context = {
        "title": _("Monthly ledgers submitted 月报报送情况"),
        "month": f"{month:%Y-%m}",
        "rows": submissions_overview(month=month),
    }
    return TemplateResponse(request, "ledger/overview.html", context)


def leaderboard(request: HttpRequest, code: str) -> HttpResponse:
    scheme = get_object_or_404(AssessmentScheme, code=code)
    sees_all = office_sees_everything(request.user.office, is_superuser=request.user.is_superuser)  # type: ignore[union-attr]
    offices = assessment_scores(scheme=scheme)
    people = assessment_people(scheme=scheme)
    if not sees_all:
        offices = [s for s in offices if s.office.pk == request.user.office_id]  # type: ignore[union-attr]
        people = [s for s in people if s.office.pk == request.user.office_id]  # type: ignore[union-attr]
    context = {
        "title": _("Assessment leaderboard 考核排行") + f" · {scheme}",
        "scheme": scheme,
        "offices": offices,
        "people": people,
        "facts": FACTS,
    }
    return TemplateResponse(request, "ledger/leaderboard.html", context)
