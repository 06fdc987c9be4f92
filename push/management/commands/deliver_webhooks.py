"""``deliver_webhooks [--once] [--workers N] [--poll SECONDS]``: the webhook dispatcher in one process."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from push.dispatcher import dispatcher_run


class Command(BaseCommand):
    help = "Deliver webhooks: scan for endpoints with work and deliver each in its own thread."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="Stop when nothing is left to deliver now.")
        parser.add_argument("--workers", type=int, default=4)
        parser.add_argument("--poll", type=float, default=0.5, help="Seconds between scans.")

    def handle(self, *args: Any, once: bool, workers: int, poll: float, **options: Any) -> None:
        delivered = dispatcher_run(workers=workers, poll=poll, once=once)
        self.stdout.write(f"delivered {delivered}")
