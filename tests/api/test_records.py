"""Record resources: create, read, update, delete, upsert by the partner's id, and their errors."""

from __future__ import annotations

import pytest

from crm.models import Contact, Enterprise, Interaction
from recruitment.models import FollowUp, Project, ProjectStatusChange
from tests.factories import EnterpriseFactory, UserFactory, valid_credit_code

pytestmark = pytest.mark.django_db


def _enterprise(api, **fields):  # type: ignore[no-untyped-def]
    r = api.post("enterprises/", {"name": "示例企业有限公司", **fields})
    assert r.status_code == 201, r.content
    return r.json()


def _project(api, enterprise_id, park, stages, **fields):  # type: ignore[no-untyped-def]
    body = {"title": "碳纤维项目", "enterprise": enterprise_id, "park": park.code, "stages": [s.code for s in stages]}
    r = api.post("projects/", {**body, **fields})
    assert r.status_code == 201, r.content
    return r.json()


def test_every_record_carries_id_external_id_version_times_and_office(api_a, stages):
    body = _enterprise(api_a, external_id="E-1", credit_code=valid_credit_code(1), stages=[stages[0].code])
    assert set(body) >= {"id", "external_id", "version", "created_at", "updated_at", "office"}
    assert body["external_id"] == "E-1" and body["version"] == 1 and body["office"] == "office-a"
    assert body["stages"] == ["acrylonitrile"]
    assert body["created_at"].endswith("Z")


def test_get_answers_the_etag_and_a_put_bumps_the_version(api_a):
    created = _enterprise(api_a)
    r = api_a.get(f"enterprises/{created['id']}/")
    assert r.headers["ETag"] == '"1"'
    r = api_a.put(f"enterprises/{created['id']}/", {"name": "新名称"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.content
    assert r.json()["version"] == 2 and r.headers["ETag"] == '"2"'


def test_if_match_mismatch_is_412_and_changes_nothing(api_a):
    created = _enterprise(api_a)
    r = api_a.put(f"enterprises/{created['id']}/", {"name": "新名称"}, headers={"If-Match": '"7"'})
    assert r.status_code == 412
    assert r.json()["errors"][0]["code"] == "precondition_failed"
    enterprise = Enterprise.objects.get(pk=created["id"])
    assert (enterprise.name, enterprise.version, enterprise.history.count()) == ("示例企业有限公司", 1, 1)
    r = api_a.delete(f"enterprises/{created['id']}/", headers={"If-Match": '"2"'})
    assert r.status_code == 412
    for malformed in ("garbage", "", 'W/"1"', '"1", "2"'):
        r = api_a.delete(f"enterprises/{created['id']}/", headers={"If-Match": malformed})
        assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "If-Match", malformed
    assert Enterprise.objects.filter(pk=created["id"]).exists()


def test_a_put_that_changes_nothing_keeps_the_version(api_a):
    created = _enterprise(api_a, city="太原")
    r = api_a.put(f"enterprises/{created['id']}/", {"name": created["name"], "city": "太原"})
    assert r.status_code == 200 and r.json()["version"] == 1
    assert Enterprise.objects.get(pk=created["id"]).history.count() == 1


def test_patch_changes_only_the_given_fields(api_a):
    created = _enterprise(api_a, city="太原", province="山西")
    r = api_a.patch(f"enterprises/{created['id']}/", {"city": "忻州"})
    assert r.status_code == 200
    assert (r.json()["city"], r.json()["province"], r.json()["version"]) == ("忻州", "山西", 2)


def test_upsert_by_external_id_creates_then_updates(api_a):
    r = api_a.put("enterprises/external/ERP-9/", {"name": "甲"})
    assert r.status_code == 201 and r.headers["Location"].endswith(f"/api/v1/enterprises/{r.json()['id']}/")
    first = r.json()
    r = api_a.put("enterprises/external/ERP-9/", {"name": "乙"})
    assert r.status_code == 200
    assert r.json()["id"] == first["id"] and r.json()["version"] == 2
    r = api_a.put("enterprises/external/ERP-9/", {"name": "乙"})
    assert r.status_code == 200 and r.json()["version"] == 2
    assert api_a.get("enterprises/external/ERP-9/").json()["name"] == "乙"
    r = api_a.put("enterprises/external/ERP-9/", {"name": "丙"}, headers={"If-Match": '"1"'})
    assert r.status_code == 412
    r = api_a.put("enterprises/external/NEW/", {"name": "丙"}, headers={"If-Match": '"1"'})
    assert r.status_code == 412 and not Enterprise.objects.filter(external_id="NEW").exists()


def test_external_ids_are_per_office(api_a, api_b):
    a = api_a.put("contacts/external/C-1/", {"enterprise": _enterprise(api_a)["id"], "name": "张三"}).json()
    b = api_b.put("contacts/external/C-1/", {"enterprise": a["enterprise"], "name": "李四"})
    assert b.status_code == 201 and b.json()["id"] != a["id"]
    assert api_a.get("contacts/external/C-1/").json()["name"] == "张三"


def test_duplicate_credit_code_is_409_naming_the_existing_enterprise(api_a, api_b):
    first = _enterprise(api_a, credit_code=valid_credit_code(5))
    r = api_b.post("enterprises/", {"name": "另一家", "credit_code": valid_credit_code(5).lower()})
    assert r.status_code == 409
    error = r.json()["errors"][0]
    assert (error["attr"], error["code"], error["existing_id"]) == ("credit_code", "duplicate", first["id"])
    assert first["id"] in error["detail"]
    assert Enterprise.objects.count() == 1


def test_duplicate_external_id_on_create_is_409(api_a):
    first = _enterprise(api_a, external_id="X")
    r = api_a.post("enterprises/", {"name": "乙", "external_id": "X"})
    assert r.status_code == 409 and r.json()["errors"][0]["existing_id"] == first["id"]


def test_bad_input_is_400_with_field_and_code_and_writes_nothing(api_a):
    r = api_a.post(
        "enterprises/",
        {"name": "", "credit_code": "91110000600037341X", "registered_capital": "-1", "stages": ["nope"]},
    )
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "validation_error"
    codes = {(e["attr"], e["code"]) for e in body["errors"]}
    assert ("name", "blank") in codes
    assert ("credit_code", "invalid_credit_code") in codes
    assert ("registered_capital", "min_value") in codes
    assert ("stages", "unknown_stage") in codes
    assert Enterprise.objects.count() == 0


def test_malformed_json_is_400_not_500(api_a):
    r = api_a.client.post(
        "/api/v1/enterprises/", data=b"{nope", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_a.key}"
    )
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "parse_error"


def test_only_the_creating_office_or_the_province_changes_an_enterprise(api_a, api_b, api_province):
    created = _enterprise(api_a)
    assert api_b.get(f"enterprises/{created['id']}/").status_code == 200  # a shared directory
    r = api_b.patch(f"enterprises/{created['id']}/", {"city": "忻州"})
    assert r.status_code == 403
    assert api_b.delete(f"enterprises/{created['id']}/").status_code == 403
    assert api_province.patch(f"enterprises/{created['id']}/", {"city": "忻州"}).status_code == 200
    reference = EnterpriseFactory(office=None)
    assert api_a.patch(f"enterprises/{reference.pk}/", {"city": "忻州"}).status_code == 403


def test_an_enterprise_other_offices_work_with_is_not_deleted_by_one_office(api_a, api_b, api_province):
    created = _enterprise(api_a)
    api_b.post("contacts/", {"enterprise": created["id"], "name": "王五"})
    r = api_a.delete(f"enterprises/{created['id']}/")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "protected"
    assert api_province.delete(f"enterprises/{created['id']}/").status_code == 204
    assert not Contact.objects.exists()


def test_contact_and_interaction_with_contacts(api_a):
    enterprise = _enterprise(api_a)
    contact = api_a.post("contacts/", {"enterprise": enterprise["id"], "name": "张三", "email": "z@example.org"}).json()
    r = api_a.post(
        "interactions/",
        {
            "enterprise": enterprise["id"],
            "kind": "visit",
            "occurred_at": "2026-03-01T10:00:00+08:00",
            "summary": "实地考察",
            "contacts": [contact["id"]],
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["contacts"] == [contact["id"]] and body["occurred_at"] == "2026-03-01T02:00:00.000000Z"
    assert body["project"] is None


def test_deleting_a_contact_takes_it_off_its_interactions_with_a_new_version(api_a):
    enterprise = _enterprise(api_a)
    contact = api_a.post("contacts/", {"enterprise": enterprise["id"], "name": "张三"}).json()
    interaction = api_a.post(
        "interactions/",
        {
            "enterprise": enterprise["id"],
            "kind": "call",
            "occurred_at": "2026-03-01T10:00:00Z",
            "summary": "电话",
            "contacts": [contact["id"]],
        },
    ).json()
    assert api_a.delete(f"contacts/{contact['id']}/").status_code == 204
    after = api_a.get(f"interactions/{interaction['id']}/").json()
    assert after["contacts"] == [] and after["version"] == interaction["version"] + 1


def test_project_status_moves_through_the_pipeline(api_a, park, stages):
    enterprise = _enterprise(api_a)
    project = _project(api_a, enterprise["id"], park, stages)
    assert project["status"] == "lead" and project["chain_role"] == "fill"
    assert project["enterprise_name"] == "示例企业有限公司" and project["park_name"] == "阳曲产业园区"
    r = api_a.post(f"projects/{project['id']}/transition/", {"to": "screening", "note": "初步研判"})
    assert r.status_code == 200 and r.json()["status"] == "screening"
    r = api_a.post(f"projects/{project['id']}/transition/", {"to": "production"})
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert (error["attr"], error["code"]) == ("to", "illegal_transition")
    assert "negotiating" in error["detail"]
    r = api_a.patch(f"projects/{project['id']}/", {"status": "signed"})
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "status"
    r = api_a.patch(f"projects/{project['id']}/", {"status": "negotiating", "priority": "high"})
    assert r.status_code == 200 and (r.json()["status"], r.json()["priority"]) == ("negotiating", "high")
    moves = list(ProjectStatusChange.objects.filter(project_id=project["id"]).values_list("from_status", "to_status"))
    assert moves == [("", "lead"), ("lead", "screening"), ("screening", "negotiating")]
    r = api_a.post(f"projects/{project['id']}/transition/", {"to": "lost"})
    assert r.status_code == 400  # a reason is required
    r = api_a.post(f"projects/{project['id']}/transition/", {"to": "lost", "note": "选择外省"})
    assert r.json()["lost_reason"] == "选择外省"


def test_a_project_created_further_along_walks_the_milestones(api_a, park, stages):
    project = _project(api_a, _enterprise(api_a)["id"], park, stages, status="signed")
    assert project["status"] == "signed"
    assert ProjectStatusChange.objects.filter(project_id=project["id"]).count() == 4


def test_deleting_a_project_unlinks_its_interactions_through_the_feed(api_a, park, stages):
    enterprise = _enterprise(api_a)
    project = _project(api_a, enterprise["id"], park, stages)
    interaction = api_a.post(
        "interactions/",
        {
            "enterprise": enterprise["id"],
            "project": project["id"],
            "kind": "call",
            "occurred_at": "2026-03-01T10:00:00Z",
            "summary": "电话",
        },
    ).json()
    assert api_a.delete(f"projects/{project['id']}/").status_code == 204
    after = api_a.get(f"interactions/{interaction['id']}/").json()
    assert after["project"] is None and after["version"] == 2
    assert not Project.objects.exists()


def test_follow_up_assignee_and_status(api_a, office_a, park, stages):
    UserFactory(username="wang", office=office_a)
    UserFactory(username="stranger")
    project = _project(api_a, _enterprise(api_a)["id"], park, stages)
    r = api_a.post("follow-ups/", {"project": project["id"], "due_at": "2026-04-01T09:00:00Z", "assignee": "stranger"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "does_not_exist"
    r = api_a.post("follow-ups/", {"project": project["id"], "due_at": "2026-04-01T09:00:00Z", "assignee": "wang"})
    follow_up = r.json()
    assert (follow_up["assignee"], follow_up["status"], follow_up["completed_at"]) == ("wang", "open", None)
    r = api_a.patch(f"follow-ups/{follow_up['id']}/", {"status": "done", "note": "已回复"})
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "done" and r.json()["completed_at"] and r.json()["note"] == "已回复"
    r = api_a.patch(f"follow-ups/{follow_up['id']}/", {"status": "open"})
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "status"
    assert FollowUp.objects.get(pk=follow_up["id"]).status == "done"


def test_lists_filter_by_updated_since_and_search(api_a):
    _enterprise(api_a, name="太原钢铁集团有限公司")
    _enterprise(api_a, name="忻州碳材料有限公司", credit_code=valid_credit_code(3))
    names = lambda r: sorted(e["name"] for e in r.json()["results"])  # noqa: E731
    assert names(api_a.get("enterprises/", search="taiyuan")) == ["太原钢铁集团有限公司"]
    assert names(api_a.get("enterprises/", search="tygt")) == ["太原钢铁集团有限公司"]
    assert names(api_a.get("enterprises/", search="碳材料")) == ["忻州碳材料有限公司"]
    assert names(api_a.get("enterprises/", search=valid_credit_code(3))) == ["忻州碳材料有限公司"]
    assert api_a.get("enterprises/", updated_since="2999-01-01T00:00:00Z").json()["results"] == []
    r = api_a.get("enterprises/", updated_since="yesterday")
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "updated_since"


def test_lists_page_by_cursor(api_a):
    for n in range(5):
        _enterprise(api_a, name=f"企业{n}")
    seen = []
    r = api_a.get("enterprises/", limit=2)
    while True:
        body = r.json()
        assert len(body["results"]) <= 2
        seen += [e["id"] for e in body["results"]]
        if not body["next"]:
            break
        r = api_a.get(body["next"].removeprefix("http://testserver"))
    assert len(seen) == 5 == len(set(seen))
    assert api_a.get("enterprises/", limit=501).status_code == 400
    assert api_a.get("enterprises/", cursor="!!").status_code == 400


def test_interaction_with_another_offices_project_is_refused_as_not_found(api_a, api_b, park, stages):
    enterprise = _enterprise(api_a)
    project = _project(api_a, enterprise["id"], park, stages)
    r = api_b.post(
        "interactions/",
        {
            "enterprise": enterprise["id"],
            "project": project["id"],
            "kind": "call",
            "occurred_at": "2026-03-01T10:00:00Z",
            "summary": "电话",
        },
    )
    assert r.status_code == 400
    assert (r.json()["errors"][0]["attr"], r.json()["errors"][0]["code"]) == ("project", "does_not_exist")
    assert not Interaction.objects.exists()


def test_values_of_another_json_type_are_refused_not_coerced(api_a):
    r = api_a.post("enterprises/", {"name": 123, "registered_capital": 1000, "credit_code": 0})
    assert r.status_code == 400
    codes = {(e["attr"], e["code"]) for e in r.json()["errors"]}
    assert {("name", "invalid_type"), ("registered_capital", "invalid_type"), ("credit_code", "invalid_type")} <= codes
    r = api_a.post("enterprises/", {"name": "甲", "registered_capital": "1250000.50"})
    assert r.status_code == 201 and r.json()["registered_capital"] == "1250000.50"
    assert api_a.post("enterprises/", {"name": "乙", "registered_capital": ""}).json()["registered_capital"] is None
