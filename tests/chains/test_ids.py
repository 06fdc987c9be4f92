"""Every record's key is time-ordered (``chains.models.new_id``), so new rows are appended
at the right of the indexes that hold their keys instead of landing on random pages."""

from __future__ import annotations

import time
import uuid

import pytest
from django.apps import apps
from django.db import models

from chains.models import new_id

OUR_APPS = {"chains", "crm", "recruitment", "ledger", "api", "push", "operations"}


def test_new_ids_are_version_7_in_time_order_and_tell_their_time() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(20_000)]
    after = time.time_ns() // 1_000_000
    assert all(type(i) is uuid.UUID and i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    # Strictly increasing within one process, also within one millisecond.
    assert all(a < b for a, b in zip(ids, ids[1:], strict=False))
    assert len({i.int >> 80 for i in ids}) < len(ids)  # several ids in the same millisecond
    assert before <= ids[0].int >> 80 <= ids[-1].int >> 80 <= after
    # After the counter, 32 fresh random bits: consecutive keys do not follow from each other.
    low = [i.int & 0xFFFFFFFF for i in ids]
    assert sum(b - a == 1 for a, b in zip(low, low[1:], strict=False)) < len(ids) // 100
    assert len(set(low)) > len(ids) - 100


def _uuid_keyed_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models()
        if model._meta.app_label in OUR_APPS and isinstance(model._meta.pk, models.UUIDField)
    ]


def test_every_uuid_key_of_ours_defaults_to_a_time_ordered_id() -> None:
    keyed = _uuid_keyed_models()
    names = {m.__name__ for m in keyed}
    assert {"Project", "Enterprise", "FollowUp", "ProjectStatusChange", "Interaction"} <= names
    # An evidence file's key names its stored file: given by the upload, random, never a default.
    assert [m.__name__ for m in keyed if not m._meta.pk.has_default()] == ["EvidenceFile"]
    assert [m.__name__ for m in keyed if m._meta.pk.has_default() and m._meta.pk.default is not new_id] == []


def test_the_history_keeps_the_record_key_and_its_default() -> None:
    from recruitment.models import Project

    field = Project.history.model._meta.get_field("id")  # type: ignore[attr-defined]
    assert field.default is new_id


@pytest.mark.django_db
def test_records_created_one_after_another_sort_by_key_in_creation_order() -> None:
    from tests.factories import ProjectFactory

    projects = [ProjectFactory() for _ in range(5)]
    assert sorted(p.pk for p in projects) == [p.pk for p in projects]
