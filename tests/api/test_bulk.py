"""Bulk upsert: all or nothing, errors by item index, and a replay changes nothing."""

from __future__ import annotations

import pytest

from crm.models import ChangeEntry, Contact, Enterprise
from tests.factories import valid_credit_code

pytestmark = pytest.mark.django_db


def _items(n: int, **extra):  # type: ignore[no-untyped-def]
    return [
        {"external_id": f"E-{i}", "name": f"企业{i}", "credit_code": valid_credit_code(100 + i), **extra}
        for i in range(n)
    ]


def test_bulk_creates_then_updates_and_reports_each_item(api_a, stages):
    r = api_a.post("enterprises/bulk/", {"items": _items(3, stages=[stages[0].code])})
    assert r.status_code == 200, r.content
    results = r.json()["results"]
    assert [(x["external_id"], x["created"]) for x in results] == [("E-0", True), ("E-1", True), ("E-2", True)]
    assert Enterprise.objects.count() == 3
    history_before = Enterprise.objects.get(external_id="E-1").history.count()
    items = _items(3)
    items[1]["city"] = "太原"
    r = api_a.post("enterprises/bulk/", {"items": items + [{"external_id": "E-9", "name": "新"}]})
    assert [x["created"] for x in r.json()["results"]] == [False, False, False, True]
    assert {e.external_id: e.version for e in Enterprise.objects.all()} == {"E-0": 1, "E-1": 2, "E-2": 1, "E-9": 1}
    one = Enterprise.objects.get(external_id="E-1")
    assert one.city == "太原" and one.history.count() == history_before + 1
    assert [s.code for s in one.stages.all()] == ["acrylonitrile"]  # left out: unchanged


def test_one_bad_item_is_400_naming_its_index_and_nothing_is_written(api_a):
    items = _items(5)
    items[3]["credit_code"] = "91110000600037341X"
    items[4]["name"] = ""
    r = api_a.post("enterprises/bulk/", {"items": items})
    assert r.status_code == 400
    attrs = {(e["attr"], e["code"]) for e in r.json()["errors"]}
    assert attrs == {("items.3.credit_code", "invalid_credit_code"), ("items.4.name", "blank")}
    assert Enterprise.objects.count() == 0 and ChangeEntry.objects.count() == 0


def test_a_clash_found_while_writing_rolls_back_the_whole_request(api_a, api_b):
    taken = api_b.post("enterprises/", {"name": "已有", "credit_code": valid_credit_code(7)}).json()
    items = _items(3)
    items[2]["credit_code"] = valid_credit_code(7)
    r = api_a.post("enterprises/bulk/", {"items": items})
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert (error["attr"], error["code"]) == ("items.2.credit_code", "duplicate")
    assert taken["id"] in error["detail"]
    assert Enterprise.objects.count() == 1


def test_replaying_a_bulk_request_changes_nothing(api_a):
    body = {"items": _items(4, city="忻州")}
    first = api_a.post("enterprises/bulk/", body)
    versions = dict(Enterprise.objects.values_list("external_id", "version"))
    positions = list(ChangeEntry.objects.order_by("txid", "seq").values_list("object_id", "txid", "seq"))
    second = api_a.post("enterprises/bulk/", body)
    assert second.status_code == 200
    assert [x["id"] for x in second.json()["results"]] == [x["id"] for x in first.json()["results"]]
    assert not any(x["created"] for x in second.json()["results"])
    assert dict(Enterprise.objects.values_list("external_id", "version")) == versions
    assert list(ChangeEntry.objects.order_by("txid", "seq").values_list("object_id", "txid", "seq")) == positions
    assert all(e.history.count() == 1 for e in Enterprise.objects.all())


@pytest.mark.parametrize(
    "body, attr, code",
    [
        ({}, "items", "required"),
        ({"items": "x"}, "items", "not_a_list"),
        ({"items": []}, "items", "invalid"),
        ({"items": [{"name": "x"}]}, "items.0.external_id", "required"),
        (
            {"items": [{"external_id": "a", "name": "x"}, {"external_id": "a", "name": "y"}]},
            "items.1.external_id",
            "duplicate",
        ),
        ({"items": [1]}, "items.0", "invalid"),
    ],
)
def test_malformed_bulk_envelopes_are_400(api_a, body, attr, code):
    r = api_a.post("enterprises/bulk/", body)
    assert r.status_code == 400
    assert (r.json()["errors"][0]["attr"], r.json()["errors"][0]["code"]) == (attr, code)


def test_more_than_1000_items_are_refused(api_a):
    r = api_a.post("enterprises/bulk/", {"items": [{"external_id": str(i), "name": "x"} for i in range(1001)]})
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "items"


def test_bulk_contacts_go_through_the_services(api_a, office_a):
    enterprise = api_a.post("enterprises/", {"name": "甲"}).json()
    items = [{"external_id": f"C-{i}", "enterprise": enterprise["id"], "name": f"联系人{i}"} for i in range(3)]
    items.append({"external_id": "C-bad", "enterprise": "00000000-0000-0000-0000-000000000000", "name": "x"})
    r = api_a.post("contacts/bulk/", {"items": items})
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "items.3.enterprise"
    assert Contact.objects.count() == 0
    r = api_a.post("contacts/bulk/", {"items": items[:3]})
    assert r.status_code == 200 and Contact.objects.filter(office=office_a).count() == 3
    assert all(c.history.get().history_user.api_key.office == office_a for c in Contact.objects.all())
