"""Liveness and readiness probes.

``/healthz`` answers while the process runs. ``/readyz`` checks the database and the
broker, each with a short timeout, and says which one failed. The probe is public:
it names the failing dependency and nothing more (an exception's text carries host
names, ports, user names and driver versions); the details go to the log.
"""

from __future__ import annotations

import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

logger = logging.getLogger(__name__)

UNAVAILABLE = "unavailable"


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        logger.exception("readiness: the database does not answer")
        return UNAVAILABLE
    return None


def _check_broker() -> str | None:
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception:  # noqa: BLE001
        logger.exception("readiness: the broker does not answer")
        return UNAVAILABLE
    return None


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database(), "broker": _check_broker()}
    ok = all(v is None for v in checks.values())
    body = {"status": "ok" if ok else "unavailable", "checks": {k: v or "ok" for k, v in checks.items()}}
    return JsonResponse(body, status=200 if ok else 503)
