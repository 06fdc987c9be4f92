"""The admin tool pages: upload → preview with every bad row → import; template; export; duplicates; merge."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from crm.models import Contact, Enterprise
from crm.roles import MANAGER, STAFF, role_assign
from crm.services import contact_create, enterprise_create
from recruitment.import_uploads import staging_dir
from recruitment.models import Project
from recruitment.services import project_create, project_transition
from tests.factories import ParkFactory, StageFactory, UserFactory, valid_credit_code

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _staging(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.IMPORT_STAGING_DIR = tmp_path / "imports"


@pytest.fixture
def staff(park_office):  # type: ignore[no-untyped-def]
    user = UserFactory(office=park_office)
    role_assign(user=user, role=STAFF)
    return user


@pytest.fixture
def manager(park_office):  # type: ignore[no-untyped-def]
    user = UserFactory(office=park_office)
    role_assign(user=user, role=MANAGER)
    return user


def csv_upload(rows: list[list[object]], name: str = "ents.csv") -> io.BytesIO:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    upload = io.BytesIO(out.getvalue().encode("utf-8-sig"))
    upload.name = name
    return upload


def page(response) -> str:  # type: ignore[no-untyped-def]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return body.decode()


def upload(client, rows, kind: str = "enterprises") -> str:  # type: ignore[no-untyped-def]
    response = client.post(reverse("tools:import"), {"kind": kind, "file": csv_upload(rows)})
    assert response.status_code == 302, page(response)
    return response["Location"]


def test_a_bad_file_is_previewed_with_every_bad_row_and_cannot_be_imported(client, staff):
    client.force_login(staff)
    preview_url = upload(
        client,
        [
            ["企业名称", "统一社会信用代码", "注册资本（元）"],
            ["好企业", valid_credit_code(1), "100"],
            ["坏企业", "123", "100"],
            ["", valid_credit_code(2), "-3"],
        ],
    )
    html = page(client.get(preview_url))
    assert 'class="cr-progress"' in html
    assert 'id="import-errors"' in html
    rows = html.split('id="import-errors"')[1].split("</table>")[0]
    assert rows.count("<tr>") == 1 + 3  # header + row 3 (code) + row 4 (name, capital)
    assert '<td class="cr-num">3</td>' in rows and '<td class="cr-num">4</td>' in rows
    assert 'id="import-confirm"' not in html
    # Posting anyway (a crafted request) imports nothing either.
    html = page(client.post(preview_url))
    assert 'class="errornote"' in html and 'class="success"' not in html
    assert Enterprise.objects.count() == 0


@pytest.mark.parametrize(
    ("kind", "rows"),
    [
        ("enterprises", [["企业名称", "planed_investment"], ["甲企业", "100"]]),
        ("contacts", [["企业名称", "姓名", "prority"], ["甲企业", "张三", "high"]]),
        ("projects", [["项目名称", "企业名称", "prority"], ["项目", "甲企业", "high"]]),
    ],
)
def test_an_unknown_column_is_an_error_naming_it_and_the_file_cannot_be_imported(client, staff, kind, rows):
    enterprise_create(office=staff.office, name="甲企业")
    client.force_login(staff)
    preview_url = upload(client, rows, kind=kind)
    html = page(client.get(preview_url))
    errors = html.split('id="import-errors"')[1].split("</table>")[0]
    unknown = rows[0][-1]
    assert f"<td>{unknown}</td>" in errors
    assert f"Unknown column “{unknown}”" in errors or f"未知的列“{unknown}”" in errors
    assert 'id="import-confirm"' not in html
    html = page(client.post(preview_url))
    assert 'class="errornote"' in html and 'class="success"' not in html
    assert Enterprise.objects.count() == 1
    assert Contact.objects.count() == 0
    assert Project.objects.count() == 0


def test_a_good_file_is_previewed_then_imported_and_the_upload_is_discarded(client, staff, park_office):
    client.force_login(staff)
    preview_url = upload(
        client,
        [["Name", "Credit code", "City"], ["甲企业", valid_credit_code(3), "太原"], ["乙企业", "", "忻州"]],
    )
    html = page(client.get(preview_url))
    assert 'id="import-confirm"' in html
    assert Enterprise.objects.count() == 0
    html = page(client.post(preview_url))
    assert 'id="import-counts"' in html
    assert set(Enterprise.objects.values_list("name", flat=True)) == {"甲企业", "乙企业"}
    assert set(Enterprise.objects.values_list("office", flat=True)) == {park_office.pk}
    assert client.get(preview_url).status_code == 404
    assert not list(staging_dir().rglob("*.bin"))


def test_another_users_upload_is_not_found(client, staff, park_office):
    client.force_login(staff)
    preview_url = upload(client, [["企业名称"], ["甲"]])
    other = UserFactory(office=park_office)
    role_assign(user=other, role=STAFF)
    client.force_login(other)
    assert client.get(preview_url).status_code == 404


def test_the_template_download_is_an_importable_workbook_with_help(client, staff):
    StageFactory(code="carbon-fibre")
    client.force_login(staff)
    response = client.get(reverse("tools:import-template", args=["projects", "xlsx"]))
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    header = next(workbook.worksheets[0].iter_rows(values_only=True))
    assert "项目名称*" in header and "目标园区" in header
    assert len(workbook.worksheets) == 3
    codes = [r[0] for r in workbook.worksheets[2].iter_rows(values_only=True)]
    assert any(c and c.endswith("/carbon-fibre") for c in codes)


def test_a_user_without_import_permission_is_refused(client, park_office):
    user = UserFactory(office=park_office, is_staff=True)
    client.force_login(user)
    assert client.get(reverse("tools:import")).status_code == 403


def test_export_page_downloads_only_the_offices_projects_with_the_list_filters(
    client, staff, park_office, partner_office
):
    park, stage = ParkFactory(), StageFactory()
    ent = enterprise_create(office=park_office, name="钢科")
    ours = project_create(office=park_office, stages=[stage], title="我们的项目", enterprise=ent, park=park)
    project_transition(project=ours, to="screening")
    project_create(office=park_office, stages=[stage], title="我们的线索", enterprise=ent, park=park)
    project_create(office=partner_office, stages=[stage], title="别人的项目", enterprise=ent, park=park)
    client.force_login(staff)
    response = client.get(reverse("tools:export"), {"kind": "projects", "format": "csv"})
    text = page(response)
    assert "我们的项目" in text and "我们的线索" in text and "别人的项目" not in text
    response = client.get(
        reverse("tools:export"),
        {"kind": "projects", "format": "csv", "_changelist_filters": "status__exact=screening"},
    )
    text = page(response)
    assert "我们的项目" in text and "我们的线索" not in text
    assert client.get(reverse("tools:export")).status_code == 200


def test_contacts_export_through_the_page_is_scoped(client, staff, park_office, partner_office):
    ent = enterprise_create(office=park_office, name="钢科")
    contact_create(office=park_office, enterprise=ent, name="自己人")
    contact_create(office=partner_office, enterprise=ent, name="外人")
    client.force_login(staff)
    response = client.get(reverse("tools:export"), {"kind": "contacts", "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(response.getvalue()), read_only=True).worksheets[0]
    names = [row[4] for row in list(sheet.iter_rows(values_only=True))[1:]]
    assert names == ["自己人"]
    assert Contact.objects.count() == 2


def test_duplicates_and_merge_are_for_managers_only(client, staff, manager, park_office):
    keep = enterprise_create(office=park_office, name="太钢集团", credit_code=valid_credit_code(5))
    drop = enterprise_create(office=park_office, name="太钢集团有限公司")
    client.force_login(staff)
    assert client.get(reverse("tools:duplicates")).status_code == 403
    assert client.post(reverse("tools:merge"), {"survivor": keep.pk, "duplicate": drop.pk}).status_code == 403
    client.force_login(manager)
    html = client.get(reverse("tools:duplicates")).content.decode()
    assert f"survivor={keep.pk}&amp;duplicate={drop.pk}" in html
    html = client.get(reverse("tools:merge"), {"survivor": keep.pk, "duplicate": drop.pk}).content.decode()
    assert 'id="merge-form"' in html


def _group_html(html: str, member) -> str:  # type: ignore[no-untyped-def]
    """The duplicates page's section holding ``member``."""
    sections = [part.split("</section>")[0] for part in html.split('<section class="module cr-group"')[1:]]
    (section,) = [part for part in sections if f"/{member.pk}/" in part]
    return section


def test_the_duplicates_page_offers_a_park_manager_only_the_merges_the_merge_page_allows(
    client, manager, park_office, partner_office, provincial_user
):
    # Two of the manager's office's entries and a reference entry (no office) that look alike.
    own_keep = enterprise_create(office=park_office, name="太钢集团", credit_code=valid_credit_code(11))
    own_drop = enterprise_create(office=park_office, name="太钢集团有限公司")
    reference = enterprise_create(office=None, name="太钢集团股份有限公司")
    # The manager's entry and a partner office's entry: nothing the manager may merge.
    mine = enterprise_create(office=park_office, name="晋阳碳材")
    theirs = enterprise_create(office=partner_office, name="晋阳碳材有限公司")
    # Two partner-office entries: not the park's business at all.
    other_a = enterprise_create(office=partner_office, name="忻州精密")
    other_b = enterprise_create(office=partner_office, name="忻州精密有限公司")

    client.force_login(manager)
    html = page(client.get(reverse("tools:duplicates")))
    assert f"/{other_a.pk}/" not in html and f"/{other_b.pk}/" not in html

    mixed = _group_html(html, own_keep)
    assert mixed.count("tools/merge/?") == 1
    assert f"survivor={own_keep.pk}&amp;duplicate={own_drop.pk}" in mixed
    assert "cr-not-mergeable" in mixed and f"duplicate={reference.pk}" not in mixed

    foreign = _group_html(html, mine)
    assert "tools/merge/?" not in foreign
    assert foreign.count("cr-not-mergeable") == 2  # the group's reason and the partner's entry
    assert str(partner_office) in foreign

    # Every merge the page offers is one the merge page carries out; the others are refused there.
    for href in re.findall(r'href="(/[^"]*tools/merge/\?[^"]+)"', html):
        confirm = page(client.get(href.replace("&amp;", "&")))
        assert 'id="merge-form"' in confirm, href
    for survivor, duplicate in ((own_keep, reference), (mine, theirs), (other_a, other_b)):
        refused = page(client.get(reverse("tools:merge"), {"survivor": survivor.pk, "duplicate": duplicate.pk}))
        assert 'id="merge-form"' not in refused

    # The provincial office may change every enterprise: every group, every member mergeable.
    client.force_login(provincial_user)
    html = page(client.get(reverse("tools:duplicates")))
    assert "cr-not-mergeable" not in html
    for member in (own_drop, reference, theirs, other_b):
        assert f"duplicate={member.pk}" in html or f"survivor={member.pk}" in html


def test_a_manager_merges_from_the_confirmation_page(client, manager, park_office):
    keep = enterprise_create(office=park_office, name="太钢集团", credit_code=valid_credit_code(6))
    drop = enterprise_create(office=park_office, name="太钢集团有限公司", website="http://tisco.com.cn")
    contact_create(office=park_office, enterprise=drop, name="张伟")
    client.force_login(manager)
    response = client.post(reverse("tools:merge"), {"survivor": keep.pk, "duplicate": drop.pk})
    assert response.status_code == 302
    drop.refresh_from_db()
    keep.refresh_from_db()
    assert drop.merged_into == keep
    assert keep.website == "http://tisco.com.cn"
    assert Contact.objects.get().enterprise == keep
    assert keep.history.first().history_user == manager


def test_merging_different_legal_entities_is_refused_on_the_page(client, manager, park_office):
    keep = enterprise_create(office=park_office, name="甲", credit_code=valid_credit_code(7))
    drop = enterprise_create(office=park_office, name="甲公司", credit_code=valid_credit_code(8))
    client.force_login(manager)
    html = client.get(reverse("tools:merge"), {"survivor": keep.pk, "duplicate": drop.pk}).content.decode()
    assert 'id="merge-problem"' in html and 'id="merge-form"' not in html
    html = client.post(reverse("tools:merge"), {"survivor": keep.pk, "duplicate": drop.pk}).content.decode()
    assert 'id="merge-problem"' in html
    drop.refresh_from_db()
    assert drop.merged_into is None
    assert client.get(reverse("tools:merge"), {"survivor": "nope", "duplicate": drop.pk}).status_code == 404


def test_project_import_through_the_page(client, staff, park_office):
    ParkFactory(code="yangqu")
    StageFactory(code="prepreg")
    enterprise_create(office=park_office, name="钢科", credit_code=valid_credit_code(9))
    client.force_login(staff)
    preview_url = upload(
        client,
        [
            ["项目名称", "统一社会信用代码", "目标园区", "目标环节", "拟投金额（万元）"],
            ["预浸料项目", valid_credit_code(9), "yangqu", "prepreg", "3000"],
        ],
        kind="projects",
    )
    assert 'id="import-confirm"' in page(client.get(preview_url))
    page(client.post(preview_url))
    project = Project.objects.get()
    assert (project.title, project.office, int(project.planned_investment)) == ("预浸料项目", park_office, 30_000_000)


@pytest.mark.django_db(transaction=True)
def test_a_page_closed_mid_import_rolls_the_import_back_and_gives_the_collector_back_at_once(client, staff):
    import gc

    client.force_login(staff)
    preview_url = upload(client, [["企业名称", "统一社会信用代码"], ["甲企业", valid_credit_code(1)]])
    page(client.get(preview_url))
    response = client.post(preview_url)
    chunks = iter(response.streaming_content)
    next(chunks)  # the page's head
    next(chunks)  # the first progress line: the import is running
    assert not gc.isenabled()
    response.close()  # what the server does when the browser goes away
    assert gc.isenabled()
    assert Enterprise.objects.count() == 0
