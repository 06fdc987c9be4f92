"""Authorization matrix: another office's records are "not found" on every path.

Office B's key, on office A's contacts, interactions, projects and follow-ups:
404 on every method of every record URL, never in B's lists or B's change feed,
and not usable as a reference in B's writes. A keeps its data unchanged.
"""

from __future__ import annotations

import pytest

from crm.models import Contact, Interaction
from recruitment.models import FollowUp, Project
from tests.api.conftest import wait_for_feed_horizon

pytestmark = pytest.mark.django_db(transaction=True)

RESOURCES = {
    "contacts": Contact,
    "interactions": Interaction,
    "projects": Project,
    "follow-ups": FollowUp,
}


@pytest.fixture
def records_of_a(api_a, park, stages):  # type: ignore[no-untyped-def]
    enterprise = api_a.post("enterprises/", {"name": "甲企业"}).json()
    contact = api_a.post("contacts/", {"enterprise": enterprise["id"], "name": "张三", "external_id": "A-C"}).json()
    project = api_a.post(
        "projects/",
        {
            "title": "甲项目",
            "enterprise": enterprise["id"],
            "park": park.code,
            "stages": [stages[0].code],
            "external_id": "A-P",
        },
    ).json()
    interaction = api_a.post(
        "interactions/",
        {
            "enterprise": enterprise["id"],
            "project": project["id"],
            "kind": "call",
            "summary": "电话",
            "occurred_at": "2026-03-01T10:00:00Z",
            "contacts": [contact["id"]],
            "external_id": "A-I",
        },
    ).json()
    follow_up = api_a.post(
        "follow-ups/", {"project": project["id"], "due_at": "2026-04-01T09:00:00Z", "external_id": "A-F"}
    ).json()
    return {
        "enterprise": enterprise,
        "contacts": contact,
        "projects": project,
        "interactions": interaction,
        "follow-ups": follow_up,
    }


def _bodies(records, stages, park):  # type: ignore[no-untyped-def]
    enterprise = records["enterprise"]["id"]
    return {
        "contacts": {"enterprise": enterprise, "name": "改名"},
        "interactions": {
            "enterprise": enterprise,
            "kind": "visit",
            "summary": "改",
            "occurred_at": "2026-03-02T10:00:00Z",
        },
        "projects": {"title": "改", "enterprise": enterprise, "park": park.code, "stages": [stages[1].code]},
        "follow-ups": {"project": records["projects"]["id"], "due_at": "2026-05-01T09:00:00Z"},
    }


@pytest.mark.postgres
def test_office_b_gets_404_on_every_path_of_office_a_records(api_a, api_b, records_of_a, stages, park):
    bodies = _bodies(records_of_a, stages, park)
    for resource, model in RESOURCES.items():
        record = records_of_a[resource]
        url = f"{resource}/{record['id']}/"
        before = model.objects.get(pk=record["id"]).version
        answers = {
            "GET": api_b.get(url),
            "PUT": api_b.put(url, bodies[resource]),
            "PATCH": api_b.patch(url, {}),
            "PUT If-Match": api_b.put(url, bodies[resource], headers={"If-Match": '"1"'}),
            "DELETE": api_b.delete(url),
            "DELETE If-Match": api_b.delete(url, headers={"If-Match": f'"{before}"'}),
            "GET external": api_b.get(f"{resource}/external/{record['external_id']}/"),
        }
        if resource == "projects":
            answers["POST transition"] = api_b.post(f"{url}transition/", {"to": "screening"})
        for what, answer in answers.items():
            assert answer.status_code == 404, (resource, what, answer.status_code, answer.content)
            assert answer.json()["errors"][0]["code"] == "not_found"
            assert record["id"] not in answer.content.decode()
        assert model.objects.get(pk=record["id"]).version == before, resource

        # B's own upsert with A's external id creates B's record; A's stays as it was.
        r = api_b.put(f"{resource}/external/{record['external_id']}/", bodies[resource])
        if resource == "follow-ups":
            assert r.status_code == 400  # A's project cannot be named by B
            assert r.json()["errors"][0] == {
                "attr": "project",
                "code": "does_not_exist",
                "detail": r.json()["errors"][0]["detail"],
            }
        else:
            assert r.status_code == 201 and r.json()["id"] != record["id"]
        r = api_b.post(
            f"{resource}/bulk/", {"items": [{**bodies[resource], "external_id": record["external_id"] + "-b"}]}
        )
        assert r.status_code in (200, 400)
        assert model.objects.get(pk=record["id"]).version == before, resource

    # Never in B's lists, whatever the filter.
    for resource in RESOURCES:
        for params in ({}, {"external_id": records_of_a[resource]["external_id"]}, {"limit": 500}):
            listed = api_b.get(f"{resource}/", **params).json()["results"]
            assert records_of_a[resource]["id"] not in {item["id"] for item in listed}, resource
    assert api_b.get("interactions/", project=records_of_a["projects"]["id"]).json()["results"] == []

    # Never in B's feed; A sees its own.
    def feed_ids(api):  # type: ignore[no-untyped-def]
        wait_for_feed_horizon()
        seen, after = set(), None
        while True:
            body = api.get("changes/", **({"after": after} if after else {}), limit=1000).json()
            seen |= {(e["type"], e["id"]) for e in body["results"]}
            if not body["results"]:
                return seen
            after = body["next"]

    own = {
        ("contact", records_of_a["contacts"]["id"]),
        ("project", records_of_a["projects"]["id"]),
        ("interaction", records_of_a["interactions"]["id"]),
        ("follow_up", records_of_a["follow-ups"]["id"]),
    }
    assert own <= feed_ids(api_a)
    seen_by_b = feed_ids(api_b)
    assert not own & seen_by_b
    assert ("enterprise", records_of_a["enterprise"]["id"]) in seen_by_b  # the shared directory

    # Not usable as references in B's writes.
    r = api_b.post(
        "interactions/",
        {
            "enterprise": records_of_a["enterprise"]["id"],
            "kind": "call",
            "summary": "x",
            "occurred_at": "2026-03-01T10:00:00Z",
            "contacts": [records_of_a["contacts"]["id"]],
        },
    )
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "contacts"


def test_the_provincial_office_sees_and_changes_every_office_record(api_a, api_province, records_of_a):
    for resource in RESOURCES:
        record = records_of_a[resource]
        assert api_province.get(f"{resource}/{record['id']}/").status_code == 200
    r = api_province.patch(f"contacts/{records_of_a['contacts']['id']}/", {"title": "总经理"})
    assert r.status_code == 200 and r.json()["office"] == "office-a"
