"""Celery entry points for reminders, lights and the pipeline tally: thin, explicitly named, safe to run twice.

Each task translates a message into a call of :mod:`recruitment.reminders` and holds
no rule of its own. They take ids, accept (and ignore) optional arguments a newer
sender may add, and never schedule anything with an ETA or countdown: retries and
back-off live in the delivery rows, so a lost broker queue loses nothing.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from recruitment import lights_service, reminders, tally


@shared_task(name="recruitment.scan_reminders", ignore_result=True)
def scan_reminders(**kwargs: Any) -> dict[str, int]:
    """Beat, every minute: claim follow-ups that fell due and queue their sending."""
    result = reminders.reminders_scan()
    return {"claimed": result.claimed, "queued": result.queued}


@shared_task(name="recruitment.sweep_reminders", ignore_result=True)
def sweep_reminders(**kwargs: Any) -> int:
    """Beat, every few minutes: re-queue deliveries whose message or worker was lost."""
    return len(reminders.deliveries_requeue_stuck())


@shared_task(name="recruitment.send_weekly_digests", ignore_result=True)
def send_weekly_digests(**kwargs: Any) -> int:
    """Beat, weekly: record and queue each person's digest (at most one per person and week)."""
    return len(reminders.digests_claim())


@shared_task(name="recruitment.send_reminder", ignore_result=True)
def send_reminder(delivery_id: str, **kwargs: Any) -> str:
    """Send one delivery by id; returns quietly when it is gone, already sent or taken by another worker."""
    return reminders.delivery_send(delivery_id=delivery_id)


@shared_task(name="recruitment.recompute_lights", ignore_result=True)
def recompute_lights(**kwargs: Any) -> dict[str, int]:
    """Beat, nightly (and on demand): recompute every signed project's light; red ones get an order."""
    result = lights_service.lights_recompute()
    return {"evaluated": result.evaluated, "changed": len(result.changed), "orders": len(result.orders)}


@shared_task(name="recruitment.compact_pipeline_tally", ignore_result=True)
def compact_pipeline_tally(**kwargs: Any) -> None:
    """Beat, every few minutes: fold the dashboard's tally rows (safe beside writers and a second run)."""
    tally.compact()
