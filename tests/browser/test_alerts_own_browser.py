"""In real Chromium: a supervisor approves a leader's own message typed in USSD, adding the
English version; and the alert pages in Arabic are right to left, carry no English label
and fit a 375 px phone without sideways scrolling."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Broadcast, OutboxMessage, StaffUser
from hotline.services import broadcasts, leaders
from tests.alertkit import leader, open_menu, pick, quick_pins, say, subscriber
from tests.browserkit import ARTIFACTS, OVERFLOW, sign_in
from tests.conftest import UssdCaller
from tests.staffkit import PASSWORD, make_user

pytestmark = pytest.mark.browser

LEADER = "+249955555555"
ARABIC = "احذروا سماسرة السفر في سوق ليبيا اليوم، لا تعطوهم أوراقكم"
ENGLISH = "Beware of travel brokers at the Libya market today. Keep your papers."


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_pins(monkeypatch)


def own_message(app: Flask, text: str, lang: str = "ar") -> Broadcast:
    """The leader's phone, through the real USSD webhook: their own message to Omdurman."""
    phone = UssdCaller(app.test_client(), phone=LEADER)
    open_menu(phone, lang)
    pick(phone, say(app, lang, "menu.leader"))
    phone.press("4826")
    pick(phone, say(app, lang, "alerts.leader.own"))
    phone.press(text)
    pick(phone, "أم درمان" if lang == "ar" else "Omdurman")
    pick(phone, say(app, lang, "alerts.leader.own_send"))
    assert phone.ended
    db.session.expire_all()
    return db.session.scalars(select(Broadcast).where(Broadcast.leader_id.is_not(None))).one()


def test_a_supervisor_approves_a_leaders_arabic_message_adding_english(
        app: Flask, server: str, page: Page):
    ARTIFACTS.mkdir(exist_ok=True)
    for i in range(3):
        subscriber(f"+24991100000{i}", "KH-OMD", lang="ar" if i else "en")
    leader(LEADER, ["KH-OMD"], pin="4826", name="Amna Leader")
    made = own_message(app, ARABIC)
    assert made.status == "pending"
    make_user("sup@mrrc.example", "supervisor", "Sam Supervisor")
    sign_in(page, server, "sup@mrrc.example")
    page.goto(f"{server}/staff/broadcasts/{made.id}")
    main = page.locator("main")
    expect(main).to_contain_text("Amna Leader")
    expect(main).to_contain_text("community leader, by USSD")
    expect(page.locator("#recipients")).to_have_text("3")
    expect(page.locator("#cost")).to_contain_text("SDG")
    english_readers = page.get_by_role("region", name="English")
    expect(english_readers.locator("p.sms-text")).to_have_attribute("lang", "ar")
    expect(english_readers.locator("p.sms-text")).to_have_attribute("dir", "rtl")
    expect(english_readers).to_contain_text("get the text as it was written")
    page.screenshot(path=str(ARTIFACTS / "alerts-own-approval.png"), full_page=True)
    page.get_by_label(re.compile("^English version")).fill(ENGLISH)
    page.get_by_role("button", name="Approve and send").click()
    expect(page.locator(".flash")).to_contain_text("Approved")
    expect(english_readers.locator("p.sms-text")).to_contain_text(ENGLISH)
    expect(english_readers.locator("p.sms-text")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Approve and send")).to_have_count(0)
    db.session.expire_all()
    done = db.session.get(Broadcast, made.id)
    assert done.status in ("queued", "sending") and json.loads(done.texts) == \
        {"ar": ARABIC, "en": ENGLISH}
    told = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "alert_decision")).one()
    assert told.recipient == LEADER and told.language == "ar"
    page.wait_for_load_state("networkidle")


def test_the_alert_pages_in_arabic_are_right_to_left_and_fit_a_phone(
        app: Flask, server: str, browser: Browser, problems: list[str]):
    ARTIFACTS.mkdir(exist_ok=True)
    admin = make_user("amal@mrrc.example", "admin", "آمال")
    db.session.get(StaffUser, admin.id).ui_language = "ar"
    db.session.commit()
    sami = make_user("sami@mrrc.example", "supervisor", "سامي")
    for i in range(4):
        subscriber(f"+24991100000{i}", "KH-OMD", lang="ar" if i else "en")
    subscriber("+249911000009", "KH-OMD", opted_out_at=db.func.now())
    chosen = leader(LEADER, ["KH-OMD", "SD-GD"], pin="4826", name="آمنة")
    staff_text = broadcasts.create_free_text(sami.id, {"en": "Clinic open.",
                                                       "ar": "العيادة مفتوحة اليوم."},
                                             ["KH-OMD"], "services", True, key="k-ar-walk")
    broadcasts.approve(staff_text.id, admin.id)
    broadcasts.fan_out(staff_text.id)
    own = own_message(app, ARABIC)
    leaders.check_pin(LEADER, "0000", "walk:1")  # one wrong PIN: still active
    db.session.commit()

    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="en-GB")
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{server}/staff/login")
    page.get_by_label("Email").fill("amal@mrrc.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expected = {
        "/staff/broadcasts": ("تنبيهات المجتمع", "في الانتظار: 4", "ألغى الاشتراك"),
        f"/staff/broadcasts/{staff_text.id}": ("ما سيقرؤه الناس", "أخبار خدمات المركز"),
        f"/staff/broadcasts/{own.id}": ("وافق وأرسل", "قائد مجتمعي", "آمنة"),
        "/staff/broadcasts/new": ("اكتب تنبيها", "النص باللغة العربية"),
        "/staff/leaders": ("القادة المجتمعيون", "سجّل قائدا", "آمنة"),
        f"/staff/leaders/{chosen.id}": ("امسح الرقم السري وافتح القفل", "نشط"),
    }
    allowed = ("Clinic open.", "MRRC never asks for money.", "English", "USSD", "SMS",
               "SDG", "MRRC")
    for path, words in expected.items():
        page.goto(f"{server}{path}")
        expect(page.locator("html")).to_have_attribute("lang", "ar")
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        text = page.locator("body").inner_text()
        for word in words:
            assert word in text, (path, word)
        for token in allowed:
            text = text.replace(token, " ")
        left = re.findall(r"[A-Za-z]{2,}", re.sub(r"\S+@\S+", " ", text))
        assert left == [], (path, left)
        fit = page.evaluate(OVERFLOW)
        assert fit["page"] <= fit["width"] and fit["wide"] == [], (path, fit)
        # right to left: the page's heading starts at the right edge
        box = page.locator("main h1").bounding_box()
        assert box is not None and box["x"] + box["width"] > fit["width"] - 40, (path, box)
        name = path.strip("/").replace("/", "-")
        page.screenshot(path=str(ARTIFACTS / f"ar-375-{name}.png"), full_page=True)
    page.wait_for_load_state("networkidle")
    context.close()
