"""The admin's URL fields read a URL typed without a scheme as https (Django 6's default, chosen
now), without Django 5's deprecation warning for the fields it builds from the models."""

from __future__ import annotations

import warnings

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django.utils.deprecation import RemovedInDjango60Warning

from crm.models import Enterprise
from push.models import WebhookEndpoint
from recruitment.models import OfficeChannel
from tests.factories import EnterpriseFactory, OfficeFactory, UserFactory

pytestmark = pytest.mark.django_db

MODELS = [(Enterprise, "website"), (OfficeChannel, "url"), (WebhookEndpoint, "url")]


@pytest.fixture
def superuser():  # type: ignore[no-untyped-def]
    return UserFactory(is_staff=True, is_superuser=True)


def _record(model):  # type: ignore[no-untyped-def]
    office = OfficeFactory()
    if model is Enterprise:
        return EnterpriseFactory(office=office, website="https://tisco.example")
    if model is OfficeChannel:
        return OfficeChannel.objects.create(office=office, channel="wecom", url="https://qyapi.example/send?key=k")
    # Written directly: the service would resolve the host, and this test has no network.
    return WebhookEndpoint.objects.create(office=office, url="https://hooks.partner.example/in", events=["*"])


@pytest.mark.parametrize(("model", "field"), MODELS)
def test_the_add_and_change_pages_build_their_forms_without_the_deprecation(client, superuser, model, field) -> None:  # type: ignore[no-untyped-def]
    """The change page of an enterprise shows its website read-only: the admin drops the
    form's own field and builds one from the model with no callback of its own."""
    client.force_login(superuser)
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    record = _record(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RemovedInDjango60Warning)
        add = client.get(reverse(f"{prefix}_add"))
        change = client.get(reverse(f"{prefix}_change", args=[record.pk]))
    assert add.status_code == 200 and change.status_code == 200
    assert f'name="{field}"' in add.content.decode()


@pytest.mark.parametrize(("model", "field"), MODELS)
def test_a_url_without_a_scheme_is_read_as_https(superuser, model, field) -> None:  # type: ignore[no-untyped-def]
    request = RequestFactory().get("/")
    request.user = superuser
    form_class = admin.site._registry[model].get_form(request)
    assert form_class.base_fields[field].clean("example.com/hook") == "https://example.com/hook"
    assert form_class.base_fields[field].clean("http://example.com/hook") == "http://example.com/hook"
