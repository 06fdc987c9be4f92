"""``webhook-endpoints/``: an office's webhook endpoints, with the record resources' contract.

List, read, create, update, delete, upsert by ``external_id`` and bulk, ETag /
If-Match and Idempotency-Key come from :class:`api.record_views.RecordViewSet`.
An office sees only its own endpoints (the provincial office too: an endpoint is
an office's own integration, not a shared record). The signing secret is in the
creation response only (``"secret"``); ``rotate-secret/`` returns a new one and keeps
the old one signing for the grace period. ``attempts/`` lists recent delivery attempts.
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.fields import StrictInput, Text
from api.idempotency import idempotent
from api.pagination import page_limit
from api.presenters import Column, Presenter
from api.record_docs import documented
from api.record_views import RecordViewSet, parse_uuid
from api.rendering import fmt_datetime
from api.resources.common import RECORD_COLUMNS, ExternalIdField, RecordFilter, RecordOutput
from crm.models import Office
from push.endpoints import (
    ALL_EVENTS,
    EVENT_TYPES,
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
    endpoint_update,
)
from push.models import WebhookAttempt, WebhookEndpoint

PRESENTER = Presenter(
    WebhookEndpoint,
    columns=RECORD_COLUMNS
    + (
        Column("url", "url"),
        Column("events", "events"),
        Column("description", "description"),
        Column("enabled", "enabled"),
        Column("disabled_reason", "disabled_reason"),
        Column("failing_since", "failing_since", fmt_datetime),
    ),
)
EVENT_CHOICES = [ALL_EVENTS, *EVENT_TYPES]


class WebhookEndpointOutput(RecordOutput):
    secret = serializers.CharField(
        read_only=True,
        required=False,
        help_text=_("The signing secret (whsec_…): only in the answer of the request that created the endpoint."),
    )
    url = serializers.URLField(read_only=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_CHOICES), read_only=True)
    description = serializers.CharField(read_only=True)
    enabled = serializers.BooleanField(read_only=True)
    disabled_reason = serializers.CharField(read_only=True, help_text=_("Why delivery stopped ('' when enabled)."))
    failing_since = serializers.DateTimeField(read_only=True, allow_null=True)


class WebhookEndpointInput(StrictInput):
    external_id = ExternalIdField()
    url = Text(max_length=2000, help_text=_("https:// URL of your receiver."))
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES),
        min_length=1,
        max_length=len(EVENT_CHOICES),
        help_text=_('Event types such as "contact.upsert" or "contact.delete", or "*" for all.'),
    )
    description = Text(max_length=500, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


class SecretOutput(serializers.Serializer):
    secret = serializers.CharField(help_text=_("The new signing secret (whsec_…), shown in this response only."))
    previous_secret_expires_at = serializers.DateTimeField(
        help_text=_("Until then deliveries carry a signature with the old secret too.")
    )


class AttemptOutput(serializers.Serializer):
    id = serializers.IntegerField()
    webhook_id = serializers.CharField(help_text=_("The webhook-id header: the same on every retry."))
    event = serializers.CharField()
    record = serializers.UUIDField()
    attempted_at = serializers.DateTimeField()
    outcome = serializers.ChoiceField(choices=WebhookAttempt.Outcome.values)
    status_code = serializers.IntegerField(allow_null=True)
    response_excerpt = serializers.CharField()
    error = serializers.CharField()
    duration_ms = serializers.IntegerField()


class AttemptListOutput(serializers.Serializer):
    results = AttemptOutput(many=True)


class WebhookEndpointFilter(RecordFilter):
    class Meta:
        model = WebhookEndpoint
        fields: list[str] = []


@documented
class WebhookEndpointViewSet(RecordViewSet):
    basename = "webhook-endpoints"
    noun = "webhook endpoint"
    presenter = PRESENTER
    input_serializer = WebhookEndpointInput
    output_serializer = WebhookEndpointOutput
    filterset_class = WebhookEndpointFilter

    def get_queryset(self) -> models.QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        return WebhookEndpoint.objects.filter(office=self.office)

    def location(self, pk: Any) -> str:
        return self.request.build_absolute_uri(reverse("push:webhook-endpoints-detail", args=[pk]))

    def perform_create(self, *, office: Office, actor: Any, values: dict[str, Any]) -> WebhookEndpoint:
        endpoint, secret = endpoint_create(office=office, **values)
        # Shown once: in the answer of the request that created it (create, upsert or bulk).
        self.new_secrets[str(endpoint.pk)] = secret
        return endpoint

    def perform_update(self, *, obj: WebhookEndpoint, actor: Any, values: dict[str, Any]) -> WebhookEndpoint:
        return endpoint_update(endpoint=obj, **values)

    def perform_delete(self, *, obj: WebhookEndpoint, actor: Any) -> None:
        endpoint_delete(endpoint=obj)

    @property
    def new_secrets(self) -> dict[str, str]:
        if not hasattr(self, "_new_secrets"):
            self._new_secrets: dict[str, str] = {}
        return self._new_secrets

    def detail_response(self, item: dict[str, Any], *, status_code: int = 200) -> Response:
        secret = self.new_secrets.get(str(item["id"]))
        response = super().detail_response({**item, "secret": secret} if secret else item, status_code=status_code)
        if secret:
            # The idempotency record keeps this answer sealed, never the secret in clear.
            response.holds_secret = True  # type: ignore[attr-defined]
        return response

    def _bulk(self) -> Response:
        response = super()._bulk()
        if self.new_secrets:
            for result in response.data["results"]:
                if result["id"] in self.new_secrets:
                    result["secret"] = self.new_secrets[result["id"]]
            response.holds_secret = True  # type: ignore[attr-defined]
        return response

    @extend_schema(
        tags=["webhook-endpoints"],
        summary="Rotate the signing secret",
        request=None,
        responses={200: SecretOutput},
        parameters=[OpenApiParameter("id", {"type": "string", "format": "uuid"}, OpenApiParameter.PATH)],
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str) -> Response:
        return idempotent(request, lambda: self._rotate(pk))

    def _rotate(self, pk: str) -> Response:
        with transaction.atomic():
            endpoint = self.lock(pk)
            endpoint, secret = endpoint_rotate_secret(endpoint=endpoint)
        response = Response(
            {"secret": secret, "previous_secret_expires_at": fmt_datetime(endpoint.previous_secret_expires_at)},
            headers={"ETag": f'"{endpoint.version}"'},
        )
        response.holds_secret = True  # type: ignore[attr-defined]
        return response

    @extend_schema(
        tags=["webhook-endpoints"],
        summary="Recent delivery attempts of an endpoint",
        responses={200: AttemptListOutput},
        parameters=[
            OpenApiParameter("id", {"type": "string", "format": "uuid"}, OpenApiParameter.PATH),
            OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
        ],
    )
    @action(detail=True, methods=["get"], url_path="attempts")
    def attempts(self, request: Request, pk: str) -> Response:
        obj_pk = parse_uuid(pk)
        if obj_pk is None or not self.get_queryset().filter(pk=obj_pk).exists():
            raise exceptions.NotFound()
        limit = page_limit(request)
        rows = (
            WebhookAttempt.objects.filter(endpoint_id=obj_pk)
            .select_related("message")
            .order_by("-attempted_at", "-id")[:limit]
        )
        return Response(
            {
                "results": [
                    {
                        "id": a.pk,
                        "webhook_id": a.message.webhook_id,
                        "event": a.message.event_type,
                        "record": str(a.message.object_id),
                        "attempted_at": fmt_datetime(a.attempted_at),
                        "outcome": a.outcome,
                        "status_code": a.status_code,
                        "response_excerpt": a.response_excerpt,
                        "error": a.error,
                        "duration_ms": a.duration_ms,
                    }
                    for a in rows
                ]
            }
        )
