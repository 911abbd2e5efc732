"""The dashboard in real Chromium: sign in, filter, claim, reveal, log a no-answer and
resolve, for one English and one Arabic caller who asked through the real USSD webhook;
then the "try the service" phone. Screenshots go to tests/artifacts/.

The app runs in a background thread on a free port against the test PostgreSQL and
Redis; Chromium is the Debian package at /usr/bin/chromium (``.ci/run`` installs it).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import AuditLog, CallbackRequest
from tests.browserkit import AR_MASKED, ARTIFACTS, EN_MASKED, ask_for_a_call, sign_in
from tests.staffkit import AR_PHONE, EN_PHONE, make_user

pytestmark = pytest.mark.browser

def work_the_request(page: Page, lang: str, reason: str, ref: str, phone: str,
                     masked: str) -> None:
    rows = page.locator("table.queue tbody tr")
    page.get_by_label("Language").select_option(lang)
    page.get_by_label("Reason").select_option(reason)
    page.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(masked)
    expect(rows.first).not_to_contain_text(phone)

    page.get_by_role("button", name=f"Claim request {ref}").click()
    expect(page.get_by_role("heading", name=re.compile(f"Request {ref}"))).to_be_visible()
    expect(page.get_by_text("You hold this request until")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(phone)

    page.get_by_role("button", name="Reveal number").click()
    expect(page.locator("#revealed-phone")).to_have_text(phone)
    expect(page.locator("#revealed-phone")).to_have_attribute("href", f"tel:{phone}")
    page.screenshot(path=str(ARTIFACTS / f"request-{lang}-claimed.png"), full_page=True)

    page.get_by_label("No answer").check()
    page.locator("#call-note").fill("<script>alert('x')</script> no answer, try later")
    page.get_by_role("button", name="Save the call").click()
    expect(page.get_by_text("No answer logged. Next attempt from")).to_be_visible()
    expect(page.get_by_text("Nobody holds this request")).to_be_visible()
    expect(page.locator("#revealed-phone")).to_have_count(0)
    expect(page.locator(".timeline .note").first).to_have_text(
        "<script>alert('x')</script> no answer, try later")

    page.get_by_role("button", name="Claim", exact=True).click()
    page.get_by_label("Reached", exact=True).check()
    page.get_by_label("Outcome").select_option("referred")
    page.get_by_label("Referral").select_option("protection")
    page.locator("#call-note").fill("أحيل إلى الحماية" if lang == "ar" else "Referred")
    page.get_by_role("button", name="Save the call").click()
    expect(page.get_by_text(f"Request {ref} closed.")).to_be_visible()
    expect(page.locator(f'tr[data-ref="{ref}"]')).to_have_count(0)


def test_an_agent_works_an_english_and_an_arabic_request(app, server, page):
    make_user("ana@example.org", name="Ana Agent")
    en_ref = ask_for_a_call(app, EN_PHONE, "2", "2", "2")  # English, medical, no SMS
    ar_ref = ask_for_a_call(app, AR_PHONE, "1", "1", "1")  # Arabic, danger, SMS allowed
    ARTIFACTS.mkdir(exist_ok=True)

    sign_in(page, server, "ana@example.org")
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(ar_ref)  # danger is urgent: first
    expect(rows.first).to_contain_text("Urgent")
    expect(page.locator("table.queue")).not_to_contain_text("+249912345678")

    later = ask_for_a_call(app, "+249955555555", "2", "5", "2")  # while the page is open
    expect(rows).to_have_count(3, timeout=10_000)  # the queue refreshed itself
    expect(page.locator(f'tr[data-ref="{later}"]')).to_contain_text("+249 95* *** *55")
    page.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)

    work_the_request(page, "en", "medical", en_ref, EN_PHONE, EN_MASKED)

    page.get_by_label("Language").select_option("ar")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_role("link", name=ar_ref).click()
    sms = page.locator(".caller-text")
    expect(sms).to_have_attribute("lang", "ar")
    assert sms.evaluate("e => getComputedStyle(e).direction") == "rtl"
    page.screenshot(path=str(ARTIFACTS / "request-ar.png"), full_page=True)
    page.get_by_role("link", name="← Queue").click()
    work_the_request(page, "ar", "danger", ar_ref, AR_PHONE, AR_MASKED)

    page.get_by_label("Status").select_option("resolved")
    page.get_by_label("Language").select_option("")
    page.get_by_label("Reason").select_option("")
    page.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(2)
    page.screenshot(path=str(ARTIFACTS / "queue-resolved.png"), full_page=True)

    reveals = db.session.scalars(select(AuditLog).where(AuditLog.action == "reveal_phone")).all()
    assert len(reveals) == 2
    statuses = dict(db.session.execute(select(CallbackRequest.ref, CallbackRequest.status)).all())
    assert statuses[en_ref] == statuses[ar_ref] == "resolved" and statuses[later] == "open"


def test_an_agent_cannot_open_supervisor_pages(app, server, page, problems):
    make_user("ana@example.org")
    sign_in(page, server, "ana@example.org")
    expect(page.get_by_role("link", name="Statistics")).to_have_count(0)
    response = page.goto(f"{server}/staff/stats")
    assert response is not None and response.status == 403
    expect(page.get_by_text("Your role does not allow")).to_be_visible()
    assert problems == ["Failed to load resource: the server responded with a status of "
                        "403 (FORBIDDEN)"]
    problems.clear()


def test_try_the_service_in_both_languages(app, server, page):
    make_user("writer@example.org")
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, server, "writer@example.org")
    page.get_by_role("link", name="Try the service").click()
    expect(page.get_by_text("Preview", exact=True)).to_be_visible()
    screen = page.locator("#screen")

    page.get_by_label("A returning caller who reads English").check()
    page.get_by_role("button", name="Dial").click()
    expect(screen).to_contain_text("Request a call")
    expect(page.locator("#m-encoding")).to_have_text("GSM-7")
    expect(page.locator("#m-units")).to_have_text(re.compile(r"^\d+ / 160$"))
    assert screen.evaluate("e => getComputedStyle(e).direction") == "ltr"

    page.get_by_label("A returning caller who reads Arabic").check()
    page.get_by_role("button", name="Dial").click()
    expect(screen).to_contain_text("اتصلوا بي")
    expect(screen).to_have_attribute("dir", "rtl")
    expect(page.locator("#m-encoding")).to_have_text("UCS-2")
    expect(page.locator("#m-units")).to_have_text(re.compile(r"^\d+ / 70$"))
    assert screen.evaluate("e => getComputedStyle(e).direction") == "rtl"
    page.locator(".key[data-key='2']").click()
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#m-node")).to_have_text(re.compile("services"))
    page.screenshot(path=str(ARTIFACTS / "simulator.png"), full_page=True)

    assert db.session.scalar(select(CallbackRequest.id)) is None


def test_a_supervisor_reads_the_numbers_and_downloads_the_csv(app, server, page, tmp_path):
    make_user("sue@example.org", role="supervisor", name="Sue")
    ask_for_a_call(app, EN_PHONE, "2", "2", "2")
    ask_for_a_call(app, AR_PHONE, "1", "1", "1")
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, server, "sue@example.org")
    page.get_by_role("link", name="Statistics").click()
    expect(page.get_by_role("heading", name="Statistics")).to_be_visible()
    by_language = page.locator("table", has=page.get_by_text("Open by language"))
    expect(by_language).to_contain_text("Arabic")
    expect(by_language).to_contain_text("English")
    page.screenshot(path=str(ARTIFACTS / "stats.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    text = saved.read_text(encoding="utf-8-sig")
    assert text.startswith("Reference,Received") and len(text.splitlines()) == 3
    assert EN_PHONE not in text and AR_PHONE not in text and "'+249 12* *** *89" in text


def test_an_admin_adds_a_colleague_who_then_signs_in(app, server, page, browser):
    make_user("root@example.org", role="admin", name="Root")
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, server, "root@example.org")
    page.get_by_role("link", name="Staff", exact=True).click()
    page.get_by_label("Email").fill("nour@example.org")
    page.get_by_label("Name").fill("نور")
    page.get_by_label("Role").select_option("supervisor")
    page.get_by_role("button", name="Create account").click()
    password = page.locator("#new-password").inner_text()
    expect(page.get_by_role("row", name=re.compile("nour@example.org"))).to_contain_text(
        "Supervisor")
    page.screenshot(path=str(ARTIFACTS / "users.png"), full_page=True)

    other = browser.new_context().new_page()
    other.goto(f"{server}/staff/login")
    other.get_by_label("Email").fill("nour@example.org")
    other.get_by_label("Password").fill(password)
    other.get_by_role("button", name="Sign in").click()
    expect(other.locator("#must-change")).to_be_visible()  # a generated password is replaced
    other.get_by_label("Current password").fill(password)
    other.locator("#new").fill("nile sunset over the bridge")
    other.get_by_label("New password again").fill("nile sunset over the bridge")
    other.get_by_role("button", name="Change password").click()
    expect(other.get_by_role("link", name="Statistics")).to_be_visible()
    other.context.close()
