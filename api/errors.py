"""The one error format of the API, and the translation of domain errors into it.

Every 4xx answers ``{"type": ..., "errors": [{"attr", "code", "detail"}]}`` (the
drf-standardized-errors shape). Services raise domain errors (a Django
``ValidationError``, ``IllegalTransition``, ``VersionConflict``,
``DuplicateRecord``, ``RecordNotFound``, ``EnterpriseChangeRefused``); they become the matching status here, in
one place, so no resource can leak a 500 for bad input.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from drf_standardized_errors.handler import ExceptionHandler
from drf_standardized_errors.openapi_serializers import ClientErrorEnum
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings

from api.rendering import dumps
from crm.access import EnterpriseChangeRefused, RecordNotFound
from crm.records import DuplicateRecord, VersionConflict
from recruitment.landing import ProgressImmutable
from recruitment.pipeline import IllegalTransition
from recruitment.supervision import IllegalOrderMove, SupervisionNotAllowed


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _("The record has changed since you read it (If-Match does not match its ETag).")
    default_code = "precondition_failed"


class Conflict(exceptions.APIException):
    """409: the request clashes with an existing record (``existing_id`` names it)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The request conflicts with an existing record.")
    default_code = "conflict"

    def __init__(self, detail: Any = None, code: str | None = None, *, attr: str | None = None, existing_id=None):  # type: ignore[no-untyped-def]
        self.attr = attr
        self.existing_id = existing_id
        super().__init__(detail, code)


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = _("This Idempotency-Key was already used with a different request; use a new key.")
    default_code = "idempotency_key_reused"


class CursorExpired(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_detail = _(
        "This cursor is older than the change feed keeps deletions for. Resync: list every resource "
        "again, then follow the feed from the cursor of a fresh call without `after`."
    )
    default_code = "cursor_expired"


def _detail_from_django(exc: DjangoValidationError, *, prefix: str = "") -> dict[str, list[ErrorDetail]]:
    """A Django ValidationError as DRF field errors, keeping each message's code."""
    out: dict[str, list[ErrorDetail]] = {}
    if hasattr(exc, "error_dict"):
        items = exc.error_dict.items()
    else:
        items = [(NON_FIELD_ERRORS, exc.error_list)]
    for field, errors in items:
        name = api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field
        key = f"{prefix}{name}"
        for error in errors:
            for single in getattr(error, "error_list", [error]):
                text = single.message % single.params if single.params else single.message
                out.setdefault(key, []).append(ErrorDetail(str(text), code=single.code or "invalid"))
    return out


def validation_error_from(exc: Exception, *, prefix: str = "", status_field: str = "status") -> exceptions.APIException:
    """The API exception for a domain error; ``prefix`` places field paths (``items.3.``)."""
    if isinstance(exc, exceptions.ValidationError):
        if not prefix:
            return exc
        return exceptions.ValidationError(_prefix_detail(exc.detail, prefix))
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(_detail_from_django(exc, prefix=prefix))
    if isinstance(exc, IllegalTransition):
        return exceptions.ValidationError({f"{prefix}{status_field}": [ErrorDetail(exc.message, code=exc.code)]})
    if isinstance(exc, DuplicateRecord):
        return Conflict(str(exc), "duplicate", attr=f"{prefix}{exc.field}", existing_id=exc.existing_id)
    raise TypeError(f"not a domain error: {exc!r}")


def _prefix_detail(detail: Any, prefix: str) -> Any:
    if isinstance(detail, dict):
        return {f"{prefix}{key}": value for key, value in detail.items()}
    return {f"{prefix}{api_settings.NON_FIELD_ERRORS_KEY}": detail}


_DEADLOCK_CODES = {"40P01", "40001"}  # deadlock detected, serialization failure


def plain_error(status: int, code: str, detail: str, *, close: bool = False) -> HttpResponse | StreamingHttpResponse:
    """An error in the API's format, for answers given outside DRF (middleware, URL resolution)."""
    body = dumps({"type": "client_error", "errors": [{"code": code, "detail": detail, "attr": None}]})
    if close:
        # The body is left unread on the connection: the server must close it after
        # answering, or it would take the rest of the body for the next request.
        # An application may not send ``Connection: close`` (a hop-by-hop header);
        # an answer of unknown length makes every server close (runserver says so
        # and does, gunicorn ends such an answer with the connection).
        return StreamingHttpResponse(iter([body]), status=status, content_type="application/json")
    response = HttpResponse(body, status=status, content_type="application/json")
    response["Content-Length"] = str(len(body))
    return response


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 handler: under ``/api/`` a URL that matches no route answers in the API's format."""
    if request.path.startswith("/api/"):
        return plain_error(404, "not_found", str(_("Not found.")))
    return defaults.page_not_found(request, exception)


class ApiExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, (DjangoValidationError, IllegalTransition)):
            return validation_error_from(exc)
        if isinstance(exc, DuplicateRecord):
            return validation_error_from(exc)
        if isinstance(exc, VersionConflict):
            return PreconditionFailed(
                _("The record is at version %(v)s; If-Match does not match. Read it again and retry.")
                % {"v": exc.current_version}
            )
        if isinstance(exc, RecordNotFound):
            return exceptions.NotFound()
        if isinstance(exc, EnterpriseChangeRefused):
            return exceptions.PermissionDenied(str(exc))
        if isinstance(exc, ProgressImmutable):
            return exceptions.MethodNotAllowed("PUT", detail=str(exc))
        if isinstance(exc, SupervisionNotAllowed):
            return exceptions.PermissionDenied(str(exc), code=exc.code)
        if isinstance(exc, IllegalOrderMove):
            return exceptions.ValidationError({"to": [ErrorDetail(exc.message, code=exc.code)]})
        if isinstance(exc, (ProtectedError, RestrictedError)):
            return Conflict(_("Other records still refer to this one; remove them first."), "protected")
        if isinstance(exc, IntegrityError) or (
            isinstance(exc, DatabaseError)
            and getattr(getattr(exc, "__cause__", None), "sqlstate", None) in _DEADLOCK_CODES
        ):
            # A unique or foreign-key clash that the checks before the write could not see
            # (a concurrent request got there first), or a deadlock: nothing was written.
            return Conflict(_("A concurrent change got in the way; retry the request."), "concurrent_change")
        return super().convert_known_exceptions(exc)

    def format_exception(self, exc: exceptions.APIException) -> dict:
        data = super().format_exception(exc)
        if isinstance(exc, Conflict):
            for error in data["errors"]:
                if exc.attr:
                    error["attr"] = exc.attr
                if exc.existing_id is not None:
                    error["existing_id"] = str(exc.existing_id)
        return data


# --- Schemas of the error bodies (for the OpenAPI document) ------------------------------


class ErrorItemSerializer(serializers.Serializer):
    attr = serializers.CharField(
        allow_null=True,
        help_text=_("The field the error is about, as a path (`items.3.credit_code`); null for the whole request."),
    )
    code = serializers.CharField(help_text=_("Machine-readable error code, e.g. `required`, `illegal_transition`."))
    detail = serializers.CharField(help_text=_("Human-readable message."))


class ConflictItemSerializer(ErrorItemSerializer):
    existing_id = serializers.CharField(required=False, help_text=_("Id of the record the request clashes with."))


ERROR_TYPES = ["validation_error", "client_error", "server_error"]


class ErrorResponseSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ERROR_TYPES)
    errors = ErrorItemSerializer(many=True)


class ConflictResponseSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = ConflictItemSerializer(many=True)
