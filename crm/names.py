"""Name handling for search and duplicate detection: pinyin and normalised names. Pure."""

from __future__ import annotations

import re
import unicodedata

from pypinyin import Style, lazy_pinyin

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


def name_pinyin(name: str) -> str:
    """Full pinyin without tones, words joined by spaces: 太原钢铁 → 'tai yuan gang tie'."""
    return " ".join(p for p in lazy_pinyin(name, errors="default") if p.strip()).lower()


def name_initials(name: str) -> str:
    """Pinyin initials: 太原钢铁 → 'tygt'."""
    return "".join(lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default")).lower().replace(" ", "")


def normalize_name(name: str) -> str:
    """A key under which likely duplicates collide: width-folded, lower-case, without
    punctuation, and without a trailing legal form (有限公司, Co., Ltd.)."""
    value = unicodedata.normalize("NFKC", name).lower().strip()
    value = _PUNCT.sub("", value)
    changed = True
    while changed:
        changed = False
        for suffix in _LEGAL_SUFFIXES:
            key = _PUNCT.sub("", suffix)
            if value.endswith(key) and len(value) > len(key):
                value = value[: -len(key)]
                changed = True
    return value
