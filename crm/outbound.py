"""Outbound HTTP to addresses users typed in (webhooks, WeCom/DingTalk robots), safely.

Server-side request forgery: a URL a partner registers must not make the app call
into the private network (a database, the cloud metadata service at
169.254.169.254). So every request here:

1. resolves the host name (:func:`resolve`, the one place that asks DNS),
2. refuses the URL if any address is not a public one (private, loopback,
   link-local, multicast, reserved, shared, metadata) unless it is in
   ``WEBHOOK_ALLOWED_NETWORKS``; plain ``http`` is allowed only to allow-listed
   addresses,
3. connects to the address it checked, not to the name: a DNS answer that changes
   between the check and the connection (DNS rebinding) cannot redirect the request.
   TLS still verifies the certificate against the host name (SNI and hostname check).

The same check runs when a URL is registered and before every request. Redirects are
never followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
EXCERPT_CHARS = 1000
_MAX_BODY = 64 * 1024


class AddressRefused(Exception):
    """The URL may not be called; ``code`` is machine-readable, the message is for people."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@lru_cache(maxsize=8)
def _networks(raw: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in raw)


def allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return _networks(tuple(getattr(settings, "WEBHOOK_ALLOWED_NETWORKS", ())))


def is_allow_listed(address: IPAddress) -> bool:
    return any(address.version == net.version and address in net for net in allowed_networks())


def is_public(address: IPAddress) -> bool:
    """A globally routable unicast address (not private, loopback, link-local, multicast, reserved, shared)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (the boundary tests replace to play DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address not in seen:
            seen.append(address)
    return seen


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent
    address: IPAddress  # the checked address the connection goes to


def url_shape_check(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path-and-query) of ``url``, or :class:`AddressRefused` for a URL we never call."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AddressRefused(str(_("Enter a valid URL.")), "invalid") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused(str(_("Enter an https:// URL.")), "invalid")
    if parts.username or parts.password:
        raise AddressRefused(str(_("The URL must not contain a user name or password.")), "invalid")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def url_check(url: str) -> Target:
    """Resolve ``url`` and check every address; the target to connect to, or :class:`AddressRefused`."""
    scheme, host, port, path = url_shape_check(url)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError, ValueError):
        raise AddressRefused(str(_("The host name does not resolve.")), "unresolvable") from None
    if not addresses:
        raise AddressRefused(str(_("The host name does not resolve.")), "unresolvable")
    for address in addresses:
        if not is_public(address) and not is_allow_listed(address):
            raise AddressRefused(
                str(
                    _("The URL points to a private, loopback, link-local or reserved address (%(a)s).") % {"a": address}
                ),
                "private_address",
            )
    if scheme == "http" and not all(is_allow_listed(a) for a in addresses):
        raise AddressRefused(str(_("Use https:// (plain http only to allow-listed networks).")), "https_required")
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(str(target.address), target.port, timeout=timeout)
        self._target = target

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self._target.address), self._target.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    def connect(self) -> None:
        super().connect()
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self.sock, server_hostname=self._target.host)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    excerpt: str
    retry_after: float | None  # seconds, from Retry-After
    elapsed_ms: int


def _retry_after(raw: str | None) -> float | None:
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        return max(parsedate_to_datetime(raw).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class OutboundSession:
    """Keeps one connection per checked address open between requests (keep-alive).

    Every :meth:`post` checks the URL again; the connection reused is the one to the
    address that check returned. Not thread-safe: one per worker thread or task.
    """

    # How long a URL's check (DNS answer and address rules) serves the session's next requests.
    # The connection still goes to the checked address, so a DNS change in between can delay
    # the refusal by this long but can never redirect a request.
    RECHECK_SECONDS = 1.0

    def __init__(self, *, timeout: float | None = None) -> None:
        self.timeout = float(timeout if timeout is not None else settings.WEBHOOK_TIMEOUT_SECONDS)
        self._connections: dict[tuple[str, str, int, str], _PinnedHTTPConnection] = {}
        self._checked: dict[str, tuple[float, Target]] = {}

    def _target(self, url: str) -> Target:
        now = time.monotonic()
        checked = self._checked.get(url)
        if checked is not None and now - checked[0] < self.RECHECK_SECONDS:
            return checked[1]
        self._checked.pop(url, None)
        target = url_check(url)
        self._checked[url] = (now, target)
        return target

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()
        self._checked.clear()

    def __enter__(self) -> OutboundSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self, target: Target) -> _PinnedHTTPConnection:
        key = (target.scheme, target.host, target.port, str(target.address))
        conn = self._connections.get(key)
        if conn is None:
            cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
            conn = cls(target, self.timeout)
            self._connections[key] = conn
        return conn

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST ``body``; the answer, :class:`AddressRefused`, or an ``OSError`` (connection, timeout)."""
        target = self._target(url)
        host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
        if ":" in target.host and not target.host.startswith("["):
            host_header = f"[{target.host}]" if target.port in (80, 443) else f"[{target.host}]:{target.port}"
        all_headers = {
            "Host": host_header,
            "Content-Type": "application/json",
            "User-Agent": "ChainRecruit-Push/1",
            **headers,
        }
        started = time.monotonic()
        for attempt in (1, 2):
            conn = self._connection(target)
            reused = conn.sock is not None
            try:
                conn.request("POST", target.path, body=body, headers=all_headers)
                response = conn.getresponse()
                data = response.read(_MAX_BODY + 1)
                if len(data) > _MAX_BODY or response.will_close:
                    conn.close()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if attempt == 2 or not reused:
                    raise
                # A kept-alive connection the receiver had closed: once more on a new one.
            except OSError:
                conn.close()
                raise
            except http.client.HTTPException as exc:  # a malformed answer: as good as no answer
                conn.close()
                raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
        elapsed = int((time.monotonic() - started) * 1000)
        return Answer(
            status=response.status,
            excerpt=data[:_MAX_BODY].decode("utf-8", errors="replace")[:EXCERPT_CHARS],
            retry_after=_retry_after(response.getheader("Retry-After")),
            elapsed_ms=elapsed,
        )
