"""Celery entry points of the ledger: thin, explicitly named, safe to run twice."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from ledger import reminders


@shared_task(name="ledger.remind_ledger_deadline", ignore_result=True)
def remind_ledger_deadline(**kwargs: Any) -> int:
    """Beat, daily: remind the managers of park offices that have not submitted the month before its deadline."""
    return len(reminders.ledger_reminders_claim())
