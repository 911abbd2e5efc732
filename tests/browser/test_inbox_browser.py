"""The staff inbox in real Chromium: an Arabic caller's text arrives through the real SMS
webhook, an agent reads it right-to-left, watches the parts count while typing the reply,
sends it through the outbox; an English text becomes a callback request."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import CallbackRequest, OutboxMessage
from tests.browserkit import AR_MASKED, ARTIFACTS, EN_MASKED, sign_in
from tests.smskit import Texter
from tests.staffkit import AR_PHONE, EN_PHONE, make_user

pytestmark = pytest.mark.browser
AR_TEXT = "أخذوا جوازي ولا أستطيع الخروج"


def test_an_agent_answers_an_arabic_text_and_makes_a_request_of_an_english_one(
        app, server, page: Page):
    ARTIFACTS.mkdir(exist_ok=True)
    make_user("ana@example.org", name="Ana")
    arabic = Texter(app.test_client(), phone=AR_PHONE)
    arabic.say("مساعدة")  # the caller reads Arabic
    assert arabic.send(AR_TEXT) == 200
    assert Texter(app.test_client(), phone=EN_PHONE).send("Please call me about work") == 200

    sign_in(page, server, "ana@example.org")
    page.get_by_role("link", name="Inbox").click()
    expect(page.get_by_role("heading", name="Text messages")).to_be_visible()
    rows = page.locator("table.inbox tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("main")).not_to_contain_text(AR_PHONE)
    arabic_row = rows.filter(has_text=AR_MASKED)
    expect(arabic_row.locator(".caller-text")).to_have_attribute("lang", "ar")
    page.screenshot(path=str(ARTIFACTS / "inbox.png"), full_page=True)

    arabic_row.get_by_role("link", name=re.compile("Open text")).click()
    expect(page.locator("#caller-text")).to_contain_text(AR_TEXT)
    box = page.get_by_label(re.compile("Reply in Arabic"))
    expect(box).to_have_attribute("dir", "rtl")
    count = page.locator("#reply-count")
    box.fill("سنتصل بك")
    expect(count).to_have_text("8 characters (UCS-2), 1 SMS part of at most 3.")
    box.fill("ب" * 202)
    expect(count).to_contain_text("4 SMS parts")
    expect(count).to_have_class(re.compile("late"))
    box.fill("Hello")
    expect(count).to_have_text("5 characters (GSM-7), 1 SMS part of at most 3.")
    reply = "وصلتنا رسالتك. سنتصل بك اليوم قبل الساعة 3 عصرا."
    box.fill(reply)
    expect(count).to_contain_text("(UCS-2), 1 SMS part")
    page.screenshot(path=str(ARTIFACTS / "inbox-reply.png"), full_page=True)
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("Reply queued")).to_be_visible()
    expect(page.locator("#sent-reply")).to_contain_text(reply)
    db.session.expire_all()
    sent = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "staff_reply")).one()
    assert (sent.recipient, sent.language, sent.body) == (AR_PHONE, "ar", reply)

    page.get_by_role("link", name="← Inbox").click()
    expect(rows).to_have_count(1)  # the answered text left the new list
    rows.first.get_by_role("link", name=re.compile("Open text")).click()
    expect(page.locator("main")).to_contain_text(EN_MASKED)
    page.get_by_role("button", name="Make a callback request").click()
    expect(page.get_by_role("heading", name=re.compile("Request "))).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("Please call me about work")
    db.session.expire_all()
    assert db.session.scalars(select(CallbackRequest.channel)).one() == "sms"
