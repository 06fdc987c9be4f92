"""The landing contract of the API: a project's plan and light, progress/ (append-only) and
supervision-orders/ (create where allowed, transitions), scoped to the office on every path."""

from __future__ import annotations

import datetime as dt

import pytest

from recruitment.models import SupervisionOrder
from tests.api.conftest import api_for
from tests.factories import OfficeFactory

pytestmark = pytest.mark.django_db

PLAN = {
    "registered": "2026-01-20",
    "construction": "2026-03-15",
    "investment": [{"month": "2026-01", "cumulative": "1000.00"}, {"month": "2026-02", "cumulative": "3000.00"}],
}


@pytest.fixture
def enterprise(api_b):  # type: ignore[no-untyped-def]
    return api_b.post("enterprises/", {"name": "落地企业"}).json()


@pytest.fixture
def project(api_b, enterprise, park, stages, time_machine):  # type: ignore[no-untyped-def]
    time_machine.move_to("2026-01-10T09:00:00+08:00", tick=False)
    r = api_b.post(
        "projects/",
        {
            "title": "碳纤维项目",
            "enterprise": enterprise["id"],
            "park": park.code,
            "stages": [stages[0].code],
            "status": "signed",
            "plan": PLAN,
        },
    )
    assert r.status_code == 201, r.content
    return r.json()


def test_a_project_carries_its_plan_and_light(api_b, project) -> None:  # type: ignore[no-untyped-def]
    assert project["plan"] == {
        "registered": "2026-01-20",
        "construction": "2026-03-15",
        "production": None,
        "at_capacity": None,
        "investment": [{"month": "2026-01", "cumulative": "1000.00"}, {"month": "2026-02", "cumulative": "3000.00"}],
    }
    assert project["light"] == {"color": "green", "since": "2026-01-10", "reasons": []}


def test_the_plan_is_written_with_put_and_patch(api_b, project) -> None:  # type: ignore[no-untyped-def]
    r = api_b.patch(f"projects/{project['id']}/", {"plan": {"production": "2026-09-01"}})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["plan"]["construction"] == "2026-03-15" and body["plan"]["production"] == "2026-09-01"
    version = project["version"] + 1
    assert body["version"] == version
    assert r["ETag"] == f'"{version}"'
    # The same PATCH again changes nothing.
    again = api_b.patch(f"projects/{project['id']}/", {"plan": {"production": "2026-09-01"}})
    assert again.json()["version"] == version
    bad = api_b.patch(f"projects/{project['id']}/", {"plan": {"investment": [{"month": "2026-13", "cumulative": "1"}]}})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["attr"] == "plan.investment.0.month"
    down = api_b.patch(
        f"projects/{project['id']}/",
        {"plan": {"investment": [{"month": "2026-01", "cumulative": "5"}, {"month": "2026-02", "cumulative": "1"}]}},
    )
    assert down.status_code == 400
    assert down.json()["errors"][0]["code"] == "not_cumulative"


def test_the_plan_travels_with_upsert_and_bulk(api_b, enterprise, park, stages) -> None:  # type: ignore[no-untyped-def]
    item = {
        "title": "批量项目",
        "enterprise": enterprise["id"],
        "park": park.code,
        "stages": [stages[0].code],
        "status": "signed",
        "plan": {"construction": "2027-05-01"},
    }
    r = api_b.put("projects/external/P-1/", item)
    assert r.status_code == 201, r.content
    assert r.json()["plan"]["construction"] == "2027-05-01"
    r = api_b.post("projects/bulk/", {"items": [{**item, "external_id": "P-2", "plan": {"production": "2027-06-01"}}]})
    assert r.status_code == 200, r.content
    listed = api_b.get("projects/", external_id="P-2").json()["results"]
    assert listed[0]["plan"]["production"] == "2027-06-01"


def test_a_lead_has_no_light_and_no_plan(api_b, enterprise, park, stages) -> None:  # type: ignore[no-untyped-def]
    base = {"title": "线索", "enterprise": enterprise["id"], "park": park.code, "stages": [stages[0].code]}
    lead = api_b.post("projects/", base).json()
    assert lead["light"] is None
    assert lead["plan"]["investment"] == []
    refused = api_b.post("projects/", {**base, "plan": {"construction": "2026-03-01"}})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["attr"] == "plan" and refused.json()["errors"][0]["code"] == "not_signed"


def test_light_filter(api_b, project, time_machine) -> None:  # type: ignore[no-untyped-def]
    from recruitment.lights_service import lights_recompute

    time_machine.move_to("2026-03-03T09:00:00+08:00", tick=False)
    lights_recompute()
    red = api_b.get("projects/", light="red").json()["results"]
    assert [p["id"] for p in red] == [project["id"]]
    assert {r["rule"] for r in red[0]["light"]["reasons"]} >= {"investment-behind", "milestone-overdue"}
    assert api_b.get("projects/", light="green").json()["results"] == []
    assert api_b.get("projects/", light="blue").status_code == 400


def test_progress_is_created_read_and_never_changed(api_b, project, time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to("2026-02-03T09:00:00+08:00", tick=False)
    body = {"project": project["id"], "month": "2026-01", "kind": "investment", "amount": "800.00"}
    r = api_b.post("progress/", body, headers={"Idempotency-Key": "k-1"})
    assert r.status_code == 201, r.content
    entry = r.json()
    assert entry["month"] == "2026-01" and entry["amount"] == "800.00" and entry["corrects"] is None
    assert r["ETag"] == '"1"'
    replay = api_b.post("progress/", body, headers={"Idempotency-Key": "k-1"})
    assert replay.json()["id"] == entry["id"]
    assert api_b.get(f"progress/{entry['id']}/").json() == entry
    for method in ("put", "patch"):
        assert getattr(api_b, method)(f"progress/{entry['id']}/", {"amount": "1.00"}).status_code == 405
    refused = api_b.delete(f"progress/{entry['id']}/")
    assert refused.status_code == 405
    # ``Allow`` names what the entry answers to, as the schema does: reads only.
    assert refused["Allow"] == "GET, HEAD, OPTIONS"
    missing_reason = api_b.post("progress/", {**body, "amount": "900.00", "corrects": entry["id"]})
    assert missing_reason.status_code == 400
    assert missing_reason.json()["errors"][0]["attr"] == "reason"
    fix = api_b.post("progress/", {**body, "amount": "900.00", "corrects": entry["id"], "reason": "核对发票"})
    assert fix.status_code == 201, fix.content
    assert fix.json()["corrects"] == entry["id"]
    assert api_b.get(f"progress/{entry['id']}/").json()["amount"] == "800.00"
    assert len(api_b.get("progress/", project=project["id"]).json()["results"]) == 2
    milestone = api_b.post(
        "progress/",
        {
            "project": project["id"],
            "month": "2026-01",
            "kind": "milestone",
            "milestone": "registered",
            "date": "2026-01-18",
        },
    )
    assert milestone.status_code == 201, milestone.content


def test_another_offices_progress_and_orders_are_not_found(api_a, api_b, project, time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to("2026-02-03T09:00:00+08:00", tick=False)
    entry = api_b.post(
        "progress/", {"project": project["id"], "month": "2026-01", "kind": "funds", "amount": "10.00"}
    ).json()
    assert api_a.get(f"progress/{entry['id']}/").status_code == 404
    assert api_a.get("progress/").json()["results"] == []
    r = api_a.post("progress/", {"project": project["id"], "month": "2026-01", "kind": "funds", "amount": "1"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "does_not_exist"
    # Recording the entry recomputed the light: 100 points behind plan is red, and an order opened.
    (order,) = api_b.get("supervision-orders/", project=project["id"]).json()["results"]
    assert order["auto"] is True and order["issued_by"] is None
    assert api_a.get(f"supervision-orders/{order['id']}/").status_code == 404
    assert api_a.get("supervision-orders/").json()["results"] == []
    assert api_a.post(f"supervision-orders/{order['id']}/transition/", {"to": "closed", "note": "x"}).status_code == 404
    # The feed carries both under the project's office: another office's reader never gets them.
    from crm.models import ChangeEntry

    office_b = project["office"]
    rows = ChangeEntry.objects.filter(object_id__in=[entry["id"], order["id"]]).values_list("type", "office__code")
    assert sorted(rows) == [("progress", office_b), ("supervision_order", office_b)]


def test_supervision_orders_by_the_office_and_the_province(api_b, province, project, time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to("2026-02-03T09:00:00+08:00", tick=False)
    api_province = api_for(province)
    body = {
        "project": project["id"],
        "required": "说明开工滞后原因",
        "plan_due": "2026-02-10",
        "resolve_due": "2026-03-10",
    }
    r = api_province.post("supervision-orders/", body)
    assert r.status_code == 201, r.content
    order = r.json()
    assert order["status"] == "open" and order["auto"] is False and order["issued_by"].startswith("api-")
    assert set(order) >= {
        "project",
        "issued_by",
        "responsible",
        "leader",
        "required",
        "plan_due",
        "resolve_due",
        "status",
        "auto",
    }
    # One open order per project.
    again = api_b.post("supervision-orders/", body)
    assert again.status_code == 400 and again.json()["errors"][0]["code"] == "open_order"
    # The park office sees it and submits a plan; only the issuer closes it.
    assert api_b.get(f"supervision-orders/{order['id']}/").status_code == 200
    illegal = api_b.post(f"supervision-orders/{order['id']}/transition/", {"to": "resolved"})
    assert illegal.status_code == 400 and illegal.json()["errors"][0]["code"] == "illegal_transition"
    no_plan = api_b.post(f"supervision-orders/{order['id']}/transition/", {"to": "plan_submitted"})
    assert no_plan.status_code == 400 and no_plan.json()["errors"][0]["attr"] == "plan"
    submitted = api_b.post(
        f"supervision-orders/{order['id']}/transition/", {"to": "plan_submitted", "plan": "三月底前完成土地摘牌"}
    )
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["status"] == "plan_submitted" and submitted["ETag"] == '"2"'
    stale = api_b.post(f"supervision-orders/{order['id']}/transition/", {"to": "resolved"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    closed_by_park = api_b.post(f"supervision-orders/{order['id']}/transition/", {"to": "closed", "note": "x"})
    assert closed_by_park.status_code == 403
    no_note = api_province.post(f"supervision-orders/{order['id']}/transition/", {"to": "closed"})
    assert no_note.status_code == 400 and no_note.json()["errors"][0]["attr"] == "note"
    closed = api_province.post(f"supervision-orders/{order['id']}/transition/", {"to": "closed", "note": "已协调解决"})
    assert closed.json()["status"] == "closed"
    moves = SupervisionOrder.objects.get(pk=order["id"]).moves.values_list("from_status", "to_status")
    assert list(moves) == [("", "open"), ("open", "plan_submitted"), ("plan_submitted", "closed")]
    refused = api_b.delete(f"supervision-orders/{order['id']}/")
    assert refused.status_code == 405 and "DELETE" not in refused["Allow"] and "PATCH" in refused["Allow"]


def test_a_park_office_issues_orders_only_on_its_own_projects(project, park, time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to("2026-02-03T09:00:00+08:00", tick=False)
    other = api_for(OfficeFactory(code="other-park", kind="park"))
    r = other.post(
        "supervision-orders/",
        {"project": project["id"], "required": "x", "plan_due": "2026-02-10", "resolve_due": "2026-03-10"},
    )
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "does_not_exist"
    assert dt.date(2026, 2, 10) < dt.date(2026, 3, 10)
