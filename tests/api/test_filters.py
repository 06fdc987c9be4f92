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


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("gaps/", "status"),
        ("gaps/", "park"),
        ("gaps/candidates/", "stage"),
        ("reports/monthly/", "month"),
    ],
)
def test_query_parameters_of_the_report_views_may_not_be_sent_empty(api_a, path, param):
    """An empty ``?status=`` would otherwise read as "no filter" and answer everything."""
    r = api_a.get(path, **{param: ""})
    assert r.status_code == 400, r.content
    assert param in [e["attr"] for e in r.json()["errors"]]


def test_an_unknown_url_under_the_api_answers_in_the_error_format(api_a):
    for path in ("no-such-resource/", "evidence/not-a-uuid/"):
        r = api_a.get(path)
        assert r.status_code == 404
        assert r["Content-Type"] == "application/json"
        assert r.json()["errors"][0]["code"] == "not_found"
