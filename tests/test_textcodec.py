import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.textcodec import Budget, measure, non_gsm7, sms_parts


@pytest.mark.parametrize(
    ("text", "encoding", "units"),
    [
        ("Hello", "GSM-7", 5),
        ("", "GSM-7", 0),
        ("price 10€", "GSM-7", 10),  # € is an extension character: 2 septets
        ("[a]{b}|~^\\", "GSM-7", 18),
        ("Café Ñandù @ £5", "GSM-7", 15),
        ("مرحبا", "UCS-2", 5),
        ("Hi مرحبا", "UCS-2", 8),
        ("don’t", "UCS-2", 5),  # a smart quote turns English into UCS-2
        ("a–b", "UCS-2", 3),
        ("ok 😀", "UCS-2", 5),  # outside the BMP: a surrogate pair counts 2
        ("[مرحبا]", "UCS-2", 7),  # in UCS-2 brackets are single units
    ],
)
def test_measure(text, encoding, units):
    cost = measure(text)
    assert (cost.encoding, cost.units) == (encoding, units)


def test_non_gsm7_lists_each_offender_once_in_order():
    assert non_gsm7("don’t – don’t…") == ["’", "–", "…"]
    assert non_gsm7("plain text [ok]") == []


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 459, 3),
        ("a" * 460, 4),
        ("€" * 80, 1),
        ("€" * 81, 2),  # 162 septets
        ("ب" * 70, 1),
        ("ب" * 71, 2),
        ("ب" * 134, 2),
        ("ب" * 135, 3),
        ("ب" * 201, 3),
        ("ب" * 202, 4),
        ("", 0),
    ],
)
def test_sms_parts(text, parts):
    assert sms_parts(text) == parts


def test_escape_pair_is_never_split_across_parts():
    # 152 plain septets then € (2 septets) would straddle the 153 boundary: it moves whole.
    assert sms_parts("a" * 152 + "€" + "a" * 152) == 3


def test_budget_depends_on_encoding():
    budget = Budget(gsm7=160, ucs2=70)
    assert budget.fits("a" * 160)
    assert not budget.fits("a" * 161)
    assert budget.fits("ب" * 70)
    assert budget.fits("a" * 69 + "ب")
    assert not budget.fits("a" * 70 + "ب")  # one Arabic letter makes the whole screen UCS-2


@given(st.text(max_size=600))
def test_parts_are_consistent_with_measure(text):
    cost = measure(text)
    single = 160 if cost.encoding == "GSM-7" else 70
    parts = sms_parts(text)
    assert (parts <= 1) == (cost.units <= single)
    assert parts >= -(-cost.units // (153 if cost.encoding == "GSM-7" else 67))
