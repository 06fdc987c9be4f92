"""Writes on the parties: enterprises, presences, contacts and interactions.

Keyword-only, typed, each a whole unit of work in one transaction. Views, admin,
API, imports and seeds call these; none of them writes a model directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from chains.models import Park, Stage
from crm.access import enterprise_check_change, office_sees_everything
from crm.credit_code import normalize_credit_code
from crm.models import Contact, Enterprise, Interaction, Office, Presence
from crm.names import normalize_name, pinyin_keys
from crm.pg import values_lock
from crm.records import DuplicateRecord, history_actor_set, record_delete, record_save
from crm.records_bulk import bulk_write

# What an enterprise says about itself: what partners, imports and staff write.
ENTERPRISE_DATA_FIELDS = (
    "name",
    "name_en",
    "credit_code",
    "ownership",
    "province",
    "city",
    "registered_capital",
    "website",
)
ENTERPRISE_FIELDS = (*ENTERPRISE_DATA_FIELDS, "external_id", "source", "is_demo")
CONTACT_FIELDS = ("enterprise", "name", "title", "phone", "email", "wechat", "external_id")
INTERACTION_FIELDS = ("enterprise", "project", "kind", "occurred_at", "summary", "staff", "external_id")


def _apply(obj: Any, fields: Iterable[str], data: dict[str, Any]) -> None:
    unknown = set(data) - set(fields)
    if unknown:
        raise ValidationError({name: _("Unknown field.") for name in sorted(unknown)})
    for name, value in data.items():
        setattr(obj, name, value)


def enterprise_name_keys_set(enterprise: Enterprise) -> None:
    """Trim the name and derive the keys search and duplicate detection read from it."""
    enterprise.name = (enterprise.name or "").strip()
    enterprise.name_pinyin, enterprise.name_initials = pinyin_keys(enterprise.name)
    enterprise.name_normalized = normalize_name(enterprise.name)


def _prepare_enterprise(enterprise: Enterprise) -> None:
    enterprise.credit_code = normalize_credit_code(enterprise.credit_code)
    enterprise_name_keys_set(enterprise)
    if enterprise.credit_code:
        values_lock("enterprise.credit_code", [enterprise.credit_code])
        existing = (
            Enterprise.objects.filter(credit_code=enterprise.credit_code)
            .exclude(pk=enterprise.pk)
            .values_list("pk", flat=True)
            .first()
        )
        if existing:
            raise DuplicateRecord(
                "credit_code",
                existing,
                _("An enterprise with credit code %(code)s already exists (id %(id)s).")
                % {"code": enterprise.credit_code, "id": existing},
            )


@transaction.atomic
def enterprise_create(
    *,
    office: Office | None,
    actor=None,
    stages: Iterable[Stage] = (),
    **data: Any,  # type: ignore[no-untyped-def]
) -> Enterprise:
    enterprise = Enterprise(office=office)
    _apply(enterprise, ENTERPRISE_FIELDS, data)
    _prepare_enterprise(enterprise)
    return record_save(enterprise, actor=actor, created=True, m2m={"stages": list(stages)})


@transaction.atomic
def enterprise_update(
    *,
    enterprise: Enterprise,
    actor=None,
    stages: Iterable[Stage] | None = None,
    **data: Any,  # type: ignore[no-untyped-def]
) -> Enterprise:
    """Change an enterprise; only its creating office or the provincial office may
    (:func:`crm.access.enterprise_check_change`)."""
    enterprise_check_change(actor=actor, enterprise=enterprise)
    _apply(enterprise, ENTERPRISE_FIELDS, data)
    _prepare_enterprise(enterprise)
    m2m = {"stages": list(stages)} if stages is not None else None
    return record_save(enterprise, actor=actor, created=False, m2m=m2m)


@transaction.atomic
def enterprise_delete(*, enterprise: Enterprise, actor=None) -> None:  # type: ignore[no-untyped-def]
    """Delete an enterprise with every office's contacts and interactions at it.

    Only its creating office or the provincial office may; below the provincial
    office, only while no other office keeps contacts or interactions there.
    """
    enterprise_check_change(actor=actor, enterprise=enterprise)
    office = getattr(actor, "office", None) if actor is not None else None
    if (
        office is not None
        and not office_sees_everything(office)
        and (
            enterprise.contacts.exclude(office=office).exists()
            or enterprise.interactions.exclude(office=office).exists()
        )
    ):
        raise ValidationError(
            _("Other offices keep contacts, interactions or projects of this enterprise; ask the provincial office."),
            code="protected",
        )
    if enterprise.projects.exists():
        raise ValidationError(
            _("This enterprise has recruitment projects; close or move them first."), code="protected"
        )
    for contact in list(enterprise.contacts.all()):
        record_delete(contact, actor=actor)
    for interaction in list(enterprise.interactions.all()):
        record_delete(interaction, actor=actor)
    record_delete(enterprise, actor=actor)


@transaction.atomic
def presence_set(
    *,
    enterprise: Enterprise,
    park: Park,
    stage: Stage,
    status: str = Presence.Status.OPERATING,
    note: str = "",
    source: str = "",
    actor=None,  # type: ignore[no-untyped-def]
) -> Presence:
    """Record (or update) that an enterprise is present at a stage in a park.

    Validated before anything is written, so bad input (an unknown status, a note
    too long) is a ValidationError naming the field rather than a database error.
    Setting the values a presence already has writes nothing: no history row for a
    change that did not happen (imports and seeds set presences again and again).
    """
    presence = Presence.objects.select_for_update().filter(enterprise=enterprise, park=park, stage=stage).first()
    if presence is not None and (presence.status, presence.note, presence.source) == (status, note, source):
        return presence
    if presence is None:
        presence = Presence(enterprise=enterprise, park=park, stage=stage)
    history_actor_set(presence, actor)
    presence.status, presence.note, presence.source = status, note, source
    presence.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            presence.save()
    except IntegrityError:
        # Created concurrently since our read: update that row instead.
        presence = Presence.objects.select_for_update().get(enterprise=enterprise, park=park, stage=stage)
        history_actor_set(presence, actor)
        presence.status, presence.note, presence.source = status, note, source
        presence.save()
    return presence


@transaction.atomic
def presence_delete(*, presence: Presence, actor=None) -> None:  # type: ignore[no-untyped-def]
    """Record that an enterprise is no longer present at a stage in a park.

    The stage may turn weak or missing there. A presence is reference data, not a
    synced record (no version, no change feed), so its history is what keeps the
    removal: who removed it and what it said. Removing one already gone (a second
    click, two people at once) writes nothing, not a second removal in its history.
    """
    if not Presence.objects.select_for_update().filter(pk=presence.pk).values_list("pk", flat=True):
        return
    history_actor_set(presence, actor)
    presence.delete()


def enterprise_check_not_merged(enterprise: Enterprise | None, *, field: str = "enterprise") -> None:
    """New work names the surviving enterprise, never a merged duplicate."""
    if enterprise is not None and enterprise.merged_into_id:
        raise ValidationError(
            {
                field: _("This enterprise was merged into “%(name)s”; use that one.")
                % {"name": enterprise.merged_into.name}
            },
            code="merged",
        )


def _check_same_office(office: Office, **related: Any) -> None:
    errors = {}
    for field, obj in related.items():
        if obj is not None and getattr(obj, "office_id", office.pk) != office.pk:
            errors[field] = _("Not found.")
    if errors:
        raise ValidationError(errors, code="does_not_exist")


@transaction.atomic
def contact_create(*, office: Office, actor=None, **data: Any) -> Contact:  # type: ignore[no-untyped-def]
    contact = Contact(office=office)
    _apply(contact, CONTACT_FIELDS, data)
    enterprise_check_not_merged(contact.enterprise if contact.enterprise_id else None)
    return record_save(contact, actor=actor, created=True)


@transaction.atomic
def contact_update(*, contact: Contact, actor=None, **data: Any) -> Contact:  # type: ignore[no-untyped-def]
    _apply(contact, CONTACT_FIELDS, data)
    return record_save(contact, actor=actor, created=False)


@transaction.atomic
def contact_delete(*, contact: Contact, actor=None) -> None:  # type: ignore[no-untyped-def]
    """Delete a contact, first taking it off the interactions that name it.

    Each of those interactions is updated as :func:`interaction_update` would
    (version +1, history, change feed): deleting the contact alone would drop the
    link rows silently, and partners would keep interactions naming a contact that
    no longer exists. The contact is locked first, so an interaction naming it that
    commits later fails its foreign-key check instead of losing the link unseen,
    and one that committed earlier is found below.
    """
    list(Contact.objects.select_for_update().filter(pk=contact.pk).values_list("pk", flat=True))
    interactions = list(
        Interaction.objects.filter(contacts=contact)
        .select_for_update(no_key=True, of=("self",))
        .prefetch_related("contacts")
        .order_by("pk")
    )
    remaining = {i.pk: [c for c in i.contacts.all() if c.pk != contact.pk] for i in interactions}
    interactions_rewrite(interactions, actor=actor, reason=_("Contact deleted"), contacts=remaining)
    record_delete(contact, actor=actor)


def interactions_rewrite(
    interactions: Sequence[Interaction],
    *,
    actor=None,  # type: ignore[no-untyped-def]
    reason: str,
    fields: Iterable[str] = (),
    contacts: dict[Any, list[Contact]] | None = None,
) -> None:
    """Write interactions changed in memory as one batch, as :func:`interaction_update` would
    one by one: version +1, a history row each (with the copy of its contacts), feed entries.

    For the cascades of a delete, where hundreds of interactions may name the deleted
    contact or project: a fixed handful of queries, not several per interaction.
    ``fields`` names the changed columns; ``contacts`` replaces the contacts of the
    interactions it names. The caller has locked the rows.
    """
    for _step in bulk_write(
        model=Interaction,
        creates=[],
        updates=list(interactions),
        update_fields=fields,
        actor=actor,
        reason=reason,
        m2m={"contacts": contacts or {}},
    ):
        pass


@transaction.atomic
def interaction_log(
    *,
    office: Office,
    actor=None,
    contacts: Iterable[Contact] = (),
    **data: Any,  # type: ignore[no-untyped-def]
) -> Interaction:
    """Log a call, visit, meeting… with an enterprise; contacts must be the office's own."""
    interaction = Interaction(office=office)
    _apply(interaction, INTERACTION_FIELDS, data)
    enterprise_check_not_merged(interaction.enterprise if interaction.enterprise_id else None)
    contacts = list(contacts)
    _check_same_office(office, project=interaction.project)
    _check_contacts(interaction, contacts)
    return record_save(interaction, actor=actor, created=True, m2m={"contacts": contacts})


@transaction.atomic
def interaction_update(
    *,
    interaction: Interaction,
    actor=None,
    contacts: Iterable[Contact] | None = None,
    **data: Any,  # type: ignore[no-untyped-def]
) -> Interaction:
    _apply(interaction, INTERACTION_FIELDS, data)
    _check_same_office(interaction.office, project=interaction.project)
    m2m = None
    if contacts is not None:
        contacts = list(contacts)
        _check_contacts(interaction, contacts)
        m2m = {"contacts": contacts}
    return record_save(interaction, actor=actor, created=False, m2m=m2m)


def _check_contacts(interaction: Interaction, contacts: list[Contact]) -> None:
    for contact in contacts:
        if contact.office_id != interaction.office_id:
            raise ValidationError({"contacts": _("Contact %(id)s not found.") % {"id": contact.pk}})
        if contact.enterprise_id != interaction.enterprise_id:
            raise ValidationError(
                {"contacts": _("Contact %(name)s works for another enterprise.") % {"name": contact.name}}
            )


@transaction.atomic
def interaction_delete(*, interaction: Interaction, actor=None) -> None:  # type: ignore[no-untyped-def]
    record_delete(interaction, actor=actor)
