"""Small fake WeCom and DingTalk robot servers on 127.0.0.1.

Each checks the request as the real API does (path, key or token, DingTalk's
timestamp and signature, the markdown message shape) and answers like it: HTTP 200
with ``{"errcode": …, "errmsg": …}``, including the rate-limit codes. A message
counts as posted when the server has answered it; a request whose client went away
before the answer (a worker killed mid-request) is dropped, as a robot that never
completed the exchange.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DINGTALK_TOKEN = "a9b8c7d6e5f4"
DINGTALK_SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"


@dataclass
class Robots:
    port: int = 0
    posted: list[tuple[str, dict]] = field(default_factory=list)  # (channel, JSON body)
    errors: list[tuple[str, int]] = field(default_factory=list)
    # errcodes to answer next, per channel, before answering 0 again
    queued_errors: dict[str, list[int]] = field(default_factory=lambda: {"wecom": [], "dingtalk": []})
    hold: threading.Event | None = None  # when set: requests wait for it before being answered
    waiting: threading.Event = field(default_factory=threading.Event)

    @property
    def wecom_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/webhook/send?key={WECOM_KEY}"

    @property
    def dingtalk_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/robot/send?access_token={DINGTALK_TOKEN}"

    def of(self, channel: str) -> list[dict]:
        return [body for ch, body in self.posted if ch == channel]


def _wecom_check(query: dict, body: dict) -> tuple[int, str]:
    if query.get("key") != [WECOM_KEY]:
        return 93000, "invalid webhook url"
    if body.get("msgtype") != "markdown":
        return 40008, "invalid message type"
    content = (body.get("markdown") or {}).get("content")
    if not isinstance(content, str) or not content:
        return 44004, "empty content"
    if len(content.encode()) > 4096:
        return 40058, "markdown.content exceed max length 4096"
    return 0, "ok"


def _dingtalk_check(query: dict, body: dict) -> tuple[int, str]:
    if query.get("access_token") != [DINGTALK_TOKEN]:
        return 300001, "token is not exist"
    timestamp, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
    if not timestamp.isdigit() or abs(int(timestamp) - time.time() * 1000) > 3600 * 1000:
        return 310000, "timestamp is invalid"
    expected = base64.b64encode(
        hmac.new(DINGTALK_SECRET.encode(), f"{timestamp}\n{DINGTALK_SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    if sign != expected:  # parse_qs has url-decoded it
        return 310000, "sign not match"
    markdown = body.get("markdown") or {}
    if body.get("msgtype") != "markdown" or not markdown.get("title") or not markdown.get("text"):
        return 40035, "missing parameter markdown"
    return 0, "ok"


def _client_gone(sock) -> bool:  # type: ignore[no-untyped-def]
    readable, _w, _x = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        import socket

        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


@contextmanager
def robot_servers() -> Iterator[Robots]:
    robots = Robots()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            body = orjson.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if robots.hold is not None:
                robots.waiting.set()
                while not robots.hold.wait(0.05):
                    if _client_gone(self.connection):
                        return  # never answered: never posted
            if parts.path == "/cgi-bin/webhook/send":
                channel, (code, msg) = "wecom", _wecom_check(query, body)
            elif parts.path == "/robot/send":
                channel, (code, msg) = "dingtalk", _dingtalk_check(query, body)
            else:
                self.send_error(404)
                return
            if code == 0 and robots.queued_errors[channel]:
                code, msg = robots.queued_errors[channel].pop(0), "rate limited"
            answer = orjson.dumps({"errcode": code, "errmsg": msg})
            # Recorded before the answer leaves: a client that has read it finds it recorded
            # (appended after, a test reading right after its send could look too soon).
            kept: list = robots.posted if code == 0 else robots.errors
            entry = (channel, body) if code == 0 else (channel, code)
            kept.append(entry)
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                kept.remove(entry)  # the client went away: never answered
                raise

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    robots.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield robots
    finally:
        if robots.hold is not None:
            robots.hold.set()
        server.shutdown()
        server.server_close()
