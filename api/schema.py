"""OpenAPI pieces shared by every resource: auth scheme, headers, error responses."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
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
TOO_LARGE = error(
    "The body is larger than the server's limit (`API_MAX_BODY_BYTES`, 16 MiB by default: a bulk of 1000 "
    "projects with every field at its longest and 2,000-character descriptions fits): nothing was read or written."
)
UNSUPPORTED_MEDIA_TYPE = error("The body is not sent as `Content-Type: application/json`: nothing was written.")
PRECONDITION_FAILED = error("If-Match does not match the record's current ETag: nothing was changed.")
IDEMPOTENCY_REUSED = error("The Idempotency-Key was used before with a different request.")


def move_schema(*, tag: str, summary: str, request: Any, output: Any) -> Any:
    """The OpenAPI description of a record's ``POST …/<id>/transition/`` (a state move)."""
    return extend_schema(
        tags=[tag],
        summary=summary,
        request=request,
        parameters=[
            OpenApiParameter("id", {"type": "string", "format": "uuid"}, OpenApiParameter.PATH),
            IF_MATCH,
            IDEMPOTENCY_KEY,
            etag_header(200),
            replayed_header(200),
        ],
        responses={200: output, 409: CONFLICT, 412: PRECONDITION_FAILED, 422: IDEMPOTENCY_REUSED},
    )


class BulkResultSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    id = serializers.UUIDField()
    created = serializers.BooleanField()


class BulkResponseSerializer(serializers.Serializer):
    results = BulkResultSerializer(many=True)


_RECORDS = ("enterprises", "contacts", "interactions", "projects", "follow_ups")


def add_links(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """OpenAPI links between operations: where a created record's id can be used next.

    They document the workflow (create, then read, change, delete by id; upsert by
    your id, then read it back) and let a stateful test client follow it.
    """
    operations = {
        op["operationId"]: op
        for methods in result.get("paths", {}).values()
        for op in methods.values()
        if isinstance(op, dict) and "operationId" in op
    }

    def link(source: str, status: str, target: str, parameters: dict | None = None, body: dict | None = None) -> None:
        response = operations.get(source, {}).get("responses", {}).get(status)
        if response is None or target not in operations:
            return
        definition: dict[str, Any] = {"operationId": target}
        if parameters:
            definition["parameters"] = parameters
        if body:
            definition["requestBody"] = body
        response.setdefault("links", {})[target] = definition

    for resource in _RECORDS:
        by_id = ("retrieve", "update", "partial_update", "destroy") + (
            ("transition_create",) if resource == "projects" else ()
        )
        for action in by_id:
            target = f"{resource}_{action}"
            link(f"{resource}_create", "201", target, {"path.id": "$response.body#/id"})
            link(f"{resource}_external_update", "201", target, {"path.id": "$response.body#/id"})
            link(f"{resource}_external_update", "200", target, {"path.id": "$response.body#/id"})
            link(f"{resource}_bulk_create", "200", target, {"path.id": "$response.body#/results/0/id"})
        for status in ("200", "201"):
            link(
                f"{resource}_external_update",
                status,
                f"{resource}_external_retrieve",
                {"path.external_id": "$request.path.external_id"},
            )
    for target in ("contacts_create", "interactions_create", "projects_create"):
        link("enterprises_create", "201", target, body={"enterprise": "$response.body#/id"})
    link("projects_create", "201", "follow_ups_create", body={"project": "$response.body#/id"})
    link(
        "projects_create",
        "201",
        "interactions_create",
        body={"project": "$response.body#/id", "enterprise": "$response.body#/enterprise"},
    )
    return result


# What the web server in front of the API answers before Django sees the request. The
# limits are gunicorn's defaults (``limit_request_line``, ``limit_request_field_size``);
# ``make run``'s development server refuses at 65,536 bytes. The body is the server's
# own page, not the API's JSON error.
SERVER_REFUSALS = {
    "414": "The request line (method, path and query string) is longer than the web server accepts "
    "(4,094 bytes under gunicorn): nothing was read or written.",
    "431": "A request header is larger than the web server accepts (8,190 bytes under gunicorn), "
    "or there are too many: nothing was read or written.",
}


def server_refusals(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Every operation documents the web server's refusals of a request too large to read
    (:data:`SERVER_REFUSALS`)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                for status, description in SERVER_REFUSALS.items():
                    operation["responses"].setdefault(status, {"description": description})
    return result


def strict_request_bodies(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Request bodies take only the fields they list: ``additionalProperties: false``.

    The API answers any other field with 400 ``unknown_field`` (a typo never drops data).
    """
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result
