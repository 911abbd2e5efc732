import pytest

from hotline.normalize import digits, keyword, menu_input, words


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


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Help!", "help"),
        ("stop.", "stop"),
        ("«مساعدة»", "مساعده"),  # Arabic quotes, and ta marbuta folded as keyword() does
        ("help, me!!", "help me"),  # punctuation is a space, spaces collapse
        ("info-2", "info 2"),
        ("€5 +1", "5 1"),  # symbols too
        ("؟ماذا", "ماذا"),  # the Arabic question mark
        ("a1b", "a1b"),  # letters and digits stay together
    ],
)
def test_sms_words_ignore_punctuation_and_symbols(raw, expected):
    assert words(raw) == expected
