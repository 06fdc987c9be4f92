"""An office's records as comparable values: ids, times and users replaced by what they stand for.

Two offices that wrote the same things by two paths (a bulk upsert and single upserts,
an import and the services called row by row) are compared through :class:`Snapshot`:
rows, versions, history rows (many-to-many copies included), change-feed entries,
status history and large-project notices.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from crm.models import ChangeEntry, Contact, Interaction
from recruitment.models import FollowUp, Project, ProjectStatusChange, ReminderDelivery

SKIP = {
    "id",
    "office",
    "created_at",
    "updated_at",
    "status_changed_at",
    "completed_at",
    "history_id",
    "history_date",
    "last_touched_at",
}


class Snapshot:
    def __init__(self, office, staff) -> None:  # type: ignore[no-untyped-def]
        self.office = office
        self.labels: dict[str, str] = {}
        for model, prefix in ((Contact, "C"), (Interaction, "I"), (Project, "P"), (FollowUp, "F")):
            for pk, ext in model.objects.filter(office=office).values_list("pk", "external_id"):
                self.labels[str(pk)] = f"{prefix}:{ext}" if ext else f"{prefix}:{pk}"
        self.users = {staff.pk: "staff", staff.username: "staff"}
        for user in office.users.exclude(pk=staff.pk):
            self.users[user.pk] = "api"
            self.users[user.username] = "api"
        self.lead_at = {
            pk: at
            for pk, at in ProjectStatusChange.objects.filter(project__office=office, from_status="").values_list(
                "project_id", "changed_at"
            )
        }

    def value(self, field, obj) -> Any:  # type: ignore[no-untyped-def]
        raw = getattr(obj, field.attname)
        related = getattr(field, "related_model", None)
        if related is not None and raw is not None:
            label = related._meta.label
            if label == "crm.User":
                return self.users.get(raw, raw)
            if label in ("crm.Enterprise", "chains.Park"):
                return raw
            return self.labels.get(str(raw), raw)
        if field.name == "due_at" and raw is not None and raw.year < 2029:  # a service level: due after creation
            return round((raw - self.lead_at[obj.project_id]).total_seconds() / 3600)
        if isinstance(raw, dt.datetime):
            return raw.isoformat()
        return raw

    def row(self, obj) -> tuple:  # type: ignore[no-untyped-def]
        fields = [f for f in obj._meta.concrete_fields if f.name not in SKIP]
        return tuple((f.name, self.value(f, obj)) for f in fields)

    def key(self, obj) -> tuple:  # type: ignore[no-untyped-def]
        if obj.external_id:
            return (obj.external_id,)
        # Follow-ups the service creates: by project, kind and what they say.
        return (self.labels[str(obj.project_id)], obj.kind, str(self.value(obj._meta.get_field("due_at"), obj)))

    def records(self, model) -> dict[tuple, Any]:  # type: ignore[no-untyped-def]
        m2m = [f.name for f in model._meta.many_to_many]
        out = {}
        for obj in model.objects.filter(office=self.office).prefetch_related(*m2m):
            history = []
            for h in obj.history.order_by("history_id"):
                links = {name: sorted(self.labels.get(str(r), r) for r in history_links(h, name)) for name in m2m}
                history.append(
                    (h.history_type, h.history_change_reason, self.users.get(h.history_user_id), self.row(h), links)
                )
            links_now = {
                name: sorted(self.labels.get(str(r.pk), r.pk) for r in getattr(obj, name).all()) for name in m2m
            }
            feed = ChangeEntry.objects.filter(object_id=obj.pk).values_list("op", "data", "office_id").get()
            out[self.key(obj)] = (self.row(obj), links_now, history, (feed[0], self.json(feed[1]), feed[2] is not None))
        return out

    def json(self, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: self.json(v)
                for k, v in data.items()
                if k not in {"id", "created_at", "updated_at", "status_changed_at", "completed_at", "office", "due_at"}
            }
        if isinstance(data, list):  # ids listed in id order: sorted once they are labels
            return sorted(self.json(v) for v in data)
        if isinstance(data, str):
            return self.labels.get(data, self.users.get(data, data))
        return data

    def take(self) -> dict[str, Any]:
        changes = {}
        for project in Project.objects.filter(office=self.office):
            changes[project.external_id] = [
                (c.from_status, c.to_status, c.note, self.users.get(c.changed_by_id))
                for c in project.status_changes.order_by("changed_at", "created_at")
            ]
        notices = sorted(
            (self.labels[str(d.project_id)], d.kind)
            for d in ReminderDelivery.objects.filter(project__office=self.office)
        )
        return {
            "contacts": self.records(Contact),
            "interactions": self.records(Interaction),
            "projects": self.records(Project),
            "follow_ups": self.records(FollowUp),
            "status_changes": changes,
            "notices": notices,
        }


def history_links(history_row, name: str) -> list[Any]:  # type: ignore[no-untyped-def]
    through = getattr(history_row, name)
    target = history_row.instance_type._meta.get_field(name).m2m_reverse_field_name()
    return [getattr(link, f"{target}_id") for link in through.all()]


def assert_same(first: dict[str, Any], second: dict[str, Any]) -> None:
    """Two snapshots (:meth:`Snapshot.take`) hold the same records; a difference names its part and key."""
    for part in first:
        if isinstance(first[part], dict):
            assert first[part].keys() == second[part].keys(), part
            for key in first[part]:
                assert first[part][key] == second[part][key], (part, key)
        assert first[part] == second[part], part
