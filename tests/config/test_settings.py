"""Production settings refuse to start without a real secret; the environment readers fail loudly."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from whitenoise.middleware import WhiteNoiseMiddleware

from config.env import env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


def _start(env: dict[str, str], code: str = "") -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _start({"DJANGO_SETTINGS_MODULE": "config.settings"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_production_refuses_a_weak_secret_key():
    result = _start({"DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "too weak" in result.stderr


def test_production_starts_with_a_real_secret_key():
    result = _start({"DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_SECRET_KEY": "k" * 64})
    assert result.returncode == 0, result.stderr


def test_debug_mode_starts_without_a_secret_key():
    result = _start({"DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "1"})
    assert result.returncode == 0, result.stderr


def test_env_readers_name_the_variable_on_bad_values(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        env_bool("SOME_FLAG")
    monkeypatch.setenv("SOME_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="SOME_NUMBER"):
        env_int("SOME_NUMBER", 1)
    monkeypatch.setenv("SOME_LIST", "a, b,,c")
    assert env_list("SOME_LIST") == ["a", "b", "c"]


def test_default_language_and_time_zone(settings):
    assert settings.LANGUAGE_CODE == "zh-hans"
    assert settings.TIME_ZONE == "Asia/Shanghai"
    assert [code for code, _ in settings.LANGUAGES] == ["zh-hans", "en"]


def test_test_settings_give_whitenoise_nothing_to_warn_about(client):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        WhiteNoiseMiddleware(get_response=lambda request: None)
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200  # found in the apps, nothing collected


def test_production_static_files_come_only_from_the_collected_root():
    result = _start(
        {"DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_SECRET_KEY": "k" * 64},
        code="from django.conf import settings; "
        "print(getattr(settings, 'WHITENOISE_AUTOREFRESH', settings.DEBUG), settings.WHITENOISE_USE_FINDERS)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_sessions_start_with_jit_off_and_dear_parallel_workers():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
        cursor.execute("SHOW parallel_setup_cost")
        assert cursor.fetchone()[0] == "10000"


def test_postgres_start_up_options_come_from_the_environment():
    code = "from django.conf import settings; print(repr(settings.DATABASES['default'].get('OPTIONS', {})))"
    base = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "k" * 64,
        "DATABASE_URL": "postgres://u@db.example:5432/x",
    }
    assert "'options': '-c jit=off -c parallel_setup_cost=10000'" in _start(base, code).stdout
    assert "options" not in _start({**base, "DATABASE_PG_OPTIONS": ""}, code).stdout
