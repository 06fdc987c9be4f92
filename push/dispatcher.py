"""The dispatcher in one process: scan for endpoints with work, deliver each in a thread of its own.

The same leases as the Celery tasks (``push.deliver_endpoint``), so it can run beside
workers safely. Used by ``manage.py deliver_webhooks`` (a deployment that wants
sub-second latency without a one-second beat) and by the P12 benchmark.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import close_old_connections, connection

from push.delivery import endpoint_deliver, endpoints_with_work
from push.wakeup import local_wake

EAGER_SECONDS = 5.0


def _deliver(endpoint_id: object) -> int:
    try:
        return endpoint_deliver(endpoint_id=endpoint_id).delivered
    finally:
        connection.close()


def dispatcher_run(
    *, workers: int = 4, poll: float = 0.5, once: bool = False, stop: threading.Event | None = None
) -> int:
    """Run until ``stop`` is set (or, with ``once``, until nothing is due); how many messages were delivered."""
    running: dict[object, Future] = {}
    eager_until = 0.0
    delivered = 0
    stop = stop or threading.Event()
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        while not stop.is_set():
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
            # Until the next scan, or sooner when a feed write commits in this process (push.wakeup);
            # then scan often for a moment: the change shows in the feed once every older
            # transaction has ended, usually within milliseconds of its commit.
            if local_wake.wait(0.05 if time.monotonic() < eager_until else poll):
                local_wake.clear()
                eager_until = time.monotonic() + EAGER_SECONDS
        for future in running.values():
            delivered += future.result()
    connection.close()
    return delivered
