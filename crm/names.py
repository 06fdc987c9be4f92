"""Name handling for search and duplicate detection: pinyin and normalised names. Pure."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin
from pypinyin.constants import RE_HANS
from pypinyin.seg import mmseg
from pypinyin.seg.simpleseg import seg

# Legal-form words that say nothing about which enterprise it is.
_LEGAL_SUFFIXES = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "集团公司",
    "集团",
    "公司",
    "co., ltd.",
    "co.,ltd.",
    "co. ltd",
    "co ltd",
    "ltd.",
    "ltd",
    "limited",
    "inc.",
    "inc",
    "corporation",
    "corp.",
    "group",
)
_PUNCT = re.compile(r"[\s\-_.,，。·•()（）\[\]【】'\"“”‘’/&]+")
# The suffixes as they read once punctuation is gone, in the same order.
_SUFFIX_KEYS = tuple(_PUNCT.sub("", suffix) for suffix in _LEGAL_SUFFIXES)


def name_pinyin(name: str) -> str:
    """Full pinyin without tones, words joined by spaces: 太原钢铁 → 'tai yuan gang tie'."""
    return pinyin_keys(name)[0]


def name_initials(name: str) -> str:
    """Pinyin initials: 太原钢铁 → 'tygt'."""
    return pinyin_keys(name)[1]


def pinyin_keys(name: str) -> tuple[str, str]:
    """``(name_pinyin(name), name_initials(name))`` from one segmentation.

    pypinyin cuts a name into words (runs of other characters, phrases of its
    dictionary, single characters) and converts each word on its own, so a word's
    syllables do not depend on its neighbours. Converting is what costs (tens of
    microseconds a word), cutting is cheap, and enterprise names share their words
    (山西, 新材料, 科技, 有限公司): each distinct word is converted once per
    process. A test holds the result equal to pypinyin's for whole names.
    """
    syllables: list[str] = []
    initials: list[str] = []
    for word in _words(name):
        word_syllables, word_initials = _word_keys(word)
        syllables.extend(word_syllables)
        initials.append(word_initials)
    return " ".join(s for s in syllables if s.strip()).lower(), "".join(initials).lower().replace(" ", "")


# pypinyin's own first cut (simpleseg) walks the name a character at a time; the same
# cut by one regular expression over its character class is several times faster.
_HAN = RE_HANS.pattern.removeprefix("^(?:").removesuffix(")+$")
_HAN_RUN = re.compile(f"({_HAN}+)") if _HAN != RE_HANS.pattern else None


def _words(name: str) -> list[str]:
    """The words pypinyin converts one by one: runs of other characters as they are,
    runs of Chinese characters cut into its dictionary's phrases."""
    if _HAN_RUN is None:  # a pypinyin whose pattern we do not recognise: its own cut
        return seg(name)
    words: list[str] = []
    for position, piece in enumerate(_HAN_RUN.split(name)):
        if not piece:
            continue
        if position % 2:
            words.extend(mmseg.seg.cut(piece))
        else:
            words.append(piece)
    return words


@lru_cache(maxsize=65536)
def _word_keys(word: str) -> tuple[tuple[str, ...], str]:
    return (
        tuple(lazy_pinyin(word, errors="default")),
        "".join(lazy_pinyin(word, style=Style.FIRST_LETTER, errors="default")),
    )


def normalize_name(name: str) -> str:
    """A key under which likely duplicates collide: width-folded, lower-case, without
    punctuation, and without a trailing legal form (有限公司, Co., Ltd.)."""
    value = unicodedata.normalize("NFKC", name).lower().strip()
    value = _PUNCT.sub("", value)
    changed = True
    while changed:
        changed = False
        for key in _SUFFIX_KEYS:
            if value.endswith(key) and len(value) > len(key):
                value = value[: -len(key)]
                changed = True
    return value
