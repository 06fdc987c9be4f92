"""One external-id rule (``crm.external_ids``) on every path: the services, the admin forms,
imports and the API refuse the same values, never trim them, and take the same good ones."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from api.api_keys import api_key_create
from crm.imports import import_commit
from crm.models import Enterprise
from crm.services import enterprise_create, enterprise_update
from recruitment.imports import IMPORTERS
from recruitment.landing_admin import OrderForm
from recruitment.models import SupervisionOrder
from recruitment.pipeline import Status
from recruitment.services import project_create
from tests.crm.test_admin_support import ENTERPRISE_INLINES, admin_url, form_errors, inlines, sign_in
from tests.factories import EnterpriseFactory, ParkFactory, StageFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# What the API refuses in a body and a URL (tests/api/test_hostile_input.py holds the API to it).
BAD = [" E-1", "E-1 ", "E 1", ".", "..", "a/b", "a?b", "a#b", "a%b", "a\tb", 'a"b', "x" * 129]
GOOD = ["ERP-甲.1", "a~b!$&'()*+,;=:@", "x" * 128]


def enterprise_post(**fields: object) -> dict:
    return {
        "name": "山西示例新材料有限公司",
        "name_en": "",
        "credit_code": "",
        "ownership": "private",
        "province": "山西省",
        "city": "太原市",
        "registered_capital": "",
        "website": "",
        "source": "",
        **inlines(*ENTERPRISE_INLINES),
        **{k: str(v) for k, v in fields.items()},
    }


# --- the service layer: whatever calls it ---------------------------------------------------


@pytest.mark.parametrize("value", BAD)
def test_the_services_refuse_an_external_id_outside_the_rule_on_its_field(park_office, value):
    with pytest.raises(ValidationError) as refused:
        enterprise_create(office=park_office, name="甲", external_id=value)
    assert list(refused.value.message_dict) == ["external_id"]
    codes = {e.code for e in refused.value.error_dict["external_id"]}
    assert codes == ({"max_length", "invalid"} if len(value) > 128 else {"invalid"})
    assert not Enterprise.objects.exists()


def test_an_external_id_stored_before_the_rule_does_not_block_other_changes(park_office):
    enterprise = enterprise_create(office=park_office, name="甲", external_id="OLD-1")
    Enterprise.objects.filter(pk=enterprise.pk).update(external_id=".")  # written before the rule
    enterprise.refresh_from_db()
    enterprise_update(enterprise=enterprise, city="太原")
    assert Enterprise.objects.get(pk=enterprise.pk).city == "太原"
    with pytest.raises(ValidationError):
        enterprise_update(enterprise=enterprise, external_id="..")


# --- the admin enterprise form ---------------------------------------------------------------


@pytest.mark.parametrize("value", BAD)
def test_the_admin_enterprise_form_refuses_what_the_api_refuses_on_the_field(client, park_user, value):
    sign_in(client, park_user)
    response = client.post(admin_url(Enterprise, "add"), enterprise_post(external_id=value))
    assert response.status_code == 200
    assert "external_id" in form_errors(response), form_errors(response)
    assert not Enterprise.objects.exists()


@pytest.mark.parametrize("value", GOOD)
def test_the_admin_enterprise_form_stores_a_good_external_id_as_typed(client, park_user, park_office, value):
    sign_in(client, park_user)
    response = client.post(admin_url(Enterprise, "add"), enterprise_post(external_id=value))
    assert response.status_code == 302, form_errors(response)
    assert Enterprise.objects.get().external_id == value


def test_the_admin_change_form_never_trims_and_keeps_an_old_value_it_is_not_asked_to_change(
    client, park_user, park_office
):
    enterprise = enterprise_create(office=park_office, name="山西示例新材料有限公司", external_id="E-1")
    sign_in(client, park_user)
    response = client.post(admin_url(Enterprise, "change", enterprise.pk), enterprise_post(external_id=" E-2 "))
    assert response.status_code == 200
    assert "external_id" in form_errors(response)
    assert Enterprise.objects.get().external_id == "E-1"

    Enterprise.objects.filter(pk=enterprise.pk).update(external_id="..")  # written before the rule
    response = client.post(
        admin_url(Enterprise, "change", enterprise.pk), enterprise_post(external_id="..", city="忻州市")
    )
    assert response.status_code == 302, form_errors(response)
    assert Enterprise.objects.values_list("external_id", "city").get() == ("..", "忻州市")


def test_another_offices_admin_form_has_no_external_id_to_set(client, park_user, partner_office):
    enterprise = enterprise_create(office=partner_office, name="山西示例新材料有限公司", external_id="P-1")
    sign_in(client, park_user)
    page = client.get(admin_url(Enterprise, "change", enterprise.pk)).content.decode()
    assert "P-1" not in page and 'name="external_id"' not in page


# --- the admin supervision order form (the other admin form that edits an external id) ----------


@pytest.mark.parametrize("value", [" O-1", ".", "a/b"])
def test_the_supervision_order_form_applies_the_same_rule(park_office, value):
    project = project_create(
        office=park_office,
        stages=[StageFactory()],
        title="项目",
        enterprise=EnterpriseFactory(),
        park=ParkFactory(),
        status=Status.SIGNED,
    )
    data = {
        "project": project.pk,
        "required": "说明进度",
        "plan_due": dt.date(2026, 3, 12),
        "resolve_due": dt.date(2026, 4, 12),
        "external_id": value,
    }
    form = OrderForm(data=data)
    assert not form.is_valid()
    assert list(form.errors) == ["external_id"]
    form = OrderForm(data={**data, "external_id": "O-1"})
    assert form.is_valid(), form.errors
    assert not SupervisionOrder.objects.exists()


# --- imports ---------------------------------------------------------------------------------


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8-sig")


@pytest.mark.parametrize("value", [".", "..", "E 1", "a/b", "a%b", "x" * 129])
def test_an_import_refuses_the_same_external_ids(park_user, value):
    rows = [["企业名称", "外部编号"], ["甲", "E-ok"], ["乙", value]]
    plan = import_commit(importer=IMPORTERS["enterprises"], data=csv_bytes(rows), filename="e.csv", user=park_user)
    assert not plan.committed
    assert [(e.row, e.column) for e in plan.errors] == [(3, "外部编号")]
    assert not Enterprise.objects.exists()


# --- the API (the same values, through a real request) -----------------------------------------


@pytest.mark.parametrize("value", [" E-1", ".", "a/b"])
def test_the_api_refuses_the_same_external_ids(park_office, value):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(office=park_office, label='t').raw}")
    response = client.post(
        "/api/v1/enterprises/", {"name": "甲", "external_id": value}, content_type="application/json"
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["attr"], error["code"]) == ("external_id", "invalid")
    assert not Enterprise.objects.exists()
