"""The first attempt follows the commit: a committed feed write wakes its endpoints' deliveries.

``crm.changes`` calls :func:`feed_committed` once per committed transaction that wrote
feed rows, with the offices whose rows it wrote. It finds the enabled endpoints that
may read them (one indexed query) and publishes a ``push.deliver_endpoint`` task for
each, and wakes the in-process dispatcher (``push.dispatcher``) if one runs here.

It is an accelerator, never the guarantee: the beat's scan (``push.dispatch_webhooks``
every ``WEBHOOK_DISPATCH_SECONDS``) finds every endpoint with work whatever happens
here. So it is cheap and cannot hurt the writer:

* it runs after the commit and never raises (the write has happened either way);
* an endpoint woken by this process less than ``WEBHOOK_WAKE_DEBOUNCE_SECONDS`` ago is
  not woken again (a burst of commits makes one task, not one per commit; the task
  running reads everything visible by then);
* publishing does not retry, and after a broker failure nothing is published for
  ``WEBHOOK_WAKE_PAUSE_SECONDS``: a broker that is down costs one failed connection
  per pause, not one per write;
* the task only ever *tries* to take the endpoint's lease: a wake-up for an endpoint a
  worker holds returns at once, and the holder keeps reading the feed until it is empty.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.db import connection

from crm.models import Office
from push.delivery import DELIVER_TASK
from push.models import WebhookEndpoint

logger = logging.getLogger(__name__)

# How long a woken task waits for the change to become visible in the feed (push.delivery).
LINGER = 0.5
# Set on every committed feed write; an in-process dispatcher waits on it between scans.
local_wake = threading.Event()

_lock = threading.Lock()
_last_woken: dict[uuid.UUID, float] = {}
_paused_until = 0.0


def endpoints_concerned(*, office_ids: Iterable[int | None]) -> list[uuid.UUID]:
    """Enabled endpoints that read feed rows of these offices (None: rows every office reads)."""
    offices = set(office_ids)
    if not offices:
        return []
    ep, office = WebhookEndpoint._meta.db_table, Office._meta.db_table
    shared = None in offices
    ids = [o for o in offices if o is not None]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT e.id FROM {ep} e JOIN {office} o ON o.id = e.office_id
            WHERE e.enabled AND (%s OR o.kind = %s OR e.office_id IN ({", ".join(["%s"] * len(ids)) or "NULL"}))
            """,
            [shared, Office.Kind.PROVINCIAL, *ids],
        )
        return [WebhookEndpoint._meta.pk.to_python(row[0]) for row in cursor.fetchall()]


def _due(endpoint_ids: Sequence[uuid.UUID], now: float) -> list[uuid.UUID]:
    debounce = float(settings.WEBHOOK_WAKE_DEBOUNCE_SECONDS)
    with _lock:
        due = [e for e in endpoint_ids if now - _last_woken.get(e, -1e9) >= debounce]
        for e in due:
            _last_woken[e] = now
        if len(_last_woken) > 10_000:  # forget endpoints long quiet
            for e, at in list(_last_woken.items()):
                if now - at > debounce:
                    del _last_woken[e]
    return due


_broker_lock = threading.Lock()
_broker: object | None = None  # this process's connection for wake-ups, with its producer


def _producer():  # type: ignore[no-untyped-def]
    global _broker
    from celery import current_app

    if _broker is None:
        # No connection retries: a broker that is down is the scan's business, not the writer's.
        conn = current_app.connection_for_write(transport_options={"max_retries": 0})
        _broker = (conn, current_app.amqp.Producer(conn))
    return _broker[1]  # type: ignore[index]


def _broker_drop() -> None:
    global _broker
    if _broker is not None:
        try:
            _broker[0].release()  # type: ignore[index]
        except Exception:  # noqa: BLE001 - it is being thrown away
            pass
    _broker = None


def _publish(endpoint_ids: Sequence[uuid.UUID]) -> None:
    global _paused_until
    from celery import current_app

    try:
        with _broker_lock:
            producer = _producer()
            for endpoint_id in endpoint_ids:
                current_app.send_task(
                    DELIVER_TASK, args=[str(endpoint_id)], kwargs={"linger": LINGER}, producer=producer, retry=False
                )
    except Exception as exc:  # noqa: BLE001 - the scan delivers; pause before the next try
        with _broker_lock:
            _broker_drop()
        _paused_until = time.monotonic() + float(settings.WEBHOOK_WAKE_PAUSE_SECONDS)
        with _lock:
            for e in endpoint_ids:
                _last_woken.pop(e, None)
        logger.warning("broker unavailable, webhook wake-ups paused (the scan delivers): %s", exc)


def feed_committed(office_ids: frozenset[int | None]) -> None:
    """After a commit that wrote feed rows of ``office_ids``: wake the deliveries of their endpoints."""
    local_wake.set()
    if not settings.WEBHOOK_WAKE_ON_COMMIT or time.monotonic() < _paused_until:
        return
    try:
        due = _due(endpoints_concerned(office_ids=office_ids), time.monotonic())
    except Exception:  # noqa: BLE001 - never the writer's problem
        logger.exception("could not look up the webhook endpoints to wake")
        return
    if due:
        _publish(due)
