"""The landing plan and progress entries as services: written with the project, append-only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from crm.models import ChangeEntry
from recruitment.landing import (
    ProgressImmutable,
    effective_entries,
    plan_read,
    progress_delete,
    progress_record,
    progress_update,
    project_plan_set,
)
from recruitment.models import ProgressEntry
from recruitment.pipeline import Status
from recruitment.services import project_create
from tests.factories import EnterpriseFactory, ParkFactory, StageFactory, UserFactory

NOW = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def signed(park_office):  # type: ignore[no-untyped-def]
    return project_create(
        office=park_office,
        stages=[StageFactory()],
        title="锂电池正极材料项目",
        enterprise=EnterpriseFactory(),
        park=ParkFactory(),
        status=Status.SIGNED,
    )


def codes(exc: ValidationError) -> dict[str, list[str]]:
    return {field: [e.code for e in errors] for field, errors in exc.error_dict.items()}


@pytest.mark.django_db
def test_a_plan_is_written_with_dates_and_a_cumulative_schedule(signed) -> None:  # type: ignore[no-untyped-def]
    version = signed.version
    plan = project_plan_set(
        project=signed,
        plan={
            "construction": dt.date(2026, 3, 15),
            "investment": [
                {"month": dt.date(2026, 2, 1), "cumulative": Decimal("300")},
                {"month": dt.date(2026, 1, 1), "cumulative": Decimal("100")},
            ],
        },
    )
    assert plan["construction"] == dt.date(2026, 3, 15)
    assert plan["registered"] is None
    assert [r["month"] for r in plan["investment"]] == [dt.date(2026, 1, 1), dt.date(2026, 2, 1)]
    signed.refresh_from_db()
    assert signed.version == version + 1
    # A partial write keeps what it leaves out.
    project_plan_set(project=signed, plan={"production": dt.date(2026, 9, 1)}, partial=True)
    plan = plan_read(signed)
    assert plan["construction"] == dt.date(2026, 3, 15)
    assert plan["production"] == dt.date(2026, 9, 1)
    assert len(plan["investment"]) == 2


@pytest.mark.django_db
def test_a_schedule_that_goes_down_is_refused(signed) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as caught:
        project_plan_set(
            project=signed,
            plan={
                "investment": [
                    {"month": dt.date(2026, 1, 1), "cumulative": Decimal("300")},
                    {"month": dt.date(2026, 2, 1), "cumulative": Decimal("100")},
                ]
            },
        )
    assert codes(caught.value) == {"investment": ["not_cumulative"]}
    assert plan_read(signed)["investment"] == []


@pytest.mark.django_db
def test_a_project_before_signing_has_no_plan_or_progress(park_office) -> None:  # type: ignore[no-untyped-def]
    lead = project_create(
        office=park_office, stages=[StageFactory()], title="线索", enterprise=EnterpriseFactory(), park=ParkFactory()
    )
    with pytest.raises(ValidationError) as caught:
        project_plan_set(project=lead, plan={"construction": dt.date(2026, 3, 1)})
    assert codes(caught.value) == {"plan": ["not_signed"]}
    with pytest.raises(ValidationError) as caught:
        progress_record(project=lead, kind="investment", month=dt.date(2026, 3, 1), amount=Decimal("1"), now=NOW)
    assert codes(caught.value) == {"project": ["not_signed"]}


@pytest.mark.django_db
def test_progress_is_append_only_and_a_correction_replaces_the_entry(signed) -> None:  # type: ignore[no-untyped-def]
    user = UserFactory(office=signed.office)
    first = progress_record(
        project=signed, kind="investment", month=dt.date(2026, 5, 20), amount=Decimal("500.00"), actor=user, now=NOW
    )
    assert first.month == dt.date(2026, 5, 1)
    assert first.office_id == signed.office_id
    assert first.recorded_by == user
    assert ChangeEntry.objects.filter(object_id=first.pk).exists()
    with pytest.raises(ProgressImmutable):
        progress_update(entry=first, amount=Decimal("1"))
    with pytest.raises(ProgressImmutable):
        progress_delete(entry=first)
    with pytest.raises(ValidationError) as caught:
        progress_record(
            project=signed, kind="investment", month=dt.date(2026, 5, 1), amount=Decimal("1"), corrects=first, now=NOW
        )
    assert codes(caught.value) == {"reason": ["required"]}
    fix = progress_record(
        project=signed,
        kind="investment",
        month=dt.date(2026, 5, 1),
        amount=Decimal("450.00"),
        corrects=first,
        reason="发票金额核对",
        now=NOW,
    )
    with pytest.raises(ValidationError) as caught:
        progress_record(
            project=signed,
            kind="investment",
            month=dt.date(2026, 5, 1),
            amount=Decimal("1"),
            corrects=first,
            reason="x",
            now=NOW,
        )
    assert codes(caught.value) == {"corrects": ["corrected"]}
    entries = list(ProgressEntry.objects.filter(project=signed))
    assert [e.pk for e in effective_entries(entries)] == [fix.pk]
    first.refresh_from_db()
    assert first.amount == Decimal("500.00")


@pytest.mark.django_db
def test_progress_entries_name_what_their_kind_needs(signed) -> None:  # type: ignore[no-untyped-def]
    cases = [
        ({"kind": "milestone", "month": dt.date(2026, 5, 1), "date": dt.date(2026, 5, 3)}, {"milestone": ["required"]}),
        ({"kind": "milestone", "month": dt.date(2026, 5, 1), "milestone": "construction"}, {"date": ["required"]}),
        ({"kind": "funds", "month": dt.date(2026, 5, 1)}, {"amount": ["required"]}),
        ({"kind": "funds", "month": dt.date(2026, 7, 1), "amount": Decimal("1")}, {"month": ["future"]}),
    ]
    for data, expected in cases:
        with pytest.raises(ValidationError) as caught:
            progress_record(project=signed, now=NOW, **data)
        assert codes(caught.value) == expected, data
    entry = progress_record(
        project=signed,
        kind="milestone",
        month=dt.date(2026, 5, 1),
        milestone="construction",
        date=dt.date(2026, 5, 3),
        now=NOW,
    )
    assert entry.milestone == "construction"
