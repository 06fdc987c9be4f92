"""Set-based upserts by the partner's id, for the API's bulk endpoints.

A bulk request of 1000 enterprises cannot afford ``record_save``'s handful of
queries per record. :func:`enterprises_upsert` reads what exists in one locked
query, checks every item (field rules, credit codes against the directory and
against each other) before writing anything, leaves unchanged items alone (no
version bump, no history, no feed entry), and writes the rest with
``crm.records_bulk.bulk_write``: rows, history naming the actor (many-to-many
included), versions and the change feed, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm.access import EnterpriseChangeRefused, actor_may_change_enterprise
from crm.bulk_save import BulkItemErrors, Upserted, instance_factory
from crm.credit_code import normalize_credit_code
from crm.models import Enterprise, Office
from crm.pg import values_lock
from crm.records import DuplicateRecord
from crm.records_bulk import bulk_write, current_m2m
from crm.services import ENTERPRISE_DATA_FIELDS, enterprise_name_keys_set

_DERIVED = ("name_pinyin", "name_initials", "name_normalized")


@transaction.atomic
def enterprises_upsert(
    *, office: Office, actor: Any, items: Sequence[dict[str, Any]], fields_checked: bool = False
) -> list[Upserted]:
    """Create or update ``office``'s enterprises by ``external_id``; all or nothing.

    Each item holds ``external_id``, any of ``ENTERPRISE_DATA_FIELDS`` and optionally
    ``stages`` (the stages it can supply). A field left out keeps its value (a new
    record gets the model's default). Raises :class:`BulkItemErrors` — a
    ``ValidationError``, ``DuplicateRecord`` or ``EnterpriseChangeRefused`` per bad
    item — before any write.
    ``fields_checked`` says the caller has already applied the model's field rules
    to every value (the API's serializer does, rule for rule), so they are not run
    a second time; credit codes are checked against the directory either way.
    """
    ext_ids = [item["external_id"] for item in items]
    existing = {
        e.external_id: e
        for e in Enterprise.objects.select_for_update(no_key=True, of=("self",))
        # "not blank" lets PostgreSQL use the partial unique index on (external_id, office).
        .filter(office=office, external_id__in_array=ext_ids)
        .exclude(external_id="")
        .order_by("pk")
    }
    stages_now = current_m2m(Enterprise, "stages", [e.pk for e in existing.values()])
    errors: dict[int, Exception] = {}
    new_enterprise = instance_factory(Enterprise, office=office)
    plans: list[tuple[Enterprise, bool, bool]] = []  # (record, created, changed)
    wanted_stages: dict[Any, list[Any]] = {}
    for index, item in enumerate(items):
        enterprise = existing.get(item["external_id"])
        created = enterprise is None
        if not created and not actor_may_change_enterprise(actor, enterprise):
            # Only ``office``'s own enterprises are matched; the rule still has the last word.
            errors[index] = EnterpriseChangeRefused()
            continue
        if enterprise is None:
            enterprise = new_enterprise()
            enterprise.external_id = item["external_id"]
        before = None if created else tuple(getattr(enterprise, f) for f in ENTERPRISE_DATA_FIELDS)
        for name in ENTERPRISE_DATA_FIELDS:
            if name in item:
                setattr(enterprise, name, item[name])
        enterprise.credit_code = normalize_credit_code(enterprise.credit_code)
        enterprise.name = (enterprise.name or "").strip()
        if not fields_checked:
            try:
                enterprise.clean_fields(exclude=[*_DERIVED, "office", "merged_into", "source", "id"])
            except ValidationError as exc:
                errors[index] = exc
                continue
        changed = created or before != tuple(getattr(enterprise, f) for f in ENTERPRISE_DATA_FIELDS)
        stages = item.get("stages")
        if stages is not None:
            stage_ids = {s.pk for s in stages}
            if created or stage_ids != set(stages_now.get(enterprise.pk, ())):
                wanted_stages[enterprise.pk] = list(stages)
                changed = True
        if changed and (created or enterprise.name != _old_name(before)):
            enterprise_name_keys_set(enterprise)
        plans.append((enterprise, created, changed))
    _check_credit_codes(items, [p[0] for p in plans], errors, indexes=_plan_indexes(items, errors))
    if errors:
        raise BulkItemErrors(errors)
    creates = [e for e, created, _changed in plans if created]
    updates = [e for e, created, changed in plans if changed and not created]
    for _step in bulk_write(
        model=Enterprise,
        creates=creates,
        updates=updates,
        update_fields=[*ENTERPRISE_DATA_FIELDS, *_DERIVED],
        actor=actor,
        reason=_("Bulk upsert"),
        m2m={"stages": wanted_stages},
    ):
        pass
    return [Upserted(external_id=e.external_id, id=e.pk, created=created) for e, created, _changed in plans]


def _old_name(before: tuple[Any, ...] | None) -> Any:
    return None if before is None else before[ENTERPRISE_DATA_FIELDS.index("name")]


def _plan_indexes(items: Sequence[dict[str, Any]], errors: dict[int, Exception]) -> list[int]:
    """The item index of each planned record (items with field errors have no plan)."""
    return [i for i in range(len(items)) if i not in errors]


def _check_credit_codes(
    items: Sequence[dict[str, Any]], records: list[Enterprise], errors: dict[int, Exception], *, indexes: list[int]
) -> None:
    """A credit code belongs to one enterprise: not to another in the directory, not twice here."""
    by_code: dict[str, list[tuple[int, Enterprise]]] = {}
    for index, enterprise in zip(indexes, records, strict=True):
        if enterprise.credit_code:
            by_code.setdefault(enterprise.credit_code, []).append((index, enterprise))
    if not by_code:
        return
    values_lock("enterprise.credit_code", by_code)
    owners = dict(Enterprise.objects.filter(credit_code__in_array=list(by_code)).values_list("credit_code", "pk"))
    for code, claims in by_code.items():
        owner = owners.get(code)
        for position, (index, enterprise) in enumerate(claims):
            if owner is not None and owner != enterprise.pk:
                errors[index] = DuplicateRecord(
                    "credit_code",
                    owner,
                    _("An enterprise with credit code %(code)s already exists (id %(id)s).")
                    % {"code": code, "id": owner},
                )
            elif position > 0:
                errors[index] = ValidationError(
                    {
                        "credit_code": ValidationError(
                            _("Also given for another item of this request."), code="duplicate"
                        )
                    }
                )
