"""Phone numbers as staff and logs may see them: callers may be trafficking victims."""

from __future__ import annotations

import hashlib
import hmac


def mask_phone(phone: str | None) -> str:
    """``+249912345678`` -> ``+249 91* *** *78``: enough to tell two callers apart, no more."""
    if not phone:
        return "-"
    digits = phone.lstrip("+")
    if len(digits) < 8:
        return "+" + "*" * len(digits)
    cc, rest = digits[:3], digits[3:]
    masked = rest[:2] + "*" * (len(rest) - 4) + rest[-2:]
    groups = [masked[:3], masked[3:6], masked[6:]]
    return f"+{cc} " + " ".join(g for g in groups if g)


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
