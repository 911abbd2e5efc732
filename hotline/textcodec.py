"""GSM 03.38 / UCS-2 accounting for USSD screens and SMS parts.

Budgets are counted the way handsets and SMSCs count them: GSM-7 septets
(extension characters cost two), or UTF-16 code units as soon as one character
falls outside GSM-7, which turns the whole text into UCS-2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

Encoding = Literal["GSM-7", "UCS-2"]

SMS_SINGLE = {"GSM-7": 160, "UCS-2": 70}
SMS_PART = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True)
class TextCost:
    """What a text costs on the air: its encoding and the units it uses."""

    encoding: Encoding
    units: int


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def non_gsm7(text: str) -> list[str]:
    """The characters that force a text into UCS-2, in order of first use."""
    seen: dict[str, None] = {}
    for ch in text:
        if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION:
            seen.setdefault(ch)
    return list(seen)


def _char_units(ch: str, encoding: Encoding) -> int:
    if encoding == "GSM-7":
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def measure(text: str) -> TextCost:
    encoding: Encoding = "GSM-7" if is_gsm7(text) else "UCS-2"
    return TextCost(encoding, sum(_char_units(ch, encoding) for ch in text))


@dataclass(frozen=True)
class Budget:
    """Characters allowed on one USSD screen, by encoding."""

    gsm7: int = 160
    ucs2: int = 70

    def limit(self, encoding: Encoding) -> int:
        return self.gsm7 if encoding == "GSM-7" else self.ucs2

    def fits(self, text: str) -> bool:
        cost = measure(text)
        return cost.units <= self.limit(cost.encoding)


def sms_parts(text: str) -> int:
    """Number of SMS parts, never splitting an escape pair or a surrogate pair."""
    cost = measure(text)
    if cost.units <= SMS_SINGLE[cost.encoding]:
        return 1 if text else 0
    per_part = SMS_PART[cost.encoding]
    parts, used = 1, 0
    for ch in text:
        units = _char_units(ch, cost.encoding)
        if used + units > per_part:
            parts, used = parts + 1, 0
        used += units
    return parts
