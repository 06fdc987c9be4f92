"""Optimistic concurrency: ``ETag: "<version>"`` out, ``If-Match`` in.

The version is the record's own counter (bumped by every service write), so the
tag is exact and costs nothing to compute. A write with ``If-Match`` locks the row
first (``crm.records.record_lock``) and compares under the lock: of two writers
holding the same tag, exactly one wins and the other gets 412.
"""

from __future__ import annotations

from rest_framework.request import Request

from api.errors import PreconditionFailed

ANY = -1


def etag(version: int) -> str:
    return f'"{version}"'


def if_match_version(request: Request) -> int | None:
    """The version the client expects: None without ``If-Match``, ``ANY`` for ``*``.

    A tag that cannot be one of ours (not a quoted number) can never match: 412.
    """
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    tag = raw.strip()
    if tag == "*":
        return ANY
    if tag.startswith("W/"):
        tag = tag[2:]
    if len(tag) >= 2 and tag[0] == tag[-1] == '"':
        tag = tag[1:-1]
    if not tag.isdigit() or not tag.isascii() or len(tag) > 10:
        raise PreconditionFailed()
    return int(tag)
