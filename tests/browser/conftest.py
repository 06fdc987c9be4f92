"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

No browser is ever downloaded: the tests use the system Chromium at ``/usr/bin/chromium``
(``CHAIN_RECRUIT_CHROMIUM`` overrides the path). Without it the tests skip with the
reason; with ``CHAIN_RECRUIT_REQUIRE_SERVICES=1`` (CI) they fail instead, because in CI
a skipped browser test would hide a broken page.

Playwright's sync API runs an event loop in the test's thread, and Django refuses ORM
calls from a thread with a running loop; the tests only touch the database between
browser steps, never concurrently with them, so that check is switched off here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CHAIN_RECRUIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PASSWORD = "pw-for-tests-123"  # tests.factories.UserFactory's password


def _unavailable(reason: str) -> None:
    if os.environ.get("CHAIN_RECRUIT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (CHAIN_RECRUIT_REQUIRE_SERVICES=1: the browser tests must run here)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"needs Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("needs the playwright Python package (requirements-dev.txt)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies) on the live server, Chinese first like the users."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900}, locale="zh-CN")
    context.set_default_timeout(20_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (git-ignored; CI keeps them as artefacts)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def log_in(page: Any, username: str, *, next_url: str = "/admin/") -> None:
    """Log in through the admin login form, as a person would."""
    page.goto(f"/admin/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(f"**{next_url}")


@pytest.fixture
def seeded(transactional_db: None) -> None:
    """The Taixin reference data and the illustrative demo data, as ``make run`` loads them."""
    import importlib

    from django.apps import apps
    from django.core.management import call_command

    # The default warning rules come from a data migration; a transactional test run
    # before this one may have flushed them, so they are put back as the migration writes them.
    importlib.import_module("recruitment.migrations.0007_landing_supervision").seed_rules(apps, None)
    call_command("seed", demo=True, allow_published_password=True, verbosity=0)


def staff_of(office_code: str, *, role: str) -> Any:
    """A user of a seeded office with a known password, in the staff or manager group."""
    from crm.models import Office
    from crm.roles import role_assign
    from tests.factories import UserFactory

    user = UserFactory(office=Office.objects.get(code=office_code))
    role_assign(user=user, role=role)
    return user
