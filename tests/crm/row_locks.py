"""Probing, from another connection, which row locks a transaction holds."""

from __future__ import annotations

import threading

from django.db import OperationalError, connection, models, transaction


def lock_would_wait(model: type[models.Model], pk: object, *, mode: str) -> bool:
    """Whether another transaction asking ``FOR <mode>`` on the row would have to wait.

    ``KEY SHARE`` is what a foreign-key check of a row referring to it takes;
    ``NO KEY UPDATE`` what another writer of the row takes. Runs in a thread, so on
    its own connection: the rows must be committed (``django_db(transaction=True)``).
    """
    outcome: list[bool] = []

    def probe() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SELECT 1 FROM {model._meta.db_table} WHERE id = %s FOR {mode} NOWAIT", [pk])
            outcome.append(False)
        except OperationalError:
            outcome.append(True)
        finally:
            connection.close()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return outcome[0]
