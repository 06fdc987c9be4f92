"""What an API request body may cost: refused above ``API_MAX_BODY_BYTES`` before it is read.

DRF's parsers read the request stream whole (Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``
guards only ``request.body`` and form data, which the API never touches), so a
100 MB JSON body would be held in memory before it could be refused. This
middleware runs first on every ``/api/`` request:

* a ``Content-Length`` above the limit answers 413 at once, nothing read;
* a chunked body (``Transfer-Encoding: chunked``, no ``Content-Length``) is read
  up to the limit plus one byte: over the limit answers 413; within it, the body
  is handed on with its length, so the API reads it as it reads any other body
  (Django alone would read it as empty). This needs a server that decodes the
  chunks and marks the stream as terminated (``wsgi.input_terminated``, as
  gunicorn does); behind any other server (``runserver``, whose wsgiref hands the
  raw chunk framing with no length) a chunked body answers 411 and the connection
  is closed, never an empty body taken for the request.

Both refusals use the API's error format.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.translation import gettext as _

from api.errors import plain_error as _error

API_PREFIX = "/api/"
_READ_CHUNK = 64 * 1024


def api_max_body_bytes() -> int:
    return int(settings.API_MAX_BODY_BYTES)


def too_large(limit: int) -> HttpResponse:
    return _error(
        413,
        "request_too_large",
        _("The request body is larger than %(limit)d bytes; send fewer items per request.") % {"limit": limit},
    )


def _read_at_most(stream: io.RawIOBase, size: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < size:
        part = stream.read(min(_READ_CHUNK, size - got))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


class ApiBodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
        if request.path_info.startswith(API_PREFIX):
            refused = self.check_body(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    def check_body(self, request: HttpRequest) -> HttpResponse | StreamingHttpResponse | None:
        limit = api_max_body_bytes()
        meta = request.META
        raw_length = meta.get("CONTENT_LENGTH")
        if raw_length not in (None, ""):
            try:
                length = int(raw_length)
            except ValueError:
                return _error(400, "invalid_content_length", _("The Content-Length header is not a number."))
            if length > limit:
                return too_large(limit)
            return None
        if "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
            return None
        if not meta.get("wsgi.input_terminated"):
            return _error(
                411,
                "length_required",
                _("Send the body with a Content-Length header; this server cannot read a chunked body."),
                close=True,
            )
        body = _read_at_most(meta["wsgi.input"], limit + 1)
        if len(body) > limit:
            return too_large(limit)
        # From here on the body is an ordinary one of known length.
        request._stream = io.BytesIO(body)  # type: ignore[attr-defined]
        meta["CONTENT_LENGTH"] = str(len(body))
        return None
