"""Published assessment schemes reproduced to the decimal from submitted ledgers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ledger.assessment import assessment_people, assessment_scores
from ledger.models import AssessmentScheme, SchemeAdjustment, SchemeIndicator, SchemeValue
from ledger.services import ledger_submit
from recruitment.landing import project_plan_set
from tests.factories import ChainFactory, EnterpriseFactory, StageFactory, UserFactory
from tests.ledger.conftest import Ledgerbook, at

JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)
TODAY = dt.date(2026, 4, 10)  # January to March are due; February was never submitted.


@pytest.fixture
def year(book: Ledgerbook):  # type: ignore[no-untyped-def]
    zhang, li = UserFactory(office=book.office, username="zhang"), UserFactory(office=book.office, username="li")
    outside = {"enterprise": EnterpriseFactory(province="广东省")}
    p1 = book.signed(at(2026, 1, 8), amount="150000000", title="P1", owner=zhang, **outside)
    book.entry(p1, "funds", JAN, at(2026, 1, 28), amount="30000000", evidence=True)
    p2 = book.signed(
        at(2026, 2, 8), amount="200000000", title="P2", owner=zhang, enterprise=EnterpriseFactory(province="江苏省")
    )
    book.entry(p2, "funds", FEB, at(2026, 2, 20), amount="8000000", evidence=True)
    owner_enterprise = EnterpriseFactory(province="山西省")
    chain = ChainFactory(owner_enterprise=owner_enterprise)
    p3 = book.signed(
        at(2026, 3, 2),
        amount="300000000",
        title="P3",
        owner=li,
        enterprise=owner_enterprise,
        stages=[StageFactory(chain=chain)],
    )
    p4 = book.signed(
        at(2026, 3, 3), amount="50000000", title="P4", owner=li, enterprise=EnterpriseFactory(province="浙江省")
    )
    book.entry(p1, "funds", MAR, at(2026, 3, 20), amount="10000000", evidence=True)
    book.entry(p3, "funds", MAR, at(2026, 3, 21), amount="5000000")  # no evidence: not counted
    project_plan_set(project=p1, plan={"construction": dt.date(2026, 2, 15)})
    project_plan_set(project=p3, plan={"construction": dt.date(2026, 6, 1)})
    ledger_submit(office=book.office, month=JAN, now=at(2026, 2, 3))
    ledger_submit(office=book.office, month=MAR, now=at(2026, 4, 3))
    return {"p1": p1, "p2": p2, "p3": p3, "p4": p4}


def scheme(code: str, indicators: list[tuple[str, str]], **kwargs) -> AssessmentScheme:  # type: ignore[no-untyped-def]
    s = AssessmentScheme.objects.create(code=code, name=code, year=2026, **kwargs)
    for i, (name, formula) in enumerate(indicators):
        SchemeIndicator.objects.create(scheme=s, code=name, name=name, order=i, formula=formula)
    return s


def values(s: AssessmentScheme, office, **named: str) -> None:  # type: ignore[no-untyped-def]
    for name, value in named.items():
        SchemeValue.objects.create(scheme=s, office=office, name=name, value=Decimal(value))


@pytest.mark.django_db
def test_the_provincial_scheme_is_reproduced_to_the_decimal(book: Ledgerbook, year) -> None:  # type: ignore[no-untyped-def]
    s = scheme(
        "province-2026",
        [
            ("new_big", "30 * new_big_out_of_province / target_new_big"),
            ("funds", "20 * funds_in_place / target_funds"),
            ("industry_fit", "20 * industry_fit"),
            ("peers", "15 * peer_departments + 15 * peer_parks"),
        ],
    )
    values(
        s,
        book.office,
        target_new_big="4",
        target_funds="160000000",
        industry_fit="0.85",
        peer_departments="0.9",
        peer_parks="0.8",
    )
    SchemeAdjustment.objects.create(scheme=s, office=book.office, points=Decimal("2"), reason="重大项目加分")
    [score] = assessment_scores(scheme=s, today=TODAY, offices=[book.office])
    # 30 × 1/4 + 20 × 40,000,000/160,000,000 + 20 × 0.85 + 15 × 0.9 + 15 × 0.8 + 2
    assert [i["points"] for i in score.indicators] == [
        Decimal("7.50"),
        Decimal("5.00"),
        Decimal("17.00"),
        Decimal("25.50"),
    ]
    assert score.total == Decimal("57.00")
    # February was never submitted: P2 and its funds are left out of the assessment.
    assert score.facts.values["funds_in_place"] == Decimal("40000000")
    assert [b["title"] for b in score.facts.behind["new_big_out_of_province"]] == ["P1"]
    assert all(b["title"] != "P2" for rows in score.facts.behind.values() for b in rows)
    assert score.months_missed == ["2026-02"]


@pytest.mark.django_db
def test_the_city_template_with_caps_and_deductions_is_reproduced(book: Ledgerbook, year) -> None:  # type: ignore[no-untyped-def]
    s = scheme(
        "city-2026",
        [
            ("out_of_region", "min(50, 50 * out_of_province_signed_amount / target_out_of_province)"),
            ("chain_owner", "min(30, 30 * chain_owner_links / target_chain_owner_links)"),
            ("other_work", "min(20, other_work)"),
        ],
        late_start_deduction=Decimal("0.1"),
        missed_report_deduction=Decimal("1"),
    )
    values(s, book.office, target_out_of_province="250000000", target_chain_owner_links="2", other_work="18")
    [score] = assessment_scores(scheme=s, today=TODAY, offices=[book.office])
    # 50 × 200,000,000/250,000,000 + 30 × 1/2 + 18 − 0.1 × 1 late start − 1 × 1 missed report
    assert [i["points"] for i in score.indicators] == [Decimal("40.00"), Decimal("15.00"), Decimal("18.00")]
    late, missed = score.deductions
    assert (late["count"], late["points"], [b["project"] for b in late["behind"]]) == (
        1,
        Decimal("-0.1"),
        [str(year["p1"].pk)],
    )
    assert (missed["count"], missed["points"], missed["behind"]) == (1, Decimal("-1"), ["2026-02"])
    assert score.total == Decimal("71.90")
    people = {p.person: p for p in assessment_people(scheme=s, today=TODAY)}
    # zhang: 50 × 150/250 = 30; li: 50 × 50/250 + 30 × 1/2 = 25; office-wide scores count for offices only.
    assert (people["zhang"].total, people["li"].total) == (Decimal("30.00"), Decimal("25.00"))
    assert [b["title"] for b in people["li"].facts.behind["chain_owner_links"]] == ["P3"]

    # A cap holds: ten times the target still gives 50.
    SchemeValue.objects.filter(scheme=s, name="target_out_of_province").update(value=Decimal("20000000"))
    assert assessment_scores(scheme=s, today=TODAY, offices=[book.office])[0].indicators[0]["points"] == Decimal(
        "50.00"
    )


@pytest.mark.django_db
def test_offices_are_ranked_and_one_without_reports_loses_a_point_a_month(book: Ledgerbook, year) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import OfficeFactory

    silent = OfficeFactory(code="silent-park", kind="park")
    s = scheme("penalties", [("base", "10")], missed_report_deduction=Decimal("1"))
    ranking = assessment_scores(scheme=s, today=TODAY, offices=[silent, book.office])
    assert [(r.office.code, r.total) for r in ranking] == [
        (book.office.code, Decimal("9.00")),
        ("silent-park", Decimal("7.00")),
    ]
    assert ranking[1].office == silent
