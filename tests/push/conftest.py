"""A webhook receiver on 127.0.0.1, endpoints, and changes made through the services."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from crm.services import contact_create, enterprise_create
from push.delivery import endpoint_deliver
from tests.api.conftest import (  # noqa: F401 - fixtures re-used  # noqa: F401
    Api,
    _fresh_throttle_counter,
    api_a,
    api_for,
    office_a,
    office_b,
    province,
    wait_for_feed_horizon,
)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def entry(self) -> dict:
        return orjson.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """Records every request; ``answer`` decides the status (and headers) of the next one."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    answer: Callable[[Received], tuple[int, dict[str, str]]] = lambda r: (200, {})
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def accepted(self) -> list[Received]:
        """The requests answered 2xx, in the order they arrived."""
        with self.lock:
            return [r for r in self.received if getattr(r, "status", 200) < 300]


def start_receiver(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length", "0"))
            got = Received({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
            status, headers = receiver.answer(got)
            got.status = status  # type: ignore[attr-defined]
            with receiver.lock:
                receiver.received.append(got)
            body = b'{"ok":true}' if status < 300 else b'{"error":"not now"}'
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    server = start_receiver(rec)
    yield rec
    server.shutdown()
    server.server_close()


def deliver_until_idle(endpoint_id: object, *, rounds: int = 50, wait: bool = True) -> int:
    """Run the delivery as a worker would until the endpoint has nothing due; how many were delivered.

    ``wait``: first wait until every change written so far is visible in the feed.
    """
    total = 0
    if wait:
        wait_for_feed_horizon()
    for _ in range(rounds):
        result = endpoint_deliver(endpoint_id=endpoint_id, budget_seconds=30)
        total += result.delivered
        if not result.delivered:
            return total
    return total


@pytest.fixture
def enterprise(office_a):  # type: ignore[no-untyped-def]  # noqa: F811
    return enterprise_create(office=office_a, name="太原钢科碳材料")


def new_contacts(office, enterprise, n: int, prefix: str = "联系人") -> list:  # type: ignore[no-untyped-def]
    return [contact_create(office=office, enterprise=enterprise, name=f"{prefix}{i}") for i in range(n)]
