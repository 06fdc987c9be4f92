"""An enterprise's external_id is its creating office's own id for it. Every office reads the
enterprise; only the creating office sees that id, filters by it or finds the enterprise by it:
detail, list, filter, upsert, bulk, the change feed, admin pages, searches and exports."""

from __future__ import annotations

import csv
import io

import orjson
import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from crm.changes import _hide_external_id
from crm.models import ChangeEntry, Enterprise
from crm.roles import MANAGER, STAFF, role_assign
from tests.api.conftest import wait_for_feed_horizon
from tests.factories import UserFactory

# The most awkward id the external-id rule (crm.external_ids) allows: a quote, URL
# punctuation and a non-ASCII letter; the feed's text replacement must still find its end.
EXT = "A-'7&x:@(号)"


@pytest.fixture
def created(api_a):  # type: ignore[no-untyped-def]
    r = api_a.put(f"enterprises/external/{EXT}/", {"name": "太原示例新材料有限公司"})
    assert r.status_code == 201, r.content
    return r.json()


# --- API ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_creating_office_sees_its_external_id_everywhere(api_a, created):
    assert created["external_id"] == EXT
    assert api_a.get(f"enterprises/{created['id']}/").json()["external_id"] == EXT
    assert [e["external_id"] for e in api_a.get("enterprises/").json()["results"]] == [EXT]
    assert [e["id"] for e in api_a.get("enterprises/", external_id=EXT).json()["results"]] == [created["id"]]
    assert api_a.get(f"enterprises/external/{EXT}/").json()["id"] == created["id"]


@pytest.mark.django_db
@pytest.mark.parametrize("reader", ["api_b", "api_province"])
def test_other_offices_read_the_enterprise_without_its_external_id(request, created, reader):
    api = request.getfixturevalue(reader)
    detail = api.get(f"enterprises/{created['id']}/").json()
    assert detail["external_id"] is None
    assert list(detail) == list(created)  # same keys, same order
    assert {k: v for k, v in detail.items() if k != "external_id"} == {
        k: v for k, v in created.items() if k != "external_id"
    }
    listed = api.get("enterprises/").json()["results"]
    assert [(e["id"], e["external_id"]) for e in listed] == [(created["id"], None)]


@pytest.mark.django_db
@pytest.mark.parametrize("reader", ["api_b", "api_province"])
def test_other_offices_cannot_filter_or_find_by_another_offices_external_id(request, created, reader):
    api = request.getfixturevalue(reader)
    assert api.get("enterprises/", external_id=EXT).json()["results"] == []
    assert api.get(f"enterprises/external/{EXT}/").status_code == 404
    assert api.get("enterprises/", search=EXT).json()["results"] == []


@pytest.mark.django_db
def test_upsert_by_external_id_never_reaches_another_offices_enterprise(api_b, created):
    r = api_b.put(f"enterprises/external/{EXT}/", {"name": "阳曲自己的企业"})
    assert r.status_code == 201  # a new enterprise of office B under B's own id
    assert r.json()["id"] != created["id"] and r.json()["external_id"] == EXT
    assert Enterprise.objects.get(pk=created["id"]).name == "太原示例新材料有限公司"
    assert Enterprise.objects.filter(external_id=EXT).count() == 2


@pytest.mark.django_db
def test_write_responses_hide_another_offices_external_id(api_province, created):
    r = api_province.patch(f"enterprises/{created['id']}/", {"city": "太原"})
    assert r.status_code == 200, r.content
    assert r.json()["external_id"] is None and r.json()["city"] == "太原"
    assert Enterprise.objects.get(pk=created["id"]).external_id == EXT  # hidden, not changed


@pytest.mark.django_db(transaction=True)
def test_change_feed_shows_the_external_id_to_the_creating_office_only(api_a, api_b, api_province, created):
    wait_for_feed_horizon()

    def feed_entry(api):  # type: ignore[no-untyped-def]
        body = api.get("changes/", limit=1000).content
        entries = [e for e in orjson.loads(body)["results"] if e["id"] == created["id"]]
        assert len(entries) == 1
        return entries[0]["data"]

    own = feed_entry(api_a)
    assert own["external_id"] == EXT
    for api in (api_b, api_province):
        data = feed_entry(api)
        assert data["external_id"] is None
        assert list(data) == list(own)
        assert {k: v for k, v in data.items() if k != "external_id"} == {
            k: v for k, v in own.items() if k != "external_id"
        }


@pytest.mark.django_db
def test_the_feed_text_replacement_and_its_python_twin_agree(created, office_a, office_b):
    from django.db import connection

    stored = ChangeEntry.objects.filter(object_id=created["id"]).values_list("data", flat=True).get()
    text = orjson.dumps(stored).decode()
    assert orjson.loads(_hide_external_id(text, office_a.code))["external_id"] == EXT
    hidden = orjson.loads(_hide_external_id(text, office_b.code))
    assert hidden["external_id"] is None and list(hidden) == list(stored)
    if connection.vendor == "postgresql":  # the SQL the feed runs gives the same text as the twin
        from crm.changes import _EXTERNAL_ID_NULL, _EXTERNAL_ID_VALUE

        with connection.cursor() as cursor:
            cursor.execute("SELECT regexp_replace(%s, %s, %s)", [text, _EXTERNAL_ID_VALUE, _EXTERNAL_ID_NULL])
            assert orjson.loads(cursor.fetchone()[0]) == hidden


# --- Admin and exports -------------------------------------------------------------------------


@pytest.fixture
def admin_client_of():  # type: ignore[no-untyped-def]
    def make(office, role=STAFF):  # type: ignore[no-untyped-def]
        user = UserFactory(office=office, is_staff=True, is_manager=role == MANAGER)
        role_assign(user=user, role=role)
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.mark.django_db
@pytest.mark.parametrize(("office", "visible"), [("office_a", True), ("office_b", False), ("province", False)])
def test_admin_pages_show_the_external_id_to_the_creating_office_only(
    request, admin_client_of, created, office, visible
):
    client = admin_client_of(request.getfixturevalue(office), role=MANAGER)
    change = client.get(reverse("admin:crm_enterprise_change", args=[created["id"]]), HTTP_ACCEPT_LANGUAGE="en")
    assert change.status_code == 200
    assert (escape(EXT) in change.content.decode()) is visible
    listing = client.get(reverse("admin:crm_enterprise_changelist"), {"q": EXT})
    assert listing.status_code == 200
    assert created["name"] not in listing.content.decode()  # never found by searching the id
    assert client.get(reverse("admin:crm_enterprise_changelist"), {"external_id": EXT}).status_code == 400
    history = client.get(reverse("admin:crm_enterprise_history", args=[created["id"]]))
    assert escape(EXT) not in history.content.decode() or visible


@pytest.mark.django_db
@pytest.mark.parametrize(("office", "visible"), [("office_a", True), ("office_b", False), ("province", False)])
def test_exports_carry_the_external_id_for_the_creating_office_only(request, admin_client_of, created, office, visible):
    client = admin_client_of(request.getfixturevalue(office), role=MANAGER)
    response = client.get(reverse("tools:export"), {"kind": "enterprises", "format": "csv"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200, response.status_code
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    (row,) = [r for r in rows if r.get("Id", r.get("ID", "")) == created["id"] or created["id"] in r.values()]
    external = [v for k, v in row.items() if "xternal" in k]
    assert external == ([EXT] if visible else [""])


@pytest.mark.django_db
def test_an_export_under_a_lookup_the_list_does_not_offer_is_refused(admin_client_of, created, office_b):
    client = admin_client_of(office_b, role=MANAGER)
    for filters in ("interactions__isnull=False", f"external_id={EXT}", "contacts__gt=0"):
        response = client.get(
            reverse("tools:export"), {"kind": "enterprises", "format": "csv", "_changelist_filters": filters}
        )
        assert response.status_code == 400, filters
