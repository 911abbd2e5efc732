"""The dashboard in Arabic and English: the catalog is complete and compiled, the staff
member's choice (else the browser's) picks the language, Arabic pages are right-to-left,
and no page or CSV shows a stored code instead of its label."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from hotline.services import callback_policy
from hotline.staff import labels
from tests.staffkit import AR_PHONE, Staff, make_request, make_user, quick_hashing, text_of

STAFF = Path(__file__).resolve().parents[1] / "hotline" / "staff"
CATALOG = STAFF / "translations" / "ar" / "LC_MESSAGES"


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


def flat(value: str | list | tuple) -> str | tuple:
    return value if isinstance(value, str) else tuple(value)


def visible_text(html: str) -> str:
    """What a reader sees: no tags, attributes, scripts or the hidden CSRF fields."""
    body = html.split("<body", 1)[1]
    body = re.sub(r"<script.*?</script>", " ", body, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def test_every_marked_text_has_its_arabic_and_the_compiled_catalog_matches():
    with (CATALOG / "messages.po").open("rb") as po_file, \
            (CATALOG / "messages.mo").open("rb") as mo_file:
        po, mo = read_po(po_file), read_mo(mo_file)
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    found = {msgid if isinstance(msgid, str) else msgid[0]
             for _file, _line, msgid, _comments, _context in extract_from_dir(
                 str(STAFF), method_map, keywords={"_": None, "_l": None, "gettext": None,
                                                   "ngettext": (1, 2)})}
    translated = {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in po if m.id}
    missing = sorted(t for t in found if not translated.get(t))
    assert missing == [], f"no Arabic for {missing[:10]} (see hotline/staff/i18n.py)"
    def pairs(catalog) -> dict:
        return {flat(m.id): flat(m.string) for m in catalog if m.id}

    assert pairs(mo) == pairs(po), \
        "messages.mo is stale: run pybabel compile -d hotline/staff/translations"


@pytest.mark.parametrize("table,codes", [
    (labels.REASON, callback_policy.REASONS), (labels.CHANNEL, callback_policy.CHANNELS),
    (labels.STATUS, callback_policy.STATUSES), (labels.RESULT, callback_policy.ATTEMPT_RESULTS),
    (labels.OUTCOME, (*callback_policy.OUTCOMES, "unreachable")),
    (labels.REFERRAL, callback_policy.REFERRALS), (labels.SAFE, callback_policy.SAFE_TO_CALL),
])
def test_every_stored_code_has_a_label(table, codes):
    assert set(codes) <= set(table)


def test_a_staff_member_chooses_arabic_and_the_pages_turn_right_to_left(app):
    make_user("amal@example.org", name="Amal")
    amal = Staff(app, "amal@example.org")
    request_id = make_request(AR_PHONE, "danger", "ar")
    english = amal.html("/staff/")
    assert '<html lang="en" dir="ltr">' in english and "Callback queue" in english
    response = amal.post("/staff/language", {"language": "ar", "next": "/staff/?status=open"})
    assert response.status_code == 303 and response.location == "/staff/?status=open"
    page = amal.html("/staff/")
    assert '<html lang="ar" dir="rtl">' in page and "قائمة طلبات الاتصال" in page
    assert "خطر أو استغلال" in page and "Danger" not in page
    text = visible_text(page)
    for code in ("danger", "ussd", "open", "callable", "None"):
        assert not re.search(rf"\b{code}\b", text), code
    detail = visible_text(amal.html(f"/staff/requests/{request_id}"))
    assert "وصل الطلب" in detail and "Request received" not in detail
    assert not re.search(r"\b(ussd|danger|created)\b", detail)
    # back to the browser's choice: an Arabic browser still gets Arabic, an English one not
    amal.post("/staff/language", {"language": "browser"})
    assert 'lang="ar"' in text_of(amal.get("/staff/", headers={"Accept-Language": "ar-SD,ar"}))
    assert 'lang="en"' in text_of(amal.get("/staff/", headers={"Accept-Language": "en-GB"}))


@pytest.mark.parametrize("value", ["fr", "", "<script>", "ar" * 50])
def test_an_unknown_language_is_a_400_and_changes_nothing(app, value):
    make_user("amal@example.org")
    amal = Staff(app, "amal@example.org")
    assert amal.post("/staff/language", {"language": value}).status_code == 400
    assert 'lang="en"' in amal.html("/staff/")


def test_the_language_switch_never_sends_anyone_elsewhere(app):
    make_user("amal@example.org")
    amal = Staff(app, "amal@example.org")
    response = amal.post("/staff/language", {"language": "ar", "next": "https://evil.example/"})
    assert response.status_code == 303 and response.location == "/staff/"


def test_the_csv_is_in_the_supervisors_language_with_labels(app):
    make_user("sue@example.org", role="supervisor")
    sue = Staff(app, "sue@example.org")
    make_request(AR_PHONE, "danger", "ar")
    sue.post("/staff/language", {"language": "ar"})
    response = sue.post("/staff/export", {"status": "all"}, page="/staff/stats")
    rows = list(csv.reader(io.StringIO(text_of(response)[1:])))
    assert rows[0][:3] == ["الرقم المرجعي", "وصل في", "القناة"]
    assert "خطر أو استغلال" in rows[1] and "danger" not in rows[1] and "عاجل" in rows[1]
