"""``hotline check`` rules for how numbers and names show on a basic phone.

A spaced "+249 91 234 5678" inside Arabic text shows its digit groups in
reverse order; "MRRC" inside Arabic text means nothing and splits the line.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from hotline.cli import cli
from hotline.content import Catalog
from hotline.flows.textrules import problems

ROOT = Path(__file__).resolve().parents[1]
CATALOG = Catalog({
    "en": {"s.phone": "Call {centre_hotline}. Police: {police_number}.",
           "s.name": "We are the {centre_name}."},
    "ar": {"s.phone": "اتصل {centre_hotline}، الشرطة {police_number}",
           "s.name": "نحن {centre_name}"},
})
GOOD = {"centre_hotline": "0912345678", "police_number": "999", "ambulance_number": "",
        "centre_hours": "8:00-15:00",
        "centre_name": {"en": "Migrant Resource and Response Centre (MRRC)",
                        "ar": "مركز الموارد والاستجابة للمهاجرين"}}


def test_national_numbers_short_codes_and_names_per_language_pass():
    assert problems(CATALOG, GOOD) == []


@pytest.mark.parametrize("number", ["+249 91 234 5678", "+249912345678", "091 234 5678",
                                    "0912-345-678", "249912345678", "12"])
def test_a_number_with_spaces_plus_or_country_code_is_refused(number):
    found = problems(CATALOG, {**GOOD, "centre_hotline": number})
    assert len(found) == 1 and found[0].startswith("config/defaults.toml [centre]: "
                                                   "centre_hotline")
    assert "national format" in found[0]


def test_an_empty_number_is_refused_only_when_a_text_shows_it():
    assert problems(CATALOG, {**GOOD, "ambulance_number": ""}) == []
    found = problems(CATALOG, {**GOOD, "police_number": ""})
    assert found == ["config/defaults.toml [centre]: police_number is empty but texts show it"]


def test_words_need_one_value_per_language_and_numbers_one_for_all():
    found = problems(CATALOG, {**GOOD, "centre_name": "MRRC Khartoum"})
    assert any("centre_name = 'MRRC Khartoum' has words" in p for p in found)
    found = problems(CATALOG, {**GOOD, "centre_name": {"en": "MRRC"}})
    assert "config/defaults.toml [centre]: centre_name: no value for language 'ar'" in found
    found = problems(CATALOG, {**GOOD, "police_number": {"en": "999", "ar": "999"}})
    assert any("police_number: a phone number is one value for every language" in p
               for p in found)


def test_a_latin_acronym_in_arabic_is_refused_and_fine_in_english():
    value = {"en": "MRRC", "ar": "مركز MRRC للمهاجرين"}
    found = problems(CATALOG, {**GOOD, "centre_name": value})
    assert found == ["content/ar: s.name: Latin acronym MRRC in right-to-left text: write the "
                     "name in the language itself"]
    written = Catalog({"en": {"k": "Ask UNHCR."}, "ar": {"k": "اسأل UNHCR أو IOM."}})
    assert problems(written, {}) == ["content/ar: k: Latin acronym UNHCR, IOM in right-to-left "
                                     "text: write the name in the language itself"]
    words = Catalog({"en": {"k": "A."}, "ar": {"k": "اكتب Ok أو 8:00 أو SMS."}})
    assert [p for p in problems(words, {}) if "Ok" in p] == []  # only runs of capitals


def test_a_number_written_into_a_text_with_spaces_is_refused():
    written = Catalog({"en": {"k": "Call +249 91 234 5678."}, "ar": {"k": "اتصل 091 234 5678"}})
    found = problems(written, {})
    assert len(found) == 2 and all("number with a space or +" in p for p in found)
    assert problems(Catalog({"en": {"k": "Within 3 days, 8-12."}, "ar": {"k": "3 أيام"}}),
                    {}) == []


@pytest.fixture()
def workcopy(tmp_path: Path) -> Path:
    for name in ("flows", "content"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


def check(root: Path):
    return CliRunner().invoke(cli, ["check", "--root", str(root)], catch_exceptions=False)


def test_hotline_check_refuses_a_spaced_number_in_a_text(workcopy: Path):
    ar = workcopy / "content" / "ar" / "services.yaml"
    ar.write_text(ar.read_text().replace("{centre_hotline}، الأحد-الخميس {centre_hours}",
                                         "+249 91 234 5678 {centre_hotline} {centre_hours}"))
    result = check(workcopy)
    assert result.exit_code == 1
    assert "content/ar/services.yaml: services.centre.phone: number with a space or + " \
           "('+2')" in result.output


def test_hotline_check_refuses_a_latin_acronym_in_arabic(workcopy: Path):
    ar = workcopy / "content" / "ar" / "awareness.yaml"
    ar.write_text(ar.read_text().replace("يقدم المركز مجانا", "يقدم MRRC مجانا"))
    result = check(workcopy)
    assert result.exit_code == 1
    assert "content/ar/awareness.yaml: awareness.rights.p3: Latin acronym MRRC in " \
           "right-to-left text" in result.output


def test_a_full_stop_right_after_a_number_in_arabic_is_refused():
    """«نتصل قبل 15:00.» and «اتصل 0912345678.»: the stop sticks to the number's other side
    on a phone that lays the line out left to right; English may end on a number."""
    written = Catalog({"en": {"k": "Call {centre_hotline}. Before 15:00."},
                       "ar": {"k": "اتصل {centre_hotline}. نتصل قبل 15:00."}})
    found = problems(written, GOOD)
    assert found == ["content/ar: k: full stop right after a number in right-to-left text: "
                     "end the line there or go on without it"]
    later = Catalog({"en": {"k": "Before {until}."},
                     "ar": {"k": "رقم طلبك {ref}. نتصل قبل {until}."}})
    assert len(problems(later, GOOD)) == 1  # filled at run time: still a number
    fine = Catalog({"en": {"k": "A."}, "ar": {"k": "خلال 3 أيام.\nقبل 15:00\nنحن {centre_name}."}})
    assert problems(fine, GOOD) == []


def test_the_messages_a_content_writer_reads_in_full():
    """Each rule's whole message: it says what to write instead."""
    found = problems(CATALOG, {**GOOD, "centre_hotline": "+249912345678"})
    assert found == ["config/defaults.toml [centre]: centre_hotline = '+249912345678': write "
                     "phone numbers in national format, digits only (0912345678 or a short code "
                     "such as 999), no spaces, no +249"]
    found = problems(CATALOG, {**GOOD, "centre_name": "MRRC Khartoum"})
    assert found[0] == ("config/defaults.toml [centre]: centre_name = 'MRRC Khartoum' has words: "
                        "give one value per language, e.g. {en = \"...\", ar = \"...\"}")
    written = Catalog({"en": {"k": "Call 091 234 5678."}, "ar": {"k": "اتصل"}})
    assert problems(written, {}) == ["content/en: k: number with a space or + ('1 2'): its "
                                     "digit groups show reversed in right-to-left text"]
