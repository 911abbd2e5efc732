"""Reveals limited and watched: claims held at once, reveals per hour, the supervisor's
approval beyond them and the alert on the dashboard; numbers in staff notes masked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import AuditLog, RevealApproval
from hotline.services import callback_policy, casework, reveals
from tests.staffkit import Staff, make_request, make_user, quick_hashing, text_of

PHONES = [f"+2499123450{n:02d}" for n in range(12)]


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


@pytest.fixture()
def limited(app, make_app):
    """An app allowing 3 claims at once and 2 reveals an hour, with an agent and two
    supervisors signed in."""
    small = make_app(CALLBACKS={"max_claims": 3, "reveals_per_hour": 2})
    with small.app_context():
        make_user("ana@example.org", name="Ana")
        make_user("sue@example.org", role="supervisor", name="Sue")
        make_user("tom@example.org", role="supervisor", name="Tom")
        yield small, {n: Staff(small, f"{n}@example.org") for n in ("ana", "sue", "tom")}


def reveal(staff: Staff, request_id: int):
    """Reveal and follow the redirect (post/redirect/get) to the page showing the number."""
    return staff.post(f"/staff/requests/{request_id}/reveal",
                      page=f"/staff/requests/{request_id}", follow_redirects=True)


def test_the_defaults_are_five_claims_and_ten_reveals_an_hour(app):
    cfg = callback_policy.settings()
    assert (cfg.max_claims, cfg.reveals_per_hour) == (5, 10)


def test_an_agent_holds_at_most_max_claims(limited):
    _, team = limited
    ana, sue = team["ana"], team["sue"]
    ids = [make_request(PHONES[n]) for n in range(5)]
    for request_id in ids[:3]:
        assert ana.claim(request_id).status_code == 303
    assert ana.claim(ids[0]).status_code == 303  # renewing one held is not a new claim
    response = ana.claim(ids[3])
    assert response.status_code == 409 and "You already hold 3 requests" in text_of(response)
    db.session.expire_all()
    assert reveals.claims_held(ana.id, callback_policy.now_utc()) == 3
    # a supervisor cannot push a fourth onto her either
    response = sue.post(f"/staff/requests/{ids[3]}/reassign", {"staff_id": str(ana.id)},
                        page=f"/staff/requests/{ids[3]}")
    assert response.status_code == 409 and "already hold 3" in text_of(response)
    ana.post(f"/staff/requests/{ids[0]}/release", page=f"/staff/requests/{ids[0]}")
    assert ana.claim(ids[3]).status_code == 303
    claims = db.session.scalars(select(AuditLog).where(AuditLog.action == "claim_callback")
                                .where(AuditLog.staff_id == ana.id)).all()
    assert len(claims) == 4  # every new claim is audited, the renewal is not


def test_expired_claims_do_not_count(limited):
    _, team = limited
    ids = [make_request(PHONES[n]) for n in range(4)]
    now = callback_policy.now_utc()
    for request_id in ids[:3]:
        casework.claim(request_id, team["ana"].id, now=now - timedelta(hours=1))
    assert team["ana"].claim(ids[3]).status_code == 303


def test_reveals_beyond_the_hourly_limit_wait_for_a_supervisor(limited):
    _, team = limited
    ana, sue, tom = team["ana"], team["sue"], team["tom"]
    ids = [make_request(PHONES[n]) for n in range(3)]
    for request_id in ids:
        ana.claim(request_id)
    for n in range(2):
        response = reveal(ana, ids[n])
        assert response.status_code == 200 and PHONES[n] in text_of(response)
    response = reveal(ana, ids[2])
    body = text_of(response)
    assert response.status_code == 429 and PHONES[2] not in body
    assert "A supervisor has been asked" in body
    reveal(ana, ids[2])  # asking again adds no second request
    pending = db.session.scalars(select(RevealApproval)).all()
    assert [(p.staff_id, p.request_id, p.status) for p in pending] == [(ana.id, ids[2], "pending")]
    # supervisors see the alert on every page; the agent does not, and cannot approve
    assert 'id="reveal-alert"' in sue.html("/staff/") and "1 reveal over" in sue.html("/staff/")
    assert 'id="reveal-alert"' not in ana.html("/staff/")
    approve = {"decision": "approve"}
    assert ana.post(f"/staff/reveals/{pending[0].id}", approve).status_code == 403
    response = sue.post(f"/staff/reveals/{pending[0].id}", approve, page="/staff/reveals")
    assert response.status_code == 303
    assert 'id="reveal-alert"' not in tom.html("/staff/")
    assert sue.post(f"/staff/reveals/{pending[0].id}", approve,
                    page="/staff/reveals").status_code == 409  # decided once
    response = reveal(ana, ids[2])
    assert response.status_code == 200 and PHONES[2] in text_of(response)
    assert reveal(ana, ids[2]).status_code == 429  # one approval, one reveal
    actions = [a.action for a in db.session.scalars(select(AuditLog).order_by(AuditLog.id))
               if a.action.startswith("reveal")]
    assert actions == ["reveal_phone", "reveal_phone", "reveal_approval_asked",
                       "reveal_approved", "reveal_phone", "reveal_approval_asked"]


def test_a_refusal_is_final_for_the_hour_and_nobody_approves_their_own(limited):
    small, team = limited
    sue, tom = team["sue"], team["tom"]
    ids = [make_request(PHONES[n]) for n in range(3)]
    for request_id in ids:
        sue.claim(request_id)
    reveal(sue, ids[0]), reveal(sue, ids[1])
    assert reveal(sue, ids[2]).status_code == 429  # supervisors are limited too
    approval = db.session.scalars(select(RevealApproval)).one()
    response = sue.post(f"/staff/reveals/{approval.id}", {"decision": "approve"},
                        page="/staff/reveals")
    assert response.status_code == 409 and "Someone else" in text_of(response)
    assert tom.post(f"/staff/reveals/{approval.id}", {"decision": "refuse"},
                    page="/staff/reveals").status_code == 303
    response = reveal(sue, ids[2])
    assert response.status_code == 403 and "did not approve" in text_of(response)
    assert db.session.scalars(select(RevealApproval)).one().status == "refused"
    for bad in ({"decision": "maybe"}, {}):
        assert tom.post(f"/staff/reveals/{approval.id}", bad,
                        page="/staff/reveals").status_code == 400
    assert tom.post("/staff/reveals/99999999999", {"decision": "approve"},
                    page="/staff/reveals").status_code in (400, 404)


def test_reveals_older_than_an_hour_do_not_count(limited):
    _, team = limited
    ana = team["ana"]
    ids = [make_request(PHONES[n]) for n in range(3)]
    earlier = callback_policy.now_utc() - timedelta(minutes=61)
    for request_id in ids[:2]:
        casework.claim(request_id, ana.id, now=earlier)
        casework.reveal_phone(request_id, ana.id, now=earlier)
    ana.claim(ids[2])
    assert reveal(ana, ids[2]).status_code == 200


def test_numbers_in_staff_notes_are_flagged_and_masked(app):
    make_user("ana@example.org", name="Ana")
    ana = Staff(app, "ana@example.org")
    request_id = make_request()
    ana.claim(request_id)
    response = ana.post(f"/staff/requests/{request_id}/attempt",
                        {"result": "reached", "outcome": "helped",
                         "note": "her sister: 0912 345 678, call after 5"},
                        page=f"/staff/requests/{request_id}", follow_redirects=True)
    assert "seems to contain a phone number" in text_of(response)
    page = ana.html(f"/staff/requests/{request_id}")
    assert "0912 345 678" not in page and "*******78" in page and "call after 5" in page
    assert "Contains a phone number: masked" in page
    plain = make_request("+249912345699")
    ana.claim(plain)
    response = ana.post(f"/staff/requests/{plain}/attempt",
                        {"result": "reached", "outcome": "helped",
                         "note": "call after 5, ref 1234"},
                        page=f"/staff/requests/{plain}", follow_redirects=True)
    assert "seems to contain a phone number" not in text_of(response)
    page = ana.html(f"/staff/requests/{plain}")
    assert "ref 1234" in page and "Contains a phone number" not in page
