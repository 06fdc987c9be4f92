"""``changes/``: the change feed partners sync from, and its retention.

Contract: a client that keeps calling with ``after=<next>`` sees every change
visible to its office, deletions included, and ends with every record's latest
state. The ordering guarantee is ``crm.changes``'s (positions below the oldest
running transaction only). This view only pages it, scoped to the office, and
splices the stored JSON of each record into the answer without parsing it.

Tombstones are kept ``API_CHANGE_FEED_RETENTION_DAYS`` (at least 90); the highest
position purged is remembered with a purge generation that every cursor carries. A
cursor issued before a purge and below its mark answers 410 Gone: the client may
have missed a deletion and must resync. A cursor issued since the last purge is
good wherever it points (a client starting over reads the current state).
"""

from __future__ import annotations

import re
from datetime import timedelta

import orjson
from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from api.errors import CursorExpired, ErrorResponseSerializer
from api.models import ChangeFeedRetention
from api.pagination import page_limit
from crm.changes import Position, changes_page_json, changes_purge_tombstones
from crm.models import Office

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MIN_RETENTION_DAYS = 90
_CURSOR = re.compile(r"^(\d{1,9})\.(\d{1,18})\.(\d{1,18})$")
# As the schema gives it: a cursor, or empty for the start.
CURSOR_PATTERN = r"^(\d{1,9}\.\d{1,18}\.\d{1,18})?$"
CURSOR_MAX_LENGTH = 9 + 18 + 18 + 2
CHANGE_TYPES = ["enterprise", "contact", "interaction", "project", "follow_up", "progress", "supervision_order"]


def decode_cursor(raw: str) -> tuple[int, Position]:
    """``"<generation>.<txid>.<seq>"`` → (generation, position)."""
    match = _CURSOR.match(raw)
    if not match:
        raise serializers.ValidationError({"after": [_("This cursor is not valid.")]}, code="invalid")
    return int(match.group(1)), Position(int(match.group(2)), int(match.group(3)))


def encode_cursor(generation: int, txid: int, seq: int) -> str:
    return f"{generation}.{txid}.{seq}"


def retention_days() -> int:
    return max(MIN_RETENTION_DAYS, int(getattr(settings, "API_CHANGE_FEED_RETENTION_DAYS", MIN_RETENTION_DAYS)))


@transaction.atomic
def change_feed_purge(*, now=None) -> Position | None:  # type: ignore[no-untyped-def]
    """Remove tombstones older than the retention period and raise the retention mark."""
    before = (now or timezone.now()) - timedelta(days=retention_days())
    purged = changes_purge_tombstones(before=before)
    if purged is None:
        return None
    mark = ChangeFeedRetention.objects.select_for_update().filter(pk=1).first()
    if mark is None:
        ChangeFeedRetention.objects.create(
            pk=1, generation=1, txid=purged.txid, seq=purged.seq, purged_at=timezone.now()
        )
    else:
        if (purged.txid, purged.seq) > (mark.txid, mark.seq):
            mark.txid, mark.seq = purged.txid, purged.seq
        mark.generation += 1
        mark.purged_at = timezone.now()
        mark.save(update_fields=["generation", "txid", "seq", "purged_at"])
    return purged


class ChangeOutput(serializers.Serializer):
    cursor = serializers.CharField(help_text=_("Position of this change; opaque."))
    type = serializers.ChoiceField(choices=CHANGE_TYPES)
    id = serializers.UUIDField()
    op = serializers.ChoiceField(choices=["upsert", "delete"])
    data = serializers.JSONField(
        allow_null=True,
        help_text=_("The record as its detail endpoint renders it (with its version); null for a delete."),
    )


class ChangeFeedOutput(serializers.Serializer):
    results = ChangeOutput(many=True)
    next = serializers.CharField(help_text=_("Pass as `after` to continue (also when `results` is empty)."))


class ChangeFeedView(APIView):
    @extend_schema(
        tags=["changes"],
        summary="Changes after a cursor",
        description="Every change visible to your office, oldest first, one entry per record (its latest "
        "state). Keep calling with `after=<next>`; an empty page means you are up to date for now.",
        parameters=[
            OpenApiParameter(
                "after",
                {"type": "string", "pattern": CURSOR_PATTERN, "maxLength": CURSOR_MAX_LENGTH},
                description="The `next` of your previous call; leave out (or empty) to start.",
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                description=f"At most {MAX_LIMIT} (default {DEFAULT_LIMIT}).",
            ),
        ],
        responses={
            200: ChangeFeedOutput,
            400: OpenApiResponse(ErrorResponseSerializer, description="Invalid cursor or limit."),
            410: OpenApiResponse(
                ErrorResponseSerializer, description="The cursor is older than the retained deletions: resync."
            ),
        },
    )
    def get(self, request: Request) -> HttpResponse:
        limit = page_limit(request, default=DEFAULT_LIMIT, maximum=MAX_LIMIT)
        raw = request.query_params.get("after")
        issued_in, after = decode_cursor(raw) if raw else (0, None)
        retained = ChangeFeedRetention.objects.filter(pk=1).values_list("generation", "txid", "seq").first()
        generation, mark = (retained[0], (retained[1], retained[2])) if retained else (0, (-1, -1))
        if after is not None and issued_in < generation and (after.txid, after.seq) < mark:
            raise CursorExpired()
        office: Office = request.auth.office
        office_ids = None if office.kind == Office.Kind.PROVINCIAL else [office.pk]
        rows = changes_page_json(
            after=after,
            office_ids=office_ids,
            limit=limit,
            cursor_prefix=f"{generation}.",
            reader_office_code=office.code,
        )
        if rows:
            next_cursor = encode_cursor(generation, rows[-1][0], rows[-1][1])
        elif after is not None:
            # Nothing new. The cursor passed the check, so it is good as of this generation.
            next_cursor = encode_cursor(generation, after.txid, after.seq)
        else:
            next_cursor = encode_cursor(generation, 0, 0)
        body = (
            b'{"results":['
            + b",".join(entry for _t, _s, entry in rows)
            + b'],"next":'
            + orjson.dumps(next_cursor)
            + b"}"
        )
        return HttpResponse(body, content_type="application/json")
