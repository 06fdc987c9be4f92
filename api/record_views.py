"""The one view every synced record type shares: list, read, create, update, delete,
upsert by the partner's id, and bulk upsert.

Resources differ only in their presenter (output), input serializer and the
services they call. Here, once: tenancy (``scope_for_office``: another office's
record is 404 on every path; an office writes where it reads, and a record added
under another office's record, which only the provincial office can reach,
belongs to that office: ``owner_field``), ETag/If-Match, Idempotency-Key, no-op detection
(an upsert that changes nothing bumps no version and writes no history), and the
translation of domain errors.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, models, transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.concurrency import check_version, etag, if_match_version
from api.errors import Conflict, PreconditionFailed, validation_error_from
from api.fast_input import FastInput
from api.idempotency import idempotent
from api.pagination import KeysetPagination
from api.presenters import Presenter
from api.references import references_preload
from crm.access import EnterpriseChangeRefused, office_for_new_record, scope_for_office
from crm.bulk_save import BulkItemErrors, Upserted
from crm.external_ids import external_id_problem
from crm.models import Office
from crm.pg import array_literal
from crm.records import DuplicateRecord, record_lock, record_lock_for_change
from recruitment.pipeline import IllegalTransition

BULK_MAX_ITEMS = 1000
DOMAIN_ERRORS = (DjangoValidationError, IllegalTransition, DuplicateRecord)


def parse_uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except (ValueError, AttributeError, TypeError):
        return None


def external_id_error(value: Any) -> str | None:
    """The one rule of ``crm.external_ids``: the same in a URL, a body and a bulk item."""
    return external_id_problem(value)


def lock_external_ids(model: type[models.Model], office_id: int | None, external_ids: Sequence[str]) -> None:
    """Serialise concurrent upserts of the same partner ids (until the transaction ends).

    A row lock cannot guard a record that does not exist yet; two upserts creating
    the same external id would both insert and one would fail on the constraint.
    """
    if connection.vendor != "postgresql" or not external_ids:
        return
    keys = sorted(
        {
            int.from_bytes(
                hashlib.sha256(f"{model._meta.label}:{office_id}:{ext}".encode()).digest()[:8], "big", signed=True
            )
            for ext in external_ids
        }
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k", [array_literal(keys)]
        )


class RecordViewSet(viewsets.GenericViewSet):
    presenter: ClassVar[Presenter]
    input_serializer: ClassVar[type[serializers.Serializer]]
    output_serializer: ClassVar[type[serializers.Serializer]]
    # The many-to-many inputs compared as sets by has_changes: {input name: related manager name}.
    many_fields: ClassVar[dict[str, str]] = {}
    basename: ClassVar[str]
    noun: ClassVar[str]
    # The input naming the record a new one is added under (a follow-up's project): the new
    # record belongs to that record's office (``crm.access.office_for_new_record``).
    owner_field: ClassVar[str | None] = None
    lookup_value_regex = "[^/]+"
    pagination_class = KeysetPagination
    # Actions the resource refuses with 405 (kept out of the schema): left out of ``Allow`` too.
    refused_actions: ClassVar[tuple[str, ...]] = ()

    # --- what a resource provides --------------------------------------------------------

    def perform_create(self, *, office: Office, actor: Any, values: dict[str, Any]) -> models.Model:
        raise NotImplementedError

    def perform_update(self, *, obj: Any, actor: Any, values: dict[str, Any]) -> models.Model:
        raise NotImplementedError

    def perform_delete(self, *, obj: Any, actor: Any) -> None:
        raise NotImplementedError

    def check_write(self, obj: Any) -> None:
        """Refuse (403) a write the office may not make on a record it can see."""

    # --- shared machinery ----------------------------------------------------------------

    @property
    def allowed_methods(self) -> list[str]:
        action_map = getattr(self, "action_map", None) or {}
        refused = {method.upper() for method, action in action_map.items() if action in self.refused_actions}
        return [method for method in super().allowed_methods if method not in refused]

    @property
    def model(self) -> type[models.Model]:
        return self.presenter.model

    @property
    def office(self) -> Office:
        return self.request.auth.office

    def get_queryset(self) -> models.QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no office
            return self.model._default_manager.none()
        return scope_for_office(self.model._default_manager.all(), office=self.office)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "office": self.office}

    def validate_input(
        self, data: Any, *, instance: Any = None, partial: bool = False, context: dict | None = None
    ) -> dict[str, Any]:
        ctx = context if context is not None else self.get_serializer_context()
        serializer = self.input_serializer(data=data, partial=partial, context={**ctx, "instance": instance})
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def has_changes(self, obj: Any, values: dict[str, Any]) -> bool:
        """Would writing ``values`` change ``obj``? (An unchanged upsert writes nothing.)"""
        for name, value in values.items():
            if name in self.many_fields:
                current = set(getattr(obj, self.many_fields[name]).values_list("pk", flat=True))
                if current != {v.pk for v in value}:
                    return True
                continue
            current = getattr(obj, name)
            if isinstance(value, models.Model) or isinstance(current, models.Model):
                if getattr(current, "pk", None) != getattr(value, "pk", None):
                    return True
            elif current != value:
                return True
        return False

    def owner_office(self, values: dict[str, Any]) -> Office:
        """The office a new record belongs to: the caller's, or the office of the record it
        is added under (the provincial office writing on a park's project)."""
        owner = values.get(self.owner_field) if self.owner_field else None
        if owner is None:
            return self.office
        return office_for_new_record(office=self.office, owner=owner.office)

    def check_own_office(self, values: dict[str, Any]) -> None:
        """An upsert by external id creates records of the caller's office only: one added
        to another office's record belongs to that office, where the caller's external ids
        do not find it again (create it with ``POST``)."""
        owner = values.get(self.owner_field) if self.owner_field else None
        # The owner's office id alone decides (no query per item on the bulk path).
        if owner is not None and owner.office_id != self.office.pk:
            raise serializers.ValidationError(
                {
                    self.owner_field: [
                        exceptions.ErrorDetail(
                            str(
                                _(
                                    "A record added to another office's record belongs to that office: create it "
                                    "with POST (your external ids do not find it again)."
                                )
                            ),
                            code="other_office",
                        )
                    ]
                }
            )

    def check_external_id_free(self, external_id: str | None, pk: Any, *, office: Office | None = None) -> None:
        """No other record of ``office`` (by default the caller's) has ``external_id``."""
        if not external_id:
            return
        existing = (
            self.model._default_manager.filter(office=office or self.office, external_id=external_id)
            .exclude(pk=pk)
            .values_list("pk", flat=True)
            .first()
        )
        if existing:
            raise Conflict(
                _("Your office already has a record with this external id; update it with PUT external/<id>/."),
                "duplicate",
                attr="external_id",
                existing_id=existing,
            )

    def location(self, pk: Any) -> str:
        return self.request.build_absolute_uri(reverse(f"api:{self.basename}-detail", args=[pk]))

    def detail_response(self, item: dict[str, Any], *, status_code: int = 200) -> Response:
        headers = {"ETag": etag(item["version"])}
        if status_code == status.HTTP_201_CREATED:
            headers["Location"] = self.location(item["id"])
        return Response(item, status=status_code, headers=headers)

    def move_response(
        self, pk: str, input_serializer: type[serializers.Serializer], move: Callable[[Any, dict[str, Any]], None]
    ) -> Response:
        """A state move (``POST …/<id>/transition/``): If-Match, the input checked, the record
        locked and moved by ``move(record, values)`` (a service call), rendered in one transaction."""
        expected = if_match_version(self.request)
        data = input_serializer(data=self.request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            obj = self.lock(pk)
            check_version(obj, expected)
            move(obj, data.validated_data)
            item = self.presenter.render_one(obj)
        return self.detail_response(item)

    def lock(self, pk: str, *, deleting: bool = False) -> Any:
        """The visible record ``pk``, row-locked (404 otherwise).

        A change takes ``FOR NO KEY UPDATE`` (see ``record_lock_for_change``); only a
        delete takes the full row lock. The caller compares the version once it has
        validated the request (``check_version``), so bad input is a 400 whatever
        the If-Match.
        """
        obj_pk = parse_uuid(pk)
        if obj_pk is None:
            raise exceptions.NotFound()
        lock = record_lock if deleting else record_lock_for_change
        try:
            return lock(self.get_queryset(), pk=obj_pk)
        except self.model.DoesNotExist:
            raise exceptions.NotFound() from None

    # --- endpoints ---------------------------------------------------------------------------

    def list(self, request: Request) -> Response:
        qs = self.filter_queryset(self.get_queryset())
        items, next_url = self.paginator.paginate(qs, request, field="id", render=self.presenter.render, key="id")
        return Response({"results": items, "next": next_url})

    def retrieve(self, request: Request, pk: str) -> Response:
        obj_pk = parse_uuid(pk)
        items = self.presenter.render(self.get_queryset().filter(pk=obj_pk)) if obj_pk else []
        if not items:
            raise exceptions.NotFound()
        return self.detail_response(items[0])

    def create(self, request: Request) -> Response:
        return idempotent(request, self._create)

    def _create(self) -> Response:
        values = self.validate_input(self.request.data)
        with transaction.atomic():
            office = self.owner_office(values)
            self.check_external_id_free(values.get("external_id"), None, office=office)
            obj = self.perform_create(office=office, actor=self.request.user, values=values)
            item = self.presenter.render_one(obj)
        return self.detail_response(item, status_code=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        expected = if_match_version(request)
        with transaction.atomic():
            obj = self.lock(pk)
            self.check_write(obj)
            values = self.validate_input(request.data, instance=obj, partial=partial)
            check_version(obj, expected)
            self.check_external_id_free(values.get("external_id"), obj.pk, office=obj.office)
            if self.has_changes(obj, values):
                obj = self.perform_update(obj=obj, actor=request.user, values=values)
            item = self.presenter.render_one(obj)
        return self.detail_response(item)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: str) -> Response:
        expected = if_match_version(request)
        with transaction.atomic():
            obj = self.lock(pk, deleting=True)
            self.check_write(obj)
            check_version(obj, expected)
            self.perform_delete(obj=obj, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=False, methods=["get", "put"], url_path=r"external/(?P<external_id>[^/]+)")
    def external(self, request: Request, external_id: str) -> Response:
        problem = external_id_error(external_id)
        if request.method == "GET":
            items = (
                []
                if problem
                else self.presenter.render(self.get_queryset().filter(office=self.office, external_id=external_id))
            )
            if not items:
                raise exceptions.NotFound()
            return self.detail_response(items[0])
        if problem:
            raise serializers.ValidationError({"external_id": [problem]}, code="invalid")
        return self._upsert_external(request, external_id)

    def _upsert_external(self, request: Request, external_id: str) -> Response:
        expected = if_match_version(request)
        body_id = request.data.get("external_id") if isinstance(request.data, dict) else None
        if body_id not in (None, "", external_id):
            raise serializers.ValidationError(
                {"external_id": [_("The body names another external id than the URL.")]}, code="invalid"
            )
        with transaction.atomic():
            lock_external_ids(self.model, self.office.pk, [external_id])
            obj = (
                self.model._default_manager.select_for_update(no_key=True)
                .filter(office=self.office, external_id=external_id)
                .first()
            )
            if obj is None:
                values = self.validate_input(request.data)
                self.check_own_office(values)
                if expected is not None:
                    raise PreconditionFailed(_("There is no record with this external id to match If-Match."))
                values["external_id"] = external_id
                obj = self.perform_create(office=self.office, actor=request.user, values=values)
                created = True
            else:
                self.check_write(obj)
                values = self.validate_input(request.data, instance=obj)
                check_version(obj, expected)
                values["external_id"] = external_id
                if self.has_changes(obj, values):
                    obj = self.perform_update(obj=obj, actor=request.user, values=values)
                created = False
            item = self.presenter.render_one(obj)
        return self.detail_response(item, status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request: Request) -> Response:
        return idempotent(request, self._bulk)

    def bulk_items(self, data: Any) -> list[dict[str, Any]]:
        """The envelope's items, each with a valid and distinct ``external_id``."""
        if not isinstance(data, dict) or "items" not in data:
            raise serializers.ValidationError({"items": [_('Send {"items": [...]}.')]}, code="required")
        unknown = sorted(str(key)[:100] for key in data if key != "items")
        if unknown:
            raise serializers.ValidationError(
                {
                    key: [
                        exceptions.ErrorDetail(
                            str(_('Unknown field: send {"items": [...]} only.')), code="unknown_field"
                        )
                    ]
                    for key in unknown[:20]
                }
            )
        items = data["items"]
        if not isinstance(items, list):
            raise serializers.ValidationError({"items": [_("Expected a list of items.")]}, code="not_a_list")
        if not 1 <= len(items) <= BULK_MAX_ITEMS:
            raise serializers.ValidationError(
                {"items": [_("Send 1 to %(n)d items.") % {"n": BULK_MAX_ITEMS}]}, code="invalid"
            )
        errors: dict[str, list] = {}
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                errors[f"items.{index}"] = [exceptions.ErrorDetail(str(_("Expected an object.")), code="invalid")]
                continue
            ext = item.get("external_id")
            problem = external_id_error(ext)
            if problem:
                code = "required" if ext in (None, "") else "invalid"
                errors[f"items.{index}.external_id"] = [exceptions.ErrorDetail(problem, code=code)]
            elif ext in seen:
                errors[f"items.{index}.external_id"] = [
                    exceptions.ErrorDetail(
                        str(_("Also given in item %(i)d: each record once per request.") % {"i": seen[ext]}),
                        code="duplicate",
                    )
                ]
            else:
                seen[ext] = index
        if errors:
            raise serializers.ValidationError(errors)
        return items

    def bulk_upsert(self, values: list[dict[str, Any]]) -> list[Upserted]:
        """Write the validated items; raise ``BulkItemErrors`` for items refused.

        Synced records override this with a set-based ``crm``/``recruitment`` bulk service.
        This default (small resources such as webhook endpoints) writes item by item through
        the resource's own create and update inside the request's transaction, so a refused
        item still leaves nothing written."""
        external_ids = [v["external_id"] for v in values]
        existing = {
            obj.external_id: obj
            for obj in self.model._default_manager.select_for_update(no_key=True)
            .filter(office=self.office, external_id__in=external_ids)
            .order_by("pk")
        }
        results: list[Upserted] = []
        errors: dict[int, Exception] = {}
        for index, item in enumerate(values):
            obj = existing.get(item["external_id"])
            try:
                with transaction.atomic():
                    if obj is None:
                        obj = self.perform_create(office=self.office, actor=self.request.user, values=item)
                        created = True
                    else:
                        if self.has_changes(obj, item):
                            obj = self.perform_update(obj=obj, actor=self.request.user, values=item)
                        created = False
            except DOMAIN_ERRORS as exc:
                errors[index] = exc
                continue
            results.append(Upserted(external_id=item["external_id"], id=obj.pk, created=created))
        if errors:
            raise BulkItemErrors(errors)
        return results

    def bulk_validate(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every item through the input serializer's rules, errors by item index (400).

        The records the items name are loaded first, one query per field
        (``references_preload``); plain valid items are taken by the fast check
        (``api.fast_input``), the rest go through the serializer, which also words every error.
        """
        context = self.get_serializer_context()
        references_preload(self.input_serializer(context=context), items, context)
        try:
            fast: FastInput | None = FastInput(self.input_serializer(context=context))
        except TypeError:  # object-level validation: the serializer does every item
            fast = None
        checked = [fast.validate(item) if fast is not None else None for item in items]
        others = [index for index, values in enumerate(checked) if values is None]
        if others:
            serializer = self.input_serializer(data=[items[i] for i in others], many=True, context=context)
            if not serializer.is_valid():
                errors: dict[str, Any] = {}
                found = serializer.errors  # per item: a list, or {position: …} in newer DRF
                for position, detail in found.items() if isinstance(found, dict) else enumerate(found):
                    errors.update({f"items.{others[int(position)]}.{k}": v for k, v in detail.items()})
                raise serializers.ValidationError(errors)
            for index, validated in zip(others, serializer.validated_data, strict=True):
                checked[index] = validated
        return [
            {**validated, "external_id": item["external_id"]}  # type: ignore[dict-item]
            for item, validated in zip(items, checked, strict=True)
        ]

    def _bulk(self) -> Response:
        """Set-based: 1000 items in a fixed number of queries, with the effects of 1000 single upserts."""
        items = self.bulk_items(self.request.data)
        values = self.bulk_validate(items)
        with transaction.atomic():
            lock_external_ids(self.model, self.office.pk, [v["external_id"] for v in values])
            # An upsert by external id writes the caller's office's records only (check_own_office).
            refused: dict[str, Any] = {}
            for index, item_values in enumerate(values):
                try:
                    self.check_own_office(item_values)
                except exceptions.ValidationError as exc:
                    refused.update(bulk_item_errors(exc, index))
            if refused:
                raise serializers.ValidationError(refused)
            try:
                upserted = self.bulk_upsert(values)
            except BulkItemErrors as exc:
                errors: dict[str, Any] = {}
                for index, error in sorted(exc.errors.items()):
                    errors.update(bulk_item_errors(error, index))
                raise serializers.ValidationError(errors) from None
        return Response(
            {"results": [{"external_id": u.external_id, "id": str(u.id), "created": u.created} for u in upserted]}
        )


def bulk_item_errors(exc: Exception, index: int) -> dict[str, Any]:
    """Errors of bulk item ``index`` keyed by their path (``items.3.credit_code``)."""
    prefix = f"items.{index}."
    if isinstance(exc, exceptions.PermissionDenied):
        return {f"items.{index}": [exceptions.ErrorDetail(str(exc.detail), code="permission_denied")]}
    if isinstance(exc, EnterpriseChangeRefused):
        return {f"items.{index}": [exceptions.ErrorDetail(str(exc), code="permission_denied")]}
    api_exc = validation_error_from(exc, prefix=prefix)
    if isinstance(api_exc, Conflict):
        return {api_exc.attr or f"items.{index}": [exceptions.ErrorDetail(str(api_exc.detail), code="duplicate")]}
    return dict(api_exc.detail)
