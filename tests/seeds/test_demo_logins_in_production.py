"""The demo's published password stays out of production: ``seed --demo`` refuses it with
DJANGO_DEBUG off unless told, and ``check --deploy`` flags demo logins that still have it."""

from __future__ import annotations

import io

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from crm.models import User
from seeds.checks import PUBLISHED_DEMO_PASSWORD_ID
from seeds.demo_loader import DEFAULT_DEMO_PASSWORD

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):  # type: ignore[no-untyped-def]
    """The demo writes evidence files (the ledger demo): kept in a directory of the test's own."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


def seed(**options):  # type: ignore[no-untyped-def]
    out = io.StringIO()
    with translation.override("en"):
        call_command("seed", stdout=out, **options)
    return out.getvalue()


def deploy_errors() -> list[str]:
    return [m.id for m in run_checks(include_deployment_checks=True) if m.id == PUBLISHED_DEMO_PASSWORD_ID]


def test_seed_demo_refuses_the_published_password_with_debug_off(settings, monkeypatch):
    settings.DEBUG = False
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="--allow-published-password"):
        seed(demo=True)
    assert not User.objects.filter(username__startswith="demo").exists()


def test_seed_demo_with_debug_off_runs_with_a_password_of_ones_own(settings, monkeypatch):
    settings.DEBUG = False
    monkeypatch.setenv("DEMO_PASSWORD", "a-private-demo-pw-1")
    output = seed(demo=True)
    assert "$DEMO_PASSWORD" in output and DEFAULT_DEMO_PASSWORD not in output
    assert User.objects.get(username="demo").check_password("a-private-demo-pw-1")
    assert deploy_errors() == []


def test_seed_demo_with_debug_on_or_the_flag_creates_the_published_logins(settings, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    settings.DEBUG = False
    output = seed(demo=True, allow_published_password=True)
    assert output.rstrip().splitlines()[-1].startswith(f"Demo login: demo / {DEFAULT_DEMO_PASSWORD}")
    settings.DEBUG = True
    seed(demo=True)  # allowed without the flag, and idempotent
    assert User.objects.get(username="demo").check_password(DEFAULT_DEMO_PASSWORD)


def test_deploy_check_flags_demo_logins_with_the_published_password(monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    assert deploy_errors() == []  # a clean database: nothing to report
    seed(demo=True, allow_published_password=True)
    messages = [m for m in run_checks(include_deployment_checks=True) if m.id == PUBLISHED_DEMO_PASSWORD_ID]
    assert len(messages) == 1 and "demo-yangqu" in messages[0].msg

    for user in User.objects.filter(username__startswith="demo"):
        user.set_password("changed-after-the-demo-9")
        user.save()
    assert deploy_errors() == []


def test_deploy_check_ignores_demo_logins_that_were_deactivated(monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    seed(demo=True, allow_published_password=True)
    User.objects.filter(username__startswith="demo").update(is_active=False)
    assert deploy_errors() == []
