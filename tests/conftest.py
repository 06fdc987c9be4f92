"""Shared fixtures and the rules for tests that need real services.

Tests marked ``postgres`` or ``redis`` skip with a visible reason when the service
is not there (a newcomer's laptop). With ``CHAIN_RECRUIT_REQUIRE_SERVICES=1`` (CI)
a missing service fails those tests instead: in CI a skip would hide a regression.
"""

from __future__ import annotations

import os

import pytest
from django.db import connection

from tests.factories import OfficeFactory, UserFactory

REQUIRE_SERVICES = os.environ.get("CHAIN_RECRUIT_REQUIRE_SERVICES") == "1"


def _missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (CHAIN_RECRUIT_REQUIRE_SERVICES=1: services are required here)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _require_services(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _missing("needs PostgreSQL: set DATABASE_URL or run PostgreSQL on 127.0.0.1:5432")
    if request.node.get_closest_marker("redis") and not os.environ.get("TEST_REDIS_URL"):
        _missing("needs Redis: set TEST_REDIS_URL or run Redis on 127.0.0.1:6379")


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache (cached admin filter choices name earlier tests' rows)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _site_language():
    """Each test starts in the site's default language; a test that switches to
    English (a request with Accept-Language: en) does not leak it into the next."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        _missing("needs Redis: set TEST_REDIS_URL or run Redis on 127.0.0.1:6379")
    return url  # type: ignore[return-value]


@pytest.fixture
def provincial_office(db):  # type: ignore[no-untyped-def]
    return OfficeFactory(code="province", kind="provincial", name="省商务厅")


@pytest.fixture
def park_office(db):  # type: ignore[no-untyped-def]
    return OfficeFactory(code="yangqu-office", kind="park", name="阳曲园区招商局")


@pytest.fixture
def partner_office(db):  # type: ignore[no-untyped-def]
    return OfficeFactory(code="shenzhen-liaison", kind="partner", name="驻深圳招商办事处")


@pytest.fixture
def provincial_user(provincial_office):  # type: ignore[no-untyped-def]
    return UserFactory(office=provincial_office, is_staff=True, is_manager=True)


@pytest.fixture
def park_user(park_office):  # type: ignore[no-untyped-def]
    return UserFactory(office=park_office, is_staff=True)
