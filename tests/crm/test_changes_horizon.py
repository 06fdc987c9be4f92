"""The feed's horizon: held back by this database's open transactions only, never by another database's."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from crm.changes import changes_visible_horizon

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _connect(dbname: str) -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname=dbname,
    )


def _open_transaction(conn: psycopg.Connection) -> int:
    return int(conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0])


def test_an_open_transaction_of_this_database_holds_the_horizon_until_it_ends():
    with _connect(connection.settings_dict["NAME"]) as ours:
        xid = _open_transaction(ours)
        assert changes_visible_horizon() <= xid  # its rows could still commit below any later position
        ours.commit()
    assert changes_visible_horizon() > xid


def test_an_open_transaction_of_another_database_does_not_hold_the_feed_back():
    with _connect("postgres") as elsewhere:
        xid = _open_transaction(elsewhere)
        with _connect(connection.settings_dict["NAME"]) as ours:
            written = _open_transaction(ours)  # a later transaction of ours, committed
            ours.commit()
        assert written > xid
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            assert cursor.fetchone()[0] <= xid  # the server-wide rule would still wait for it
        # A transaction elsewhere that ends between the snapshot and the activity read counts as
        # ours for that one read (the rule errs towards waiting): a few reads settle it.
        assert any(changes_visible_horizon() > written for _ in range(5))
        elsewhere.rollback()
