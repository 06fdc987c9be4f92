"""OpenAPI pieces shared by every resource: auth scheme, headers, error responses."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from api.concurrency import IF_MATCH_PATTERN
from api.errors import ConflictResponseSerializer, ErrorResponseSerializer
from api.idempotency import IDEMPOTENCY_KEY_PATTERN, MAX_KEY_LENGTH


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An office API key: `Authorization: Bearer cr_…` (create one with "
            "`manage.py create_api_key --office CODE`).",
        }


IF_MATCH = OpenApiParameter(
    "If-Match",
    {"type": "string", "pattern": IF_MATCH_PATTERN},
    OpenApiParameter.HEADER,
    required=False,
    description='The ETag you read (`"3"`); if the record has changed since, nothing is written and the answer is 412.',
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN, "maxLength": MAX_KEY_LENGTH},
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID): repeating the request with the same key and body replays the first "
    "response and creates nothing more; the same key with another body answers 422. Kept 24 hours.",
)


def etag_header(*codes: int) -> OpenApiParameter:
    return OpenApiParameter(
        "ETag",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=True,
        response=list(codes),
        description='The record\'s version, `"3"`: send it back in If-Match.',
    )


def location_header(*codes: int) -> OpenApiParameter:
    return OpenApiParameter(
        "Location",
        OpenApiTypes.URI,
        OpenApiParameter.HEADER,
        required=True,
        response=list(codes),
        description="URL of the record.",
    )


def replayed_header(*codes: int) -> OpenApiParameter:
    return OpenApiParameter(
        "Idempotent-Replayed",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=False,
        response=list(codes),
        description="`true` when this is the replay of an earlier response (an Idempotency-Key was sent).",
    )


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorResponseSerializer, description=description)


CONFLICT = OpenApiResponse(
    ConflictResponseSerializer,
    description="Conflict: a unique value (credit code, external id) belongs to another record, named by "
    "`existing_id`; or a concurrent change got in the way (retry).",
)
PRECONDITION_FAILED = error("If-Match does not match the record's current ETag: nothing was changed.")
IDEMPOTENCY_REUSED = error("The Idempotency-Key was used before with a different request.")


class BulkResultSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    id = serializers.UUIDField()
    created = serializers.BooleanField()


class BulkResponseSerializer(serializers.Serializer):
    results = BulkResultSerializer(many=True)
