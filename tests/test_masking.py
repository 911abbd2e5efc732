"""Masked phone numbers: the country code as libphonenumber knows it, little of the rest;
and phone-like numbers in staff notes."""

import pytest

from hotline.privacy import mask_numbers, mask_phone


@pytest.mark.parametrize("phone,masked", [
    ("+249912345678", "+249 91* *** *78"),  # Sudan: 3-digit code, 9-digit number
    ("+2917123456", "+291 7** ***6"),  # Eritrea: 7 digits, so less of them shows
    ("+12025550143", "+1 20* *** **43"),  # a 1-digit country code
    ("+447911123456", "+44 79* *** **56"),
    ("+201123456789", "+20 11* *** **89"),
    ("+1", "+*"),
    ("+999123456789", "+************"),  # no such country: nothing shows
    ("", "-"),
    (None, "-"),
])
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize("phone", ["+249912345678", "+2917123456", "+12025550143",
                                   "+447911123456", "+211912345678", "+251911234567"])
def test_a_masked_number_shows_at_most_a_third_of_the_national_digits(phone):
    masked = mask_phone(phone)
    cc, _, rest = masked[1:].partition(" ")
    assert phone.startswith("+" + cc)
    shown = sum(ch.isdigit() for ch in rest)
    assert shown * 2 < len(phone) - 1 - len(cc), masked


@pytest.mark.parametrize("note,masked,flagged", [
    ("call her sister on 0912 345 678 after 5", "call her sister on ********78 after 5", True),
    ("+249-91-234-5678", "**********78", True),
    ("رقم أخيها ٠٩١٢٣٤٥٦٧٨", "رقم أخيها ********٧٨", True),
    ("ref 1234, 2 kids, age 35", "ref 1234, 2 kids, age 35", False),
    ("", "", False),
])
def test_numbers_in_notes(note, masked, flagged):
    assert mask_numbers(note) == (masked, flagged)
