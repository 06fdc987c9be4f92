"""Writing synced records: validation, version, history and the change feed, in one place.

Every service that creates, updates or deletes an office record (or an
enterprise) goes through :func:`record_save` / :func:`record_delete`, so the
version always moves by one, the history names who did it, and the change feed
sees the write in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext as _

from crm.changes import changes_record
from crm.external_ids import external_id_validate
from crm.models import ChangeEntry

R = TypeVar("R", bound=models.Model)


class VersionConflict(Exception):
    """The record changed since the version the caller read (If-Match failed)."""

    def __init__(self, current_version: int) -> None:
        self.current_version = current_version
        super().__init__(f"The record is at version {current_version}.")


class DuplicateRecord(Exception):
    """A unique field clashes with an existing record (e.g. a credit code)."""

    def __init__(self, field: str, existing_id: object, message: str) -> None:
        self.field = field
        self.existing_id = existing_id
        super().__init__(message)


def record_lock(qs: models.QuerySet[R], *, pk: object, expected_version: int | None = None) -> R:
    """Lock the row for update and check the version the caller expects.

    Two concurrent updates with the same expected version serialise on the row
    lock; the second sees the first's version and gets :class:`VersionConflict`.
    """
    obj = qs.select_for_update().get(pk=pk)
    if expected_version is not None and obj.version != expected_version:
        raise VersionConflict(obj.version)  # type: ignore[attr-defined]
    return obj


def record_validate(obj: models.Model, *, exclude: Sequence[str] = ()) -> None:
    """Field, model and constraint validation with messages naming the field, and the
    external-id rule of :mod:`crm.external_ids` (whatever path the value came by)."""
    errors: dict[str, list[ValidationError]] = {}
    try:
        obj.full_clean(exclude=list(exclude) or None, validate_unique=True, validate_constraints=True)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if "external_id" not in exclude and any(f.name == "external_id" for f in obj._meta.concrete_fields):
        try:
            external_id_validate(obj.external_id)  # type: ignore[attr-defined]
        except ValidationError as exc:
            if not _stored_unchanged(obj, "external_id"):
                errors.setdefault("external_id", []).extend(exc.error_list)
    if errors:
        raise ValidationError(errors)


def _stored_unchanged(obj: models.Model, name: str) -> bool:
    """The record is saved with ``name`` as stored (a value kept from before a rule is not
    refused on every later edit; only a new value must follow it). One query, asked only
    when the value breaks the rule."""
    if obj._state.adding:
        return False
    stored = type(obj)._base_manager.filter(pk=obj.pk).values_list(name, flat=True).first()
    return stored == getattr(obj, name)


def history_actor(actor):  # type: ignore[no-untyped-def]
    """Who a write names in its history: a signed-in user, else nobody (a task, a script,
    an anonymous request)."""
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def history_actor_set(obj: models.Model, actor) -> None:  # type: ignore[no-untyped-def]
    """Name ``actor`` in the history row of the next save or delete of ``obj`` (outside a request too)."""
    if history_actor(actor) is not None:
        obj._history_user = actor  # type: ignore[attr-defined]


def record_save(obj: R, *, actor=None, created: bool, validate: bool = True, m2m: dict | None = None) -> R:  # type: ignore[no-untyped-def]
    """Validate and save ``obj``, bump its version, set its many-to-many fields and log the change."""
    if validate:
        record_validate(obj)
    if not created:
        obj.version = obj.version + 1  # type: ignore[attr-defined]
    history_actor_set(obj, actor)
    with transaction.atomic():
        try:
            with transaction.atomic():
                obj.save(force_insert=created)
        except IntegrityError as exc:
            duplicate = duplicate_from_integrity(obj, exc)
            if duplicate is not None:
                raise duplicate from exc
            raise ValidationError(str(exc).splitlines()[0], code="integrity") from exc
        for name, values in (m2m or {}).items():
            getattr(obj, name).set(values)
        changes_record(objects=[obj])
    return obj


def duplicate_from_integrity(obj: models.Model, exc: IntegrityError) -> DuplicateRecord | None:
    """A unique violation as :class:`DuplicateRecord` naming the record that holds the value.

    The checks before a write cannot see a row a concurrent transaction has not yet
    committed; PostgreSQL then makes the second insert wait and refuses it. That is
    the same clash the check reports, and is answered the same way (never with the
    database's constraint text).
    """
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) != "23505":  # unique_violation
        return None
    constraint = getattr(getattr(cause, "diag", None), "constraint_name", None)
    meta = obj._meta
    fields: list[str] = []
    for candidate in meta.constraints:
        if isinstance(candidate, models.UniqueConstraint) and candidate.name == constraint:
            fields = list(candidate.fields)
    if not fields:
        for field in meta.concrete_fields:
            if field.unique and not field.primary_key and constraint and field.column in constraint:
                fields = [field.name]
    if not fields:
        return None
    lookup = {name: getattr(obj, meta.get_field(name).attname) for name in fields}
    existing = type(obj)._default_manager.filter(**lookup).exclude(pk=obj.pk).values_list("pk", flat=True).first()
    if existing is None:
        return None
    field = next((name for name in fields if name != "office"), fields[0])
    return DuplicateRecord(
        field,
        existing,
        _("Another record already has this %(field)s (id %(id)s).")
        % {"field": meta.get_field(field).verbose_name, "id": existing},
    )


def record_delete(obj: models.Model, *, actor=None) -> None:  # type: ignore[no-untyped-def]
    with transaction.atomic():
        history_actor_set(obj, actor)
        pk = obj.pk
        changes_record(objects=[obj], op=ChangeEntry.Op.DELETE)
        obj.delete()
        obj.pk = pk


def record_lock_for_change(qs: models.QuerySet[R], *, pk: object, expected_version: int | None = None) -> R:
    """:func:`record_lock` for a change that keeps the row's key: ``FOR NO KEY UPDATE``.

    Two writers of the row still serialise, but a transaction inserting a row that
    refers to this one (its foreign-key check takes ``KEY SHARE``, at commit, since
    Django's constraints are deferred) is not blocked. A full ``FOR UPDATE`` would
    block it, and deadlock against a writer that holds a change-feed render lock
    (``crm.changes.register_render_locks``) while it waits for this row.
    """
    obj = qs.select_for_update(no_key=True).get(pk=pk)
    if expected_version is not None and obj.version != expected_version:
        raise VersionConflict(obj.version)  # type: ignore[attr-defined]
    return obj
