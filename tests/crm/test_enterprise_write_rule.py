"""Who may change an enterprise, on every write path.

The rule (``crm.access.enterprise_may_change``): an enterprise is changed, merged
or deleted only by the office that created it or by the provincial office; a
reference enterprise (no creating office) only by the provincial office.

A matrix over write path × role (park staff, park manager, provincial staff) ×
owner (the actor's own office, another office, a reference enterprise): the real
admin change form and change-list action, the import page, the merge page, the
API (PUT, PATCH, DELETE, bulk) and the ``import_records`` command. A refused
write leaves the enterprise exactly as it was.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from api.api_keys import api_key_create
from crm.access import EnterpriseChangeRefused, enterprise_may_change
from crm.models import Enterprise, Office
from crm.roles import MANAGER, STAFF, role_assign
from crm.services import contact_create, enterprise_create, enterprise_delete, enterprise_update
from recruitment.merge import MergeRefused, enterprise_merge
from tests.crm.test_admin_support import ENTERPRISE_INLINES, admin_url, inlines
from tests.factories import OfficeFactory, UserFactory, valid_credit_code

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ROLES = ["park_staff", "park_manager", "provincial"]
OWNERS = ["own", "other", "reference"]
MATRIX = [(role, owner) for role in ROLES for owner in OWNERS]
OLD_NAME = "山西原名新材料有限公司"
NEW_NAME = "山西改名新材料有限公司"


@pytest.fixture
def offices(db):  # type: ignore[no-untyped-def]
    return {
        "park": OfficeFactory(code="yangqu-office", kind=Office.Kind.PARK, name="阳曲园区招商局"),
        "partner": OfficeFactory(code="shenzhen-liaison", kind=Office.Kind.PARTNER, name="驻深圳招商办事处"),
        "provincial": OfficeFactory(code="province", kind=Office.Kind.PROVINCIAL, name="省商务厅"),
    }


def actor_for(role: str, offices) -> object:  # type: ignore[no-untyped-def]
    office = offices["provincial"] if role == "provincial" else offices["park"]
    user = UserFactory(office=office)
    role_assign(user=user, role=MANAGER if role == "park_manager" else STAFF)
    return user


def owner_office(owner: str, actor) -> Office | None:  # type: ignore[no-untyped-def]
    """The actor's own office, another office (a partner office, or the park's for the province), or none."""
    if owner == "own":
        return actor.office
    if owner == "other":
        return Office.objects.exclude(pk=actor.office_id).exclude(kind=Office.Kind.PROVINCIAL).first()
    return None


def may(role: str, owner: str) -> bool:
    return role == "provincial" or owner == "own"


def enterprise_of(owner: str, actor, *, n: int = 1, **fields) -> Enterprise:  # type: ignore[no-untyped-def]
    fields.setdefault("name", OLD_NAME)
    fields.setdefault("credit_code", valid_credit_code(500 + n))
    return enterprise_create(office=owner_office(owner, actor), external_id=f"E-{n}", **fields)


def unchanged(enterprise: Enterprise) -> bool:
    fresh = Enterprise.objects.get(pk=enterprise.pk)
    return (fresh.name, fresh.city, fresh.version, fresh.merged_into_id) == (
        enterprise.name,
        enterprise.city,
        enterprise.version,
        None,
    )


def signed_in(client: Client, user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_the_rule_itself(offices):  # type: ignore[no-untyped-def]
    park, partner, province = offices["park"], offices["partner"], offices["provincial"]
    own, others, reference = Enterprise(office=park), Enterprise(office=partner), Enterprise(office=None)
    assert enterprise_may_change(office=park, enterprise=own)
    assert not enterprise_may_change(office=park, enterprise=others)
    assert not enterprise_may_change(office=park, enterprise=reference)
    assert all(enterprise_may_change(office=province, enterprise=e) for e in (own, others, reference))
    assert enterprise_may_change(office=None, enterprise=reference, is_superuser=True)
    assert not enterprise_may_change(office=None, enterprise=reference)


# --- The services: every caller reaches the rule ------------------------------------------


@pytest.mark.parametrize(("role", "owner"), MATRIX)
def test_services_refuse_an_update_or_delete_the_actor_may_not_make(offices, role, owner):  # type: ignore[no-untyped-def]
    actor = actor_for(role, offices)
    enterprise = enterprise_of(owner, actor)
    if may(role, owner):
        enterprise_update(enterprise=enterprise, actor=actor, city="阳曲")
        assert Enterprise.objects.get(pk=enterprise.pk).city == "阳曲"
        enterprise_delete(enterprise=enterprise, actor=actor)
        assert not Enterprise.objects.filter(pk=enterprise.pk).exists()
    else:
        with pytest.raises(EnterpriseChangeRefused):
            enterprise_update(enterprise=Enterprise.objects.get(pk=enterprise.pk), actor=actor, city="阳曲")
        with pytest.raises(EnterpriseChangeRefused):
            enterprise_delete(enterprise=enterprise, actor=actor)
        assert unchanged(enterprise)


# --- Admin: the change form and the change list's action ------------------------------------


def change_form_post(enterprise: Enterprise, **fields: str) -> dict[str, str]:
    data = {
        "name": enterprise.name,
        "name_en": "",
        "credit_code": enterprise.credit_code or "",
        "ownership": enterprise.ownership,
        "province": "",
        "city": "",
        "registered_capital": "",
        "website": "",
        "source": "",
        "_loaded_version": str(enterprise.version),
        **inlines(*ENTERPRISE_INLINES),
    }
    data.update(fields)
    return data


@pytest.mark.parametrize(("role", "owner"), MATRIX)
def test_admin_change_form(client, offices, role, owner):  # type: ignore[no-untyped-def]
    actor = actor_for(role, offices)
    enterprise = enterprise_of(owner, actor)
    signed_in(client, actor)
    url = admin_url(Enterprise, "change", enterprise.pk)
    page = client.get(url).content.decode()
    # Another office's enterprise opens read only, and says why.
    assert ('name="name"' in page) is may(role, owner)
    assert ('id="enterprise-read-only"' in page) is not may(role, owner)

    response = client.post(url, change_form_post(enterprise, name=NEW_NAME, website="https://example.org"))
    assert response.status_code == 302
    fresh = Enterprise.objects.get(pk=enterprise.pk)
    if may(role, owner):
        assert (fresh.name, fresh.website, fresh.version) == (NEW_NAME, "https://example.org", 2)
        assert fresh.history.first().history_user == actor
    else:
        assert unchanged(enterprise) and fresh.website == ""
        assert fresh.history.count() == 1


def test_the_user_still_keeps_their_contacts_on_another_offices_enterprise(client, offices):  # type: ignore[no-untyped-def]
    actor = actor_for("park_staff", offices)
    enterprise = enterprise_of("reference", actor)
    signed_in(client, actor)
    data = change_form_post(enterprise, name=NEW_NAME)
    data.update(
        {
            "contacts-TOTAL_FORMS": "1",
            "contacts-0-name": "王经理",
            "contacts-0-title": "",
            "contacts-0-phone": "",
            "contacts-0-email": "",
            "contacts-0-wechat": "",
        }
    )
    response = client.post(admin_url(Enterprise, "change", enterprise.pk), data)
    assert response.status_code == 302
    assert unchanged(enterprise)
    assert list(enterprise.contacts.values_list("name", "office")) == [("王经理", actor.office_id)]


@pytest.mark.parametrize(("role", "owner"), MATRIX)
def test_admin_delete_action(client, offices, role, owner):  # type: ignore[no-untyped-def]
    """The change list's bulk action. Deleting from the directory in the admin is for staff
    who see everything (it lists every office's records at the enterprise); they pass the rule."""
    actor = actor_for(role, offices)
    enterprise = enterprise_of(owner, actor)
    signed_in(client, actor)
    response = client.post(
        admin_url(Enterprise, "changelist"),
        {"action": "delete_selected", "_selected_action": [str(enterprise.pk)], "post": "yes"},
    )
    assert response.status_code in (200, 302, 403)
    assert Enterprise.objects.filter(pk=enterprise.pk).exists() is (role != "provincial")


def test_a_refused_admin_delete_is_rolled_back_as_a_whole(client, offices, monkeypatch):  # type: ignore[no-untyped-def]
    """The action reaches the service rule: when it refuses one row, none is deleted."""
    from crm import admin as crm_admin

    actor = actor_for("provincial", offices)
    mine = enterprise_of("own", actor, n=1)
    reference = enterprise_of("reference", actor, n=2)
    # The admin's own gate lets the row through; the service still decides.
    monkeypatch.setattr(crm_admin, "user_may_change_enterprise", lambda user, obj: True)
    monkeypatch.setattr("crm.access.office_sees_everything", lambda office, is_superuser=False: False)
    signed_in(client, actor)
    response = client.post(
        admin_url(Enterprise, "changelist"),
        {"action": "delete_selected", "_selected_action": [str(mine.pk), str(reference.pk)], "post": "yes"},
        follow=True,
    )
    assert Enterprise.objects.filter(pk__in=[mine.pk, reference.pk]).count() == 2
    assert "Only the office that created this enterprise" in response.content.decode()


# --- Import: the import page and the import_records command -----------------------------------


def csv_bytes(rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def import_rows(enterprise: Enterprise, key: str) -> list[list[object]]:
    """A row that renames ``enterprise`` (found by ``key``) and a new enterprise after it."""
    header = {"id": "系统编号", "credit_code": "统一社会信用代码", "name": "企业名称"}[key]
    value = {"id": enterprise.pk, "credit_code": enterprise.credit_code}[key]
    return [[header, "企业名称", "城市"], [value, NEW_NAME, "忻州"], ["", "山西全新企业有限公司", "太原"]]


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return body.decode()


@pytest.fixture
def _staging(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.IMPORT_STAGING_DIR = tmp_path / "imports"


@pytest.mark.usefixtures("_staging")
@pytest.mark.parametrize("key", ["id", "credit_code"])
@pytest.mark.parametrize(("role", "owner"), MATRIX)
def test_import_page(client, offices, role, owner, key):  # type: ignore[no-untyped-def]
    actor = actor_for(role, offices)
    enterprise = enterprise_of(owner, actor)
    signed_in(client, actor)
    upload = io.BytesIO(csv_bytes(import_rows(enterprise, key)))
    upload.name = "directory.csv"
    response = client.post(reverse("tools:import"), {"kind": "enterprises", "file": upload})
    assert response.status_code == 302
    preview = page_text(client.get(response["Location"]))
    html = page_text(client.post(response["Location"]))
    if may(role, owner):
        assert 'id="import-counts"' in html
        assert Enterprise.objects.get(pk=enterprise.pk).name == NEW_NAME
        assert Enterprise.objects.filter(name="山西全新企业有限公司").exists()
    else:
        errors = preview.split('id="import-errors"')[1].split("</table>")[0]
        assert '<td class="cr-num">2</td>' in errors and "may be changed only by the office that created it" in errors
        assert 'id="import-confirm"' not in preview
        assert 'class="errornote"' in html
        assert unchanged(enterprise)
        assert not Enterprise.objects.filter(name="山西全新企业有限公司").exists()


def test_an_import_row_that_matches_but_changes_nothing_is_not_refused(offices):  # type: ignore[no-untyped-def]
    from crm.enterprise_imports import EnterpriseImporter
    from crm.imports import import_commit

    actor = actor_for("park_staff", offices)
    enterprise = enterprise_of("reference", actor)
    rows = [["统一社会信用代码", "企业名称"], [enterprise.credit_code, enterprise.name], ["", "新企业"]]
    plan = import_commit(importer=EnterpriseImporter(), data=csv_bytes(rows), filename="a.csv", user=actor)
    assert plan.committed, plan.errors
    assert (plan.unchanged, plan.created) == (1, 1)
    assert unchanged(enterprise)


@pytest.mark.parametrize(("role", "owner"), MATRIX)
def test_import_records_command(offices, tmp_path, role, owner):  # type: ignore[no-untyped-def]
    actor = actor_for(role, offices)
    enterprise = enterprise_of(owner, actor)
    path = tmp_path / "directory.csv"
    path.write_bytes(csv_bytes(import_rows(enterprise, "credit_code")))
    err = io.StringIO()
    if may(role, owner):
        call_command("import_records", "enterprises", str(path), "--user", actor.username, stdout=io.StringIO())
        assert Enterprise.objects.get(pk=enterprise.pk).name == NEW_NAME
    else:
        with pytest.raises(SystemExit) as exit_:
            call_command(
                "import_records", "enterprises", str(path), "--user", actor.username, stdout=io.StringIO(), stderr=err
            )
        assert exit_.value.code == 1
        assert "row 2, 统一社会信用代码: " in err.getvalue() and "Nothing was imported" in err.getvalue()
        assert unchanged(enterprise)
        assert not Enterprise.objects.filter(name="山西全新企业有限公司").exists()


# --- Merge: the page, and across offices ------------------------------------------------------


@pytest.mark.parametrize(("role", "owner"), MATRIX)
def test_merge_page(client, offices, role, owner):  # type: ignore[no-untyped-def]
    actor = actor_for(role, offices)
    keep = enterprise_of(owner, actor, n=1, name="太钢集团", credit_code=None)
    drop = enterprise_of(owner, actor, n=2, name="太钢集团有限公司", credit_code=None, website="http://tisco.com.cn")
    contact = contact_create(office=offices["partner"], enterprise=drop, name="李娜")
    signed_in(client, actor)
    response = client.post(reverse("tools:merge"), {"survivor": keep.pk, "duplicate": drop.pk})
    drop.refresh_from_db()
    contact.refresh_from_db()
    if role == "park_staff":
        assert response.status_code == 403  # merging is for managers and the provincial office
    elif may(role, owner):
        assert response.status_code == 302
        assert drop.merged_into_id == keep.pk and contact.enterprise_id == keep.pk
        return
    else:
        assert response.status_code == 200
        assert 'id="merge-problem"' in response.content.decode()
        assert (
            'id="merge-form"'
            not in client.get(reverse("tools:merge"), {"survivor": keep.pk, "duplicate": drop.pk}).content.decode()
        )
    assert drop.merged_into_id is None and contact.enterprise_id == drop.pk
    assert unchanged(keep)


@pytest.mark.parametrize("role", ["park_manager", "provincial"])
def test_merging_across_offices_is_for_the_provincial_office(offices, role):  # type: ignore[no-untyped-def]
    actor = actor_for(role, offices)
    keep = enterprise_of("own", actor, n=1, name="太钢集团", credit_code=None)
    drop = enterprise_create(office=offices["partner"], name="太钢集团有限公司")
    if role == "provincial":
        enterprise_merge(survivor=keep, duplicate=drop, actor=actor)
        assert Enterprise.objects.get(pk=drop.pk).merged_into_id == keep.pk
    else:
        with pytest.raises(MergeRefused, match="太钢集团有限公司"):
            enterprise_merge(survivor=keep, duplicate=drop, actor=actor)
        assert Enterprise.objects.get(pk=drop.pk).merged_into_id is None


# --- The API --------------------------------------------------------------------------------


def api_call(office: Office, method: str, path: str, body: object = None):  # type: ignore[no-untyped-def]
    key = api_key_create(office=office, label="tests").raw
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    return Client().generic(
        method, f"/api/v1/{path}", HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_ACCEPT_LANGUAGE="en", **kwargs
    )


API_CALLS = {
    "PUT": lambda e: ("PUT", f"enterprises/{e.pk}/", {"name": NEW_NAME, "credit_code": e.credit_code}),
    "PATCH": lambda e: ("PATCH", f"enterprises/{e.pk}/", {"name": NEW_NAME}),
    "DELETE": lambda e: ("DELETE", f"enterprises/{e.pk}/", None),
    # Bulk upserts by the caller's own external ids: it reaches only enterprises its office
    # created; naming another's credit code is a clash, not a change.
    "bulk": lambda e: (
        "POST",
        "enterprises/bulk/",
        {"items": [{"external_id": e.external_id, "name": NEW_NAME, "credit_code": e.credit_code}]},
    ),
}


@pytest.mark.parametrize("call", sorted(API_CALLS))
@pytest.mark.parametrize(("role", "owner"), [(r, o) for r in ("park_staff", "provincial") for o in OWNERS])
def test_api(offices, role, owner, call):  # type: ignore[no-untyped-def]
    """An office's key; staff and manager are one role there (the key belongs to the office)."""
    office = offices["provincial"] if role == "provincial" else offices["park"]
    actor = UserFactory(office=office)
    enterprise = enterprise_of(owner, actor)
    method, path, body = API_CALLS[call](enterprise)
    response = api_call(office, method, path, body)
    allowed = owner == "own" if call == "bulk" else may(role, owner)
    if allowed:
        assert response.status_code in (200, 204), response.content
        gone = not Enterprise.objects.filter(pk=enterprise.pk).exists()
        assert gone if call == "DELETE" else Enterprise.objects.get(pk=enterprise.pk).name == NEW_NAME
        return
    assert unchanged(enterprise)
    errors = response.json()["errors"]
    if call == "bulk":
        assert response.status_code == 400 and errors[0]["code"] == "duplicate"
    else:
        assert response.status_code == 403
        assert errors[0]["code"] == "permission_denied"
        assert errors[0]["detail"].startswith("Only the office that created this enterprise")


@pytest.mark.parametrize("owner", ["other", "reference"])
def test_api_upsert_by_external_id_never_reaches_another_offices_enterprise(offices, owner):  # type: ignore[no-untyped-def]
    actor = UserFactory(office=offices["park"])
    enterprise = enterprise_of(owner, actor)
    response = api_call(offices["park"], "PUT", f"enterprises/external/{enterprise.external_id}/", {"name": NEW_NAME})
    assert response.status_code == 201  # a new enterprise of the park's own, not the other one changed
    assert unchanged(enterprise)


@pytest.mark.parametrize(("role", "owner"), MATRIX)
def test_set_based_upsert_asks_the_rule_too(offices, role, owner):  # type: ignore[no-untyped-def]
    """``crm.bulk.enterprises_upsert`` matches one office's enterprises by external id; whoever
    the actor, it writes only what the actor may change."""
    from crm.bulk import BulkItemErrors, enterprises_upsert

    actor = actor_for(role, offices)
    enterprise = enterprise_of(owner, actor)
    items = [{"external_id": enterprise.external_id, "name": NEW_NAME}]
    if may(role, owner):
        enterprises_upsert(office=enterprise.office, actor=actor, items=items)
        assert Enterprise.objects.get(pk=enterprise.pk).name == NEW_NAME
    else:
        with pytest.raises(BulkItemErrors) as refused:
            enterprises_upsert(office=enterprise.office, actor=actor, items=items)
        assert isinstance(refused.value.errors[0], EnterpriseChangeRefused)
        assert unchanged(enterprise)
