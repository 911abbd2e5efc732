"""Normalisation of what callers type, before anything compares it.

Basic phones with an Arabic keypad send Eastern Arabic (U+0660-0669) or Persian
(U+06F0-06F9) digits; callers add spaces and invisible direction marks.
"""

from __future__ import annotations

import re
import unicodedata

_DIGITS = {**{0x0660 + i: str(i) for i in range(10)}, **{0x06F0 + i: str(i) for i in range(10)}}
_INVISIBLE = dict.fromkeys(
    map(ord, "\u200e\u200f\u200b\u200c\u200d\u061c\ufeff\u202a\u202b\u202c\u202d\u202e"
             "\u2066\u2067\u2068\u2069"))
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u0640]")  # harakat, dagger alef, tatweel
_LETTERS = str.maketrans(
    {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي",
     "ی": "ي", "ک": "ك"})  # the last two: Persian keyboards' yeh and kaf


def digits(text: str) -> str:
    """Eastern Arabic and Persian digits become 0-9; everything else is kept."""
    return text.translate(_DIGITS)


def menu_input(text: str) -> str:
    """What a menu compares: digits normalised, direction marks and outer spaces gone."""
    return digits(text.translate(_INVISIBLE)).strip()


def keyword(text: str) -> str:
    """A form of a word in which spelling variants of the same keyword compare equal.

    Latin text is case-folded; Arabic loses diacritics and tatweel, and hamza,
    alef maqsura and ta marbuta variants fold together, as callers type them
    interchangeably.
    """
    text = unicodedata.normalize("NFKC", menu_input(text)).casefold()
    text = _ARABIC_MARKS.sub("", text).translate(_LETTERS)
    return " ".join(text.split())


def words(text: str) -> str:
    """What an SMS keyword is compared as: :func:`keyword`, punctuation and symbols gone.

    Callers write "Help!", «مساعدة» or "stop." and mean the keyword; any mark of
    punctuation or symbol (Arabic ones included) counts as a space.
    """
    text = keyword(text)
    return " ".join("".join(" " if unicodedata.category(ch)[0] in "PS" else ch
                            for ch in text).split())
