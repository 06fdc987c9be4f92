"""A real ``celery worker`` killed with SIGKILL mid-delivery: nothing lost, duplicates only as redeliveries.

The stack of the reminder tests (``tests/recruitment/reminder_processes.py``): the
production settings, a worker and a beat on Redis (``REMINDER_TEST_REDIS_DB`` of
TEST_REDIS_URL's server, flushed before and after) and the test database. The
receiver runs in the test process on 127.0.0.1. Lease and scan periods are
shortened through the environment; nothing else differs from the deployed stack.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from push.endpoints import endpoint_create
from push.models import WebhookMessage
from tests.api.conftest import wait_for_feed_horizon
from tests.push.conftest import new_contacts
from tests.recruitment.reminder_processes import redis_flush, reminder_redis_url, stack, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

FAST = {
    "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1",
    "WEBHOOK_DISPATCH_SECONDS": 1,
    "WEBHOOK_LEASE_SECONDS": 4,
    # The reminder machinery runs in the same worker; keep it quiet.
    "REMINDER_SCAN_SECONDS": 3600,
}


@pytest.fixture
def redis_db():  # type: ignore[no-untyped-def]
    url = reminder_redis_url()
    assert url, "TEST_REDIS_URL is set by the redis marker's check"
    redis_flush(url)
    yield url
    redis_flush(url)


def test_a_celery_worker_killed_mid_delivery_loses_nothing_and_only_redelivers_with_the_same_webhook_id(
    office_a, enterprise, receiver, redis_db, tmp_path
):
    endpoint, secret = endpoint_create(office=office_a, url=receiver.url, events=["*"])
    contacts = new_contacts(office_a, enterprise, 30)
    wait_for_feed_horizon()  # another database's open transaction can hold the feed back for minutes
    # The receiver takes 12 requests at once and holds the 13th: the worker is killed while it waits.
    stuck = threading.Event()
    release = threading.Event()

    def answer(request):  # type: ignore[no-untyped-def]
        if len(receiver.received) == 12:
            stuck.set()
            release.wait(60)
        return 200, {}

    receiver.answer = answer
    # The workers open the secrets this process sealed.
    with stack(tmp_path, redis_db, SEALING_KEYS=",".join(settings.SEALING_KEYS), **FAST) as s:
        s.worker("w1")
        s.beat("beat")
        assert stuck.wait(120), "the worker never got to the 13th delivery\n" + s.logs()
        s.kill("w1")  # SIGKILL to the worker and its pool children, mid-request
        release.set()  # the receiver gets the held request; its 2xx reaches nobody
        receiver.answer = lambda r: (200, {})
        s.worker("w2")  # the dead worker's lease runs out; the beat's scan hands the endpoint over
        wait_for(
            lambda: (
                not WebhookMessage.objects.filter(endpoint=endpoint).exclude(state="delivered").exists()
                and WebhookMessage.objects.filter(endpoint=endpoint, object_id__in=[c.pk for c in contacts]).count()
                == len(contacts)
            ),
            timeout=120,
            what="every message delivered after the restart\n" + s.logs(),
        )

    got = receiver.accepted()
    verifier = Webhook(secret)
    for request in got:
        verifier.verify(request.body, request.headers)  # every request signed, redeliveries too
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in got:
        bodies[request.webhook_id].add(request.body)
    assert all(len(b) == 1 for b in bodies.values())  # one id, one message
    messages = list(WebhookMessage.objects.filter(endpoint=endpoint).order_by("txid", "seq"))
    assert {str(c.pk) for c in contacts} <= {str(m.object_id) for m in messages}
    assert {m.webhook_id for m in messages} == set(bodies)  # nothing lost
    first_seen = list(dict.fromkeys(r.webhook_id for r in got))
    assert first_seen == [m.webhook_id for m in messages]  # in feed order
    redelivered = len(got) - len(bodies)
    assert redelivered >= 1  # the held message came again, with its webhook-id
    # A redelivery only ever repeats messages at the head of the queue when the kill came.
    assert all(r.webhook_id in bodies for r in got[len(bodies) :])
