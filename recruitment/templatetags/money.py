"""Money in the units Chinese officials read: 万元 (10⁴ CNY) and 亿元 (10⁸ CNY).

Amounts are stored in yuan (CNY, two decimals). Reports show them in 万元 or 亿元
because that is how investment-promotion figures are reported; a raw
``1234567890.00`` is unreadable at a glance. The filters are pure functions of the
value, so they are tested without a database or a request.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.utils.translation import gettext as _

register = template.Library()

WAN = Decimal(10_000)
YI = Decimal(100_000_000)
EMPTY = "—"


def _to_decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _format(amount: Decimal, places: int) -> str:
    quantum = Decimal(1).scaleb(-places)
    rounded = amount.quantize(quantum, rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)  # no "-0.00"
    return f"{rounded:,.{places}f}"


@register.filter
def wan(value: object, places: int = 2) -> str:
    """Yuan shown in 万元: ``12345678`` → ``1,234.57万元``."""
    amount = _to_decimal(value)
    if amount is None:
        return EMPTY
    return _("%(amount)s万元") % {"amount": _format(amount / WAN, int(places))}


@register.filter
def yi(value: object, places: int = 2) -> str:
    """Yuan shown in 亿元: ``200000000000`` → ``2,000.00亿元``."""
    amount = _to_decimal(value)
    if amount is None:
        return EMPTY
    return _("%(amount)s亿元") % {"amount": _format(amount / YI, int(places))}


@register.filter
def money(value: object) -> str:
    """Yuan in the unit a reader expects: 亿元 from one 亿 up, 万元 below."""
    amount = _to_decimal(value)
    if amount is None:
        return EMPTY
    in_wan = (abs(amount) / WAN).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    # 99,999,999.99 rounds to "10,000.00万元": that reads better as 1.00亿元.
    if in_wan >= 10_000:
        return yi(amount)
    return wan(amount)
