import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc

from crm.credit_code import credit_code_error, normalize_credit_code, validate_credit_code

VALID = "91110000600037341L"


def test_it_accepts_a_valid_code():
    assert credit_code_error(VALID) is None
    validate_credit_code(VALID)


def test_it_rejects_a_wrong_check_digit():
    with translation.override("en"):
        error = credit_code_error("91110000600037341X")
    assert error is not None and "check digit" in error and "L" in error


def test_it_rejects_a_wrong_length():
    assert "18" in credit_code_error("9111000060003734")
    with pytest.raises(ValidationError):
        validate_credit_code("9111000060003734")


def test_it_rejects_letters_outside_the_alphabet():
    assert credit_code_error("91110000600O37341L") is not None


def test_lowercase_is_normalised_but_never_stored():
    assert normalize_credit_code(" 91110000600037341l ") == VALID
    with pytest.raises(ValidationError):
        validate_credit_code("91110000600037341l")


def test_blank_normalises_to_none():
    assert normalize_credit_code("  ") is None
    assert normalize_credit_code(None) is None


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("0123456789ABCDEFGHJKLMNPQRTUWXYabcz -\t"), max_size=22))
def test_normalising_equals_stdnum_compact(value):
    # The stored-form shortcut must give what python-stdnum's compact() gives.
    assert normalize_credit_code(value) == (uscc.compact(value) or None)
