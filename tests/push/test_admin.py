"""Webhook endpoints in the admin: the same checks as the API, the secret shown once."""

from __future__ import annotations

import pytest

from push.models import WebhookEndpoint
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_manager_registers_an_endpoint_and_sees_its_secret_once(client, park_office, receiver):
    manager = UserFactory(office=park_office, is_staff=True, is_manager=True)
    client.force_login(manager)
    assert client.get("/admin/push/webhookendpoint/").status_code == 200
    r = client.post(
        "/admin/push/webhookendpoint/add/",
        {"url": receiver.url, "events": ["contact.upsert"], "description": "CRM", "enabled": "on"},
        follow=True,
    )
    assert r.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.office == park_office and endpoint.events == ["contact.upsert"]
    assert "whsec_" in r.content.decode()
    assert "whsec_" not in client.get(f"/admin/push/webhookendpoint/{endpoint.pk}/change/").content.decode()


def test_the_admin_refuses_a_private_address_on_the_url_field(client, park_office, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    manager = UserFactory(office=park_office, is_staff=True, is_manager=True)
    client.force_login(manager)
    r = client.post("/admin/push/webhookendpoint/add/", {"url": "https://127.0.0.1/hook", "events": ["*"]})
    assert r.status_code == 200 and not WebhookEndpoint.objects.exists()
    assert "127.0.0.1" in r.context["adminform"].form.errors["url"][0]
