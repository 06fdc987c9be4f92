"""The published three-colour thresholds, month by month, as pure functions (no database)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.utils import translation

from recruitment.lights import RED, YELLOW, Facts, Rule, evaluate

D = Decimal
MILESTONE = Rule("milestone-overdue", "milestone_overdue", D(1), D(3))
INVESTMENT = Rule("investment-behind", "investment_behind", D(10), D(30))
NO_PROGRESS = Rule("no-progress", "no_progress", D(2), None)
STREAK = Rule("yellow-streak", "yellow_streak", None, D(2))
SANYA = Rule("sanya-investment", "investment_behind", None, D(50))


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


# Yinchuan: due to start construction this month and not started, yellow; three months running, red.
@pytest.mark.parametrize(
    ("today", "expected", "months"),
    [
        (dt.date(2026, 3, 14), "green", None),  # the planned day has not come
        (dt.date(2026, 3, 20), "yellow", 1),  # this month and not started
        (dt.date(2026, 4, 30), "yellow", 2),
        (dt.date(2026, 5, 1), "red", 3),  # three months running
        (dt.date(2026, 9, 1), "red", 7),
    ],
)
def test_a_construction_start_that_slips_turns_yellow_then_red(today, expected, months) -> None:  # type: ignore[no-untyped-def]
    facts = Facts(status="registered", planned={"construction": dt.date(2026, 3, 15)})
    verdict = evaluate(facts, [MILESTONE], today)
    assert verdict.color == expected
    if months is None:
        assert verdict.findings == ()
    else:
        (finding,) = verdict.findings
        assert finding.params["months"] == months
        assert finding.detail() == (
            f"Construction start 开工 was planned for 2026-03-15 and has not happened: "
            f"overdue {months} month(s) running."
        )


def test_a_milestone_reached_late_or_recorded_clears_the_warning() -> None:
    today = dt.date(2026, 6, 1)
    planned = {"construction": dt.date(2026, 3, 15)}
    assert evaluate(Facts(status="construction", planned=planned), [MILESTONE], today).color == "green"
    recorded = Facts(status="registered", planned=planned, reached={"construction": dt.date(2026, 5, 2)})
    assert evaluate(recorded, [MILESTONE], today).color == "green"


def test_a_valid_reason_suspends_a_rule() -> None:
    facts = Facts(
        status="registered", planned={"construction": dt.date(2026, 1, 1)}, suspended=frozenset({"milestone-overdue"})
    )
    assert evaluate(facts, [MILESTONE], dt.date(2026, 6, 1)).color == "green"


def _investment(actual: str) -> Facts:
    return Facts(
        status="construction",
        schedule=[(dt.date(2026, 1, 1), D("400")), (dt.date(2026, 2, 1), D("1000"))],
        investment=[(dt.date(2026, 1, 1), D(actual))],
    )


# Yinchuan: 10–30 percentage points behind the planned schedule, yellow; more than 30, red.
@pytest.mark.parametrize(
    ("actual", "expected", "points"),
    [
        ("1000", "green", None),
        ("910", "green", None),  # 9 points
        ("900", "yellow", "10.0"),
        ("700", "yellow", "30.0"),  # 30 points is still yellow
        ("699", "red", "30.1"),
        ("0", "red", "100.0"),
    ],
)
def test_investment_behind_schedule_by_percentage_points(actual, expected, points) -> None:  # type: ignore[no-untyped-def]
    # On 2026-03-05 the last finished month is February: 1000 planned by then.
    verdict = evaluate(_investment(actual), [INVESTMENT], dt.date(2026, 3, 5))
    assert verdict.color == expected
    if points:
        assert verdict.findings[0].params["points"] == points
        assert f"{points} percentage points behind plan" in verdict.findings[0].detail()


def test_the_running_month_is_not_judged_before_it_ends() -> None:
    # In February only January's 400 is due.
    assert evaluate(_investment("400"), [INVESTMENT], dt.date(2026, 2, 20)).color == "green"


# Sanya: more than 50% behind plan is red.
@pytest.mark.parametrize(("actual", "expected"), [("500", "green"), ("499", "red")])
def test_sanya_red_above_fifty_points(actual, expected) -> None:  # type: ignore[no-untyped-def]
    assert evaluate(_investment(actual), [SANYA], dt.date(2026, 3, 5)).color == expected


@pytest.mark.parametrize(
    ("today", "expected"),
    [(dt.date(2026, 3, 31), "green"), (dt.date(2026, 4, 1), "yellow"), (dt.date(2026, 8, 1), "yellow")],
)
def test_no_progress_entry_for_two_months(today, expected) -> None:  # type: ignore[no-untyped-def]
    facts = Facts(status="signed", signed_on=dt.date(2025, 12, 3), last_entry_month=dt.date(2026, 2, 1))
    assert evaluate(facts, [NO_PROGRESS], today).color == expected


def test_no_progress_counts_from_signing_when_nothing_was_recorded() -> None:
    facts = Facts(status="signed", signed_on=dt.date(2026, 1, 10))
    verdict = evaluate(facts, [NO_PROGRESS], dt.date(2026, 3, 2))
    assert verdict.color == YELLOW
    assert "since signing" in verdict.findings[0].detail()


# Sanya: two yellows in a row escalate.
def test_two_yellow_months_in_a_row_escalate_to_red() -> None:
    facts = Facts(status="registered", planned={"construction": dt.date(2026, 3, 15)})
    first = evaluate(facts, [MILESTONE, STREAK], dt.date(2026, 3, 20))
    assert first.color == YELLOW
    again = evaluate(
        Facts(status="registered", planned=facts.planned, current_color="yellow", current_since=dt.date(2026, 3, 20)),
        [MILESTONE, STREAK],
        dt.date(2026, 3, 28),
    )
    assert again.color == YELLOW  # the same month is one yellow, not two
    second = evaluate(
        Facts(status="registered", planned=facts.planned, current_color="yellow", current_since=dt.date(2026, 3, 20)),
        [MILESTONE, STREAK],
        dt.date(2026, 4, 2),
    )
    assert second.color == RED
    assert [f.rule for f in second.findings] == ["yellow-streak", "milestone-overdue"]


def test_the_light_is_the_worst_rule_with_every_reason() -> None:
    facts = Facts(
        status="registered",
        planned={"construction": dt.date(2026, 1, 15), "registered": dt.date(2026, 3, 1)},
        schedule=[(dt.date(2026, 2, 1), D("1000"))],
        investment=[(dt.date(2026, 2, 1), D("850"))],
    )
    verdict = evaluate(facts, [MILESTONE, INVESTMENT], dt.date(2026, 3, 10))
    assert verdict.color == RED
    assert [(f.rule, f.color) for f in verdict.findings] == [
        ("milestone-overdue", "red"),
        ("investment-behind", "yellow"),
    ]
