"""Point the Celery app of the test process at another broker, as if it had started with it.

Celery builds its connection and producer pools once, from the broker URL of that
moment; changing ``conf.broker_url`` afterwards would leave earlier pools publishing
to the old broker. Each change here drops them, so the next publish connects anew.
"""

from __future__ import annotations

from config.celery import app as celery_app


def use_broker(url: str) -> None:
    for pool in (celery_app._pool, getattr(celery_app.amqp, "_producer_pool", None)):
        if pool is not None:
            try:
                pool.force_close_all()
            except Exception:  # noqa: BLE001 - a pool of a broker that is gone
                pass
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app.conf.broker_url = url
