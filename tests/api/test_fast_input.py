"""api.fast_input: whatever the fast check accepts, the serializer accepts with the same values."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from api.fast_input import FastInput
from api.resources.enterprises import EnterpriseInput
from tests.factories import valid_credit_code

pytestmark = pytest.mark.django_db

_TEXT = st.one_of(
    st.text(max_size=8),
    st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x4E40), min_size=1, max_size=6),
    st.sampled_from(["", " ", "  太原 ", "a\x00b", "\ud800", "x" * 200, "x" * 201, "x" * 51]),
)
_ANY = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _TEXT, st.lists(_TEXT, max_size=2)
)
_FIELDS = {
    "external_id": st.one_of(st.sampled_from(["E-1", "a/b", ""]), _ANY),
    "name": _ANY,
    "name_en": _ANY,
    "credit_code": st.one_of(
        st.sampled_from([valid_credit_code(7), valid_credit_code(8).lower(), "91110000600037341X", ""]), _ANY
    ),
    "ownership": st.one_of(st.sampled_from(["state", "private", "foreign", "nope", ""]), _ANY),
    "province": _ANY,
    "city": st.one_of(st.sampled_from(["太原", " 忻州 "]), _ANY),
    "registered_capital": st.one_of(
        st.sampled_from(["1000000.00", "1.5", "0", "12345678901234567.00", "-1", "1e3", " 5", "1.234", ""]),
        _ANY,
    ),
    "website": st.one_of(
        st.sampled_from(
            ["https://e.example.cn", "ftp://x", "not a url", "", "http://-a.cn", "http://a.c", "https://a.b.c1"]
        ),
        st.from_regex(r"\Ahttps?://[a-z0-9.-]{1,12}(:[0-9]{1,6})?(/[a-zA-Z0-9/._~%?#-]{0,8})?\Z"),
        _ANY,
    ),
    "stages": st.one_of(
        st.lists(st.sampled_from(["acrylonitrile", "precursor", "nope", " acrylonitrile "]), max_size=3), _ANY
    ),
    "version": _ANY,  # read-only, ignored on input
}
_BASE = {"external_id": "E-1", "name": "太原钢铁", "city": "太原", "stages": ["precursor"]}
# A valid item with one to three fields replaced or removed: most examples sit next to the valid ones.
_ITEM = st.lists(
    st.one_of(*(st.tuples(st.just(k), st.one_of(st.just(KeyError), v)) for k, v in _FIELDS.items())),
    min_size=1,
    max_size=3,
).map(lambda changes: {k: v for k, v in {**_BASE, **dict(changes)}.items() if v is not KeyError})


def _serializer_result(item, context):  # type: ignore[no-untyped-def]
    serializer = EnterpriseInput(data=item, context=context)
    return dict(serializer.validated_data) if serializer.is_valid() else None


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(item=_ITEM)
def test_accepted_items_equal_the_serializers(stages, item):
    context: dict = {}
    fast = FastInput(EnterpriseInput(context=context)).validate(item)
    if fast is not None:
        assert _serializer_result(item, context) == fast


def test_plain_valid_items_take_the_fast_way_and_bad_ones_do_not(stages):
    check = FastInput(EnterpriseInput(context={}))
    good = {
        "external_id": "E-1",
        "name": " 太原钢铁集团有限公司 ",
        "credit_code": valid_credit_code(3).lower(),
        "ownership": "state",
        "registered_capital": "1000000.5",
        "website": "https://tisco.example.cn",
        "stages": ["acrylonitrile"],
    }
    values = check.validate(good)
    assert values is not None
    assert values["name"] == "太原钢铁集团有限公司"
    assert values["credit_code"] == valid_credit_code(3)
    assert str(values["registered_capital"]) == "1000000.50"
    assert values["stages"] == [stages[0]]
    for field, bad in [
        ("name", ""),
        ("name", 5),
        ("ownership", "nope"),
        ("registered_capital", 1.5),
        ("stages", ["nope"]),
    ]:
        assert check.validate({**good, field: bad}) is None, field
    assert check.validate({"external_id": "E-2"}) is None  # name is required


def test_object_level_validation_is_refused():
    class Checked(serializers.Serializer):
        name = serializers.CharField()

        def validate(self, attrs):  # type: ignore[no-untyped-def]
            return attrs

    with pytest.raises(TypeError):
        FastInput(Checked())


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-01T10:00:00+08:00",
        "2026-03-01T10:00:00Z",
        "2026-03-01T10:00:00.5-05:30",
        "2026-02-30T10:00:00Z",
        "0001-01-01T00:00:00+08:00",
        "2026-03-01T10:00:00",
        "2026-03-01 10:00:00+08:00",
        "2026-03-01",
        5,
        None,
    ],
)
def test_a_time_the_fast_check_takes_is_the_fields_own_value(value):
    from api.fields import DateTime

    class Times(serializers.Serializer):
        at = DateTime()

    field = Times().fields["at"]
    accepted, fast = field.fast_check(value)
    try:
        slow = field.run_validation(value)
    except serializers.ValidationError:
        assert not accepted
        return
    if accepted:
        assert fast == slow and fast.utcoffset() == slow.utcoffset() and str(fast.tzinfo) == str(slow.tzinfo)
