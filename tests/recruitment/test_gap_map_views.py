"""The chain gap map pages: the drawn graph, the stage panel, tenancy of project titles, candidates."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from chains.models import Park
from crm.models import Enterprise, Office
from crm.roles import MANAGER, STAFF, role_assign
from recruitment.models import Project, ProjectLight
from tests.factories import (
    ChainFactory,
    EnterpriseFactory,
    OfficeFactory,
    ParkFactory,
    PresenceFactory,
    ProjectFactory,
    StageEdgeFactory,
    StageFactory,
    UserFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain_world(provincial_office, park_office):  # type: ignore[no-untyped-def]
    """A chain a → b → c with b also feeding d; Yangqu's plan wants a, b and c.

    In Yangqu: a has two enterprises (covered), b one (weak), c none but a signed
    project of the park office (being filled), d none (missing).
    """
    zone = ZoneFactory()
    yangqu = ParkFactory(code="yangqu", name="阳曲产业园区", zone=zone)
    xinzhou = ParkFactory(code="xinzhou", name="忻州经济开发区", zone=zone)
    chain = ChainFactory(code="carbon-fibre", name="高端碳纤维产业链", zone=zone)
    a, b, c, d = (
        StageFactory(chain=chain, code=code, name=name, name_en=en, order=i)
        for i, (code, name, en) in enumerate(
            [
                ("acrylonitrile", "丙烯腈", "Acrylonitrile"),
                ("precursor", "聚丙烯腈原丝", "Polyacrylonitrile precursor filament"),
                ("fibre", "高性能碳纤维", "High-performance carbon fibre"),
                ("prepreg", "预浸料/预制件", "Prepreg or preforms"),
            ]
        )
    )
    for up, down in [(a, b), (b, c), (b, d)]:
        StageEdgeFactory(upstream=up, downstream=down)
    for stage in (a, b, c):
        stage.target_parks.add(yangqu)
    PresenceFactory(park=yangqu, stage=a)
    PresenceFactory(park=yangqu, stage=a)
    PresenceFactory(park=yangqu, stage=b, enterprise=EnterpriseFactory(name="山西腈纶原丝材料有限公司"))
    filling = ProjectFactory(
        office=park_office, park=yangqu, title="碳纤维扩产项目", status="signed", enterprise=EnterpriseFactory()
    )
    filling.stages.set([c])
    courting = ProjectFactory(
        office=provincial_office, park=yangqu, title="省厅原丝洽谈项目", status="lead", enterprise=EnterpriseFactory()
    )
    courting.stages.set([b])
    # Candidates for c in Yangqu: capable of c, not present in Yangqu.
    proven = EnterpriseFactory(name="太原高模碳纤维有限公司", registered_capital=10**9)
    proven.stages.add(c, b)
    PresenceFactory(park=xinzhou, stage=c, enterprise=proven)
    courted = EnterpriseFactory(name="上海碳纤维有限公司")
    courted.stages.add(c)
    other_project = ProjectFactory(office=provincial_office, park=xinzhou, enterprise=courted, status="negotiating")
    other_project.stages.set([d])
    return {"zone": zone, "yangqu": yangqu, "xinzhou": xinzhou, "chain": chain, "stages": (a, b, c, d)}


@pytest.fixture
def manager(provincial_office):  # type: ignore[no-untyped-def]
    user = UserFactory(office=provincial_office)
    role_assign(user=user, role=MANAGER)
    return user


@pytest.fixture
def park_staff(park_office):  # type: ignore[no-untyped-def]
    user = UserFactory(office=park_office)
    role_assign(user=user, role=STAFF)
    return user


def map_url(code: str = "carbon-fibre") -> str:
    return reverse("reports:chain-map", args=[code])


def stage_statuses(page: str) -> dict[str, str]:
    return dict(re.findall(r'class="cr-stage[^"]*" data-stage="([^"]+)" data-status="([^"]+)"', page))


def test_map_draws_every_stage_coloured_by_its_status_in_the_park(client, chain_world, manager) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)

    page = client.get(map_url(), {"park": "yangqu"}).content.decode()

    assert stage_statuses(page) == {
        "acrylonitrile": "covered",
        "precursor": "weak",
        "fibre": "filling",
        "prepreg": "missing",
    }
    edges = set(re.findall(r'data-from="([^"]+)" data-to="([^"]+)"', page))
    assert edges == {("acrylonitrile", "precursor"), ("precursor", "fibre"), ("precursor", "prepreg")}
    assert "<svg" in page and 'id="chain-map"' in page
    assert page.count('class="cr-ring"') == 3  # the three stages the plan wants in Yangqu


def test_zone_view_counts_presences_in_any_park(client, chain_world, manager) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)

    response = client.get(map_url())

    page = response.content.decode()
    # "fibre" has the proven producer in Xinzhou: weak across the zone, and being filled in Yangqu.
    assert stage_statuses(page)["fibre"] == "filling"
    assert stage_statuses(page)["acrylonitrile"] == "covered"
    assert response.context["park"] is None


def test_clicking_a_stage_shows_enterprises_projects_and_ranked_candidates(client, chain_world, manager) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)

    response = client.get(map_url(), {"park": "yangqu", "stage": "fibre"})

    detail = response.context["detail"]
    assert [c["candidate"].name for c in detail["candidates"]] == ["太原高模碳纤维有限公司", "上海碳纤维有限公司"]
    assert detail["candidates"][1]["candidate"].courted_by_other_office is False  # the manager's own office courts it
    assert [p["title"] for p in detail["filling_projects"]["projects"]] == ["碳纤维扩产项目"]
    page = response.content.decode()
    assert 'id="stage-candidates"' in page
    assert "太原高模碳纤维有限公司" in page


def test_the_panel_lists_every_enterprise_present_each_linked_to_its_page(client, chain_world, manager) -> None:  # type: ignore[no-untyped-def]
    b = chain_world["stages"][1]
    odd = EnterpriseFactory(name="<b>晋&阳</b>")
    PresenceFactory(park=chain_world["yangqu"], stage=b, enterprise=odd)
    client.force_login(manager)

    page = client.get(map_url(), {"park": "yangqu", "stage": "precursor"}).content.decode()

    block = page[page.index('id="stage-present"') : page.index('id="stage-projects"')]
    items = re.findall(r'<li><a href="([^"]+)">([^<]*)</a></li>', block)
    assert [name for _url, name in items] == [escape(odd.name), "山西腈纶原丝材料有限公司"]
    assert items[0][0] == reverse("admin:crm_enterprise_change", args=[odd.pk])


def test_present_items_without_a_url_name_the_enterprise_alone() -> None:
    from recruitment.report_views import _linked_items

    assert _linked_items([("A&B", None), ("C", "/c/?x=1&y=2")]) == (
        '<li>A&amp;B</li><li><a href="/c/?x=1&amp;y=2">C</a></li>'
    )


def test_present_items_are_escaped_as_format_html_escapes_them() -> None:
    from django.utils.html import format_html

    from recruitment.report_views import _linked_items

    items = [("<b>晋&阳</b>", '/e/1/?a=1&b="2"'), ('O\'Neil "&" Co', None), ("太原", "/e/'3'/")]
    expected = "".join(
        format_html('<li><a href="{}">{}</a></li>', url, name) if url else format_html("<li>{}</li>", name)
        for name, url in items
    )
    assert _linked_items(items) == expected


# The panel's candidate rows as its template wrote them with a loop: what ``_candidate_rows``
# must write, byte for byte.
_CANDIDATES_LOOP = """{% load i18n %}      {% for item in detail.candidates %}{% with c=item.candidate %}
        <tr class="cr-candidate{% if c.courted_by_other_office %} cr-courted{% endif %}" data-enterprise="{{ c.enterprise_id }}">
          <td>{{ forloop.counter }}</td>
          <td>
            {% if item.url %}<a href="{{ item.url }}">{{ c.name }}</a>{% else %}{{ c.name }}{% endif %}
            {% if c.courted_by_other_office %}<span class="cr-pill cr-pill--courted" title="{% translate 'Another office already has an open project with it: coordinate before approaching.' %}">{% translate 'Courted by another office' %}</span>{% endif %}
            {% if c.courted_by_own_office %}<span class="cr-pill cr-pill--own">{% translate 'Your office is on it' %}</span>{% endif %}
            {% if item.elsewhere %}<div class="cr-en">{% translate 'Present at this stage in' %} {{ item.elsewhere|join:", " }}</div>{% endif %}
          </td>
          <td class="num">{{ c.score|floatformat:1 }}</td>
          <td><ul class="cr-reasons">{% for reason in c.reasons %}<li>{{ reason }}</li>{% endfor %}</ul></td>
        </tr>
      {% endwith %}{% endfor %}
"""


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_candidate_rows_are_what_the_template_loop_wrote(language) -> None:  # type: ignore[no-untyped-def]
    import uuid

    from django.template import Context, Template
    from django.utils import translation

    from chains.gap_analysis import Candidate
    from recruitment.report_views import _candidate_rows

    def candidate(name: str, score: float, **kw) -> Candidate:  # type: ignore[no-untyped-def]
        kw.setdefault("courted_by_other_office", False)
        kw.setdefault("present_elsewhere", [])
        return Candidate(enterprise_id=uuid.uuid4(), name=name, credit_code=None, score=score, **kw)

    candidates = [
        {
            "candidate": candidate("太钢 <不锈>", 5.25, reasons=["在区内 & 链上", '"大"']),
            "url": "/e/1/?a=1&b=2",
            "elsewhere": [],
        },
        {
            "candidate": candidate("O'Neil & Co", 0.05, reasons=[], courted_by_other_office=True),
            "url": None,
            "elsewhere": ["阳曲 <园>", "原平"],
        },
        {
            "candidate": candidate(
                "晋阳", 4.0, reasons=["x"], courted_by_own_office=True, courted_by_other_office=True
            ),
            "url": "/e/'3'/",
            "elsewhere": ["忻州"],
        },
        {"candidate": candidate("零", 0.0, reasons=["<b>"]), "url": "", "elsewhere": []},
        *(
            {"candidate": candidate(f"企{n}", 2.449 + n, reasons=[]), "url": f"/e/{n}/", "elsewhere": []}
            for n in range(8)
        ),
    ]
    with translation.override(language):
        written = _candidate_rows(candidates)
        expected = Template(_CANDIDATES_LOOP).render(Context({"detail": {"candidates": candidates}}))
    assert "cr-courted" in written and "cr-pill--own" in written and "&lt;不锈&gt;" in written
    assert "      " + written + "\n" == expected


def test_candidates_courted_by_another_office_are_marked(client, chain_world, park_staff) -> None:  # type: ignore[no-untyped-def]
    client.force_login(park_staff)

    response = client.get(map_url(), {"park": "yangqu", "stage": "fibre"})

    courted = {
        c["candidate"].name: c["candidate"].courted_by_other_office for c in response.context["detail"]["candidates"]
    }
    assert courted == {"太原高模碳纤维有限公司": False, "上海碳纤维有限公司": True}
    assert response.content.decode().count('class="cr-pill cr-pill--courted"') == 1


def test_park_staff_see_titles_of_their_own_projects_and_only_a_count_of_others(
    client, chain_world, park_staff
) -> None:  # type: ignore[no-untyped-def]
    client.force_login(park_staff)

    own = client.get(map_url(), {"park": "yangqu", "stage": "fibre"})
    others = client.get(map_url(), {"park": "yangqu", "stage": "precursor"})

    assert [p["title"] for p in own.context["detail"]["filling_projects"]["projects"]] == ["碳纤维扩产项目"]
    assert others.context["detail"]["open_projects"]["projects"] == []
    assert others.context["detail"]["open_hidden"] == 1
    page = others.content.decode()
    assert "省厅原丝洽谈项目" not in page
    assert 'class="cr-hidden-count"' in page
    assert "山西腈纶原丝材料有限公司" in page  # the enterprise directory is shared


def test_provincial_staff_see_every_title(client, chain_world, manager) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)

    response = client.get(map_url(), {"park": "yangqu", "stage": "precursor"})

    assert [p["title"] for p in response.context["detail"]["open_projects"]["projects"]] == ["省厅原丝洽谈项目"]
    assert response.context["detail"]["open_hidden"] == 0


@pytest.mark.parametrize("who", ["manager", "park_staff"])
def test_a_busy_stage_names_its_first_projects_and_links_the_rest(client, chain_world, who, request) -> None:  # type: ignore[no-untyped-def]
    """Thousands of projects at a stage of a busy park: the panel names the first of each
    list and links the others to the project list narrowed to exactly those projects."""
    from recruitment.report_views import PANEL_PROJECTS

    user = request.getfixturevalue(who)
    client.force_login(user)
    precursor = chain_world["stages"][1]
    for i in range(PANEL_PROJECTS + 3):
        project = ProjectFactory(
            office=user.office, park=chain_world["yangqu"], title=f"原丝项目{i:02d}", status="lead"
        )
        project.stages.set([precursor])

    response = client.get(map_url(), {"park": "yangqu", "stage": "precursor"})

    shown = response.context["detail"]["open_projects"]
    own_total = PANEL_PROJECTS + 3 + (1 if who == "manager" else 0)  # the manager sees the province's project too
    assert len(shown["projects"]) == PANEL_PROJECTS and shown["more"] == own_total - PANEL_PROJECTS
    assert escape(shown["more_url"]) in response.content.decode()
    listed = client.get(shown["more_url"])
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == own_total


def test_stage_panel_fragment_is_the_panel_alone(client, chain_world, park_staff) -> None:  # type: ignore[no-untyped-def]
    client.force_login(park_staff)

    response = client.get(reverse("reports:chain-map-stage", args=["carbon-fibre", "precursor"]), {"park": "yangqu"})

    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert 'data-stage="precursor"' in page
    assert "省厅原丝洽谈项目" not in page


def test_zone_panel_lists_the_parks_instead_of_candidates(client, chain_world, manager) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)

    response = client.get(map_url(), {"stage": "fibre"})

    detail = response.context["detail"]
    assert detail["candidates"] == []
    assert {p["code"] for p in detail["by_park"]} == {"yangqu", "xinzhou"}
    assert 'id="stage-by-park"' in response.content.decode()


def test_target_map_lists_what_to_recruit_in_the_park(client, chain_world, manager) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)

    response = client.get(map_url(), {"park": "yangqu"})

    assert [r.stage_code for r in response.context["targeted"]] == ["acrylonitrile", "precursor", "fibre"]
    assert [r.stage_code for r in response.context["to_recruit"]] == ["precursor", "fibre"]
    matrix = {line["park"].code: [c.css for c in line["cells"]] for line in response.context["matrix"]}
    assert matrix["yangqu"] == ["covered", "weak", "filling", "none"]
    assert matrix["xinzhou"][2] == "weak"


@pytest.mark.parametrize(
    "path, params",
    [
        ("no-such-chain", {}),
        ("carbon-fibre", {"park": "no-such-park"}),
        ("carbon-fibre", {"stage": "no-such-stage"}),
    ],
)
def test_unknown_codes_answer_404(client, chain_world, manager, path, params) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)

    assert client.get(map_url(path), params).status_code == 404


def test_staff_without_chain_permission_are_refused(client, chain_world, provincial_office) -> None:  # type: ignore[no-untyped-def]
    client.force_login(UserFactory(office=provincial_office, is_staff=True))

    assert client.get(map_url()).status_code == 403
    assert client.get(reverse("reports:chain-maps")).status_code == 403


def test_chain_list_links_every_chain_with_its_zone_counts(client, chain_world, manager) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)

    response = client.get(reverse("reports:chain-maps"))

    page = response.content.decode()
    assert f'href="{map_url()}"' in page
    [items] = response.context["sectors"].values()
    counts = {key: n for key, _label, n in items[0]["counts"]}
    assert counts == {"covered": 1, "weak": 1, "missing": 1, "filling": 1}


def _grow(world, n: int) -> None:  # type: ignore[no-untyped-def]
    a, b, c, d = world["stages"]
    office = OfficeFactory(code=f"grow-{n}", kind=Office.Kind.PARTNER)
    for i in range(n):
        enterprise = EnterpriseFactory()
        enterprise.stages.add(c, d)
        PresenceFactory(park=world["xinzhou"], stage=(a, b, c, d)[i % 4], enterprise=enterprise)
        project = ProjectFactory(
            office=office, park=world["yangqu"], enterprise=enterprise, status=("lead", "signed")[i % 2]
        )
        project.stages.set([(b, c, d)[i % 3]])


@pytest.mark.parametrize(
    ("who", "params", "fragment", "lit", "expected"),
    [
        ("manager", {"park": "yangqu", "stage": "fibre"}, False, False, 12),
        ("manager", {"park": "yangqu", "stage": "fibre"}, False, True, 13),
        ("park_staff", {"park": "yangqu", "stage": "fibre"}, False, False, 12),
        ("park_staff", {"park": "yangqu"}, True, False, 12),
        ("park_staff", {"park": "yangqu"}, True, True, 13),
        ("manager", {"stage": "fibre"}, False, False, 11),
        ("manager", {"stage": "fibre"}, False, True, 12),
    ],
    ids=[
        "manager in a park",
        "manager in a park, red and yellow lights",
        "park staff in a park",
        "park staff, the panel alone",
        "park staff, the panel alone, red and yellow lights",
        "manager across the zone",
        "manager across the zone, red and yellow lights",
    ],
)
def test_map_with_a_stage_open_runs_a_fixed_number_of_queries(
    client, chain_world, request, who, params, fragment, lit, expected
) -> None:  # type: ignore[no-untyped-def]
    """Session, user and their permissions (2), the chain, the zone's parks with the chains they
    develop, the map's stages and counts (2), the user's office, then the panel: its projects
    with its enterprises and the stage's neighbours, the candidates in a park (one statement)
    and the lights by colour,
    and the worst of them when some are red or yellow — the same number whatever the
    number of records."""
    if lit:
        request.getfixturevalue("lit_world")
    client.force_login(request.getfixturevalue(who))
    url = reverse("reports:chain-map-stage", args=["carbon-fibre", "fibre"]) if fragment else map_url()
    client.get(url, params)
    _grow(chain_world, 3)
    with CaptureQueriesContext(connection) as small:
        client.get(url, params)
    _grow(chain_world, 40)
    with CaptureQueriesContext(connection) as large:
        response = client.get(url, params)

    if "park" in params:
        assert len(response.context["detail"]["candidates"]) > 20 - 1
    assert len(small.captured_queries) == len(large.captured_queries)
    assert len(large.captured_queries) == expected, "\n".join(q["sql"][:90] for q in large.captured_queries)


def client_can_open(user, url: str | None) -> bool:  # type: ignore[no-untyped-def]
    from django.test import Client

    client = Client()
    client.force_login(user)
    return url is not None and client.get(url).status_code == 200


def test_change_urls_are_those_the_admin_reverses(rf, chain_world) -> None:  # type: ignore[no-untyped-def]
    """The panel's links are built from one reversed URL per model: the URLs the admin writes
    for its own rows (the key quoted as the admin quotes it), keys that reversing would
    escape still reversed."""
    from django.contrib.admin.utils import quote

    from recruitment.report_links import ChangeUrls

    request = rf.get("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    change = ChangeUrls(request)
    enterprise = EnterpriseFactory()
    for model, pk in [
        (Enterprise, enterprise.pk),
        (Enterprise, EnterpriseFactory().pk),
        (Park, chain_world["yangqu"].pk),
        (Park, chain_world["xinzhou"].pk),
        (Enterprise, "a b/c?d"),
        (Enterprise, "a_5Fb"),  # the admin's own quoting: unquoted, it would name "a_b"
        (Enterprise, "0StandInKey0"),
    ]:
        url = change(model, pk)
        assert url is not None and url == reverse(
            f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[quote(pk)]
        )
    assert client_can_open(request.user, change(Enterprise, enterprise.pk))


def _lit(project, color: str, since: str, reasons: list | None = None) -> None:  # type: ignore[no-untyped-def,type-arg]
    ProjectLight.objects.create(
        project=project,
        color=color,
        since=dt.date.fromisoformat(since),
        reasons=reasons or [],
        computed_at=timezone.now(),
    )


@pytest.fixture
def lit_world(chain_world, provincial_office, park_office):  # type: ignore[no-untyped-def]
    """At the fibre stage: the park office's signed project red, a provincial one yellow in Yangqu,
    a green one in Xinzhou; a red one at another stage."""
    a, b, c, d = chain_world["stages"]
    red = Project.objects.get(title="碳纤维扩产项目")
    overdue = {
        "rule": "milestone-overdue",
        "kind": "milestone_overdue",
        "color": "red",
        "detail": "…",
        "params": {"milestone": "construction", "planned": "2026-02-15", "months": 3},
    }
    _lit(red, "red", "2026-04-03", [overdue])
    yellow = ProjectFactory(
        office=provincial_office, park=chain_world["yangqu"], title="省厅碳纤维落地项目", status="construction"
    )
    yellow.stages.set([c])
    _lit(yellow, "yellow", "2026-04-20")
    green = ProjectFactory(office=park_office, park=chain_world["xinzhou"], title="忻州碳纤维项目", status="signed")
    green.stages.set([c])
    _lit(green, "green", "2026-01-10")
    elsewhere = ProjectFactory(office=park_office, park=chain_world["yangqu"], title="丙烯腈项目", status="signed")
    elsewhere.stages.set([a])
    _lit(elsewhere, "red", "2026-03-01")
    return {**chain_world, "red": red, "yellow": yellow, "green": green, "elsewhere": elsewhere}


def _light_cells(page: str) -> dict[str, tuple[str, str | None]]:
    panel = page.split('id="stage-lights"')[1].split("</section>")[0]
    cells = {}
    for color, body in re.findall(r'<td class="num" data-light="(\w+)">(.*?)</td>', panel, re.S):
        link = re.search(r'<a href="([^"]+)">(\d+)</a>', body)
        cells[color] = (link.group(2), link.group(1).replace("&amp;", "&")) if link else (body.split()[-1], None)
    return cells


def test_stage_panel_counts_signed_projects_by_light_each_linking_to_its_list(client, lit_world, manager) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)
    fibre = lit_world["stages"][2]

    page = client.get(map_url(), {"park": "yangqu", "stage": "fibre"}).content.decode()

    cells = _light_cells(page)
    assert {color: n for color, (n, _url) in cells.items()} == {"red": "1", "yellow": "1", "green": "0"}
    red_url = cells["red"][1]
    assert red_url is not None and cells["green"][1] is None
    assert "light=red" in red_url and f"stage={fibre.pk}" in red_url
    assert f"park__id__exact={lit_world['yangqu'].pk}" in red_url
    listed = client.get(red_url)
    assert listed.status_code == 200
    assert [p.title for p in listed.context["cl"].result_list] == ["碳纤维扩产项目"]
    # The worst, red first, with the reasons in words and their since.
    worst = page.split('class="cr-worst"')[1].split("</ul>\n")[0]
    assert worst.index("碳纤维扩产项目") < worst.index("省厅碳纤维落地项目")
    assert "开工计划于 2026-02-15 完成" in worst and "2026-04-03" in worst
    assert "丙烯腈项目" not in worst and "忻州碳纤维项目" not in worst


def test_zone_stage_panel_counts_lights_across_the_zones_parks(client, lit_world, manager) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)

    page = client.get(map_url(), {"stage": "fibre"}).content.decode()

    cells = _light_cells(page)
    assert {color: n for color, (n, _url) in cells.items()} == {"red": "1", "yellow": "1", "green": "1"}
    green_url = cells["green"][1]
    assert green_url is not None and f"park__zone__id__exact={lit_world['zone'].pk}" in green_url
    assert [p.title for p in client.get(green_url).context["cl"].result_list] == ["忻州碳纤维项目"]


def test_park_staff_see_the_lights_of_their_own_offices_projects_only(client, lit_world, park_staff) -> None:  # type: ignore[no-untyped-def]
    client.force_login(park_staff)

    page = client.get(reverse("reports:chain-map-stage", args=["carbon-fibre", "fibre"]), {"park": "yangqu"})
    page = page.content.decode()

    cells = _light_cells(page)
    assert {color: n for color, (n, _url) in cells.items()} == {"red": "1", "yellow": "0", "green": "0"}
    assert "省厅碳纤维落地项目" not in page
    assert "碳纤维扩产项目" in page.split('id="stage-lights"')[1]
