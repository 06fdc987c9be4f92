"""The locked-month rule on every path that records a progress entry.

A progress entry for a month its office has submitted is a correction of a locked
month: it needs a reason (refused before anything is written otherwise) and gets a
:class:`~ledger.models.LedgerCorrection` mark in the same transaction.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from ledger import services
from recruitment.landing_models import ProgressEntry


@receiver(pre_save, sender=ProgressEntry, dispatch_uid="ledger_locked_month_check")
def _locked_month_check(sender: type, instance: ProgressEntry, **kwargs: Any) -> None:
    if instance._state.adding:
        services.locked_month_check(entry=instance)


@receiver(post_save, sender=ProgressEntry, dispatch_uid="ledger_locked_month_mark")
def _locked_month_mark(sender: type, instance: ProgressEntry, created: bool, **kwargs: Any) -> None:
    if created:
        services.locked_month_mark(entry=instance)
