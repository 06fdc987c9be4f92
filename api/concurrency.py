"""Optimistic concurrency: ``ETag: "<version>"`` out, ``If-Match`` in.

The version is the record's own counter (bumped by every service write), so the
tag is exact and costs nothing to compute. A write with ``If-Match`` locks the row
first (``crm.records.record_lock``) and compares under the lock: of two writers
holding the same tag, exactly one wins and the other gets 412.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.request import Request

from crm.records import VersionConflict

ANY = -1
# One strong tag or "*": our tags are versions, so a list or a weak tag is never needed.
IF_MATCH_PATTERN = r'^(\*|"[0-9]{1,10}")$'
_IF_MATCH = re.compile(IF_MATCH_PATTERN)


def etag(version: int) -> str:
    return f'"{version}"'


def if_match_version(request: Request) -> int | None:
    """The version the client expects: None without ``If-Match``, ``ANY`` for ``*``.

    A header that is not one of our tags is a 400 (it could never match); a
    well-formed tag that does not match the record is the caller's 412, decided
    under the row lock.
    """
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    tag = raw.strip()
    if not _IF_MATCH.match(tag):
        raise serializers.ValidationError({"If-Match": [_('Send the ETag you read, e.g. "3", or *.')]}, code="invalid")
    return ANY if tag == "*" else int(tag[1:-1])


def check_version(obj: object, expected: int | None) -> None:
    """412 (``VersionConflict``) unless ``obj`` is at the version the client expects."""
    if expected is not None and expected != ANY and obj.version != expected:  # type: ignore[attr-defined]
        raise VersionConflict(obj.version)  # type: ignore[attr-defined]
