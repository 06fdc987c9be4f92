"""Bulk upserts of contacts, interactions, projects and follow-ups are set-based and write
exactly what the same items written one by one (``PUT …/external/<id>/``) write.

One office sends the items through ``bulk/``, another sends each item on its own;
both offices' records are then compared field by field once ids, times and users are
replaced by what they stand for: rows, versions, history rows (many-to-many copies
included), change-feed entries, status history, service-level follow-ups and
large-project notices. Then both send changed items (an update: version 2, moves
along the pipeline, contact sets changed, follow-ups closed) and are compared again.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import ChangeEntry, Contact, Interaction
from recruitment.models import FollowUp, Project, ProjectStatusChange, ReminderDelivery
from tests.api.conftest import api_for
from tests.factories import EnterpriseFactory, OfficeFactory, PresenceFactory, StageFactory, UserFactory
from tests.record_snapshot import Snapshot, assert_same

pytestmark = pytest.mark.django_db

STATUSES = [None, "lead", "screening", "signed", "at_capacity", "suspended", "lost", "production", "negotiating"]
KINDS = ["call", "visit", "meeting", "email", "event", "wechat", "other"]


@pytest.fixture
def world(park, stages):  # type: ignore[no-untyped-def]
    third = StageFactory(code="carbon-fibre", name="碳纤维", order=3, chain=stages[0].chain)
    enterprises = [EnterpriseFactory(office=None) for _ in range(10)]
    for e in enterprises[:2]:
        PresenceFactory(enterprise=e, park=park, stage=stages[0])  # covered
    PresenceFactory(enterprise=enterprises[2], park=park, stage=stages[1])  # weak
    offices = []
    for code in ("bulk", "single"):
        office = OfficeFactory(code=f"office-{code}", kind="partner")
        staff = UserFactory(office=office, username=f"staff-{code}")
        offices.append((office, staff, api_for(office)))
    return {"park": park, "stages": [*stages, third], "enterprises": enterprises, "offices": offices}


def _contacts(world, n: int, round_: int) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    es = world["enterprises"]
    return [
        {
            "external_id": f"C-{i}",
            "enterprise": str(es[i % 10].pk),
            "name": f"联系人{i}" if round_ == 0 or i % 3 else f"联系人{i}改",
            "title": "总经理" if i % 2 else "",
            "phone": f"1380000{i:04d}",
            "email": f"c{i}@example.cn",
        }
        for i in range(n)
    ]


def _projects(world, n: int, round_: int) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    es, stages = world["enterprises"], world["stages"]
    items = []
    for i in range(n):
        item: dict[str, Any] = {
            "external_id": f"P-{i}",
            "title": f"项目{i}",
            "enterprise": str(es[i % 10].pk),
            "park": world["park"].code,
            "stages": [stages[i % 3].code] if i % 4 else [stages[0].code, stages[2].code],
            "planned_investment": "600000000.00" if i % 5 == 0 else f"{1000 + i}.00",
            "description": "说明",
        }
        status = STATUSES[i % len(STATUSES)]
        if status is not None:
            item["status"] = status
        if i % 7 == 0:
            item["chain_role"] = "extend"
        if round_ == 1:
            if i % 3 == 0:
                item["title"] = f"项目{i}（更新）"
            if i % 4 == 1:
                item["stages"] = [stages[(i + 1) % 3].code, stages[i % 3].code]
            if status in ("lead", None) and i % 2:
                item["status"] = "screening"
            if status == "screening":
                item["status"] = "negotiating"
        items.append(item)
    return items


def _interactions(world, n: int, round_: int, ids: dict[str, str]) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    es = world["enterprises"]
    items = []
    for i in range(n):
        e = i % 10
        same = [f"C-{j}" for j in range(e, n, 10)][: (i + round_) % 3]
        item: dict[str, Any] = {
            "external_id": f"I-{i}",
            "enterprise": str(es[e].pk),
            "kind": KINDS[i % len(KINDS)],
            "occurred_at": f"2026-03-{1 + i % 28:02d}T10:00:00+08:00",
            "summary": f"第{i}次沟通" if round_ == 0 or i % 2 else f"第{i}次沟通（补记）",
            "contacts": [ids[c] for c in same if c in ids],
        }
        if i % 3 == 0 and f"P-{e}" in ids:
            item["project"] = ids[f"P-{e}"]
        items.append(item)
    return items


def _follow_ups(world, n: int, round_: int, ids: dict[str, str], staff: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    items = []
    for i in range(n):
        item: dict[str, Any] = {
            "external_id": f"F-{i}",
            "project": ids[f"P-{i % max(1, n // 2)}"],
            "kind": "report" if i % 3 == 2 else "manual",
            "due_at": f"2030-01-{1 + i % 28:02d}T09:00:00+08:00",
            "note": f"跟进{i}",
        }
        if i % 3 == 1:
            item["assignee"] = staff
        status = [None, "open", "done", "cancelled"][i % 4] if round_ == 0 else None
        if round_ == 1:
            status = {0: "done", 1: "cancelled"}.get(i % 4)
            if i % 5 == 0:
                item["note"] = f"跟进{i}（改）"
        if status is not None:
            item["status"] = status
        items.append(item)
    return items


def _send(api, resource: str, items: list[dict[str, Any]], *, bulk: bool) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Write ``items`` (by bulk or one by one); the ids of the records by external id."""
    if bulk:
        ids: dict[str, str] = {}
        for start in range(0, len(items), 1000):
            r = api.post(f"{resource}/bulk/", {"items": items[start : start + 1000]})
            assert r.status_code == 200, r.content[:2000]
            ids.update({x["external_id"]: x["id"] for x in r.json()["results"]})
        return ids
    out = {}
    for item in items:
        r = api.put(f"{resource}/external/{item['external_id']}/", item)
        assert r.status_code in (200, 201), (item, r.content[:500])
        out[item["external_id"]] = r.json()["id"]
    return out


def _write_all(world, n: int, round_: int, *, bulk: bool) -> None:  # type: ignore[no-untyped-def]
    _office, staff, api = world["offices"][0 if bulk else 1]
    ids = _send(api, "contacts", _contacts(world, n, round_), bulk=bulk)
    ids.update(_send(api, "projects", _projects(world, n, round_), bulk=bulk))
    _send(api, "interactions", _interactions(world, n, round_, ids), bulk=bulk)
    _send(api, "follow-ups", _follow_ups(world, n, round_, ids, staff.username), bulk=bulk)


def _compare(world) -> None:  # type: ignore[no-untyped-def]
    (o1, s1, _a1), (o2, s2, _a2) = world["offices"]
    assert_same(Snapshot(o1, s1).take(), Snapshot(o2, s2).take())


@pytest.mark.parametrize("n", [40, pytest.param(1000, marks=[pytest.mark.slow, pytest.mark.postgres])])
def test_bulk_writes_exactly_what_single_upserts_write_then_updates(world, n, settings):
    settings.API_THROTTLE_RATE = "1000000/min"  # thousands of single upserts in a minute
    _write_all(world, n, 0, bulk=True)
    _write_all(world, n, 0, bulk=False)
    office = world["offices"][0][0]
    assert Contact.objects.filter(office=office).count() == n
    assert FollowUp.objects.filter(office=office, external_id="").count() > n  # the service levels
    _compare(world)
    _write_all(world, n, 1, bulk=True)
    changed = Contact.objects.filter(office=office, name__endswith="改")
    assert changed.exists() and {c.version for c in changed} == {2}
    assert not Contact.objects.filter(office=office).exclude(pk__in=changed).exclude(version=1).exists()
    if n <= 100:  # the updates one by one too (at 1000 that alone takes minutes on a busy machine)
        _write_all(world, n, 1, bulk=False)
        _compare(world)


@pytest.mark.parametrize("resource", ["contacts", "interactions", "projects", "follow-ups"])
def test_one_bad_item_writes_nothing(world, resource):
    _office, staff, api = world["offices"][0]
    ids = _send(api, "contacts", _contacts(world, 10, 0), bulk=True)
    ids.update(_send(api, "projects", _projects(world, 10, 0), bulk=True))
    items = {
        "contacts": lambda: _contacts(world, 20, 1),
        "projects": lambda: _projects(world, 20, 1),
        "interactions": lambda: _interactions(world, 20, 0, ids),
        "follow-ups": lambda: _follow_ups(world, 20, 0, ids, staff.username),
    }[resource]()
    bad_field = {"contacts": "name", "projects": "title", "interactions": "summary", "follow-ups": "note"}[resource]
    items[13][bad_field] = "x" * 30_000
    before = _counts()
    r = api.post(f"{resource}/bulk/", {"items": items})
    assert r.status_code == 400
    assert {e["attr"] for e in r.json()["errors"]} == {f"items.13.{bad_field}"}
    assert _counts() == before


def test_a_refusal_found_by_the_service_writes_nothing(world):
    _office, _staff, api = world["offices"][0]
    ids = _send(api, "projects", _projects(world, 3, 0), bulk=True)
    items = _projects(world, 6, 0)
    items[1]["status"] = "at_capacity"  # P-1 is a lead: no jump to at capacity
    items[4]["status"] = "lost"  # a new project walks: lost needs no reason then (imported status)
    before = _counts()
    r = api.post("projects/bulk/", {"items": items})
    assert r.status_code == 400
    assert [(e["attr"], e["code"]) for e in r.json()["errors"]] == [("items.1.status", "illegal_transition")]
    assert _counts() == before
    assert Project.objects.get(pk=ids["P-1"]).version == 1


def _counts() -> tuple[int, ...]:
    return tuple(
        m.objects.count()
        for m in (Contact, Interaction, Project, FollowUp, ProjectStatusChange, ReminderDelivery, ChangeEntry)
    ) + tuple(m.history.count() for m in (Contact, Interaction, Project, FollowUp))


@pytest.mark.postgres  # SQLite's bulk inserts split by its limit on parameters per statement
@pytest.mark.parametrize("resource", ["contacts", "interactions", "projects", "follow-ups"])
def test_bulk_queries_do_not_grow_with_the_items(world, resource):
    _office, staff, api = world["offices"][0]
    ids = _send(api, "contacts", _contacts(world, 100, 0), bulk=True)
    ids.update(_send(api, "projects", _projects(world, 100, 0), bulk=True))
    make = {
        "contacts": lambda n, r: _contacts(world, n, r),
        "projects": lambda n, r: _projects(world, n, r),
        "interactions": lambda n, r: _interactions(world, n, r, ids),
        "follow-ups": lambda n, r: _follow_ups(world, n, r, ids, staff.username),
    }[resource]

    def queries(items: list[dict[str, Any]]) -> int:
        for item in items:
            item["external_id"] = f"{item['external_id']}-{len(items)}"
        with CaptureQueriesContext(connection) as captured:
            r = api.post(f"{resource}/bulk/", {"items": items})
        assert r.status_code == 200, r.content[:1000]
        return len(captured)

    assert queries(make(10, 0)) == queries(make(100, 0))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_bulks_of_the_same_items_create_each_record_once(office_a):  # type: ignore[no-untyped-def]
    """Two partners' retries racing: one request creates, the other finds the records and changes nothing."""
    import threading

    enterprise = EnterpriseFactory(office=None)
    items = [{"external_id": f"C-{i}", "enterprise": str(enterprise.pk), "name": f"联系人{i}"} for i in range(300)]
    statuses: list[int] = []
    start = threading.Barrier(2)

    def post() -> None:
        try:
            start.wait()
            statuses.append(api_for(office_a).post("contacts/bulk/", {"items": items}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200, 200]
    contacts = Contact.objects.filter(office=office_a)
    assert contacts.count() == 300 and {c.version for c in contacts} == {1}
    assert Contact.history.count() == 300 and ChangeEntry.objects.filter(type="contact").count() == 300
