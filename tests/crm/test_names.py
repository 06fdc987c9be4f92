"""crm.names: the search keys equal pypinyin's reading of the whole name, word cache or not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypinyin import Style, lazy_pinyin

from crm import names


def _reference(name: str) -> tuple[str, str]:
    """What pypinyin gives for the whole name in one call each (the definition of the keys)."""
    pinyin = " ".join(p for p in lazy_pinyin(name, errors="default") if p.strip()).lower()
    initials = "".join(lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default")).lower().replace(" ", "")
    return pinyin, initials


@pytest.mark.parametrize(
    "name",
    [
        "太原钢铁集团有限公司",
        "重庆长安汽车股份有限公司",
        "银行行长",  # 行: háng in 银行, xíng/háng by phrase
        "乐山乐器厂",
        "朝阳区朝阳路",
        "TCL华星光电",
        "山西 钢科（太原）",
        "Shanxi Steel Co., Ltd.",
        "中北高新区2号厂房",
        "",
    ],
)
def test_keys_equal_pypinyin_for_the_whole_name(name):
    names._word_keys.cache_clear()
    first = names.pinyin_keys(name)
    again = names.pinyin_keys(name)  # now from the word cache
    assert first == again == _reference(name)
    assert names.name_pinyin(name) == first[0]
    assert names.name_initials(name) == first[1]


def test_known_readings():
    assert names.pinyin_keys("太原钢铁") == ("tai yuan gang tie", "tygt")
    # The phrase decides a polyphone's reading, as pypinyin's segmentation does.
    assert names.name_pinyin("银行") == "yin hang"


_HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
_NAME = st.lists(
    st.one_of(
        st.text(_HAN, min_size=1, max_size=6),
        st.sampled_from(["有限公司", "银行", "重庆", "长安", "新材料", "朝阳", "乐器"]),
        st.text(st.characters(codec="ascii"), min_size=1, max_size=4),
        st.sampled_from([" ", "（", "）", "·", "-"]),
    ),
    max_size=6,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_NAME)
def test_keys_equal_pypinyin_for_any_name(name):
    assert names.pinyin_keys(name) == _reference(name)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=12) | _NAME)
def test_the_fast_cut_equals_pypinyins_own(name):
    from pypinyin.seg.simpleseg import seg

    assert names._HAN_RUN is not None  # the pattern of this pypinyin is recognised
    assert names._words(name) == [w for w in seg(name) if w]
