"""The worklist in real Chromium, in English and Arabic, on a 375 px phone and a desktop:
order and states on a fixed clock, Next request, the reassignment notice, the call record
from claim to closed, reopen, search; no element wider than the screen; and a reload
after every action changes nothing (post/redirect/get).

The clock is ``callback_policy.clock``, replaced for the server thread: Sunday 11:00 in
Khartoum, inside working hours, with an evening safe window still closed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from hotline.extensions import db
from hotline.models import AuditLog, CallbackEvent, CallbackRequest, StaffUser
from hotline.services import callback_policy, casework
from tests.browserkit import ARTIFACTS, OVERFLOW
from tests.staffkit import PASSWORD, make_request, make_user

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)  # Sunday 11:00 in Khartoum
SIZES = {"phone": {"width": 375, "height": 740}, "desktop": {"width": 1360, "height": 900}}
TEXT = {
    "en": {"queue": "Callback queue", "callable": "Callable now", "waiting": "Waiting",
           "breached": "Past deadline", "gave": "A supervisor gave you request",
           "window": "Safe window opens at", "closed": "closed.", "early": "is not due until",
           "history": "Other requests of this caller", "nothing": "Nothing found"},
    "ar": {"queue": "قائمة طلبات الاتصال", "callable": "يمكن الاتصال الآن",
           "waiting": "في الانتظار", "breached": "تجاوز الموعد", "gave": "أسند إليك مشرف الطلب",
           "window": "يبدأ الوقت الآمن في", "closed": "أُغلق الطلب",
           "early": "موعد المحاولة التالية",
           "history": "طلبات أخرى لهذا المتصل", "nothing": "لم يُعثر على شيء"},
}
TAPS = """() => [...document.querySelectorAll(['main button', 'main select', 'main label.choice',
    'main input:not([type=hidden]):not([type=checkbox]):not([type=radio])', 'main summary',
    'header button', 'header nav a'].join(', '))]
  .filter(e => e.getBoundingClientRect().height > 0)
  .filter(e => e.getBoundingClientRect().height < 43.5)
  .map(e => e.outerHTML.slice(0, 80))"""


@pytest.fixture()
def clock(monkeypatch) -> datetime:
    monkeypatch.setattr(callback_policy, "clock", lambda: NOW)
    return NOW


@pytest.fixture(params=["en", "ar"])
def lang(request) -> str:
    return request.param


@pytest.fixture(params=["phone", "desktop"])
def size(request) -> str:
    return request.param


@pytest.fixture()
def open_page(browser: Browser, problems: list[str], size: str, lang: str
              ) -> Iterator:
    contexts = []

    def make() -> Page:
        context = browser.new_context(viewport=SIZES[size], locale="en-GB")
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert problems == [], problems


def person(email: str, lang: str, role: str = "agent") -> int:
    user = make_user(email, role=role)
    db.session.get(StaffUser, user.id).ui_language = lang
    db.session.commit()
    return user.id


def sign_in(page: Page, base: str, email: str, lang: str) -> None:
    page.goto(f"{base}/staff/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=TEXT[lang]["queue"])).to_be_visible()
    expect(page.locator("html")).to_have_attribute("dir", "rtl" if lang == "ar" else "ltr")


def fits(page: Page, size: str) -> None:
    """Nothing sticks out sideways, and on a phone every control is a 44 px target."""
    found = page.evaluate(OVERFLOW)
    assert found["page"] <= found["width"] and found["wide"] == [], found
    if size == "phone":
        assert page.evaluate(TAPS) == []


def counts() -> tuple[int, int]:
    db.session.expire_all()
    return (db.session.scalar(select(func.count()).select_from(CallbackEvent)),
            db.session.scalar(select(func.count()).select_from(AuditLog)))


def reload_changes_nothing(page: Page) -> None:
    before = counts()
    page.reload()
    page.wait_for_load_state()
    assert counts() == before


def refs(page: Page) -> list[str]:
    return page.locator("table.queue tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.ref)")


def ref_of(request_id: int) -> str:
    return db.session.get(CallbackRequest, request_id).ref


def test_the_worklist_order_states_next_request_and_notice(app, server, clock, open_page,
                                                           lang, size):
    person("ana@example.org", lang)
    sue = person("sue@example.org", lang, "supervisor")
    late = make_request("+249911000001", "medical", now=NOW - timedelta(days=4))
    evening = make_request("+249911000002", "info", now=NOW - timedelta(hours=1), safe="times",
                           times="evening")
    urgent = make_request("+249911000003", "danger", "ar", now=NOW - timedelta(hours=1))
    normal = make_request("+249911000004", "counselling", now=NOW - timedelta(hours=1))
    page = open_page()
    sign_in(page, server, "ana@example.org", lang)
    words = TEXT[lang]
    # urgent first, then by deadline: the evening window closes at 18:00 today, before
    # the normal request's working day ends tomorrow
    assert refs(page) == [ref_of(i) for i in (urgent, late, evening, normal)]
    row = page.locator(f'tr[data-ref="{ref_of(late)}"]')
    expect(row).to_contain_text(words["breached"])
    expect(page.locator(f'tr[data-ref="{ref_of(evening)}"]')).to_contain_text(words["window"])
    expect(page.locator(f'tr[data-ref="{ref_of(normal)}"]')).to_contain_text(words["callable"])
    fits(page, size)
    page.screenshot(path=str(ARTIFACTS / f"worklist-{lang}-{size}.png"), full_page=True)

    page.locator("input[name=callable]").check()
    page.locator(".filters button[type=submit]").click()
    assert ref_of(evening) not in refs(page)

    page.locator("#next-request").click()
    expect(page).to_have_url(re.compile(f"/staff/requests/{urgent}$"))
    reload_changes_nothing(page)
    fits(page, size)

    casework.reassign(normal, sue, db.session.scalar(
        select(StaffUser.id).where(StaffUser.email == "ana@example.org")))
    page.goto(f"{server}/staff/")
    expect(page.locator(".notice.reassigned")).to_contain_text(
        f"{words['gave']} {ref_of(normal)}")
    expect(page.locator(f'tr.is-reassigned[data-ref="{ref_of(normal)}"]')).to_have_count(1)
    fits(page, size)
    reload_changes_nothing(page)


def test_a_call_from_claim_to_closed_then_reopened_and_found(app, server, clock, open_page,
                                                             lang, size, problems):
    person("ana@example.org", lang)
    person("sue@example.org", lang, "supervisor")
    phone = "+249911234567"
    earlier = make_request(phone, "info", now=NOW - timedelta(days=9))
    request_id = make_request(phone, "medical", now=NOW - timedelta(hours=2))
    page = open_page()
    sign_in(page, server, "ana@example.org", lang)
    words = TEXT[lang]
    ref = ref_of(request_id)

    page.locator(f'tr[data-ref="{ref}"] td.action button').click()
    expect(page).to_have_url(re.compile(f"/staff/requests/{request_id}$"))
    expect(page.locator(".history")).to_contain_text(words["history"])
    expect(page.locator(".history")).to_contain_text(ref_of(earlier))
    reload_changes_nothing(page)

    page.locator("#reveal").click()
    expect(page.locator("#revealed-phone")).to_have_text(phone)
    reload_changes_nothing(page)
    expect(page.locator("#revealed-phone")).to_have_text(phone)  # still shown, audited once
    fits(page, size)
    page.screenshot(path=str(ARTIFACTS / f"request-{lang}-{size}.png"), full_page=True)

    page.locator("input[name=result][value=no_answer]").check()
    page.locator("form.call-record button[type=submit]").click()
    expect(page.locator("#revealed-phone")).to_have_count(0)
    reload_changes_nothing(page)
    page.locator("#claim").click()
    page.locator("input[name=result][value=no_answer]").check()
    page.locator("form.call-record button[type=submit]").click()
    expect(page.locator(".confirm")).to_contain_text(words["early"])
    problems.remove("Failed to load resource: the server responded with a status of "
                    "409 (CONFLICT)")  # the question is a 409: nothing was saved yet
    fits(page, size)
    page.locator(".confirm button[value=skip]").click()
    expect(page.locator(".timeline").first).to_contain_text(
        "(قبل" if lang == "ar" else "not counted")
    reload_changes_nothing(page)

    page.locator("#claim").click()
    page.locator("input[name=result][value=reached]").check()
    page.locator("#outcome").select_option("referred")
    page.locator("#referral").select_option("medical")
    page.locator("#follow_up").fill("2026-12-03")
    page.locator("#call-note").fill("<b>talked</b> في الموعد")
    page.locator("form.call-record button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text(words["closed"])
    reload_changes_nothing(page)
    db.session.expire_all()
    closed = db.session.get(CallbackRequest, request_id)
    assert (closed.status, closed.outcome, closed.attempts) == ("resolved", "referred", 3)

    other = open_page()
    sign_in(other, server, "sue@example.org", lang)
    other.goto(f"{server}/staff/search")
    other.locator("#q").fill("0911234567")
    other.locator("form.search button").click()
    expect(other).to_have_url(re.compile(f"/staff/requests/{request_id}$"))
    reload_changes_nothing(other)
    other.locator("#reopen-reason").fill("the caller's sister asked us to try again")
    other.locator("form.reopen button").click()
    expect(other.locator(".event-reopened")).to_have_count(1)
    reload_changes_nothing(other)
    fits(other, size)
    other.goto(f"{server}/staff/search")
    other.locator("#q").fill("2222222")
    other.locator("form.search button").click()
    expect(other.locator(".flash")).to_contain_text(words["nothing"])
    db.session.expire_all()
    assert db.session.get(CallbackRequest, request_id).status == "open"
    actions = db.session.scalars(select(AuditLog.action)).all()
    assert actions.count("reveal_phone") == actions.count("search_phone") == 1
    assert actions.count("reopen_callback") == 1


def test_statistics_charts_fit_and_read_in_both_languages(app, server, clock, open_page,
                                                         lang, size):
    sue = person("sue@example.org", lang, "supervisor")
    done = make_request("+249911000001", "medical", now=NOW - timedelta(days=3))
    make_request("+249911000002", "danger", "ar", now=NOW - timedelta(days=1))
    casework.claim(done, sue, now=NOW - timedelta(days=2))
    casework.record_call(done, sue, casework.CallRecord("reached", outcome="helped"),
                         now=NOW - timedelta(days=2))
    page = open_page()
    sign_in(page, server, "sue@example.org", lang)
    page.goto(f"{server}/staff/stats")
    expect(page.locator("svg.chart-svg").first).to_be_visible()
    assert page.locator("svg.chart-svg rect").count() >= 6
    fits(page, size)
    page.screenshot(path=str(ARTIFACTS / f"stats-{lang}-{size}.png"), full_page=True)


@pytest.mark.parametrize("size", ["phone"], indirect=True)
def test_no_page_is_wider_than_a_phone(app, server, clock, open_page, lang, size):
    person("root@example.org", lang, "admin")
    request_id = make_request("+249911000001", "danger", "ar", now=NOW - timedelta(days=1))
    page = open_page()
    page.goto(f"{server}/staff/login")
    fits(page, size)
    sign_in(page, server, "root@example.org", lang)
    for path in ("/staff/", "/staff/search", f"/staff/requests/{request_id}", "/staff/stats",
                 "/staff/try", "/staff/users", "/staff/audit", "/staff/account"):
        page.goto(f"{server}{path}")
        found = page.evaluate(OVERFLOW)
        assert found["page"] <= found["width"] and found["wide"] == [], (path, found)
