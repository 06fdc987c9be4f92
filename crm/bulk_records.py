"""Set-based bulk upserts of an office's contacts and interactions by the partner's id.

The same rules and effects as ``contact_create`` / ``contact_update`` and
``interaction_log`` / ``interaction_update`` called once per item (what the API's
single upsert does), in a fixed number of queries: existing records are read and
locked in one query, every item is checked before anything is written (an item
that would change nothing is left alone), and the writes go through
``crm.bulk_save.records_save``. Items arrive validated by the API's serializer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.bulk_save import (
    BulkItemErrors,
    Upserted,
    columns_of,
    existing_by_external_id,
    instance_factory,
    m2m_now,
    records_save,
    values_differ,
    values_set,
)
from crm.models import Contact, Interaction, Office
from crm.services import _check_contacts, _check_same_office, enterprise_check_not_merged


@transaction.atomic
def contacts_upsert(*, office: Office, actor: Any, items: Sequence[dict[str, Any]]) -> list[Upserted]:
    """Create or update ``office``'s contacts by ``external_id``; all or nothing.

    Raises :class:`BulkItemErrors` (a ``ValidationError`` per bad item) before any write.
    """
    existing = existing_by_external_id(Contact, office=office, external_ids=[i["external_id"] for i in items])
    errors: dict[int, Exception] = {}
    creates: list[Contact] = []
    updates: list[Contact] = []
    results: list[Upserted] = []
    new_contact = instance_factory(Contact, office=office)
    for index, item in enumerate(items):
        values = dict(item)
        contact = existing.get(item["external_id"])
        created = contact is None
        if contact is None:
            contact = new_contact()
            values_set(contact, values)
            try:
                enterprise_check_not_merged(contact.enterprise if contact.enterprise_id else None)
            except ValidationError as exc:
                errors[index] = exc
                continue
            creates.append(contact)
        elif values_differ(contact, values, {}):
            values_set(contact, values)
            updates.append(contact)
        results.append(Upserted(external_id=item["external_id"], id=contact.pk, created=created))
    if errors:
        raise BulkItemErrors(errors)
    records_save(model=Contact, creates=creates, updates=updates, update_fields=columns_of(items), actor=actor)
    return results


@transaction.atomic
def interactions_upsert(*, office: Office, actor: Any, items: Sequence[dict[str, Any]]) -> list[Upserted]:
    """Create or update ``office``'s interactions by ``external_id``; all or nothing.

    An item's ``contacts`` (when given) replace the interaction's; they must be the
    office's contacts at the interaction's enterprise, and its project the office's.
    """
    existing = existing_by_external_id(Interaction, office=office, external_ids=[i["external_id"] for i in items])
    current = m2m_now(Interaction, ["contacts"], list(existing.values()))
    errors: dict[int, Exception] = {}
    creates: list[Interaction] = []
    updates: list[Interaction] = []
    wanted: dict[Any, list[Any]] = {}
    results: list[Upserted] = []
    new_interaction = instance_factory(Interaction, office=office)
    for index, item in enumerate(items):
        values = dict(item)
        contacts = values.pop("contacts", None)
        interaction = existing.get(item["external_id"])
        created = interaction is None
        if interaction is None:
            interaction = new_interaction()
            contacts = list(contacts or ())
        elif not values_differ(interaction, item, current):
            results.append(Upserted(external_id=item["external_id"], id=interaction.pk, created=False))
            continue
        values_set(interaction, values)
        try:
            if created:
                enterprise_check_not_merged(interaction.enterprise if interaction.enterprise_id else None)
            _check_same_office(office, project=interaction.project)
            if contacts is not None:
                _check_contacts(interaction, contacts)
        except ValidationError as exc:
            errors[index] = exc
            continue
        if contacts is not None:
            wanted[interaction.pk] = contacts
        (creates if created else updates).append(interaction)
        results.append(Upserted(external_id=item["external_id"], id=interaction.pk, created=created))
    if errors:
        raise BulkItemErrors(errors)
    records_save(
        model=Interaction,
        creates=creates,
        updates=updates,
        update_fields=columns_of(items, exclude=("contacts",)),
        actor=actor,
        m2m={"contacts": wanted},
        m2m_now=current,
    )
    return results
