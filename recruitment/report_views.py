"""Admin report pages: the pipeline dashboard and the chain gap maps.

Views only translate: they read the filters from the query string, call the
selectors in ``recruitment/dashboard.py`` and ``recruitment/gaps.py``, and render
inside the admin's look. The URLs wrap them in ``admin.site.admin_view``, so only
active staff reach them; tenancy is applied by the selectors.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import floatformat
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from chains.models import Chain, Park, Zone
from crm.access import office_sees_everything
from crm.models import Enterprise
from recruitment.dashboard import (
    DashboardFilters,
    DashboardOptions,
    PeriodBasis,
    dashboard_build,
    dashboard_options,
    status_in,
)
from recruitment.gap_map import (
    COVERED,
    FILLING,
    MISSING,
    WEAK,
    MapLayout,
    MapNode,
    StageInput,
    display_status,
    layout_chain,
    wrap_label,
)
from recruitment.gaps import (
    ProjectsHead,
    StageGap,
    gap_candidates,
    gap_map_rows,
    gap_stage_panel,
    gaps_for_zone,
    zone_parks,
)
from recruitment.landing_models import Color
from recruitment.models import FollowUp, Project
from recruitment.pipeline import CLOSED, SIGNED_OR_LATER, Status
from recruitment.report_links import ChangelistLinker, ChangeUrls
from recruitment.selectors import stage_lights


def _label(obj: Any) -> str:
    name_en = getattr(obj, "name_en", "")
    return f"{obj.name} · {name_en}" if name_en else obj.name


def _attrs_html(attrs: Mapping[str, Any]) -> str:
    """``django/forms/widgets/attrs.html``, written directly."""
    return "".join(
        format_html(" {}", name) if value is True else format_html(' {}="{}"', name, str(value))
        for name, value in attrs.items()
        if value is not False
    )


class _Select(forms.Select):
    """Django's select with the markup its templates render, written directly: the form
    renderer's templates once an option were 2.4 ms of the dashboard page's rendering
    (``tests/recruitment/test_dashboard_view.py`` holds the two equal)."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [format_html('<select name="{}"{}>', widget["name"], mark_safe(_attrs_html(widget["attrs"])))]  # noqa: S308
        for group_name, group_choices, _index in widget["optgroups"]:
            if group_name:
                parts.append(format_html('\n  <optgroup label="{}">', group_name))
            for option in group_choices:
                parts.append(
                    format_html(
                        '\n  <option value="{}"{}>{}</option>\n',
                        str(option["value"]),
                        mark_safe(_attrs_html(option["attrs"])),  # noqa: S308 - escaped by format_html
                        option["label"],
                    )
                )
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every part escaped by format_html


class DashboardFilterForm(forms.Form):
    """The dashboard's filters, by code; choices come from reference rows already loaded."""

    park = forms.ChoiceField(label=_("Park 园区"), required=False, widget=_Select)
    chain = forms.ChoiceField(label=_("Chain 产业链"), required=False, widget=_Select)
    sector = forms.ChoiceField(label=_("Sector 领域"), required=False, widget=_Select)
    office = forms.ChoiceField(label=_("Office"), required=False, widget=_Select)
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    basis = forms.ChoiceField(
        label=_("Period applies to"),
        required=False,
        choices=PeriodBasis.choices,
        initial=PeriodBasis.STATUS_CHANGED,
        widget=_Select,
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
    change_urls = ChangeUrls(request)  # the permission asked once per model, not per row
    for project in board.stale.rows:
        project.admin_url = change_urls(Project, project.pk)
    for follow_up in board.overdue.rows:
        follow_up.admin_url = change_urls(FollowUp, follow_up.pk)
        follow_up.project.admin_url = change_urls(Project, follow_up.project.pk)
    context = {
        **admin.site.each_context(request),
        "title": _("Pipeline dashboard 招商看板"),
        "report_tab": "dashboard",
        "form": form,
        "board": board,
    }
    return TemplateResponse(request, "recruitment/reports/dashboard.html", context)


# --- Chain gap maps ---------------------------------------------------------------------

STATUS_LABELS = {
    COVERED: _("Covered"),
    WEAK: _("Weak"),
    MISSING: _("Missing 缺链"),
    FILLING: _("Being filled 补链"),
}
STATUS_HELP = {
    COVERED: _("two or more enterprises present"),
    WEAK: _("one enterprise present"),
    MISSING: _("no enterprise present"),
    FILLING: _("weak or missing, with a signed (or later) project targeting it"),
}


def _require_chain_view(request: HttpRequest) -> None:
    if not request.user.has_perm("chains.view_chain"):
        raise PermissionDenied


def _zone_of(chain: Chain) -> Zone | None:
    if chain.zone_id:
        return chain.zone
    return Zone.objects.filter(parks__chain_parks__chain=chain).first() or Zone.objects.order_by("code").first()


@dataclass
class StageBox:
    """A stage as drawn on the map: its gap row, its place and what the box says."""

    gap: StageGap
    node: MapNode
    status: str
    label: str
    name_lines: list[str]
    name_en_lines: list[str]
    selected: bool
    href: str
    fragment_href: str

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[self.status])

    # Coordinates as text: a float in a template would be localised (a comma in some languages).
    @property
    def x(self) -> str:
        return _num(self.node.x)

    @property
    def y(self) -> str:
        return _num(self.node.y)

    @property
    def width(self) -> str:
        return _num(self.node.width)

    @property
    def height(self) -> str:
        return _num(self.node.height)

    @property
    def text_x(self) -> str:
        return _num(self.node.x + 12)

    @property
    def lines(self) -> list[dict[str, str]]:
        """The box's text, top to bottom: Chinese name (bold), English name, then the status."""
        result = []
        y = self.node.y + 20
        for line in self.name_lines:
            result.append({"y": _num(y), "css": "cr-name", "text": line})
            y += 17
        y += 1
        for line in self.name_en_lines:
            result.append({"y": _num(y), "css": "cr-name-en", "text": line})
            y += 13
        return result

    @property
    def status_y(self) -> str:
        return _num(self.node.y + self.node.height - 10)

    @property
    def ring(self) -> dict[str, str]:
        return {
            "x": _num(self.node.x - 4),
            "y": _num(self.node.y - 4),
            "width": _num(self.node.width + 8),
            "height": _num(self.node.height + 8),
        }


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


@dataclass
class MatrixCell:
    status: str | None
    present_count: int
    targeted: bool
    being_filled: bool
    stage_code: str

    @property
    def css(self) -> str:
        if self.status is None:
            return "none"
        return display_status(self.status, being_filled=self.being_filled)


def _map_query(park: Park | None, stage_code: str | None) -> str:
    params = {}
    if park is not None:
        params["park"] = park.code
    if stage_code:
        params["stage"] = stage_code
    return "?" + urlencode(params) if params else "?"


def _boxes(
    *, chain: Chain, rows: list[StageGap], park: Park | None, selected: str | None
) -> tuple[MapLayout, list[StageBox]]:
    layout = layout_chain([StageInput(r.stage_code, r.order) for r in rows], {r.stage_code: r.feeds for r in rows})
    boxes = []
    base = reverse("reports:chain-map", args=[chain.code])
    for row in rows:
        node = layout.nodes[row.stage_code]
        fragment = reverse("reports:chain-map-stage", args=[chain.code, row.stage_code])
        boxes.append(
            StageBox(
                gap=row,
                node=node,
                status=display_status(row.status, being_filled=row.being_filled),
                label=row.stage_name,
                name_lines=wrap_label(row.stage_name, width=16, lines=2),
                name_en_lines=wrap_label(row.stage_name_en, width=21, lines=2),
                selected=row.stage_code == selected,
                href=f"{base}{_map_query(park, row.stage_code)}#stage-detail",
                fragment_href=fragment + (f"?park={park.code}" if park else ""),
            )
        )
    return layout, boxes


def _stage_detail(
    request: HttpRequest, *, chain: Chain, row: StageGap, park: Park | None, zone: Zone, parks: dict[str, Park]
) -> dict[str, Any]:
    """What a click on a stage shows: who is there, who is working on it, whom to court.

    The map's rows carry counts only; the clicked stage's panel reads its enterprises and
    the first projects of each list (``gap_stage_panel``)."""
    user = request.user
    sees_all = office_sees_everything(user.office, is_superuser=user.is_superuser)
    park_ids = [park.pk] if park is not None else [p.pk for p in parks.values()]
    panel = gap_stage_panel(
        row=row, park_ids=park_ids, office_id=user.office_id, sees_everything=sees_all, limit=PANEL_PROJECTS
    )
    row = panel.row
    stage_id = row.stage_id
    change = ChangeUrls(request)

    def project_view(project: Any) -> dict[str, Any]:
        return {
            "title": project.title,
            "status": Status(project.status).label if project.status in Status.values else project.status,
            "url": change(Project, project.id),
        }

    # A stage of a busy park has thousands of projects: the panel names the first few of
    # each list and links the rest to the project list narrowed to the same projects.
    linker = ChangelistLinker(request)
    # (the project list shows a park user their own office's projects: those the panel names)
    where = {"park__id__exact": str(park.pk)} if park is not None else {"park__zone__id__exact": str(zone.pk)}

    def project_list(head: ProjectsHead, statuses: Iterable[str]) -> dict[str, Any]:
        more = head.shown - PANEL_PROJECTS
        return {
            "projects": [project_view(p) for p in head.projects],
            "more": max(more, 0),
            "more_url": linker(Project, {**where, "stage": str(stage_id), **status_in(statuses)}) if more > 0 else None,
        }

    candidates: list[dict[str, Any]] = []
    if park is not None:
        for candidate in gap_candidates(
            park=park, stage=stage_id, office=user.office, limit=CANDIDATE_LIMIT, neighbour_ids=panel.neighbour_ids
        ):
            candidates.append(
                {
                    "candidate": candidate,
                    "url": change(Enterprise, candidate.enterprise_id),
                    "elsewhere": [parks[c].name if c in parks else c for c in candidate.present_elsewhere],
                }
            )
    by_park = [
        {
            "park": parks.get(p.park_code),
            "code": p.park_code,
            "status": display_status(p.status, being_filled=p.being_filled),
            "status_label": STATUS_LABELS[display_status(p.status, being_filled=p.being_filled)],
            "present_count": p.present_count,
            "targeted": p.targeted,
            "href": reverse("reports:chain-map", args=[chain.code])
            + _map_query(parks.get(p.park_code), row.stage_code),
        }
        for p in row.by_park
    ]
    status = display_status(row.status, being_filled=row.being_filled)
    return {
        "lights": _stage_lights(request, stage_id=stage_id, park=park, zone=zone, park_ids=park_ids),
        "row": row,
        "park": park,
        "status": status,
        "status_label": STATUS_LABELS[status],
        # Hundreds of enterprises in a busy park: their items are written here, not by a
        # template loop (a third of the panel's rendering).
        "present": _linked_items((e.name, change(Enterprise, e.id)) for e in row.present),
        "open_projects": project_list(panel.open, [s for s in Status.values if s not in CLOSED]),
        "open_hidden": panel.open.hidden,
        "filling_projects": project_list(panel.filling, SIGNED_OR_LATER),
        "filling_hidden": panel.filling.hidden,
        "candidates": candidates,
        "candidate_rows": _candidate_rows(candidates),
        "candidate_limit": CANDIDATE_LIMIT,
        "by_park": by_park,
        "close_href": reverse("reports:chain-map", args=[chain.code]) + _map_query(park, None),
    }


def _linked_items(items: Iterable[tuple[str, str | None]]) -> SafeString:
    """``<li>`` items, each its name linked to its URL (the name alone without one).

    The names and URLs are plain text (names read from the database, URLs reversed), so
    each is escaped as ``format_html`` escapes plain text, without its per-argument checks
    (a busy park lists hundreds)."""
    escape = html.escape
    return SafeString(
        "".join(
            f'<li><a href="{escape(str(url))}">{escape(str(name))}</a></li>' if url else f"<li>{escape(str(name))}</li>"
            for name, url in items
        )
    )


def _candidate_rows(candidates: Iterable[Mapping[str, Any]]) -> SafeString:
    """The candidates table's rows, as the panel's template wrote them with a loop (a third of
    the panel's rendering): each enterprise linked, marked when courted, where it is present
    elsewhere, its score (``floatformat:1``, the filter itself) and the reasons. Every value is
    escaped as the template escapes it; ``tests/recruitment/test_gap_map_views.py`` holds the
    two equal."""
    escape = html.escape
    courted_title = escape(
        gettext("Another office already has an open project with it: coordinate before approaching.")
    )
    courted = escape(gettext("Courted by another office"))
    own = escape(gettext("Your office is on it"))
    present_in = escape(gettext("Present at this stage in"))
    rows = []
    for number, item in enumerate(candidates, start=1):
        c, url = item["candidate"], item["url"]
        name = escape(str(c.name))
        linked = f'<a href="{escape(str(url))}">{name}</a>' if url else name
        pills = (
            f'<span class="cr-pill cr-pill--courted" title="{courted_title}">{courted}</span>'
            if c.courted_by_other_office
            else ""
        )
        mine = f'<span class="cr-pill cr-pill--own">{own}</span>' if c.courted_by_own_office else ""
        elsewhere = item["elsewhere"]
        where = (
            f'<div class="cr-en">{present_in} {", ".join(escape(str(park)) for park in elsewhere)}</div>'
            if elsewhere
            else ""
        )
        reasons = "".join(f"<li>{escape(str(reason))}</li>" for reason in c.reasons)
        rows.append(
            f'\n        <tr class="cr-candidate{" cr-courted" if c.courted_by_other_office else ""}" '
            f'data-enterprise="{escape(str(c.enterprise_id))}">\n'
            f"          <td>{number}</td>\n"
            "          <td>\n"
            f"            {linked}\n"
            f"            {pills}\n"
            f"            {mine}\n"
            f"            {where}\n"
            "          </td>\n"
            f'          <td class="num">{floatformat(c.score, 1)}</td>\n'
            f'          <td><ul class="cr-reasons">{reasons}</ul></td>\n'
            "        </tr>\n      "
        )
    return SafeString("".join(rows))


CANDIDATE_LIMIT = 20
PANEL_PROJECTS = 20
WORST_LIGHTS = 5


def _stage_lights(
    request: HttpRequest, *, stage_id: int, park: Park | None, zone: Zone, park_ids: list[int]
) -> dict[str, Any]:
    """The signed projects at the stage by light (each count opens the project list behind it) and the worst."""
    from recruitment.landing_admin import light_badge_html, reasons_in_words

    counts, worst = stage_lights(stage_id=stage_id, park_ids=park_ids, user=request.user, worst=WORST_LIGHTS)
    link = ChangelistLinker(request)
    where = {"park__id__exact": str(park.pk)} if park is not None else {"park__zone__id__exact": str(zone.pk)}
    change = ChangeUrls(request)
    labels = dict(Color.choices)
    return {
        "total": sum(counts.values()),
        "cells": [
            {
                "color": color,
                "label": labels[color],
                "count": n,
                "url": link(Project, {"light": color, "stage": str(stage_id), **where}) if n else None,
            }
            for color, n in counts.items()
        ],
        "worst": [
            {
                "title": p.title,
                "park": p.park.name,
                "color": p.light.color,
                "badge": light_badge_html(p.light.color),
                "since": p.light.since,
                "reasons": reasons_in_words(p.light.reasons or []),
                "url": change(Project, p.pk),
            }
            for p in worst
        ],
    }


def _chain_context(request: HttpRequest, code: str) -> dict[str, Any]:
    chain = get_object_or_404(Chain.objects.select_related("sector", "zone", "owner_enterprise"), code=code)
    zone = _zone_of(chain)
    # The zone's parks once, with who develops what: the filter lists them, the map counts them.
    parks_read = zone_parks(zone=zone) if zone else None
    parks_list = parks_read.parks if parks_read else []
    parks = {p.code: p for p in parks_list}
    park_code = request.GET.get("park") or ""
    park = parks.get(park_code)
    if park_code and park is None:
        raise Http404(_("No park with this code in the chain's zone."))
    # Counts only: the map and the matrix need no lists; a stage's panel reads its own.
    zone_rows, rows = gap_map_rows(zone=zone, chain=chain, park=park, parks_read=parks_read) if zone else ([], [])
    return {
        "chain": chain,
        "zone": zone,
        "parks": parks,
        "parks_list": parks_list,
        "park": park,
        "zone_rows": zone_rows,
        "rows": rows,
    }


def chain_map(request: HttpRequest, code: str) -> HttpResponse:
    """The gap map of one chain in a park or across the zone (缺链图: 现状图 against 远景图)."""
    _require_chain_view(request)
    ctx = _chain_context(request, code)
    chain, park, rows, zone_rows, parks = ctx["chain"], ctx["park"], ctx["rows"], ctx["zone_rows"], ctx["parks"]
    selected = request.GET.get("stage") or None
    by_code = {r.stage_code: r for r in rows}
    if selected and selected not in by_code:
        raise Http404(_("No stage with this code in the chain."))
    layout, boxes = _boxes(chain=chain, rows=rows, park=park, selected=selected)
    developing = {p for r in zone_rows for p in (b.park_code for b in r.by_park)}
    matrix_parks = [p for p in ctx["parks_list"] if p.code in developing]
    matrix = []
    for p in matrix_parks:
        cells = []
        for r in zone_rows:
            share = next((b for b in r.by_park if b.park_code == p.code), None)
            cells.append(
                MatrixCell(
                    status=share.status
                    if share and (share.present_count or share.targeted or share.being_filled)
                    else None,
                    present_count=share.present_count if share else 0,
                    targeted=bool(share and share.targeted),
                    being_filled=bool(share and share.being_filled),
                    stage_code=r.stage_code,
                )
            )
        matrix.append(
            {"park": p, "cells": cells, "href": reverse("reports:chain-map", args=[chain.code]) + _map_query(p, None)}
        )
    counts = {key: sum(1 for b in boxes if b.status == key) for key in STATUS_LABELS}
    targeted = [r for r in rows if r.targeted]
    context = {
        **admin.site.each_context(request),
        **ctx,
        "title": chain.name,
        "report_tab": "maps",
        "layout": layout,
        "map_width": _num(layout.width),
        "map_height": _num(layout.height),
        "boxes": boxes,
        "edges": layout.edges,
        "legend": [
            {"key": k, "label": STATUS_LABELS[k], "help": STATUS_HELP[k], "count": counts[k]} for k in STATUS_LABELS
        ],
        "matrix": matrix,
        "matrix_stages": zone_rows,
        "targeted": targeted,
        "targeted_covered": [r for r in targeted if r.status == COVERED],
        "to_recruit": [r for r in rows if r.to_recruit],
        "detail": _stage_detail(request, chain=chain, row=by_code[selected], park=park, zone=ctx["zone"], parks=parks)
        if selected
        else None,
        "zone_href": reverse("reports:chain-map", args=[chain.code]),
    }
    return TemplateResponse(request, "recruitment/reports/chain_map.html", context)


def chain_map_stage(request: HttpRequest, code: str, stage_code: str) -> HttpResponse:
    """The panel of one stage, for the map's script to show without reloading the page."""
    _require_chain_view(request)
    ctx = _chain_context(request, code)
    row = next((r for r in ctx["rows"] if r.stage_code == stage_code), None)
    if row is None:
        raise Http404(_("No stage with this code in the chain."))
    detail = _stage_detail(request, chain=ctx["chain"], row=row, park=ctx["park"], zone=ctx["zone"], parks=ctx["parks"])
    return TemplateResponse(
        request, "recruitment/reports/_stage_detail.html", {"detail": detail, "chain": ctx["chain"]}
    )


def chain_maps(request: HttpRequest) -> HttpResponse:
    """The chains by sector, each with its zone-wide stage counts and a link to its map."""
    _require_chain_view(request)
    chains = list(Chain.objects.select_related("sector").order_by("sector__code", "code"))
    summary: dict[str, dict[str, int]] = {}
    for zone in Zone.objects.order_by("code"):
        for row in gaps_for_zone(zone=zone, sample=0):
            counts = summary.setdefault(row.chain_code, dict.fromkeys(STATUS_LABELS, 0))
            counts[display_status(row.status, being_filled=row.being_filled)] += 1
    sectors: dict[Any, list[dict[str, Any]]] = {}
    for chain in chains:
        counts = summary.get(chain.code, dict.fromkeys(STATUS_LABELS, 0))
        sectors.setdefault(chain.sector, []).append(
            {
                "chain": chain,
                "counts": [(k, STATUS_LABELS[k], counts[k]) for k in STATUS_LABELS],
                "stages": sum(counts.values()),
            }
        )
    context = {
        **admin.site.each_context(request),
        "title": _("Chain gap maps 缺链图"),
        "report_tab": "maps",
        "sectors": sectors,
        "legend": [{"key": k, "label": STATUS_LABELS[k], "help": STATUS_HELP[k]} for k in STATUS_LABELS],
    }
    return TemplateResponse(request, "recruitment/reports/chain_maps.html", context)
