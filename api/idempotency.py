"""``Idempotency-Key`` on POST: a retried request replays the first response.

The key is claimed by inserting a row under a unique constraint, inside the same
transaction as the write it guards. A concurrent request with the same key blocks
on that constraint until the first commits, then finds the row and replays it; if
the first fails, its rollback removes the claim and the key is free again. The
same key with a different request (method, path or body) answers 422.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta

import orjson
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import IdempotencyKeyReused
from api.models import IdempotencyRecord
from api.rendering import JSONRenderer
from crm.sealing import seal, unseal

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# Printable ASCII, no leading or trailing space.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
KEEP_FOR = timedelta(hours=24)
_REPLAYED_HEADERS = ("ETag", "Location")
_SEALED = b"sealed:"


def _fingerprint(request: Request) -> str:
    body = orjson.dumps(request.data, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), body):
        digest.update(part)
        digest.update(b"\n")
    return digest.hexdigest()


def _key(request: Request) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw
    if len(key) > MAX_KEY_LENGTH or not _KEY.match(key):
        raise serializers.ValidationError(
            {HEADER: [_("Give 1 to %(n)d printable ASCII characters.") % {"n": MAX_KEY_LENGTH}]}, code="invalid"
        )
    return key


def _as_http(status: int, body: bytes, headers: dict[str, str], *, replayed: bool) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="application/json")
    for name, value in headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true" if replayed else "false"
    return response


def idempotent(request: Request, handler: Callable[[], Response]) -> HttpResponse | Response:
    """Run ``handler`` once per idempotency key; replay its first successful response."""
    key = _key(request)
    if key is None:
        return handler()
    fingerprint = _fingerprint(request)
    with transaction.atomic():
        try:
            with transaction.atomic():
                claim = IdempotencyRecord.objects.create(api_key=request.auth, key=key, fingerprint=fingerprint)
        except IntegrityError:
            claim = None
        if claim is None:
            first = IdempotencyRecord.objects.get(api_key=request.auth, key=key)
            if first.fingerprint != fingerprint:
                raise IdempotencyKeyReused()
            body = bytes(first.response_body)
            if body.startswith(_SEALED):
                body = unseal(body[len(_SEALED) :].decode()).encode()
            return _as_http(first.status_code or 200, body, first.response_headers, replayed=True)
        response = handler()
        if not 200 <= response.status_code < 300:
            # Only a success is remembered: a refused request leaves the key free to retry.
            transaction.set_rollback(True)
            return response
        body = JSONRenderer().render(response.data)
        headers = {name: response[name] for name in _REPLAYED_HEADERS if response.has_header(name)}
        # An answer that shows a secret once (a webhook's signing secret) is kept sealed.
        stored = _SEALED + seal(body.decode()).encode() if getattr(response, "holds_secret", False) else body
        IdempotencyRecord.objects.filter(pk=claim.pk).update(
            status_code=response.status_code, response_body=stored, response_headers=headers
        )
    return _as_http(response.status_code, body, headers, replayed=False)


def idempotency_purge(*, older_than: timedelta = KEEP_FOR) -> int:
    """Forget idempotency keys older than ``older_than``; returns how many."""
    deleted, _by_model = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted
