"""Request bodies through the real servers, over raw sockets: gunicorn (production and
``make run`` with DEBUG off) and Django's runserver (``make run``'s development server).

The test client cannot show what a server does with a body it never reads or with
chunked transfer encoding: here a Content-Length of 200 MB is answered 413 while
the client has sent almost nothing, on both servers. A chunked body without
Content-Length: gunicorn decodes it (``wsgi.input_terminated``), so it is read, and
refused over the limit; runserver (wsgiref) hands the raw chunk framing with no
length, which Django alone would read as an empty body and answer 201 with the
body's fields missing: there it answers 411 ``length_required`` and writes nothing.
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


def _server_command(kind: str, port: int) -> list[str]:
    if kind == "runserver":
        return [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    return [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--threads", "2"]


@pytest.fixture(params=["gunicorn", "runserver"])
def any_server(request, tmp_path):  # type: ignore[no-untyped-def]
    yield from _serve(request.param, tmp_path)


@pytest.fixture
def server(tmp_path):  # type: ignore[no-untyped-def]
    yield from _serve("gunicorn", tmp_path)


@pytest.fixture
def runserver(tmp_path):  # type: ignore[no-untyped-def]
    yield from _serve("runserver", tmp_path)


def _serve(kind: str, tmp_path):  # type: ignore[no-untyped-def]
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
        _server_command(kind, port),
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


def test_a_huge_content_length_is_413_before_the_body_is_sent(any_server):
    server = any_server
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


def test_the_development_server_answers_a_chunked_body_411_and_never_reads_it_as_empty(runserver):
    key = api_key_create(office=OfficeFactory(code="dev", kind="partner"), label="t").raw
    small = json.dumps({"name": "分块企业", "external_id": "C-1"}, ensure_ascii=False).encode()
    for path in ("/api/v1/enterprises/", "/api/v1/enterprises/bulk/", "/api/v1/enterprises/external/C-1/"):
        head = _head(runserver, key, path, "Transfer-Encoding: chunked\r\n")
        if path.endswith("C-1/"):
            head = head.replace("POST ", "PUT ", 1)
        status, body = _exchange(runserver, head, [_chunked(small)])
        assert status == 411, (path, body)
        assert body["errors"][0]["code"] == "length_required"
    assert Enterprise.objects.count() == 0
    # The same body with its length is taken: the refusal is about the framing only.
    status, body = _exchange(
        runserver, _head(runserver, key, "/api/v1/enterprises/", f"Content-Length: {len(small)}\r\n"), [small]
    )
    assert status == 201, body
    assert Enterprise.objects.get(external_id="C-1").name == "分块企业"


def _answer_status(port: int, head: str) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head.encode())
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


def test_a_request_line_or_header_too_long_to_read_gets_the_status_the_schema_documents(any_server, client):
    """gunicorn refuses a request line over 4,094 bytes and a header over 8,190; the
    development server both over 65,536. Either way the answer is 414 or 431, the codes
    every operation of the schema lists, and nothing is written."""
    port = any_server
    key = api_key_create(office=OfficeFactory(code="long", kind="partner"), label="t").raw
    documented = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    long_query = "a" * 70_000
    head = f"GET /api/v1/changes/?after={long_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\r\n"
    assert _answer_status(port, head) == 414
    assert "414" in documented["/api/v1/changes/"]["get"]["responses"]
    body = json.dumps({"name": "长头企业", "external_id": "H-1"}, ensure_ascii=False).encode()
    head = _head(port, key, "/api/v1/enterprises/", f"X-Note: {'b' * 70_000}\r\nContent-Length: {len(body)}\r\n")
    assert _answer_status(port, head + body.decode()) == 431
    assert "431" in documented["/api/v1/enterprises/"]["post"]["responses"]
    assert Enterprise.objects.count() == 0
