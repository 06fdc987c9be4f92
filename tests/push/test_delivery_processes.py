"""A delivery worker killed with SIGKILL mid-delivery loses nothing; a duplicate is only a redelivery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from push.endpoints import endpoint_create
from push.models import WebhookMessage
from tests.api.conftest import wait_for_feed_horizon
from tests.push.conftest import deliver_until_idle, new_contacts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _worker_env() -> dict[str, str]:
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1",
    }


def test_a_worker_killed_during_delivery_loses_nothing_and_only_redelivers_with_the_same_webhook_id(
    office_a, enterprise, receiver
):
    endpoint, secret = endpoint_create(office=office_a, url=receiver.url, events=["*"])
    contacts = new_contacts(office_a, enterprise, 30)
    wait_for_feed_horizon()
    # The receiver takes the first 12 requests at once, then keeps the 13th waiting (the kill comes then).
    stuck = threading.Event()
    release = threading.Event()

    def answer(request):  # type: ignore[no-untyped-def]
        if len(receiver.received) == 12:
            stuck.set()
            release.wait(30)
        return 200, {}

    receiver.answer = answer
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "deliver_webhooks", "--once", "--poll", "0.1"],
        cwd=ROOT,
        env=_worker_env(),
        start_new_session=True,
    )
    try:
        assert stuck.wait(120), "the worker never got to the 13th delivery"
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        release.set()
    receiver.answer = lambda r: (200, {})
    # The dead worker's lease runs out; the next worker takes the endpoint over.
    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=True):
        deliver_until_idle(endpoint.pk)

    got = receiver.accepted()
    verifier = Webhook(secret)
    for request in got:
        verifier.verify(request.body, request.headers)
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in got:
        bodies[request.webhook_id].add(request.body)
    assert all(len(b) == 1 for b in bodies.values())  # a duplicate is the same message, same id
    messages = list(WebhookMessage.objects.filter(endpoint=endpoint).order_by("txid", "seq"))
    assert {str(c.pk) for c in contacts} <= {str(m.object_id) for m in messages}
    assert {m.webhook_id for m in messages} == set(bodies)  # nothing lost
    assert all(m.state == "delivered" for m in messages)
    first_seen = list(dict.fromkeys(r.webhook_id for r in got))
    assert first_seen == [m.webhook_id for m in messages]  # in feed order
