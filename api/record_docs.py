"""The OpenAPI description of a record resource, from its serializers.

Every record resource documents the same endpoints, headers (If-Match,
Idempotency-Key, ETag, Location) and error answers; this writes them once.
"""

from __future__ import annotations

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers

from api import schema as docs
from api.record_views import BULK_MAX_ITEMS, RecordViewSet
from crm.external_ids import EXTERNAL_ID_MAX, EXTERNAL_ID_RULE


def documented(cls: type[RecordViewSet]) -> type[RecordViewSet]:
    """Describe the resource's endpoints from its serializers (applied to each resource class)."""
    name = cls.noun
    plural = cls.basename.replace("-", " ")
    out = cls.output_serializer
    inp = cls.input_serializer
    bulk_item = type(
        f"{inp.__name__.removesuffix('Input')}BulkItem",
        (inp,),
        {
            "external_id": serializers.CharField(
                max_length=EXTERNAL_ID_MAX, help_text=format_lazy("{} {}", _("Your system's id."), EXTERNAL_ID_RULE)
            )
        },
    )
    bulk_request = type(
        f"{inp.__name__.removesuffix('Input')}BulkRequest",
        (serializers.Serializer,),
        {"items": bulk_item(many=True, max_length=BULK_MAX_ITEMS, min_length=1)},
    )
    tags = [cls.basename]
    not_found = docs.error("Not found (or another office's record).")
    body_errors = {413: docs.TOO_LARGE, 415: docs.UNSUPPORTED_MEDIA_TYPE}
    write_errors = {409: docs.CONFLICT, 412: docs.PRECONDITION_FAILED, **body_errors}
    external_param = OpenApiParameter(
        "external_id", str, OpenApiParameter.PATH, description=f"Your system's id: {EXTERNAL_ID_RULE}"
    )
    id_param = OpenApiParameter("id", {"type": "string", "format": "uuid"}, OpenApiParameter.PATH)
    return extend_schema_view(
        list=extend_schema(tags=tags, summary=f"List {plural}", responses={200: out(many=True)}),
        retrieve=extend_schema(
            tags=tags,
            summary=f"Read a {name}",
            parameters=[id_param, docs.etag_header(200)],
            responses={200: OpenApiResponse(out, description="The record.")},
        ),
        create=extend_schema(
            tags=tags,
            summary=f"Create a {name}",
            request=inp,
            parameters=[
                docs.IDEMPOTENCY_KEY,
                docs.etag_header(201),
                docs.location_header(201),
                docs.replayed_header(201),
            ],
            responses={201: out, 409: docs.CONFLICT, 422: docs.IDEMPOTENCY_REUSED, **body_errors},
        ),
        update=extend_schema(
            tags=tags,
            summary=f"Replace a {name}",
            request=inp,
            parameters=[id_param, docs.IF_MATCH, docs.etag_header(200)],
            responses={200: out, **write_errors},
        ),
        partial_update=extend_schema(
            tags=tags,
            summary=f"Change some fields of a {name}",
            request=inp,
            parameters=[id_param, docs.IF_MATCH, docs.etag_header(200)],
            responses={200: out, **write_errors},
        ),
        destroy=extend_schema(
            tags=tags,
            summary=f"Delete a {name}",
            parameters=[id_param, docs.IF_MATCH],
            responses={
                204: OpenApiResponse(description="Deleted."),
                400: docs.error("Malformed If-Match."),
                404: not_found,
                **write_errors,
            },
        ),
        external=[
            extend_schema(
                methods=["GET"],
                tags=tags,
                summary=f"Read a {name} by your id",
                parameters=[external_param, docs.etag_header(200)],
                responses={200: out},
            ),
            extend_schema(
                methods=["PUT"],
                tags=tags,
                summary=f"Create or update a {name} by your id (upsert)",
                request=inp,
                parameters=[external_param, docs.IF_MATCH, docs.etag_header(200, 201), docs.location_header(201)],
                responses={200: out, 201: out, **write_errors},
            ),
        ],
        bulk=extend_schema(
            tags=tags,
            summary=f"Upsert up to {BULK_MAX_ITEMS} {plural} by your ids",
            description="All or nothing: if any item is invalid, the answer is 400 with the errors by item "
            "index (`items.3.name`) and nothing is written. Items that change nothing are left untouched "
            "(their version does not move).",
            request=bulk_request,
            parameters=[docs.IDEMPOTENCY_KEY, docs.replayed_header(200)],
            responses={
                200: docs.BulkResponseSerializer,
                409: docs.CONFLICT,
                422: docs.IDEMPOTENCY_REUSED,
                **body_errors,
            },
        ),
    )(cls)
