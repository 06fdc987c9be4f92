"""Telling an office that one of its webhook endpoints was disabled (e-mail and its chat robots)."""

from __future__ import annotations

from datetime import datetime

from django.urls import NoReverseMatch, reverse

from push.models import WebhookEndpoint
from recruitment.models import ReminderDelivery
from recruitment.reminders import office_notice_record


def endpoint_disabled_notice(*, endpoint: WebhookEndpoint, reason: str, now: datetime) -> int:
    """Record the notice through the reminder outbox (sent by the next scan), once per endpoint and time."""
    try:
        link = reverse("admin:push_webhookendpoint_change", args=[endpoint.pk])
    except NoReverseMatch:
        link = ""
    note = f"{endpoint.url}\n{reason}"
    return office_notice_record(
        office_id=endpoint.office_id, kind=ReminderDelivery.Kind.WEBHOOK_DISABLED, note=note, link=link, now=now
    )
