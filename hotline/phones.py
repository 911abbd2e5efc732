"""Phone numbers to E.164 with libphonenumber, in the region of ``HOTLINE_DEFAULT_REGION``."""

from __future__ import annotations

import phonenumbers


def to_e164(raw: str | None, region: str) -> str | None:
    """The E.164 form of a valid number, or None; a leading space stands for a lost ``+``.

    ``region`` (the setting ``default_region``) reads numbers written without ``+``.
    """
    if not raw or len(raw) > 32:
        return None
    text = raw.strip()
    if raw.startswith(" ") and text[:1].isdigit():
        text = "+" + text  # an unencoded "+" arrives as a space in form data
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
