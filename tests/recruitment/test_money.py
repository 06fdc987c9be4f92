"""万元/亿元 formatting: pure filters, no database."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import translation

from recruitment.templatetags.money import money, wan, yi


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def test_wan_divides_by_ten_thousand_and_groups_digits() -> None:
    assert wan(Decimal("12345678")) == "1,234.57万元"


def test_yi_divides_by_one_hundred_million() -> None:
    assert yi(Decimal("200000000000")) == "2,000.00亿元"


def test_rounding_is_half_up_not_bankers() -> None:
    assert wan(Decimal("250")) == "0.03万元"  # 0.025: banker's rounding would give 0.02
    assert wan(Decimal("450")) == "0.05万元"  # 0.045: banker's rounding would give 0.04


def test_places_can_be_chosen() -> None:
    assert wan(Decimal("12345678"), 0) == "1,235万元"
    assert yi(Decimal("123456789"), 1) == "1.2亿元"


def test_missing_amounts_show_a_dash() -> None:
    assert wan(None) == "—"
    assert yi("") == "—"
    assert money(None) == "—"
    assert money("not a number") == "—"


def test_money_uses_wan_below_one_yi_and_yi_from_one_yi() -> None:
    assert money(Decimal("99990000")) == "9,999.00万元"
    assert money(Decimal("100000000")) == "1.00亿元"
    assert money(Decimal("350000000")) == "3.50亿元"


def test_money_switches_to_yi_when_wan_would_round_to_ten_thousand() -> None:
    assert money(Decimal("99999999.99")) == "1.00亿元"


def test_accepts_ints_floats_and_strings() -> None:
    assert wan(50000) == "5.00万元"
    assert wan(50000.0) == "5.00万元"
    assert wan("50000") == "5.00万元"


def test_zero_has_no_negative_sign() -> None:
    assert wan(Decimal("-1")) == "0.00万元"
    assert wan(0) == "0.00万元"


def test_filters_work_in_templates() -> None:
    rendered = Template("{% load money %}{{ a|money }} / {{ b|wan:0 }} / {{ c|yi }}").render(
        Context({"a": Decimal("500000000"), "b": Decimal("30000"), "c": None})
    )
    assert rendered == "5.00亿元 / 3万元 / —"
