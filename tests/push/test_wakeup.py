"""A committed feed write wakes the deliveries of the endpoints that read it, and never hurts the write."""

from __future__ import annotations

import pytest
from celery import current_app
from django.db import transaction

from crm.models import Contact
from crm.services import contact_create, enterprise_create
from push import wakeup
from push.endpoints import endpoint_create
from tests.brokers import use_broker

pytestmark = pytest.mark.django_db


class Woken(list):
    def __call__(self, ids):  # type: ignore[no-untyped-def]
        self.append(sorted(str(i) for i in ids))


@pytest.fixture
def woken(monkeypatch):  # type: ignore[no-untyped-def]
    calls = Woken()
    monkeypatch.setattr(wakeup, "_publish", calls)
    monkeypatch.setattr(wakeup, "_last_woken", {})
    monkeypatch.setattr(wakeup, "_paused_until", 0.0)
    return calls


@pytest.fixture
def endpoints(office_a, office_b, province, receiver):  # type: ignore[no-untyped-def]
    return {
        office.code: endpoint_create(office=office, url=receiver.url, events=["*"])[0]
        for office in (office_a, office_b, province)
    }


def test_a_commit_wakes_its_offices_endpoints_and_the_provincial_ones_once_per_transaction(
    office_a, endpoints, woken, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        enterprise = enterprise_create(office=office_a, name="太原钢科碳材料")  # shared directory: everyone
    woken.clear()
    wakeup._last_woken.clear()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            for i in range(3):
                contact_create(office=office_a, enterprise=enterprise, name=f"联系人{i}")
    assert woken == [sorted(str(endpoints[c].pk) for c in ("office-a", "province"))]


def test_a_shared_record_wakes_every_endpoint(office_a, endpoints, woken, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        enterprise_create(office=office_a, name="凯赛(太原)生物科技")
    assert woken == [sorted(str(e.pk) for e in endpoints.values())]


def test_a_rolled_back_write_wakes_nobody(office_a, endpoints, woken, django_capture_on_commit_callbacks):
    enterprise = enterprise_create(office=office_a, name="太原钢科碳材料")
    woken.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    contact_create(office=office_a, enterprise=enterprise, name="回滚的联系人")
                    raise RuntimeError
            except RuntimeError:
                pass
    assert woken == [] and not callbacks


def test_a_burst_of_commits_wakes_an_endpoint_once(office_a, endpoints, woken, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        enterprise = enterprise_create(office=office_a, name="太原钢科碳材料")
    woken.clear()
    wakeup._last_woken.clear()
    for i in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            contact_create(office=office_a, enterprise=enterprise, name=f"联系人{i}")
    assert len(woken) == 1  # the others fall within WEBHOOK_WAKE_DEBOUNCE_SECONDS


def test_a_broker_that_is_down_never_fails_the_write_and_pauses_wake_ups(
    office_a, endpoints, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        enterprise = enterprise_create(office=office_a, name="太原钢科碳材料")
    monkeypatch.setattr(wakeup, "_last_woken", {})
    monkeypatch.setattr(wakeup, "_paused_until", 0.0)
    monkeypatch.setattr(wakeup, "_broker", None)
    original = current_app.conf.broker_url
    use_broker("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        with django_capture_on_commit_callbacks(execute=True):
            contact = contact_create(office=office_a, enterprise=enterprise, name="张三")
    finally:
        use_broker(original)
    assert Contact.objects.filter(pk=contact.pk).exists()
    assert "wake-ups paused" in caplog.text
    assert wakeup._paused_until > 0
    monkeypatch.setattr(wakeup, "_broker", None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_woken_delivery_waits_briefly_for_a_change_an_older_young_transaction_holds_back(
    office_a, enterprise, receiver
):
    import threading

    from django.db import connection

    from push.delivery import endpoint_deliver
    from tests.api.conftest import wait_for_feed_horizon
    from tests.push.conftest import new_contacts

    endpoint, _secret = endpoint_create(office=office_a, url=receiver.url, events=["contact.upsert"])
    wait_for_feed_horizon()
    opened, release = threading.Event(), threading.Event()

    def hold() -> None:  # a transaction with an id, begun before the change: the feed waits for it
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_current_xact_id()")
                opened.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert opened.wait(10)
        new_contacts(office_a, enterprise, 1)
        assert endpoint_deliver(endpoint_id=endpoint.pk).delivered == 0  # not visible yet: the scan's business
        threading.Timer(0.3, release.set).start()
        assert endpoint_deliver(endpoint_id=endpoint.pk, linger_seconds=3).delivered == 1
    finally:
        release.set()
        holder.join(10)
