"""``follow-ups/``: things to do for a project by a due time (owned by an office).

``status`` moves ``open`` → ``done`` (completed now) or ``cancelled`` through the
services; a closed follow-up is not reopened (create a new one).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from api.fields import DateTime, StrictInput, Text
from api.filters import UtcDateTimeFilter
from api.presenters import Column, Presenter
from api.record_docs import documented
from api.record_views import RecordViewSet
from api.references import RecordRefField
from api.rendering import fmt_datetime, fmt_uuid
from api.resources.common import RECORD_COLUMNS, ExternalIdField, RecordFilter, RecordOutput
from crm.bulk_save import Upserted
from crm.models import Office
from recruitment.bulk import followups_upsert
from recruitment.models import FollowUp
from recruitment.services import (
    followup_cancel,
    followup_complete,
    followup_create,
    followup_delete,
    followup_update,
)

PRESENTER = Presenter(
    FollowUp,
    columns=RECORD_COLUMNS
    + (
        Column("project", "project_id", fmt_uuid),
        Column("kind", "kind"),
        Column("due_at", "due_at", fmt_datetime),
        Column("note", "note"),
        Column("assignee", "assignee__username"),
        Column("status", "status"),
        Column("completed_at", "completed_at", fmt_datetime),
    ),
)


class FollowUpOutput(RecordOutput):
    project = serializers.UUIDField(read_only=True)
    kind = serializers.ChoiceField(choices=FollowUp.Kind.choices, read_only=True)
    due_at = serializers.DateTimeField(read_only=True)
    note = serializers.CharField(read_only=True)
    assignee = serializers.CharField(read_only=True, allow_null=True, help_text=_("Username."))
    status = serializers.ChoiceField(choices=FollowUp.Status.choices, read_only=True)
    completed_at = serializers.DateTimeField(read_only=True, allow_null=True)


class AssigneeField(Text):
    """A username of the office's staff (any staff for the provincial office)."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        username = super().run_validation(data)
        if username is None or username == "":
            return None
        loaded = self.context.get("assignees")
        if loaded is not None and username in loaded:
            user = loaded[username]
        else:
            user = _assignees(self.context["office"], [username]).get(username)
        if user is None:
            raise serializers.ValidationError(
                _t("No user “%(name)s” in your office.") % {"name": username}, code="does_not_exist"
            )
        return user

    def preload(self, values: list[Any], context: dict[str, Any]) -> None:
        """Every username of a bulk request's items, looked up in one query."""
        names = {v.strip() for v in values if isinstance(v, str) and v.strip()}
        found = _assignees(context["office"], list(names)) if names else {}
        context.setdefault("assignees", {}).update({name: found.get(name) for name in names})


def _assignees(office: Office, usernames: list[str]) -> dict[str, Any]:
    users = get_user_model().objects.filter(username__in_array=usernames, is_active=True)
    if office.kind != Office.Kind.PROVINCIAL:
        users = users.filter(office=office)
    return {user.username: user for user in users}


class FollowUpInput(StrictInput):
    external_id = ExternalIdField()
    project = RecordRefField(model_label="recruitment.Project", scoped=True, help_text=_("Id of one of your projects."))
    kind = serializers.ChoiceField(choices=FollowUp.Kind.choices, required=False)
    due_at = DateTime()
    note = Text(max_length=20_000, required=False, allow_blank=True)
    assignee = AssigneeField(
        max_length=150, required=False, allow_null=True, allow_blank=True, help_text=_("Username (optional).")
    )
    status = serializers.ChoiceField(choices=FollowUp.Status.choices, required=False)


class FollowUpFilter(RecordFilter):
    project = django_filters.UUIDFilter(field_name="project_id")
    status = django_filters.ChoiceFilter(choices=FollowUp.Status.choices)
    assignee = django_filters.CharFilter(field_name="assignee__username", label=_("Username."))
    due_after = UtcDateTimeFilter(field_name="due_at", lookup_expr="gte")
    due_before = UtcDateTimeFilter(field_name="due_at", lookup_expr="lt")

    class Meta:
        model = FollowUp
        fields: list[str] = []


def _apply_status(follow_up: FollowUp, status: str | None, actor: Any) -> FollowUp:
    if status is None or status == follow_up.status:
        return follow_up
    if status == FollowUp.Status.DONE:
        return followup_complete(follow_up=follow_up, actor=actor)
    if status == FollowUp.Status.CANCELLED:
        return followup_cancel(follow_up=follow_up, actor=actor)
    raise DjangoValidationError(
        {"status": DjangoValidationError(_t("A closed follow-up is not reopened; create a new one."), code="invalid")}
    )


@documented
class FollowUpViewSet(RecordViewSet):
    basename = "follow-ups"
    noun = "follow-up"
    presenter = PRESENTER
    input_serializer = FollowUpInput
    output_serializer = FollowUpOutput
    filterset_class = FollowUpFilter
    owner_field = "project"

    def perform_create(self, *, office: Office, actor: Any, values: dict[str, Any]) -> FollowUp:
        values = dict(values)
        status = values.pop("status", None)
        return _apply_status(followup_create(office=office, actor=actor, **values), status, actor)

    def perform_update(self, *, obj: FollowUp, actor: Any, values: dict[str, Any]) -> FollowUp:
        values = dict(values)
        status = values.pop("status", None)
        if status not in (None, obj.status) and obj.status != FollowUp.Status.OPEN:
            _apply_status(obj, status, actor)  # raises: closed follow-ups stay closed
        fields = {k: v for k, v in values.items() if _differs(obj, k, v)}
        if fields:
            obj = followup_update(follow_up=obj, actor=actor, **fields)
        return _apply_status(obj, status, actor)

    def perform_delete(self, *, obj: FollowUp, actor: Any) -> None:
        followup_delete(follow_up=obj, actor=actor)

    def bulk_upsert(self, values: list[dict[str, Any]]) -> list[Upserted]:
        return followups_upsert(office=self.office, actor=self.request.user, items=values)


def _differs(obj: Any, name: str, value: Any) -> bool:
    current = getattr(obj, name)
    if hasattr(value, "pk") or hasattr(current, "pk"):
        return getattr(current, "pk", None) != getattr(value, "pk", None)
    return current != value
