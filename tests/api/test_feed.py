"""The change feed: what it serves, to whom, and for how long."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from api.feed import CURSOR_MAX_LENGTH, CURSOR_PATTERN, change_feed_purge
from api.models import ChangeFeedRetention
from crm.models import ChangeEntry
from tests.api.conftest import wait_for_feed_horizon

pytestmark = [pytest.mark.django_db(transaction=True)]


def drain(api, after=None, limit=1000):  # type: ignore[no-untyped-def]
    """Every entry after ``after`` and the cursor to continue from."""
    wait_for_feed_horizon()
    entries = []
    while True:
        params = {"limit": limit, **({"after": after} if after else {})}
        r = api.get("changes/", **params)
        assert r.status_code == 200, r.content
        body = r.json()
        entries += body["results"]
        after = body["next"]
        if not body["results"]:
            return entries, after


def test_feed_data_is_the_detail_rendering_with_its_version(api_a, park, stages):
    enterprise = api_a.post("enterprises/", {"name": "甲", "stages": [stages[0].code]}).json()
    project = api_a.post(
        "projects/", {"title": "项目", "enterprise": enterprise["id"], "park": park.code, "stages": [stages[0].code]}
    ).json()
    api_a.post(f"projects/{project['id']}/transition/", {"to": "screening"})
    entries, _cursor = drain(api_a)
    by_key = {(e["type"], e["id"]): e for e in entries}
    assert len(by_key) == len(entries)  # one entry per record
    for type_name, resource, record_id in (
        ("enterprise", "enterprises", enterprise["id"]),
        ("project", "projects", project["id"]),
    ):
        entry = by_key[(type_name, record_id)]
        assert entry["op"] == "upsert"
        detail = api_a.get(f"{resource}/{record_id}/").json()
        assert entry["data"] == detail
        assert list(entry["data"]) == list(detail)  # as written: same keys in the same order
    assert by_key[("project", project["id"])]["data"]["status"] == "screening"


def test_renaming_an_enterprise_moves_its_projects_in_the_feed(api_a, park, stages):
    enterprise = api_a.post("enterprises/", {"name": "旧名"}).json()
    project = api_a.post(
        "projects/", {"title": "项目", "enterprise": enterprise["id"], "park": park.code, "stages": [stages[0].code]}
    ).json()
    _entries, cursor = drain(api_a)
    api_a.patch(f"enterprises/{enterprise['id']}/", {"name": "新名"})
    entries, _cursor = drain(api_a, cursor)
    moved = {(e["type"], e["id"]): e["data"] for e in entries}
    assert moved[("project", project["id"])]["enterprise_name"] == "新名"
    assert moved[("project", project["id"])]["version"] == project["version"]  # the project itself did not change


def test_deletions_arrive_as_tombstones(api_a):
    contact_enterprise = api_a.post("enterprises/", {"name": "甲"}).json()
    contact = api_a.post("contacts/", {"enterprise": contact_enterprise["id"], "name": "张三"}).json()
    _entries, cursor = drain(api_a)
    api_a.delete(f"contacts/{contact['id']}/")
    entries, _cursor = drain(api_a, cursor)
    assert [(e["type"], e["id"], e["op"], e["data"]) for e in entries] == [("contact", contact["id"], "delete", None)]


def test_an_empty_feed_still_answers_a_cursor_and_pages_are_limited(api_a):
    body = api_a.get("changes/").json()
    assert body == {"results": [], "next": "0.0.0"}
    for n in range(5):
        api_a.post("enterprises/", {"name": f"企业{n}"})
    wait_for_feed_horizon()
    page = api_a.get("changes/", limit=2).json()
    assert len(page["results"]) == 2
    assert api_a.get("changes/", after=page["next"], limit=10).json()["results"][0]["id"] not in {
        e["id"] for e in page["results"]
    }
    assert api_a.get("changes/", limit=1001).status_code == 400
    for bad in ("x", "1.2", "0.-1.0", "0.99999999999999999999.1", "1.2.3.4"):
        r = api_a.get("changes/", after=bad)
        assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "after", bad
        assert not re.match(CURSOR_PATTERN, bad), bad  # the schema refuses what the API refuses
    # Empty is the start, as the schema's pattern allows; every cursor the API gives matches it.
    assert api_a.get("changes/", after="", limit=2).json() == page
    assert re.match(CURSOR_PATTERN, page["next"]) and len(page["next"]) <= CURSOR_MAX_LENGTH


def test_tombstones_are_kept_90_days_then_old_cursors_get_410(api_a, time_machine):
    time_machine.move_to(timezone.now() - timedelta(days=100))
    enterprise = api_a.post("enterprises/", {"name": "甲"}).json()
    contact = api_a.post("contacts/", {"enterprise": enterprise["id"], "name": "张三"}).json()
    _entries, old_cursor = drain(api_a)
    api_a.delete(f"contacts/{contact['id']}/")
    _entries, cursor_after_delete = drain(api_a, old_cursor)
    time_machine.move_to(timezone.now() + timedelta(days=89))
    assert change_feed_purge() is None  # 89 days: kept
    assert ChangeEntry.objects.filter(op="delete").count() == 1
    time_machine.move_to(timezone.now() + timedelta(days=2))
    assert change_feed_purge() is not None
    assert not ChangeEntry.objects.filter(op="delete").exists()
    assert ChangeFeedRetention.objects.count() == 1
    r = api_a.get("changes/", after=old_cursor)
    assert r.status_code == 410 and r.json()["errors"][0]["code"] == "cursor_expired"
    # A client that had seen the deletion carries on; a client starting over reads the
    # current state, page by page from below the mark, without a 410.
    assert api_a.get("changes/", after=cursor_after_delete).status_code == 200
    entries, _cursor = drain(api_a, limit=1)
    assert ("enterprise", enterprise["id"]) in {(e["type"], e["id"]) for e in entries}
    assert ("contact", contact["id"]) not in {(e["type"], e["id"]) for e in entries}


def test_retention_is_never_shorter_than_90_days(settings):
    from api.feed import retention_days

    settings.API_CHANGE_FEED_RETENTION_DAYS = 7
    assert retention_days() == 90
    settings.API_CHANGE_FEED_RETENTION_DAYS = 365
    assert retention_days() == 365


def test_the_daily_task_purges_old_tombstones_and_idempotency_keys(api_a, time_machine):
    from api.models import IdempotencyRecord
    from api.tasks import purge_expired

    time_machine.move_to(timezone.now() - timedelta(days=120))
    enterprise = api_a.post("enterprises/", {"name": "甲"}, headers={"Idempotency-Key": "old"}).json()
    api_a.delete(f"enterprises/{enterprise['id']}/")
    time_machine.move_to(timezone.now() + timedelta(days=120))
    result = purge_expired()
    assert result["idempotency_records"] == 1 and result["feed_mark"]
    assert not IdempotencyRecord.objects.exists() and not ChangeEntry.objects.filter(op="delete").exists()
