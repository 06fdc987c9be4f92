"""Input fields that name other things: stages and parks by code, records by id.

Stage codes resolve against an index of every stage, loaded once per request (the
reference data is small), so a bulk request of 1000 items resolves its codes with
one query. The rules are those of ``chains.selectors.stages_by_codes``: a plain
code must be unique across chains, ``chain/stage`` picks one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fast_input import BUILT_IN_TEXT_VALIDATORS
from api.fields import Text, Uuid
from chains.models import Park, Stage

MAX_CODES = 100


class StageIndex:
    def __init__(self) -> None:
        self._plain: dict[str, list[Stage]] = {}
        self._qualified: dict[str, Stage] = {}
        for stage in Stage.objects.select_related("chain").order_by("chain__code", "order", "code"):
            self._plain.setdefault(stage.code, []).append(stage)
            self._qualified[f"{stage.chain.code}/{stage.code}"] = stage

    def resolve(self, codes: Iterable[str]) -> list[Stage]:
        result: list[Stage] = []
        errors: list[str] = []
        for raw in codes:
            code = raw.strip()
            if "/" in code:
                stage = self._qualified.get(code)
                matches = [stage] if stage else []
            else:
                matches = self._plain.get(code, [])
            if not matches:
                errors.append(_("Unknown stage code “%(code)s”.") % {"code": code})
            elif len(matches) > 1:
                errors.append(
                    _("Stage code “%(code)s” is used in several chains; write it as chain/stage.") % {"code": code}
                )
            elif matches[0] not in result:
                result.append(matches[0])
        if errors:
            raise serializers.ValidationError(errors, code="unknown_stage")
        return result


class ParkIndex:
    def __init__(self) -> None:
        self._by_code = {park.code: park for park in Park.objects.all()}

    def resolve(self, code: str) -> Park:
        park = self._by_code.get(code.strip())
        if park is None:
            raise serializers.ValidationError(_("Unknown park code “%(code)s”.") % {"code": code}, code="unknown_park")
        return park


def _cached(context: dict[str, Any], name: str, factory: type) -> Any:
    if name not in context:
        context[name] = factory()
    return context[name]


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "maxLength": 130},
        "maxItems": MAX_CODES,
        "example": ["cf-carbon-fibre"],
    }
)
class StageCodesField(serializers.ListField):
    """A list of stage codes in, a list of stages out."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("child", Text(max_length=130))
        kwargs.setdefault("max_length", MAX_CODES)
        kwargs.setdefault(
            "help_text", gettext_lazy("Stage codes (`chain/stage` when a code is used in several chains).")
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[Stage]:
        codes = super().to_internal_value(data)
        return _cached(self.context, "stage_index", StageIndex).resolve(codes)

    def fast_check(self, data: Any) -> tuple[bool, Any]:
        """For ``api.fast_input``: a plain list of known codes, resolved as :meth:`run_validation`
        would; anything else is left to it (it words the error)."""
        child = self.child
        if (
            type(data) is not list
            or (self.max_length is not None and len(data) > self.max_length)
            or (self.min_length is not None and len(data) < self.min_length)
            or (not data and not self.allow_empty)
            or type(child) is not Text
            or not child.trim_whitespace
            or child.allow_blank
            or child.min_length
            or not all(isinstance(v, BUILT_IN_TEXT_VALIDATORS) for v in child.validators)
        ):
            return False, None
        codes = []
        for code in data:
            if type(code) is not str:
                return False, None
            code = code.strip()
            if not code or (child.max_length is not None and len(code) > child.max_length) or "\x00" in code:
                return False, None
            if not code.isascii():
                try:
                    code.encode("utf-8")
                except UnicodeEncodeError:
                    return False, None
            codes.append(code)
        try:
            return True, _cached(self.context, "stage_index", StageIndex).resolve(codes)
        except serializers.ValidationError:
            return False, None


@extend_schema_field({"type": "string", "maxLength": 64, "example": "yangqu"})
class ParkCodeField(Text):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("help_text", gettext_lazy("Park code."))
        super().__init__(**kwargs)

    def run_validation(self, data: Any = serializers.empty) -> Any:
        code = super().run_validation(data)
        if not code:
            return code
        return _cached(self.context, "park_index", ParkIndex).resolve(code)


class RecordRefField(Uuid):
    """A record id in, the record out; another office's record is "not found", as on every path."""

    def __init__(self, *, model_label: str, scoped: bool, **kwargs: Any) -> None:
        self.model_label = model_label
        self.scoped = scoped
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        pk = super().to_internal_value(data)
        from django.apps import apps

        model = apps.get_model(self.model_label)
        loaded = _loaded(self.context, self.model_label, self.scoped)
        if loaded is not None and pk in loaded:
            obj = loaded[pk]
        else:
            obj = _records(self.model_label, self.scoped, self.context["office"], [pk]).get(pk)
        if obj is None:
            raise serializers.ValidationError(
                _("No %(what)s with id %(id)s.") % {"what": model._meta.verbose_name, "id": pk}, code="does_not_exist"
            )
        return obj

    def preload(self, values: list[Any], context: dict[str, Any]) -> None:
        _preload(context, self.model_label, self.scoped, values)


class RecordRefsField(serializers.ListField):
    """A list of record ids in, the records out (one query for the whole list)."""

    def __init__(self, *, model_label: str, **kwargs: Any) -> None:
        self.model_label = model_label
        kwargs.setdefault("child", Uuid())
        kwargs.setdefault("max_length", MAX_CODES)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[Any]:
        ids = list(dict.fromkeys(super().to_internal_value(data)))
        from django.apps import apps

        model = apps.get_model(self.model_label)
        loaded = _loaded(self.context, self.model_label, True)
        if loaded is not None and all(pk in loaded for pk in ids):
            found = {pk: loaded[pk] for pk in ids if loaded[pk] is not None}
        else:
            found = _records(self.model_label, True, self.context["office"], ids)
        missing = [str(pk) for pk in ids if pk not in found]
        if missing:
            raise serializers.ValidationError(
                _("No %(what)s with id %(ids)s.") % {"what": model._meta.verbose_name, "ids": ", ".join(missing)},
                code="does_not_exist",
            )
        return [found[pk] for pk in ids]

    def preload(self, values: list[Any], context: dict[str, Any]) -> None:
        _preload(context, self.model_label, True, [v for value in values if isinstance(value, list) for v in value])


def references_preload(serializer: serializers.Serializer, items: list[Any], context: dict[str, Any]) -> None:
    """Load every record the items of a bulk request name, one query per field, before they
    are validated: the fields then find them in ``context`` instead of querying item by item.

    A field with a ``preload(values, context)`` method is given the raw values of that
    field across the items; a value it cannot read is left for the field to refuse.
    """
    for name, field in serializer.fields.items():
        preload = getattr(field, "preload", None)
        if preload is not None and not field.read_only:
            preload([item[name] for item in items if isinstance(item, dict) and name in item], context)


def _records(model_label: str, scoped: bool, office: Any, pks: list[Any]) -> dict[Any, Any]:
    from django.apps import apps

    from crm.access import scope_for_office

    model = apps.get_model(model_label)
    qs = model._default_manager.all()
    if scoped:
        qs = scope_for_office(qs, office=office)
    return {obj.pk: obj for obj in qs.filter(pk__in_array=pks)}


def _loaded(context: dict[str, Any], model_label: str, scoped: bool) -> dict[Any, Any] | None:
    return context.get("record_refs", {}).get((model_label, scoped))


def _preload(context: dict[str, Any], model_label: str, scoped: bool, values: list[Any]) -> None:
    pks: set[uuid.UUID] = set()
    for value in values:
        try:
            pks.add(uuid.UUID(value) if isinstance(value, str) else value)
        except (ValueError, AttributeError, TypeError):
            continue
    pks = {pk for pk in pks if isinstance(pk, uuid.UUID)}
    found = _records(model_label, scoped, context["office"], list(pks)) if pks else {}
    cache = context.setdefault("record_refs", {}).setdefault((model_label, scoped), {})
    cache.update({pk: found.get(pk) for pk in pks})
