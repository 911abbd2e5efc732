"""The account security pages in real Chromium: a supervisor with a generated password is
made to choose their own, then to set up the second factor their role requires (QR code
drawn by the server, recovery codes shown once), then signs in again with a code.
Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from hotline.extensions import db
from hotline.staff import users
from tests.browserkit import ARTIFACTS

pytestmark = pytest.mark.browser
OWN = "lemon tree by the river 7"


def code_for(email: str, secret: str) -> str:
    """A code of a time step not used yet (the server never accepts one twice)."""
    db.session.expire_all()
    last = users.find(email).totp_last_step or 0
    return pyotp.TOTP(secret).at(max(int(time.time() // 30), last + 1) * 30)


def test_forced_password_change_then_required_second_factor(
        app: Flask, server: str, page: Page,
        problems: list[str]) -> None:
    app.config["STAFF"]["require_second_factor"] = True
    made = users.create("sue@example.org", "supervisor", "Sue")
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(f"{server}/staff/login")
    page.get_by_label("Email").fill("sue@example.org")
    page.get_by_label("Password").fill(made.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server}/staff/account")
    expect(page.locator("#must-change")).to_contain_text("Choose your own")
    page.goto(f"{server}/staff/")
    expect(page).to_have_url(f"{server}/staff/account")  # nothing else until it is changed

    page.get_by_label("Current password").fill(made.password)
    page.locator("#new").fill("password1234")
    page.get_by_label("New password again").fill("password1234")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".alert", has_text="most common")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "account-forced-change.png"), full_page=True)
    page.get_by_label("Current password").fill(made.password)
    page.locator("#new").fill(OWN)
    page.get_by_label("New password again").fill(OWN)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password was changed.")).to_be_visible()

    page.goto(f"{server}/staff/")  # the role needs a second factor before the queue
    expect(page).to_have_url(f"{server}/staff/account/second-factor")
    expect(page.get_by_role("alert")).to_contain_text("must use a second factor")
    page.get_by_role("button", name="Set up a second factor").click()
    qr = page.locator("#totp-qr svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100
    secret = page.locator("#totp-secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    page.screenshot(path=str(ARTIFACTS / "account-totp-enrol.png"), full_page=True)
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    codes = page.locator("#recovery-codes li")
    expect(codes).to_have_count(10)
    page.screenshot(path=str(ARTIFACTS / "account-totp-codes.png"), full_page=True)
    first_code = codes.first.inner_text()
    page.reload()  # shown once
    expect(page).to_have_url(f"{server}/staff/account/second-factor")
    expect(page.locator("main")).not_to_contain_text(first_code)
    expect(page.locator("main")).to_contain_text("Recovery codes left: 10")
    page.goto(f"{server}/staff/")
    expect(page.get_by_role("heading", name="Callback queue")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").fill("sue@example.org")
    page.get_by_label("Password").fill(OWN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in: second step")).to_be_visible()
    page.get_by_label("Code").fill("000000" if code_for("sue@example.org", secret) != "000000"
                                   else "111111")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("did not work")
    refused = "Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"
    assert problems == [refused, refused]  # the weak password and the wrong code, nothing else
    problems.clear()
    page.get_by_label("Code").fill(code_for("sue@example.org", secret))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Callback queue")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "account-signed-in-with-code.png"), full_page=True)
