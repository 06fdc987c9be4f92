"""Shared fixtures and the rules for tests that need real services.

Tests marked ``postgres`` or ``redis`` skip with a visible reason when the service
is not there (a newcomer's laptop). With ``CHAIN_RECRUIT_REQUIRE_SERVICES=1`` (CI)
a missing service fails those tests instead: in CI a skip would hide a regression.
"""

from __future__ import annotations

import os
import warnings

import pytest
from django.db import connection

from tests.factories import OfficeFactory, UserFactory

REQUIRE_SERVICES = os.environ.get("CHAIN_RECRUIT_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """pytest-django's, and before the test database is dropped, the sessions still on it
    named: a test that left a connection open (a thread, a child process) otherwise shows
    only as "being accessed by other users" on the last test of the run."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, application_name, backend_type, state, backend_start, LEFT(query, 300)"
            " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        left = cursor.fetchall()
    for pid, application, kind, state, started, query in left:
        warnings.warn(
            f"a session was left on the test database: pid {pid} ({application or kind}, {state},"
            f" since {started:%H:%M:%S}), last statement: {query}",
            stacklevel=1,
        )


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
