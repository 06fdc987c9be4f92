"""Fixtures for the partner API: office keys and a JSON client that sends them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from api.api_keys import api_key_create
from api.throttling import counter
from crm.changes import HORIZON_SQL
from tests.factories import OfficeFactory, ParkFactory, StageFactory


class Api:
    """A JSON client for ``/api/v1/`` that authenticates with an office key."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.client = Client()

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, **params: Any):  # type: ignore[no-untyped-def]
        url = path if path.startswith("/") else f"/api/v1/{path}"
        extra = {}
        if self.key:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {self.key}"
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs = {"data": json.dumps(body), "content_type": "application/json"}
        if params:
            kwargs["QUERY_STRING"] = urlencode(params)
        return self.client.generic(method, url, **kwargs, **extra)

    def get(self, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("DELETE", path, **kwargs)


@pytest.fixture(autouse=True)
def _fresh_throttle_counter() -> None:
    counter.reset()


@pytest.fixture
def office_a(db):  # type: ignore[no-untyped-def]
    return OfficeFactory(code="office-a", kind="partner", name="驻深圳招商办事处")


@pytest.fixture
def office_b(db):  # type: ignore[no-untyped-def]
    return OfficeFactory(code="office-b", kind="park", name="阳曲园区招商局")


@pytest.fixture
def province(db):  # type: ignore[no-untyped-def]
    return OfficeFactory(code="province", kind="provincial", name="省商务厅")


def api_for(office, *, read_only: bool = False) -> Api:  # type: ignore[no-untyped-def]
    return Api(api_key_create(office=office, read_only=read_only, label="tests").raw)


@pytest.fixture
def api_a(office_a) -> Api:  # type: ignore[no-untyped-def]
    return api_for(office_a)


@pytest.fixture
def api_b(office_b) -> Api:  # type: ignore[no-untyped-def]
    return api_for(office_b)


@pytest.fixture
def api_province(province) -> Api:  # type: ignore[no-untyped-def]
    return api_for(province)


@pytest.fixture
def park(db):  # type: ignore[no-untyped-def]
    return ParkFactory(code="yangqu", name="阳曲产业园区", name_en="Yangqu Industrial Park")


@pytest.fixture
def stages(db):  # type: ignore[no-untyped-def]
    first = StageFactory(code="acrylonitrile", name="丙烯腈", order=1)
    second = StageFactory(code="precursor", name="聚丙烯腈原丝", order=2, chain=first.chain)
    return [first, second]


def wait_for_feed_horizon(timeout: float = 300.0) -> None:
    """Wait until every change written so far is below the feed's visibility horizon.

    The horizon is the oldest transaction of this database still running (another
    database's transactions do not count), so only this test run's own open
    transactions hold the feed back; it never lets the feed skip anything. A client that
    drains "until an empty page" only knows it is up to date once nothing older is
    still running: this is that wait, for tests.
    """
    import time

    from django.db import connection

    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute(f"SELECT COALESCE(MAX(txid), 0) < {HORIZON_SQL} FROM crm_changeentry")
            if cursor.fetchone()[0]:
                return
            if time.monotonic() > deadline:
                raise AssertionError("the change feed's horizon did not pass the last write in time")
            time.sleep(0.05)
