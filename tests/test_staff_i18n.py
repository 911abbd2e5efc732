"""The dashboard in Arabic and English: the catalog is complete and compiled, the staff
member's choice (else the browser's) picks the language, Arabic pages are right-to-left,
and no page or CSV shows a stored code instead of its label."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from hotline import alerttexts
from hotline.extensions import db
from hotline.services import broadcasts, callback_policy, leaders
from hotline.staff import labels, users
from tests.alertkit import quick_pins, subscriber
from tests.staffkit import AR_PHONE, Staff, make_request, make_user, quick_hashing, text_of

STAFF = Path(__file__).resolve().parents[1] / "hotline" / "staff"
CATALOG = STAFF / "translations" / "ar" / "LC_MESSAGES"
# The keywords marking texts besides pybabel's defaults (_ and gettext): labels are lazy.
EXTRACT_KEYWORDS = ("-k", "_l")


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)
    quick_pins(monkeypatch)


def flat(value: str | list | tuple) -> str | tuple:
    return value if isinstance(value, str) else tuple(value)


def visible_text(html: str) -> str:
    """What a reader sees: no tags, attributes, scripts or the hidden CSRF fields."""
    body = html.split("<body", 1)[1].split(">", 1)[1]
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


def test_pybabel_extract_with_the_projects_config_finds_no_text_without_arabic(tmp_path):
    """The command translators run (``hotline/staff/i18n.py``), not a copy of its settings:
    a new ``_()`` anywhere in the staff code or templates without an Arabic translation,
    or one left fuzzy, fails here."""
    pybabel = Path(sys.executable).with_name("pybabel")
    pot = tmp_path / "messages.pot"
    subprocess.run([str(pybabel), "-q", "extract", "-F", str(STAFF / "babel.cfg"),
                    *EXTRACT_KEYWORDS, "-o", str(pot), str(STAFF)],
                   check=True, timeout=120, cwd=STAFF.parents[1])
    with pot.open("rb") as pot_file, (CATALOG / "messages.po").open("rb") as po_file:
        template, po = read_po(pot_file), read_po(po_file)
    found = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    assert len(found) > 400  # the extraction really ran over code and templates
    done = {m.id if isinstance(m.id, str) else m.id[0] for m in po
            if m.id and m.string and (m.string if isinstance(m.string, str) else all(m.string))
            and not m.fuzzy}
    missing = sorted(found - done)
    assert missing == [], f"{len(missing)} texts without Arabic, e.g. {missing[:8]}"
    assert not po.fuzzy, "the catalogue's header is marked fuzzy: pybabel compile skips it"


@pytest.mark.parametrize("table,codes", [
    (labels.BROADCAST, (*broadcasts.OPEN, *broadcasts.CLOSED)),
    (labels.SUPPRESSION, (*broadcasts.SUPPRESSED, "other")), (labels.TOPIC, alerttexts.TOPICS),
    (labels.AUDIT, ("leader_register", "leader_update", "leader_enable", "leader_disable",
                    "leader_reset_pin", "leader_pin_locked", "broadcast_confirm",
                    "broadcast_draft", "broadcast_translate", "broadcast_approve",
                    "broadcast_reject", "broadcast_pause", "broadcast_resume",
                    "broadcast_cancel")),
])
def test_every_alert_code_has_a_label(table, codes):
    assert set(codes) <= set(table)


def test_every_refusal_of_the_alert_services_has_its_label():
    """Each ``code`` the leader and broadcast services raise is in labels.ALERT_ERROR."""
    services = STAFF.parent / "services"
    raised = set()
    for name in ("leaders.py", "broadcasts.py"):
        source = (services / name).read_text()
        raised |= set(re.findall(r'Error\((?:f?"[^"]*"\s*)+,\s*"([a-z_]+)"', source))
    assert len(raised) >= 15 and raised <= set(labels.ALERT_ERROR), raised - set(labels.ALERT_ERROR)


def latin_words(text: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """Words in Latin letters left in a page's visible text, apart from names, references,
    masked numbers, e-mail addresses and the acronyms staff use as they are."""
    for token in allowed:
        text = text.replace(token, " ")
    text = re.sub(r"\S+@\S+", " ", text)
    return [w for w in re.findall(r"[A-Za-z]{2,}", text)
            if w not in {"USSD", "SMS", "MRRC", "SDG", "AVRR", "CSV"}]


def test_the_alert_pages_in_arabic_show_no_english_label_and_no_code(app):
    make_user("amal@example.org", role="admin", name="آمال")
    make_user("sami@example.org", role="supervisor", name="سامي")
    amal = Staff(app, "amal@example.org")
    amal.post("/staff/language", {"language": "ar"})
    for i in range(3):
        subscriber(f"+24991100000{i}", "KH-OMD", lang="ar" if i else "en")
    subscriber("+249911000009", "KH-OMD", opted_out_at=db.func.now())
    leader = leaders.register("آمنة", "0955555555", ["KH-OMD", "SD-GD"], 2,
                              users.find("amal@example.org").id)
    sami = users.find("sami@example.org")
    staff_text = broadcasts.create_free_text(sami.id, {"en": "Clinic open.",
                                                       "ar": "العيادة مفتوحة."},
                                             ["KH-OMD"], "services", True, key="k-ar-page")
    broadcasts.approve(staff_text.id, users.find("amal@example.org").id)
    broadcasts.fan_out(staff_text.id)
    own = broadcasts.create_own_from_leader("+249955555555", "احذروا سماسرة السفر",
                                            "KH-OMD", key="ussd:x:send")
    db.session.commit()
    assert own.broadcast is not None
    pages = ["/staff/broadcasts", f"/staff/broadcasts/{staff_text.id}",
             f"/staff/broadcasts/{own.broadcast.id}", "/staff/broadcasts/new",
             "/staff/leaders", f"/staff/leaders/{leader.id}"]
    for path in pages:
        html = amal.html(path)
        assert '<html lang="ar" dir="rtl">' in html, path
        text = visible_text(html)
        # the staff text's English version is content; "English" is the language switch,
        # written in its own language
        left = latin_words(text, ("Clinic open.", "MRRC never asks for money.",
                                  labels.UI_LANGUAGE["en"]))
        assert left == [], (path, left)
        for code in ("pending", "queued", "opted_out", "KH-OMD", "safety", "services",
                     "broadcast_", "leader_"):
            assert code not in text, (path, code)
    listing = visible_text(amal.html("/staff/broadcasts"))
    assert "في الانتظار: 3" in listing and "ألغى الاشتراك" in listing \
        and "أم درمان" in listing and "قيد الإرسال" in listing
    approval = visible_text(amal.html(f"/staff/broadcasts/{own.broadcast.id}"))
    assert "آمنة" in approval and "قائد مجتمعي" in approval and "وافق وأرسل" in approval
    assert "يصل إلى هؤلاء القراء النص كما كُتب" in approval
    audit = visible_text(amal.html("/staff/audit"))  # its dates too, not "29 Nov"
    assert "سجّل قائدا مجتمعيا" in audit and not re.search(r"\b(Nov|Dec|Jan)\b", audit)
    assert f"القائد رقم {leader.id}" in audit and "leader:" not in audit  # no stored target
    refused = amal.post("/staff/leaders", {"name": "x", "phone": "1", "areas": ["KH-OMD"],
                                           "limit": "2"}, page="/staff/leaders")
    assert refused.status_code == 400 and "الاسم: من 2 إلى 120 حرفا" in text_of(refused)


def test_sign_in_account_and_staff_pages_in_arabic_show_no_english_label(app, client):
    login = client.get("/staff/login", headers={"Accept-Language": "ar"})
    text = visible_text(text_of(login))
    assert "سجّل الدخول" in text and "كلمة المرور" in text
    assert latin_words(text, (labels.UI_LANGUAGE["en"],)) == []
    make_user("amal@example.org", role="admin", name="آمال")
    make_user("omar@example.org", role="agent", name="عمر")
    amal = Staff(app, "amal@example.org")
    amal.post("/staff/language", {"language": "ar"})
    omar_id = users.find("omar@example.org").id
    for path in ("/staff/account", "/staff/users", f"/staff/users/{omar_id}"):
        html = amal.html(path)
        assert '<html lang="ar" dir="rtl">' in html, path
        left = latin_words(visible_text(html), (labels.UI_LANGUAGE["en"],))
        assert left == [], (path, left)
    # a refusal of the account services reads in Arabic too, with its number
    short = amal.post("/staff/account", {"current": "x", "new": "short", "repeat": "short"},
                      page="/staff/account")
    assert short.status_code == 400 and "كلمة المرور الحالية خاطئة" in text_of(short)
    taken = amal.post("/staff/users", {"email": "omar@example.org", "role": "agent"},
                      page="/staff/users")
    assert taken.status_code == 400 and "لدى omar@example.org حساب من قبل" in text_of(taken)


@pytest.mark.parametrize(("path", "said"), [
    ("/staff/outbox?status=nope", "اختر إحدى الحالات المعروضة"),
    ("/staff/outbox?before=x", "يجب أن تكون علامة الصفحة رقم رسالة"),
    ("/staff/audit?since=yesterday", "من: تاريخ بصيغة 2026-11-29"),
    ("/staff/audit?page=0", "يجب أن يكون رقم الصفحة عددا صحيحا"),
])
def test_a_crafted_filter_is_refused_in_arabic(app, path, said):
    make_user("amal@example.org", role="admin", name="آمال")
    amal = Staff(app, "amal@example.org")
    amal.post("/staff/language", {"language": "ar"})
    response = amal.get(path)
    text = visible_text(text_of(response))
    assert response.status_code == 400 and said in text
    assert latin_words(text, (labels.UI_LANGUAGE["en"],)) == [], latin_words(text)
