"""SMS keywords in both languages, read from content, matched after normalisation."""

from __future__ import annotations

import pytest

from hotline.app import silent_exit_words
from hotline.config import load_settings
from hotline.content import Catalog
from hotline.keywords import Command, Keywords
from hotline.normalize import words


@pytest.fixture(scope="module")
def keywords(specs) -> Keywords:
    checked, _ = specs
    return Keywords(checked.catalog, silent_exit_words(load_settings()))


@pytest.mark.parametrize(("text", "name", "lang"), [
    ("HELP", "help", "en"), ("help", "help", "en"), (" Help! ", "help", "en"),
    ("مساعدة", "help", "ar"), ("مساعده", "help", "ar"), ("«مُساعَدة»", "help", "ar"),
    ("مســاعدة", "help", "ar"),  # tatweel
    ("INFO", "info", "en"), ("info.", "info", "en"), ("معلومات", "info", "ar"),
    ("معلومات؟", "info", "ar"),
    ("CALL", "call", "en"), ("call me", "call", "en"), ("اتصل", "call", "ar"),
    ("اتصلوا بي", "call", "ar"),
    ("STOP", "stop", "en"), ("Unsubscribe", "stop", "en"), ("opt-out", "stop", "en"),
    ("غ", "stop", "ar"), ("الغاء", "stop", "ar"), ("إلغاء", "stop", "ar"),
    ("ألغاء", "stop", "ar"), ("إيقاف", "stop", "ar"), ("أوقف", "stop", "ar"),
    ("إلغاء الاشتراك", "stop", "ar"), ("لا ترسل!", "stop", "ar"),
    ("\u200fغ\u200e", "stop", "ar"),  # direction marks a phone adds
    ("START", "start", "en"), ("ابدأ", "start", "ar"),
])
def test_keywords_in_both_languages(keywords, text, name, lang):
    assert keywords.match(text) == Command(name, lang)


@pytest.mark.parametrize(("text", "topic"), [
    ("1", "awareness.smugglers"), ("٣", "awareness.sea"), ("۳", "awareness.sea"),
    (" 9. ", "awareness.rights"), ("٠٩", "awareness.rights"), ("(2)", "awareness.desert"),
])
def test_topic_numbers_in_any_digits(keywords, text, topic):
    assert keywords.match(text) == Command("topic", topic=topic)


@pytest.mark.parametrize("text", [
    "0", "10", "99999", "HELPمساعدة", "ST0P", "stop 1", "STOP ٣", "help me please",
    "", "   ", "!!!", "call٣", "معلوماتINFO", "1 2", "1٢3",
])
def test_mixed_scripts_and_digits_are_not_keywords(keywords, text):
    assert keywords.match(text) is None


def test_silent_exit_words_come_from_settings_not_content(keywords, specs):
    checked, _ = specs
    assert keywords.match("exit") == Command("exit")
    assert keywords.match("خروج") == Command("exit")
    assert Keywords(checked.catalog, ["Goodbye"]).match("goodbye!") == Command("exit")
    assert Keywords(checked.catalog, []).match("exit") is None
    texts = " ".join(t for lang in checked.catalog.languages
                     for t in checked.catalog.texts[lang].values())
    assert "EXIT" not in texts and "خروج" not in texts  # never advertised in a text


def test_info_lists_every_topic_by_number_in_each_language(keywords):
    en, ar = keywords.info("en"), keywords.info("ar")
    assert en.splitlines()[1:] == [f"{i} {name}" for i, name in enumerate(
        ["Travel offers", "Desert travel", "Sea travel", "Money demands", "Safe work",
         "Visas and papers", "Legal ways to travel", "Before you travel", "Your rights"], 1)]
    assert ar.splitlines()[3] == "3 السفر عبر البحر"
    assert len(keywords.topics) == 9


def test_clashing_words_and_missing_topic_names_are_problems():
    catalog = Catalog({"en": {"smskeywords.help": "HELP, STOP", "smskeywords.stop": "STOP",
                              "smskeywords.info": "INFO, 7",
                              "sms.awareness.sea": "Sea tip", "smsreply.info_title": "Send:",
                              "smsreply.unknown": "What?"}})
    problems = Keywords(catalog, ["help"]).problems({})
    assert any("'stop' already means help" in p for p in problems)
    assert any("'7' is a number" in p for p in problems)
    assert any("'help' already means help" in p or "already means" in p for p in problems)
    assert any("smsreply.topic.sea" in p for p in problems)


def test_an_info_reply_over_three_parts_is_a_problem():
    topics = {f"sms.awareness.t{i}": "tip" for i in range(40)}
    names = {f"smsreply.topic.t{i}": "A rather long topic name" for i in range(40)}
    catalog = Catalog({"en": {**topics, **names, "smsreply.info_title": "Send a number:",
                              "smsreply.unknown": "What?"}})
    problems = Keywords(catalog).problems({})
    assert any("INFO (en): SMS of" in p for p in problems)


def test_words_strips_punctuation_and_folds_letter_variants():
    assert words("  «إلـغـاءُ»!! ") == "الغاء"
    assert words("Ta marbuta: مساعدة") == "ta marbuta مساعده"
    assert words("ی ک") == "ي ك"  # Persian yeh and kaf
