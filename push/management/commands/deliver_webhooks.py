"""``deliver_webhooks [--once] [--workers N] [--poll SECONDS]``: the dispatcher in one process.

Without Celery (or next to it): scans for endpoints with work and delivers each in
a thread of its own, with the same leases as the tasks, so it can run beside
workers safely. ``--once`` stops when nothing is left to deliver right now.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection

from push.delivery import endpoint_deliver, endpoints_with_work


def _deliver(endpoint_id: object) -> int:
    try:
        return endpoint_deliver(endpoint_id=endpoint_id).delivered
    finally:
        connection.close()


class Command(BaseCommand):
    help = "Deliver webhooks: scan for endpoints with work and deliver each in its own thread."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="Stop when nothing is left to deliver now.")
        parser.add_argument("--workers", type=int, default=4)
        parser.add_argument("--poll", type=float, default=0.5, help="Seconds between scans.")

    def handle(self, *args: Any, once: bool, workers: int, poll: float, **options: Any) -> None:
        running: dict[object, Future] = {}
        delivered = 0
        with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
            while True:
                close_old_connections()
                for endpoint_id, future in list(running.items()):
                    if future.done():
                        delivered += future.result()
                        del running[endpoint_id]
                ids = [e for e in endpoints_with_work() if e not in running]
                for endpoint_id in ids:
                    running[endpoint_id] = pool.submit(_deliver, endpoint_id)
                if once and not ids and not running:
                    break
                time.sleep(poll)
        self.stdout.write(f"delivered {delivered}")
