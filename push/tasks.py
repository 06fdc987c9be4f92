"""Celery entry points for webhooks: thin, explicitly named, safe to run twice."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from push import delivery


@shared_task(name="push.dispatch_webhooks", ignore_result=True)
def dispatch_webhooks(**kwargs: Any) -> int:
    """Beat, every second or so: one delivery task per endpoint that has something to deliver."""
    return len(delivery.webhooks_dispatch())


@shared_task(name="push.deliver_endpoint", ignore_result=True)
def deliver_endpoint(endpoint_id: str, linger: float = 0.0, **kwargs: Any) -> int:
    """Deliver what one endpoint is owed, in order, within a time budget; quiet when another worker holds it.

    ``linger``: sent by a wake-up after a commit (push.wakeup), how long to wait for
    the committed change to become visible in the feed.
    """
    return delivery.endpoint_deliver(endpoint_id=endpoint_id, linger_seconds=min(float(linger), 2.0)).delivered


@shared_task(name="push.purge_webhook_log", ignore_result=True)
def purge_webhook_log(**kwargs: Any) -> int:
    """Beat, daily: forget attempts and delivered messages older than 30 days."""
    attempts, _messages = delivery.attempts_purge()
    return attempts
