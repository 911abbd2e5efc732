"""Community alert pages in real Chromium: an admin registers a leader, whose phone then
sees the leader menu; an agent writes a free-text alert that a supervisor approves on a
page showing every language; the list follows the sending live and pauses it."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from hotline.extensions import db
from hotline.models import Broadcast, Leader, OutboxMessage
from hotline.services import broadcasts
from tests.alertkit import open_menu, subscriber
from tests.browserkit import ARTIFACTS, sign_in
from tests.conftest import UssdCaller
from tests.staffkit import make_user

pytestmark = pytest.mark.browser

LEADER = "+249955555555"


def test_admin_registers_a_leader_whose_phone_then_sees_the_menu(
        app: Flask, server: str, page: Page, problems):
    ARTIFACTS.mkdir(exist_ok=True)
    make_user("admin@mrrc.example", "admin", "Ada Admin")
    sign_in(page, server, "admin@mrrc.example")
    page.get_by_role("link", name="Leaders").click()
    expect(page.get_by_role("heading", name="Community leaders")).to_be_visible()
    page.get_by_label("Name").fill("Amna <b>Leader</b>")
    page.get_by_label("Phone").fill("0955555555")
    page.get_by_label("Areas they may reach").select_option(["KH-OMD", "SD-GD"])
    page.get_by_role("button", name="Register").click()
    expect(page.locator(".alert")).to_contain_text("Name")  # < > refused, form kept
    problems.remove("Failed to load resource: the server responded with a status of 400 "
                    "(BAD REQUEST)")  # the refused form's answer, as intended
    page.get_by_label("Name").fill("Amna Leader")
    page.get_by_label("Areas they may reach").select_option(["KH-OMD", "SD-GD"])
    page.get_by_role("button", name="Register").click()
    expect(page.locator(".flash")).to_contain_text("can now send alerts")
    row = page.locator("#leaders tbody tr").first
    expect(row).to_contain_text("Amna Leader")
    expect(row).to_contain_text("Omdurman, Gedaref")
    expect(row).to_contain_text("+249 95* *** *55")
    expect(page.locator("main")).not_to_contain_text("955555555")
    page.screenshot(path=str(ARTIFACTS / "alerts-leaders.png"), full_page=True)

    phone = UssdCaller(app.test_client(), phone=LEADER)
    open_menu(phone, "en")
    phone.press("98")
    assert "Send a community alert" in phone.text


def test_a_free_text_alert_is_approved_by_a_second_person(
        app: Flask, server: str, browser, problems):
    for i in range(3):
        subscriber(f"+24991100000{i}", "KH-OMD", lang="ar" if i else "en")
    make_user("agent@mrrc.example", "agent", "Aya Agent")
    make_user("sup@mrrc.example", "supervisor", "Sam Supervisor")
    author = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
    author.on("pageerror", lambda e: problems.append(str(e)))
    sign_in(author, server, "agent@mrrc.example")
    author.goto(f"{server}/staff/broadcasts/new")
    author.get_by_label("Text in English").fill("Water is free at the MRRC tomorrow.")
    author.get_by_label("Text in Arabic").fill("الماء مجاني في المركز غدا.")
    author.get_by_label("Areas").select_option(["KH-OMD"])
    author.get_by_label("Kind").select_option("services")
    author.get_by_role("button", name="Save for approval").click()
    expect(author.locator(".flash")).to_contain_text("must approve it")
    expect(author.locator("#waiting")).to_be_visible()
    expect(author.get_by_role("button", name="Approve and send")).to_have_count(0)
    url = author.url

    approver = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
    approver.on("pageerror", lambda e: problems.append(str(e)))
    sign_in(approver, server, "sup@mrrc.example")
    approver.goto(url)
    arabic = approver.locator("p.sms-text[lang=ar]")
    expect(arabic).to_have_attribute("dir", "rtl")
    expect(arabic).to_contain_text("الماء مجاني في المركز غدا.")
    expect(arabic).to_contain_text("مركز المهاجرين لا يطلب مالا أبدا.")
    expect(approver.locator("p.sms-text[lang=en]")).to_contain_text(
        "MRRC never asks for money.")
    expect(approver.locator("#recipients")).to_have_text("3")
    expect(approver.locator("main")).to_contain_text("Aya Agent")
    approver.screenshot(path=str(ARTIFACTS / "alerts-approval.png"), full_page=True)
    approver.get_by_role("button", name="Approve and send").click()
    expect(approver.locator(".flash")).to_contain_text("Approved")
    db.session.expire_all()
    assert db.session.scalars(select(Broadcast.status)).one() in ("queued", "sending")


def test_the_list_follows_sending_live_and_a_supervisor_pauses(
        app: Flask, server: str, page: Page):
    app.config["STAFF"]["refresh_seconds"] = 1
    sup = make_user("sup@mrrc.example", "supervisor", "Sam Supervisor")
    agent = make_user("agent@mrrc.example", "agent", "Aya Agent")
    for i in range(4):
        subscriber(f"+24991100000{i}", "KH-OMD")
    made = broadcasts.create_free_text(agent.id, {"en": "Clinic open.", "ar": "العيادة مفتوحة."},
                                       ["KH-OMD"], "services", True, key="browser-test")
    broadcasts.approve(made.id, sup.id)
    broadcasts.fan_out(made.id)
    sign_in(page, server, "sup@mrrc.example")
    page.get_by_role("link", name="Alerts").click()
    bar = page.get_by_label(f"Progress of A{made.id}")
    expect(bar).to_have_attribute("value", "0")
    row = page.locator(f"#broadcasts tr[data-id='{made.id}']")
    expect(row).to_contain_text("4 queued")
    first_two = list(db.session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)
                                        .limit(2)))
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(first_two))
                       .values(status="sent"))
    db.session.commit()
    expect(bar).to_have_attribute("value", "50")  # no reload: the page refreshes itself
    expect(row).to_contain_text("2 sent")
    page.screenshot(path=str(ARTIFACTS / "alerts-progress.png"), full_page=True)
    row.get_by_role("button", name="Pause").click()
    expect(page.locator(".flash")).to_contain_text("Paused: 2 messages held.")
    expect(page.locator(f"#broadcasts tr[data-id='{made.id}'] .status")).to_contain_text(
        "Paused")
    expect(page.locator("#subscribers-chart")).to_be_visible()
    db.session.expire_all()
    assert db.session.get(Broadcast, made.id).status == "paused"
    assert db.session.scalars(select(Leader)).all() == []
    assert re.search("Omdurman: 4", page.locator("#subscribers-chart").inner_html())
    # let the page's last requests (its icon) finish: a connection cut mid-answer makes
    # the test server leave a file open, which fails the run as a ResourceWarning
    page.wait_for_load_state("networkidle")
