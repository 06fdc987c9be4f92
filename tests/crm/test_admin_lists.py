"""The large lists' row checkbox is the markup Django's widget renders, to the byte."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.utils import translation

from crm.admin_lists import LargeTableAdminMixin
from recruitment.services import project_create
from tests.factories import EnterpriseFactory, ParkFactory, StageFactory

pytestmark = pytest.mark.django_db

AWKWARD = "碳纤维 <b>\"A&B\"</b> 'x'"


def _large_admins() -> list[admin.ModelAdmin]:
    return [ma for ma in admin.site._registry.values() if isinstance(ma, LargeTableAdminMixin)]


def test_every_large_list_has_the_direct_checkbox():
    names = {type(ma).__name__ for ma in _large_admins()}
    assert {"EnterpriseAdmin", "ProjectAdmin"} <= names


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_checkbox_equals_the_widgets(language, park_office, park_user):
    enterprise = EnterpriseFactory(name=AWKWARD)
    project = project_create(
        office=park_office,
        actor=park_user,
        stages=[StageFactory()],
        title=AWKWARD,
        enterprise=enterprise,
        park=ParkFactory(),
    )
    objects = {"Enterprise": enterprise, "Project": project}
    checked = 0
    with translation.override(language):
        for model_admin in _large_admins():
            obj = objects.get(model_admin.model.__name__)
            if obj is None:
                continue
            ours = model_admin.action_checkbox(obj)
            assert ours == admin.ModelAdmin.action_checkbox(model_admin, obj)
            assert "&lt;b&gt;" in ours and str(obj.pk) in ours
            checked += 1
    assert checked == 2
