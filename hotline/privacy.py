"""Phone numbers as staff and logs may see them: callers may be trafficking victims."""

from __future__ import annotations


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
