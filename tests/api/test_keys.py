"""API keys: issued once, stored as a hash, revocable, read-only, and the 401/403 answers."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from api.api_keys import api_key_hash, api_key_revoke
from api.models import ApiKey
from tests.api.conftest import Api, api_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_create_api_key_prints_the_key_alone_on_its_last_line(office_a):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "--office", office_a.code, "--label", "ERP", stdout=out, stderr=err)
    key = out.getvalue().strip().splitlines()[-1]
    assert key.startswith("cr_") and " " not in key
    stored = ApiKey.objects.get()
    assert stored.key_hash == api_key_hash(key)
    assert key not in {stored.prefix, stored.key_hash, stored.label}
    assert Api(key).get("parks/").status_code == 200


def test_create_api_key_read_only_flag_and_unknown_office(office_a):
    out = io.StringIO()
    call_command("create_api_key", "--office", office_a.code, "--read-only", stdout=out, stderr=io.StringIO())
    assert ApiKey.objects.get().read_only is True
    with pytest.raises(CommandError, match="No office"):
        call_command("create_api_key", "--office", "nowhere", stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer cr_deadbeef_notakey", "Token something", "Bearer \u00e9"],
)
def test_missing_or_wrong_key_is_401_in_the_error_format(db, header):
    api = Api(None)
    r = api.get("enterprises/", headers={"Authorization": header} if header else None)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    body = r.json()
    assert body["type"] == "client_error"
    assert body["errors"][0]["code"] in {"not_authenticated", "authentication_failed"}


def test_revoked_key_is_401_at_once(office_a):
    api = api_for(office_a)
    assert api.get("enterprises/").status_code == 200
    api_key_revoke(api_key=ApiKey.objects.get(office=office_a))
    assert api.get("enterprises/").status_code == 401


def test_read_only_key_reads_but_its_writes_are_403(office_a):
    api = api_for(office_a, read_only=True)
    assert api.get("enterprises/").status_code == 200
    r = api.post("enterprises/", {"name": "甲"})
    assert r.status_code == 403
    assert r.json()["errors"][0]["code"] == "permission_denied"


def test_writes_are_recorded_in_history_under_the_keys_service_account(api_a, office_a):
    r = api_a.post("enterprises/", {"name": "甲公司"})
    from crm.models import Enterprise

    enterprise = Enterprise.objects.get(pk=r.json()["id"])
    record = enterprise.history.get()
    api_key = ApiKey.objects.get(office=office_a)
    assert record.history_user == api_key.user
    assert api_key.user.is_active is False  # the service account can never log in


def test_admin_shows_a_new_key_once_and_stores_only_its_hash(client, province):
    admin = UserFactory(office=province, is_staff=True, is_superuser=True)
    client.force_login(admin)
    r = client.post("/admin/api/apikey/add/", {"office": province.pk, "label": "park system", "read_only": "on"})
    assert r.status_code == 200, r.content[:500]
    stored = ApiKey.objects.get()
    html = r.content.decode()
    start = html.index('id="api-key"')
    raw = html[html.index(">", start) + 1 : html.index("</code>", start)]
    assert raw.startswith("cr_") and stored.key_hash == api_key_hash(raw)
    assert stored.read_only and stored.created_by == admin
    # Shown once: the key's own page does not show it again.
    page = client.get(f"/admin/api/apikey/{stored.pk}/change/").content.decode()
    assert raw not in page
    assert Api(raw).get("parks/").status_code == 200


def test_admin_revokes_keys_with_an_action(client, province, office_a):
    admin = UserFactory(office=province, is_staff=True, is_superuser=True)
    client.force_login(admin)
    api = api_for(office_a)
    key = ApiKey.objects.get(office=office_a)
    r = client.post("/admin/api/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk]})
    assert r.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api.get("parks/").status_code == 401


def test_the_lookup_brings_office_and_service_account_in_one_query(office_a, django_assert_num_queries):
    from api.api_keys import api_key_create, api_key_for_secret

    issued = api_key_create(office=office_a, label="lookup")
    api_key_for_secret(issued.raw)  # the first use records last_used_at (one more write)
    with django_assert_num_queries(1):
        found = api_key_for_secret(issued.raw)
        assert (found.pk, found.office, found.user) == (issued.api_key.pk, office_a, issued.api_key.user)
        assert found.office.code == "office-a" and found.user.username == issued.api_key.user.username
        assert found.read_only is False and found.key_hash == api_key_hash(issued.raw)
    assert api_key_for_secret(issued.raw + "x") is None
    api_key_revoke(api_key=issued.api_key)
    assert api_key_for_secret(issued.raw) is None
