"""Per-key throttling: 429 with Retry-After, counted per key, and never an outage of its own."""

from __future__ import annotations

import time

import pytest

from api.throttling import parse_rate
from tests.api.conftest import api_for

pytestmark = pytest.mark.django_db


def test_a_key_over_its_rate_gets_429_with_retry_after(settings, office_a, time_machine):
    time_machine.move_to("2026-05-01T10:00:05Z", tick=False)
    settings.API_THROTTLE_RATE = "3/min"
    api, other = api_for(office_a), api_for(office_a)
    assert [api.get("parks/").status_code for _ in range(3)] == [200, 200, 200]
    r = api.get("parks/")
    assert r.status_code == 429
    assert r.json()["errors"][0]["code"] == "throttled"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert int(r.headers["Retry-After"]) == 55
    assert other.get("parks/").status_code == 200  # counted per key
    time_machine.move_to("2026-05-01T10:01:00Z", tick=False)
    assert api.get("parks/").status_code == 200


def test_the_api_keeps_answering_when_the_throttle_store_is_down(settings, office_a, time_machine, caplog):
    # Well inside one window: a minute's boundary between the requests would start a new count.
    time_machine.move_to("2026-05-01T10:00:05Z", tick=True)
    # A Redis that does not answer (nothing listens on port 1): the counter falls back to this process.
    settings.CACHES = {
        **settings.CACHES,
        "api_throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/6",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        },
    }
    settings.API_THROTTLE_CACHE = "api_throttle"
    settings.API_THROTTLE_RATE = "5/min"
    api = api_for(office_a)
    answers = [api.get("parks/").status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]  # still limited, per process
    # The shared store was tried once, then left alone (one short timeout, not one per request).
    assert caplog.text.count("API throttle cache unavailable") == 1


@pytest.mark.redis
def test_the_count_is_shared_through_redis(settings, office_a, redis_url):
    from django.core.cache import caches

    settings.CACHES = {
        **settings.CACHES,
        "api_throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url.rsplit("/", 1)[0] + "/7",
            "KEY_PREFIX": f"test-{time.time_ns()}",
        },
    }
    settings.API_THROTTLE_CACHE = "api_throttle"
    settings.API_THROTTLE_RATE = "2/min"
    api = api_for(office_a)
    assert [api.get("parks/").status_code for _ in range(3)] == [200, 200, 429]
    assert any(key for key in caches["api_throttle"]._cache.get_client().keys("*api-throttle*"))


def test_rates_parse():
    assert parse_rate("600/min") == (600, 60)
    assert parse_rate("10/s") == (10, 1)
