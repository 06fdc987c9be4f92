"""List filters: applied when asked for, strict about empty typed values, skipped when not asked for."""

from __future__ import annotations

import pytest

from api.filters import StrictFilterSet
from api.resources.enterprises import EnterpriseFilter
from tests.factories import EnterpriseFactory

pytestmark = pytest.mark.django_db


def test_filters_apply_and_stay_strict_on_every_request(api_a, office_a):
    EnterpriseFactory(office=office_a, name="太原钢铁", city="太原")
    EnterpriseFactory(office=office_a, name="忻州材料", city="忻州")
    for _ in range(2):  # the second request uses the form class built by the first
        r = api_a.get("enterprises/", city="忻州")
        assert [e["name"] for e in r.json()["results"]] == ["忻州材料"]
        r = api_a.get("enterprises/", updated_since="")
        assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "updated_since"


def test_a_list_without_filter_parameters_builds_no_filter_set(api_a, office_a, monkeypatch):
    EnterpriseFactory(office=office_a)
    built = []
    original = StrictFilterSet.__init__

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(type(self))
        original(self, *args, **kwargs)

    monkeypatch.setattr(StrictFilterSet, "__init__", counting)
    r = api_a.get("enterprises/", limit=10, unknown="ignored")
    assert r.status_code == 200 and len(r.json()["results"]) == 1
    assert built == []
    api_a.get("enterprises/", city="太原")
    assert built == [EnterpriseFilter]
