"""``contacts/``: people at enterprises (personal data, owned by an office)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from api.fields import Email, StrictInput, Text
from api.presenters import Column, Presenter
from api.record_docs import documented
from api.record_views import RecordViewSet
from api.references import RecordRefField
from api.rendering import fmt_uuid
from api.resources.common import RECORD_COLUMNS, ExternalIdField, RecordFilter, RecordOutput, text
from crm.bulk_records import contacts_upsert
from crm.bulk_save import Upserted
from crm.models import Contact, Office
from crm.services import contact_create, contact_delete, contact_update

PRESENTER = Presenter(
    Contact,
    columns=RECORD_COLUMNS
    + (
        Column("enterprise", "enterprise_id", fmt_uuid),
        Column("name", "name"),
        Column("title", "title"),
        Column("phone", "phone"),
        Column("email", "email"),
        Column("wechat", "wechat"),
    ),
)


class ContactOutput(RecordOutput):
    enterprise = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    title = serializers.CharField(read_only=True)
    phone = serializers.CharField(read_only=True)
    email = serializers.CharField(read_only=True)
    wechat = serializers.CharField(read_only=True)


class ContactInput(StrictInput):
    external_id = ExternalIdField()
    enterprise = RecordRefField(model_label="crm.Enterprise", scoped=False, help_text=_("Enterprise id."))
    name = Text(max_length=100)
    title = text(100)
    phone = text(40)
    email = Email(max_length=254, required=False, allow_blank=True)
    wechat = text(64)


class ContactFilter(RecordFilter):
    enterprise = django_filters.UUIDFilter(field_name="enterprise_id")
    search = django_filters.CharFilter(method="filter_search", label=_("Matches name, phone or e-mail."))

    class Meta:
        model = Contact
        fields: list[str] = []

    def filter_search(self, queryset: models.QuerySet, name: str, value: str) -> models.QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(phone__icontains=value) | Q(email__icontains=value))


@documented
class ContactViewSet(RecordViewSet):
    basename = "contacts"
    noun = "contact"
    presenter = PRESENTER
    input_serializer = ContactInput
    output_serializer = ContactOutput
    filterset_class = ContactFilter

    def perform_create(self, *, office: Office, actor: Any, values: dict[str, Any]) -> Contact:
        return contact_create(office=office, actor=actor, **values)

    def perform_update(self, *, obj: Contact, actor: Any, values: dict[str, Any]) -> Contact:
        return contact_update(contact=obj, actor=actor, **values)

    def bulk_upsert(self, values: list[dict[str, Any]]) -> list[Upserted]:
        return contacts_upsert(office=self.office, actor=self.request.user, items=values)

    def perform_delete(self, *, obj: Contact, actor: Any) -> None:
        # The service also takes the contact off its interactions (each moves in the feed).
        contact_delete(contact=obj, actor=actor)
