"""Webhook delivery: signed to the Standard Webhooks spec, in feed order, nothing lost, retried, refused when private."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from crm import outbound
from crm.services import contact_delete, contact_update
from push.delivery import attempts_purge, endpoint_deliver, endpoints_with_work
from push.endpoints import endpoint_create
from push.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from recruitment.models import ReminderDelivery
from tests.push.conftest import deliver_until_idle, new_contacts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def position(entry: dict) -> tuple[int, int]:
    _generation, txid, seq = entry["cursor"].split(".")
    return int(txid), int(seq)


def drain(api, after=None) -> tuple[list[dict], str]:  # type: ignore[no-untyped-def]
    from tests.api.conftest import wait_for_feed_horizon

    wait_for_feed_horizon()
    entries: list[dict] = []
    while True:
        body = api.get("changes/", limit=1000, **({"after": after} if after else {})).json()
        entries += body["results"]
        after = body["next"]
        if not body["results"]:
            return entries, after


# Most tests watch contacts only: the enterprise they hang on was written just before the endpoint
# was registered, and an endpoint starts below every transaction still running in the cluster
# (nothing committed after registration is missed), so it may or may not get that enterprise.
CONTACTS = ("contact.upsert", "contact.delete")


def register(api, receiver, events=CONTACTS) -> dict:  # type: ignore[no-untyped-def]
    r = api.post("webhook-endpoints/", {"url": receiver.url, "events": list(events), "description": "CRM"})
    assert r.status_code == 201, r.content
    return r.json()


def test_receiver_verifies_every_signature_and_gets_every_change_of_its_office_in_feed_order(
    api_a, office_a, office_b, enterprise, receiver
):
    created = register(api_a, receiver, events=["*"])
    assert created["secret"].startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    start = (endpoint.cursor_txid, endpoint.cursor_seq)
    contacts = new_contacts(office_a, enterprise, 5)
    others = {str(c.pk) for c in new_contacts(office_b, enterprise, 3, prefix="别的办公室")}  # never sent
    contact_update(contact=contacts[0], name="改名")
    contact_delete(contact=contacts[1])
    contact_update(contact=contacts[2], title="总经理")

    deliver_until_idle(created["id"])

    verifier = Webhook(created["secret"])
    got = receiver.accepted()
    for request in got:
        verifier.verify(request.body, request.headers)  # raises on a bad signature
    feed, _next = drain(api_a)
    expected = [e for e in feed if position(e) > start]
    assert [r.entry for r in got] == expected  # exactly what changes/ renders, in its order
    assert len({r.webhook_id for r in got}) == len(got)
    assert not others & {r.entry["id"] for r in got}
    assert {r.entry["op"] for r in got} == {"upsert", "delete"}


def test_an_endpoint_gets_only_the_events_it_subscribed(api_a, office_a, enterprise, receiver):
    created = register(api_a, receiver, events=["contact.delete"])
    contacts = new_contacts(office_a, enterprise, 3)
    contact_delete(contact=contacts[0])
    deliver_until_idle(created["id"])
    assert [(r.entry["type"], r.entry["op"], r.entry["id"]) for r in receiver.accepted()] == [
        ("contact", "delete", str(contacts[0].pk))
    ]


def test_a_tampered_body_fails_the_standard_verifier(api_a, office_a, enterprise, receiver):
    created = register(api_a, receiver)
    new_contacts(office_a, enterprise, 1)
    deliver_until_idle(created["id"])
    request = receiver.accepted()[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(request.body.replace(b'"upsert"', b'"delete"'), request.headers)


def test_receiver_down_72_hours_then_up_loses_nothing_and_retries_keep_their_webhook_id(
    api_a, office_a, enterprise, receiver
):
    created = register(api_a, receiver)
    up = {"value": False}
    receiver.answer = lambda r: (200, {}) if up["value"] else (503, {})
    start = timezone.now()
    contacts = new_contacts(office_a, enterprise, 3)
    with time_machine.travel(start, tick=True) as clock:
        hours = 0.0
        while hours < 72:
            # Records keep changing while the receiver is down.
            contact_update(contact=contacts[int(hours) % 3], title=f"第{int(hours)}小时")
            deliver_until_idle(created["id"], wait=hours == 0)
            hours += 3
            clock.move_to(start + timedelta(hours=hours))
        endpoint = WebhookEndpoint.objects.get(pk=created["id"])
        assert endpoint.enabled and endpoint.failing_since is not None
        failures = [r for r in receiver.received if r.status == 503]  # type: ignore[attr-defined]
        assert len(failures) >= 8
        assert len({r.webhook_id for r in failures}) == 1  # the head of the queue, retried, never skipped
        assert len({r.body for r in failures}) == 1
        up["value"] = True
        # Past the last retry's latest time (an attempt at hour 72 + 10 h + 20 % jitter).
        clock.move_to(start + timedelta(hours=85))
        deliver_until_idle(created["id"])

    got = receiver.accepted()
    feed, _next = drain(api_a)
    ours = {str(c.pk) for c in contacts}
    latest = {e["id"]: e["data"]["version"] for e in feed if e["id"] in ours}
    seen: dict[str, int] = {}
    for request in got:
        entry = request.entry
        version = entry["data"]["version"]
        assert version >= seen.get(entry["id"], 0)  # never backwards
        seen[entry["id"]] = version
    assert seen == latest  # 0 lost: every record's last state arrived
    assert [position(r.entry) for r in got] == sorted(position(r.entry) for r in got)
    first_failed = failures[0].webhook_id
    assert first_failed in {r.webhook_id for r in got}  # the same id finally accepted
    assert WebhookEndpoint.objects.get(pk=created["id"]).failing_since is None


def test_retry_after_is_honoured(api_a, office_a, enterprise, receiver):
    created = register(api_a, receiver)
    receiver.answer = lambda r: (429, {"Retry-After": "7200"})
    new_contacts(office_a, enterprise, 1)
    deliver_until_idle(created["id"])
    message = WebhookMessage.objects.filter(endpoint_id=created["id"]).order_by("txid", "seq").first()
    assert message.state == "pending"
    assert message.next_attempt_at >= timezone.now() + timedelta(seconds=7100)
    assert endpoint_deliver(endpoint_id=created["id"]).delivered == 0  # not before its time
    assert len(receiver.received) == 1


def test_410_gone_disables_the_endpoint(api_a, office_a, enterprise, receiver):
    created = register(api_a, receiver)
    receiver.answer = lambda r: (410, {})
    new_contacts(office_a, enterprise, 2)
    deliver_until_idle(created["id"])
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    assert len(receiver.received) == 1
    assert endpoint.pk not in endpoints_with_work()
    assert WebhookMessage.objects.filter(endpoint=endpoint, state="pending").count() == 2  # kept, not lost


def test_an_endpoint_failing_for_five_days_is_disabled_and_its_office_notified(api_a, office_a, enterprise, receiver):
    created = register(api_a, receiver)
    receiver.answer = lambda r: (500, {})
    new_contacts(office_a, enterprise, 1)
    start = timezone.now()
    with time_machine.travel(start, tick=True) as clock:
        for hour in range(0, 24 * 6, 6):
            clock.move_to(start + timedelta(hours=hour))
            deliver_until_idle(created["id"], wait=hour == 0)
            if not WebhookEndpoint.objects.get(pk=created["id"]).enabled:
                break
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert not endpoint.enabled
    assert timedelta(days=5) <= endpoint.updated_at - start or endpoint.disabled_reason.startswith("Every")
    notice = ReminderDelivery.objects.get(kind="webhook_disabled", office=office_a, channel="email")
    assert endpoint.url in notice.note
    assert str(endpoint.pk) in notice.link


def test_a_rotated_secret_keeps_the_old_one_valid_for_the_grace_period(api_a, office_a, enterprise, receiver):
    created = register(api_a, receiver)
    rotated = api_a.post(f"webhook-endpoints/{created['id']}/rotate-secret/")
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != created["secret"]
    new_contacts(office_a, enterprise, 1)
    deliver_until_idle(created["id"])
    request = receiver.accepted()[0]
    assert request.headers["webhook-signature"].count("v1,") == 2
    Webhook(created["secret"]).verify(request.body, request.headers)
    Webhook(new_secret).verify(request.body, request.headers)
    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=True):
        new_contacts(office_a, enterprise, 1, prefix="再")
        deliver_until_idle(created["id"])
        later = receiver.accepted()[1]
        assert later.headers["webhook-signature"].count("v1,") == 1


def test_attempts_are_listed_and_purged_after_30_days(api_a, office_a, enterprise, receiver):
    created = register(api_a, receiver)
    answers = iter([(500, {}), (200, {})])
    receiver.answer = lambda r: next(answers)
    new_contacts(office_a, enterprise, 1)
    deliver_until_idle(created["id"])
    WebhookMessage.objects.update(next_attempt_at=timezone.now())
    deliver_until_idle(created["id"])
    listed = api_a.get(f"webhook-endpoints/{created['id']}/attempts/").json()["results"]
    assert [(a["outcome"], a["status_code"]) for a in listed] == [("succeeded", 200), ("failed", 500)]
    assert listed[0]["webhook_id"] == listed[1]["webhook_id"]
    assert attempts_purge(now=timezone.now() + timedelta(days=29)) == (0, 0)
    assert attempts_purge(now=timezone.now() + timedelta(days=31)) == (2, 1)
    assert not WebhookAttempt.objects.exists()


def test_replay_sends_a_delivered_message_again_with_the_same_webhook_id(api_a, office_a, enterprise, receiver):
    from push.endpoints import endpoint_replay_since

    created = register(api_a, receiver)
    new_contacts(office_a, enterprise, 2)
    deliver_until_idle(created["id"])
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert endpoint_replay_since(endpoint=endpoint, since=timezone.now() - timedelta(hours=1)) == 2
    deliver_until_idle(created["id"])
    got = receiver.accepted()
    assert [r.webhook_id for r in got[2:]] == [r.webhook_id for r in got[:2]]


# --- SSRF -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["10.0.0.5", "192.168.1.10", "172.16.0.1", "169.254.169.254", "100.64.0.1", "::1", "fd00:ec2::254", "0.0.0.0"],
)
def test_a_private_address_is_refused_at_registration(api_a, address, monkeypatch):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: [ipaddress.ip_address(address)])
    r = api_a.post("webhook-endpoints/", {"url": "https://hooks.partner.example/in", "events": ["*"]})
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert (error["attr"], error["code"]) == ("url", "private_address")
    assert not WebhookEndpoint.objects.exists()


def test_loopback_is_refused_unless_allow_listed(api_a, receiver, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    r = api_a.post("webhook-endpoints/", {"url": receiver.url, "events": ["*"]})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "private_address"


def test_plain_http_is_refused_to_a_public_address(api_a, monkeypatch):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: [ipaddress.ip_address("93.184.216.34")])
    r = api_a.post("webhook-endpoints/", {"url": "http://hooks.partner.example/in", "events": ["*"]})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "https_required"


def test_a_dns_change_to_a_private_address_after_registration_is_refused_at_delivery(
    office_a, enterprise, receiver, monkeypatch
):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: [ipaddress.ip_address("93.184.216.34")])
    endpoint, _secret = endpoint_create(office=office_a, url="https://hooks.partner.example/in", events=CONTACTS)
    monkeypatch.setattr(outbound, "resolve", lambda host, port: [ipaddress.ip_address("10.1.2.3")])
    new_contacts(office_a, enterprise, 1)
    deliver_until_idle(endpoint.pk)
    attempt = WebhookAttempt.objects.get(endpoint=endpoint)
    assert attempt.outcome == "failed" and attempt.error.startswith("refused")
    assert attempt.status_code is None
    assert WebhookMessage.objects.get(endpoint=endpoint).state == "pending"


def test_delivery_connects_to_the_checked_address_not_to_a_new_lookup(office_a, enterprise, receiver, monkeypatch):
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list:
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(outbound, "resolve", resolve)
    url = f"http://receiver.partner.test:{receiver.port}/hooks"
    endpoint, _secret = endpoint_create(office=office_a, url=url, events=CONTACTS)
    new_contacts(office_a, enterprise, 2)
    deliver_until_idle(endpoint.pk)
    got = receiver.accepted()
    assert len(got) == 2
    assert got[0].headers["host"] == f"receiver.partner.test:{receiver.port}"
    # Registration, then once for the deliveries that follow within OutboundSession.RECHECK_SECONDS.
    assert lookups.count("receiver.partner.test") == 1 + 1


def test_a_session_checks_the_url_again_once_its_check_is_older_than_the_recheck_period(receiver, monkeypatch):
    answers = iter(["127.0.0.1", "10.1.2.3"])
    monkeypatch.setattr(outbound, "resolve", lambda host, port: [ipaddress.ip_address(next(answers))])
    url = f"http://receiver.partner.test:{receiver.port}/hooks"
    with outbound.OutboundSession() as session:
        session.RECHECK_SECONDS = 0
        assert session.post(url, b"{}", {}).status == 200
        with pytest.raises(outbound.AddressRefused):
            session.post(url, b"{}", {})  # DNS now says 10.1.2.3
    assert len(receiver.accepted()) == 1


def test_a_dead_endpoint_does_not_delay_another(office_a, enterprise, receiver, settings):
    import socket

    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts connections, never answers
    dead, _s = endpoint_create(office=office_a, url=f"http://127.0.0.1:{silent.getsockname()[1]}/", events=CONTACTS)
    live, _s = endpoint_create(office=office_a, url=receiver.url, events=CONTACTS)
    new_contacts(office_a, enterprise, 3)
    from tests.api.conftest import wait_for_feed_horizon

    wait_for_feed_horizon()
    assert endpoint_deliver(endpoint_id=dead.pk).failed == 1
    assert endpoint_deliver(endpoint_id=live.pk).delivered == 3
    silent.close()
    counts = defaultdict(int)
    for m in WebhookMessage.objects.all():
        counts[(m.endpoint_id, m.state)] += 1
    assert counts[(dead.pk, "pending")] == 3 and counts[(live.pk, "delivered")] == 3


def test_another_offices_enterprise_arrives_as_changes_shows_it_without_their_external_id(
    api_a, office_a, office_b, receiver
):
    from crm.services import enterprise_create

    endpoint, _secret = endpoint_create(office=office_a, url=receiver.url, events=["enterprise.upsert"])
    theirs = enterprise_create(office=office_b, name="阳曲新材料有限公司", external_id="B-ENT-1")
    deliver_until_idle(endpoint.pk)
    got = [r.entry for r in receiver.accepted() if r.entry["id"] == str(theirs.pk)]
    assert len(got) == 1 and got[0]["data"]["external_id"] is None
    feed, _next = drain(api_a)
    shown = next(e for e in feed if e["id"] == str(theirs.pk))
    assert got[0]["data"] == shown["data"]  # exactly as changes/ renders it for office A
