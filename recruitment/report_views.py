"""Admin report pages: the pipeline dashboard and the chain gap maps.

Views only translate: they read the filters from the query string, call the
selectors in ``recruitment/dashboard.py`` and ``recruitment/gaps.py``, and render
inside the admin's look. The URLs wrap them in ``admin.site.admin_view``, so only
active staff reach them; tenancy is applied by the selectors.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from chains.models import Chain
from recruitment.dashboard import (
    DashboardFilters,
    DashboardOptions,
    PeriodBasis,
    dashboard_build,
    dashboard_options,
)
from recruitment.report_links import ChangelistLinker, change_url


def _label(obj: Any) -> str:
    name_en = getattr(obj, "name_en", "")
    return f"{obj.name} · {name_en}" if name_en else obj.name


class DashboardFilterForm(forms.Form):
    """The dashboard's filters, by code; choices come from reference rows already loaded."""

    park = forms.ChoiceField(label=_("Park 园区"), required=False)
    chain = forms.ChoiceField(label=_("Chain 产业链"), required=False)
    sector = forms.ChoiceField(label=_("Sector 领域"), required=False)
    office = forms.ChoiceField(label=_("Office"), required=False)
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    basis = forms.ChoiceField(
        label=_("Period applies to"), required=False, choices=PeriodBasis.choices, initial=PeriodBasis.STATUS_CHANGED
    )

    def __init__(self, data: Any, *, options: DashboardOptions) -> None:
        super().__init__(data)
        self.options = options
        self._by_code = {
            "park": {p.code: p for p in options.parks},
            "chain": {c.code: c for c in options.chains},
            "sector": {s.code: s for s in options.sectors},
            "office": {o.code: o for o in options.offices},
        }
        self.fields["park"].choices = [("", _("All parks"))] + [(p.code, _label(p)) for p in options.parks]
        chains_by_sector: dict[str, list[tuple[str, str]]] = {}
        for chain in options.chains:
            chains_by_sector.setdefault(_label(chain.sector), []).append((chain.code, _label(chain)))
        self.fields["chain"].choices = [("", _("All chains"))] + list(chains_by_sector.items())
        self.fields["sector"].choices = [("", _("All sectors"))] + [(s.code, _label(s)) for s in options.sectors]
        if options.offices:
            self.fields["office"].choices = [("", _("All offices"))] + [(o.code, o.name) for o in options.offices]
        else:
            # A park or partner user sees only their own office: no choice to offer.
            del self.fields["office"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise forms.ValidationError(_("The period starts after it ends."), code="period_reversed")
        return data

    def filters(self) -> DashboardFilters:
        if not self.is_valid():
            return DashboardFilters()
        data = self.cleaned_data
        return DashboardFilters(
            park=self._by_code["park"].get(data.get("park") or ""),
            chain=self._by_code["chain"].get(data.get("chain") or ""),
            sector=self._by_code["sector"].get(data.get("sector") or ""),
            office=self._by_code["office"].get(data.get("office") or ""),
            start=data.get("start"),
            end=data.get("end"),
            period_basis=data.get("basis") or PeriodBasis.STATUS_CHANGED,
        )


def _require_project_view(request: HttpRequest) -> None:
    if not request.user.has_perm("recruitment.view_project"):
        raise PermissionDenied


def dashboard(request: HttpRequest) -> HttpResponse:
    """The pipeline dashboard (招商项目看板)."""
    _require_project_view(request)
    options = dashboard_options(user=request.user)
    form = DashboardFilterForm(request.GET, options=options)
    filters = form.filters()
    board = dashboard_build(user=request.user, filters=filters, options=options, link=ChangelistLinker(request))
    for project in board.stale.rows:
        project.admin_url = change_url(request, project)
    for follow_up in board.overdue.rows:
        follow_up.admin_url = change_url(request, follow_up)
        follow_up.project.admin_url = change_url(request, follow_up.project)
    context = {
        **admin.site.each_context(request),
        "title": _("Pipeline dashboard 招商看板"),
        "report_tab": "dashboard",
        "form": form,
        "board": board,
    }
    return TemplateResponse(request, "recruitment/reports/dashboard.html", context)


def chain_maps(request: HttpRequest) -> HttpResponse:
    """The chains, by sector, each linking to its gap map."""
    chains = list(
        Chain.objects.select_related("sector").annotate(stage_count=Count("stages")).order_by("sector__code", "code")
    )
    sectors: dict[Any, list[Chain]] = {}
    for chain in chains:
        sectors.setdefault(chain.sector, []).append(chain)
    context = {
        **admin.site.each_context(request),
        "title": _("Chain gap maps 缺链图"),
        "report_tab": "maps",
        "sectors": sectors,
    }
    return TemplateResponse(request, "recruitment/reports/chain_maps.html", context)


def chain_map(request: HttpRequest, code: str) -> HttpResponse:
    """The gap map of one chain (built on ``recruitment.gaps``)."""
    chain = get_object_or_404(Chain, code=code)
    context = {**admin.site.each_context(request), "title": chain.name, "report_tab": "maps", "chain": chain}
    return TemplateResponse(request, "recruitment/reports/chain_maps.html", context)
