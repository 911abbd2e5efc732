"""While an urgent (danger) request waits with nobody on it, every staff page says so."""

from datetime import UTC, datetime, timedelta

import pytest

from hotline.services import callback_policy, caller_requests, casework
from tests.staffkit import AR_PHONE, EN_PHONE, Staff, make_request, make_user, quick_hashing

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)  # Sunday 10:00 in Khartoum
PAGES = ["/staff/", "/staff/account", "/staff/try", "/staff/stats"]


@pytest.fixture(autouse=True)
def _setup(monkeypatch):
    quick_hashing(monkeypatch)
    monkeypatch.setattr(callback_policy, "clock", lambda: NOW)


@pytest.fixture()
def sue(app):
    make_user("sue@example.org", role="supervisor", name="Sue")
    return Staff(app, "sue@example.org")


def banner(staff: Staff, page: str) -> str | None:
    html = staff.html(page)
    start = html.find('class="alert urgent-banner"')
    return None if start < 0 else html[start:html.find("</div>", start)]


def test_no_banner_without_urgent_requests(app, sue):
    make_request(EN_PHONE, reason="medical", now=NOW - timedelta(hours=3))
    for page in PAGES:
        assert banner(sue, page) is None, page


def test_every_page_shows_the_oldest_waiting_danger_request_and_its_age(app, sue):
    first = make_request(EN_PHONE, reason="danger", now=NOW - timedelta(minutes=35))
    make_request(AR_PHONE, reason="danger", language="ar", now=NOW - timedelta(minutes=5))
    ref = caller_requests.open_request(EN_PHONE).ref
    for page in PAGES:
        shown = banner(sue, page)
        assert shown is not None, page
        assert "2 callers in danger are waiting" in shown and "35 min" in shown
        assert f'href="/staff/requests/{first}"' in shown and ref in shown


def test_a_claim_takes_it_off_the_banner_until_the_claim_expires(app, sue, monkeypatch):
    request_id = make_request(EN_PHONE, reason="danger", now=NOW - timedelta(minutes=12))
    assert "12 min" in banner(sue, "/staff/")
    casework.claim(request_id, sue.id, now=NOW)
    assert banner(sue, "/staff/") is None
    later = NOW + timedelta(minutes=20)  # nobody renewed the 15-minute claim
    monkeypatch.setattr(callback_policy, "clock", lambda: later)
    shown = banner(sue, "/staff/")
    assert shown is not None and "a caller in danger has been waiting" in shown
    assert "32 min" in shown


def test_a_withdrawn_danger_request_raises_no_alarm(app, sue):
    make_request(EN_PHONE, reason="danger", now=NOW - timedelta(minutes=12))
    caller_requests.withdraw_for_phone(EN_PHONE, now=NOW)
    assert banner(sue, "/staff/") is None


def test_the_sign_in_page_says_nothing(app, client):
    make_request(EN_PHONE, reason="danger", now=NOW - timedelta(minutes=12))
    html = client.get("/staff/login").get_data(as_text=True)
    assert "urgent-banner" not in html and "danger" not in html
