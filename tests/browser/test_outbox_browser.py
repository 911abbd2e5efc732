"""The "Sent messages" page in real Chromium: an Arabic caller's confirmation, sent by the
console gateway, reads right to left with the number masked."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import OutboxMessage
from hotline.services import outbox
from tests.browserkit import AR_MASKED, ARTIFACTS, ask_for_a_call, sign_in
from tests.staffkit import AR_PHONE, make_user

pytestmark = pytest.mark.browser


def test_a_supervisor_sees_the_arabic_confirmation_right_to_left(app, server, page):
    make_user("sue@example.org", role="supervisor", name="Sue")
    ref = ask_for_a_call(app, AR_PHONE, "1", "1", "1")  # SMS allowed
    ids = list(db.session.scalars(select(OutboxMessage.id)))
    assert len(ids) == 1
    outbox.send(ids)  # the console gateway: no Africa's Talking account in tests
    sign_in(page, server, "sue@example.org")
    page.get_by_role("link", name="Sent messages").click()
    expect(page.get_by_role("heading", name="Sent messages")).to_be_visible()
    row = page.locator("tbody tr").first
    expect(row).to_contain_text(AR_MASKED)
    expect(row).to_contain_text("Request confirmation")  # its label, not "confirmation"
    expect(row).to_contain_text("Sent to the gateway")
    body = row.locator("td[lang=ar]")
    expect(body).to_contain_text(ref)
    assert body.evaluate("cell => getComputedStyle(cell).direction") == "rtl"
    assert AR_PHONE not in page.content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sent-messages.png"), full_page=True)
    page.get_by_label("Status", exact=True).select_option("failed")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("tbody")).to_contain_text("No messages with status Failed to send.")
