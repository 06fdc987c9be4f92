"""Per-key rate limit (429 with ``Retry-After``) that never takes the API down with it.

A fixed window per key counted in a shared cache (Redis when configured). The
cache is a courtesy, not a dependency: when it fails the counter falls back to
this process's memory for a while (a circuit breaker, so a dead Redis costs one
short timeout, not one per request) and the API keeps answering.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.throttling import BaseThrottle

from api.models import ApiKey

logger = logging.getLogger(__name__)

# After a failure of the shared cache, use the local counter for this long.
BREAKER_SECONDS = 30.0
_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/min"`` → (600, 60)."""
    count, _sep, period = rate.partition("/")
    return int(count), _PERIODS[period.strip().lower()]


class _Counter:
    """Increment-and-read on the shared cache, or on a local one while it is down."""

    def __init__(self) -> None:
        self._local = LocMemCache("api-throttle-local", {"OPTIONS": {"MAX_ENTRIES": 100_000}})
        self._down_until = 0.0
        self._lock = threading.Lock()

    def reset(self) -> None:
        self._down_until = 0.0
        self._local.clear()

    def incr(self, key: str, ttl: int) -> int:
        if time.monotonic() >= self._down_until:
            alias = getattr(settings, "API_THROTTLE_CACHE", "default")
            try:
                return self._incr(caches[alias if alias in settings.CACHES else "default"], key, ttl)
            except Exception as exc:  # noqa: BLE001 - any cache failure: count locally instead
                self._down_until = time.monotonic() + BREAKER_SECONDS
                logger.warning("API throttle cache unavailable (%s); counting per process for a while", exc)
        with self._lock:
            return self._incr(self._local, key, ttl)

    @staticmethod
    def _incr(cache, key: str, ttl: int) -> int:  # type: ignore[no-untyped-def]
        if cache.add(key, 1, ttl):
            return 1
        try:
            return int(cache.incr(key))
        except ValueError:  # expired between add and incr
            cache.add(key, 1, ttl)
            return 1


counter = _Counter()


class ApiKeyRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait = 0.0

    def allow_request(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        limit, period = parse_rate(settings.API_THROTTLE_RATE)
        now = time.time()
        window = int(now // period)
        count = counter.incr(f"api-throttle:{api_key.pk}:{window}", period + 1)
        if count > limit:
            self._wait = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float:
        return float(max(1, math.ceil(self._wait)))
