"""What the callback service sends through the outbox: confirmations and on-call alerts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from hotline.config import load_settings, problems
from hotline.extensions import db
from hotline.models import CallbackRequest, OutboxMessage
from hotline.services import caller_requests, oncall
from tests.outboxkit import rows

PHONE = "+249912345678"
ONCALL = ["+249911000001", "+249911000002"]
FRIDAY = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # the centre is closed
SUNDAY = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)  # 10:00 in Khartoum: open


@pytest.fixture()
def staffed(make_app, app) -> Iterator[Flask]:
    made = make_app(OUTBOX={"oncall_numbers": ONCALL, "oncall_language": "en"})
    with made.app_context():
        yield made
        db.session.remove()


def _kinds() -> list[tuple[str, str]]:
    return [(r.kind, r.recipient) for r in rows(None)]


def test_a_confirmation_goes_out_once_where_the_caller_allowed_sms(app):
    made = caller_requests.submit(PHONE, reason="medical", safe_to_call="yes", sms_ok=True,
                                  language="ar", now=SUNDAY)
    caller_requests.submit(PHONE, reason="medical", safe_to_call="yes", sms_ok=True, language="ar",
                           now=SUNDAY)  # a replayed session
    [row] = rows(None)
    request = db.session.get(CallbackRequest, made.request_id)
    assert (row.kind, row.recipient, row.language, row.priority) == \
        ("confirmation", PHONE, "ar", "reply")
    assert row.body == request.sms_confirmation and made.ref in row.body
    assert row.callback_request_id == request.id and row.encoding == "UCS-2"


def test_an_english_callers_confirmation_is_an_english_row_of_their_contact(app):
    """The row says the language the text is in (the default language is Arabic) and
    whose number it goes to, as the staff outbox page and a later opt-out read them."""
    made = caller_requests.submit(PHONE, reason="medical", safe_to_call="yes", sms_ok=True,
                                  language="en", now=SUNDAY)
    [row] = rows(None)
    request = db.session.get(CallbackRequest, made.request_id)
    assert (row.kind, row.language, row.encoding) == ("confirmation", "en", "GSM-7")
    assert row.contact_id == request.contact_id is not None
    assert made.ref in row.body

def test_no_sms_without_permission(app):
    caller_requests.submit(PHONE, reason="medical", safe_to_call="yes", sms_ok=False, now=SUNDAY)
    caller_requests.submit(PHONE, reason="info", safe_to_call="yes", sms_ok=None, now=SUNDAY)
    assert rows(None) == []


def test_danger_outside_working_hours_alerts_on_call_with_the_reference_only(staffed):
    made = caller_requests.submit(PHONE, reason="danger", safe_to_call="yes", sms_ok=False,
                                  now=FRIDAY)
    caller_requests.submit(PHONE, reason="danger", safe_to_call="yes", sms_ok=False, now=FRIDAY)
    alerts = rows(None)
    assert sorted(r.recipient for r in alerts) == ONCALL  # once each, not per repeat
    for alert in alerts:
        assert alert.kind == "oncall" and alert.priority == "reply"
        assert made.ref in alert.body
        for secret in (PHONE, PHONE[4:], "danger", "Danger", "IOM"):
            assert secret not in alert.body


def test_danger_in_working_hours_and_other_reasons_alert_nobody(staffed):
    caller_requests.submit(PHONE, reason="danger", safe_to_call="yes", sms_ok=False, now=SUNDAY)
    caller_requests.submit("+249912345679", reason="medical", safe_to_call="yes", sms_ok=False,
                           now=FRIDAY)
    assert rows(None) == []


def test_an_unclaimed_danger_request_alerts_once_past_the_threshold(staffed):
    made = caller_requests.submit(PHONE, reason="danger", safe_to_call="yes", sms_ok=False,
                                  now=SUNDAY)
    claimed = caller_requests.submit("+249912345679", reason="danger", safe_to_call="yes",
                                     sms_ok=False, now=SUNDAY)
    row = db.session.get(CallbackRequest, claimed.request_id)
    row.claimed_by_id = None
    row.attempts = 1  # someone already tried: not waiting unseen
    db.session.commit()
    assert oncall.sweep_unclaimed(SUNDAY + timedelta(minutes=10)).startswith("on-call: 0")
    assert oncall.sweep_unclaimed(SUNDAY + timedelta(minutes=31)).startswith("on-call: 1")
    assert oncall.sweep_unclaimed(SUNDAY + timedelta(minutes=40)).startswith("on-call: 1")
    alerts = rows(None)
    assert sorted(a.recipient for a in alerts) == ONCALL
    assert all(a.callback_request_id == made.request_id for a in alerts)
    assert db.session.query(OutboxMessage).count() == 2


def test_oncall_numbers_are_checked_at_start_up():
    settings = load_settings({"OUTBOX": {"oncall_numbers": ["0912345678"]}}, environ={})
    assert any("oncall_numbers" in p for p in problems(settings))
    settings = load_settings(environ={"HOTLINE_OUTBOX__ONCALL_NUMBERS": '["+249911000001"]',
                                      "HOTLINE_OUTBOX__RATE_PARTS_PER_SECOND": "0"})
    assert settings["OUTBOX"]["oncall_numbers"] == ["+249911000001"]
    assert settings["OUTBOX"]["rate_parts_per_second"] == 0 and not problems(settings)


def test_without_redis_the_console_gateway_sends_at_once_and_masks_the_number(make_app, app,
                                                                              caplog):
    """What ``make run`` does: no credentials, no Redis, the log shows the SMS."""
    caplog.set_level("INFO", logger="hotline.sms.console")
    made = make_app(REDIS_URL="")
    with made.app_context():
        submitted = caller_requests.submit(PHONE, reason="medical", safe_to_call="yes", sms_ok=True,
                                           language="en", now=SUNDAY)
        [row] = rows(None)
        assert (row.status, row.attempts) == ("sent", 1)
        assert row.provider_message_id.startswith("console-")
        db.session.remove()
    assert submitted.ref in caplog.text and "+249 91* *** *78" in caplog.text
    assert PHONE not in caplog.text
