"""What the browser tests share besides fixtures: where screenshots go, the masks the
dashboard shows for the two test callers, and the steps most tests begin with."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import CallbackRequest, Contact
from tests.conftest import UssdCaller
from tests.staffkit import PASSWORD

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
EN_MASKED, AR_MASKED = "+249 91* *** *78", "+249 12* *** *89"
# What sticks out of the viewport (no sideways scroll on a phone), for page.evaluate.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const e of document.querySelectorAll('body *')) {
    const box = e.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || e.closest('.visually-hidden, .skip')) continue;
    if (box.left < -1 || box.right > width + 1)
      wide.push(`${e.tagName}.${e.className} ${Math.round(box.left)}..${Math.round(box.right)}`);
  }
  return {page: document.documentElement.scrollWidth, width, wide: wide.slice(0, 5)};
}"""


def ask_for_a_call(app: Flask, phone: str, lang_key: str, reason_key: str, sms: str) -> str:
    """Dial the real USSD webhook as a new caller and ask for a call; the reference."""
    caller = UssdCaller(app.test_client(), phone=phone)
    caller.dial()
    menu = caller.press(lang_key).splitlines()
    choice = next(line.split(".")[0] for line in menu
                  if "Request a call" in line or "اتصلوا بي" in line)
    caller.press(choice, reason_key, "1", sms, "1")
    assert caller.ended
    return db.session.scalar(select(CallbackRequest.ref).join(Contact)
                             .where(Contact.phone == phone))


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/staff/")
    expect(page).to_have_url(re.compile(r"/staff/login\?next="))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Callback queue")).to_be_visible()
