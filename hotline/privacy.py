"""Phone numbers as staff and logs may see them: callers may be trafficking victims."""

from __future__ import annotations

import hashlib
import hmac
import re

import phonenumbers

# In free text (staff notes), seven or more digits in a row, with the spaces, dashes,
# dots and brackets people write between them, are treated as a phone number:
# better a masked reference number than a caller's number in clear.
NUMBER_IN_TEXT = re.compile(r"\+?\d(?:[\s\-.()\u00a0]{0,2}\d){6,}")


def _country_and_national(digits: str) -> tuple[str, str]:
    """Split E.164 digits with libphonenumber: ``291`` + ``7123456``, ``1`` + ``2025550143``."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return "", digits
    cc = str(number.country_code)
    national = digits[len(cc):] if digits.startswith(cc) else ""
    return (cc, national) if national else ("", digits)


def mask_phone(phone: str | None) -> str:
    """``+249912345678`` -> ``+249 91* *** *78``: enough to tell two callers apart, no more.

    The country code comes from libphonenumber (1 to 3 digits); of the national
    number at most two leading and two trailing digits show, fewer for short ones.
    """
    if not phone:
        return "-"
    digits = "".join(ch for ch in phone if ch.isdigit())
    cc, national = _country_and_national(digits)
    if not cc or len(national) < 6:
        return "+" + "*" * len(digits)
    head = 2 if len(national) >= 9 else 1
    tail = 2 if len(national) >= 8 else 1
    masked = national[:head] + "*" * (len(national) - head - tail) + national[-tail:]
    groups = [masked[i:i + 3] for i in range(0, len(masked), 3)]
    if len(groups) > 1 and len(groups[-1]) == 1:  # no lonely last digit: "***6", not "*** 6"
        groups[-2:] = [groups[-2] + groups[-1]]
    return f"+{cc} " + " ".join(g for g in groups if g)


def mask_numbers(text: str) -> tuple[str, bool]:
    """``text`` with every phone-like run of digits masked, and whether there was one."""
    found = False

    def hide(match: re.Match[str]) -> str:
        nonlocal found
        found = True
        digits = [ch for ch in match.group() if ch.isdigit()]
        return "*" * (len(digits) - 2) + "".join(digits[-2:])

    return NUMBER_IN_TEXT.sub(hide, text or ""), found


LABEL_ALPHABET = "ACDEFHJKMNPRTVWXY34679"  # no 0/O, 1/I/L, 2/Z, 5/S, 8/B to misread


def caller_label(contact_id: int, key: bytes | str) -> str:
    """A stable, non-reversible name for a caller (``4F7K``): two callers whose masks look
    alike are told apart without anyone seeing either number. A keyed hash of the
    contact's id, so the label says nothing about the number or the order of arrival."""
    secret = key.encode() if isinstance(key, str) else key
    digest = hmac.new(secret, f"contact:{contact_id}".encode(), hashlib.sha256).digest()
    value = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(4):
        value, index = divmod(value, len(LABEL_ALPHABET))
        chars.append(LABEL_ALPHABET[index])
    return "".join(chars)
