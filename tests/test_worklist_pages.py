"""The worklist pages over HTTP: Next request, the reassignment notice, search, reopen and
the call record's confirmation, each answered with a redirect that a reload cannot repeat,
and hostile or broken input on the new forms."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from hotline.extensions import db
from hotline.models import AuditLog, CallbackEvent, CallbackRequest
from tests.staffkit import EN_PHONE, make_request, make_team, quick_hashing, text_of

CHOOSE = "Choose one of the options offered "


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


@pytest.fixture()
def team(app):
    return make_team(app)


def count(model, **where) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return db.session.scalar(query)


def test_next_request_claims_the_most_urgent_callable_one(app, team):
    now = datetime.now(UTC)
    normal = make_request("+249911111111", "medical", now=now - timedelta(days=2))
    urgent = make_request("+249922222222", "danger", "ar", now=now - timedelta(days=2))
    ana, bob = team["ana"], team["bob"]
    first = ana.post("/staff/next")
    assert first.status_code == 303 and first.location == f"/staff/requests/{urgent}"
    second = bob.post("/staff/next")
    assert second.location == f"/staff/requests/{normal}"
    nothing = ana.post("/staff/next")  # ana still holds urgent; nothing else is free
    assert nothing.status_code == 303 and nothing.location == "/staff/"
    assert "Nothing can be called right now" in ana.html("/staff/")
    assert count(CallbackEvent, kind="claimed") == 2


def test_a_reassigned_request_shows_a_notice_and_a_highlighted_row(app, team):
    request_id = make_request()
    team["ana"].claim(request_id)
    team["sue"].post(f"/staff/requests/{request_id}/reassign",
                     {"staff_id": str(team["bob"].id)})
    page = team["bob"].html("/staff/")
    ref = db.session.get(CallbackRequest, request_id).ref
    assert f"A supervisor gave you request {ref}." in page
    assert re.search(rf'<tr class="[^"]*is-reassigned[^"]*" data-ref="{ref}">', page)
    assert "gave you" not in team["ana"].html("/staff/")
    team["bob"].claim(request_id)  # the Open button
    assert "gave you" not in team["bob"].html("/staff/")


def test_filters_mine_and_callable(app, team):
    mine = make_request("+249911111111")
    other = make_request("+249922222222")
    team["ana"].claim(mine)
    team["bob"].claim(other)
    page = team["ana"].html("/staff/?mine=1")
    assert re.findall(r'data-ref="(\d+)"', page) == [db.session.get(CallbackRequest, mine).ref]
    assert 'name="mine" value="1" checked' in page


def test_search_by_reference_for_anyone_and_by_number_for_supervisors_only(app, team):
    request_id = make_request()
    ref = db.session.get(CallbackRequest, request_id).ref
    found = team["ana"].post("/staff/search", {"q": ref}, page="/staff/search")
    assert found.status_code == 303 and found.location == f"/staff/requests/{request_id}"
    refused = team["ana"].post("/staff/search", {"q": EN_PHONE}, page="/staff/search")
    assert refused.status_code == 403
    assert count(AuditLog, action="search_phone") == 0
    by_number = team["sue"].post("/staff/search", {"q": "0912345678"}, page="/staff/search")
    assert by_number.location == f"/staff/requests/{request_id}"
    assert count(AuditLog, action="search_phone") == 1
    team["sue"].get(by_number.location)  # reading the page again audits nothing more
    assert count(AuditLog, action="search_phone") == 1
    missing = team["ana"].post("/staff/search", {"q": "2222222"}, page="/staff/search")
    assert missing.location == "/staff/search"
    assert "Nothing found" in team["ana"].html("/staff/search")


@pytest.mark.parametrize("q", ["", "x" * 41, "<script>alert(1)</script>"])
def test_bad_searches_are_answered_clearly(app, team, q):
    response = team["ana"].post("/staff/search", {"q": q}, page="/staff/search")
    assert response.status_code in (303, 400)
    body = text_of(response)
    assert "<script>alert(1)</script>" not in body


def test_a_supervisor_reopens_a_closed_request_once(app, team):
    request_id = make_request()
    ana, sue = team["ana"], team["sue"]
    ana.claim(request_id)
    ana.post(f"/staff/requests/{request_id}/attempt", {"result": "wrong_number"})
    page = f"/staff/requests/{request_id}"
    assert "Reopen the request" not in ana.html(page)
    assert ana.post(f"{page}/reopen", {"reason": "x"}, page=page).status_code == 403
    assert sue.post(f"{page}/reopen", {"reason": ""}, page=page).status_code == 400
    done = sue.post(f"{page}/reopen", {"reason": "<b>caller's sister</b> rang"}, page=page)
    assert done.status_code == 303 and done.location == page
    body = sue.html(page)
    assert "&lt;b&gt;caller&#39;s sister&lt;/b&gt; rang" in body and "Work on it" in body
    again = sue.post(f"{page}/reopen", {"reason": "again"}, page=page)
    assert again.status_code == 400  # open already: nothing repeated
    assert count(AuditLog, action="reopen_callback") == 1


@pytest.mark.parametrize("data,message", [
    ({"result": "reached", "outcome": "helped", "follow_up": "tomorrow"}, "must be a date"),
    ({"result": "reached", "outcome": "<script>"}, CHOOSE + "(Outcome)"),
    ({"result": "reached", "outcome": "helped", "reason": "unknown"}, CHOOSE + "(Reason)"),
    ({"result": "reached", "outcome": "helped", "note": "x" * 2001}, "note is too long"),
    ({"result": "no_answer", "confirm": "maybe"}, None),
])
def test_a_bad_call_record_is_refused_and_writes_nothing(app, team, data, message):
    request_id = make_request()
    team["ana"].claim(request_id)
    before = count(CallbackEvent)
    response = team["ana"].post(f"/staff/requests/{request_id}/attempt", data)
    if message is None:  # an unknown confirmation is no confirmation: the first try logs
        assert response.status_code == 303
        return
    assert response.status_code == 400 and message in text_of(response)
    assert "<script>" not in text_of(response).split("</header>")[1]
    assert count(CallbackEvent) == before


def test_every_new_form_needs_its_csrf_token(app, team):
    request_id = make_request()
    for path in ("/staff/next", "/staff/search", "/staff/language",
                 f"/staff/requests/{request_id}/reopen"):
        assert team["sue"].client.post(path, data={"q": "1", "language": "ar",
                                                   "reason": "x"}).status_code == 400, path
    assert count(AuditLog, action="search_phone") == count(AuditLog, action="reopen_callback") == 0
    assert count(CallbackEvent, kind="claimed") == 0


def test_the_out_of_hours_banner_says_when_calling_starts_again(app, team, monkeypatch):
    from hotline.services import callback_policy

    friday = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)  # Friday 11:00: the centre is closed
    monkeypatch.setattr(callback_policy, "clock", lambda: friday)
    page = team["ana"].html("/staff/")
    assert "Outside calling hours: requests wait until 6 Dec 08:00." in page
    monkeypatch.setattr(callback_policy, "clock", lambda: friday + timedelta(days=2))  # Sunday
    assert "Outside calling hours" not in team["ana"].html("/staff/")


def test_a_form_mistake_is_explained_in_arabic_too(app, team):
    request_id = make_request()
    ana = team["ana"]
    ana.post("/staff/language", {"language": "ar"})
    ana.claim(request_id)
    response = ana.post(f"/staff/requests/{request_id}/attempt", {"result": "reached"})
    assert response.status_code == 400 and "اذكر نتيجة المكالمة" in text_of(response)
    hostile = ana.post(f"/staff/requests/{request_id}/attempt", {"result": "reached",
                                                                 "outcome": "x"})
    assert "اختر أحد الخيارات المعروضة (النتيجة)" in text_of(hostile)
