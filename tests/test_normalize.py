import pytest

from hotline.normalize import digits, keyword, menu_input


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("١", "1"),
        ("٠٠", "00"),
        ("٩٨", "98"),
        ("۴۵", "45"),  # Persian digits
        (" 2 ", "2"),
        ("\u200f3\u200e", "3"),  # direction marks some phones add
        ("abc", "abc"),
        ("", ""),
    ],
)
def test_menu_input(raw, expected):
    assert menu_input(raw) == expected


def test_digits_keeps_other_text():
    assert digits("رقم ١٢٣ ok") == "رقم 123 ok"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("STOP", "stop"),
        ("إلغاء", "الغاء"),
        ("أوقف", "اوقف"),
        ("إيقافـ", "ايقاف"),  # tatweel
        ("مُساعَدة", "مساعده"),  # harakat and ta marbuta
        ("  help   me ", "help me"),
    ],
)
def test_keyword_variants_compare_equal(a, b):
    assert keyword(a) == keyword(b)
