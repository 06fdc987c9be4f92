"""Request bodies through a real server (gunicorn, as in production), over raw sockets.

The test client cannot show what a server does with a body it never reads or with
chunked transfer encoding: here a Content-Length of 200 MB is answered 413 while
the client has sent almost nothing, a chunked body is read (not taken as empty),
and a chunked body over the limit is refused.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from api.api_keys import api_key_create
from crm.models import Enterprise
from tests.api.test_schemathesis import ROOT, _database_url, _free_port, _wait_until_up
from tests.factories import OfficeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LIMIT = 65_536


@pytest.fixture
def server(tmp_path):  # type: ignore[no-untyped-def]
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "API_MAX_BODY_BYTES": str(LIMIT),
        "CHAIN_RECRUIT_VAR_DIR": str(tmp_path),
    }
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--threads", "2"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _exchange(port: int, head: str, body_parts: list[bytes], *, timeout: float = 20) -> tuple[int, dict]:
    """Send a request head and body parts; return the status and JSON of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode())
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):  # the server answered and closed
                break
        sock.shutdown(socket.SHUT_WR) if not body_parts else None
        data = b""
        started = time.monotonic()
        while b"\r\n\r\n" not in data or not _complete(data):
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk or time.monotonic() - started > timeout:
                break
            data += chunk
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])

    return status, json.loads(payload)


def _complete(data: bytes) -> bool:
    head, _, payload = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(payload) >= int(line.split(b":")[1])
    return False


def _chunked(body: bytes, size: int = 1000) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size))
    return out + b"0\r\n\r\n"


def _head(port: int, key: str, path: str, extra: str) -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    )


def test_a_huge_content_length_is_413_before_the_body_is_sent(server):
    key = api_key_create(office=OfficeFactory(code="big", kind="partner"), label="t").raw
    head = _head(server, key, "/api/v1/enterprises/bulk/", "Content-Length: 200000000\r\n")
    # Only the first bytes of the announced 200 MB are ever sent: the answer cannot wait for the rest.
    status, body = _exchange(server, head, [b'{"items": ['])
    assert status == 413
    assert body["errors"][0]["code"] == "request_too_large"
    assert Enterprise.objects.count() == 0


def test_a_chunked_body_is_read_and_one_over_the_limit_is_413(server):
    key = api_key_create(office=OfficeFactory(code="chunky", kind="partner"), label="t").raw
    small = json.dumps({"name": "分块企业", "external_id": "C-1"}, ensure_ascii=False).encode()
    status, body = _exchange(
        server, _head(server, key, "/api/v1/enterprises/", "Transfer-Encoding: chunked\r\n"), [_chunked(small)]
    )
    assert status == 201, body
    assert Enterprise.objects.get(external_id="C-1").name == "分块企业"

    items = [{"external_id": f"B-{i}", "name": "甲" * 40} for i in range(1000)]
    big = json.dumps({"items": items}, ensure_ascii=False).encode()
    assert len(big) > LIMIT
    status, body = _exchange(
        server, _head(server, key, "/api/v1/enterprises/bulk/", "Transfer-Encoding: chunked\r\n"), [_chunked(big)]
    )
    assert status == 413, body
    assert body["errors"][0]["code"] == "request_too_large"
    assert Enterprise.objects.count() == 1
