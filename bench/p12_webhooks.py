"""P12: 10,000 changes to 10 webhook endpoints on 127.0.0.1 (receivers answering at once).

Ours: the product's dispatcher (``push.dispatcher``, one thread per endpoint, the
same code as the ``push.deliver_endpoint`` task): feed → messages under the
endpoint's lease → signed POST → attempts logged and messages marked, in feed order.
Every change goes to every endpoint: 100,000 deliveries.
Baseline measured in the same run (the limit): a bare loop per endpoint (same
threads) that signs the same payloads and posts them to the same receivers over a
kept-alive connection, with no database at all. Target: ours ≥ 0.5× its rate.

Latency: changes then committed at a steady 40 per second for 10 seconds while the
dispatcher polls; for every (endpoint, change), the time from the commit to the
receiver's first request. Target: p99 ≤ 2 s. (The feed shows a change once every
transaction of this database older than it has finished; another database's
transactions on the same server do not count.)

The receivers run in a process of their own so they do not share the GIL.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import threading
import time
import uuid
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson

from bench.harness import analyze, row
from crm.changes import HORIZON_SQL

OFFICE = "bench-p12"
# The receivers are on 127.0.0.1; no Celery worker runs here, so commits wake only the
# in-process dispatcher (push.wakeup.local_wake), not the broker.
SETTINGS = {"WEBHOOK_ALLOWED_NETWORKS": ["127.0.0.1"], "WEBHOOK_WAKE_ON_COMMIT": False}
ENDPOINTS = 10
TOTAL = 10_000


# --- Receivers (another process) ------------------------------------------------------------


def _serve(ports: list[int], ready) -> None:  # type: ignore[no-untyped-def]
    first_seen: dict[str, float] = {}
    count = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            now = time.time()
            key = f"{self.server.server_address[1]}:{self.headers.get('webhook-id', '')}"
            at = body.find(b'"id":"')
            record = body[at + 6 : at + 42].decode() if at >= 0 else ""
            with lock:
                count[0] += 1
                first_seen.setdefault(f"{self.server.server_address[1]}|{record}|{key}", now)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802 - /stats and /reset
            with lock:
                payload = orjson.dumps({"count": count[0], "first_seen": first_seen})
                if self.path == "/reset":
                    count[0] = 0
                    first_seen.clear()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    servers = []
    for port in ports:
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ready.set()
    threading.Event().wait()


def _free_ports(n: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _stats(port: int, reset: bool = False) -> dict:
    conn = HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/reset" if reset else "/stats")
    data = orjson.loads(conn.getresponse().read())
    conn.close()
    return data


# --- The data ----------------------------------------------------------------------------------


def _write_changes(office_id: int, n: int) -> tuple[float, list[str], int]:
    """Commit ``n`` contact changes of the office as one transaction: the time after COMMIT, ids, txid."""
    from django.db import connection, transaction

    sample = {
        "external_id": "",
        "version": 1,
        "created_at": "2026-03-01T02:00:00.000000Z",
        "updated_at": "2026-03-02T08:30:00.123456Z",
        "office": OFFICE,
        "enterprise": str(uuid.uuid4()),
        "name": "张三",
        "title": "总经理",
        "phone": "13800000000",
        "email": "zhang.san@example.cn",
        "wechat": "zhangsan",
    }
    from crm.changes import changes_notify_commit

    with transaction.atomic(), connection.cursor() as cursor:
        # As crm.changes.changes_record does: after the commit, the endpoints' deliveries are woken.
        changes_notify_commit(office_ids=[office_id])
        cursor.execute(
            """
            INSERT INTO crm_changeentry (type, object_id, office_id, op, data, changed_at, txid, seq)
            SELECT 'contact', g.id, %s, 'upsert', (%s::jsonb || jsonb_build_object('id', g.id::text))::json, now(),
                   pg_current_xact_id()::text::bigint, nextval('crm_changeentry_seq')
            FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, %s)) AS g
            RETURNING object_id::text, txid
            """,
            [office_id, orjson.dumps(sample).decode(), n],
        )
        rows = cursor.fetchall()
    return time.time(), [r[0] for r in rows], rows[0][1]


def _watch_horizon(txids: dict[int, float | None], stop: threading.Event) -> None:
    """Record when the feed's horizon passes each written transaction (when its changes become visible)."""
    from django.db import connection

    with connection.cursor() as cursor:
        while not stop.is_set():
            cursor.execute(f"SELECT {HORIZON_SQL}")
            horizon = cursor.fetchone()[0]
            now = time.time()
            for txid, seen in list(txids.items()):
                if seen is None and txid < horizon:
                    txids[txid] = now
            time.sleep(0.01)
    connection.close()


def _wait_horizon(timeout: float = 300) -> None:
    """Until the changes written are visible in the feed; a clear error when a transaction elsewhere holds it."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(f"SELECT COALESCE(MAX(txid), 0) < {HORIZON_SQL} FROM crm_changeentry")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.1)
        cursor.execute(
            "SELECT datname, now() - xact_start FROM pg_stat_activity WHERE backend_xid IS NOT NULL "
            "ORDER BY xact_start LIMIT 1"
        )
        raise RuntimeError(
            f"the feed's horizon is held by a transaction open elsewhere on the server: {cursor.fetchone()}"
        )


def _setup(ports: list[int]):  # type: ignore[no-untyped-def]
    from django.test import override_settings

    from crm.models import Office
    from push.endpoints import endpoint_create
    from push.models import WebhookEndpoint

    office, _ = Office.objects.get_or_create(code=OFFICE, defaults={"name": "P12 bench office", "kind": "partner"})
    WebhookEndpoint.objects.filter(office=office).delete()
    with override_settings(WEBHOOK_ALLOWED_NETWORKS=["127.0.0.1"]):
        made = [
            endpoint_create(office=office, url=f"http://127.0.0.1:{port}/hook", events=["contact.upsert"])
            for port in ports
        ]
    return office, made


# --- The limit: a bare loop per endpoint ---------------------------------------------------------


def _bare_loop(port: int, key: bytes, payloads: list[bytes]) -> None:
    from push import signing

    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    for payload in payloads:
        msg_id = f"msg_{uuid.uuid4().hex}"
        headers = signing.headers(keys=[key], msg_id=msg_id, timestamp=int(time.time()), body=payload)
        headers["Content-Type"] = "application/json"
        conn.request("POST", "/hook", body=payload, headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    conn.close()


def _p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _p99(values: list[float]) -> float:
    return values[max(int(len(values) * 0.99) - 1, 0)] if values else float("nan")


def _run_threads(targets: list) -> float:  # type: ignore[type-arg]
    threads = [threading.Thread(target=t) for t in targets]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    from django.db import connection
    from django.test import override_settings

    from crm.changes import Position, changes_page_json
    from crm.sealing import unseal
    from push import signing
    from push.dispatcher import dispatcher_run
    from push.models import WebhookMessage

    total = 1_000 if args.quick else TOTAL
    ports = _free_ports(ENDPOINTS)
    ready = multiprocessing.Event()
    receivers = multiprocessing.Process(target=_serve, args=(ports, ready), daemon=True)
    receivers.start()
    ready.wait(30)
    try:
        office, endpoints = _setup(ports)
        connection.close()
        # --- throughput: 10,000 committed changes, every endpoint gets all of them
        for start in range(0, total, 1000):
            _write_changes(office.pk, min(1000, total - start))
        analyze()
        _wait_horizon()
        _stats(ports[0], reset=True)
        stop = threading.Event()
        with override_settings(**SETTINGS):
            started = time.perf_counter()
            worker = threading.Thread(target=lambda: dispatcher_run(workers=ENDPOINTS, poll=0.2, once=True, stop=stop))
            worker.start()
            worker.join()
            ours = time.perf_counter() - started
        delivered = _stats(ports[0])["count"]
        owed = WebhookMessage.objects.filter(endpoint__office=office).exclude(state="delivered").count()
        assert delivered >= total * ENDPOINTS and owed == 0, (delivered, owed)
        # --- the limit: the same payloads, signed and posted by a bare loop per endpoint
        payloads = [
            entry
            for _t, _s, entry in changes_page_json(
                after=Position(endpoints[0][0].cursor_txid, endpoints[0][0].cursor_seq),
                office_ids=[office.pk],
                limit=total,
                cursor_prefix="0.",
            )
        ]
        keys = [signing.secret_key(unseal(e.secret_sealed)) for e, _secret in endpoints]
        connection.close()
        limit = _run_threads([lambda p=p, k=k: _bare_loop(p, k, payloads) for p, k in zip(ports, keys, strict=True)])
        # --- latency: changes committed at a steady rate while the dispatcher runs
        _stats(ports[0], reset=True)
        commits: dict[str, float] = {}
        visible: dict[str, int] = {}
        txids: dict[int, float | None] = {}
        stop = threading.Event()
        watcher = threading.Thread(target=_watch_horizon, args=(txids, stop))
        watcher.start()
        with override_settings(**SETTINGS):
            # Scans a second apart, as the beat's default; a commit wakes the dispatcher sooner.
            worker = threading.Thread(target=lambda: dispatcher_run(workers=ENDPOINTS, poll=1.0, stop=stop))
            worker.start()
            batches = 5 if args.quick else 20
            for _ in range(batches):
                committed_at, ids, txid = _write_changes(office.pk, 20)
                commits.update(dict.fromkeys(ids, committed_at))
                visible.update(dict.fromkeys(ids, txid))
                txids[txid] = None
                time.sleep(0.5)
            deadline = time.monotonic() + 120
            expected = len(commits) * ENDPOINTS
            while time.monotonic() < deadline and _stats(ports[0])["count"] < expected:
                time.sleep(0.2)
            stop.set()
            worker.join()
            watcher.join()
        latencies = []
        after_visible = []
        # One process serves every receiver: its figures cover all the ports.
        for key, seen_at in _stats(ports[0])["first_seen"].items():
            _port, record, _id = key.split("|", 2)
            if record in commits:
                latencies.append(seen_at - commits[record])
                became_visible = txids.get(visible[record])
                if became_visible is not None:
                    after_visible.append(max(seen_at - became_visible, 0.0))
        latencies.sort()
        after_visible.sort()
        horizon_wait = sorted(max(v - commits[r], 0.0) for r, t in visible.items() if (v := txids.get(t)) is not None)
        p50, p99 = _p50(latencies), _p99(latencies)
    finally:
        receivers.kill()
        receivers.join(5)
    deliveries = total * ENDPOINTS
    return [
        row(
            f"P12 {total} changes to {ENDPOINTS} endpoints ({deliveries} signed deliveries) vs bare sign+post loop",
            ours,
            limit,
            "bare_loop",
            ours_deliveries_per_s=f"{deliveries / ours:.0f}",
            bare_deliveries_per_s=f"{deliveries / limit:.0f}",
            throughput_ratio=f"{limit / ours:.2f}",
            target="throughput_ratio>=0.50",
        ),
        {
            "case": f"P12 commit -> first attempt, {len(latencies)} deliveries at 40 changes/s",
            "p50_ms": f"{p50 * 1000:.0f}",
            "p99_ms": f"{p99 * 1000:.0f}",
            "max_ms": f"{(latencies[-1] if latencies else float('nan')) * 1000:.0f}",
            "target": "p99<=2000",
            # Before the change was visible in the feed at all (a transaction elsewhere on the
            # server holding the horizon back), and ours after it.
            "commit_to_visible_p99_ms": f"{_p99(horizon_wait) * 1000:.0f}",
            "visible_to_first_attempt_p50_ms": f"{_p50(after_visible) * 1000:.0f}",
            "visible_to_first_attempt_p99_ms": f"{_p99(after_visible) * 1000:.0f}",
        },
    ]
