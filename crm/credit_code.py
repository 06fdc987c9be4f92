"""The unified social credit code (统一社会信用代码) check: pure, no database.

The check-digit arithmetic is python-stdnum's (``stdnum.cn.uscc``); this module
turns its exceptions into messages our users understand and decides how input is
normalised: spaces and dashes dropped, letters upper-cased, so a code typed in
lowercase is the same code.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum import exceptions as stdnum_exceptions
from stdnum.cn import uscc

_STORED_FORM = re.compile(r"[0-9A-Z]+")
# stdnum's rule as one pattern (8 digits, then 10 of its alphabet) and its arithmetic with a
# table: a valid code is recognised in a few microseconds; anything else goes to stdnum,
# whose exceptions say what is wrong.
_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_WELL_FORMED = re.compile(r"[0-9]{8}[0-9A-HJ-NP-RTUWXY]{10}")


def normalize_credit_code(value: str | None) -> str | None:
    """Return the code in its stored form (upper case, no separators), or None when blank."""
    if value is None:
        return None
    if _STORED_FORM.fullmatch(value):  # already in stored form: what compact() would return
        return value
    compact = uscc.compact(value)
    return compact or None


def credit_code_error(value: str) -> str | None:
    """Why ``value`` (already normalised) is not a valid code, or None when it is valid."""
    if _WELL_FORMED.fullmatch(value):
        total = sum(_VALUE[c] * w for c, w in zip(value[:17], _WEIGHTS, strict=True))
        if value[17] == _ALPHABET[(31 - total) % 31]:
            return None
    try:
        uscc.validate(value)
    except stdnum_exceptions.InvalidLength:
        return str(_("must be 18 characters long (got %(n)d)") % {"n": len(value)})
    except stdnum_exceptions.InvalidFormat:
        return str(_("may hold only digits and the capital letters A–Y except I, O, S, V, Z"))
    except stdnum_exceptions.InvalidChecksum:
        return str(
            _("the check digit (last character) does not match: expected %(d)s")
            % {"d": uscc.calc_check_digit(value[:17]) if len(value) == 18 else "?"}
        )
    except stdnum_exceptions.ValidationError:
        return str(_("is not a valid unified social credit code"))
    if value != value.upper():
        return str(_("must be written in capital letters"))
    return None


def validate_credit_code(value: str) -> None:
    """Model-field validator: the stored value must be a valid, normalised code."""
    if value in (None, ""):
        return
    error = credit_code_error(value)
    if error:
        raise ValidationError(error, code="invalid_credit_code")
