"""The gateway's end-of-session report (``POST /webhooks/at/ussd/events``): what is kept
of it, linked to whom, cut to what length, stored once; and the private judgement that
decides whether the path and last screen are kept at all (a caller who said "not safe
to call", a leader who typed a PIN).

Written against the survivors of issue 14's mutation run: each test checks what a
person reading the stored row (or the caller's privacy) depends on.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hotline.extensions import db
from hotline.models import Contact, UssdSessionEnd
from tests.alertkit import leader, offered, open_menu, quick_pins
from tests.conftest import PHONE, TOKEN, UssdCaller

CALLBACK, DANGER, NOT_SAFE = "4", "1", "3"  # home menu, reason, "not safe to call"


def report(client, **fields: str) -> None:
    response = client.post(f"/webhooks/at/ussd/events?token={TOKEN}", data=fields)
    assert response.status_code == 200, response.get_data(as_text=True)


def ends() -> list[UssdSessionEnd]:
    db.session.expire_all()
    return list(db.session.scalars(select(UssdSessionEnd).order_by(UssdSessionEnd.id)))


def full_report(ussd: UssdCaller, phone: str, **extra: str) -> dict[str, str]:
    return {"sessionId": ussd.session_id, "serviceCode": "*384*1234#", "networkCode": "63401",
            "phoneNumber": phone, "status": "Incomplete", "durationInMillis": "24310",
            "hopsCount": str(len(ussd.inputs) + 1), "input": "*".join(ussd.inputs),
            "lastAppResponse": ussd.body, "errorMessage": "Timeout on the handset",
            "cost": "SDG 0.10", "date": "2026-11-27 10:00:00", **extra}


# --- what is stored -------------------------------------------------------------------------

@pytest.mark.parametrize("as_sent", [PHONE, "0912345678"], ids=["e164", "local"])
def test_every_field_of_a_report_is_kept_and_linked_to_the_caller(app, client, ussd, as_sent):
    """A number written the local way is read with the default region, as on a hop."""
    ussd.dial()
    ussd.press("2", "1")  # English, risks of migration: nothing private
    report(client, **full_report(ussd, as_sent))
    [end] = ends()
    contact = db.session.scalars(select(Contact)).one()
    assert contact.phone == PHONE
    assert (end.session_id, end.contact_id, end.service_code, end.network_code, end.status,
            end.duration_ms, end.hops_count, end.input, end.last_app_response,
            end.error_message, end.cost, end.gateway_date) == \
        (ussd.session_id, contact.id, "*384*1234#", "63401", "Incomplete", 24310, 3, "2*1",
         ussd.body, "Timeout on the handset", "SDG 0.10", "2026-11-27 10:00:00")


@pytest.mark.parametrize("number", ["+249911111111", "12", ""])
def test_a_report_for_a_number_never_seen_links_no_one_and_adds_no_contact(app, client,
                                                                           number):
    report(client, sessionId="ATUid_stranger", status="Success", phoneNumber=number)
    [end] = ends()
    assert end.contact_id is None and end.status == "Success"
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_a_bare_report_stores_empty_fields_not_placeholders(app, client):
    """Only the two fields the webhook requires: the rest is empty (or no number)."""
    report(client, sessionId="ATUid_bare", status="Failed")
    [end] = ends()
    assert (end.service_code, end.network_code, end.status, end.duration_ms, end.hops_count,
            end.input, end.last_app_response, end.error_message, end.cost,
            end.gateway_date) == ("", "", "Failed", None, None, "", "", "", "", "")


def test_over_long_fields_are_cut_to_what_is_kept_never_refused(app, client):
    """A gateway (or someone posing as one) sending more than the columns hold gets its
    report stored, cut: never a database error that would make the gateway retry.
    (Any field over 4,000 characters is refused by the form reader before this.)"""
    report(client, sessionId="ATUid_long", status="S" * 30, serviceCode="*" * 60,
           networkCode="6" * 15, cost="c" * 60, date="d" * 60, phoneNumber=PHONE)
    [end] = ends()
    assert (end.status, end.service_code, end.network_code, end.cost, end.gateway_date) == \
        ("S" * 20, "*" * 40, "6" * 10, "c" * 40, "d" * 40)


def test_each_session_is_stored_once_and_a_later_report_changes_nothing(app, client):
    report(client, sessionId="ATUid_a", status="Incomplete", input="2*1")
    report(client, sessionId="ATUid_a", status="Success", input="2*1*0")  # delivered again
    report(client, sessionId="ATUid_b", status="Success", input="1")  # another session
    assert [(e.session_id, e.status, e.input) for e in ends()] == \
        [("ATUid_a", "Incomplete", "2*1"), ("ATUid_b", "Success", "1")]


# --- what is kept of a private session --------------------------------------------------------

def test_a_returning_callers_not_safe_session_keeps_no_path(app, client, ussd):
    """The session began in the caller's remembered language (no language screen), so
    its path is judged from there: from the language screen, ``4*1*3`` reads as
    something else entirely and would be kept."""
    ussd.dial()
    ussd.press("2")  # English, remembered
    second = UssdCaller(client)
    assert second.dial().startswith("1. ")  # home at once: the language is known
    second.press(CALLBACK, DANGER, NOT_SAFE)
    report(client, **full_report(second, PHONE))
    end = {e.session_id: e for e in ends()}[second.session_id]
    assert (end.input, end.last_app_response) == ("", "")
    assert end.hops_count == 4 and end.contact_id is not None  # the rest is kept


def test_a_path_as_long_as_a_session_can_be_is_judged_and_a_longer_one_kept_nowhere(
        app, client):
    """60 inputs is the most a session is served (``[ussd] max_hops``): such a path is
    replayed and kept when nothing in it was private. A longer one was never served
    by us, cannot be judged, and is not kept."""
    assert app.config["USSD"]["max_hops"] == 60
    wandering = "*".join(["77"] * 60)  # an invalid choice on the language screen, again
    report(client, sessionId="ATUid_60", status="Incomplete", input=wandering,
           lastAppResponse="CON ...", phoneNumber=PHONE)
    report(client, sessionId="ATUid_61", status="Incomplete", input=wandering + "*77",
           lastAppResponse="CON ...", phoneNumber=PHONE)
    kept = {e.session_id: (e.input, e.last_app_response) for e in ends()}
    assert kept == {"ATUid_60": (wandering, "CON ..."), "ATUid_61": ("", "")}


@pytest.fixture()
def _quick_pins(monkeypatch):
    quick_pins(monkeypatch)


LEADER = "+249955555555"


def test_a_leaders_report_with_a_local_number_keeps_no_pin(app, client, _quick_pins):
    """The leader is recognised however the number is written, so the path is judged
    with the leader's extra menu entry and the PIN in it is not kept."""
    leader(LEADER, ["KH-OMD"], pin="4826")
    phone = UssdCaller(client, phone=LEADER)
    open_menu(phone, "en")
    entry = str(len(offered(phone)))  # the leader's entry is the last one
    phone.dial()
    phone.press(entry, "4826")
    report(client, **full_report(phone, "0955555555"))
    [end] = ends()
    assert "4826" in "*".join(phone.inputs)
    assert (end.input, end.last_app_response) == ("", "")


def test_a_callers_path_is_judged_by_the_menu_they_saw_not_a_leaders(app, client,
                                                                      _quick_pins):
    """Someone who is not a leader types the leader's entry number (invalid for them)
    and four digits: nothing private happened, and the path is kept as it is."""
    leader(LEADER, ["KH-OMD"], pin="4826")
    phone = UssdCaller(client, phone=LEADER)
    open_menu(phone, "en")
    entry = str(len(offered(phone)))
    caller = UssdCaller(client)
    open_menu(caller, "en")
    assert len(offered(caller)) == int(entry) - 1  # no leader's entry for this caller
    caller.dial()
    caller.press(entry, "1234")
    report(client, **full_report(caller, PHONE))
    end = {e.session_id: e for e in ends()}[caller.session_id]
    assert (end.input, end.last_app_response) == (f"{entry}*1234", caller.body)
