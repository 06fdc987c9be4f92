"""The Celery application and the one beat schedule.

Tasks are discovered in each app's ``tasks.py``. The periodic schedule is defined
here, in code, and nowhere else; beat runs django-celery-beat's database scheduler,
so the schedule is also editable in the admin (Periodic tasks). On start, beat
creates the entries that are missing from the database and leaves existing ones
alone: an interval changed in the admin survives a restart, and a new entry added
here appears without a migration. ``beat_schedule_sync(reset=True)`` puts the
code's values back.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("chain_recruit")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def beat_schedule() -> dict[str, dict[str, Any]]:
    """The periodic tasks: name → task, and either ``every`` (seconds) or ``crontab`` (5 fields)."""
    from django.conf import settings

    scan = int(settings.REMINDER_SCAN_SECONDS)
    return {
        "recruitment.scan_reminders": {
            "task": "recruitment.scan_reminders",
            "every": scan,
            # A scan nobody ran in time is useless: the next one does the same work.
            "expire_seconds": max(scan, 1),
            "description": "Claim follow-ups that fell due or overdue and queue their reminders.",
        },
        "recruitment.sweep_reminders": {
            "task": "recruitment.sweep_reminders",
            "every": int(settings.REMINDER_SWEEP_SECONDS),
            "expire_seconds": max(int(settings.REMINDER_SWEEP_SECONDS), 1),
            "description": "Re-queue reminders whose message or worker was lost.",
        },
        "recruitment.send_weekly_digests": {
            "task": "recruitment.send_weekly_digests",
            "crontab": settings.REMINDER_DIGEST_CRONTAB,
            "description": "Each person's weekly digest: open follow-ups and stale projects.",
        },
        "push.dispatch_webhooks": {
            "task": "push.dispatch_webhooks",
            "every": int(settings.WEBHOOK_DISPATCH_SECONDS),
            "expire_seconds": max(int(settings.WEBHOOK_DISPATCH_SECONDS), 1),
            "description": "Queue one delivery task per webhook endpoint with changes or retries due.",
        },
        "push.purge_webhook_log": {
            "task": "push.purge_webhook_log",
            "crontab": "45 3 * * *",
            "description": "Forget webhook attempts and delivered messages older than 30 days (daily, 03:45).",
        },
        "recruitment.compact_pipeline_tally": {
            "task": "recruitment.compact_pipeline_tally",
            "every": int(settings.PIPELINE_TALLY_COMPACT_SECONDS),
            "expire_seconds": max(int(settings.PIPELINE_TALLY_COMPACT_SECONDS), 1),
            "description": "Fold the dashboard's pipeline tally to one row per key (PostgreSQL).",
        },
        "recruitment.recompute_lights": {
            "task": "recruitment.recompute_lights",
            "crontab": settings.LIGHTS_RECOMPUTE_CRONTAB,
            "description": "Recompute the warning lights of signed projects; red ones get a supervision order.",
        },
        "ledger.remind_ledger_deadline": {
            "task": "ledger.remind_ledger_deadline",
            "crontab": settings.LEDGER_REMINDER_CRONTAB,
            "description": "Remind park offices that have not submitted the monthly ledger before its deadline.",
        },
        "api.purge_expired": {
            "task": "api.purge_expired",
            "crontab": "30 3 * * *",
            "description": "Forget expired idempotency keys and old change-feed tombstones (daily, 03:30).",
        },
    }


def beat_schedule_sync(*, reset: bool = False) -> list[str]:
    """Create the missing periodic tasks of :func:`beat_schedule` (all of them with ``reset``).

    Safe when two beats start at once: the task name is unique, and the loser of a
    race finds the winner's row.
    """
    from django.conf import settings
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    written: list[str] = []
    for name, spec in beat_schedule().items():
        if not reset and PeriodicTask.objects.filter(name=name).exists():
            continue
        fields: dict[str, Any] = {
            "task": spec["task"],
            "description": spec.get("description", ""),
            "expire_seconds": spec.get("expire_seconds"),
            "enabled": True,
            "interval": None,
            "crontab": None,
        }
        if "every" in spec:
            fields["interval"] = IntervalSchedule.objects.filter(
                every=spec["every"], period=IntervalSchedule.SECONDS
            ).order_by("pk").first() or IntervalSchedule.objects.create(
                every=spec["every"], period=IntervalSchedule.SECONDS
            )
        else:
            minute, hour, day_of_month, month_of_year, day_of_week = spec["crontab"].split()
            crontab = {
                "minute": minute,
                "hour": hour,
                "day_of_month": day_of_month,
                "month_of_year": month_of_year,
                "day_of_week": day_of_week,
                "timezone": settings.TIME_ZONE,
            }
            # Not get_or_create: two beats may both create one (nothing makes it unique),
            # and get_or_create would then fail on every later start.
            fields["crontab"] = CrontabSchedule.objects.filter(**crontab).order_by(
                "pk"
            ).first() or CrontabSchedule.objects.create(**crontab)
        try:
            with transaction.atomic():
                PeriodicTask.objects.update_or_create(name=name, defaults=fields)
        except (IntegrityError, ValidationError):
            # Another beat created it a moment ago: the database's unique name refuses
            # the second row, or PeriodicTask.save()'s own validate_unique sees it first.
            continue
        written.append(name)
    return written


@functools.cache
def _schedule_from_code() -> type:
    from django_celery_beat.schedulers import DatabaseScheduler

    class ScheduleFromCode(DatabaseScheduler):
        """django-celery-beat's scheduler, seeded from :func:`beat_schedule` before its first read."""

        def setup_schedule(self) -> None:
            beat_schedule_sync()
            super().setup_schedule()

    ScheduleFromCode.__qualname__ = "ScheduleFromCode"
    ScheduleFromCode.__module__ = __name__
    return ScheduleFromCode


def __getattr__(name: str) -> Any:
    # The scheduler class needs Django's models, which are not ready when settings
    # import this module; beat looks it up by name ("config.celery:ScheduleFromCode")
    # once Django is set up, and only then is it built.
    if name == "ScheduleFromCode":
        return _schedule_from_code()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
