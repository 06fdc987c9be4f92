"""crm.pg: long id lists as one parameter; rows as one JSON document."""

from __future__ import annotations

import pytest
from django.db import connection

from crm.models import Enterprise
from crm.pg import array_literal
from recruitment.models import Project
from tests.factories import EnterpriseFactory, OfficeFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_in_array_matches_like_in_on_fields_and_relations():
    enterprises = [EnterpriseFactory(name=f"企业{i}", city="太原" if i % 2 else "忻州") for i in range(5)]
    projects = [ProjectFactory(enterprise=e) for e in enterprises[:3]]
    wanted = [enterprises[0].pk, enterprises[3].pk]
    assert set(Enterprise.objects.filter(pk__in_array=wanted)) == {enterprises[0], enterprises[3]}
    assert set(Enterprise.objects.filter(city__in_array=["忻州"]).values_list("city", flat=True)) == {"忻州"}
    assert list(Project.objects.filter(enterprise_id__in_array=wanted)) == [projects[0]]
    assert not Enterprise.objects.filter(pk__in_array=[]).exists()


@pytest.mark.postgres
def test_in_array_sends_one_parameter_for_a_thousand_values():
    values = [f"ext-{i}" for i in range(1000)]
    sent = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        sent.append((sql, params))
        return execute(sql, params, many, context)

    EnterpriseFactory(external_id="ext-7")
    with connection.execute_wrapper(record):
        found = list(Enterprise.objects.filter(external_id__in_array=values).values_list("external_id", flat=True))
    assert found == ["ext-7"]
    ((sql, params),) = sent
    assert "= ANY(%s::varchar(128)[])" in sql and params == (array_literal(values),)


def test_in_array_finds_texts_that_need_quoting_in_an_array_literal():
    weird = ['a"b', "c\\d", "e,{f}", "NULL", "x y", "it's", '\\"', "中文"]
    office = OfficeFactory()
    for value in weird:
        EnterpriseFactory(office=office, external_id=value)
    found = Enterprise.objects.filter(office=office, external_id__in_array=[*weird, "other"])
    assert sorted(found.values_list("external_id", flat=True)) == sorted(weird)
