"""Values PostgreSQL formats in the page query equal what the Python formatters give."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from api.resources import contacts, enterprises, follow_ups, interactions, projects
from tests.factories import (
    ContactFactory,
    EnterpriseFactory,
    FollowUpFactory,
    InteractionFactory,
    OfficeFactory,
    ProjectFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# Times with and without microseconds, before 1970 and near a day's end; amounts with cents.
WHEN = [
    dt.datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(1969, 12, 31, 16, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),
]


def _records():  # type: ignore[no-untyped-def]
    office = OfficeFactory()
    records = []
    for i, when in enumerate(WHEN):
        enterprise = EnterpriseFactory(office=office, registered_capital=Decimal("1250000.05") if i else None)
        project = ProjectFactory(
            office=office,
            enterprise=enterprise,
            status_changed_at=when,
            planned_investment=Decimal("0.50"),
            signed_amount=Decimal("12345678901234.00") if i else None,
        )
        records += [
            enterprise,
            project,
            ContactFactory(office=office, enterprise=enterprise),
            InteractionFactory(office=office, enterprise=enterprise, project=project, occurred_at=when),
            FollowUpFactory(office=office, project=project, due_at=when, completed_at=when if i else None),
        ]
    return records


def test_sql_formatted_values_equal_the_python_formatters():
    records = _records()
    for module in (enterprises, contacts, interactions, projects, follow_ups):
        presenter = module.PRESENTER
        ids = [r.pk for r in records if isinstance(r, presenter.model)]
        queryset = presenter.model._default_manager.filter(pk__in=ids).order_by("pk")
        rendered = presenter.render(queryset)
        assert len(rendered) == len(ids) and any(e is not None for e in presenter._sql_formats)
        raw = list(presenter.annotated(queryset).values_list(*presenter._paths))
        for item, values in zip(rendered, raw, strict=True):
            expected = {
                c.name: (c.fmt(v) if c.fmt is not None and v is not None else v)
                for c, v in zip(presenter.columns, values, strict=True)
            }
            assert {k: item[k] for k in expected} == expected, presenter.model.__name__
