"""P3 due scan: claiming 1000 due follow-ups costs the same among 10,000 or 1,000,000 follow-ups.

The scan (claim + delivery rows, no sending) reads open follow-ups through the
partial index ``followup_open_due_idx``, which holds only open ones, so done
follow-ups and far-future ones cost nothing. Target: time(1M) / time(10k) ≤ 1.5.
For contrast, the same scan at 1M with a plain index on the due time, and with no
index at all (each measured in a transaction that is rolled back).
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from uuid_utils.compat import uuid7

DUE = 1000
REPEAT = 5


class _Rollback(Exception):
    pass


def _fixtures() -> dict[str, Any]:
    from chains.models import Park, Zone
    from crm.models import Enterprise, Office, User
    from recruitment.models import Project

    office, _ = Office.objects.get_or_create(code="bench-p3", defaults={"name": "P3 bench", "kind": "park"})
    zone, _ = Zone.objects.get_or_create(code="bench-p3", defaults={"name": "P3 bench zone"})
    park, _ = Park.objects.get_or_create(code="bench-p3", defaults={"name": "P3 bench park", "zone": zone})
    user, _ = User.objects.get_or_create(username="bench-p3", defaults={"office": office, "email": "p3@example.org"})
    enterprise, _ = Enterprise.objects.get_or_create(name="P3 bench enterprise", office=office)
    project, _ = Project.objects.get_or_create(
        title="P3 bench project", office=office, defaults={"enterprise": enterprise, "park": park}
    )
    return {"office": office, "user": user, "project": project}


def _execute(sql: str, params: list | None = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def _clear(fx: dict[str, Any]) -> None:
    _execute("DELETE FROM recruitment_reminderdelivery WHERE project_id = %s", [fx["project"].pk])
    _execute("DELETE FROM recruitment_followup WHERE office_id = %s", [fx["office"].pk])


def _unclaim(fx: dict[str, Any]) -> None:
    """Forget the last scan's claims (the pending deliveries), so the next scan claims the same 1000."""
    _execute("DELETE FROM recruitment_reminderdelivery WHERE project_id = %s AND state = 'pending'", [fx["project"].pk])
    _execute("VACUUM ANALYZE recruitment_reminderdelivery")


def _copy_followups(fx: dict[str, Any], rows: list[tuple[datetime, str]], now: datetime) -> None:
    """COPY follow-ups (due time, status) straight into the table: a million rows in seconds.

    Every done follow-up also gets the sent reminder it had, so the deliveries table
    grows with the history too, as it does in production.
    """
    from django.db import connection

    columns = (
        "id, office_id, external_id, version, created_at, updated_at, project_id, assignee_id, "
        "kind, due_at, note, status, completed_at"
    )
    office, project, user = fx["office"].pk, fx["project"].pk, fx["user"].pk
    ids = [uuid7() for _ in rows]
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY recruitment_followup ({columns}) FROM STDIN") as copy:
            for follow_up_id, (due_at, status) in zip(ids, rows, strict=True):
                copy.write_row(
                    (
                        follow_up_id,
                        office,
                        "",
                        1,
                        now,
                        now,
                        project,
                        user,
                        "manual",
                        due_at,
                        "",
                        status,
                        due_at if status == "done" else None,
                    )
                )
        delivery_columns = (
            "id, created_at, updated_at, kind, follow_up_id, project_id, recipient_id, due_at, state, attempts, "
            "sent_at, last_error, next_attempt_at, sent_to"
        )
        with cursor.cursor.copy(f"COPY recruitment_reminderdelivery ({delivery_columns}) FROM STDIN") as copy:
            for follow_up_id, (due_at, status) in zip(ids, rows, strict=True):
                if status == "done":
                    copy.write_row(
                        (uuid7(), due_at, due_at, "due", follow_up_id, project, user, due_at, "sent", 1)
                        + (due_at, "", due_at, "p3@example.org")
                    )
    _execute("VACUUM ANALYZE recruitment_followup")
    _execute("VACUUM ANALYZE recruitment_reminderdelivery")


def _others(n: int, now: datetime, rng: random.Random) -> list[tuple[datetime, str]]:
    """Most follow-ups are done (due in the past year); one in ten is open and due in the future."""
    rows = []
    for _ in range(n):
        if rng.random() < 0.9:
            rows.append((now - timedelta(seconds=rng.randint(3600, 365 * 86400)), "done"))
        else:
            rows.append((now + timedelta(seconds=rng.randint(3600, 365 * 86400)), "open"))
    return rows


def _scan_once(now: datetime) -> tuple[float, int]:
    from recruitment import reminders

    start = time.perf_counter()
    result = reminders.reminders_scan(now=now, publish=lambda ids: None)
    return time.perf_counter() - start, result.claimed


def _time_scan(fx: dict[str, Any], now: datetime) -> float:
    """Median of REPEAT scans, each claiming the same 1000 due follow-ups afresh."""
    times = []
    for i in range(REPEAT + 1):
        _unclaim(fx)
        elapsed, claimed = _scan_once(now)
        assert claimed == DUE, f"claimed {claimed}, expected {DUE}"
        if i:  # the first run warms the caches
            times.append(elapsed)
    return statistics.median(times)


def _time_scan_with_index(fx: dict[str, Any], now: datetime, index_sql: str | None) -> float:
    """One scan with the partial index replaced (by ``index_sql``, or by nothing), rolled back after."""
    from django.db import transaction

    _unclaim(fx)
    elapsed = 0.0
    try:
        with transaction.atomic():
            _execute("DROP INDEX followup_open_due_idx")
            if index_sql:
                _execute(index_sql)
            _execute("ANALYZE recruitment_followup")
            _scan_once(now)  # warm-up
            _execute(
                "DELETE FROM recruitment_reminderdelivery WHERE project_id = %s AND state = 'pending'",
                [fx["project"].pk],
            )
            elapsed, claimed = _scan_once(now)
            assert claimed == DUE
            raise _Rollback
    except _Rollback:
        pass
    _execute("ANALYZE recruitment_followup")
    return elapsed


def _plan(fx: dict[str, Any], now: datetime) -> str:
    """EXPLAIN ANALYZE of one claim batch's candidate query, before anything is claimed."""
    from recruitment import reminders
    from recruitment.models import ReminderDelivery

    _unclaim(fx)
    qs = reminders.followup_claim_candidates(kind=ReminderDelivery.Kind.DUE, now=now, limit=reminders._batch_size())
    return qs.explain(analyze=True, buffers=True)


def run(args: Any) -> list[dict[str, object]]:
    from bench.harness import row

    small, large = (10_000, 100_000) if getattr(args, "quick", False) else (10_000, 1_000_000)
    rng = random.Random(3)
    fx = _fixtures()
    now = datetime.now(tz=UTC).replace(microsecond=0)
    _clear(fx)
    try:
        due = [(now - timedelta(seconds=rng.randint(60, 3000)), "open") for _ in range(DUE)]
        _copy_followups(fx, due + _others(small - DUE, now, rng), now)
        t_small = _time_scan(fx, now)
        plan_small = _plan(fx, now)

        _copy_followups(fx, _others(large - small, now, rng), now)
        t_large = _time_scan(fx, now)
        plan_large = _plan(fx, now)
        t_plain = _time_scan_with_index(fx, now, "CREATE INDEX p3_plain_due_idx ON recruitment_followup (due_at)")
        t_none = _time_scan_with_index(fx, now, None)
    finally:
        _clear(fx)

    for label, plan in ((f"{small:,} follow-ups", plan_small), (f"{large:,} follow-ups", plan_large)):
        print(f"   EXPLAIN (due candidates, {label}):")
        for line in plan.splitlines():
            print(f"      {line}")
    uses = "followup_open_due_idx" in plan_large
    return [
        row(
            f"scan {DUE} due among {large:,} vs {small:,}",
            t_large,
            t_small,
            f"among_{small // 1000}k",
            target="<=1.50",
            partial_index_used=uses,
            ok=uses and t_large / t_small <= 1.5,
        ),
        row(f"{large:,}: partial index vs plain due_at index", t_large, t_plain, "plain_index"),
        row(f"{large:,}: partial index vs no index", t_large, t_none, "no_index"),
    ]
