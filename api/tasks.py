"""Celery entry points of the API: daily housekeeping, thin and safe to run twice."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from api.feed import change_feed_purge
from api.idempotency import idempotency_purge


@shared_task(name="api.purge_expired", ignore_result=True)
def purge_expired(**kwargs: Any) -> dict[str, Any]:
    """Beat, daily: forget idempotency keys older than a day and change-feed tombstones
    older than the retention period (cursors from before then answer 410)."""
    purged = change_feed_purge()
    return {"idempotency_records": idempotency_purge(), "feed_mark": purged.encode() if purged else None}
