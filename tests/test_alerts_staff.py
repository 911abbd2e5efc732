"""Staff pages for community alerts: leaders, free-text approval by a second person, the
live list with pause, resume and cancel, and the per-area chart; with hostile input."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import AuditLog, Broadcast, Leader
from hotline.services import broadcasts
from tests.alertkit import quick_pins, subscriber
from tests.staffkit import Staff, make_user, quick_hashing, text_of

PHONE = "+249955555555"
TEXTS = {"text_en": "Water is free at the MRRC tomorrow from 9:00.",
         "text_ar": "الماء مجاني في المركز غدا من الساعة 9:00."}


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)
    quick_pins(monkeypatch)


@pytest.fixture()
def admin(app) -> Staff:
    make_user("admin@mrrc.example", "admin", "Ada Admin")
    return Staff(app, "admin@mrrc.example")


@pytest.fixture()
def sup(app) -> Staff:
    make_user("sup@mrrc.example", "supervisor", "Sam Supervisor")
    return Staff(app, "sup@mrrc.example")


@pytest.fixture()
def agent(app) -> Staff:
    make_user("agent@mrrc.example", "agent", "Aya Agent")
    return Staff(app, "agent@mrrc.example")


def audit(action: str) -> list[AuditLog]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)))


def register(admin: Staff, **fields) -> object:
    data = {"name": "Amna Leader", "phone": "0955555555", "areas": ["KH-OMD", "SD-GD"],
            "limit": "2", **fields}
    return admin.post("/staff/leaders", data, page="/staff/leaders")


def test_admin_registers_a_leader_post_redirect_get_masked_and_audited(app, admin):
    response = register(admin)
    assert response.status_code == 303 and response.location.endswith("/staff/leaders")
    page = admin.html("/staff/leaders")
    assert "Amna Leader" in page and "Omdurman, Gedaref" in page
    assert "955555555" not in page and "+249 95* *** *55" in page
    leader = db.session.scalars(select(Leader)).one()
    assert (leader.phone, leader.areas, leader.daily_limit) == (PHONE, "KH-OMD,SD-GD", 2)
    assert len(audit("leader_register")) == 1


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": ""}, "Name"), ({"name": "x" * 121}, "Name"), ({"name": "<b>Bad</b>"}, "Name"),
    ({"phone": "not a phone"}, "Phone"), ({"phone": "1" * 40}, "Phone"),
    ({"areas": []}, "Areas"), ({"areas": ["XX-XX"]}, "Areas"),
    ({"areas": ["KH-OMD' OR 1=1 --"]}, "Areas"), ({"limit": "0"}, "Daily limit"),
    ({"limit": "many"}, "Daily limit"), ({"limit": "999999999999999999999"}, "Daily limit"),
])
def test_bad_leader_forms_are_refused_with_a_reason(app, admin, fields, message):
    response = register(admin, **fields)
    assert response.status_code == 400 and message in text_of(response)
    assert db.session.scalars(select(Leader)).all() == []


def test_the_same_phone_twice_is_refused(app, admin):
    register(admin)
    response = register(admin, name="Other")
    assert response.status_code == 400 and "already a leader" in text_of(response)


def test_leader_pages_need_an_admin_and_a_csrf_token(app, sup, admin):
    assert sup.get("/staff/leaders").status_code == 403
    assert register(sup).status_code == 403
    naked = admin.client.post("/staff/leaders", data={"name": "X", "phone": "0955555555",
                                                     "areas": "KH-OMD", "limit": "2"})
    assert naked.status_code == 400 and db.session.scalars(select(Leader)).all() == []
    assert admin.get("/staff/leaders/99999999999").status_code == 404


def test_admin_edits_resets_the_pin_and_switches_off(app, admin):
    register(admin)
    leader = db.session.scalars(select(Leader)).one()
    page = f"/staff/leaders/{leader.id}"
    assert admin.post(page, {"action": "save", "name": "Amna B", "areas": ["SD-KA"],
                             "limit": "5"}, page=page).status_code == 303
    assert admin.post(page, {"action": "reset_pin"}, page=page).status_code == 303
    assert admin.post(page, {"action": "disable"}, page=page).status_code == 303
    assert admin.post(page, {"action": "explode"}, page=page).status_code == 400
    db.session.expire_all()
    assert (leader.name, leader.areas, leader.daily_limit, leader.active) == \
        ("Amna B", "SD-KA", 5, False)
    assert [len(audit(a)) for a in ("leader_update", "leader_reset_pin", "leader_disable")] == \
        [1, 1, 1]


def write(staff: Staff, **fields):
    data = {**TEXTS, "areas": ["KH-OMD"], "topic": "services", "key": "k" * 16, **fields}
    return staff.post("/staff/broadcasts/new", data, page="/staff/broadcasts/new")


def test_free_text_needs_a_second_person_who_sees_every_language(app, agent, sup, admin):
    for i in range(3):
        subscriber(f"+24991100000{i}", "KH-OMD", lang="ar" if i else "en")
    response = write(agent)
    assert response.status_code == 303
    made = db.session.scalars(select(Broadcast)).one()
    assert made.status == "pending" and made.author_id == agent.id
    assert write(agent).status_code == 303  # the same form twice: one alert
    assert len(db.session.scalars(select(Broadcast)).all()) == 1
    page = sup.html(f"/staff/broadcasts/{made.id}")
    assert TEXTS["text_en"] in page and TEXTS["text_ar"] in page
    assert "MRRC never asks for money." in page and "مركز المهاجرين لا يطلب مالا أبدا." in page
    assert 'id="recipients">3<' in page and "Aya Agent" in page and "Approve and send" in page
    assert "6.00 SDG" in page  # at most: 3 people x 2 parts (the Arabic) x the example price
    assert "Approve and send" not in agent.html(f"/staff/broadcasts/{made.id}")
    # the author cannot approve, even by posting directly (an agent has no right at all)
    assert agent.post(f"/staff/broadcasts/{made.id}/approve").status_code == 403
    make_user("sup2@mrrc.example", "supervisor")
    author_sup = Staff(app, "sup2@mrrc.example")
    write(author_sup, key="m" * 16)
    own = db.session.scalars(select(Broadcast).where(Broadcast.author_id == author_sup.id)).one()
    author_sup.post(f"/staff/broadcasts/{own.id}/approve")
    db.session.expire_all()
    assert own.status == "pending"
    assert sup.post(f"/staff/broadcasts/{made.id}/approve").status_code == 303
    db.session.expire_all()
    assert made.status in ("sending", "queued", "done") and made.approved_by_id == sup.id
    assert len(audit("broadcast_approve")) == 1


@pytest.mark.parametrize(("fields", "message"), [
    ({"text_en": ""}, "every language"), ({"text_ar": "x" * 401}, "printable"),
    ({"text_en": "<script>alert(1)</script>"}, "without"), ({"text_en": "{area}"}, "without"),
    ({"text_ar": "ا" * 120}, "SMS with the sign-off"), ({"areas": []}, "areas"),
    ({"areas": ["SD-XX"]}, "areas"), ({"topic": "spam"}, "kind"),
])
def test_bad_free_text_is_refused_and_nothing_is_stored(app, agent, fields, message):
    response = write(agent, **fields)
    assert response.status_code == 400 and message in text_of(response)
    assert db.session.scalars(select(Broadcast)).all() == []


def test_a_forged_form_key_is_refused(app, agent):
    assert write(agent, key="<x>").status_code == 400


def test_the_list_shows_progress_and_supervisors_pause_resume_cancel(app, sup, agent):
    for i in range(4):
        subscriber(f"+24991100000{i}", "KH-OMD")
    subscriber("+249911000009", "KH-OMD", opted_out_at=db.func.now())
    write(agent)
    bid = db.session.scalars(select(Broadcast.id)).one()
    broadcasts.approve(bid, sup.id)  # the job queue is Redis: the fan-out waits for a worker
    broadcasts.fan_out(bid)
    page = sup.html("/staff/broadcasts")
    assert f"A{bid}" in page and "4 queued" in page and "1 suppressed:" in page \
        and "1 opted out</td>" in " ".join(page.split()).replace(" </td>", "</td>") \
        and 'value="20"' in page  # 1 of 5 settled: the suppressed one
    assert agent.get("/staff/broadcasts").status_code == 403
    for action, status in (("pause", "paused"), ("resume", "sending"), ("cancel", "cancelled")):
        response = sup.post(f"/staff/broadcasts/{bid}/{action}", page="/staff/broadcasts")
        assert response.status_code == 303
        db.session.expire_all()
        assert db.session.get(Broadcast, bid).status == status
    again = sup.post(f"/staff/broadcasts/{bid}/resume", page="/staff/broadcasts")
    assert again.status_code == 303 and "Only a paused broadcast" in sup.html("/staff/broadcasts")
    assert sup.post(f"/staff/broadcasts/{bid}/explode").status_code == 404
    assert sup.client.post(f"/staff/broadcasts/{bid}/pause").status_code == 400  # no token


def test_chart_is_server_rendered_svg_per_area(app, sup):
    subscriber("+249911000001", "KH-OMD")
    subscriber("+249911000002", "SD-GD")
    subscriber("+249911000003", "SD-GD")
    page = sup.html("/staff/broadcasts")
    assert '<svg id="subscribers-chart"' in page and "<polyline" in page
    assert "Gedaref: 2" in page and "Omdurman: 1" in page
    assert "<script" not in page.split("<svg")[1].split("</svg>")[0]


def test_hostile_leader_names_are_escaped(app, admin):
    from hotline.services import leaders

    leaders.register("Amna \"quoted\" & co", PHONE, ["KH-OMD"], 2,
                     db.session.scalars(select(Leader.id)).first() or admin.id)
    page = admin.html("/staff/leaders")
    assert "Amna &#34;quoted&#34; &amp; co" in page
